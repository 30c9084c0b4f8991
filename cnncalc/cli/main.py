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


SPEC = typer.Argument(..., help="a spec file (YAML), or MODULE:ATTR for a PyTorch module (runs its code)")
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
            with open(output, "w", encoding="utf-8") as f:
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
    for mod in ("explain_cmd", "verify_cmd", "memory_cmd", "check_cmd", "review_cmd", "export_cmd", "rf_cmd"):
        try:
            m = importlib.import_module(f"{__package__}.{mod}")
        except ModuleNotFoundError as e:
            if e.name and e.name.endswith(mod):
                continue
            raise
        m.register(app)


_register_optional()


def main():
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


if __name__ == "__main__":
    main()
