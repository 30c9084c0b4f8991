"""Every kind's shape, params, MACs and FLOPs, with the arithmetic written out."""
import pytest

from conftest import analyse_text


def one(layer, inp, batch=1, convention=None):
    a = analyse_text(f"cnncalc: 1\ninput: {list(inp)}\nlayers:\n  - {layer}\n", batch=batch, convention=convention)
    rep = a.report()
    assert not [d for d in rep["diagnostics"] if d["severity"] == "error"], rep["diagnostics"]
    return rep["layers"][-1]


# (layer, input, output, params, MACs, default FLOPs)
CASES = [
    # standard conv: 64*112*112 outputs * 3*7*7 taps = 118,013,952 MACs; params 64*3*49 = 9,408
    ("Conv2d(3, 64, 7, stride=2, padding=3, bias=False)", [3, 224, 224], [64, 112, 112], 9408,
     64 * 112 * 112 * 3 * 49, 2 * 64 * 112 * 112 * 3 * 49),
    # with bias: params (3*9 + 1)*16 = 448; FLOPs 2*MACs + one add per output
    ("Conv2d(3, 16, 3, padding=1)", [3, 32, 32], [16, 32, 32], 448, 16 * 32 * 32 * 27,
     2 * 16 * 32 * 32 * 27 + 16 * 32 * 32),
    # grouped: groups=4, 32->64: params 64*(32/4)*9 = 4,608; MACs 64*32*32*8*9 = 4,718,592 (anchors table)
    ("Conv2d(32, 64, 3, padding=1, groups=4, bias=False)", [32, 32, 32], [64, 32, 32], 4608, 4718592, 2 * 4718592),
    # depthwise: 32*(1)*9 = 288 params; 32*32*32*9 = 294,912 MACs (anchors table)
    ("Conv2d(32, 32, 3, padding=1, groups=32, bias=False)", [32, 32, 32], [32, 32, 32], 288, 294912, 2 * 294912),
    # dilated: k_eff = 2*(3-1)+1 = 5; padding 2 keeps 32; MACs 16*16*9*32*32 = 2,359,296 (dilation adds no taps)
    ("Conv2d(16, 16, 3, padding=2, dilation=2, bias=False)", [16, 32, 32], [16, 32, 32], 2304, 2359296, 2 * 2359296),
    # 1x1: 256->64 on 56x56: 64*56*56*256 = 51,380,224 MACs; params 256*64 + 64 = 16,448
    ("Conv2d(256, 64, 1)", [256, 56, 56], [64, 56, 56], 16448, 51380224, 2 * 51380224 + 64 * 56 * 56),
    # non-square, stride (3,4), padding (0,1) on 8x8 (d2l): H = (8-3)//3+1 = 2, W = (8+2-5)//4+1 = 2
    ("Conv2d(1, 1, kernel_size=[3, 5], padding=[0, 1], stride=[3, 4], bias=False)", [1, 8, 8], [1, 2, 2], 15,
     4 * 15, 2 * 4 * 15),
    # 'same' padding with an even kernel: total 3 -> 1 left, 2 right; output stays 10
    ("Conv2d(2, 4, 4, padding='same', bias=False)", [2, 10, 10], [4, 10, 10], 4 * 2 * 16, 4 * 100 * 2 * 16,
     2 * 4 * 100 * 2 * 16),
    ("Conv2d(2, 4, 3, padding='valid', bias=False)", [2, 10, 10], [4, 8, 8], 72, 4 * 64 * 18, 2 * 4 * 64 * 18),
    # transposed, counted on INPUT positions: 16*16*16 inputs * 8 out * 4*4 = 524,288 (anchors table)
    # out = (16-1)*2 - 2*1 + (4-1) + 0 + 1 = 32; params 16*8*16 = 2,048
    ("ConvTranspose2d(16, 8, 4, stride=2, padding=1, bias=False)", [16, 16, 16], [8, 32, 32], 2048, 524288,
     2 * 524288),
    # depthwise transposed: 16*16*16 * (16/16) * 16 = 65,536 MACs; params 16*1*16 = 256
    ("ConvTranspose2d(16, 16, 4, stride=2, padding=1, groups=16, bias=False)", [16, 16, 16], [16, 32, 32], 256,
     65536, 2 * 65536),
    # 1D conv: L = (100 - 5)//2 + 1 = 48; params 8*(4*5) + 8 = 168; MACs 8*48*4*5 = 7,680
    ("Conv1d(4, 8, 5, stride=2)", [4, 100], [8, 48], 168, 7680, 2 * 7680 + 8 * 48),
    # 3D conv: 3x16x112x112 -> 64x16x112x112, params 64*3*27 + 64 = 5,248; MACs 64*16*112*112*81
    ("Conv3d(3, 64, 3, padding=1)", [3, 16, 112, 112], [64, 16, 112, 112], 5248, 64 * 16 * 112 * 112 * 81,
     2 * 64 * 16 * 112 * 112 * 81 + 64 * 16 * 112 * 112),
    # Linear 400->120: 48,120 params; 48,000 MACs; FLOPs 96,000 + 120 bias
    ("Linear(400, 120)", [400], [120], 48120, 48000, 96120),
    # Linear over a sequence [L=10, F=32] -> 16: MACs 10*32*16 = 5,120
    ("Linear(32, 16, bias=False)", [10, 32], [10, 16], 512, 5120, 10240),
    # BatchNorm2d(64): 128 params; FLOPs 2 per element in eval (folded a*x + c): 2*64*56*56
    ("BatchNorm2d(64)", [64, 56, 56], [64, 56, 56], 128, 0, 2 * 64 * 56 * 56),
    # GroupNorm(4, 32): 64 params; 5 per element with affine
    ("GroupNorm(4, 32)", [32, 8, 8], [32, 8, 8], 64, 0, 5 * 32 * 64),
    # LayerNorm(16) on [10, 16]: 32 params; 5 per element
    ("LayerNorm(16)", [10, 16], [10, 16], 32, 0, 5 * 160),
    # MaxPool 3/2/1 on 112: (112 + 2 - 3)//2 + 1 = 56; 8 comparisons per output
    ("MaxPool2d(3, 2, 1)", [64, 112, 112], [64, 56, 56], 0, 0, 64 * 56 * 56 * 8),
    # ceil_mode: (13 - 3)/2 -> ceil 5 + 1 = 6 ... (13-3)=10, 10/2=5 exactly -> 6 either way; use 14: floor 6, ceil 7
    ("MaxPool2d(3, 2, ceil_mode=True)", [8, 14, 14], [8, 7, 7], 0, 0, 8 * 49 * 8),
    ("MaxPool2d(3, 2)", [8, 14, 14], [8, 6, 6], 0, 0, 8 * 36 * 8),
    # AvgPool 2/2: 9 per output? no: 4 per output (3 adds + 1 divide)
    ("AvgPool2d(2, 2)", [6, 28, 28], [6, 14, 14], 0, 0, 6 * 196 * 4),
    # adaptive avg pool to 1: one window of 7*7 = 49 per channel: 512*49
    ("AdaptiveAvgPool2d(1)", [512, 7, 7], [512, 1, 1], 0, 0, 512 * 49),
    # adaptive avg pool 5 -> 3: windows [0,2),[1,4),[3,5) = 2,3,2 -> sum 7 per axis; 7*7 per channel
    ("AdaptiveAvgPool2d(3)", [2, 5, 5], [2, 3, 3], 0, 0, 2 * 49),
    ("ReLU()", [64, 56, 56], [64, 56, 56], 0, 0, 64 * 56 * 56),
    ("Sigmoid()", [10], [10], 0, 0, 30),
    ("PReLU(num_parameters=8)", [8, 4, 4], [8, 4, 4], 8, 0, 2 * 128),
    ("Dropout(0.5)", [100], [100], 0, 0, 0),
    # bilinear x2 upsampling: 7 FLOPs per output (4 mul + 3 add): 16*64*64*7
    ("Upsample(scale_factor=2, mode='bilinear')", [16, 32, 32], [16, 64, 64], 0, 0, 16 * 64 * 64 * 7),
    ("Upsample(scale_factor=2)", [16, 32, 32], [16, 64, 64], 0, 0, 0),
    ("PixelShuffle(2)", [16, 8, 8], [4, 16, 16], 0, 0, 0),
    ("ZeroPad2d([1, 2, 3, 4])", [3, 10, 10], [3, 17, 13], 0, 0, 0),
    ("Flatten()", [16, 5, 5], [400], 0, 0, 0),
    ("ChannelShuffle(2)", [116, 28, 28], [116, 28, 28], 0, 0, 0),
]


@pytest.mark.parametrize("layer,inp,out,params,macs,flops", CASES, ids=[c[0] for c in CASES])
def test_kind_table(layer, inp, out, params, macs, flops):
    L = one(layer, inp)
    assert L["output_shape"] == out
    assert L["params"] == params
    assert L["macs"] == macs
    assert L["flops"] == flops


def test_batch_scales_work_not_params():
    a = one("Conv2d(3, 16, 3, padding=1)", [3, 32, 32], batch=1)
    b = one("Conv2d(3, 16, 3, padding=1)", [3, 32, 32], batch=8)
    assert b["params"] == a["params"] == 448
    assert b["macs"] == 8 * a["macs"] and b["output_bytes"] == 8 * a["output_bytes"] == 8 * 16 * 32 * 32 * 4


def test_params_do_not_depend_on_input_size():
    for size in (32, 57, 224):
        assert one("Conv2d(3, 64, 7, stride=2, padding=3)", [3, size, size])["params"] == 64 * (3 * 49 + 1)


@pytest.mark.parametrize("conv,expected", [
    # conv 16*32*32*27 = 442,368 MACs; bias 16,384 adds; ReLU 16,384
    ("default", 2 * 442368 + 16384 + 16384),
    ("macs", 442368 + 16384 + 16384),
    ("paper", 442368),
    ("torch", 2 * 442368),
    ("fvcore", 442368),
])
def test_conventions(conv, expected):
    a = analyse_text("cnncalc: 1\ninput: [3, 32, 32]\nlayers:\n  - Conv2d(3, 16, 3, padding=1)\n  - ReLU\n",
                     convention=conv)
    assert a.report()["totals"]["flops"] == expected
    assert a.report()["totals"]["macs"] == 442368


def test_fvcore_convention_bn_and_adaptive_pool():
    # fvcore (eval): BN 2 per element with affine; adaptive_avg_pool2d 1 per input element; relu/maxpool uncounted
    a = analyse_text("cnncalc: 1\ninput: [8, 10, 10]\nlayers:\n  - BatchNorm2d\n  - ReLU\n  - MaxPool2d(2)\n"
                     "  - AdaptiveAvgPool2d(1)\n", convention="fvcore")
    assert a.report()["totals"]["flops"] == 2 * 800 + 8 * 25


def test_spec_conventions_key_and_cli_override():
    text = "cnncalc: 1\ninput: [3, 8, 8]\nconventions: paper\nlayers:\n  - Conv2d(3, 4, 3)\n  - ReLU\n"
    # 4*6*6*27 = 3,888 MACs; paper: FLOPs = MACs
    assert analyse_text(text).report()["totals"]["flops"] == 3888
    assert analyse_text(text, convention="torch").report()["totals"]["flops"] == 2 * 3888
    custom = "cnncalc: 1\ninput: [3, 8, 8]\nconventions: {preset: default, costs: {relu: 0}}\nlayers:\n" \
             "  - Conv2d(3, 4, 3, bias=False)\n  - ReLU\n"
    assert analyse_text(custom).report()["totals"]["flops"] == 2 * 3888


def test_deformconv_counted_in_full():
    # anchors: offset conv 18*16*9*28*28 = 2,032,128 + deform 16*16*9*28*28 = 1,806,336 MACs;
    # bilinear sampling 16*9*28*28 = 112,896 samples at 7 FLOPs each
    text = ("cnncalc: 1\ninput: [16, 28, 28]\nlayers:\n  - Conv2d: {out_channels: 18, kernel_size: 3, padding: 1, "
            "bias: false}\n    name: off\n    from: input\n  - DeformConv2d: {out_channels: 16, kernel_size: 3, "
            "padding: 1, bias: false}\n    from: [input, off]\n")
    rep = analyse_text(text).report()
    assert rep["totals"]["macs"] == 2032128 + 1806336
    assert rep["totals"]["flops"] == 2 * (2032128 + 1806336) + 7 * 112896
    assert rep["totals"]["params"] == 18 * 16 * 9 + 16 * 16 * 9 == 4896
    assert rep["layers"][-1]["rf"]["data_dependent"] is True
