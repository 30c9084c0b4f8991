"""Optional dependencies: say exactly what to install, rather than fail with an ImportError.

The analytical commands need only typer, rich, pyyaml and matplotlib (``pip install cnncalc``).
Building and running real models (``verify``, ``analyze --verify``, PyTorch modules as input,
``export``) needs torch, torchvision and fvcore: ``pip install 'cnncalc[torch]'``.
"""
from __future__ import annotations

import importlib.util

from .errors import UsageError

TORCH_INSTALL = "pip install 'cnncalc[torch]'"


class MissingDependency(UsageError):
    """A command needs a package that is not installed (exit code 2, with the install command)."""


def missing(*modules: str) -> list[str]:
    """The modules of ``modules`` that cannot be imported (found without importing them)."""
    out = []
    for m in modules:
        try:
            if importlib.util.find_spec(m) is None:
                out.append(m)
        except (ImportError, ValueError):
            out.append(m)
    return out


def require_torch(what: str, also: tuple = ()) -> None:
    """Raise :class:`MissingDependency` when torch (or one of ``also``) is not installed."""
    gone = missing("torch", *also)
    if gone:
        raise MissingDependency(f"{what} needs {' and '.join(gone)}, which {'is' if len(gone) == 1 else 'are'} "
                                f"not installed; install {'it' if len(gone) == 1 else 'them'} with: {TORCH_INSTALL}")
