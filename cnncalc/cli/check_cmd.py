"""`cnncalc check` (homework answers) and `cnncalc layer` (one-line calculator).

Module-level imports stay cheap: the checker is imported inside the commands.
"""
from __future__ import annotations

from enum import Enum
from typing import List, Optional

import typer

from . import common as C


class CheckFmt(str, Enum):
    text = "text"
    json = "json"


def register(app: typer.Typer):
    @app.command()
    def check(spec: str = typer.Argument(..., help="the spec (YAML) with `expect:` answers, or the one the "
                                                   "answers file answers"),
              answers: Optional[str] = typer.Option(None, "--answers", "-a",
                                                    help="a student's answers file (YAML, keyed by node name); "
                                                         "replaces the spec's own `expect:`"),
              hide_answers: bool = typer.Option(False, "--hide-answers",
                                                help="only say correct or wrong (no right values, no diagnosis)"),
              format: CheckFmt = typer.Option(CheckFmt.text, "--format", "-f", help="text or json"),
              batch: Optional[int] = C_BATCH(), input: Optional[List[str]] = C_INPUT(),
              set: Optional[List[str]] = typer.Option(None, "--set", help="override a spec variable: name=value"),
              dtype: Optional[str] = typer.Option(None, "--dtype", help="float32, float16, bfloat16, float64"),
              convention: Optional[str] = typer.Option(None, "--convention", "-c",
                                                       help="default, macs, paper, torch or fvcore"),
              output: Optional[str] = typer.Option(None, "--output", "-o", help="write the report to this file"),
              no_expect: bool = typer.Option(False, "--no-expect", help="do not check the answers (each is reported "
                                                                        "as skipped; exit 0): only load the spec")):
        """Check answers: each is correct or wrong, with the right value, its formula and the likely mistake.

        Exit code 0: all correct; 1: an answer is wrong; 2: the spec or the answers file is invalid."""
        from ..check import check_path, exit_code, hide_answers as hide
        from ..check.render import check_text, to_json
        from ..errors import SpecErrors, UsageError
        try:
            report = check_path(spec, answers, batch=batch, input_shape=C.parse_inputs(input),
                                overrides=C.parse_sets(set), convention=convention, dtype=dtype,
                                diagnose=not hide_answers, no_expect=no_expect)
        except SpecErrors as e:
            C.print_diagnostics(e.diagnostics)
            raise typer.Exit(C.EXIT_INVALID)
        except UsageError as e:
            C.err_console().print(f"error: {e}", markup=False)
            raise typer.Exit(C.EXIT_INVALID)
        if not report["checks"]:
            C.print_diagnostics(report["diagnostics"])
            C.err_console().print(f"error: nothing to check: {spec} has no `expect:` answers"
                                  + (f" and {answers} has none" if answers else "")
                                  + "\n  hint: add `expect: {output: [...], params: ...}` to layers, or give "
                                    "--answers FILE (see docs/homework.md)", markup=False)
            raise typer.Exit(C.EXIT_INVALID)
        code = exit_code(report)
        if hide_answers:
            report = hide(report)
        if format == CheckFmt.json:
            C.write_output(to_json(report), output)
        else:
            text = "\n".join(check_text(report, hide=hide_answers)) + "\n"
            if output:
                C.write_output(text, output)
            else:
                con = C.console()
                for line in text.splitlines():
                    con.print(line, markup=False, highlight=False, soft_wrap=True)
        C.print_diagnostics([d for d in report["diagnostics"] if d["severity"] != "note"])
        raise typer.Exit(code)

    @app.command()
    def layer(call: str = typer.Argument(..., help="one layer, as PyTorch writes it: "
                                                   "\"Conv2d(3, 64, kernel_size=7, stride=2, padding=3)\""),
              input: str = typer.Option(..., "--input", "-i", help="input shape without batch, e.g. 3x224x224"),
              batch: int = typer.Option(1, "--batch", "-b", help="batch size"),
              dtype: Optional[str] = typer.Option(None, "--dtype", help="float32, float16, bfloat16, float64"),
              convention: Optional[str] = typer.Option(None, "--convention", "-c",
                                                       help="default, macs, paper, torch or fvcore"),
              format: CheckFmt = typer.Option(CheckFmt.text, "--format", "-f", help="text or json")):
        """One layer's output shape, parameters, MACs, FLOPs, memory, saved bytes and receptive-field step,
        each as formula = substituted = value."""
        from ..check import layer_report
        from ..check.render import layer_text, to_json
        from ..errors import SpecErrors, UsageError
        try:
            shape = C.parse_shape(input)
            if batch < 1:
                raise UsageError("--batch must be a positive integer")
            rep = layer_report(call, shape, batch, dtype=dtype, convention=convention)
        except SpecErrors as e:
            for d in e.diagnostics:
                d.loc = None
            C.print_diagnostics(e.diagnostics)
            C.err_console().print(f"  in: {call}", markup=False)
            raise typer.Exit(C.EXIT_INVALID)
        except UsageError as e:
            C.err_console().print(f"error: {e}", markup=False)
            raise typer.Exit(C.EXIT_INVALID)
        if format == CheckFmt.json:
            C.write_output(to_json(rep), None)
        else:
            con = C.console()
            for line in layer_text(rep):
                con.print(line, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(C.EXIT_OK)


def C_BATCH():
    return typer.Option(None, "--batch", "-b", help="batch size (default: the spec's `batch`, else 1)")


def C_INPUT():
    return typer.Option(None, "--input", "-i", help="input shape without batch, e.g. 3x32x32")
