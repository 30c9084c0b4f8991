"""`cnncalc check`: mark every answer correct or wrong, explain the right value, diagnose the mistake."""
from __future__ import annotations

from ..core.analyze import Analysis
from ..core.expect_input import settle
from ..errors import SpecErrors
from ..spec.loader import load_spec
from .answers import answer_expects, read_answers
from .diagnose import Diagnoser
from .explain import explain
from ..i18n import _, current

SCHEMA_VERSION = 1
VERDICT = {"pass": "correct", "fail": "wrong", "error": "error", "not checked": "not checked", "skipped": "skipped"}


def check_analysis(analysis, diagnose: bool = True) -> list[dict]:
    """One record per answer: verdict, the given and the right value, explanation, diagnosis."""
    results = iter(analysis.expect_results)
    diag = None
    checks = []
    for e in analysis.g.expects:
        tol = e.items.get("tol")
        for key, want in e.items.items():
            if key == "tol":
                continue
            r = next(results)
            rec = {"node": e.name or "total", "scope": e.scope, "key": key, "location": r.get("location"),
                   "verdict": VERDICT.get(r["verdict"], r["verdict"]), "given": r["expected"],
                   "answer": r.get("actual"), "explanation": [], "diagnosis": None}
            if r.get("message"):
                rec["message"] = r["message"]
            if rec["verdict"] in ("correct", "wrong") and r.get("actual") is not None:
                try:
                    rec["explanation"] = explain(analysis, e, key, r["actual"])
                except Exception as err:  # noqa: BLE001 - an explanation must never break the check
                    rec["explanation"] = ["(" + _("no explanation: {error}").format(error=type(err).__name__) + ")"]
            if rec["verdict"] == "wrong" and diagnose:
                if diag is None:
                    diag = Diagnoser(analysis)
                rec["diagnosis"] = diag.diagnose(e, key, want, r["actual"], tol)
            if key in ("rf", "rf_stride", "rf_padding") and not isinstance(want, list):
                # answered with one number for every axis: show the answer the same way
                rec["answer"] = _squeeze(rec["answer"])
                for c in (rec["diagnosis"] or {}).get("candidates", []):
                    c["value"] = _squeeze(c["value"])
            checks.append(rec)
    return checks


def _squeeze(v):
    if isinstance(v, list) and v and all(x == v[0] for x in v):
        return v[0]
    return v


def check_path(path, answers_path=None, *, answers_text=None, text=None, batch=None, input_shape=None,
               overrides=None, convention=None, dtype=None, diagnose=True, no_expect=False) -> dict:
    """Load the spec (and the answers file), check every answer.  Raises SpecErrors for invalid input."""
    g, errors, warnings = load_spec(str(path), text=text, batch=batch, input_override=input_shape,
                                    overrides=overrides, convention=convention, dtype=dtype)
    if any(d.severity == "error" for d in errors):
        raise SpecErrors(list(errors) + list(warnings))
    meta = {}
    ignored = 0
    if answers_path is not None or answers_text is not None:
        apath = str(answers_path or "<answers>")
        ans, meta = read_answers(apath, answers_text)
        ignored = sum(len([k for k in e.items if k != "tol"]) for e in g.expects)
        g.expects = answer_expects(g, ans, apath)
    g.no_expect = no_expect
    analysis = Analysis(g, errors, warnings)
    checks = check_analysis(analysis, diagnose)
    counts = {v: sum(1 for c in checks if c["verdict"] == v) for v in ("correct", "wrong", "error", "not checked", "skipped")}
    if not counts["skipped"]:
        del counts["skipped"]       # only with --no-expect or another --input/--set
    report = {
        "schema_version": SCHEMA_VERSION,
        "model": g.name,
        "file": g.file,
        "answers_file": str(answers_path) if answers_path else None,
        "student": meta.get("student"),
        "batch": g.batch,
        "dtype": g.dtype,
        "conventions": analysis.conventions.name,
        "summary": {"answers": len(checks), **{k.replace(" ", "_"): v for k, v in counts.items()}},
        "checks": checks,
        "diagnostics": [d.to_dict() for d in analysis.diagnostics],
        "lang": current(),
    }
    if ignored:
        report["spec_expects_ignored"] = ignored
    return report


def hide_answers(report: dict) -> dict:
    """For graders: only correct or wrong, nothing that gives the right answer away."""
    out = dict(report)
    out["checks"] = [{k: v for k, v in c.items() if k not in ("answer", "explanation", "diagnosis")}
                     for c in report["checks"]]
    return out


def exit_code(report: dict) -> int:
    if any(d["severity"] == "error" for d in report["diagnostics"]):
        return 2
    if any(c["verdict"] in ("wrong", "error") for c in report["checks"]):
        return 1
    return 0
