"""Homework checking: `cnncalc check`, the mistake catalogue's diagnoses, `cnncalc layer`.

Every expected number is derived by hand in a comment, or quoted from a published
source (d2l.ai, CS231n, Szegedy et al.'s Inception cost example); none is a copy of
the tool's own output.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnncalc.homework import CATALOGUE, check_path, layer_report
from cnncalc.cli.main import app
from cnncalc.errors import SpecErrors

ROOT = Path(__file__).resolve().parents[1]
HW = ROOT / "examples" / "homework"
runner = CliRunner()


def spec(body: str, inp="[1, 28, 28]", batch=1) -> str:
    return f"cnncalc: 1\nname: t\ninput: {inp}\nbatch: {batch}\nlayers:\n{body}"


def check(body, answers, inp="[1, 28, 28]", batch=1):
    return check_path("t.yaml", text=spec(body, inp, batch), answers_text=answers)


def rec(report, node, key):
    for c in report["checks"]:
        if c["node"] == node and c["key"] == key:
            return c
    raise AssertionError(f"no check {node}.{key} in {report['checks']}")


def mistakes_of(c):
    """The mistake ids of the first (most likely) diagnosis, and all candidates' ids."""
    d = c["diagnosis"]
    assert d is not None and d["status"] == "explained", d
    first = [m["id"] for m in d["candidates"][0]["mistakes"]]
    every = [[m["id"] for m in cand["mistakes"]] for cand in d["candidates"]]
    return first, every


CONV1 = "  - Conv2d: {out_channels: 6, kernel_size: 5, padding: 2}\n    name: c\n"   # LeNet's first layer


# ------------------------------------------------------------------------------------------ one test per mistake
# Each case: a spec body, an answer made with that mistake (derived by hand), the mistake's id.
CASES = [
    # bias forgotten: 6*(1*5*5) = 150 instead of 6*(1*5*5 + 1) = 156
    ("bias_forgotten", CONV1, "c: {params: 150}", "[1, 28, 28]", 1),
    # bias added: Conv2d(3, 16, 3, bias=False) has 16*3*3*3 = 432; with a bias 16*(27 + 1) = 448
    ("bias_added", "  - Conv2d: {out_channels: 16, kernel_size: 3, bias: false}\n    name: c\n",
     "c: {params: 448}", "[3, 8, 8]", 1),
    # MACs for FLOPs: MACs 6*28*28*25 = 117,600; FLOPs 2*117,600 + 4,704 bias adds = 239,904
    ("macs_for_flops", CONV1, "c: {flops: 117600}", "[1, 28, 28]", 1),
    # FLOPs for MACs: 2*117,600 = 235,200 given for MACs
    ("flops_for_macs", CONV1, "c: {macs: 235200}", "[1, 28, 28]", 1),
    # 2K - 1: K = 25 taps, 6*28*28 = 4,704 outputs, (2*25 - 1)*4,704 = 230,496
    ("two_k_minus_one", CONV1, "c: {flops: 230496}", "[1, 28, 28]", 1),
    # only MACs in FLOPs: conv + ReLU + 2x2 max pool total is 239,904 + 4,704 (ReLU) + 6*14*14*3 (pool
    # comparisons) = 248,136; the conv's MACs alone, 2*117,600 = 235,200.  (Without the pool, 2K - 1 gives
    # the same number: 49*4,704 + 4,704 = 235,200, a true ambiguity.)
    ("only_mac_flops", CONV1 + "  - ReLU\n  - MaxPool2d: 2\n", "total: {flops: 235200}", "[1, 28, 28]", 1),
    # ceil for floor: 10x10, K=5, S=2: floor(5/2) + 1 = 3; ceil(5/2) + 1 = 4
    ("ceil_for_floor", "  - Conv2d: {out_channels: 1, kernel_size: 5, stride: 2}\n    name: c\n",
     "c: {output: [1, 4, 4]}", "[1, 10, 10]", 1),
    # floor for ceil: MaxPool2d(2, 2, ceil_mode=True) on 7x7: ceil(5/2) + 1 = 4; floor gives 3
    ("floor_for_ceil", "  - MaxPool2d: {kernel_size: 2, stride: 2, ceil_mode: true}\n    name: c\n",
     "c: {output: [1, 3, 3]}", "[1, 7, 7]", 1),
    # padding on one side: d2l 8x8, K=3, P=1: 8 + 1 - 3 + 1 = 7 instead of 8 + 2 - 3 + 1 = 8
    ("padding_one_side", "  - Conv2d: {out_channels: 1, kernel_size: 3, padding: 1}\n    name: c\n",
     "c: {output: [1, 7, 7]}", "[1, 8, 8]", 1),
    # d2l's total padding (2) used per side: 8 + 2*2 - 3 + 1 = 10
    ("total_padding_per_side", "  - Conv2d: {out_channels: 1, kernel_size: 3, padding: 1}\n    name: c\n",
     "c: {output: [1, 10, 10]}", "[1, 8, 8]", 1),
    # padding ignored: 8 - 3 + 1 = 6
    ("padding_ignored", "  - Conv2d: {out_channels: 1, kernel_size: 3, padding: 1}\n    name: c\n",
     "c: {output: [1, 6, 6]}", "[1, 8, 8]", 1),
    # dilation ignored: 9x9, K=3, D=2 spans 5: 9 - 5 + 1 = 5; without dilation 9 - 3 + 1 = 7
    ("dilation_ignored", "  - Conv2d: {out_channels: 1, kernel_size: 3, dilation: 2}\n    name: c\n",
     "c: {output: [1, 7, 7]}", "[1, 9, 9]", 1),
    # groups ignored: depthwise 32*(32/32*9 + 1) = 320; as a full conv 32*(32*9 + 1) = 9,248
    ("groups_ignored", "  - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1, groups: 32}\n    name: c\n",
     "c: {params: 9248}", "[32, 8, 8]", 1),
    # batch left out: batch 8, MACs 8*117,600 = 940,800; one sample 117,600
    ("batch_left_out", CONV1, "c: {macs: 117600}", "[1, 28, 28]", 8),
    # batch in the parameter count: 8*156 = 1,248
    ("batch_in_params", CONV1, "c: {params: 1248}", "[1, 28, 28]", 8),
    # elements for bytes: output 6*28*28 = 4,704 elements = 18,816 bytes (float32)
    ("elements_for_bytes", CONV1, "c: {memory: 4704}", "[1, 28, 28]", 1),
    # bytes for elements: 18,816 given for 4,704 activations
    ("bytes_for_elements", CONV1, "c: {activations: 18816}", "[1, 28, 28]", 1),
    # MB vs MiB: 64*112*112*4 = 3,211,264 B = 3.0625 MiB; written as "3.06MB" (3.06e6 B)
    ("mb_vs_mib", "  - Conv2d: {out_channels: 64, kernel_size: 7, stride: 2, padding: 3}\n    name: c\n",
     "c: {memory: 3.06MB}", "[3, 224, 224]", 1),
    # BN statistics as parameters (Keras): 16*27 = 432 conv + 2*16 = 32 BN = 464; Keras adds 2*16 = 496
    ("bn_running_stats", "  - Conv2d: {out_channels: 16, kernel_size: 3, bias: false}\n  - BatchNorm2d\n",
     "total: {params: 496}", "[3, 8, 8]", 1),
    # transposed conv on output positions: 16*14*14*8*4*4 = 401,408 MACs (input positions);
    # on the 28x28 output: 8*28*28*16*4*4 = 1,605,632
    ("tconv_on_output", "  - ConvTranspose2d: {out_channels: 8, kernel_size: 4, stride: 2, padding: 1}\n    name: c\n",
     "c: {macs: 1605632}", "[16, 14, 14]", 1),
    # input / stride: AlexNet conv1, 227/4 = 56.75 -> 56 (floor) or 57 (ceil); right: (227 - 11)/4 + 1 = 55
    ("input_over_stride", "  - Conv2d: {out_channels: 96, kernel_size: 11, stride: 4}\n    name: c\n",
     "c: {output: [96, 56, 56]}", "[3, 227, 227]", 1),
    ("input_over_stride_ceil", "  - Conv2d: {out_channels: 96, kernel_size: 11, stride: 4}\n    name: c\n",
     "c: {output: [96, 57, 57]}", "[3, 227, 227]", 1),
    # receptive field of two stacked 3x3: 3 + 3 - 1 = 5; summed kernels 3 + 3 = 6
    ("rf_kernels_summed", "  - Conv2d: {out_channels: 1, kernel_size: 3}\n  - Conv2d: {out_channels: 1, kernel_size: 3}\n"
     "    name: c\n", "c: {rf: 6}", "[1, 16, 16]", 1),
    # strides ignored: 3x3 stride 2 then 3x3: r = 3 + (3-1)*2 = 7; ignoring the jump 3 + 2 = 5
    ("rf_strides_ignored", "  - Conv2d: {out_channels: 1, kernel_size: 3, stride: 2}\n"
     "  - Conv2d: {out_channels: 1, kernel_size: 3}\n    name: c\n", "c: {rf: 5}", "[1, 16, 16]", 1),
    # a nearest upsampling x2 after a 2x2/2 conv, then a 3x3: (r, j) = (2, 2) -> (2, 2/2 = 1) -> 2 + 2*1 = 4;
    # the jump multiplied, 2*2 = 4: 2 + 2*4 = 10; the jump kept at 2: 2 + 2*2 = 6
    ("rf_fractional_jump_multiplied", "  - Conv2d: {out_channels: 1, kernel_size: 2, stride: 2}\n"
     "  - Upsample: {scale_factor: 2}\n  - Conv2d: {out_channels: 1, kernel_size: 3}\n    name: c\n",
     "c: {rf: 10}", "[1, 16, 16]", 1),
    ("rf_fractional_jump_kept", "  - Conv2d: {out_channels: 1, kernel_size: 2, stride: 2}\n"
     "  - Upsample: {scale_factor: 2}\n  - Conv2d: {out_channels: 1, kernel_size: 3}\n    name: c\n",
     "c: {rf: 6}", "[1, 16, 16]", 1),
    # previous layer's padding carried over: K5 P2 keeps 14; then K5 P0: 14 - 5 + 1 = 10; with P2: 14
    ("previous_padding_carried", "  - Conv2d: {out_channels: 6, kernel_size: 5, padding: 2}\n"
     "  - Conv2d: {out_channels: 16, kernel_size: 5}\n    name: c\n", "c: {output: [16, 14, 14]}", "[1, 14, 14]", 1),
    # transposed conv K4 S2 P1 on 7x7: (7-1)*2 - 2 + 3 + 1 = 14; padding ignored 16; added 18
    ("tconv_padding_ignored", "  - ConvTranspose2d: {out_channels: 4, kernel_size: 4, stride: 2, padding: 1}\n"
     "    name: c\n", "c: {output: [4, 16, 16]}", "[8, 7, 7]", 1),
    ("tconv_padding_added", "  - ConvTranspose2d: {out_channels: 4, kernel_size: 4, stride: 2, padding: 1}\n"
     "    name: c\n", "c: {output: [4, 18, 18]}", "[8, 7, 7]", 1),
    # pooling with parameters: MaxPool2d(2) on 6 channels has 0; a weight per tap and channel 6*2*2 = 24
    ("pooling_params", "  - MaxPool2d: {kernel_size: 2}\n    name: c\n", "c: {params: 24}", "[6, 28, 28]", 1),
    # BN's four values trainable: BatchNorm2d(16) trains 2*16 = 32; all four 4*16 = 64
    ("bn_all_trainable", "  - BatchNorm2d: {}\n    name: c\n", "c: {trainable_params: 64}", "[16, 8, 8]", 1),
]

SHARED = """cnncalc: 1
inputs: {a: [8], b: [8]}
layers:
  - Linear: {out_features: 4}
    name: fc
    from: a
  - share: fc
    name: fc_again
    from: b
  - add:
    from: [fc, fc_again]
"""


@pytest.mark.parametrize("mid,body,answers,inp,batch", CASES, ids=[c[0] for c in CASES])
def test_each_mistake_is_diagnosed(mid, body, answers, inp, batch):
    r = check(body, "answers:\n  " + answers + "\n", inp, batch)
    c = r["checks"][0]
    assert c["verdict"] == "wrong", c
    first, every = mistakes_of(c)
    assert first == [mid], every


def test_shared_weights_counted_twice():
    # Linear(8, 4) has 4*(8 + 1) = 36 parameters; called twice it still has 36; counted twice 72
    r = check_path("s.yaml", text=SHARED, answers_text="answers:\n  total: {params: 72}\n")
    c = rec(r, "total", "params")
    assert c["verdict"] == "wrong" and c["answer"] == 36
    assert mistakes_of(c)[0] == ["shared_twice"]


def test_catalogue_is_covered_by_tests():
    tested = {c[0] for c in CASES} | {"shared_twice"}
    assert tested == {m.id for m in CATALOGUE}


def test_required_mistakes_are_in_the_catalogue():
    ids = {m.id for m in CATALOGUE}
    for need in ("bias_forgotten", "bias_added", "macs_for_flops", "flops_for_macs", "two_k_minus_one",
                 "ceil_for_floor", "padding_one_side", "total_padding_per_side", "dilation_ignored",
                 "groups_ignored", "batch_left_out", "batch_in_params", "elements_for_bytes", "mb_vs_mib",
                 "bn_running_stats", "tconv_on_output", "shared_twice", "input_over_stride"):
        assert need in ids


def test_mib_written_for_mb():
    # 3,211,264 B = 3.21 MB; written as "3.21MiB" = 3.21*2^20 = 3,365,928 B: the 1000^2/1024^2 confusion
    r = check("  - Conv2d: {out_channels: 64, kernel_size: 7, stride: 2, padding: 3}\n    name: c\n",
              "answers:\n  c: {memory: 3.21MiB}\n", "[3, 224, 224]")
    assert mistakes_of(r["checks"][0])[0] == ["mb_vs_mib"]


def test_a_pair_of_mistakes_through_the_network():
    # LeNet without conv1's padding: 28-5+1 = 24 -> pool 12 -> conv2 8 -> pool 4 -> 16*4*4 = 256 features.
    # With every bias forgotten too: 6*25 + 16*6*25 + 120*256 + 84*120 + 10*84
    #                              = 150 + 2,400 + 30,720 + 10,080 + 840 = 44,190   (right: 61,706)
    r = check_path(HW / "lenet.yaml", answers_text="answers:\n  total: {params: 44190}\n")
    c = rec(r, "total", "params")
    assert c["answer"] == 61706
    # Padding on one side only gives the same 256: 28 + 2 - 5 + 1 = 26 -> 13 -> 9 -> floor(7/2) + 1 = 4,
    # so both pairs explain the number, and both are reported.
    first, every = mistakes_of(c)
    assert sorted(map(sorted, every)) == [["bias_forgotten", "padding_ignored"], ["bias_forgotten", "padding_one_side"]]
    assert c["diagnosis"]["candidates"][0]["scope"] == "network"


def test_a_shape_mistake_flows_on_into_later_layers():
    # padding ignored at conv1 only: fc1 sees 256 features (see above): 120*(256 + 1) = 30,840
    r = check_path(HW / "lenet.yaml", answers_text="answers:\n  fc1: {params: 30840}\n")
    c = rec(r, "fc1", "params")
    assert c["answer"] == 48120     # 120*(400 + 1)
    # padding on one side: 26 -> 13 -> 9 -> 4, also 256 features: both are named
    assert sorted(mistakes_of(c)[1]) == [["padding_ignored"], ["padding_one_side"]]


def test_unexplained_answer_says_so():
    r = check(CONV1, "answers:\n  c: {params: 12345}\n")
    d = r["checks"][0]["diagnosis"]
    assert d["status"] == "unexplained" and d["candidates"] == []


def test_correct_answers_are_not_diagnosed():
    r = check(CONV1, "answers:\n  c: {params: 156, output: [6, 28, 28], macs: 117.6K}\n")
    assert [c["verdict"] for c in r["checks"]] == ["correct"] * 3
    assert all(c["diagnosis"] is None for c in r["checks"])


def test_wrong_answer_shows_the_formula_with_values():
    r = check(CONV1, "answers:\n  c: {params: 150}\n")
    c = r["checks"][0]
    assert "6 * (1 / 1 * 5 * 5 + 1) = 156" in " ".join(c["explanation"])
    # the diagnosis shows the same formula with bias = 0
    assert "6 * (1 / 1 * 5 * 5 + 0) = 150" in " ".join(c["diagnosis"]["candidates"][0]["figures"])


# ------------------------------------------------------------------------------------------ answers files
def test_answers_file_unknown_node_and_key_are_errors():
    with pytest.raises(SpecErrors) as e:
        check(CONV1, "answers:\n  cc: {params: 156}\n")
    d = e.value.diagnostics[0]
    assert "no node named `cc`" in d.message and any("`c`" in h for h in d.hints)
    assert d.loc.line == 2
    with pytest.raises(SpecErrors) as e:
        check(CONV1, "answers:\n  c: {param: 156}\n")
    assert "unknown answer key `param`" in e.value.diagnostics[0].message
    with pytest.raises(SpecErrors):
        check(CONV1, "answer:\n  c: {params: 156}\n")


def test_answers_replace_the_spec_expects():
    r = check_path(HW / "lenet.yaml", answers_text="answers:\n  conv1: {params: 156}\n")
    assert r["summary"] == {"answers": 1, "correct": 1, "wrong": 0, "error": 0, "not_checked": 0}
    assert r["spec_expects_ignored"] > 0


def test_group_answer():
    # repeat group of two 3x3 convs 4->4 channels: 2*(4*(4*9 + 1)) = 296
    body = "  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}\n    name: blk\n    repeat: 2\n"
    r = check(body, "answers:\n  blk: {params: 296, output: [4, 8, 8]}\n", "[4, 8, 8]")
    assert [c["verdict"] for c in r["checks"]] == ["correct", "correct"]
    r = check(body, "answers:\n  blk: {params: 288}\n", "[4, 8, 8]")    # 2*4*4*9: biases forgotten
    assert mistakes_of(r["checks"][0])[0] == ["bias_forgotten"]


# ------------------------------------------------------------------------------------------ the worked examples
def run(*args):
    res = runner.invoke(app, [str(a) for a in args])
    return res.exit_code, res.stdout


def test_example_lenet_answers():
    code, out = run("check", HW / "lenet.yaml", "--answers", HW / "lenet-answers.yaml")
    assert code == 1
    lines = out.splitlines()
    # conv1: 6*(1*5*5 + 1) = 156 parameters; the student forgot the bias: 6*25 = 150
    assert any(l.startswith("WRONG    conv1 params: you wrote 150, the answer is 156") for l in lines)
    assert "diagnosis: bias forgotten: that gives 150" in out
    # pool1: floor((28 - 2)/2) + 1 = 14: correct
    assert "correct  pool1 output = [6, 14, 14]" in out
    # conv2 output: no padding, 14 - 5 + 1 = 10; the student kept 14 as if padded: input / stride = 14
    assert "WRONG    conv2 output: you wrote [16, 14, 14], the answer is [16, 10, 10]" in out
    # fc1: 120*(16*5*5 + 1) = 48,120: correct
    assert "correct  fc1 params = 48,120" in out
    # conv1 FLOPs: MACs 117,600 given for FLOPs 2*117,600 + 4,704 = 239,904
    assert "WRONG    conv1 flops: you wrote 117,600, the answer is 239,904" in out
    assert "diagnosis: MACs given where FLOPs were asked" in out


def test_example_lenet_spec_expects_all_pass():
    code, out = run("check", HW / "lenet.yaml")
    assert code == 0
    assert "13 answers, 13 correct, 0 wrong" in out


def test_example_d2l_padding_stride():
    # d2l 7.3: 8x8, 3x3 kernel, padding 1 -> 8 - 3 + 2 + 1 = 8; kernel (5, 3), padding (2, 1) -> 8x8;
    # 3x3, padding 1, stride 2 -> floor((8 - 3 + 2 + 2)/2) = 4; kernel (3, 5), padding (0, 1), stride (3, 4):
    # floor((8 - 3 + 0 + 3)/3) = 2, floor((8 - 5 + 2 + 4)/4) = 2 -> 2x2
    code, out = run("check", HW / "d2l-padding-stride.yaml")
    assert code == 0, out
    for name, shape in (("same", "[1, 8, 8]"), ("rect", "[1, 8, 8]"), ("half", "[1, 4, 4]"), ("odd", "[1, 2, 2]")):
        assert f"correct  {name} output = {shape}" in out
    code, out = run("check", HW / "d2l-padding-stride.yaml", "--answers", HW / "d2l-padding-stride-answers.yaml")
    assert code == 1
    # the student put d2l's total padding p_h = 2 in as per side: 8 + 2*2 - 3 + 1 = 10
    assert "WRONG    same output: you wrote [1, 10, 10], the answer is [1, 8, 8]" in out
    assert "diagnosis: total padding used as per-side padding" in out
    # stride (3, 4) with padding on one side only: floor((8 + 0 - 3)/3) + 1 = 2, floor((8 + 1 - 5)/4) + 1 = 2:
    # the same answer, so it is right; ceil for floor: ceil(5/3) + 1 = 3, ceil(5/4) + 1 = 3 -> wrong
    assert "WRONG    odd output: you wrote [1, 3, 3], the answer is [1, 2, 2]" in out
    assert "diagnosis: ceil instead of floor: that gives [1, 3, 3]" in out


def test_example_conv_layer_cost():
    code, out = run("check", HW / "conv-layer-cost.yaml")
    assert code == 0, out
    code, out = run("check", HW / "conv-layer-cost.yaml", "--answers", HW / "conv-layer-cost-answers.yaml",
                    "--format", "json")
    rep = json.loads(out)
    by = {(c["node"], c["key"]): c for c in rep["checks"]}
    # conv2 (64 -> 128, 3x3, 56x56): MACs 128*56*56*64*9 = 231,211,008; FLOPs 2*MACs + 128*56*56 = 462,823,424;
    assert by[("conv2", "flops")]["answer"] == 2 * 231211008 + 128 * 56 * 56
    # the student counted (2K - 1) per output, K = 64*9 = 576: 1151 * 401,408 = 462,020,608
    assert by[("conv2", "flops")]["given"] == 1151 * 401408
    assert by[("conv2", "flops")]["diagnosis"]["candidates"][0]["mistakes"][0]["id"] == "two_k_minus_one"
    # backward inside the network: grad input + grad weight (2 x 2*MACs) + grad bias: 924,844,032 + 401,408
    assert by[("conv2", "bwd_flops")]["answer"] == 4 * 231211008 + 401408
    assert by[("conv2", "bwd_flops")]["verdict"] == "correct"
    # memory: output 128*56*56*4 = 1,605,632 bytes; the student gave elements, 401,408
    assert by[("conv2", "memory")]["diagnosis"]["candidates"][0]["mistakes"][0]["id"] == "elements_for_bytes"
    # saved for backward: conv2 keeps its input, 64*56*56*4 = 802,816 bytes
    assert by[("conv2", "saved")]["verdict"] == "correct"
    assert rep["summary"]["wrong"] == 2 and code == 1


def test_example_pooling_cost():
    code, out = run("check", HW / "pooling-cost.yaml")
    assert code == 0, out
    # max pool 3x3/2 pad 1 on 112: floor((112 + 2 - 3)/2) + 1 = 56; 64*56*56*(9 - 1) = 1,605,632 comparisons
    assert "correct  maxpool flops = 1,605,632" in out
    assert "correct  maxpool params = 0" in out
    # average pool 2x2/2 on 56: 28; 64*28*28*4 = 200,704 operations (3 adds + 1 divide per output)
    assert "correct  avgpool flops = 200,704" in out


def test_example_stacked_3x3():
    code, out = run("check", HW / "stacked-3x3.yaml")
    assert code == 0, out
    # two 3x3: 3 + 3 - 1 = 5, same as one 5x5; params 2*64*64*9 = 73,728 vs 64*64*25 = 102,400 (no bias)
    assert "correct  pair.second rf = 5" in out and "correct  five rf = 5" in out
    assert "correct  pair params = 73,728" in out and "correct  five params = 102,400" in out
    code, out = run("check", HW / "stacked-3x3.yaml", "--answers", HW / "stacked-3x3-answers.yaml")
    assert code == 1
    assert "WRONG    pair.second rf: you wrote 6, the answer is 5" in out
    assert "diagnosis: receptive field as the sum of kernel sizes" in out


def test_example_upsample_rf():
    code, out = run("check", HW / "upsample-rf.yaml")
    assert code == 0, out
    # ConvTranspose K=2 S=2 after a 4x4/4 conv: r = 4 + (3/2 - 1)*4 = 6, j = 4/2 = 2; a 3x3 conv: 6 + 2*2 = 10
    assert "correct  up rf_stride = 2" in out and "correct  dec rf = 10" in out and "correct  head rf = 12" in out
    code, out = run("check", HW / "upsample-rf.yaml", "--answers", HW / "upsample-rf-answers.yaml")
    assert code == 1
    assert "WRONG    up rf_stride: you wrote 8, the answer is 2" in out
    assert "j_out = j_in/S = 4 / 2 = 2" in out
    assert "diagnosis: jump multiplied by the upsampling factor instead of divided" in out
    # the jump kept at 4 through both upsamplings: 6 + 2*4 = 14 at dec, 14 + 2*4 = 22 at head
    assert "diagnosis: jump left unchanged by an upsampling" in out


def test_example_conv1x1():
    code, out = run("check", HW / "conv1x1.yaml")
    assert code == 0, out
    # Inception cost example: 5x5 conv 192 -> 32 on 28x28: 28*28*32*192*25 = 120,422,400 MACs;
    # 1x1 to 16 first: 28*28*16*192 = 2,408,448 + 28*28*32*16*25 = 10,035,200 -> 12,443,648
    assert "correct  direct macs = 120,422,400" in out
    assert "correct  bottleneck macs = 12,443,648" in out


def test_example_alexnet_conv1():
    code, out = run("check", HW / "alexnet-conv1.yaml")
    assert code == 0, out
    # CS231n: (227 - 11)/4 + 1 = 55; 55*55*96 = 290,400 neurons; 96*(11*11*3 + 1) = 34,944 parameters
    assert "correct  conv1 output = [96, 55, 55]" in out
    assert "correct  conv1 params = 34,944" in out
    assert "correct  conv1 activations = 290,400" in out
    code, out = run("check", HW / "alexnet-conv1.yaml", "--answers", HW / "alexnet-conv1-answers.yaml")
    assert code == 1
    assert "diagnosis: output size computed as input / stride: that gives [96, 56, 56]" in out
    # 96*11*11*3 = 34,848: bias forgotten
    assert "diagnosis: bias forgotten: that gives 34,848" in out


# ------------------------------------------------------------------------------------------ CLI behaviour
def test_hide_answers_text_and_json():
    code, out = run("check", HW / "lenet.yaml", "--answers", HW / "lenet-answers.yaml", "--hide-answers")
    assert code == 1
    assert "WRONG    conv1 params" in out and "156" not in out and "diagnosis" not in out
    code, out = run("check", HW / "lenet.yaml", "--answers", HW / "lenet-answers.yaml", "--hide-answers",
                    "--format", "json")
    rep = json.loads(out)
    assert all(set(c) >= {"node", "key", "verdict"} and "answer" not in c and "diagnosis" not in c
               for c in rep["checks"])


def test_json_format_has_every_check():
    code, out = run("check", HW / "lenet.yaml", "--answers", HW / "lenet-answers.yaml", "--format", "json")
    rep = json.loads(out)
    assert code == 1
    assert rep["summary"]["answers"] == len(rep["checks"])
    for c in rep["checks"]:
        assert c["verdict"] in ("correct", "wrong")
        if c["verdict"] == "wrong":
            assert c["diagnosis"]["status"] in ("explained", "unexplained", "unavailable")


def test_invalid_spec_and_answers_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cnncalc: 1\ninput: [1, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 2, kernel_size: 30}\n")
    res = runner.invoke(app, ["check", str(bad)])
    assert res.exit_code == 2
    ans = tmp_path / "a.yaml"
    ans.write_text("answers:\n  nosuch: {params: 1}\n")
    res = runner.invoke(app, ["check", str(HW / "lenet.yaml"), "--answers", str(ans)])
    assert res.exit_code == 2 and "no node named `nosuch`" in res.output
    res = runner.invoke(app, ["check", str(HW / "lenet.yaml"), "--answers", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2


def test_check_and_layer_do_not_import_torch():
    code = ("import sys\nfrom cnncalc.cli.main import app\n"
            "try:\n    app(['check', sys.argv[1], '--answers', sys.argv[2]])\nexcept SystemExit:\n    pass\n"
            "try:\n    app(['layer', 'Conv2d(3, 8, 3)', '--input', '3x8x8'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\nprint('ok')\n")
    res = subprocess.run([sys.executable, "-c", code, str(HW / "lenet.yaml"), str(HW / "lenet-answers.yaml")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr


# ------------------------------------------------------------------------------------------ cnncalc layer
def sections(rep):
    return {s["key"]: s for s in rep["sections"]}


def test_layer_resnet_stem():
    s = sections(layer_report("Conv2d(3, 64, kernel_size=7, stride=2, padding=3)", (3, 224, 224)))
    # floor((224 + 6 - 7)/2) + 1 = 112
    assert s["output"]["value"] == [64, 112, 112]
    assert "floor((224 + 2 * 3 - 1 * (7 - 1) - 1) / 2) + 1 = 112" in " ".join(s["output"]["lines"])
    assert s["params"]["value"] == 64 * (3 * 7 * 7 + 1) == 9472
    assert s["macs"]["value"] == 64 * 112 * 112 * 3 * 49 == 118013952
    assert s["flops"]["value"] == 2 * 118013952 + 64 * 112 * 112
    assert s["memory"]["value"] == 64 * 112 * 112 * 4
    assert s["saved"]["value"] == 3 * 224 * 224 * 4          # the input, kept for grad_weight
    assert s["rf"]["value"] == [7, 7]
    # backward inside a network: grad input + grad weight = 2 x 2*MACs, + grad bias adds
    assert s["bwd_flops"]["value"] == 4 * 118013952 + 64 * 112 * 112


def test_layer_pool_and_transposed_and_batch():
    s = sections(layer_report("MaxPool2d(3, 2, 1)", (64, 112, 112)))
    assert s["output"]["value"] == [64, 56, 56] and s["params"]["value"] == 0
    assert s["flops"]["value"] == 64 * 56 * 56 * 8           # 8 comparisons per 3x3 window
    s = sections(layer_report("ConvTranspose2d(16, 8, 4, stride=2, padding=1)", (16, 14, 14), batch=2))
    # (14 - 1)*2 - 2 + 3 + 1 = 28; params 16*8*16 + 8 = 2,056; MACs on input positions 2*16*14*14*8*16
    assert s["output"]["value"] == [8, 28, 28]
    assert s["params"]["value"] == 2056
    assert s["macs"]["value"] == 2 * 16 * 14 * 14 * 8 * 16
    assert s["memory"]["value"] == 2 * 8 * 28 * 28 * 4


@pytest.mark.parametrize("call,shape,out", [
    ("AvgPool2d(2)", (6, 28, 28), [6, 14, 14]),
    ("AdaptiveAvgPool2d(1)", (512, 7, 7), [512, 1, 1]),
    ("Linear(400, 120)", (400,), [120]),
    ("BatchNorm2d(64)", (64, 56, 56), [64, 56, 56]),
    ("ReLU()", (64, 56, 56), [64, 56, 56]),
    ("Conv1d(16, 32, 3, padding=1)", (16, 100), [32, 100]),
    ("Conv3d(3, 8, 3)", (3, 16, 16, 16), [8, 14, 14, 14]),
    ("MaxPool2d(2, ceil_mode=True)", (1, 7, 7), [1, 4, 4]),
])
def test_layer_every_kind(call, shape, out):
    s = sections(layer_report(call, shape))
    assert s["output"]["value"] == out
    assert all(sec["lines"] for sec in s.values())


def test_layer_cli():
    code, out = run("layer", "Conv2d(3, 64, kernel_size=7, stride=2, padding=3)", "--input", "3x224x224")
    assert code == 0
    assert "params = C_out*(C_in/G*K_h*K_w + bias) = 64 * (3 / 1 * 7 * 7 + 1) = 9,472" in out
    assert "MACs = N*C_out*H_out*W_out*(C_in/G)*K_h*K_w = 1 * 64 * 112 * 112 * (3 / 1) * 7 * 7 = 118,013,952" in out
    code, out = run("layer", "Conv2d(3, 64, 3)", "--input", "3x32x32", "--batch", "4", "--format", "json")
    rep = json.loads(out)
    assert sections(rep)["memory"]["value"] == 4 * 64 * 30 * 30 * 4
    res = runner.invoke(app, ["layer", "Conv2d(4, 64, 3)", "--input", "3x32x32"])
    assert res.exit_code == 2 and "in_channels=4" in res.output
    res = runner.invoke(app, ["layer", "Conv2d(3, 64, 3)", "--input", "3xx"])
    assert res.exit_code == 2


# ------------------------------------------------------------------------------------------ the recomputation
RESNETISH = """cnncalc: 1
input: [3, 32, 32]
blocks:
  Basic:
    params: {planes: required, stride: 1}
    layers:
      - Conv2d: {out_channels: $planes, kernel_size: 3, stride: $stride, padding: 1, bias: false}
      - BatchNorm2d
      - ReLU
      - Conv2d: {out_channels: $planes, kernel_size: 3, padding: 1, bias: false}
        name: c2
      - BatchNorm2d
      - add:
        from: [c2, input]
        when: ${stride == 1}
layers:
  - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1, groups: 1, dilation: 1}
  - Basic: {planes: 16}
    name: layer1
    repeat: 2
  - MaxPool2d: {kernel_size: 3, stride: 2, padding: 1, ceil_mode: true}
  - ConvTranspose2d: {out_channels: 8, kernel_size: 2, stride: 2}
  - AdaptiveAvgPool2d: 1
  - Flatten
  - Linear: {out_features: 10}
"""


@pytest.mark.parametrize("name", ["resnetish", "lenet.yaml", "conv1x1.yaml", "stacked-3x3.yaml"])
def test_recompute_without_mistakes_reproduces_the_analysis(name):
    """The diagnosis engine rebuilds every kind from its arguments: with no mistake it must give the
    analysis' own per-layer numbers (else a diagnosis could come from a number we cannot vouch for)."""
    from cnncalc.api import analysis_for
    from cnncalc.homework.recompute import Recomputed
    a = analysis_for("r.yaml", text=RESNETISH) if name == "resnetish" else analysis_for(HW / name)
    assert not a.has_errors and len(a.g.nodes) > 3
    rc = Recomputed(a, (), None)
    for n in a.g.nodes:
        if n.is_input:
            continue
        v, L = rc.vals[n.id], a.layer[n.id]
        assert v is not None, n.name
        assert (v["params"], v["macs"], v["flops"], v["bwd_flops"]) == \
            (L["module_params"], L["macs"], L["flops"], L["bwd_flops"]), n.name
        assert v["output"] == list(n.out_shapes[0])
    t = a.totals()
    agg = rc.aggregate(list(range(len(a.g.nodes))), a.g.outputs[0])
    assert (agg["params"], agg["macs"], agg["flops"]) == (t["params"], t["macs"], t["flops"])
