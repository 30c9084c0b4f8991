"""Receptive fields: published values (Araujo, Norris & Sim, Distill 2019), hand derivations, and an
independent measurement from input gradients of real torch models.

Definitions (docs/receptive-field.md): per spatial axis, r = size of a unit's field, j = effective
stride, p = effective padding (unit 0's field starts at -p); a layer with effective kernel
k = D*(K-1) + 1, stride s and left padding P maps r += (k-1)*j, p += P*j, j *= s.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from conftest import EXAMPLES, analyse_text
from cnncalc.api import analysis_for

SPECS = Path(__file__).parent / "specs"


def rf_of(a, name):
    for L in a.report()["layers"]:
        if L["name"] == name:
            return L["rf"]
    raise KeyError(name)


def state_of(a, name, src="input"):
    n = [n for n in a.g.nodes if n.name == name][0]
    return a.rf_state[(n.id, 0)][src]


def codes(a):
    return [d.code for d in a.diagnostics]


# ------------------------------------------------------------------ published (Distill 2019, table)
def test_vgg16_tfslim_pool5_published():
    a = analysis_for(SPECS / "vgg16_tfslim.yaml")
    rf = rf_of(a, "conv5.pool")           # TF-Slim endpoint vgg_16/pool5
    # Araujo et al.: vgg_16 pool5: r = 212, effective stride 32, effective padding 90
    assert rf["size"] == [212, 212] and rf["stride"] == [32, 32] and rf["padding"] == [90, 90]
    assert all(r["verdict"] == "pass" for r in a.expect_results), a.expect_results
    # design review: 212 < 224: no pool5 unit sees the whole image
    d = [x for x in a.diagnostics if x.code == "rf-smaller-than-input"]
    assert not d   # the final field is fc8's (fc6 is a 7x7 conv): 212 + 6*32 = 404 < 4*224


def test_alexnet_v2_pool5_published():
    a = analysis_for(SPECS / "alexnet_v2.yaml")
    rf = rf_of(a, "pool5")                # TF-Slim endpoint alexnet_v2/pool5
    # Araujo et al.: alexnet_v2 pool5: r = 195, effective stride 32, effective padding 64
    assert rf["size"] == [195, 195] and rf["stride"] == [32, 32] and rf["padding"] == [64, 64]
    # by hand: conv1 r=11 j=4; pool1 r=11+2*4=19 j=8; conv2 (5x5, P=2) r=19+4*8=51 p=2*8=16;
    # pool2 r=51+2*8=67 j=16; conv3..5 (3x3, P=1) r=67+3*2*16=163 p=16+3*16=64; pool5 r=163+2*16=195
    assert rf_of(a, "conv2")["size"] == [51, 51] and rf_of(a, "conv2")["padding"] == [16, 16]
    assert rf_of(a, "conv5")["size"] == [163, 163]
    assert all(r["verdict"] == "pass" for r in a.expect_results), a.expect_results


def test_resnet18_final_field():
    # torchvision resnet18, layer4 output: 435 (a commonly quoted value; derivation: conv1 7, maxpool 11,
    # layer1 +4*2*4=43, layer2 43+2*4+3*2*8=99, layer3 99+2*8+3*2*16=211, layer4 211+2*16+3*2*32=435)
    a = analysis_for(EXAMPLES / "resnet18.yaml")
    rf = rf_of(a, "layer4.1.7")
    assert rf["size"] == [435, 435] and rf["stride"] == [32, 32]
    assert rf["center"] == [0, 0]          # symmetric padding everywhere: unit 0 is centred on pixel 0
    assert rf_of(a, "fc")["global"] is True and rf_of(a, "fc")["size"] == [224, 224]
    assert "rf-not-aligned" not in codes(a)


# ------------------------------------------------------------------ hand-derived
def spec(layers, inp="[3, 32, 32]"):
    return f"cnncalc: 1\ninput: {inp}\nlayers:\n{layers}"


def test_two_stacked_3x3_convs():
    a = analyse_text(spec("""
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
"""))
    # r = 1 + 2*1 + 2*1 = 5, j = 1, p = 1 + 1 = 2
    assert rf_of(a, "1") == dict(rf_of(a, "1"), size=[5, 5], stride=[1, 1], padding=[2, 2])


def test_dilated_and_non_square_conv():
    a = analyse_text(spec("""
  - Conv2d: {out_channels: 4, kernel_size: [3, 5], dilation: [2, 3], padding: [2, 6]}
  - Conv2d: {out_channels: 4, kernel_size: 3, dilation: 4, stride: 2}
"""))
    # k_eff = D*(K-1) + 1: H 2*2+1 = 5, W 3*4+1 = 13
    assert rf_of(a, "0")["size"] == [5, 13] and rf_of(a, "0")["padding"] == [2, 6]
    # then D=4, K=3: k_eff 9: r = 5+8 = 13, 13+8 = 21; j = 2; p unchanged (P = 0)
    assert rf_of(a, "1")["size"] == [13, 21] and rf_of(a, "1")["stride"] == [2, 2]


def test_ceil_mode_changes_shape_not_field():
    base = "  - Conv2d: {out_channels: 4, kernel_size: 3}\n  - MaxPool2d: {kernel_size: 3, stride: 2, ceil_mode: %s}\n"
    a = analyse_text(spec(base % "false", "[3, 10, 10]"))
    b = analyse_text(spec(base % "true", "[3, 10, 10]"))
    # 8x8 map: floor((8-3)/2)+1 = 3, ceil((8-3)/2)+1 = 4
    assert a.g.nodes[-1].out_shapes[0][1:] == (3, 3) and b.g.nodes[-1].out_shapes[0][1:] == (4, 4)
    # r = 3 + 2*1 = 5, j = 2, p = 0 in both
    assert rf_of(a, "1") == rf_of(b, "1")
    assert rf_of(a, "1")["size"] == [5, 5] and rf_of(a, "1")["stride"] == [2, 2] and rf_of(a, "1")["padding"] == [0, 0]


def test_resnet_basic_block_union_aligned():
    a = analyse_text(spec("""
  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
    name: c1
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
    name: c2
  - Conv2d: {out_channels: 8, kernel_size: 1, stride: 2}
    name: short
    from: input
  - add:
    from: [c2, short]
    name: out
"""))
    # main: c1 r=3 j=2 p=1; c2 r=3+2*2=7 p=1+1*2=3, centre (7-1)/2-3 = 0
    # shortcut: r=1 j=2 p=0, centre 0 -> aligned; union = main path
    assert rf_of(a, "c2")["size"] == [7, 7] and rf_of(a, "short")["size"] == [1, 1]
    assert rf_of(a, "out")["size"] == [7, 7] and rf_of(a, "out")["padding"] == [3, 3]
    assert "rf-not-aligned" not in codes(a)


def test_not_aligned_merge_diagnostic():
    a = analyse_text(spec("""
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
    name: a
  - ZeroPad2d: {padding: [0, 2, 0, 2]}
    from: input
    name: pad
  - Conv2d: {out_channels: 4, kernel_size: 3}
    name: b
  - add:
    from: [a, b]
    name: m
"""))
    # a: field of unit 0 = [-1, 1], centre 0; b: pad left 0, [0, 2], centre 1: not aligned
    d = [x for x in a.diagnostics if x.code == "rf-not-aligned"]
    assert len(d) == 1 and d[0].node == "m" and "not aligned" in d[0].message
    # union [-1, 2]: r = 4, p = 1
    assert rf_of(a, "m")["size"] == [4, 4] and rf_of(a, "m")["padding"] == [1, 1]


def test_not_aligned_strides():
    a = analyse_text(spec("""
  - Conv2d: {out_channels: 4, kernel_size: 1, stride: 2}
    name: a
  - Conv2d: {out_channels: 4, kernel_size: 5}
    from: input
    name: b
  - cat:
    from: [a, b]
    name: m
""", "[3, 8, 8]"))
    # a: 8 -> 4 with j = 2; b: 8 -> 4 with j = 1
    d = [x for x in a.diagnostics if x.code == "rf-not-aligned"]
    assert len(d) == 1 and "strides" in d[0].message and d[0].node == "m"


def test_asymmetric_padding_layer():
    a = analyse_text(spec("""
  - ZeroPad2d: {padding: [1, 0, 2, 0]}
  - Conv2d: {out_channels: 4, kernel_size: 3}
"""))
    # torch order (left, right, top, bottom): H padded 2 on top, W 1 on the left
    assert rf_of(a, "1")["size"] == [3, 3] and rf_of(a, "1")["padding"] == [2, 1]


def test_transposed_conv_fractional_jump():
    a = analyse_text(spec("""
  - Conv2d: {out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
    name: down
  - ConvTranspose2d: {out_channels: 4, kernel_size: 4, stride: 2, padding: 1}
    name: up
  - ConvTranspose2d: {out_channels: 4, kernel_size: 2, stride: 2}
    name: up2
"""))
    # down: r=3 j=2 p=1.  up: k_eff = (4-1)/2 + 1 = 5/2, s = 1/2, P = (3-1)/2 = 1:
    # r = 3 + (3/2)*2 = 6, j = 2*(1/2) = 1, p = 1 + 1*2 = 3
    s = state_of(a, "up")
    assert s["j"] == (1, 1) and s["r"] == (6, 6) and -s["start"][0] == 3
    # up2: k_eff = 1/2 + 1 = 3/2, s = 1/2, P = (1 - 0)/2 = 1/2: r = 6 + 1/2 = 13/2, j = 1/2, p = 3 + 1/2
    s = state_of(a, "up2")
    assert s["j"] == (Fraction(1, 2),) * 2 and s["r"] == (Fraction(13, 2),) * 2
    assert -s["start"][0] == Fraction(7, 2)
    assert rf_of(a, "up2")["stride"] == [0.5, 0.5]


def test_upsample_fractional_jump():
    a = analyse_text(spec("""
  - MaxPool2d: {kernel_size: 2}
  - Upsample: {scale_factor: 2}
  - Upsample: {scale_factor: 2, mode: bilinear}
"""))
    # pool: r=2 j=2; nearest x2: j=1, r unchanged; bilinear x2: j=1/2, 2 taps: r = 2 + 1*1 = 3
    assert state_of(a, "1")["j"] == (1, 1) and state_of(a, "1")["r"] == (2, 2)
    s = state_of(a, "2")
    assert s["j"] == (Fraction(1, 2),) * 2 and s["r"] == (3, 3)
    # centre of unit 0 of a bilinear x2 output: source x = (0 + 1/2)/2 - 1/2 = -1/4 of the previous map,
    # whose unit 0 is centred at 1/2 with j = 1: 1/2 - 1/4 = 1/4
    assert Fraction(s["start"][0]) + (Fraction(s["r"][0]) - 1) / 2 == Fraction(1, 4)


def test_global_and_data_dependent():
    a = analyse_text(spec("""
  - Conv2d: {out_channels: 18, kernel_size: 3, padding: 1}
    name: offset
  - DeformConv2d: {out_channels: 4, kernel_size: 3, padding: 1}
    from: [input, offset]
    name: dcn
  - AdaptiveAvgPool2d: 1
    name: gap
  - Flatten
  - Linear: {out_features: 10}
    name: fc
""", "[3, 16, 16]"))
    rf = rf_of(a, "dcn")
    assert rf["data_dependent"] is True and rf["size"] == [3, 3]    # nominal: the regular 3x3 grid
    assert rf_of(a, "gap")["global"] is True and rf_of(a, "gap")["size"] == [16, 16]
    assert rf_of(a, "fc")["global"] is True and rf_of(a, "fc")["data_dependent"] is True


def test_review_final_field_too_small_and_too_large():
    small = analyse_text(spec("""
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
    name: c
  - AdaptiveAvgPool2d: 1
  - Flatten
  - Linear: {out_features: 2}
"""))
    d = [x for x in small.diagnostics if x.code == "rf-smaller-than-input"]
    assert len(d) == 1 and d[0].node == "c" and "3x3" in d[0].message and "32x32" in d[0].message
    # ResNet-18 at 64x64: 435 > 4*64 = 256
    big = analysis_for(EXAMPLES / "resnet18.yaml", input_shape=(3, 64, 64))
    d = [x for x in big.diagnostics if x.code == "rf-much-larger-than-input"]
    assert len(d) == 1 and d[0].node == "layer4.1.7"
    ok = analysis_for(EXAMPLES / "resnet18.yaml")
    assert not [x for x in ok.diagnostics if x.code and x.code.startswith("rf-")]


def test_loss_with_target_is_global():
    a = analyse_text("""
cnncalc: 1
inputs: {x: [3, 8, 8], y: [4, 8, 8]}
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
    name: c
  - MSELoss:
    from: [c, y]
    name: loss
""")
    rf = rf_of(a, "loss")
    assert rf["global"] is True and set(rf["per_input"]) == {"x", "y"}


# ------------------------------------------------------------------ independent: input gradients in torch
def _grad_extent(model, shape, unit):
    """Rows/cols of the input that reach one output unit: weights 1, biases 0, average pooling."""
    import torch
    x = torch.zeros((1,) + shape, requires_grad=True)
    y = model(x)
    idx = (0, 0) + tuple(unit)
    y[idx].backward()
    g = x.grad[0].abs().sum(0)
    ext = []
    for ax in range(g.dim()):
        other = tuple(a for a in range(g.dim()) if a != ax)
        nz = (g.sum(other) if other else g).nonzero().flatten()
        ext.append((int(nz.min()), int(nz.max())))
    return ext


@pytest.mark.parametrize("case", ["stack", "dilated", "pool_ceil", "block", "alexnet_head", "asym"])
def test_rf_matches_gradient_measurement(case):
    torch = pytest.importorskip("torch")
    nn = torch.nn

    def conv(ci, co, k, **kw):
        m = nn.Conv2d(ci, co, k, bias=False, **kw)
        nn.init.constant_(m.weight, 1.0)
        return m

    class Add(nn.Module):
        def __init__(self, a, b):
            super().__init__()
            self.a, self.b = a, b

        def forward(self, x):
            return self.a(x) + self.b(x)

    H = 64
    if case == "stack":
        text = """
  - Conv2d: {out_channels: 2, kernel_size: 3, padding: 1}
  - Conv2d: {out_channels: 2, kernel_size: 5, stride: 2, padding: 2}
  - Conv2d: {out_channels: 2, kernel_size: 3, stride: 2}
"""
        model = nn.Sequential(conv(1, 2, 3, padding=1), conv(2, 2, 5, stride=2, padding=2), conv(2, 2, 3, stride=2))
    elif case == "dilated":
        text = """
  - Conv2d: {out_channels: 2, kernel_size: [3, 2], dilation: [2, 3], padding: [2, 1]}
  - Conv2d: {out_channels: 2, kernel_size: 3, stride: 2, dilation: 2}
"""
        model = nn.Sequential(conv(1, 2, (3, 2), dilation=(2, 3), padding=(2, 1)), conv(2, 2, 3, stride=2, dilation=2))
    elif case == "pool_ceil":
        text = """
  - Conv2d: {out_channels: 2, kernel_size: 3}
  - AvgPool2d: {kernel_size: 3, stride: 2, padding: 1, ceil_mode: true}
  - Conv2d: {out_channels: 2, kernel_size: 3}
"""
        model = nn.Sequential(conv(1, 2, 3), nn.AvgPool2d(3, 2, padding=1, ceil_mode=True), conv(2, 2, 3))
    elif case == "block":
        text = """
  - Conv2d: {out_channels: 2, kernel_size: 3, stride: 2, padding: 1}
    name: c1
  - Conv2d: {out_channels: 2, kernel_size: 3, padding: 1}
    name: c2
  - Conv2d: {out_channels: 2, kernel_size: 1, stride: 2}
    from: input
    name: s
  - add:
    from: [c2, s]
"""
        model = Add(nn.Sequential(conv(1, 2, 3, stride=2, padding=1), conv(2, 2, 3, padding=1)), conv(1, 2, 1, stride=2))
    elif case == "alexnet_head":
        text = """
  - Conv2d: {out_channels: 2, kernel_size: 11, stride: 4}
  - AvgPool2d: {kernel_size: 3, stride: 2}
  - Conv2d: {out_channels: 2, kernel_size: 5, padding: 2}
"""
        model = nn.Sequential(conv(1, 2, 11, stride=4), nn.AvgPool2d(3, 2), conv(2, 2, 5, padding=2))
        H = 128
    else:
        text = """
  - ZeroPad2d: {padding: [3, 0, 1, 2]}
  - Conv2d: {out_channels: 2, kernel_size: 3, stride: 2}
"""
        model = nn.Sequential(nn.ZeroPad2d((3, 0, 1, 2)), conv(1, 2, 3, stride=2))
    a = analyse_text(spec(text, f"[1, {H}, {H}]"))
    assert not [d for d in a.diagnostics if d.severity == "error"], a.diagnostics
    last = a.g.nodes[-1]
    st = a.rf_state[(last.id, 0)]["input"]
    out_hw = last.out_shapes[0][1:]
    # an interior unit whose whole field lies inside the input
    unit = [o // 2 for o in out_hw]
    ext = _grad_extent(model, (1, H, H), unit)
    for ax in range(2):
        lo = unit[ax] * st["j"][ax] + st["start"][ax]
        hi = lo + st["r"][ax] - 1
        assert 0 <= lo and hi < H, "choose a larger input"
        assert ext[ax] == (lo, hi), (case, ax, ext[ax], (lo, hi))


def test_transposed_conv_field_contains_gradient_support():
    """Fractional jumps: the modelled field is the continuous hull of what a unit reads, so the
    measured integer support lies inside [start + u*j, start + u*j + r - 1] for every unit."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    text = """
  - Conv2d: {out_channels: 2, kernel_size: 3, stride: 2, padding: 1}
  - ConvTranspose2d: {out_channels: 2, kernel_size: 4, stride: 2, padding: 1}
  - Conv2d: {out_channels: 2, kernel_size: 3, padding: 1}
"""
    a = analyse_text(spec(text, "[1, 32, 32]"))
    m = nn.Sequential(nn.Conv2d(1, 2, 3, 2, 1, bias=False), nn.ConvTranspose2d(2, 2, 4, 2, 1, bias=False),
                      nn.Conv2d(2, 2, 3, padding=1, bias=False))
    for p in m.parameters():
        nn.init.constant_(p, 1.0)
    st = a.rf_state[(a.g.nodes[-1].id, 0)]["input"]
    assert st["j"] == (1, 1)
    for u in (13, 14, 15, 16):
        ext = _grad_extent(m, (1, 32, 32), [u, u])
        lo = u * st["j"][0] + st["start"][0]
        hi = lo + st["r"][0] - 1
        assert lo <= ext[0][0] and ext[0][1] <= hi, (u, ext[0], lo, hi)


def test_spatial_broadcast_makes_the_field_global():
    # big: 3x3 conv (r=3) on 8x8; tiny: 8x8 conv -> [4, 1, 1], broadcast over the 8x8 map by `mul`.
    # Every output unit reads tiny's single pixel, whose field is the whole 8x8 input: global.
    from cnncalc.api import analysis_for
    text = ("cnncalc: 1\ninput: [4, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 8}\n    name: tiny\n"
            "  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}\n    from: input\n    name: big\n"
            "  - mul:\n    from: [big, tiny]\n")
    rf = analysis_for("b.yaml", text=text).report()["layers"][-1]["rf"]
    assert rf["global"] is True and rf["size"] == [8, 8]
    # the grid is still big's: stride 1
    assert rf["stride"] == [1, 1]
