"""The shared examples analyse with every expect passing; every broken spec gives its error."""
import json
import re

import pytest

from conftest import EXAMPLES, run_cli
from cnncalc.api import analyze_path

GOOD = sorted(EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_example_expects_pass(path):
    rep = analyze_path(path)
    bad = [e for e in rep["expect"] if e["verdict"] != "pass"]
    assert not bad, bad
    assert not [d for d in rep["diagnostics"] if d["severity"] == "error"]


def test_examples_published_totals():
    # LeNet (d2l): 61,706 params; 416,520 MACs at 1x28x28 (the spec's own expects, published by d2l)
    lenet = analyze_path(EXAMPLES / "lenet.yaml")["totals"]
    assert lenet["params"] == 61706
    # conv1 6*28*28*1*25 = 117,600; conv2 16*10*10*6*25 = 240,000; fc 400*120 + 120*84 + 84*10 = 58,920
    assert lenet["macs"] == 117600 + 240000 + 58920 == 416520
    r18 = analyze_path(EXAMPLES / "resnet18.yaml")["totals"]
    assert r18["params"] == 11689512          # torchvision resnet18
    assert r18["macs"] == 1814073344          # torchvision docs: 1.81 GFLOPS (conv+linear MACs)
    # BN buffers: running mean+var (2*C) + num_batches_tracked (1) for each of the 20 BNs
    bn_channels = 64 + 4 * 64 + 4 * 128 + 4 * 256 + 4 * 512 + 128 + 256 + 512
    assert r18["buffers"] == 2 * bn_channels + 20


def test_siamese_shared_weights():
    rep = analyze_path(EXAMPLES / "siamese.yaml")
    tower = [L for L in rep["layers"] if L["name"].startswith("emb_l.")]
    again = [L for L in rep["layers"] if L["name"].startswith("emb_r.")]
    assert len(tower) == len(again)
    # second call: same modules, params counted once, MACs again
    assert all(b["module"] == a["module"] for a, b in zip(tower, again))
    assert sum(L["params"] for L in again) == 0
    assert sum(L["macs"] for L in again) == sum(L["macs"] for L in tower)
    # head: Linear(4096, 1) = 4097 params; total = tower + head
    assert rep["totals"]["params"] == 38947648 + 4097


def test_shuffle_multi_output_and_names():
    rep = analyze_path(EXAMPLES / "shuffle.yaml")
    names = [L["name"] for L in rep["layers"]]
    assert "stage2.0.sp" in names and "stage2.2.right.7" in names
    cat = next(L for L in rep["layers"] if L["name"] == "stage2.0.2")
    assert cat["inputs"] == ["stage2.0.sp:0", "stage2.0.right.7"]
    # each unit: 1x1 58->58 (3,364) + BN (116) + dw 3x3 (522) + BN (116) + 1x1 (3,364) + BN (116) = 7,598
    assert rep["totals"]["params"] == 3 * 7598


def test_resnet_downsample_when():
    rep = analyze_path(EXAMPLES / "resnet18.yaml")
    names = {L["name"] for L in rep["layers"]}
    assert "layer2.0.downsample.0" in names          # stride 2: projection exists
    assert "layer1.0.downsample.0" not in names      # when: false -> identity
    add = next(L for L in rep["layers"] if L["name"] == "layer1.0.6")
    assert add["inputs"] == ["layer1.0.bn2", "3"]    # the block input (the maxpool) is the shortcut


# file -> (line, column or None, substrings the message must contain)
BAD = {
    "bad_ref.yaml": (25, 16, ["unknown reference `bn3`", "bn2"]),
    "cat_mismatch.yaml": (8, None, ["b3", "24", "28", "kernel_size=5", "padding=0"]),
    "dup_key.yaml": (6, 59, ["duplicate key `kernel_size`"]),
    "expr_typo.yaml": (23, 15, ["unknown variable `plane`", "planes"]),
    "keras_case.yaml": (10, 5, ["unknown op `Conv2D`", "Conv2d"]),
    "linear_scalar.yaml": (15, 5, ["in_features", "LazyLinear: 120", "Linear: {out_features: 120}"]),
    "missing_colon.yaml": (11, None, ["- BatchNorm2d:"]),
    "no_flatten.yaml": (14, 5, ["flat input", "[16, 5, 5]", "Flatten"]),
    "typo_kwarg.yaml": (6, None, ["no argument `kernal_size`", "kernel_size"]),
    "wrong_in_channels.yaml": (10, 5, ["in_channels=16", "6 channels"]),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_examples(name):
    line, col, needles = BAD[name]
    r = run_cli("analyze", EXAMPLES / "bad" / name)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr
    first = next(l for l in r.stderr.splitlines() if ": error:" in l)
    m = re.search(r"\.yaml:(\d+):(\d+): error:", first)
    assert m, first
    assert int(m.group(1)) == line, first
    if col is not None:
        assert int(m.group(2)) == col, first
    text = " ".join(r.stderr.split())
    for n in needles:
        assert n in text, (n, r.stderr)


def test_wrong_expect_exit_1():
    r = run_cli("analyze", EXAMPLES / "bad" / "wrong_expect.yaml")
    assert r.returncode == 1
    assert "Traceback" not in r.stdout + r.stderr
    out = " ".join(r.stdout.split())
    assert "wrong_expect.yaml:7:" in out and "[6, 24, 24]" in out and "[6, 28, 28]" in out


def test_partial_report_after_error():
    # the rest of the report is still computed: the layers before the broken one are in the JSON
    r = run_cli("analyze", EXAMPLES / "bad" / "no_flatten.yaml", "--format", "json")
    assert r.returncode == 2
    rep = json.loads(r.stdout)
    assert [L["name"] for L in rep["layers"]][:6] == ["0", "1", "2", "3", "4", "5"]
    assert rep["layers"][0]["params"] == 156      # 6*(1*25) + 6
    assert any(d["severity"] == "error" for d in rep["diagnostics"])
