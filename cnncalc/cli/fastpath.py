"""A fast path for the commonest command line, `cnncalc analyze SPEC [options]`, without typer.

typer (with the pydantic it imports to coerce values) costs about 70 ms of a 0.2 s run.  This module
parses a strict subset of what the typer command accepts: every option of `analyze` in its plain
forms (`--name VALUE`, `--name=VALUE`, `-x VALUE`, flags), values that are unambiguous (digits for
numbers, an exact choice for enumerations, no value that starts with `-`).  Anything else (help,
`--version`, another command, a bad or doubtful value, a repeated option, `--`, combined short
forms) returns None and the typer command line runs instead, so help texts and error messages are
typer's own, identical whether or not this path exists.  `tests/test_fastpath.py` keeps the option
table equal to the typer command's and compares the two paths' outputs.
"""
from __future__ import annotations

import re

FORMATS = ("table", "json", "csv", "markdown")
DTYPES = ("float32", "float16", "bfloat16", "float64")
CONVENTIONS = ("default", "macs", "paper", "torch", "fvcore")
LANGS = ("zh", "en")

# parameter -> (option names, kind); kind: "int", "int>=1" style bounds are checked by the command
# itself as typer passes them through; "str", "multi" (repeatable), "flag", or a tuple of choices
ANALYZE = {
    "batch": (("--batch", "-b"), "int"),
    "input": (("--input", "-i"), "multi"),
    "set": (("--set",), "multi"),
    "dtype": (("--dtype",), DTYPES),
    "convention": (("--convention", "-c"), CONVENTIONS),
    "depth": (("--depth", "-d"), "int"),
    "format": (("--format", "-f"), FORMATS),
    "output": (("--output", "-o"), "str"),
    "width": (("--width",), "int>=40"),
    "dataset_size": (("--dataset-size",), "int"),
    "kwargs": (("--kwargs",), "str"),
    "no_expect": (("--no-expect",), "flag"),
    "seed": (("--seed",), "int>=0"),
    "lang": (("--lang",), LANGS),
}
# --verify runs torch and a second command: it takes the ordinary path
_BY_NAME = {n: (param, kind) for param, (names, kind) in ANALYZE.items() for n in names}
_DIGITS = re.compile(r"[0-9]{1,18}\Z")


def parse_analyze(args):
    """Keyword arguments for run_analyze, or None when the typer command line must decide."""
    if not args or args[0] != "analyze":
        return None
    out = {"format": "table"}
    spec = None
    seen = set()
    i, rest = 0, args[1:]
    while i < len(rest):
        a = rest[i]
        i += 1
        if not a.startswith("-"):
            if spec is not None:
                return None
            spec = a
            continue
        name, eq, value = a.partition("=") if a.startswith("--") else (a, "", "")
        if name not in _BY_NAME:
            return None
        param, kind = _BY_NAME[name]
        if kind == "flag":
            if eq or param in seen:
                return None
            out[param] = True
            seen.add(param)
            continue
        if not eq:
            if i >= len(rest):
                return None
            value = rest[i]
            i += 1
        if not value or value.startswith("-") or (param in seen and kind != "multi"):
            return None
        seen.add(param)
        if kind == "multi":
            out.setdefault(param, []).append(value)
        elif kind == "str":
            out[param] = value
        elif isinstance(kind, tuple):
            if value not in kind:
                return None
            out[param] = value
        else:
            if not _DIGITS.match(value):
                return None
            n = int(value)
            if kind.startswith("int>=") and n < int(kind[5:]):
                return None
            out[param] = n
    if spec is None or spec.startswith("-"):
        return None
    out["spec"] = spec
    return out


def try_run(args):
    """Run `analyze` without typer when the command line allows; the exit code, or None."""
    kw = parse_analyze(args)
    if kw is None:
        return None
    lang = kw.pop("lang", None)
    if lang is not None:
        from .. import i18n
        i18n.set_language(lang)
    from .analyze_run import run_analyze
    return run_analyze(**kw)
