"""The `cnncalc` command line: a thin shell over the library (design.md, "The CLI is a thin shell")."""
from __future__ import annotations

import sys
from enum import Enum
from typing import List, Optional

import typer

from . import common as C

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="What does this convolutional network cost?  Shapes, parameters, MACs/FLOPs, memory and "
                       "receptive fields of a network spec (YAML) or a PyTorch module, computed analytically "
                       "and cross-checked against the real model.")


@app.callback()
def _root():
    """cnncalc: what does this convolutional network cost?"""


class Fmt(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


SPEC = typer.Argument(..., help="a spec file (YAML), or MODULE:ATTR for a PyTorch module: IMPORTS AND RUNS that module's code")
BATCH = typer.Option(None, "--batch", "-b", help="batch size (default: the spec's `batch`, else 1)")
INPUT = typer.Option(None, "--input", "-i", help="input shape without batch, e.g. 3x299x299; name=shape for "
                                                 "several inputs")
SET = typer.Option(None, "--set", help="override a spec variable: name=value (repeatable)")
DTYPE = typer.Option(None, "--dtype", help="float32, float16, bfloat16 or float64 (bytes per element)")
CONV = typer.Option(None, "--convention", "-c", help="counting convention: default, macs, paper, torch, fvcore")
FORMAT = typer.Option(Fmt.table, "--format", "-f", help="table, json, csv or markdown")
OUTPUT = typer.Option(None, "--output", "-o", help="write the report to this file")


@app.command()
def analyze(spec: str = SPEC, batch: Optional[int] = BATCH, input: Optional[List[str]] = INPUT,
            set: Optional[List[str]] = SET, dtype: Optional[str] = DTYPE, convention: Optional[str] = CONV,
            depth: Optional[int] = typer.Option(None, "--depth", "-d", help="collapse blocks to this many levels"),
            format: Fmt = FORMAT, output: Optional[str] = OUTPUT,
            verify: bool = typer.Option(False, "--verify", help="also run the real model and cross-check"),
            dataset_size: Optional[int] = typer.Option(None, "--dataset-size",
                                                       help="training FLOPs per epoch for this many samples"),
            kwargs: Optional[str] = typer.Option(None, "--kwargs", help="JSON keyword arguments for MODULE:ATTR "
                                                 "(e.g. '{\"num_classes\": 10}')")):
    """Per-layer shapes, parameters, MACs, FLOPs, memory and receptive field, with totals."""
    if dataset_size is not None and dataset_size < 1:
        C.err_console().print("error: --dataset-size must be at least 1", markup=False)
        raise typer.Exit(C.EXIT_INVALID)
    a = C.load_analysis(spec, batch, input, set, convention, dtype, kwargs=kwargs)
    report = a.report()
    if dataset_size:
        from ..core.memory import train_flops
        report["training"] = train_flops(a, dataset_size)
    code = C.exit_code(report)
    from ..render import text as R
    if format == Fmt.json:
        C.write_output(R.render_json(report), output)
    elif format == Fmt.csv:
        C.write_output(R.render_csv(report, depth), output)
    elif format == Fmt.markdown:
        C.write_output(R.render_markdown(report, depth), output)
    else:
        if output:
            from rich.console import Console
            from ..outfile import open_output
            with open_output(output) as f:
                con = Console(file=f, width=100, highlight=False)
                R.render_table(report, con, depth)
                R.render_expects(report, con)
        else:
            R.render_table(report, C.console(), depth)
            R.render_expects(report, C.console())
    C.print_diagnostics(report["diagnostics"])
    if verify:
        from .verify_cmd import run_verify
        code = max(code, run_verify(spec, batch=batch, inputs=input, device="auto", fmt="table"))
    raise typer.Exit(code)


def _register_optional():
    """Commands living in their own modules (each imports what it needs when run)."""
    import importlib
    for mod in ("explain_cmd", "verify_cmd", "memory_cmd", "check_cmd", "review_cmd", "export_cmd"):
        try:
            m = importlib.import_module(f"{__package__}.{mod}")
        except ModuleNotFoundError as e:
            if e.name and e.name.endswith(mod):
                continue
            raise
        m.register(app)


_register_optional()


EXIT_BUG = 3


def _where_to_report() -> str:
    """The project's issue tracker, from the installed package's metadata (Project-URL)."""
    try:
        from importlib.metadata import metadata
        for entry in metadata("cnncalc").get_all("Project-URL") or []:
            label, _, url = entry.partition(",")
            if label.strip().lower() in ("issues", "bug tracker", "bugs", "tracker"):
                return url.strip()
    except Exception:  # noqa: BLE001 - not installed, or no metadata: fall back to words
        pass
    return "the cnncalc issue tracker"


def main():
    """Run the CLI.  An exception nobody foresaw is a bug in cnncalc: it gets a short message that says
    so and where to report it, exit code 3, and its traceback only with --debug or CNNCALC_DEBUG=1."""
    import os
    debug = "--debug" in sys.argv[1:] or os.environ.get("CNNCALC_DEBUG", "") not in ("", "0")
    if "--debug" in sys.argv[1:]:
        sys.argv = [a for a in sys.argv if a != "--debug"]
    try:
        app(standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - the last resort, by design
        if debug:
            raise
        from ..safetext import clean
        what = "ran out of memory" if isinstance(e, MemoryError) else f"{type(e).__name__}: {clean(e)}"
        sys.stderr.write(
            f"cnncalc: internal error ({clean(what)[:300]})\n"
            "  this is a bug in cnncalc, not a problem with your input; please report it at\n"
            f"  {_where_to_report()} with the command line and the spec.\n"
            "  Run again with --debug (or CNNCALC_DEBUG=1) to see the traceback.\n")
        sys.exit(EXIT_BUG)


if __name__ == "__main__":
    main()
