"""`cnncalc review`, `compare`, `plot` and `report`: design review, side-by-side comparison, reports.

Module-level imports stay cheap: the review package and matplotlib are imported inside the
commands.  Nothing here imports torch (unless a MODULE:ATTR is given).
"""
from __future__ import annotations

from enum import Enum
from typing import List, Optional

import typer

from ..i18n import _
from . import common as C


class ReviewFmt(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


class ReportFmt(str, Enum):
    html = "html"
    markdown = "markdown"


class PlotWhat(str, Enum):
    macs = "macs"
    memory = "memory"
    rf = "rf"


def IGNORE():
    return typer.Option(None, "--ignore", metavar="RULE", help="a rule to skip, by ID (CC101) or slug (repeatable)")


def _load(spec, batch=None, inputs=None, sets=None, convention=None, dtype=None, what="review"):
    """Load and analyse; a spec with errors is reported and exits 2 (a review needs a whole graph)."""
    a = C.load_analysis(spec, batch, inputs, sets, convention, dtype)
    if a.has_errors:
        C.no_result([d.to_dict() for d in a.diagnostics], what)
    return a


def _check_ignore(ignore):
    from ..review.rules import RULES, unknown_ids
    bad = unknown_ids(ignore or [])
    if bad:
        C.error(f"unknown rule {', '.join(bad)} in --ignore; rules: "
                + ", ".join(f"{r.id} ({r.slug})" for r in RULES.values()))


def run_review(a, ignore):
    """The review dict of an analysis (see cnncalc.reports.review_report)."""
    from ..reports import review_report
    return review_report(a, ignore)


def build_report(a, fmt="html", ignore=None, plots_dir=None, output=None, extra_figs=()) -> str:
    """The HTML or Markdown report of an analysis (see cnncalc.reports.document)."""
    from ..reports.document import document
    return document(a, fmt, ignore, plots_dir, output, extra_figs)


def erf_figure(a, node=None, unit=None):
    """The report's plot of the effective receptive field: (key, title, make), torch imported here."""
    from ..crosscheck import build
    from ..receptive.erf import figure, section
    try:
        e, maps = section(a.g, node, unit, build=build)
    except (KeyError, ValueError) as err:
        C.error(err.args[0] if err.args else str(err))
    title = (f"effective receptive field of {e['node']} unit {e['unit']} at initialisation (gradient mass, "
             f"{len(e['method']['seeds'])} seeds x {e['method']['samples']} inputs; Luo et al. 2016)")
    return ("erf", title, lambda: figure(e, maps))


def register(app):
    @app.command(short_help="Review a design: findings with IDs, reasons and savings.")
    def review(spec: str = C.spec_argument(), ignore: Optional[List[str]] = IGNORE(),
               strict: bool = typer.Option(False, "--strict", help="exit 1 if any finding is a warning or error"),
               format: ReviewFmt = C.format_option(ReviewFmt.text), output: Optional[str] = C.output_option(),
               width: Optional[int] = C.width_option(),
               batch: Optional[int] = C.batch_option(), input: Optional[List[str]] = C.input_option(),
               set: Optional[List[str]] = C.set_option(), dtype: Optional[C.Dtype] = C.dtype_option(),
               convention: Optional[C.Convention] = C.convention_option()):
        """Review a network's design: findings with stable IDs, severity, reason and the saving of the fix."""
        _check_ignore(ignore)
        rv = run_review(_load(spec, batch, input, set, convention, dtype), ignore)
        from ..render import review as R
        if format == ReviewFmt.json:
            import json
            C.write_output(json.dumps(rv, indent=2) + "\n", output)
        elif format == ReviewFmt.markdown:
            C.write_output(R.render_markdown(rv), output)
        else:
            C.write_output(R.render_text(rv, C.width_for(width, output)), output)
        bad = rv["counts"]["warning"] + rv["counts"]["error"]
        raise typer.Exit(1 if strict and bad else 0)

    @app.command(short_help="Totals of several specs side by side, with ratios.")
    def compare(specs: List[str] = typer.Argument(..., metavar="SPEC", show_default=False,
                                                  help="two or more spec files (or MODULE:ATTR, which imports "
                                                       "that module and runs its code); ratios are to the first"),
                batch: Optional[int] = C.batch_option(), input: Optional[List[str]] = C.input_option(),
                set: Optional[List[str]] = C.set_option(), dtype: Optional[C.Dtype] = C.dtype_option(),
                convention: Optional[C.Convention] = C.convention_option(),
                format: ReviewFmt = C.format_option(ReviewFmt.text), output: Optional[str] = C.output_option(),
                width: Optional[int] = C.width_option()):
        """Totals of several specs side by side, with ratios to the first, and per shared stage.
        --input and --set apply to every spec."""
        if len(specs) < 2:
            C.error("compare needs at least two specs")
        from ..render import compare as R
        from ..review.compare import compare as do_compare
        cmp = do_compare([_load(s, batch, input, set, convention, dtype, "comparison").report() for s in specs])
        if format == ReviewFmt.json:
            import json
            C.write_output(json.dumps(cmp, indent=2) + "\n", output)
        elif format == ReviewFmt.markdown:
            C.write_output(R.render_markdown(cmp), output)
        else:
            C.write_output(R.render_text(cmp, C.width_for(width, output)), output)
        raise typer.Exit(0)

    @app.command(short_help="One plot: MACs per layer, activation memory or RF growth.")
    def plot(spec: str = C.spec_argument(),
             what: PlotWhat = typer.Option(PlotWhat.macs, "--what", "-w", help="what to plot"),
             output: str = typer.Option(..., "--output", "-o", metavar="FILE", help="the image: .png, .svg or .pdf"),
             batch: Optional[int] = C.batch_option(), input: Optional[List[str]] = C.input_option(),
             set: Optional[List[str]] = C.set_option(), dtype: Optional[C.Dtype] = C.dtype_option(),
             convention: Optional[C.Convention] = C.convention_option()):
        """One plot: MACs and params per layer, activation memory over the forward pass, or RF growth."""
        if not output.lower().endswith((".png", ".svg", ".pdf")):
            C.error(f"cannot write `{output}`: use a .png, .svg or .pdf file name")
        a = _load(spec, batch, input, set, convention, dtype, "plot")
        from ..render import plots
        from ..reports import forward_memory
        walk = forward_memory(a) if what == PlotWhat.memory else None
        try:
            notes = plots.save(plots.figure_for(what.value, a.report(), walk), output)
        except OSError as e:
            C.error(f"cannot write `{output}`: {e.strerror or e}")
        for note in notes:
            C.err_console().print(_(note), markup=False)
        C.err_console().print(f"wrote {output}", markup=False)
        raise typer.Exit(0)

    @app.command(short_help="A report: summary, layers, findings and plots (HTML).")
    def report(spec: str = C.spec_argument(),
               format: ReportFmt = C.format_option(ReportFmt.html), output: Optional[str] = C.output_option(),
               ignore: Optional[List[str]] = IGNORE(),
               plots_dir: Optional[str] = typer.Option(None, "--plots", metavar="DIR",
                                                       help="markdown: write the plots as SVG files in this "
                                                            "folder and link them"),
               batch: Optional[int] = C.batch_option(), input: Optional[List[str]] = C.input_option(),
               set: Optional[List[str]] = C.set_option(), dtype: Optional[C.Dtype] = C.dtype_option(),
               convention: Optional[C.Convention] = C.convention_option(),
               erf: bool = typer.Option(False, "--erf", help="add a heatmap of the effective receptive field "
                                                             "(runs torch)"),
               erf_unit: Optional[str] = C.erf_unit_option(), erf_node: Optional[str] = C.erf_node_option()):
        """A report with summary, per-layer table, review findings and plots: one self-contained HTML file."""
        _check_ignore(ignore)
        if (erf_unit or erf_node) and not erf:
            C.error("--erf-unit and --erf-node need --erf")
        a = _load(spec, batch, input, set, convention, dtype, "report")
        extra = (erf_figure(a, erf_node, erf_unit),) if erf else ()
        try:
            text = build_report(a, format.value, ignore, plots_dir, output, extra)
        except OSError as e:
            C.error(f"cannot write the plots in `{plots_dir}`: {e.strerror or e}")
        C.write_output(text, output)
        if output:
            C.err_console().print(f"wrote {output}", markup=False)
        raise typer.Exit(0)
