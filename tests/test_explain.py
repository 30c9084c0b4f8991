"""`cnncalc explain` and the formulas behind every number.

The core test walks EVERY registered kind with a small valid input and evaluates every Figure it
produces (parameters, buffers, forward and backward terms, output shapes, receptive-field steps) with
the safe evaluator: the formula with its bindings, and the substituted text on its own, must both give
the figure's value.  A kind added without a case here fails `test_every_kind_has_a_case`.
"""
from __future__ import annotations

import json
import sys
from fractions import Fraction

import pytest

from conftest import EXAMPLES, analyse_text, run_cli
from cnncalc import expr
from cnncalc.kinds import REGISTRY
from cnncalc.kinds.base import bind_args, check_types

C2 = [4, 8, 8]
C1 = [4, 12]
C3 = [4, 6, 6, 6]


def _default_shape(op):
    if op.endswith("1d"):
        return [C1]
    if op.endswith("3d"):
        return [C3]
    return [C2]


CONV = {"out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1, "groups": 2}
TCONV = {"out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1, "groups": 2}
ACT = ["CELU", "ELU", "GELU", "Hardsigmoid", "Hardswish", "Hardtanh", "LeakyReLU", "Mish", "RReLU", "ReLU",
       "ReLU6", "SELU", "SiLU", "Sigmoid", "Softplus", "Tanh"]

# op -> list of (keyword arguments, input shapes or None for the default)
CASES: dict[str, list] = {}
for _nd in (1, 2, 3):
    for _p in ("", "Lazy"):
        CASES[f"{_p}Conv{_nd}d"] = [(CONV, None), ({"out_channels": 4, "kernel_size": 4, "padding": "same",
                                                     "dilation": 2, "bias": False}, None),
                                    ({"out_channels": 2, "kernel_size": 1}, None)]
        CASES[f"{_p}ConvTranspose{_nd}d"] = [(TCONV, None), ({"out_channels": 3, "kernel_size": 2, "stride": 2,
                                                              "bias": False, "dilation": 1}, None)]
        CASES[f"{_p}BatchNorm{_nd}d"] = [({}, None), ({"affine": False, "track_running_stats": False}, None)]
    CASES[f"MaxPool{_nd}d"] = [({"kernel_size": 3, "stride": 2, "padding": 1}, None),
                               ({"kernel_size": 3, "stride": 2, "ceil_mode": True}, None),
                               ({"kernel_size": 2, "dilation": 2}, None)]
    CASES[f"AvgPool{_nd}d"] = [({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, None),
                               ({"kernel_size": 2}, None)]
    CASES[f"AdaptiveAvgPool{_nd}d"] = [({"output_size": 1}, None), ({"output_size": 3}, None),
                                       ({"output_size": 2}, None)]
    CASES[f"AdaptiveMaxPool{_nd}d"] = [({"output_size": 1}, None), ({"output_size": 5}, None)]
    CASES[f"InstanceNorm{_nd}d"] = [({}, None), ({"affine": True}, None)]
    CASES[f"Dropout{_nd}d"] = [({"p": 0.2}, None)]
    CASES[f"ZeroPad{_nd}d"] = [({"padding": 1}, None), ({"padding": [1, 0] * _nd}, None)]
    CASES[f"ConstantPad{_nd}d"] = [({"padding": [2, 1] * _nd, "value": 0.5}, None)]
    CASES[f"ReflectionPad{_nd}d"] = [({"padding": 1}, None)]
    CASES[f"ReplicationPad{_nd}d"] = [({"padding": [0, 1] * _nd}, None)]
for _nd in (1, 2):
    CASES[f"LPPool{_nd}d"] = [({"norm_type": 2.0, "kernel_size": 2}, None),
                              ({"norm_type": 3.0, "kernel_size": 3, "stride": 1}, None)]
for _nd, _sh in ((1, [4, 7]), (2, [4, 7, 7]), (3, [4, 7, 7, 7])):
    # ceil_mode with a last window that would start in the right padding: torch drops it
    CASES[f"MaxPool{_nd}d"].append(({"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}, [_sh]))
    CASES[f"AvgPool{_nd}d"].append(({"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}, [_sh]))
CASES["ZeroPad2d"].append(({"padding": [1, 2, 3, 0]}, None))
CASES["DeformConv2d"] = [({"out_channels": 6, "kernel_size": 3, "padding": 1}, [C2, [18, 8, 8]]),
                         ({"out_channels": 6, "kernel_size": 3, "padding": 1, "bias": False},
                          [C2, [18, 8, 8], [9, 8, 8]])]
for _a in ACT:
    CASES[_a] = [({}, None)]
CASES["PReLU"] = [({}, None), ({"num_parameters": 4}, None)]
CASES["Softmax"] = [({"dim": 1}, None)]
CASES["LogSoftmax"] = [({"dim": -1}, None)]
CASES["Dropout"] = [({}, None)]
CASES["AlphaDropout"] = [({"p": 0.1}, None)]
CASES["GroupNorm"] = [({"num_groups": 2}, None), ({"num_groups": 4, "affine": False}, None)]
CASES["LayerNorm"] = [({"normalized_shape": [8, 8]}, None), ({"normalized_shape": 8, "bias": False}, None)]
CASES["LocalResponseNorm"] = [({"size": 3}, None)]
CASES["Linear"] = [({"out_features": 5}, [[12]]), ({"out_features": 5, "bias": False}, [[3, 12]])]
CASES["LazyLinear"] = [({"out_features": 5}, [[12]])]
CASES["Flatten"] = [({}, None), ({"start_dim": 2}, None)]
CASES["Unflatten"] = [({"dim": 1, "unflattened_size": [2, 2]}, None)]
CASES["Identity"] = [({}, None)]
for _u in ("Upsample", "interpolate"):
    CASES[_u] = [({"scale_factor": 2, "mode": "bilinear"}, None), ({"size": 12, "mode": "nearest"}, None),
                 ({"scale_factor": 2, "mode": "bilinear", "align_corners": True}, None),
                 ({"scale_factor": 3, "mode": "bicubic"}, None), ({"scale_factor": 2, "mode": "linear"}, [C1])]
CASES["PixelShuffle"] = [({"upscale_factor": 2}, [[8, 4, 4]])]
CASES["PixelUnshuffle"] = [({"downscale_factor": 2}, None)]
CASES["ChannelShuffle"] = [({"groups": 2}, None)]
CASES["Unfold"] = [({"kernel_size": 3, "padding": 1}, None),
                   ({"kernel_size": [2, 3], "dilation": [2, 1], "padding": [0, 1], "stride": [1, 2]}, [[3, 7, 6]])]
for _l in ("BCELoss", "BCEWithLogitsLoss", "L1Loss", "MSELoss", "SmoothL1Loss"):
    CASES[_l] = [({}, [[10]]), ({"reduction": "sum"}, [[10], [10]])]
for _l in ("CrossEntropyLoss", "NLLLoss"):
    CASES[_l] = [({}, [[10]]), ({"reduction": "none"}, [[10]])]
for _b in ("add", "sub", "mul", "div"):
    CASES[_b] = [({}, [C2, [4, 1, 1]]), ({}, [C2, C2, C2])]
CASES["abs"] = [({}, None)]
CASES["cat"] = [({}, [C2, [2, 8, 8]]), ({"dim": 2}, [C2, [4, 3, 8]])]
CASES["stack"] = [({}, [C2, C2])]
CASES["chunk"] = [({"chunks": 2, "dim": 1}, None)]
CASES["split"] = [({"split_size_or_sections": [1, 3], "dim": 1}, None)]
CASES["flatten"] = [({"start_dim": 1}, None)]
CASES["reshape"] = [({"shape": [-1]}, None)]
CASES["permute"] = [({"dims": [0, 2, 3, 1]}, None)]
CASES["mean"] = [({"dim": [2, 3]}, None), ({"dim": 1, "keepdim": True}, None)]
CASES["amax"] = [({"dim": [2, 3], "keepdim": True}, None)]
CASES["MultiheadAttention"] = [({"num_heads": 2}, [[5, 8]]),
                               ({"embed_dim": 8, "num_heads": 2, "kdim": 6, "vdim": 4, "bias": False},
                                [[5, 8], [7, 6], [7, 4]])]
CASES["scaled_dot_product_attention"] = [({}, [[2, 5, 4], [2, 7, 4], [2, 7, 4]]),
                                         ({"is_causal": True, "scale": 0.5}, [[5, 4], [7, 4], [7, 3]])]
CASES["matmul"] = [({}, [[5, 4], [4, 3]]), ({}, [[2, 5, 4], [1, 4, 3]])]
CASES["bmm"] = [({}, [[5, 4], [4, 3]])]
CASES["transpose"] = [({"dim0": 1, "dim1": -1}, None)]
CASES["softmax"] = [({"dim": -1}, None)]
CASES["LSTM"] = [({"hidden_size": 5}, [[7, 6]]),
                 ({"hidden_size": 5, "num_layers": 2, "bidirectional": True, "proj_size": 3, "bias": False}, [[7, 6]])]
CASES["GRU"] = [({"hidden_size": 5, "num_layers": 3, "bidirectional": True}, [[7, 6]])]
CASES["einsum"] = [({"equation": "bhid,bhjd->bhij"}, [[2, 5, 4], [2, 3, 4]]),
                   ({"equation": "B G I D, B G J D -> B G I J"}, [[2, 5, 4], [2, 3, 4]])]
CASES["getitem"] = [({"index": [0]}, None), ({"index": [None, [1, 7, 2]]}, None)]
CASES["roll"] = [({"shifts": [-3, 2], "dims": [2, 3]}, None)]
CASES["ShiftedWindowAttention"] = [({"window_size": [4, 4], "shift_size": [2, 2], "num_heads": 2}, [[6, 8, 8]]),
                                   ({"window_size": 7, "shift_size": 3, "num_heads": 2, "qkv_bias": False},
                                    [[5, 9, 4]])]
CASES["ShiftedWindowAttentionV2"] = [({"window_size": [4, 4], "shift_size": [2, 2], "num_heads": 2}, [[6, 8, 8]])]
CASES["ShiftedWindowAttention3d"] = [({"window_size": [2, 4, 4], "shift_size": [1, 2, 2], "num_heads": 2},
                                     [[4, 6, 8, 8]]),
                                    ({"window_size": [8, 7, 7], "shift_size": [4, 3, 3], "num_heads": 2},
                                     [[2, 9, 9, 8]])]
CASES["MultiscaleAttention"] = [
    ({"output_dim": 8, "num_heads": 2, "thw": [1, 4, 4], "kernel_q": [3, 3, 3], "kernel_kv": [3, 3, 3],
      "stride_q": [1, 2, 2], "stride_kv": [1, 2, 2]}, [[17, 8]]),
    ({"output_dim": 16, "num_heads": 2, "thw": [2, 4, 4], "kernel_kv": [3, 3, 3], "stride_kv": [1, 2, 2],
      "residual_with_cls_embed": False, "rel_pos_embed": True, "rel_pos_size": [7, 3]}, [[33, 8]])]
CASES["MViTPool"] = [({"thw": [1, 4, 4], "kernel_size": [3, 3, 3], "stride": [1, 2, 2]}, [[17, 8]])]
CASES["MViTPositionalEncoding"] = [({"spatial_size": [2, 2], "temporal_size": 4}, [[16, 8]]),
                                   ({"spatial_size": [2, 2], "temporal_size": 4, "rel_pos_embed": True}, [[16, 8]])]
CASES["pad"] = [({"pad": [0, 0, 1, 2]}, [[5, 6, 4]]), ({"pad": [1, 1, 2, 0], "mode": "reflect"}, None),
               ({"pad": [-1, 2], "value": 0.5}, None)]
CASES["sum"] = [({"dim": [2, 3]}, None), ({"dim": 1, "keepdim": True}, None)]
CASES["grid_sample"] = [({}, [[3, 8, 8], [5, 6, 2]]), ({"mode": "nearest"}, [[2, 4, 5, 6], [3, 2, 2, 3]])]
CASES["StochasticDepth"] = [({"p": 0.2}, None), ({"p": 0.2, "mode": "batch"}, None)]
CASES["LayerScale"] = [({}, None), ({"channel_dim": -1}, [[10, 9, 4]])]
CASES["patch_merging_pad"] = [({}, [[5, 6, 4]]), ({}, [[3, 5, 6, 4]])]
CASES["relative_position_bias"] = [({"table_size": 9}, [[2, 4, 4]]), ({"table_size": 25, "num_heads": 3}, [[6, 3, 5, 5]])]


def build(op, kw, shapes, batch=2):
    cls = REGISTRY[op]
    args = check_types(cls, op, bind_args(cls, op, [], dict(kw)))
    return cls(op, args, [tuple(s) for s in (shapes or _default_shape(op))], batch)


def figures_of(k):
    """Every Figure a kind produces, with where it came from."""
    out = [("params", k.params()), ("buffers", k.buffers())]
    for i, t in enumerate(k.terms()):
        out.append((f"terms[{i}]", t.figure))
        assert t.count == t.figure.value, f"term {i}: count {t.count} != figure value {t.figure.value}"
    for ng in (True, False):
        for i, t in enumerate(k.bwd_terms(ng)):
            out.append((f"bwd_terms({ng})[{i}]", t.figure))
            assert t.count == t.figure.value
    for i, f in enumerate(k.shape_figures()):
        out.append((f"shape_figures[{i}]", f))
    for ax, figs in k.rf().figures.items():
        for f in figs:
            out.append((f"rf.{ax}.{f.name}", f))
    return out


def check_figure(where, f):
    if not f.formula:
        assert f.value == 0, f"{where}: the number {f.value} has no formula"
        return
    got = expr.evaluate(f.formula, f.bindings, exact=True)
    assert got == f.value, f"{where}: `{f.formula}` with {f.bindings} gives {got}, the figure says {f.value}"
    sub = f.substituted()
    assert expr.evaluate(sub, {}, exact=True) == f.value, f"{where}: substituted `{sub}` != {f.value}"
    from cnncalc.render.explain import substitute
    sub2 = substitute(f.formula, f.bindings)
    assert expr.evaluate(sub2, {}, exact=True) == f.value, f"{where}: rendered `{sub2}` != {f.value}"
    import ast
    used = {n.id for n in ast.walk(ast.parse(f.formula, mode="eval")) if isinstance(n, ast.Name)}
    unused = set(f.bindings) - used
    assert not unused, f"{where}: bindings {sorted(unused)} are not used in `{f.formula}`"


def test_every_kind_has_a_case():
    assert set(CASES) == set(REGISTRY), (sorted(set(REGISTRY) - set(CASES)), sorted(set(CASES) - set(REGISTRY)))


@pytest.mark.parametrize("op", sorted(REGISTRY))
def test_every_figure_evaluates_to_its_value(op):
    n = 0
    for kw, shapes in CASES[op]:
        k = build(op, kw, shapes)
        for where, f in figures_of(k):
            check_figure(f"{op}({kw}) {where}", f)
            n += 1
    assert n > 0


def test_shape_figures_agree_with_shapes():
    # the H_out/W_out/L_out figures equal the kind's own output shape, axis by axis
    for op, cases in CASES.items():
        for kw, shapes in cases:
            k = build(op, kw, shapes)
            for f in k.shape_figures():
                if f.name.endswith("_out") and f.name[:-4] in ("L", "D", "H", "W"):
                    axes = {1: "L", 2: "HW", 3: "DHW"}[len(k.out_shape) - 1]
                    assert k.out_shape[1 + axes.index(f.name[0])] == f.value, (op, kw, f)


def test_conv_output_shape_formula_published_example():
    # design.md: H_out = floor((224 + 2*3 - 1*(7-1) - 1) / 2) + 1 = floor(222/2) + 1 = 112
    k = build("Conv2d", {"out_channels": 64, "kernel_size": 7, "stride": 2, "padding": 3, "bias": False}, [[3, 224, 224]])
    h = [f for f in k.shape_figures() if f.name == "H_out"][0]
    assert h.value == 112
    from cnncalc.render.explain import substitute
    assert substitute(h.formula, h.bindings) == "floor((224 + 2*3 - 1*(7-1) - 1) / 2) + 1"
    # params = 64*(3/1*7*7 + 0) = 9,408 (torchvision resnet18 conv1)
    assert k.params().value == 64 * 3 * 7 * 7 == 9408


def test_rf_figures_of_whole_graphs_evaluate():
    """The analysis's receptive-field recurrence, node by node, on real specs (merges included)."""
    from cnncalc.api import analysis_for
    from pathlib import Path
    specs = [EXAMPLES / "resnet18.yaml", EXAMPLES / "inception.yaml", EXAMPLES / "siamese.yaml",
             Path(__file__).parent / "specs" / "vgg16_tfslim.yaml"]
    n = 0
    for p in specs:
        a = analysis_for(p)
        for node in a.g.nodes:
            if node.is_input:
                continue
            for src, ax, figs in a.rf_figures(node.id):
                for f in figs:
                    check_figure(f"{p.name} {node.name} {src}.{ax} {f.name}", f)
                    n += 1
                names = {f.name: f.value for f in figs}
                st = a.rf_state[(node.id, 0)][src]
                i = "LHW".index(ax) - 1 if len(st["r"]) == 2 else 0
                assert Fraction(names["r_out"]) == Fraction(st["r"][i])
    assert n > 100


TCONV_SPEC = """
cnncalc: 1
input: [3, 16, 16]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
    name: down
  - ConvTranspose2d: {out_channels: 4, kernel_size: 4, stride: 2, padding: 1}
    name: up
  - Upsample: {scale_factor: 2, mode: bilinear}
    name: up2
  - add:
    from: [up2, up2]
"""


def test_rf_figures_fractional():
    a = analyse_text(TCONV_SPEC)
    for node in a.g.nodes:
        for src, ax, figs in a.rf_figures(node.id):
            for f in figs:
                check_figure(f"{node.name} {ax} {f.name}", f)
    figs = {f.name: f for src, ax, fs in a.rf_figures(a.g.nodes[2].id) if ax == "H" for f in fs}
    # transposed conv K=4, S=2, P=1: k_eff = 1*(4-1)/2 + 1 = 5/2, s = 1/2
    assert figs["k_eff"].value == Fraction(5, 2) and figs["s"].value == Fraction(1, 2)


# --------------------------------------------------------------------------- the command
def test_explain_node_text(tmp_path):
    r = run_cli("explain", EXAMPLES / "resnet18.yaml", "0", "--ascii")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    # shape, params, MACs, FLOPs, memory and RF, each with formula and substituted values
    assert "H_out = floor((H_in + 2*P - D*(K-1) - 1) / S) + 1 = floor((224 + 2*3 - 1*(7-1) - 1) / 2) + 1 = 112" in out
    assert "params = C_out*(C_in/G*K_h*K_w + bias) = 64*(3/1*7*7 + 0) = 9,408" in out
    # MACs: 64*112*112*3*7*7 = 118,013,952; FLOPs 2 per MAC (default convention), no bias
    assert "= 118,013,952" in out and "FLOPs = MACs*2 = 118013952*2 = 236,027,904" in out
    # output bytes 64*112*112*4 = 3,211,264
    assert "output_bytes = N*C*H*W*bytes = 1*64*112*112*4 = 3,211,264" in out
    assert "r_out = r_in + (k_eff - 1)*j_in = 1 + (7 - 1)*1 = 7" in out
    assert "k_eff = D*(K-1) + 1 = 1*(7-1) + 1 = 7" in out
    assert "⌊" not in out


def test_explain_unicode_and_convention():
    r = run_cli("explain", EXAMPLES / "resnet18.yaml", "layer1.0.conv1", "--unicode", "-c", "paper", "--batch", "2")
    assert r.returncode == 0, r.stderr
    assert "⌊(56 + 2*1 - 1*(3-1) - 1) / 1⌋ + 1 = 56" in r.stdout
    # paper convention: 1 FLOP per MAC; batch 2: 2*64*56*56*64*3*3 = 231,211,008 MACs
    assert "FLOPs = MACs*1 = 231211008*1 = 231,211,008" in r.stdout


def test_explain_group_and_spec():
    r = run_cli("explain", EXAMPLES / "resnet18.yaml", "layer1")
    assert r.returncode == 0, r.stderr
    # layer1: two BasicBlocks of 2*(64*64*9) + 2*(2*64) = 73,984 params each (torchvision: 147,968)
    assert "params = layer1.0 + layer1.1 = 73,984 + 73,984 = 147,968" in r.stdout
    assert "largest layers by MACs" in r.stdout
    r = run_cli("explain", EXAMPLES / "resnet18.yaml", "--format", "markdown")
    assert r.returncode == 0, r.stderr
    assert "= 11,689,512" in r.stdout          # torchvision resnet18 parameter count
    assert "= 1,814,073,344" in r.stdout       # torchvision: 1.81 GFLOPS (conv + linear MACs)
    assert "| layer4 |" in r.stdout


def test_explain_json_and_merge_node():
    r = run_cli("explain", EXAMPLES / "resnet18.yaml", "layer2.0.6", "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    items = [it for s in data[0]["sections"] for it in s.get("items", []) if it.get("name") == "r_out"]
    # main path 67 (centre 0, p 33), shortcut 43 (p 21): union max(67-33, 43-21) + 33 = 67
    assert items and items[0]["value"] == 67
    assert items[0]["substituted"] == "max(67 - 33, 43 - 21) + max(33, 21)"


def test_explain_unknown_node_suggests():
    r = run_cli("explain", EXAMPLES / "resnet18.yaml", "layer1.0.conv3")
    assert r.returncode == 2
    assert "layer1.0.conv3" in r.stderr and "layer1.0.conv1" in r.stderr
    assert "Traceback" not in r.stderr


def test_explain_does_not_import_torch():
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom cnncalc.cli.main import app\n"
            f"r = CliRunner().invoke(app, ['explain', {str(EXAMPLES / 'resnet18.yaml')!r}, 'layer1.0.conv1'])\n"
            "assert r.exit_code == 0, r.output\nassert 'torch' not in sys.modules\nprint('ok')")
    import subprocess
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "ok" in p.stdout, p.stderr


def test_substitute_keeps_layout_and_signs():
    from cnncalc.render.explain import substitute
    assert substitute("floor((H_in + 2*P - D*(K-1) - 1) / S) + 1",
                      {"H_in": 7, "P": 0, "D": 1, "K": 3, "S": 2}) == "floor((7 + 2*0 - 1*(3-1) - 1) / 2) + 1"
    s = substitute("a - b*c", {"a": 1, "b": -2, "c": Fraction(1, 3)})
    assert s == "1 - (-2)*(1/3)" and expr.evaluate(s, {}, exact=True) == Fraction(5, 3)


# --------------------------------------------------------------------------- offsets and adaptive windows
OFFSET_SPEC = """
cnncalc: 1
input: [1, 8, 8]
layers:
  - Conv2d: {out_channels: 2, kernel_size: 3, padding: 1}
    name: a
  - split: {split_size_or_sections: [3, 5], dim: 2}
    name: sp
  - cat: {dim: 2}
    from: [sp:1, sp:0]
    name: cat
  - AdaptiveAvgPool2d: 3
    name: ada
  - ConvTranspose2d: {out_channels: 2, kernel_size: 4, stride: 2, padding: 1}
    name: up
  - Upsample: {scale_factor: 2}
    name: near
"""




def test_explain_offsets_and_adaptive_windows(tmp_path):
    p = tmp_path / "o.yaml"
    p.write_text(OFFSET_SPEC)

    def items(node):
        r = run_cli("explain", p, node, "--format", "json")
        assert r.returncode == 0, r.stderr
        sec = next(s for s in json.loads(r.stdout)[0]["sections"] if s["title"].startswith("receptive field"))
        return [it for it in sec["items"] if "name" in it]

    def fig(its, name, nth=0):
        return [it for it in its if it["name"] == name][nth]

    # a: conv3 p1: r = 3, j = 1, p = 1.  split along H at 3: output 1 starts at input row 3:
    # p_1 = p_in - off*j_in = 1 - 3*1 = -2 (unit 0 of sp:1 reads rows 2..4)
    sp = items("sp")
    assert (fig(sp, "off_1")["substituted"], fig(sp, "off_1")["value"]) == ("3", 3)
    assert (fig(sp, "p_1")["substituted"], fig(sp, "p_1")["value"]) == ("1 - 3*1", -2)
    # cat [sp:1, sp:0] along H: part 0 (sp:1, 5 rows) at offset 0: p_0 = -2 + 0*1 = -2; part 1 (sp:0) at
    # offset 5: p_1 = 1 + 5*1 = 6; union: p_out = max(-2, 6) = 6, r_out = max(3 - (-2), 3 - 6) + 6 = 11
    # (output row 0 reads rows 2..4, output row 5 reads rows -1..1: from -6 to 4 in unit-0 terms, 11 rows)
    cat = items("cat")
    assert fig(cat, "p_1")["substituted"] == "1 + 5*1" and fig(cat, "p_1")["value"] == 6
    p_out = [it for it in cat if it["name"] == "p_out" and it["formula"] == "max(p_0, p_1)"]
    assert p_out[-1]["value"] == 6
    r_out = [it for it in cat if it["name"] == "r_out" and "r_0 - p_0" in it["formula"]]
    assert r_out[-1]["substituted"] == "max(3 - (-2), 3 - 6) + max((-2), 6)" and r_out[-1]["value"] == 11
    # adaptive 8 -> 3: unit 1 reads [floor(1*8/3), ceil(2*8/3) - 1] = [2, 5]; unit 2 [5, 7]; widths 3, 4, 3
    ada = items("ada")
    assert fig(ada, "first_1")["substituted"] == "floor(1*8/3)" and fig(ada, "first_1")["value"] == 2
    assert fig(ada, "last_1")["substituted"] == "ceil((1 + 1)*8/3) - 1" and fig(ada, "last_1")["value"] == 5
    assert fig(ada, "k_max")["value"] == 4
    # transposed conv K=4, S=2, P=1: the jump divided by 2: s = 1/S = 1/2; nearest upsampling x2: s = 1/2
    up = items("up")
    assert fig(up, "s")["substituted"] == "1/2" and Fraction(str(fig(up, "s")["value"])) == Fraction(1, 2)
    # ada's jump is 8/3 (mean stride of 8 -> 3): after `up` 8/3 * 1/2 = 4/3, after `near` 4/3 * 1/2 = 2/3
    assert fig(up, "j_out")["substituted"] == "(8/3)*(1/2)" and Fraction(str(fig(up, "j_out")["value"])) == Fraction(4, 3)
    near = items("near")
    assert Fraction(str(fig(near, "j_out")["value"])) == Fraction(2, 3)


def test_explain_pad_offset(tmp_path):
    # ZeroPad2d (left 2, right 1, top 0, bottom 3) after a 1x1 conv (r = 1, j = 1, p = 0): the padding
    # shifts the field and leaves its size: W: p_out = p_in + P*j_in = 0 + 2*1 = 2; H: 0 + 0*1 = 0
    p = tmp_path / "p.yaml"
    p.write_text("cnncalc: 1\ninput: [1, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 1, kernel_size: 1}\n"
                 "  - ZeroPad2d: {padding: [2, 1, 0, 3]}\n    name: pad\n")
    r = run_cli("explain", p, "pad", "--format", "json")
    assert r.returncode == 0, r.stderr
    sec = next(s for s in json.loads(r.stdout)[0]["sections"] if s["title"].startswith("receptive field"))
    p_out = [it for it in sec["items"] if it.get("name") == "p_out"]
    r_out = [it for it in sec["items"] if it.get("name") == "r_out"]
    assert [(it["substituted"], it["value"]) for it in p_out] == [("0 + 0*1", 0), ("0 + 2*1", 2)]
    assert [it["value"] for it in r_out] == [1, 1]
