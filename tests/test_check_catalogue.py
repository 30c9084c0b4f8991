"""The checker's sharper catalogue (issue 16): each new or sharpened mistake is tested on an answer
it must diagnose and on one it must not.  Every wrong number is derived by hand in a comment."""
from __future__ import annotations

from pathlib import Path

import pytest

from cnncalc.homework import check_path

ROOT = Path(__file__).resolve().parents[1]
HW = ROOT / "tests" / "homework"
LENET = ROOT / "examples" / "homework" / "lenet.yaml"


def spec(body: str, inp: str) -> str:
    return f"cnncalc: 1\nname: t\ninput: {inp}\nlayers:\n{body}"


def diagnosis(report, node, key):
    for c in report["checks"]:
        if c["node"] == node and c["key"] == key:
            assert c["verdict"] == "wrong", c
            return c["diagnosis"]
    raise AssertionError(f"no check {node}.{key}")


def ids(d):
    """Every mistake id named by a diagnosis (all candidates)."""
    return {m["id"] for cand in d.get("candidates", []) for m in cand["mistakes"]}


def one(body, inp, answers, node, key):
    r = check_path("t.yaml", text=spec(body, inp), answers_text=answers)
    return diagnosis(r, node, key)


# --------------------------------------------------------------------- transposed convolution padding
# ConvTranspose2d(8, 4, kernel 4, stride 2, padding 1) on 7x7 (tests/homework/tconv.yaml):
#   right:            (7 - 1)*2 - 2*1 + 1*(4 - 1) + 0 + 1 = 14
#   padding ignored:  (7 - 1)*2 - 0   + 3 + 1             = 16
#   padding added:    (7 - 1)*2 + 2*1 + 3 + 1             = 18
def test_tconv_padding_ignored_is_diagnosed():
    r = check_path(HW / "tconv.yaml", answers_path=HW / "tconv-ignored.yaml")
    d = diagnosis(r, "up", "output")
    assert d["status"] == "explained"
    assert [m["id"] for m in d["candidates"][0]["mistakes"]] == ["tconv_padding_ignored"]
    assert d["candidates"][0]["value"] == [4, 16, 16]


def test_tconv_padding_added_is_diagnosed_and_not_taken_for_ignored():
    r = check_path(HW / "tconv.yaml", answers_path=HW / "tconv-added.yaml")
    d = diagnosis(r, "up", "output")
    assert d["status"] == "explained"
    assert ids(d) == {"tconv_padding_added"}
    assert any("+ 2 * 1" in f for f in d["candidates"][0]["figures"])


def test_tconv_padding_mistakes_not_named_for_a_plain_convolution():
    # Conv2d(1, 1, 3, padding=1) on 8x8 gives 8; padding ignored: 8 - 3 + 1 = 6 (a convolution's mistake)
    d = one("  - Conv2d: {out_channels: 1, kernel_size: 3, padding: 1}\n    name: c\n", "[1, 8, 8]",
            "answers:\n  c: {output: [1, 6, 6]}\n", "c", "output")
    assert "padding_ignored" in ids(d)
    assert not ids(d) & {"tconv_padding_ignored", "tconv_padding_added"}


# --------------------------------------------------------------------- LeNet conv2: previous padding carried over
def test_lenet_conv2_previous_padding_not_input_over_stride():
    # conv2 is Conv2d(6, 16, 5) on 14x14 (after pool1): 14 - 5 + 1 = 10.  [16, 14, 14] is conv1's
    # padding 2 carried over: 14 + 2*2 - 5 + 1 = 14.  Its stride is 1, so "input / stride" (14 / 1)
    # must not be named.
    r = check_path(LENET, answers_text="answers:\n  conv2: {output: [16, 14, 14]}\n")
    d = diagnosis(r, "conv2", "output")
    assert d["status"] == "explained"
    assert ids(d) == {"previous_padding_carried"}
    assert not ids(d) & {"input_over_stride", "input_over_stride_ceil"}


def test_previous_padding_not_named_when_padding_is_the_same_or_first_layer():
    # conv1 (padding 2) has no earlier layer: [6, 32, 32] is 28 + 2*2*2 - 5 + 1 = 32, the total
    # padding used per side, not a carried-over padding
    r = check_path(LENET, answers_text="answers:\n  conv1: {output: [6, 32, 32]}\n")
    d = diagnosis(r, "conv1", "output")
    assert "previous_padding_carried" not in ids(d)
    assert "total_padding_per_side" in ids(d)


def test_input_over_stride_still_named_for_a_real_stride():
    # AlexNet conv1 (CS231n): 227x227, K11 S4 -> 55; 227 / 4 = 56.75, floored 56
    d = one("  - Conv2d: {out_channels: 96, kernel_size: 11, stride: 4}\n    name: c\n", "[3, 227, 227]",
            "answers:\n  c: {output: [96, 56, 56]}\n", "c", "output")
    assert "input_over_stride" in ids(d)


# --------------------------------------------------------------------- receptive field with dilation: k_eff
def test_rf_line_uses_k_eff_for_a_dilated_kernel():
    # 3x3 then 3x3 dilation 2 on 9x9: k_eff = 2*(3 - 1) + 1 = 5; r = 3 + (5 - 1)*1 = 7
    body = ("  - Conv2d: {out_channels: 1, kernel_size: 3}\n    name: a\n"
            "  - Conv2d: {out_channels: 1, kernel_size: 3, dilation: 2}\n    name: c\n")
    r = check_path("t.yaml", text=spec(body, "[1, 9, 9]"), answers_text="answers:\n  c: {rf: 6}\n")
    c = next(c for c in r["checks"] if c["node"] == "c")
    lines = c["explanation"]
    assert "H: k_eff = D*(K-1) + 1 = 2 * (3 - 1) + 1 = 5" in lines
    assert "H: r_out = r_in + (k_eff - 1)*j_in = 3 + (5 - 1) * 1 = 7" in lines
    assert not any("(K - 1)*j_in" in ln for ln in lines)


# --------------------------------------------------------------------- dilation ignored in the output size
DIL = "  - Conv2d: {out_channels: 1, kernel_size: 3, dilation: 2}\n    name: c\n"


def test_dilation_ignored_diagnosed():
    # 9x9, K3 D2: 9 - 2*(3 - 1) - 1 + 1 = 5; dilation ignored: 9 - 3 + 1 = 7
    d = one(DIL, "[1, 9, 9]", "answers:\n  c: {output: [1, 7, 7]}\n", "c", "output")
    assert "dilation_ignored" in ids(d)


def test_dilation_ignored_not_named_without_dilation():
    # 9x9, K3, no dilation: 7; padding one side is not possible (P = 0); 8 is nobody's mistake
    d = one("  - Conv2d: {out_channels: 1, kernel_size: 3}\n    name: c\n", "[1, 9, 9]",
            "answers:\n  c: {output: [1, 8, 8]}\n", "c", "output")
    assert "dilation_ignored" not in ids(d)


# --------------------------------------------------------------------- groups ignored in params and MACs
DW = "  - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1, groups: 32}\n    name: c\n"


def test_groups_ignored_in_params_and_macs():
    # depthwise 32 ch, 3x3: 32*(1*9 + 1) = 320; groups ignored: 32*(32*9 + 1) = 9,248
    d = one(DW, "[32, 8, 8]", "answers:\n  c: {params: 9248}\n", "c", "params")
    assert "groups_ignored" in ids(d)
    # MACs on 8x8 (padding 1 keeps 8x8): 32*8*8*1*9 = 18,432; groups ignored: 32*8*8*32*9 = 589,824
    d = one(DW, "[32, 8, 8]", "answers:\n  c: {macs: 589824}\n", "c", "macs")
    assert "groups_ignored" in ids(d)


def test_groups_ignored_not_named_for_an_ungrouped_convolution():
    # Conv2d(3, 16, 3): 16*(3*9 + 1) = 448; 432 is the bias forgotten, not groups
    d = one("  - Conv2d: {out_channels: 16, kernel_size: 3}\n    name: c\n", "[3, 8, 8]",
            "answers:\n  c: {params: 432}\n", "c", "params")
    assert "groups_ignored" not in ids(d)
    assert "bias_forgotten" in ids(d)


# --------------------------------------------------------------------- pooling counted as having parameters
POOL = "  - MaxPool2d: {kernel_size: 2}\n    name: p\n"


def test_pooling_params_diagnosed():
    # MaxPool2d(2) has 0 parameters; one weight per tap and channel: 6*2*2 = 24
    d = one(POOL, "[6, 28, 28]", "answers:\n  p: {params: 24}\n", "p", "params")
    assert ids(d) == {"pooling_params"}


def test_pooling_params_not_named_for_another_number():
    # 30 = 6*(2*2 + 1) is not what the catalogue's pooling mistake gives (24)
    d = one(POOL, "[6, 28, 28]", "answers:\n  p: {params: 30}\n", "p", "params")
    assert "pooling_params" not in ids(d)


# --------------------------------------------------------------------- BatchNorm's four per-channel values
BN = "  - BatchNorm2d: {}\n    name: bn\n"


def test_bn_all_four_counted_trainable():
    # BatchNorm2d(16): weight and bias trainable, 2*16 = 32; all four values: 4*16 = 64
    d = one(BN, "[16, 8, 8]", "answers:\n  bn: {trainable_params: 64}\n", "bn", "trainable_params")
    assert ids(d) == {"bn_all_trainable"}


def test_bn_all_trainable_not_named_for_params():
    # params = 64 is Keras's count (4*C, 2*C of them non-trainable): that is bn_running_stats
    d = one(BN, "[16, 8, 8]", "answers:\n  bn: {params: 64}\n", "bn", "params")
    assert ids(d) == {"bn_running_stats"}


# --------------------------------------------------------------------- receptive field after upsampling
# examples/homework/upsample-rf.yaml, per axis (r, j): enc Conv 4x4/4 -> (4, 4); up ConvTranspose K=2 S=2:
#   k_eff = (2-1)/2 + 1 = 3/2, r = 4 + (3/2 - 1)*4 = 6, j = 4/2 = 2; dec Conv3 p1: r = 6 + 2*2 = 10, j = 2;
#   near Upsample x2 nearest: k_eff = 1, r = 10, j = 2/2 = 1; head Conv3 p1: r = 10 + 2*1 = 12.
# jump multiplied: up j = 4*2 = 8, dec r = 6 + 2*8 = 22; near j = 8*2 = 16; head r = 22 + 2*16 = 54
# jump kept:       up j = 4,       dec r = 6 + 2*4 = 14; near j = 4;      head r = 14 + 2*4 = 22
UP = ROOT / "examples" / "homework" / "upsample-rf.yaml"


@pytest.mark.parametrize("node,key,value,mistake", [
    ("up", "rf_stride", 8, "rf_fractional_jump_multiplied"),
    ("dec", "rf", 22, "rf_fractional_jump_multiplied"),
    ("head", "rf", 54, "rf_fractional_jump_multiplied"),
    ("near", "rf_stride", 16, "rf_fractional_jump_multiplied"),
    ("up", "rf_stride", 4, "rf_fractional_jump_kept"),
    ("dec", "rf", 14, "rf_fractional_jump_kept"),
    ("head", "rf", 22, "rf_fractional_jump_kept"),
])
def test_fractional_jump_mistakes_diagnosed(node, key, value, mistake):
    r = check_path(UP, answers_text=f"answers:\n  {node}: {{{key}: {value}}}\n")
    d = diagnosis(r, node, key)
    assert d["status"] == "explained"
    if (node, value) == ("up", 4):
        # at the upsampling itself, keeping the jump is ignoring its stride: both name the answer
        assert mistake in ids(d) and "rf_strides_ignored" in ids(d)
    else:
        assert [m["id"] for m in d["candidates"][0]["mistakes"]] == [mistake]


def test_fractional_jump_mistakes_not_named_without_upsampling():
    # two 3x3 convs at stride 2 then 1 on 16x16: r = 3 + 2*2 = 7, j = 2; an answer of 9 is no fractional-jump
    # mistake (there is no fractional stride to get wrong): neither is named
    d = one("  - Conv2d: {out_channels: 1, kernel_size: 3, stride: 2}\n"
            "  - Conv2d: {out_channels: 1, kernel_size: 3}\n    name: c\n", "[1, 16, 16]",
            "answers:\n  c: {rf: 9}\n", "c", "rf")
    assert not ids(d) & {"rf_fractional_jump_multiplied", "rf_fractional_jump_kept"}
