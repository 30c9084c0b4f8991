"""The library's entry points (no torch imported here)."""
from __future__ import annotations

import gc

from .core.analyze import Analysis
from .errors import SpecErrors
from .spec.loader import load_spec


def analyze_path(path, *, batch=None, input_shape=None, overrides=None, convention=None, dtype=None,
                 text=None) -> dict:
    """Analyse a spec file; returns the JSON report.  Raises SpecErrors when nothing can be built."""
    return analysis_for(path, batch=batch, input_shape=input_shape, overrides=overrides, convention=convention,
                        dtype=dtype, text=text).report()


def analysis_for(path, *, batch=None, input_shape=None, overrides=None, convention=None, dtype=None, text=None):
    # The loader and the passes allocate many small objects and free none of them until the end;
    # the cyclic garbage collector would re-scan them all again and again (cost growing with the
    # square of the graph's size), so it is paused for the duration.
    was = gc.isenabled()
    gc.disable()
    try:
        g, errors, warnings = load_spec(str(path), text=text, batch=batch, input_override=input_shape,
                                        overrides=overrides, convention=convention, dtype=dtype)
        return Analysis(g, errors, warnings)
    finally:
        if was:
            gc.enable()


__all__ = ["analyze_path", "analysis_for", "SpecErrors"]
