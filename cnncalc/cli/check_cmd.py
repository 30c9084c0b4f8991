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
    @app.command(short_help="Check homework answers: correct or wrong, and why.")
    def check(spec: str = typer.Argument(..., metavar="SPEC", show_default=False,
                                         help="the spec (YAML) with `expect:` answers, or the one the "
                                              "answers file answers"),
              answers: Optional[str] = typer.Option(None, "--answers", "-a", metavar="FILE",
                                                    help="a student's answers file (YAML, keyed by node name); "
                                                         "replaces the spec's own `expect:`"),
              hide_answers: bool = typer.Option(False, "--hide-answers",
                                                help="only say correct or wrong (no right values, no diagnosis)"),
              format: CheckFmt = C.format_option(CheckFmt.text), output: Optional[str] = C.output_option(),
              width: Optional[int] = C.width_option(),
              batch: Optional[int] = C.batch_option(), input: Optional[List[str]] = C.input_option(),
              set: Optional[List[str]] = C.set_option(), dtype: Optional[C.Dtype] = C.dtype_option(),
              convention: Optional[C.Convention] = C.convention_option(),
              no_expect: bool = typer.Option(False, "--no-expect", help="do not check the answers (each is "
                                             "reported as skipped; exit 0): only load the spec")):
        """Check answers: each is correct or wrong, with the right value, its formula and the likely mistake.

        Exit code 0: all correct; 1: an answer is wrong; 2: the spec or the answers file is invalid."""
        from ..homework import check_path, exit_code, hide_answers as hide
        from ..errors import SpecErrors, UsageError
        from ..render.homework import render_check, to_json
        try:
            report = check_path(spec, answers, batch=batch, input_shape=C.parse_inputs(input),
                                overrides=C.parse_sets(set), convention=C.val(convention), dtype=C.val(dtype),
                                diagnose=not hide_answers, no_expect=no_expect)
        except SpecErrors as e:
            C.print_diagnostics(e.diagnostics)
            raise typer.Exit(C.EXIT_INVALID)
        except UsageError as e:
            C.error(str(e))
        if not report["checks"]:
            C.print_diagnostics(report["diagnostics"])
            from ..i18n import _
            C.error(_("nothing to check: {spec} has no `expect:` answers").format(spec=spec)
                    + (_(" and {answers} has none").format(answers=answers) if answers else "")
                    + "\n  " + _("hint: {hint}").format(hint=_(
                        "add `expect: {output: [...], params: ...}` to layers, or give --answers FILE "
                        "(see docs/homework.md)")))
        code = exit_code(report)
        if hide_answers:
            report = hide(report)
        if format == CheckFmt.json:
            C.write_output(to_json(report), output)
        else:
            C.write_output(render_check(report, C.width_for(width, output), hide=hide_answers), output)
        C.print_diagnostics([d for d in report["diagnostics"] if d["severity"] != "note"])
        raise typer.Exit(code)

    @app.command(short_help="One layer's numbers, each as a formula (a calculator).")
    def layer(call: str = typer.Argument(..., metavar="LAYER", show_default=False,
                                         help="one layer, as PyTorch writes it: "
                                              "\"Conv2d(3, 64, kernel_size=7, stride=2, padding=3)\""),
              input: str = typer.Option(..., "--input", "-i", metavar="SHAPE",
                                        help="input shape without batch, e.g. 3x224x224"),
              batch: int = typer.Option(1, "--batch", "-b", metavar="N", help="batch size"),
              set: Optional[List[str]] = typer.Option(None, "--set", metavar="NAME=VALUE",
                                                      help="a name used in the call's arguments "
                                                           "(\"Conv2d(3, c, 3)\" --set c=64; repeatable)"),
              dtype: Optional[C.Dtype] = C.dtype_option(), convention: Optional[C.Convention] = C.convention_option(),
              format: CheckFmt = C.format_option(CheckFmt.text), output: Optional[str] = C.output_option(),
              width: Optional[int] = C.width_option()):
        """One layer's output shape, parameters, MACs, FLOPs, memory, saved bytes and receptive-field step,
        each as formula = substituted = value."""
        from ..homework import layer_report
        from ..errors import SpecErrors, UsageError
        from ..render.homework import render_layer, to_json
        try:
            shape = C.parse_shape(input)
            if batch < 1:
                raise UsageError("--batch must be a positive integer")
            call_text = _with_sets(call, C.parse_sets(set))
            rep = layer_report(call_text, shape, batch, dtype=C.val(dtype), convention=C.val(convention))
        except SpecErrors as e:
            for d in e.diagnostics:
                d.loc = None
            C.print_diagnostics(e.diagnostics)
            from ..i18n import _
            C.err_console().print("  " + _("in: {call}").format(call=call), markup=False)
            raise typer.Exit(C.EXIT_INVALID)
        except UsageError as e:
            C.error(str(e))
        if format == CheckFmt.json:
            C.write_output(to_json(rep), output)
        else:
            C.write_output(render_layer(rep, C.width_for(width, output)), output)
        raise typer.Exit(C.EXIT_OK)


def _with_sets(call: str, sets: dict) -> str:
    """The call with each name given by --set replaced by its value (whole names only)."""
    if not sets:
        return call
    import io
    import tokenize
    from ..errors import UsageError
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(call).readline))
    except (tokenize.TokenError, SyntaxError):
        return call
    used, out, last = set(), [], 0
    line = call
    for t in toks:
        if t.type == tokenize.NAME and t.string in sets and t.start[0] == 1:
            prev = line[:t.start[1]].rstrip()
            if prev.endswith(("(", ",", "=", "*", "+", "-", "/")) and not line[t.end[1]:].lstrip().startswith("="):
                out.append(line[last:t.start[1]] + repr(sets[t.string]))
                last = t.end[1]
                used.add(t.string)
    out.append(line[last:])
    unused = set(sets) - used
    if unused:
        raise UsageError(f"--set {', '.join(sorted(unused))}: no such name in the layer call `{call}`")
    return "".join(out)
