"""One set of option names across commands: each shared option has one long name, one short form
and (for choices) its list of values everywhere it appears; help shows real metavariables."""
from __future__ import annotations

import re

import pytest
import typer

from cnncalc.cli.main import app
from tests.conftest import run_cli

# The shared options: long name -> (short form or None, expected choices or None)
SHARED = {
    "--format": ("-f", "per command"),
    "--output": ("-o", None),
    "--batch": ("-b", None),
    "--input": ("-i", None),
    "--set": (None, None),
    "--convention": ("-c", ["default", "macs", "paper", "torch", "fvcore"]),
    "--dtype": (None, ["float32", "float16", "bfloat16", "float64"]),
    "--width": (None, None),
    "--lang": (None, ["zh", "en"]),
    "--help": ("-h", None),
}

# Which shared options each command has (where they make sense), and its --format choices.
# (--lang is on every command: cnncalc.cli.common.add_lang_option)
COMMANDS = {
    "analyze": ({"--format", "--output", "--batch", "--input", "--set", "--convention", "--dtype", "--width", "--lang"},
                ["table", "json", "csv", "markdown"]),
    "explain": ({"--format", "--output", "--batch", "--input", "--set", "--convention", "--dtype", "--width", "--lang"},
                ["text", "markdown", "json"]),
    "verify": ({"--format", "--output", "--batch", "--input", "--set", "--convention", "--dtype", "--width", "--lang"},
               ["table", "json"]),
    "memory": ({"--format", "--output", "--batch", "--input", "--set", "--convention", "--dtype", "--width", "--lang"},
               ["table", "json"]),
    "check": ({"--format", "--output", "--batch", "--input", "--set", "--convention", "--dtype", "--width", "--lang"},
              ["text", "json"]),
    "layer": ({"--format", "--output", "--batch", "--input", "--set", "--convention", "--dtype", "--width", "--lang"},
              ["text", "json"]),
    "review": ({"--format", "--output", "--batch", "--input", "--set", "--convention", "--dtype", "--width", "--lang"},
               ["text", "json", "markdown"]),
    "compare": ({"--format", "--output", "--batch", "--input", "--set", "--convention", "--dtype", "--width", "--lang"},
                ["text", "json", "markdown"]),
    "plot": ({"--output", "--batch", "--input", "--set", "--convention", "--dtype", "--lang"}, None),
    "report": ({"--format", "--output", "--batch", "--input", "--set", "--convention", "--dtype", "--lang"},
               ["html", "markdown"]),
    "export": ({"--output", "--batch", "--input", "--lang"}, None),
    "calibrate": ({"--output", "--batch", "--lang"}, None),
    "schema": ({"--output", "--lang"}, None),
    "rf": ({"--format", "--input", "--set", "--width", "--output", "--lang"}, ["table", "json"]),
}
# The effective receptive field's options (torch runs only when given), per command: one name each
ERF_OPTIONS = {
    "analyze": {"--erf", "--erf-unit", "--erf-node"},
    "report": {"--erf", "--erf-unit", "--erf-node"},
    "rf": {"--erf", "--erf-seeds", "--erf-samples", "--plot", "--probe", "--unit"},
}
# commands whose SPEC may be a Python module (their help must say so, and that it runs code)
MODULE_COMMANDS = {"analyze", "explain", "verify", "memory", "review", "compare", "plot", "report", "export", "rf"}


def _commands():
    group = typer.main.get_command(app)
    return {name: cmd for name, cmd in group.commands.items()}


def _options(cmd):
    """long option -> (short form or None, choices or None) of one command."""
    out = {}
    for p in cmd.params:
        if not getattr(p, "opts", None) or p.param_type_name != "option":
            continue
        longs = [o for o in p.opts + p.secondary_opts if o.startswith("--")]
        shorts = [o for o in p.opts if not o.startswith("--")]
        shown = p.display_type(typer.Context(cmd)) or ""      # "<a|b|c>" for a choice
        choices = shown.strip("<>").split("|") if "|" in shown else None
        for lo in longs:
            out[lo] = (shorts[0] if shorts else None, choices)
    group = typer.main.get_command(app)
    ctx = typer.Context(cmd, parent=typer.Context(group, **group.context_settings))
    out["--help"] = ("-h", None) if "-h" in cmd.get_help_option_names(ctx) else (None, None)
    return out


def test_every_command_is_in_the_table():
    assert set(_commands()) == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_option_table(name):
    cmd = _commands()[name]
    opts = _options(cmd)
    want, fmt_choices = COMMANDS[name]
    missing = (want | {"--help"}) - set(opts)
    assert not missing, f"{name} lacks {sorted(missing)}"
    for long, (short, choices) in SHARED.items():
        if long not in opts:
            continue
        got_short, got_choices = opts[long]
        assert got_short == short, f"{name} {long}: short form {got_short}, expected {short}"
        if long == "--format":
            assert got_choices == fmt_choices, f"{name} --format lists {got_choices}"
        elif choices:
            assert got_choices == choices, f"{name} {long} lists {got_choices}"
    # a shared short form means the same option in every command
    shorts = {s: lo for lo, (s, _) in SHARED.items() if s}
    for long, (short, _) in opts.items():
        if short in shorts:
            assert shorts[short] == long, f"{name}: {short} is {long}, elsewhere {shorts[short]}"


@pytest.mark.parametrize("name", sorted(ERF_OPTIONS))
def test_erf_options(name):
    cmd = _commands()[name]
    assert ERF_OPTIONS[name] <= set(_options(cmd))
    # a unit is written the same way everywhere: one index per spatial axis
    metas = {o: p.metavar for p in cmd.params for o in getattr(p, "opts", []) if o in ("--erf-unit", "--unit")}
    assert set(metas.values()) == {"I[,J...]"}


def test_convention_choices_are_the_presets():
    from cnncalc.conventions import PRESETS
    assert SHARED["--convention"][1] == list(PRESETS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_metavars_and_modules(name):
    r = run_cli(name, "-h")
    assert r.returncode == 0, r.stderr
    usage = r.stdout.splitlines()[0]
    assert "{" not in usage and "<" not in usage, usage
    assert "<str>" not in r.stdout and "list[" not in r.stdout and "<int>" not in r.stdout, r.stdout
    text = " ".join(r.stdout.split())
    if name in MODULE_COMMANDS:
        assert "MODULE:ATTR" in text and ("runs its code" in text or "RUNS ITS CODE" in text), text


def test_top_level_help_version_and_completion():
    r = run_cli("-h")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    commands = lines[lines.index("Commands:") + 1:]
    assert len([c for c in commands if c.strip()]) == len(COMMANDS)
    assert not any(c.rstrip().endswith("...") for c in commands), commands
    assert "--install-completion" in r.stdout and "--show-completion" in r.stdout
    r = run_cli("--version")
    assert r.returncode == 0 and re.fullmatch(r"cnncalc \S+\n", r.stdout), r.stdout


def test_bad_choice_lists_the_values():
    r = run_cli("analyze", "x.yaml", "--dtype", "fp16")
    assert r.returncode == 2
    for v in SHARED["--dtype"][1]:
        assert v in r.stderr
    r = run_cli("verify", "x.yaml", "-f", "yaml")
    assert r.returncode == 2 and "table" in r.stderr and "json" in r.stderr


def test_layer_set_substitutes_names():
    # "Conv2d(3, c, 3)" with c=64 is Conv2d(3, 64, 3): 64*(3*3*3) + 64 = 1,792 parameters
    r = run_cli("layer", "Conv2d(3, c, 3)", "-i", "3x32x32", "--set", "c=64", "-f", "json")
    assert r.returncode == 0, r.stderr
    assert "1792" in r.stdout.replace(",", "")
    r = run_cli("layer", "Conv2d(3, 64, 3)", "-i", "3x32x32", "--set", "zz=1")
    assert r.returncode == 2 and "zz" in r.stderr
