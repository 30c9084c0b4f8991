"""The library's entry points (no torch imported here)."""
from __future__ import annotations

from .core.analyze import Analysis
from .errors import SpecErrors
from .spec.loader import load_spec


def analyze_path(path, *, batch=None, input_shape=None, overrides=None, convention=None, dtype=None,
                 text=None) -> dict:
    """Analyse a spec file; returns the JSON report.  Raises SpecErrors when nothing can be built."""
    return analysis_for(path, batch=batch, input_shape=input_shape, overrides=overrides, convention=convention,
                        dtype=dtype, text=text).report()


def analysis_for(path, *, batch=None, input_shape=None, overrides=None, convention=None, dtype=None, text=None):
    g, errors, warnings = load_spec(str(path), text=text, batch=batch, input_override=input_shape,
                                    overrides=overrides, convention=convention, dtype=dtype)
    a = Analysis(g, errors, warnings)
    a.errors = errors
    return a


__all__ = ["analyze_path", "analysis_for", "SpecErrors"]
