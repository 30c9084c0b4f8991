"""The engine's entry points below the public API: a spec (path or text) to an Analysis, or to its
JSON report.  Library modules (verify, homework, devices, export) call these; `cnncalc.api` re-exports
them beside the user-facing functions.  No torch imported here."""
from __future__ import annotations

import gc

from .core.analyze import Analysis
from .errors import UsageError
from .spec.loader import load_spec


def analyze_path(path, *, batch=None, input_shape=None, overrides=None, convention=None, dtype=None,
                 text=None) -> dict:
    """Analyse a spec file; returns the JSON report (a dict).  Errors are in its ``diagnostics``; raises
    :class:`SpecError` only when nothing can be built (use :func:`analyze` to raise on any error)."""
    return analysis_for(path, batch=batch, input_shape=input_shape, overrides=overrides, convention=convention,
                        dtype=dtype, text=text).report()


def analysis_for(path, *, batch=None, input_shape=None, overrides=None, convention=None, dtype=None, text=None,
                 no_expect=False):
    """The Analysis of a spec (a path, or ``text`` with ``path`` naming it); ``no_expect`` reports every
    `expect:` as skipped.  Diagnostics are in the Analysis; SpecErrors when nothing can be built."""
    if isinstance(input_shape, (str, list)):
        input_shape = _shape(input_shape)
    # The loader and the passes allocate many small objects and free none of them until the end;
    # the cyclic garbage collector would re-scan them all again and again (cost growing with the
    # square of the graph's size), so it is paused for the duration.
    was = gc.isenabled()
    gc.disable()
    try:
        g, errors, warnings = load_spec(str(path), text=text, batch=batch, input_override=input_shape,
                                        overrides=overrides, convention=convention, dtype=dtype)
        g.no_expect = no_expect
        return Analysis(g, errors, warnings)
    finally:
        if was:
            gc.enable()


def _shape(v):
    """'3x64x64', [3, 64, 64] or (3, 64, 64) -> (3, 64, 64); a dict of them -> dict of tuples."""
    if isinstance(v, dict):
        return {str(k): _shape(s) for k, s in v.items()}
    if isinstance(v, str):
        from .shapes import parse_shape
        try:
            return parse_shape(v)
        except UsageError as e:
            raise ValueError(str(e)) from None
    try:
        dims = tuple(int(x) for x in v)
    except (TypeError, ValueError):
        raise ValueError(f"an input shape is '3x64x64', [3, 64, 64] or (3, 64, 64), got {v!r}") from None
    if not dims or min(dims) < 1 or any(isinstance(x, bool) or int(x) != x for x in v):
        raise ValueError(f"an input shape is a list of positive integers (no batch), got {v!r}")
    return dims


