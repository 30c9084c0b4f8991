"""The `cnncalc` command line: a thin shell over the library (design.md, "The CLI is a thin shell").

Each command parses its options (the shared ones come from `common`), calls one library function
and hands the result to a renderer in `cnncalc.render`."""
from __future__ import annotations

import sys
from enum import Enum
from typing import List, Optional

import typer

from . import common as C

def _plain_argument_names():
    """Usage lines as POSIX writes them: `SPEC`, `[NODE]...`, not `{SPEC}` and `SPEC <str>` (typer 0.2x
    marks required arguments with braces and adds the Python type beside a metavar)."""
    from typer.core import TyperArgument

    def usage_name(self):
        name = self.display_name_raw
        if not self.required:
            name = f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    def display_type(self, ctx):
        return None if self.metavar else TyperArgument.display_type(self, ctx)

    TyperArgument._usage_display_name = usage_name
    TyperArgument.display_type_rich = display_type


_plain_argument_names()

app = typer.Typer(add_completion=True, no_args_is_help=True, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
                  help="What does this convolutional network cost?  Shapes, parameters, MACs/FLOPs, memory and "
                       "receptive fields of a network spec (YAML) or a PyTorch module, computed analytically "
                       "and cross-checked against the real model.")


def _version(value: bool):
    if value:
        from importlib.metadata import PackageNotFoundError, version
        try:
            v = version("cnncalc")
        except PackageNotFoundError:   # pragma: no cover (running from a source tree)
            v = "unknown"
        sys.stdout.write(f"cnncalc {v}\n")
        raise typer.Exit(0)


@app.callback()
def _root(version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True,
                                                 help="print the version and exit")):
    """cnncalc: what does this convolutional network cost?"""


class Fmt(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


@app.command(short_help="Per-layer table of shapes, params, MACs, FLOPs, memory, RF.")
def analyze(spec: str = C.spec_argument(), batch: Optional[int] = C.batch_option(),
            input: Optional[List[str]] = C.input_option(), set: Optional[List[str]] = C.set_option(),
            dtype: Optional[C.Dtype] = C.dtype_option(), convention: Optional[C.Convention] = C.convention_option(),
            depth: Optional[int] = typer.Option(None, "--depth", "-d", metavar="N",
                                                help="collapse blocks to this many levels of their names"),
            format: Fmt = C.format_option(Fmt.table), output: Optional[str] = C.output_option(),
            width: Optional[int] = C.width_option(),
            verify: bool = typer.Option(False, "--verify", help="also run the real model and cross-check"),
            dataset_size: Optional[int] = typer.Option(None, "--dataset-size", metavar="N",
                                                       help="training FLOPs per epoch for this many samples"),
            kwargs: Optional[str] = typer.Option(None, "--kwargs", metavar="JSON",
                                                 help="keyword arguments for MODULE:ATTR "
                                                      "(e.g. '{\"num_classes\": 10}')"),
            no_expect: bool = typer.Option(False, "--no-expect", help=C.NO_EXPECT_HELP),
            seed: int = typer.Option(0, "--seed", metavar="N", min=0,
                                     help="seed for MODULE:ATTR's capture (its random weights and input data): "
                                          "the same seed gives the same numbers"),
            erf: bool = typer.Option(False, "--erf", help="with --format json: add the effective receptive field "
                                                          "(an `erf` section; runs torch)"),
            erf_unit: Optional[str] = C.erf_unit_option(), erf_node: Optional[str] = C.erf_node_option()):
    """Per-layer shapes, parameters, MACs, FLOPs, memory and receptive field, with totals.

    On an invalid spec (exit 2) the table format prints nothing on standard output (the errors go to
    standard error); JSON still holds the partial report with its diagnostics."""
    from .analyze_run import run_analyze
    raise typer.Exit(run_analyze(spec, batch, input, set, dtype, convention, depth, format.value, output, width,
                                 verify, dataset_size, kwargs, no_expect, seed, erf, erf_unit, erf_node))


def _register_optional():
    """Commands living in their own modules (each imports what it needs when run)."""
    import importlib
    for mod in ("explain_cmd", "verify_cmd", "memory_cmd", "check_cmd", "review_cmd", "export_cmd",
                "calibrate_cmd", "schema_cmd", "rf_cmd"):
        try:
            m = importlib.import_module(f"{__package__}.{mod}")
        except ModuleNotFoundError as e:
            if e.name and e.name.endswith(mod):
                continue
            raise
        m.register(app)


_register_optional()

C.add_lang_option(app)     # --lang on every command
