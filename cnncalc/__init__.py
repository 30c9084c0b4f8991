"""cnncalc: what does this convolutional network cost?

Shapes, parameters, MACs/FLOPs, memory and receptive fields of a network described in a YAML spec
or given as a PyTorch module, computed analytically and cross-checked against the real model.

    >>> import cnncalc
    >>> cnncalc.analyze("specs/resnet50.yaml").totals["macs"]
    4089184256

The functions are documented in docs/api.md.  Importing cnncalc is light: nothing heavy (torch, rich,
yaml) is imported until a function that needs it is called.
"""
from __future__ import annotations

import importlib

_API = ("analyze", "memory", "explain", "check", "verify", "Report", "Layer", "SpecError", "set_language")
__all__ = [*_API, "__version__"]


def __getattr__(name):   # PEP 562: the API is imported on first use, so `import cnncalc` stays light
    if name == "__version__":   # importlib.metadata alone takes 20 ms to import: only when asked
        from importlib.metadata import PackageNotFoundError, version
        try:
            v = version("cnncalc")
        except PackageNotFoundError:   # a source checkout that was never installed
            v = "0.1.0"
        globals()["__version__"] = v
        return v
    if name in _API:
        api = importlib.import_module(f"{__name__}.api")
        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API) | {"__version__"})
