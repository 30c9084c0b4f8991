"""`cnncalc review`, `compare`, `plot` and `report`: design review, side-by-side comparison, reports.

Module-level imports stay cheap: the review package, rich and matplotlib are imported inside the
commands.  Nothing here imports torch.
"""
from __future__ import annotations

from enum import Enum
from typing import List, Optional

import typer

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


SPEC = typer.Argument(..., help="a spec file (YAML), or MODULE:ATTR for a PyTorch module: IMPORTS AND RUNS that module's code")
BATCH = typer.Option(None, "--batch", "-b", help="batch size (default: the spec's `batch`, else 1)")
INPUT = typer.Option(None, "--input", "-i", help="input shape without batch, e.g. 3x299x299")
SET = typer.Option(None, "--set", help="override a spec variable: name=value (repeatable)")
DTYPE = typer.Option(None, "--dtype", help="float32, float16, bfloat16 or float64")
CONV = typer.Option(None, "--convention", "-c", help="counting convention: default, macs, paper, torch, fvcore")
IGNORE = typer.Option(None, "--ignore", help="a rule to skip, by ID (CC101) or slug (repeatable)")
OUTPUT = typer.Option(None, "--output", "-o", help="write to this file")


def _load(spec, batch=None, inputs=None, sets=None, convention=None, dtype=None):
    """Load and analyse; a spec with errors is reported and exits 2 (a review needs a whole graph)."""
    a = C.load_analysis(spec, batch, inputs, sets, convention, dtype)
    if a.has_errors:
        C.print_diagnostics([d.to_dict() for d in a.diagnostics])
        raise typer.Exit(C.EXIT_INVALID)
    return a


def _write(text, output):
    """Write to the file (or stdout); an unwritable path is a usage error (exit 2), not a traceback."""
    try:
        C.write_output(text, output)
    except OSError as e:
        C.err_console().print(f"error: cannot write `{output}`: {e.strerror or e}", markup=False)
        raise typer.Exit(C.EXIT_INVALID)


def _check_ignore(ignore):
    from ..review.rules import RULES, unknown_ids
    bad = unknown_ids(ignore or [])
    if bad:
        C.err_console().print(f"error: unknown rule {', '.join(bad)} in --ignore; rules: "
                              + ", ".join(f"{r.id} ({r.slug})" for r in RULES.values()), markup=False)
        raise typer.Exit(C.EXIT_INVALID)


def run_review(a, ignore):
    from ..review.rules import review, review_dict
    findings = review(a, ignore or ())
    return review_dict(a, findings, ignore or ())


def register(app):
    @app.command()
    def review(spec: str = SPEC, ignore: Optional[List[str]] = IGNORE,
               strict: bool = typer.Option(False, "--strict", help="exit 1 if any finding is a warning or error"),
               format: ReviewFmt = typer.Option(ReviewFmt.text, "--format", "-f", help="text, json or markdown"),
               batch: Optional[int] = BATCH, input: Optional[List[str]] = INPUT, set: Optional[List[str]] = SET,
               dtype: Optional[str] = DTYPE, output: Optional[str] = OUTPUT):
        """Review a network's design: findings with stable IDs, severity, reason and the saving of the fix."""
        _check_ignore(ignore)
        a = _load(spec, batch, input, set, None, dtype)
        rv = run_review(a, ignore)
        if format == ReviewFmt.json:
            import json
            _write(json.dumps(rv, indent=2) + "\n", output)
        elif format == ReviewFmt.markdown:
            _write(_review_markdown(rv), output)
        else:
            if output:
                import io
                from rich.console import Console
                buf = io.StringIO()
                _review_text(rv, Console(file=buf, width=100, highlight=False))
                _write(buf.getvalue(), output)
            else:
                _review_text(rv, C.console())
        bad = rv["counts"]["warning"] + rv["counts"]["error"]
        raise typer.Exit(1 if strict and bad else 0)

    @app.command()
    def compare(specs: List[str] = typer.Argument(..., help="two or more spec files (or MODULE:ATTR targets, which IMPORT AND RUN that code); ratios are to the first"),
                batch: Optional[int] = BATCH, dtype: Optional[str] = DTYPE, convention: Optional[str] = CONV,
                format: ReviewFmt = typer.Option(ReviewFmt.text, "--format", "-f", help="text, json or markdown"),
                output: Optional[str] = OUTPUT):
        """Totals of several specs side by side, with ratios to the first, and per shared stage."""
        if len(specs) < 2:
            C.err_console().print("error: compare needs at least two specs", markup=False)
            raise typer.Exit(C.EXIT_INVALID)
        from ..review.compare import compare as do_compare, render_markdown, render_text
        reports = [_load(s, batch, None, None, convention, dtype).report() for s in specs]
        cmp = do_compare(reports)
        if format == ReviewFmt.json:
            import json
            _write(json.dumps(cmp, indent=2) + "\n", output)
        elif format == ReviewFmt.markdown:
            _write(render_markdown(cmp), output)
        elif output:
            import io
            from rich.console import Console
            buf = io.StringIO()
            render_text(cmp, Console(file=buf, width=140, highlight=False))
            _write(buf.getvalue(), output)
        else:
            render_text(cmp, C.console())
        raise typer.Exit(0)

    @app.command()
    def plot(spec: str = SPEC,
             what: PlotWhat = typer.Option(PlotWhat.macs, "--what", "-w", help="macs, memory or rf"),
             output: str = typer.Option(..., "--output", "-o", help="the image: .png, .svg or .pdf"),
             batch: Optional[int] = BATCH, input: Optional[List[str]] = INPUT, set: Optional[List[str]] = SET,
             dtype: Optional[str] = DTYPE):
        """One plot: MACs and params per layer, activation memory over the forward pass, or RF growth."""
        if not output.lower().endswith((".png", ".svg", ".pdf")):
            C.err_console().print(f"error: cannot write `{output}`: use a .png, .svg or .pdf file name",
                                  markup=False)
            raise typer.Exit(C.EXIT_INVALID)
        a = _load(spec, batch, input, set, None, dtype)
        from ..review import plots
        try:
            plots.save(plots.figure_for(what.value, a), output)
        except OSError as e:
            C.err_console().print(f"error: cannot write `{output}`: {e.strerror or e}", markup=False)
            raise typer.Exit(C.EXIT_INVALID)
        C.err_console().print(f"wrote {output}", markup=False)
        raise typer.Exit(0)

    @app.command()
    def report(spec: str = SPEC,
               format: ReportFmt = typer.Option(ReportFmt.html, "--format", "-f", help="html or markdown"),
               output: Optional[str] = OUTPUT, ignore: Optional[List[str]] = IGNORE,
               plots_dir: Optional[str] = typer.Option(None, "--plots", help="markdown: write the plots as SVG "
                                                                              "files in this folder and link them"),
               batch: Optional[int] = BATCH, input: Optional[List[str]] = INPUT, set: Optional[List[str]] = SET,
               dtype: Optional[str] = DTYPE, convention: Optional[str] = CONV):
        """A report with summary, per-layer table, review findings and plots: one self-contained HTML file."""
        _check_ignore(ignore)
        a = _load(spec, batch, input, set, convention, dtype)
        try:
            text = build_report(a, format.value, ignore, plots_dir, output)
        except OSError as e:
            C.err_console().print(f"error: cannot write the plots in `{plots_dir}`: {e.strerror or e}",
                                  markup=False)
            raise typer.Exit(C.EXIT_INVALID)
        _write(text, output)
        if output:
            C.err_console().print(f"wrote {output}", markup=False)
        raise typer.Exit(0)


def build_report(a, fmt="html", ignore=None, plots_dir=None, output=None) -> str:
    """The HTML or Markdown report of an analysis (the library entry the command uses)."""
    from ..review import html as H
    from ..review import plots as P
    from ..review.rules import final_rf
    rep = a.report()
    rv = run_review(a, ignore)
    walk = P.forward_memory(a)
    rf_info = final_rf(rep)
    figs = (("macs", "MACs and parameters per layer", lambda: P.plot_costs(rep)),
            ("memory", "activation memory over the forward pass", lambda: P.plot_memory(rep, walk)),
            ("rf", "receptive-field growth with depth", lambda: P.plot_rf(rep)))
    if fmt == "html":
        svgs = {key: (title, P.to_svg(make(), prefix=key)) for key, title, make in figs}
        return H.render_html(rep, rv, svgs, walk, rf_info)
    links = None
    if plots_dir:
        import os
        os.makedirs(plots_dir, exist_ok=True)
        base = os.path.dirname(os.path.abspath(output)) if output else os.getcwd()
        links = []
        for key, title, make in figs:
            path = os.path.join(plots_dir, f"{key}.svg")
            P.save(make(), path)
            links.append((title, os.path.relpath(os.path.abspath(path), base)))
    return H.render_markdown(rep, rv, walk, rf_info, links)


def _saving_text(s):
    from ..review.html import _saving
    return _saving(s)


def _review_text(rv, con):
    from ..safetext import safe as escape   # rich markup and control characters
    c = rv["counts"]
    n = len(rv["findings"])
    con.print(f"[bold]{escape(rv['model'])}[/]: {n} finding{'' if n == 1 else 's'} ({c['error']} error, "
              f"{c['warning']} warning, {c['info']} info)"
              + (f"; ignored: {', '.join(rv['ignored'])}" if rv["ignored"] else ""), highlight=False)
    color = {"error": "red", "warning": "yellow", "info": "cyan"}
    for f in rv["findings"]:
        con.print("")
        con.print(f"[bold]{f['id']}[/] [{color[f['severity']]}]{f['severity']}[/] {f['slug']}  "
                  f"{escape(', '.join(f['nodes']))}" + (f"  [dim]{escape(f['location'])}[/]" if f["location"] else ""),
                  highlight=False)
        con.print(f"  {escape(f['message'])}", highlight=False)
        con.print(f"  [dim]why:[/] {escape(f['reason'])}", highlight=False)
        if f["fix"]:
            con.print(f"  [dim]fix:[/] {escape(f['fix'])}", highlight=False)
        if f["saving"]:
            con.print(f"  [dim]saves:[/] {escape(_saving_text(f['saving']))}", highlight=False)


def _review_markdown(rv) -> str:
    c = rv["counts"]
    lines = [f"# Review: {rv['model']}", "",
             f"{len(rv['findings'])} finding{'' if len(rv['findings']) == 1 else 's'}: {c['error']} error, {c['warning']} warning, {c['info']} info"
             + (f"; ignored: {', '.join(rv['ignored'])}" if rv["ignored"] else "") + ".", ""]
    for f in rv["findings"]:
        lines += [f"## {f['id']} {f['slug']} ({f['severity']})", "",
                  f"- nodes: {', '.join(f['nodes'])}" + (f" ({f['location']})" if f["location"] else ""),
                  f"- {f['message']}", f"- why: {f['reason']}"]
        if f["fix"]:
            lines.append(f"- fix: {f['fix']}")
        if f["saving"]:
            lines.append(f"- saves: {_saving_text(f['saving'])}")
        lines.append("")
    return "\n".join(lines)
