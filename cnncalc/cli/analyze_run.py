"""The body of `cnncalc analyze`, free of typer: the typer command (main.py) and the fast path
(fastpath.py) both call it with plain values, so the two cannot differ."""
from __future__ import annotations

from . import common as C


def run_analyze(spec, batch=None, input=None, set=None, dtype=None, convention=None, depth=None,
                format="table", output=None, width=None, verify=False, dataset_size=None, kwargs=None,
                no_expect=False, seed=0, erf=False, erf_unit=None, erf_node=None) -> int:
    """Run the command; returns its exit code (errors that end it early raise SystemExit)."""
    if dataset_size is not None and dataset_size < 1:
        C.error("--dataset-size must be at least 1")
    from ..reports import analysis_report
    a = C.load_analysis(spec, batch, input, set, convention, dtype, kwargs=kwargs, no_expect=no_expect, seed=seed)
    report = analysis_report(a, dataset_size)
    code = C.exit_code(report)
    if erf or erf_unit or erf_node:
        _add_erf(report, a, format, erf, erf_node, erf_unit, code)
    if format == "json":
        from ..render.jsonout import render_json
        C.write_output(render_json(report), output)
    elif code == C.EXIT_INVALID:
        C.no_result(report["diagnostics"], format)
    else:
        from ..render import table as R
        if format == "csv":
            C.write_output(R.render_csv(report, depth), output)
        elif format == "markdown":
            C.write_output(R.render_markdown(report, depth), output)
        else:
            w = C.width_for(width, output)
            C.write_output(R.render_table(report, w, depth) + R.render_expects(report, w), output)
    C.print_diagnostics(report["diagnostics"])
    if verify:
        from .verify_cmd import run_verify
        code = max(code, run_verify(spec, batch=batch, inputs=input, device="auto", fmt="table", width=width))
    return code


def _add_erf(report, a, format, erf, node, unit, code):
    """The `erf` section of `analyze --erf` (cnncalc.receptive.erf; torch is imported only here)."""
    if not erf or format != "json":
        C.error("--erf adds a section to --format json" if erf else "--erf-unit and --erf-node need --erf")
    if code == C.EXIT_INVALID:
        return
    from ..crosscheck import build
    from ..receptive.erf import section
    try:
        report["erf"], _ = section(a.g, node, unit, build=build)
    except (KeyError, ValueError) as e:
        C.error(e.args[0] if e.args else str(e))
