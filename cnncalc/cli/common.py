"""What every command shares: option parsing, loading a spec, printing diagnostics, exit codes."""
from __future__ import annotations

import sys

import typer

from ..errors import SpecErrors, UsageError

EXIT_OK, EXIT_EXPECT, EXIT_INVALID = 0, 1, 2
_console = None
_err_console = None


def console():
    global _console
    if _console is None:
        from rich.console import Console
        _console = Console(highlight=False, width=None if sys.stdout.isatty() else 100)
        _console.on_broken_pipe = _closed_pipe      # rich would exit 1: leave it to run_until_pipe_closes
    return _console


def err_console():
    global _err_console
    if _err_console is None:
        from rich.console import Console
        _err_console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _err_console


def parse_shape(text: str):
    try:
        dims = tuple(int(x) for x in text.lower().replace("*", "x").replace(",", "x").split("x") if x)
    except ValueError:
        raise UsageError(f"cannot read the shape `{text}`: write it like 3x224x224 (no batch)") from None
    if not dims or min(dims) < 1:
        raise UsageError(f"cannot read the shape `{text}`: write it like 3x224x224 (no batch)")
    return dims


def parse_inputs(values):
    if not values:
        return None
    named = {}
    for v in values:
        if "=" in v:
            k, s = v.split("=", 1)
            named[k.strip()] = parse_shape(s)
        else:
            if len(values) > 1:
                raise UsageError("several --input options must be named: --input left=1x105x105")
            return parse_shape(v)
    return named


def parse_sets(values):
    from ..spec.yamlload import load_yaml
    out = {}
    for v in values or []:
        if "=" not in v:
            raise UsageError(f"--set takes name=value, got `{v}`")
        k, s = v.split("=", 1)
        try:
            val, _ = load_yaml(s, "--set")
        except SpecErrors:
            val = s
        out[k.strip()] = val
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
        where = f"{d['location']}: " if d.get("location") else ""
        lines = [f"{where}{d['severity']}: {d['message']}"] + [f"  hint: {h}" for h in d.get("hints", [])]
        return _escape("\n".join(lines))
    return _escape(d.render())


def _escape(s):
    from rich.markup import escape
    return escape(s)


def load_analysis(spec, batch=None, inputs=None, sets=None, convention=None, dtype=None, kwargs=None,
                  no_expect=False):
    """Load and analyse; on a fatal spec error print it and exit 2.  ``no_expect``: every expect skipped."""
    a = _load_analysis(spec, batch, inputs, sets, convention, dtype, kwargs)
    if no_expect:
        from ..core.expect_input import settle
        a.expect_results = settle(a.expect_results, no_expect=True)
    return a


NO_EXPECT_HELP = "do not check the spec's `expect:` values (each is reported as skipped; exit 0)"


def _load_analysis(spec, batch, inputs, sets, convention, dtype, kwargs):
    from ..api import analysis_for
    try:
        if ":" in spec and not spec.endswith((".yaml", ".yml", ".json")) and _is_module_target(spec):
            from ..frontends import module_target
            return module_target.analysis_for_module(spec, batch=batch, inputs=inputs, convention=convention,
                                                     dtype=dtype, kwargs=kwargs)
        return analysis_for(spec, batch=batch, input_shape=parse_inputs(inputs), overrides=parse_sets(sets),
                            convention=convention, dtype=dtype)
    except SpecErrors as e:
        print_diagnostics(e.diagnostics)
        raise typer.Exit(EXIT_INVALID)
    except UsageError as e:
        err_console().print(f"error: {e}", markup=False)
        raise typer.Exit(EXIT_INVALID)


def _is_module_target(spec: str) -> bool:
    import os
    return not os.path.exists(spec)


def exit_code(report) -> int:
    if any(d["severity"] == "error" for d in report["diagnostics"]):
        return EXIT_INVALID
    if any(r["verdict"] in ("fail", "error") for r in report.get("expect", [])):
        return EXIT_EXPECT
    return EXIT_OK


def write_output(text: str, output):
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


def run_until_pipe_closes(app):
    """Run the command line; when the reader of stdout goes away (`| head -1`), stop quietly with exit 0:
    the reader had what it wanted, and exit code 1 means a failed `expect`."""
    try:
        try:
            app()
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


def _closed_pipe():
    raise BrokenPipeError("stdout closed")


def _stdout_to_devnull():
    # Python's advice (signal module docs, "Note on SIGPIPE"): point stdout at devnull so that the
    # interpreter's own flush at exit meets no closed pipe either
    import os
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
