"""Expects answer the spec's own question; `--no-expect`; a closed pipe ends quietly (docs/spec-notes.md)."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, SPECS, analyse_text, run_cli

from cnncalc.core.expect_input import describe, question_changes, settle

TINY = """\
cnncalc: 1
input: [3, 32, 32]
vars: {width: 8}
layers:
  - Conv2d: {out_channels: $width, kernel_size: 3}
    name: c
    expect: {output: [8, 30, 30], params: 999}
"""
# c: (32 - 3) + 1 = 30; params 3*3*3*8 + 8 = 224, so `params: 999` is wrong at every input


def test_question_changes_names_what_the_command_line_changed():
    data = {"input": [3, 224, 224], "vars": {"width": 64}, "dtype": "float32"}
    assert question_changes(data) == []
    assert question_changes(data, (3, 224, 224), {"width": 64}, "float32", "default") == []
    ch = question_changes(data, (3, 299, 299))
    assert describe(ch) == "expected for input [3, 224, 224]; analysed at [3, 299, 299]"
    ch = question_changes(data, None, {"width": 16}, "float16")
    assert describe(ch) == "expected for width=64, dtype float32; analysed at width=16, dtype float16"
    two = {"inputs": {"left": [1, 105, 105], "right": [1, 105, 105]}}
    assert describe(question_changes(two, (1, 64, 64))) == \
        "expected for inputs left [1, 105, 105], right [1, 105, 105]; analysed at left [1, 64, 64], right [1, 64, 64]"


def test_settle_skips_failures_only_when_the_question_changed():
    res = [{"verdict": "pass"}, {"verdict": "fail"}, {"verdict": "error"}]
    assert settle(res) == res
    ch = [("input", "input [3, 32, 32]", "[3, 64, 64]")]
    assert [r["verdict"] for r in settle(res, ch)] == ["pass", "skipped", "error"]
    assert [r["verdict"] for r in settle(res, no_expect=True)] == ["skipped", "skipped", "error"]


def test_a_wrong_expect_still_fails_at_the_specs_own_input():
    for kw in ({}, {"input_shape": (3, 32, 32)}, {"overrides": {"width": 8}}):
        a = analyse_text(TINY, **kw)
        assert {r["key"]: r["verdict"] for r in a.expect_results} == {"output": "pass", "params": "fail"}, kw
    a = analyse_text(TINY, input_shape=(3, 64, 64))
    got = {r["key"]: (r["verdict"], r.get("message")) for r in a.expect_results}
    why = "expected for input [3, 32, 32]; analysed at [3, 64, 64]"
    assert got == {"output": ("skipped", why), "params": ("skipped", why)}


def test_analyze_at_another_input_exits_0_and_says_which_input():
    r = run_cli("analyze", SPECS / "resnet50.yaml", "--input", "3x299x299", "--format", "json")
    assert r.returncode == 0, r.stderr
    exp = {(e["node"], e["key"]): e for e in json.loads(r.stdout)["expect"]}
    conv1 = exp[("conv1", "output")]
    assert conv1["actual"] == [64, 150, 150]          # floor((299 + 2*3 - 7)/2) + 1 = 150
    assert conv1["verdict"] == "skipped"
    assert conv1["message"] == "expected for input [3, 224, 224]; analysed at [3, 299, 299]"
    assert exp[("conv1", "params")]["verdict"] == "pass"     # 3*7*7*64 = 9408 at any input size
    assert exp[("", "params")]["verdict"] == "pass"          # 25,557,032: parameters do not depend on it
    r = run_cli("analyze", SPECS / "resnet50.yaml", "--input", "3x299x299")
    assert r.returncode == 0 and "7 skipped" in r.stdout and "analysed at [3, 299, 299]" in r.stdout


def test_no_expect_on_every_command_that_reads_expects():
    r = run_cli("analyze", SPECS / "resnet50.yaml", "--no-expect", "--format", "json")
    assert r.returncode == 0
    assert {e["verdict"] for e in json.loads(r.stdout)["expect"]} == {"skipped"}
    r = run_cli("check", SPECS / "resnet50.yaml", "--no-expect", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["summary"]["skipped"] == 15
    for cmd in (("explain", SPECS / "lenet.yaml", "--no-expect"), ("memory", SPECS / "lenet.yaml", "--no-expect")):
        assert run_cli(*cmd).returncode == 0, cmd


@pytest.mark.parametrize("args", [("analyze",), ("analyze", "--format", "json"), ("explain",), ("check",),
                                  ("memory",)], ids=" ".join)
def test_a_closed_pipe_ends_quietly_with_exit_0(args):
    # `cnncalc analyze lenet.yaml | head -1`, with the reader gone before the first write (the race
    # made deterministic): exit 0 and nothing on stderr, where exit 1 would read as a failed expect
    env = dict(os.environ, COLUMNS="100")
    p = subprocess.Popen([sys.executable, "-m", "cnncalc", args[0], str(SPECS / "lenet.yaml"), *args[1:]],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "Error" not in err
