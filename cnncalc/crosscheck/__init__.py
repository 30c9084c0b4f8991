"""Cross-check the analysis against the real torch model (imports torch inside functions only)."""
from __future__ import annotations


def verify(path, **kw) -> dict:
    """Analyse ``path`` and compare every number with the real model; see ``checks.verify``."""
    from .checks import verify as _v
    return _v(path, **kw)


__all__ = ["verify"]
