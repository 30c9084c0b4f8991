"""The fast path of `cnncalc analyze` (cnncalc/cli/fastpath.py) takes only command lines it parses
exactly as the typer command does, gives the same output and exit code, and imports no typer."""
from __future__ import annotations

import inspect
import os
import subprocess
import sys

import pytest
import typer

from cnncalc.cli import fastpath
from cnncalc.cli.main import Fmt, analyze, app
from cnncalc.cli.common import Convention, Dtype, Lang
from conftest import EXAMPLES, ROOT

ENV = dict(os.environ, COLUMNS="100", PYTHONIOENCODING="utf-8")
TYPER = ("import sys; from cnncalc.cli.common import run_until_pipe_closes; from cnncalc.cli.main import app; "
         "sys.argv[0] = 'cnncalc'; run_until_pipe_closes(app)")


def test_option_table_is_the_typer_commands():
    cmd = typer.main.get_command(app).commands["analyze"]
    typer_opts = {p.name: (set(p.opts), p.is_flag, p.multiple) for p in cmd.params
                  if p.param_type_name == "option" and p.name != "help"}
    typer_opts.pop("verify")          # --verify deliberately takes the typer path
    for name in ("erf", "erf_unit", "erf_node"):   # --erf runs torch: the typer path too
        typer_opts.pop(name)
    fast = {param: (set(names), kind == "flag", kind == "multi") for param, (names, kind) in fastpath.ANALYZE.items()}
    assert fast == typer_opts
    assert fastpath.FORMATS == tuple(f.value for f in Fmt)
    assert fastpath.DTYPES == tuple(d.value for d in Dtype)
    assert fastpath.LANGS == tuple(x.value for x in Lang)
    assert fastpath.CONVENTIONS == tuple(c.value for c in Convention)
    # the bounds typer checks: --width min 40, --seed min 0
    sig = inspect.signature(analyze).parameters
    assert (sig["width"].default.min, sig["seed"].default.min) == (40, 0)
    assert fastpath.ANALYZE["width"][1] == "int>=40" and fastpath.ANALYZE["seed"][1] == "int>=0"


@pytest.mark.parametrize("argv", [
    ["--help"], ["analyze", "-h"], ["analyze"], ["--version"], ["memory", "x.yaml"], ["analyze", "a", "b"],
    ["analyze", "x.yaml", "-fjson"], ["analyze", "x.yaml", "--format", "JSON"], ["analyze", "x.yaml", "--width", "39"],
    ["analyze", "x.yaml", "--format", "json", "--format", "csv"], ["analyze", "x.yaml", "--batch", "-1"],
    ["analyze", "x.yaml", "--batch", "2.0"], ["analyze", "x.yaml", "--seed", "-3"], ["analyze", "x.yaml", "--"],
    ["analyze", "x.yaml", "--no-expect=1"], ["analyze", "x.yaml", "--verify"], ["analyze", "x.yaml", "--bogus"],
    ["analyze", "x.yaml", "--input"], ["analyze", "--format", "json"],
])
def test_doubtful_command_lines_go_to_typer(argv):
    assert fastpath.parse_analyze(argv) is None


def test_plain_command_lines_are_parsed():
    kw = fastpath.parse_analyze(["analyze", "x.yaml", "-b", "4", "--input=3x32x32", "-i", "y=3x8x8", "--set", "w=2",
                                 "--dtype", "float16", "-c", "paper", "--depth=1", "-f", "csv", "-o", "out.csv",
                                 "--width", "80", "--dataset-size", "10", "--no-expect", "--seed", "7"])
    assert kw == {"spec": "x.yaml", "batch": 4, "input": ["3x32x32", "y=3x8x8"], "set": ["w=2"], "dtype": "float16",
                  "convention": "paper", "depth": 1, "format": "csv", "output": "out.csv", "width": 80,
                  "dataset_size": 10, "no_expect": True, "seed": 7}


@pytest.mark.parametrize("args", [
    ["analyze", str(EXAMPLES / "resnet18.yaml"), "--format", "json"],
    ["analyze", str(EXAMPLES / "resnet18.yaml"), "--width", "80", "-d", "1"],
    ["analyze", str(EXAMPLES / "lenet.yaml"), "-f", "csv", "-b", "3", "--dtype", "float16"],
    ["analyze", str(EXAMPLES / "lenet.yaml"), "-f", "markdown", "-c", "paper"],
    ["analyze", str(EXAMPLES / "lenet.yaml"), "--input", "3xfoo"],                 # an error: exit 2
    ["analyze", "no/such/spec.yaml"],                                              # no file: exit 2
    ["analyze", str(EXAMPLES / "lenet.yaml"), "--input", "1x28x28", "--no-expect"],
    ["analyze", str(EXAMPLES / "lenet.yaml"), "--dataset-size", "0"],             # the command's own check
    ["analyze", str(EXAMPLES / "lenet.yaml"), "--lang", "zh", "--width", "80"],     # Chinese headers and totals
    ["analyze", str(EXAMPLES / "lenet.yaml"), "--lang", "zh", "--input", "3xfoo"],  # a Chinese error
])
def test_same_output_as_typer(args):
    assert fastpath.parse_analyze(args) is not None
    fast = subprocess.run([sys.executable, "-m", "cnncalc", *args], capture_output=True, text=True, env=ENV,
                          cwd=ROOT, timeout=60)
    slow = subprocess.run([sys.executable, "-c", TYPER, *args], capture_output=True, text=True, env=ENV,
                          cwd=ROOT, timeout=60)
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)


def test_fast_path_imports_no_typer():
    code = ("import sys; sys.argv = ['cnncalc', 'analyze', %r, '--format', 'json']\n"
            "from cnncalc.cli import entry\n"
            "try:\n    entry.main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'click', 'pydantic', 'torch', "
            "'rich', 'importlib.metadata'))\nsys.stderr.write(repr(bad))\n") % str(EXAMPLES / "resnet18.yaml")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "[]", r.stderr
