"""Attention: MultiheadAttention, scaled_dot_product_attention, matmul, bmm, transpose, softmax.

Expected values are hand arithmetic (written out in the comments) or measured on torch's own modules
and functions (parameters, FlopCounterMode with the math kernel, fvcore, saved_tensors_hooks through
`cnncalc verify`), never our own builders' output."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, analyse_text
from kind_samples import spec_text

VIT = ROOT / "examples" / "tiny_vit.yaml"


def last(text, batch=1, convention=None):
    a = analyse_text(text, batch=batch, convention=convention)
    rep = a.report()
    assert not [d for d in rep["diagnostics"] if d["severity"] == "error"], rep["diagnostics"]
    return rep["layers"][-1], rep


# (node, input shapes, output, params, MACs, default FLOPs)
CASES = [
    # self-attention E=8, H=2 on L=5 tokens: params 4*8*8 + 4*8 = 288 (in_proj 3E*E + 3E, out_proj E*E + E);
    # MACs: Q,K,V,out projections 4*5*8*8 = 1,280 + QK^T 5*5*8 = 200 + AV 5*5*8 = 200 -> 1,680;
    # FLOPs 2*1,680 + bias adds (5 + 2*5)*8 + 5*8 = 160 + scaling H*L*S = 2*25 = 50 + softmax 3*50 = 150
    ("MultiheadAttention(8, 2)", [[5, 8]], [5, 8], 288, 1680, 3360 + 160 + 50 + 150),
    # cross-attention, kdim 6, vdim 4, S=7 keys, no bias: params 8*(8+6+4) + 8*8 = 208;
    # MACs q 5*8*8 = 320, k 7*6*8 = 336, v 7*4*8 = 224, out 320, QK^T 5*7*8 = 280, AV 280 -> 1,760;
    # FLOPs 2*1,760 + scaling 2*35 = 70 + softmax 3*70 = 210
    ("MultiheadAttention(8, 2, bias=False, kdim=6, vdim=4, batch_first=True)", [[5, 8], [7, 6], [7, 4]], [5, 8],
     208, 1760, 3520 + 70 + 210),
    # SDPA, 2 heads: QK^T 2*5*7*4 = 280, AV 2*5*7*3 = 210 -> 490 MACs; scaling 2*5*7 = 70, softmax 3*70 = 210
    ("scaled_dot_product_attention", [[2, 5, 4], [2, 7, 4], [2, 7, 3]], [2, 5, 3], 0, 490, 980 + 70 + 210),
    # matmul [2,5,4] @ [2,4,3]: 2*5*4*3 = 120 MACs
    ("matmul", [[2, 5, 4], [2, 4, 3]], [2, 5, 3], 0, 120, 240),
    # broadcast batch dims: [1,5,4] @ [3,4,2] -> [3,5,2]: 3*5*4*2 = 120 MACs
    ("matmul", [[1, 5, 4], [3, 4, 2]], [3, 5, 2], 0, 120, 240),
    # bmm [5,4] @ [4,3]: 5*4*3 = 60 MACs
    ("bmm", [[5, 4], [4, 3]], [5, 3], 0, 60, 120),
    # transpose swaps dims 1 and 3 (the batch is dim 0): a view, no work
    ("transpose(1, -1)", [[4, 10, 9]], [9, 10, 4], 0, 0, 0),
    # softmax over the last dim: 3 FLOPs per element, 4*10 = 40 elements
    ("softmax(dim=-1)", [[4, 10]], [4, 10], 0, 0, 120),
]


@pytest.mark.parametrize("node,shapes,out,params,macs,flops", CASES, ids=[c[0] + str(len(c[1])) for c in CASES])
def test_attention_kind_table(node, shapes, out, params, macs, flops):
    L, _ = last(spec_text(node, shapes))
    assert L["output_shape"] == out
    assert L["params"] == params
    assert L["macs"] == macs
    assert L["flops"] == flops


def test_batch_scales_work_not_params():
    a, _ = last(spec_text("MultiheadAttention(8, 2)", [[5, 8]]), batch=1)
    b, _ = last(spec_text("MultiheadAttention(8, 2)", [[5, 8]]), batch=3)
    assert b["params"] == a["params"] == 288 and b["macs"] == 3 * a["macs"] == 3 * 1680


@pytest.mark.parametrize("conv,macs,flops", [
    # the self-attention case above: projections 1,280 MACs, attention products 400 MACs
    ("default", 1680, 3720),
    ("paper", 1680, 1680),
    # FlopCounterMode on the CPU: 2 per MAC of the projections' mm; the attention products run in the flash
    # kernel, which it does not count (seq-first: no fast path)
    ("torch", 1280, 2 * 1280),
    ("fvcore", 1280, 1280),                   # fvcore: linear MACs only; it skips scaled_dot_product_attention
])
def test_conventions(conv, macs, flops):
    _, rep = last(spec_text("MultiheadAttention(8, 2)", [[5, 8]]), convention=conv)
    assert rep["totals"]["macs"] == macs and rep["totals"]["flops"] == flops
    blind = rep["conventions"].get("tool_blind_to", {})
    if conv == "fvcore":
        assert list(blind) == ["attention products (scaled_dot_product_attention)"]
    if conv == "torch":
        assert list(blind) == ["attention products in the CPU flash-attention kernel"]


def test_embed_dim_is_inferred_and_checked():
    L, rep = last("cnncalc: 1\ninput: [5, 8]\nlayers:\n  - MultiheadAttention: {num_heads: 4}\n")
    assert rep["layers"][-1]["args"]  # the node reports its arguments
    assert L["params"] == 288


# ------------------------------------------------------------------------------------ errors
def errors(text):
    from cnncalc.errors import SpecErrors
    try:
        a = analyse_text(text)
    except SpecErrors as e:
        return [(d.message, str(d.loc), d.hints) for d in e.diagnostics]
    return [(d.message, str(d.loc), d.hints) for d in a.diagnostics if d.severity == "error"]


@pytest.mark.parametrize("text,line_col,words", [
    ("cnncalc: 1\ninput: [5, 8]\nlayers:\n  - MultiheadAttention: {num_heads: 3}\n", ":4:", ["num_heads=3", "divide"]),
    ("cnncalc: 1\ninput: [5, 8]\nlayers:\n  - MultiheadAttention:\n      num_heads: 2\n      add_bias_kv: true\n",
     ":6:", ["add_bias_kv", "not supported"]),
    ("cnncalc: 1\ninput: [5, 8]\nlayers:\n  - MultiheadAttention:\n      num_heads: 2\n      dropout: 0.1\n",
     ":6:", ["dropout", "not supported"]),
    ("cnncalc: 1\ninput: [8, 4, 4]\nlayers:\n  - MultiheadAttention: {num_heads: 2}\n", ":4:", ["[L, E]", "transpose"]),
    ("cnncalc: 1\ninputs: {q: [5, 8], m: [7, 6]}\nlayers:\n  - MultiheadAttention: {num_heads: 2}\n"
     "    from: [q, m, m]\n", ":4:", ["key has 6 features", "kdim: 6"]),
    ("cnncalc: 1\ninputs: {q: [5, 8], m: [7, 8]}\nlayers:\n  - MultiheadAttention: {num_heads: 2}\n"
     "    from: [q, m]\n", ":4:", ["one input", "three"]),
    ("cnncalc: 1\ninputs: {a: [5, 4], b: [3, 2]}\nlayers:\n  - matmul:\n    from: [a, b]\n", ":4:", ["inner dims", "4 == 3"]),
    ("cnncalc: 1\ninputs: {a: [5, 4], b: [2, 4, 3]}\nlayers:\n  - matmul:\n    from: [a, b]\n", ":4:",
     ["different ranks"]),
    ("cnncalc: 1\ninput: [4, 8]\nlayers:\n  - transpose: {dim0: 0, dim1: 1}\n", ":4:", ["batch"]),
    ("cnncalc: 1\ninputs: {q: [5, 4], k: [7, 4], v: [7, 4]}\nlayers:\n  - scaled_dot_product_attention: "
     "{dropout_p: 0.1}\n    from: [q, k, v]\n", ":4:", ["dropout", "not supported"]),
])
def test_located_errors(text, line_col, words):
    errs = errors(text)
    assert errs, text
    msg, loc, hints = errs[0]
    assert loc.startswith("test.yaml") and line_col in loc, (loc, msg)
    blob = msg + " " + " ".join(hints)
    for w in words:
        assert w in blob, (w, blob)


def test_cli_error_has_no_traceback(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("cnncalc: 1\ninput: [5, 8]\nlayers:\n  - MultiheadAttention:\n      num_heads: 2\n"
                 "      add_zero_attn: true\n")
    r = subprocess.run([sys.executable, "-m", "cnncalc", "analyze", str(p)], capture_output=True, text=True,
                       cwd=ROOT, env=dict(os.environ, COLUMNS="100"))
    assert r.returncode == 2
    assert "bad.yaml:6:22: error" in r.stderr and "Traceback" not in r.stderr + r.stdout


# ------------------------------------------------------------------------------------ against torch
torch = pytest.importorskip("torch")
nn = torch.nn


def _fcm(fn, *xs):
    """FlopCounterMode's forward count as the `torch` preset reproduces it: CPU, default kernels, no_grad."""
    from torch.utils.flop_counter import FlopCounterMode
    fcm = FlopCounterMode(display=False)
    with torch.no_grad(), fcm:
        fn(*xs)
    return fcm.get_total_flops()


def _fcm_math(fn, *xs, train=True):
    """FlopCounterMode's forward count with the math attention kernel (which it sees as bmm)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode
    fcm = FlopCounterMode(display=False)
    with sdpa_kernel(SDPBackend.MATH), fcm:
        fn(*xs)
    return fcm.get_total_flops()


MHA_CASES = [
    # (spec node, torch constructor kwargs, shapes [q, k, v] or [x])
    ("MultiheadAttention(16, 4, batch_first=True)", dict(embed_dim=16, num_heads=4, batch_first=True), [[6, 16]]),
    ("MultiheadAttention(16, 2, bias=False, batch_first=True)", dict(embed_dim=16, num_heads=2, bias=False,
                                                                    batch_first=True), [[6, 16]]),
    ("MultiheadAttention(16, 4, kdim=6, vdim=10, batch_first=True)",
     dict(embed_dim=16, num_heads=4, kdim=6, vdim=10, batch_first=True), [[6, 16], [9, 6], [9, 10]]),
    ("MultiheadAttention(16, 8, batch_first=True)", dict(embed_dim=16, num_heads=8, batch_first=True),
     [[3, 16], [5, 16], [5, 16]]),
]


@pytest.mark.parametrize("node,kw,shapes", MHA_CASES, ids=[c[0] for c in MHA_CASES])
def test_multihead_attention_against_torch(node, kw, shapes):
    """Parameters from torch's own module; FLOPs from FlopCounterMode (math kernel: every product; CPU
    under no_grad: what the `torch` preset reproduces) and fvcore on it."""
    B = 2
    _, rep = last(spec_text(node, shapes), batch=B, convention="torch")
    _, rep_d = last(spec_text(node, shapes), batch=B)
    m = nn.MultiheadAttention(**kw).eval()
    assert rep["totals"]["params"] == sum(p.numel() for p in m.parameters())
    xs = [torch.randn(B, *s) for s in shapes]
    q, k, v = xs * 3 if len(xs) == 1 else xs
    assert 2 * rep_d["totals"]["macs"] == _fcm_math(lambda: m(q, k, v, need_weights=False))
    fcm = _fcm(lambda: m(q, k, v, need_weights=False))
    assert rep["totals"]["flops"] == fcm
    if len(xs) == 1:     # self-attention, even heads, batch_first, bias: the fused fast path, uncounted
        assert fcm == 0 if kw.get("bias", True) and kw["num_heads"] % 2 == 0 else fcm > 0
    from cnncalc.crosscheck.measure import measure_fvcore

    class Call(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = m

        def forward(self, q, k, v):
            return self.m(q, k, v, need_weights=False)[0]
    fv, _, unsupported = measure_fvcore(Call().eval(), [q, k, v])
    _, rep_fv = last(spec_text(node, shapes), batch=B, convention="fvcore")
    assert rep_fv["totals"]["flops"] == fv
    assert "aten::scaled_dot_product_attention" in unsupported      # what the fvcore preset leaves out


@pytest.mark.parametrize("shapes", [[[2, 5, 4], [2, 7, 4], [2, 7, 4]], [[5, 4], [7, 4], [7, 6]]])
def test_sdpa_against_flop_counter(shapes):
    _, rep = last(spec_text("scaled_dot_product_attention", shapes), batch=2, convention="torch")
    _, rep_d = last(spec_text("scaled_dot_product_attention", shapes), batch=2)
    xs = [torch.randn(2, *s) for s in shapes]
    assert 2 * rep_d["totals"]["macs"] == _fcm_math(torch.nn.functional.scaled_dot_product_attention, *xs)
    # the torch preset: the CPU flash kernel (equal feature sizes) is not counted, the math path is
    assert rep["totals"]["flops"] == _fcm(torch.nn.functional.scaled_dot_product_attention, *xs)


def test_matmul_against_flop_counter():
    _, rep = last(spec_text("matmul", [[3, 5, 4], [3, 4, 6]]), batch=2, convention="torch")
    assert rep["totals"]["flops"] == _fcm_math(torch.matmul, torch.randn(2, 3, 5, 4), torch.randn(2, 3, 4, 6))


def test_backward_against_flop_counter_math_kernel():
    """Forward + backward of torch's MultiheadAttention (math kernel) under FlopCounterMode equals the
    analysis less the flash kernel's recomputation of Q K^T, which the math kernel does not do.
    Graph input: no input gradient, so in_proj's backward is its weight gradient only."""
    B, L, E, H = 2, 6, 16, 4
    _, rep = last(spec_text(f"MultiheadAttention({E}, {H}, batch_first=True)", [[L, E]]), batch=B,
                  convention="torch")
    _, rep_d = last(spec_text(f"MultiheadAttention({E}, {H}, batch_first=True)", [[L, E]]), batch=B)
    m = nn.MultiheadAttention(E, H, batch_first=True)
    x = torch.randn(B, L, E)
    fwd_bwd = _fcm_math(lambda: m(x, x, x, need_weights=False)[0].sum().backward())
    recompute = 2 * B * L * L * E          # QK^T once more: B*H*L*S*(E/H) MACs, 2 FLOPs each
    # forward: every product (the math kernel, with grad: no fast path); backward as the torch preset says
    assert 2 * rep_d["totals"]["macs"] + rep["totals"]["bwd_flops"] - recompute == fwd_bwd


def _verify(tmp_path, text):
    from cnncalc.crosscheck.checks import verify
    p = tmp_path / "v.yaml"
    p.write_text(text)
    return verify(str(p), device="cpu")


STEM = "cnncalc: 1\ninputs: {{{ins}}}\nbatch: 2\nlayers:\n"

VERIFY_CASES = {
    # self-attention, batch_first: eval under no_grad takes torch's fused fast path
    "self batch_first": ("x: [6, 16]", ["  - Linear: {out_features: 16}\n    name: s\n",
                                        "  - MultiheadAttention: {num_heads: 4, batch_first: true}\n"]),
    # self-attention, torch's default layout: the built module transposes around itself
    "self seq_first": ("x: [6, 16]", ["  - Linear: {out_features: 16}\n    name: s\n",
                                      "  - MultiheadAttention: {num_heads: 4}\n"]),
    # cross-attention with the key and value one tensor: torch packs their projections
    "cross kv": ("x: [6, 16], m: [9, 16]", ["  - Linear: {out_features: 16}\n    name: s\n    from: x\n",
                                            "  - Linear: {out_features: 16}\n    name: t\n    from: m\n",
                                            "  - MultiheadAttention: {num_heads: 2}\n    from: [s, t, t]\n"]),
    # SDPA on the flash kernel (equal feature sizes) and on the math path (value of another size)
    "sdpa flash": ("x: [2, 6, 8]", ["  - Conv2d: {out_channels: 2, kernel_size: 1}\n    name: s\n",
                                    "  - scaled_dot_product_attention:\n    from: [s, s, s]\n"]),
    "sdpa math": ("x: [6, 8], y: [5, 8], z: [5, 3]",
                  ["  - Conv1d: {out_channels: 6, kernel_size: 1}\n    name: a\n    from: x\n",
                   "  - Conv1d: {out_channels: 5, kernel_size: 1}\n    name: b\n    from: y\n",
                   "  - Conv1d: {out_channels: 5, kernel_size: 1}\n    name: c\n    from: z\n",
                   "  - scaled_dot_product_attention: {is_causal: true}\n    from: [a, b, c]\n"]),
    # attention written by hand: scores, softmax, weighted sum
    "by hand": ("x: [6, 8]", ["  - Linear: {out_features: 8}\n    name: q\n",
                              "  - transpose: {dim0: 1, dim1: 2}\n    name: kt\n",
                              "  - matmul:\n    from: [q, kt]\n", "  - softmax: {dim: -1}\n    name: p\n",
                              "  - bmm:\n    from: [p, q]\n"]),
    "matmul broadcast": ("x: [1, 5, 4], y: [3, 4, 2]",
                         ["  - Conv2d: {out_channels: 1, kernel_size: 1}\n    name: a\n    from: x\n",
                          "  - Conv2d: {out_channels: 3, kernel_size: 1}\n    name: b\n    from: y\n",
                          "  - matmul:\n    from: [a, b]\n"]),
}


@pytest.mark.parametrize("case", sorted(VERIFY_CASES))
def test_verify_attention(case, tmp_path):
    """`cnncalc verify`: shapes, parameters, both FLOP counters and the bytes saved for backward
    (saved_tensors_hooks) agree; no mismatch."""
    ins, layers = VERIFY_CASES[case]
    r = _verify(tmp_path, STEM.format(ins=ins) + "".join(layers))
    bad = [c for c in r["checks"] if c["verdict"] == "mismatch"]
    assert not bad, [(c["check"], c["name"], c["analytical"], c["measured"], c["reason"]) for c in bad]
    saved = [c for c in r["checks"] if c["check"] == "bytes saved for backward"]
    assert saved and saved[0]["verdict"] == "match" and saved[0]["measured"] > 0


def test_verify_says_match_blind_to_kernels_the_counter_cannot_see(tmp_path):
    """FlopCounterMode on the CPU counts neither the flash-attention kernel nor the fused fast path of an
    eval-mode batch_first MultiheadAttention: the torch preset leaves them out and verify says "match,
    FlopCounterMode blind to ...", never "mismatch"."""
    ins, layers = VERIFY_CASES["self batch_first"]
    r = _verify(tmp_path, STEM.format(ins=ins) + "".join(layers))
    tot = [c for c in r["checks"] if c["check"] == "FLOPs (torch convention) vs FlopCounterMode"][0]
    # analysis: Linear 2*2*6*16*16 = 6,144; the attention (2*(2*4*6*16*16 + 2*2*6*6*16) = 29,184) is left out
    assert tot["analytical"] == 6144 and tot["measured"] == 6144
    assert tot["verdict"] == "match" and "blind to" in tot["reason"] and "fast path" in tot["reason"]
    ins, layers = VERIFY_CASES["self seq_first"]
    r = _verify(tmp_path, STEM.format(ins=ins) + "".join(layers))
    per = [c for c in r["checks"] if c["check"] == "FLOPs (torch) per module" and c["scope"] == "module"
           and c["name"].endswith("1")]
    # seq-first: no fast path; the projections are counted (2*4*2*6*16*16 = 24,576), the flash kernel is not
    assert per and per[0]["measured"] == 24576 and per[0]["analytical"] == 24576
    assert per[0]["verdict"] == "match" and "flash" in per[0]["reason"]


# ------------------------------------------------------------------------------------ the tiny ViT
class _Block(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x):
        y = self.norm1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """examples/tiny_vit.yaml written in plain torch."""

    def __init__(self, dim=64, heads=4, mlp=256, classes=10):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, 16, stride=16)
        self.block = _Block(dim, heads, mlp)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        return self.head(self.block(x).mean(dim=1))


def test_tiny_vit_matches_plain_torch():
    from cnncalc.api import analysis_for
    rep = analysis_for(VIT).report()
    assert not [e for e in rep["expect"] if e["verdict"] != "pass"]
    model = TinyViT()
    params = sum(p.numel() for p in model.parameters())
    # every MAC of the plain model is a conv, mm/addmm or bmm under the math attention kernel: FCM / 2
    macs = _fcm_math(model, torch.randn(1, 3, 64, 64)) // 2
    assert rep["totals"]["params"] == params == 99850
    assert rep["totals"]["macs"] == macs == 1606272
    # batch 4: the MACs scale, the parameters do not
    rep4 = analysis_for(VIT, batch=4).report()
    assert rep4["totals"]["macs"] == _fcm_math(model, torch.randn(4, 3, 64, 64)) // 2 == 4 * 1606272


def test_tiny_vit_module_front_end_maps_attention():
    """The plain torch model through the module front end: nn.MultiheadAttention becomes the kind (not an
    opaque node) and the totals equal the spec's."""
    from cnncalc.frontends.module_target import analysis_for_module
    a = analysis_for_module(None, model=TinyViT(), inputs=["3x64x64"])
    ops = {n.name: n.op for n in a.g.nodes if not n.is_input}
    assert ops["block.attn"] == "MultiheadAttention" and "opaque" not in ops.values()
    assert a.totals()["params"] == 99850 and a.totals()["macs"] == 1606272


def test_functions_map_in_the_module_front_end():
    import torch.nn.functional as F
    from cnncalc.frontends.module_target import analysis_for_module

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(8, 24)

        def forward(self, x):
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            p = torch.softmax(torch.matmul(q, k.transpose(1, 2)), dim=-1)
            return p @ v + torch.bmm(p, v) + F.scaled_dot_product_attention(q, k, v)
    a = analysis_for_module(None, model=Net(), inputs=["5x8"])
    ops = [n.op for n in a.g.nodes if not n.is_input]
    assert "opaque" not in ops
    assert ops.count("matmul") == 2 and ops.count("bmm") == 1 and ops.count("scaled_dot_product_attention") == 1
    # qkv 5*8*24 = 960; two products 5*8*5 = 200 each (q k^T, p v), bmm 5*5*8 = 200, SDPA 2*5*5*8 = 400
    assert a.totals()["macs"] == 960 + 200 + 200 + 200 + 400


def test_tiny_vit_verifies_clean():
    from cnncalc.crosscheck.checks import verify
    r = verify(str(VIT), device="cpu")
    assert r["summary"]["mismatch"] == 0, [c for c in r["checks"] if c["verdict"] == "mismatch"]
    # the fused fast path hides the whole attention from FlopCounterMode: the torch preset leaves it out too
    assert any(c["name"] == "block.attn" and c["check"] == "FLOPs (torch) per module" and c["verdict"] == "match"
               and "blind to" in c["reason"] and "fast path" in c["reason"] for c in r["checks"])
    saved = [c for c in r["checks"] if c["check"] == "bytes saved for backward"][0]
    assert saved["verdict"] == "match"
