"""The question a spec's `expect:` answers, and what becomes of an expect asked another question.

A spec's expected figures are written for its own input shape(s), variables (`vars`), dtype and
counting convention. The batch is handled apart: batch-linear figures are checked at the spec's own
batch, so `--batch` never changes an answer. When the command line changes one of the others
(`--input`, `--set`, `--dtype`, `--convention`), an expect that no longer holds is no failure of the
spec or of the tool: it is reported `skipped`, with the question it was written for
(`expected for input [3, 224, 224]; analysed at [3, 299, 299]`), and does not set exit code 1. One
that still holds at the new question (parameters usually do) is reported as passed. `--no-expect`
skips every expect. An expect that cannot be read stays an error: that is a fault of the spec.

Pure functions of plain data: no analysis, no I/O (docs/spec-notes.md, "Expects and the question").
"""
from __future__ import annotations

SKIPPED = "skipped"
NO_EXPECT = "not checked: --no-expect"


def question_changes(data, input_override=None, overrides=None, dtype=None, convention=None) -> list:
    """What the command line changed in the question the spec's expects answer, as
    ``(what, written for, analysed at)`` triples; empty when nothing changed.

    ``data`` is the spec's top-level mapping; the rest are the command line's overrides as the loader
    receives them (an input shape, or a mapping of input names to shapes; a mapping of variables)."""
    data = data if isinstance(data, dict) else {}
    out = []
    declared = _declared_inputs(data)
    if input_override is not None and declared:
        if isinstance(input_override, dict):
            used = {k: _shape(v) for k, v in input_override.items()}
        else:
            used = {k: _shape(input_override) for k in declared}
        if used != declared:
            out.append(("input", f"input{'s' if len(declared) > 1 else ''} {_shapes(declared)}", _shapes(used)))
    vars_ = data.get("vars") if isinstance(data.get("vars"), dict) else {}
    for k, v in (overrides or {}).items():
        if k in vars_ and _plain(vars_[k]) != _plain(v):
            out.append(("var", f"{k}={_plain(vars_[k])}", f"{k}={_plain(v)}"))
    written = data.get("dtype", "float32")
    if dtype is not None and dtype != written:
        out.append(("dtype", f"dtype {written}", f"dtype {dtype}"))
    file_conv = data.get("conventions")
    written = file_conv if isinstance(file_conv, str) else ("default" if file_conv is None else "the file's")
    if convention is not None and convention != written:
        out.append(("convention", f"convention {written}", f"convention {convention}"))
    return out


def describe(changes) -> str:
    """``expected for input [3, 224, 224]; analysed at [3, 299, 299]``"""
    return (f"expected for {', '.join(w for _, w, _ in changes)}; "
            f"analysed at {', '.join(u for _, _, u in changes)}")


def settle(results, changes=(), no_expect=False) -> list:
    """The expect results with the command line's question taken into account: every result
    `skipped` under ``no_expect``; a failed one `skipped` (with the question it was written for) when
    ``changes`` is not empty. Passes, errors and results not checked are kept as they are."""
    if not changes and not no_expect:
        return list(results)
    why = NO_EXPECT if no_expect else describe(changes)
    out = []
    for r in results:
        if r["verdict"] == "fail" or (no_expect and r["verdict"] == "pass"):
            r = dict(r, verdict=SKIPPED, message=why)
        out.append(r)
    return out


def _declared_inputs(data) -> dict:
    if isinstance(data.get("inputs"), dict):
        return {str(k): _shape(v) for k, v in data["inputs"].items()}
    if "input" in data:
        return {"input": _shape(data["input"])}
    return {}


def _shape(v):
    if isinstance(v, int) and not isinstance(v, bool):
        return [v]
    return [int(x) if isinstance(x, int) else x for x in v] if isinstance(v, (list, tuple)) else v


def _shapes(d: dict) -> str:
    if len(d) == 1:
        return str(next(iter(d.values())))
    return ", ".join(f"{k} {v}" for k, v in d.items())


def _plain(v):
    return list(v) if isinstance(v, (list, tuple)) else v
