"""What every command shares: its options (one name, short form and help each), loading a spec,
printing diagnostics, writing the output, exit codes."""
from __future__ import annotations

import sys
from enum import Enum
from typing import Optional

from ..errors import SpecErrors, UsageError
from ..i18n import N_, _, ngettext
from ..shapes import parse_inputs, parse_shape  # noqa: F401  (re-exported for the commands)

EXIT_OK, EXIT_EXPECT, EXIT_INVALID = 0, 1, 2
_err_console = None


class _Typer:
    """typer, imported when an option is first declared: a command run through the fast path
    (`fastpath.py`) never imports it (typer and pydantic take about 70 ms)."""
    def __getattr__(self, name):
        import typer as t
        return getattr(t, name)


typer = _Typer()


# ----------------------------------------------------------------------------- shared options
class Dtype(str, Enum):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    float64 = "float64"


class TableJson(str, Enum):
    """The output formats of commands with a table and JSON only (memory, verify, rf)."""
    table = "table"
    json = "json"


class Lang(str, Enum):
    """The languages of cnncalc.i18n."""
    zh = "zh"
    en = "en"


class Convention(str, Enum):
    """The presets of cnncalc.conventions (a test keeps the two lists equal)."""
    default = "default"
    macs = "macs"
    paper = "paper"
    torch = "torch"
    fvcore = "fvcore"


MODULE_NOTE = ("or MODULE:ATTR: a torch.nn.Module class, factory or instance in an importable module or a .py "
               "file (this imports that module and runs its code)")
SPEC_HELP = f"a spec file (YAML), {MODULE_NOTE}"


def spec_argument(help: str = SPEC_HELP):
    return typer.Argument(..., metavar="SPEC", help=help, show_default=False)


def batch_option(help: str = "batch size (default: the spec's `batch`, else 1)"):
    return typer.Option(None, "--batch", "-b", metavar="N", help=help)


INPUT_HELP = "input shape without batch, e.g. 3x224x224; NAME=SHAPE for each of several inputs (repeatable)"


def input_option(help: str = INPUT_HELP):
    return typer.Option(None, "--input", "-i", metavar="SHAPE", help=help)


def set_option():
    return typer.Option(None, "--set", metavar="NAME=VALUE", help="override a spec variable (repeatable)")


def dtype_option(help: str = "bytes per element of activations and weights"):
    return typer.Option(None, "--dtype", help=help, case_sensitive=False)


def convention_option():
    return typer.Option(None, "--convention", "-c", case_sensitive=False,
                        help="counting convention (what a FLOP is, which ops count): docs/conventions.md")


def format_option(default, help: str = "output format"):
    return typer.Option(default, "--format", "-f", help=help, case_sensitive=False)


def output_option(help: str = "write to this file instead of standard output"):
    return typer.Option(None, "--output", "-o", metavar="FILE", help=help)


def width_option():
    return typer.Option(None, "--width", metavar="COLUMNS", min=40,
                        help="width of tables and text (default: COLUMNS, else the terminal's, else 100)")


def erf_unit_option():
    return typer.Option(None, "--erf-unit", metavar="I[,J...]", help="with --erf: the unit (default: the centre)")


def erf_node_option():
    return typer.Option(None, "--erf-node", metavar="NODE",
                        help="with --erf: the node (name, or name:k; default: the first output or final feature "
                             "map with spatial units)")


LANG_HELP = ("language of the output's text (JSON keys never change); default: CNNCALC_LANG, else "
             "LC_ALL/LC_MESSAGES/LANG (zh_CN.UTF-8, zh_TW, zh: Chinese), else English")


def _set_lang(ctx: typer.Context, value):
    from .. import i18n
    before = i18n.chosen()
    i18n.set_language(val(value))       # None (no --lang): follow the environment
    ctx.call_on_close(lambda: i18n.set_language(before))   # the command's language ends with it
    return value


def lang_option():
    return typer.Option(None, "--lang", help=LANG_HELP, case_sensitive=False, is_eager=True,
                        callback=_set_lang)


def add_lang_option(app):
    """Give every command of `app` the --lang option, in one place: each command's function is wrapped
    in one that takes `lang` too (its callback has set the language before the command runs)."""
    import functools
    import inspect
    for info in app.registered_commands:
        fn = info.callback
        if fn is None or getattr(fn, "_with_lang", False):
            continue
        sig = inspect.signature(fn, eval_str=True)
        if "lang" in sig.parameters:
            continue

        def make(fn):
            @functools.wraps(fn)
            def run(*args, lang=None, **kwargs):
                return fn(*args, **kwargs)
            return run
        run = make(fn)
        del run.__wrapped__         # typer reads the signature below, not the wrapped one's
        params = list(sig.parameters.values())
        params.append(inspect.Parameter("lang", inspect.Parameter.KEYWORD_ONLY, default=lang_option(),
                                        annotation=Optional[Lang]))
        run.__signature__ = sig.replace(parameters=params)
        run.__annotations__ = {p.name: p.annotation for p in params}
        run._with_lang = True
        info.callback = run


def val(x):
    """An option's plain value (the string of an Enum choice)."""
    return x.value if isinstance(x, Enum) else x


def width_for(width, output=None) -> int:
    from ..render.layout import DEFAULT_WIDTH, output_width
    if output:
        return max(int(width), 40) if width else DEFAULT_WIDTH
    return output_width(width)


# ----------------------------------------------------------------------------- output
def err_console():
    global _err_console
    if _err_console is None:
        from rich.console import Console
        _err_console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _err_console


def error(message: str, code: int = EXIT_INVALID):
    """Print `error: message` on stderr and leave with `code`."""
    err_console().print(_("error: {message}").format(message=message), markup=False)
    raise SystemExit(code)


def parse_sets(values):
    from ..spec.yamlload import load_yaml
    out = {}
    for v in values or []:
        if "=" not in v:
            raise UsageError(_("--set takes name=value, got `{value}`").format(value=v))
        k, s = v.split("=", 1)
        try:
            val_, _where = load_yaml(s, "--set")
        except SpecErrors:
            val_ = s
        out[k.strip()] = val_
    return out


def print_diagnostics(diags):
    if not diags:
        return   # (rich is not even imported: --format json stays fast)
    ec = err_console()
    for d in diags:
        color = {"error": "red", "warning": "yellow"}.get(d["severity"] if isinstance(d, dict) else d.severity, "")
        text = _render(d)
        ec.print(f"[{color}]{text}[/]" if color else text, markup=bool(color), highlight=False)


def _render(d):
    if isinstance(d, dict):
        from ..errors import SEVERITY
        where = f"{d['location']}: " if d.get("location") else ""
        lines = [f"{where}{_(SEVERITY.get(d['severity'], d['severity']))}: {d['message']}"] + [
            "  " + _("hint: {hint}").format(hint=h) for h in d.get("hints", [])]
        return _escape("\n".join(lines))
    return _escape(d.render())


def _escape(s):
    from ..safetext import safe
    return safe(s)


# what `no_result` may name (translated where it is shown)
RESULTS = (N_("table"), N_("csv"), N_("markdown"), N_("explanation"), N_("memory report"), N_("verification"),
           N_("review"), N_("report"), N_("plot"))


def no_result(diags, what="table"):
    """On an invalid spec: the errors on stderr, and a line saying why stdout holds no result."""
    errors = [d for d in diags if (d["severity"] if isinstance(d, dict) else d.severity) == "error"]
    print_diagnostics(diags)
    err_console().print(ngettext("no {what}: the spec has {count} error (nothing printed rather than incomplete totals)",
                                 "no {what}: the spec has {count} errors (nothing printed rather than incomplete "
                                 "totals)", len(errors)).format(what=_(what), count=len(errors)), markup=False)
    raise SystemExit(EXIT_INVALID)


def load_analysis(spec, batch=None, inputs=None, sets=None, convention=None, dtype=None, kwargs=None,
                  no_expect=False, seed=0):
    """Load and analyse; on a fatal spec error print it and exit 2.  ``no_expect``: every expect skipped;
    ``seed``: torch's seed for a module target's capture."""
    return _load_analysis(spec, batch, inputs, sets, convention, dtype, kwargs, no_expect, seed)


NO_EXPECT_HELP = "do not check the spec's `expect:` values (each is reported as skipped; exit 0)"


def _load_analysis(spec, batch, inputs, sets, convention, dtype, kwargs, no_expect, seed=0):
    from ..pipeline import analysis_for
    convention, dtype = val(convention), val(dtype)
    try:
        if ":" in spec and not spec.endswith((".yaml", ".yml", ".json")) and _is_module_target(spec):
            from ..frontends import module_target
            return module_target.analysis_for_module(spec, batch=batch, inputs=inputs, convention=convention,
                                                     dtype=dtype, kwargs=kwargs, seed=val(seed) or 0)
        return analysis_for(spec, batch=batch, input_shape=parse_inputs(inputs), overrides=parse_sets(sets),
                            convention=convention, dtype=dtype, no_expect=no_expect)
    except SpecErrors as e:
        print_diagnostics(e.diagnostics)
        raise SystemExit(EXIT_INVALID)
    except UsageError as e:
        from ..safetext import clean
        err_console().print(_("error: {message}").format(message=clean(e)), markup=False)
        raise SystemExit(EXIT_INVALID)


def _is_module_target(spec: str) -> bool:
    import os
    if os.path.exists(spec):
        return False
    from ..frontends.module_target import SPEC_SUFFIXES
    if spec.rsplit(":", 1)[0].lower().endswith(SPEC_SUFFIXES):   # file.yaml:name is never a module
        from ..frontends.module_target import split_target
        split_target(spec)                                     # raises the clean error
    return True


def exit_code(report) -> int:
    if any(d["severity"] == "error" for d in report["diagnostics"]):
        return EXIT_INVALID
    if any(r["verdict"] in ("fail", "error") for r in report.get("expect", [])):
        return EXIT_EXPECT
    return EXIT_OK


def write_output(text: str, output):
    """The text to the file (an unwritable path is exit 2 with a message), or to stdout."""
    if output:
        from ..outfile import write_text
        write_text(output, text)
    else:
        from ..safetext import clean
        sys.stdout.write(clean(text))   # no control bytes from a spec reach the terminal


def run_until_pipe_closes(app):
    """Run the command line; when the reader of stdout goes away (`| head -1`), stop quietly with exit 0:
    the reader had what it wanted, and exit code 1 means a failed `expect`."""
    try:
        try:
            return app()
        finally:
            sys.stdout.flush()        # the last buffered output meets a closed pipe here
    except BrokenPipeError:
        _stdout_to_devnull()
        sys.exit(EXIT_OK)
    except SystemExit:
        # typer (its click) answers a write that met a closed pipe with exit 1, after swapping stdout for
        # a PacifyFlushWrapper: that swap is the sign (and no other exit path makes it)
        if type(sys.stdout).__name__ == "PacifyFlushWrapper":
            _stdout_to_devnull()
            sys.exit(EXIT_OK)
        raise


def _stdout_to_devnull():
    # Python's advice (signal module docs, "Note on SIGPIPE"): point stdout at devnull so that the
    # interpreter's own flush at exit meets no closed pipe either
    import os
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
