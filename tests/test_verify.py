"""`cnncalc verify`: every spec verifies clean against the real torch model, and the cross-check
catches a wrong formula (each check is shown to fail on a deliberately broken kind)."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from cnncalc.api import analysis_for  # noqa: E402
from cnncalc.cli.main import app  # noqa: E402
from cnncalc.errors import SpecErrors  # noqa: E402
from cnncalc.crosscheck.checks import verify  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("torch_one_thread")
ZOO = Path(__file__).parent.parent / "specs"


SPECS = sorted(glob.glob(str(ROOT.parent / "shared" / "examples" / "*.yaml"))) + sorted(glob.glob(str(ROOT / "specs" / "*.yaml")))
runner = CliRunner()

# Work budget per spec (multiply-accumulates at batch 1): bigger models are verified at a smaller
# input (`input_shape`), which exercises every layer and formula at a fraction of the time; the CLI
# test below and docs/verify.md run ResNet-50 at its full 224x224.
MAC_BUDGET = 30e6
SMALL_SIDES = (32, 48, 64, 80, 96, 112, 128)


def _small_input(path):
    """None to verify as written, else the smallest square input that analyses; skips broken specs."""
    try:
        a = analysis_for(path)
    except SpecErrors:
        pytest.skip("the spec does not analyse")
    if any(d.severity == "error" for d in a.diagnostics):
        pytest.skip("the spec has errors")
    if a.totals()["macs"] <= MAC_BUDGET or len(a.g.inputs) != 1:
        return None
    shape = a.g.nodes[a.g.inputs[0]].out_shapes[0]
    if len(shape) != 3:
        return None
    for s in SMALL_SIDES:
        if s >= min(shape[1:]):
            break
        try:
            b = analysis_for(path, input_shape=(shape[0], s, s))
        except SpecErrors:
            continue
        if not any(d.severity == "error" for d in b.diagnostics):
            return (shape[0], s, s)
    return None


@pytest.mark.parametrize("path", SPECS, ids=[os.path.join(os.path.basename(os.path.dirname(p)), os.path.basename(p)) for p in SPECS])
def test_spec_verifies_clean(path):
    inp = _small_input(path)
    r = verify(path, input_shape=inp, device="cpu")
    bad = [c for c in r["checks"] if c["verdict"] == "mismatch"]
    assert not bad, "\n".join(f"{c['check']} {c['name']}: analysis {c['analytical']} vs torch {c['measured']} "
                              f"{c['reason']}" for c in bad)
    assert r["exit_code"] == 0
    kinds = {c["check"] for c in r["checks"] if c["verdict"] == "match"}
    # the independent measurements that always apply did run and agree
    assert {"parameters", "output shape", "FLOPs (torch convention) vs FlopCounterMode",
            "bytes saved for backward"} <= kinds


# --------------------------------------------------------------------------------------------- CLI

SMALL = """\
cnncalc: 1
input: [3, 16, 16]
batch: 2
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
  - BatchNorm2d
  - ReLU
  - MaxPool2d: 2
  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
  - AvgPool2d: 2
  - Flatten
  - Dropout
  - Linear: {out_features: 5}
"""


def _write(tmp_path, text, name="net.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_cli_table_and_exit_0(tmp_path):
    res = runner.invoke(app, ["verify", _write(tmp_path, SMALL), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "all compared numbers match" in res.output
    assert "FlopCounterMode" in res.output and "fvcore" in res.output


def test_cli_json_numbers_by_hand(tmp_path):
    res = runner.invoke(app, ["verify", _write(tmp_path, SMALL), "--device", "cpu", "--format", "json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    tot = {c["check"]: c for c in r["checks"] if c["scope"] == "total"}
    # params: conv1 8*(3*9+1)=224, bn 16, conv2 8*(8*9+1)=584, linear 5*(8*2*2+1)=165 -> 989
    assert tot["parameters"]["measured"] == tot["parameters"]["analytical"] == 224 + 16 + 584 + 165
    # buffers: bn running_mean 8 + running_var 8 + num_batches_tracked 1
    assert tot["buffers"]["measured"] == 17
    # FlopCounterMode: 2 per MAC; batch 2: conv1 8*16*16*27, conv2 8*4*4*72, linear 32*5
    macs = 2 * (8 * 16 * 16 * 27 + 8 * 4 * 4 * 72 + 32 * 5)
    c = tot["FLOPs (torch convention) vs FlopCounterMode"]
    assert c["measured"] == c["analytical"] == 2 * macs
    assert r["summary"]["mismatch"] == 0 and r["exit_code"] == 0


def test_cli_bad_spec_exit_2(tmp_path):
    res = runner.invoke(app, ["verify", _write(tmp_path, "cnncalc: 1\ninput: [3, 8, 8]\nlayers:\n  - Conv2D: 3\n"),
                              "--device", "cpu"])
    assert res.exit_code == 2
    assert "Traceback" not in res.output


def test_cli_refuses_what_does_not_fit(tmp_path, monkeypatch):
    import cnncalc.crosscheck.checks as checks
    monkeypatch.setattr(checks, "available_bytes", lambda device: 4 * 2**20)   # a 4 MiB machine
    text = SMALL.replace("batch: 2", "batch: 64").replace("[3, 16, 16]", "[3, 64, 64]")
    res = runner.invoke(app, ["verify", _write(tmp_path, text), "--device", "cpu"])
    assert res.exit_code == 2
    assert "try --batch" in res.output or "smaller input" in res.output


def test_cli_module_does_not_import_torch():
    code = ("import sys; import cnncalc.cli.main, cnncalc.cli.verify_cmd, cnncalc.crosscheck; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_analyze_verify_flag(tmp_path):
    res = runner.invoke(app, ["analyze", _write(tmp_path, SMALL), "--verify"])
    assert res.exit_code == 0, res.output
    assert "all compared numbers match" in res.output


# ------------------------------------------------------ the cross-check catches wrong formulas

def _mismatches(text, tmp_path, **kw):
    r = verify(_write(tmp_path, text), device="cpu", **kw)
    return [c for c in r["checks"] if c["verdict"] == "mismatch"]


def test_catches_wrong_params(tmp_path, monkeypatch):
    from cnncalc.figure import Figure
    from cnncalc.kinds.base import REGISTRY
    cls = REGISTRY["Linear"]
    orig = cls.params
    monkeypatch.setattr(cls, "params", lambda self: Figure(orig(self).value + 1, "", {}, "params"))
    bad = _mismatches(SMALL, tmp_path, probe=False)
    assert {c["check"] for c in bad} >= {"parameters"}
    assert any(c["name"] == "8" and c["analytical"] == 166 and c["measured"] == 165 for c in bad)


def test_catches_wrong_shape_and_flops(tmp_path, monkeypatch):
    from cnncalc.kinds.base import REGISTRY
    cls = REGISTRY["Conv2d"]
    orig = cls.mac_figure

    def wrong(self):
        f = orig(self)
        f.value *= 2
        return f
    monkeypatch.setattr(cls, "mac_figure", wrong)
    bad = _mismatches(SMALL, tmp_path, probe=False)
    assert "FLOPs (torch convention) vs FlopCounterMode" in {c["check"] for c in bad}
    assert "FLOPs (fvcore convention) vs fvcore" in {c["check"] for c in bad}


def test_catches_wrong_saved(tmp_path, monkeypatch):
    from cnncalc.kinds.base import REGISTRY
    monkeypatch.setattr(REGISTRY["ReLU"], "saved", lambda self: [])
    bad = _mismatches(SMALL, tmp_path, probe=False, fvcore=False)
    # ReLU saves its output: batch 2 * 8*16*16 floats = 16384 bytes
    assert any(c["check"] == "saved for backward" and c["name"] == "2" and c["analytical"] == 0
               and c["measured"] == 2 * 8 * 16 * 16 * 4 for c in bad)


def test_catches_wrong_receptive_field(tmp_path, monkeypatch):
    # the analysis's field (the kind's receptive-field step) says a 2x2/2 max pool reads one pixel: the
    # units' measured windows leave that field
    from cnncalc.kinds.base import REGISTRY, RFStep
    cls = REGISTRY["MaxPool2d"]
    monkeypatch.setattr(cls, "rf", lambda self: RFStep("window", (1, 1), (2, 2), (0, 0), "wrong"))
    text = SMALL.replace("  - AvgPool2d: 2\n  - Flatten\n  - Dropout\n  - Linear: {out_features: 5}\n", "")
    bad = _mismatches(text, tmp_path, fvcore=False)
    assert any(c["check"] == "receptive field (analysis field holds the measured window)" for c in bad)


def test_catches_wrong_exact_window(tmp_path, monkeypatch):
    # the kind's index arithmetic drops the pool's second tap: the exact windows shrink, torch's do not
    from cnncalc.kinds.base import REGISTRY
    from cnncalc.kinds.index_sets import taps
    cls = REGISTRY["MaxPool2d"]
    monkeypatch.setattr(cls, "rf_index", lambda self, sets, i=0, out=0: tuple(
        taps(m, 2, [0], self.in_shape[ax + 1]) for ax, m in enumerate(sets)))
    text = SMALL.replace("  - AvgPool2d: 2\n  - Flatten\n  - Dropout\n  - Linear: {out_features: 5}\n", "")
    bad = _mismatches(text, tmp_path, fvcore=False)
    assert any(c["check"] == "receptive field (gradient support)" for c in bad)


def test_receptive_field_probe_by_hand(tmp_path):
    # conv3/p1 -> maxpool2 -> conv3/s2/p1: r = 1 + 2 + 1*1 + 2*2 = 8? step by step:
    #   conv3 s1 p1: r=3, j=1, start=-1; maxpool 2: r=3+1*1=4, j=2, start=-1;
    #   conv3 s2 p1: r=4+2*2=8, j=4, start=-1-1*2=-3  -> size 8, stride 4, padding 3
    text = SMALL.replace("  - AvgPool2d: 2\n  - Flatten\n  - Dropout\n  - Linear: {out_features: 5}\n", "")
    r = verify(_write(tmp_path, text), device="cpu", fvcore=False)
    rf = [c for c in r["checks"] if c["check"] == "receptive field (gradient support)"]
    env = [c for c in r["checks"] if c["check"] == "receptive field (analysis field holds the measured window)"]
    # the output (4x4): the centre, the 4 corners and 3 random units (fewer when they repeat)
    assert 5 <= len(rf) <= 8 and len(env) == len(rf)
    assert all(c["verdict"] == "match" for c in rf + env)
    # 16 -> 16 -> 8 -> 4 outputs; unit u reads [4u - 3, 4u + 4], clipped to [0, 15]: centre 2: [5, 12];
    # unit 0: [-3, 4] -> [0, 4]; unit 3: [9, 16] -> [9, 15]
    by_unit = {c["name"].split(" (")[0].split("unit ")[1]: c["measured"] for c in rf}
    assert by_unit["[2, 2]"] == "[5, 12] x [5, 12]" and by_unit["[0, 0]"] == "[0, 4] x [0, 4]"
    assert by_unit["[3, 3]"] == "[9, 15] x [9, 15]" and by_unit["[0, 3]"] == "[0, 4] x [9, 15]"
    assert by_unit["[3, 0]"] == "[9, 15] x [0, 4]"


def test_verify_covers_the_unet_segmentation_output(torch_one_thread):
    # the probe follows the decoder's transposed convolutions and concatenations to the output `outc`
    # (1x1 conv of the last up block), at a 64x64 input: 8 units (centre, 4 corners, 3 random)
    from cnncalc.crosscheck.checks import verify as run_verify
    r = run_verify(str(ZOO / "unet.yaml"), input_shape=(1, 64, 64), device="cpu", fvcore=False)
    rf = [c for c in r["checks"] if c["check"] == "receptive field (gradient support)"]
    assert {c["name"].split(" unit")[0] for c in rf} == {"outc"} and len(rf) == 8
    assert all(c["verdict"] == "match" for c in rf)
    corner = next(c for c in rf if "[0, 0] (corner)" in c["name"])
    # U-Net's envelope is 215 wide per axis, centred on the unit: unit 0's starts at -107, so the measured
    # window of the corner starts at the input's edge on both axes
    assert corner["measured"].startswith("[0, ") and " x [0, " in corner["measured"]
    # the (r, j, p) envelope is a continuous approximation after the transposed convolutions: the exact
    # windows are the check there, the envelope check is left out (docs/verify.md)
    env = [c for c in r["checks"] if c["check"] == "receptive field (analysis field holds the measured window)"]
    assert env == []


def test_saved_bytes_fixed_kinds_by_hand(tmp_path):
    """The saved() models this cross-check corrected, with the bytes written out."""
    text = """\
cnncalc: 1
input: [4, 8, 8]
batch: 2
layers:
  - Conv2d: {out_channels: 4, kernel_size: 1}
  - AvgPool2d: 2
    name: avg
  - ReflectionPad2d: 1
    name: pad
  - Conv2d: {out_channels: 4, kernel_size: 1}
  - AdaptiveAvgPool2d: 3
    name: adaptive
  - Conv2d: {out_channels: 4, kernel_size: 1}
  - AdaptiveAvgPool2d: 1
    name: gap
  - Flatten
  - Linear: {out_features: 6}
  - Dropout:
    name: drop
"""
    r = verify(_write(tmp_path, text), device="cpu", probe=False, fvcore=False)
    saved = {c["name"]: (c["analytical"], c["measured"]) for c in r["checks"] if c["check"] == "saved for backward"}
    assert saved["avg"] == (2 * 4 * 8 * 8 * 4,) * 2          # avg_pool keeps its input: 2048 B
    assert saved["pad"] == (2 * 4 * 4 * 4 * 4,) * 2          # reflection pad keeps its input: 512 B
    assert saved["adaptive"] == (2 * 4 * 6 * 6 * 4,) * 2     # non-global adaptive pool keeps its input
    assert saved["gap"] == (0, 0)                            # global: input.mean(), nothing kept
    assert saved["drop"] == (2 * 6 * 4,) * 2                 # CPU dropout: input-shaped float noise


# ------------------------------------------------- every registered kind, run in torch

from kind_samples import SAMPLES  # noqa: E402


def _stems(shapes):
    lines, names = [], []
    for i, s in enumerate(shapes):
        nd = len(s) - 1
        stem = f"Conv{nd}d: {{out_channels: {s[0]}, kernel_size: 1}}" if nd >= 1 else \
            f"Linear: {{out_features: {s[0]}}}"
        lines += [f"  - {stem}", f"    name: s{i}", f"    from: x{i}"]
        names.append(f"s{i}")
    return lines, names


@pytest.mark.parametrize("op", sorted(k for k, v in SAMPLES.items() if v is not None))
def test_every_kind_verifies(op, tmp_path):
    """Each registered kind, behind a 1x1 conv stem (so its input requires grad as inside a network),
    at batch 2: shapes, params, buffers, both FLOP counters, saved bytes and the field all agree."""
    node, shapes = SAMPLES[op]
    stems, names = _stems(shapes)
    ins = ", ".join(f"x{i}: {list(s)}" for i, s in enumerate(shapes))
    pre = []
    if op == "BCELoss":
        pre = ["  - Sigmoid:", "    from: s0", "    name: sig"]
        names = ["sig"]
    text = "\n".join(["cnncalc: 1", f"inputs: {{{ins}}}", "batch: 2", "layers:"] + stems + pre +
                     [f"  - {node}:", f"    from: [{', '.join(names)}]", "    name: n"]) + "\n"
    r = verify(_write(tmp_path, text), device="cpu")
    bad = [c for c in r["checks"] if c["verdict"] == "mismatch"]
    assert not bad, text + "\n".join(f"{c['check']} {c['name']}: {c['analytical']} vs {c['measured']} {c['reason']}"
                                     for c in bad)


@pytest.mark.parametrize("mask", [False, True])
def test_deform_conv_verifies(mask, tmp_path):
    text = """\
cnncalc: 1
input: [4, 9, 9]
batch: 2
layers:
  - Conv2d: {out_channels: 4, kernel_size: 1}
    name: x
  - Conv2d: {out_channels: 18, kernel_size: 3, padding: 1}
    name: offset
    from: x
""" + ("""\
  - Conv2d: {out_channels: 9, kernel_size: 3, padding: 1}
    from: x
  - Sigmoid:
    name: mask
""" if mask else "") + f"""\
  - DeformConv2d: {{out_channels: 6, kernel_size: 3, padding: 1, bias: {'true' if mask else 'false'}}}
    from: [x, offset{', mask' if mask else ''}]
"""
    r = verify(_write(tmp_path, text), device="cpu")
    bad = [c for c in r["checks"] if c["verdict"] == "mismatch"]
    assert not bad, "\n".join(f"{c['check']} {c['name']}: {c['analytical']} vs {c['measured']}" for c in bad)
    # FlopCounterMode does not count deform_conv2d: the torch preset leaves it out too, and says so
    assert any(c["check"] == "FLOPs (torch) per module" and c["verdict"] == "match" and
               "blind to torchvision's deform_conv2d" in c["reason"] for c in r["checks"])


def test_saved_bytes_in_place_activations_by_hand(tmp_path):
    """torchvision's ReLU6(inplace=True) between convolutions (MobileNet v2): the in-place op keeps a
    copy of its input; ELU keeps its input (not its output)."""
    text = """\
cnncalc: 1
input: [4, 8, 8]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 1}
  - ReLU6: {inplace: true}
    name: r6
  - Conv2d: {out_channels: 4, kernel_size: 1}
    name: c2
  - ELU
  - Conv2d: {out_channels: 4, kernel_size: 1}
    name: c3
"""
    r = verify(_write(tmp_path, text), device="cpu", probe=False, fvcore=False)
    saved = {c["name"]: (c["analytical"], c["measured"]) for c in r["checks"] if c["check"] == "saved for backward"}
    t = 4 * 8 * 8 * 4                     # one [1, 4, 8, 8] float32 tensor: 1024 bytes
    assert saved["r6"] == (t, t)          # the copy hardtanh_ keeps
    assert saved["c2"] == (t, t)          # c2's input: the first conv's output, modified in place
    assert saved["3"] == (t, t)           # ELU keeps its input, c2's output
    assert saved["c3"] == (t, t)          # c3's input: ELU's output
    assert not [c for c in r["checks"] if c["verdict"] == "mismatch"]
