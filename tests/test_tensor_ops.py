"""einsum, getitem, roll, relative_position_bias, Swin's window attention (2-D, v2, 3-D), patch merging,
grid_sample, StochasticDepth and LayerScale against torch: shapes from torch's own result, parameters
and buffers from the module, FLOPs from FlopCounterMode and fvcore run on the module, through the
module front end."""
from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from cnncalc.frontends.module_target import analysis_for_module  # noqa: E402
from cnncalc.kinds import REGISTRY  # noqa: E402
from cnncalc.kinds.base import check_types  # noqa: E402


def kind(op, kw, shapes, batch=1):
    cls = REGISTRY[op]
    return cls(op, check_types(cls, op, dict(kw)), [tuple(s) for s in shapes], batch)


def flop_counter(m, *xs):
    from torch.utils.flop_counter import FlopCounterMode
    fc = FlopCounterMode(display=False)
    with fc:
        m(*xs)
    return fc.get_total_flops()


def fvcore_total(m, *xs):
    fvcore_nn = pytest.importorskip("fvcore.nn")
    f = fvcore_nn.FlopCountAnalysis(m, xs)
    f.unsupported_ops_warnings(False)
    f.uncalled_modules_warnings(False)
    return f.total()


def analyse(m, shapes, convention=None):
    ins = [("x" if len(shapes) == 1 else f"x{i}") for i in range(len(shapes))]
    spec = [f"{n}={'x'.join(map(str, s))}" for n, s in zip(ins, shapes)] if len(shapes) > 1 else \
        ["x".join(map(str, shapes[0]))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analysis_for_module("m", inputs=spec, model=m, convention=convention)


def ops_of(a):
    return [n.op for n in a.g.nodes if not n.is_input]


# ----------------------------------------------------------------------------- einsum
class Einsum(nn.Module):
    def __init__(self, eq):
        super().__init__()
        self.eq = eq

    def forward(self, a, b):
        return torch.einsum(self.eq, a, b)


@pytest.mark.parametrize("eq,sa,sb", [
    ("bhid,bhjd->bhij", (2, 5, 4), (2, 3, 4)),             # scores: N*h*i*j*d = 1*2*5*3*4 = 120 MACs
    ("B G H I D, B G H J D -> B G H I J", (3, 2, 5, 4), (3, 2, 6, 4)),   # MaxViT's, spaces and capitals
    ("bij,bjk->bik", (5, 4), (4, 3)),                      # abc,abd->acd after renaming: fvcore's special case
])
def test_einsum_against_torch_fvcore_and_flop_counter(eq, sa, sb):
    m = Einsum(eq)
    a, b = torch.randn((1,) + sa), torch.randn((1,) + sb)
    k = kind("einsum", {"equation": eq}, [sa, sb])
    assert k.out_shape == tuple(m(a, b).shape[1:])
    macs = k.terms()[0].count
    assert 2 * macs == flop_counter(m, a, b)
    assert macs == fvcore_total(m, a, b)
    an = analyse(m, [sa, sb])
    assert ops_of(an) == ["einsum"] and an.totals()["macs"] == macs


def test_einsum_fvcore_preset_rounds_as_fvcore():
    # fvcore counts a general einsum from numpy's einsum_path report: 2*P printed as %.3e, halved and floored.
    # N*h*i*j*d = 3*7*13*17*11 = 51,051 MACs; 2*P = 102,102 -> "1.021e+05" = 102,100 -> 51,050
    eq, sa, sb = "bhid,bhjd->bhij", (7, 13, 11), (7, 17, 11)
    m = Einsum(eq)
    a, b = torch.zeros((3,) + sa), torch.zeros((3,) + sb)
    assert fvcore_total(m, a, b) == 51_050
    from cnncalc.conventions import PRESETS, tally
    terms = kind("einsum", {"equation": eq}, [sa, sb], batch=3).terms()
    assert tally(terms, PRESETS["fvcore"]).flops == 51_050
    d = tally(terms, PRESETS["default"])
    assert (d.macs, d.flops, d.excluded) == (51_051, 2 * 51_051, ())     # the truth, nothing reported excluded
    assert tally(terms, PRESETS["torch"]).flops == 2 * 51_051 == flop_counter(m, a, b)


def test_einsum_refuses_the_batch_elsewhere_and_no_contraction():
    from cnncalc.kinds import KindError
    with pytest.raises(KindError, match="batch"):
        kind("einsum", {"equation": "ib,jb->ij"}, [(3,), (3,)])
    with pytest.raises(KindError, match="contracted"):
        kind("einsum", {"equation": "bi,bj->bij"}, [(3,), (4,)])


# ----------------------------------------------------------------------------- getitem, roll
class Index(nn.Module):
    def forward(self, x):
        return x[:, 0] + x[:, 1:3].sum(1) + x[..., ::2].mean(-1, keepdim=True)[:, 0]


def test_getitem_and_roll_equal_torch():
    x = torch.randn(1, 4, 10, 9)
    for ix in ([0], [None, [1, 9, 2]], [-1, [None, None, 3], 2]):
        k = kind("getitem", {"index": ix}, [(4, 10, 9)])
        assert tuple(k.torch_call(None, [x]).shape[1:]) == k.out_shape
        assert k.terms() == [] and k.view
    k = kind("roll", {"shifts": [-3, 2], "dims": [2, 3]}, [(4, 10, 9)])
    assert torch.equal(k.torch_call(None, [x]), torch.roll(x, (-3, 2), (2, 3)))


def test_roll_index_sets_follow_torch():
    k = kind("roll", {"shifts": [2], "dims": [2]}, [(1, 9)])
    x = torch.zeros(1, 1, 9, requires_grad=True)
    y = torch.roll(x, 2, 2)
    y[0, 0, 0].backward()                       # output 0 reads input (0 - 2) mod 9 = 7
    read = int(x.grad[0, 0].nonzero()[0, 0])
    assert read == 7
    assert k.rf_index((1 << 0,))[0] == 1 << 7


def test_indexing_maps_to_getitem_views():
    a = analyse(Index(), [(4, 10, 9)])
    assert "getitem" in ops_of(a) and not a.info["opaque"]


# ----------------------------------------------------------------------------- relative position bias
class RelBias(nn.Module):
    """MaxViT's: table[index.view(-1)].view(P, P, -1).permute(2, 0, 1).contiguous().unsqueeze(0) + scores."""

    def __init__(self, w=3, heads=2):
        super().__init__()
        self.P = w * w
        self.table = nn.Parameter(torch.randn((2 * w - 1) ** 2, heads))
        self.register_buffer("index", torch.randint(0, (2 * w - 1) ** 2, (self.P, self.P)))

    def forward(self, s):
        b = self.table[self.index.view(-1)].view(self.P, self.P, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
        return s + b


def test_relative_position_bias_is_one_node_with_the_table_and_the_index():
    m = RelBias()
    a = analyse(m, [(4, 2, 9, 9)])
    assert ops_of(a) == ["relative_position_bias"] and not a.info["opaque"]
    t = a.totals()
    assert t["params"] == sum(p.numel() for p in m.parameters()) == 25 * 2
    assert t["buffers"] == sum(b.numel() for b in m.buffers()) == 81
    # one add per score: 4 windows x 2 heads x 9 x 9
    assert t["flops"] == 4 * 2 * 9 * 9
    k = kind("relative_position_bias", {"table_size": 25}, [(4, 2, 9, 9)])
    tm = k.torch_module()
    assert sum(p.numel() for p in tm.parameters()) == k.params().value
    assert sum(b.numel() for b in tm.buffers()) == k.buffers().value


# ----------------------------------------------------------------------------- Swin
tv = pytest.importorskip("torchvision")


def _swin_cases():
    from torchvision.models import swin_transformer as sw
    from torchvision.models.video import swin_transformer as sw3
    return [
        # padded 10 -> 12 with window 4, shift active (4 < 12): 9 windows of 16 tokens
        ("ShiftedWindowAttention", sw.ShiftedWindowAttention(8, [4, 4], [2, 2], 2), (10, 10, 8)),
        # the window covers the padded map: no shift, 1 window
        ("ShiftedWindowAttention", sw.ShiftedWindowAttention(8, [7, 7], [3, 3], 2, qkv_bias=False), (5, 6, 8)),
        ("ShiftedWindowAttentionV2", sw.ShiftedWindowAttentionV2(8, [4, 4], [2, 2], 2), (8, 8, 8)),
        # a window larger than the clip in time shrinks to it (T 2 <= 4): no shift in time
        ("ShiftedWindowAttention3d", sw3.ShiftedWindowAttention3d(8, [4, 3, 3], [2, 1, 1], 2), (2, 7, 6, 8)),
    ]


@pytest.mark.parametrize("case", range(4))
def test_window_attention_equals_torchvision_module(case):
    op, m, shape = _swin_cases()[case]
    m = nn.Sequential(m).eval()          # the root module is traced through: wrap it
    x = torch.randn((1,) + shape)
    a = analyse(m, [shape])
    assert ops_of(a) == [op] and not a.info["opaque"]
    assert a.totals()["params"] == sum(p.numel() for p in m.parameters())
    assert a.totals()["buffers"] == sum(b.numel() for b in m.buffers())
    assert a.g.nodes[-1].out_shapes[0] == tuple(m(x).shape[1:])
    assert analyse(m, [shape], "torch").totals()["flops"] == flop_counter(m, x)
    assert analyse(m, [shape], "fvcore").totals()["flops"] == fvcore_total(m, x)
    # its torch builder is torchvision's module with the same parameter count
    k = a.g.nodes[-1].kind
    assert sum(p.numel() for p in k.torch_module().parameters()) == a.totals()["params"]


def _saved_by_torch(m, x):
    """Bytes autograd saves (storages counted once; parameters, buffers and the input excluded)."""
    skip = {t.untyped_storage().data_ptr() for t in list(m.parameters()) + list(m.buffers()) + [x]}
    seen = {}

    def pack(t):
        st = t.untyped_storage()
        if st.data_ptr() not in skip:
            seen[st.data_ptr()] = st.nbytes()
        return t.detach()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        m(x)
    return sum(seen.values())


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("shape,window", [((4, 4, 48), 7), ((10, 10, 8), 4)])
def test_window_attention_saved_bytes_equal_torch(shape, window, batch):
    # Swin-T's last stages at a 64x64 input: a 4x4 map padded to one 7x7 window.  At batch 1 with one window,
    # matmul keeps k and v as views of the whole qkv output: 6 token-sized tensors instead of 5; else 5.
    from torchvision.models import swin_transformer as sw
    m = sw.ShiftedWindowAttention(shape[-1], [window, window], [window // 2] * 2, 2).train()
    x = torch.randn((batch,) + shape)
    from cnncalc.kinds.base import kept_saved
    k = kind("ShiftedWindowAttention", {"dim": shape[-1], "window_size": window, "shift_size": window // 2,
                                        "num_heads": 2}, [shape], batch)
    ours = sum(s.numel * (batch if s.batched else 1) * 4 for s in kept_saved(k.saved(), True))
    assert ours == _saved_by_torch(m, x)
    if shape == (4, 4, 48):
        # tok = 49 tokens * 48 channels * 4 bytes = 9,408 B; scores 2 heads * 49 * 49 * 4 = 19,208 B
        assert ours == batch * (5 * 9_408 + 19_208) + (9_408 if batch == 1 else 0)


def test_window_attention_counts_by_hand():
    # ShiftedWindowAttention(8, [4, 4], [2, 2], 2) on 10x10x8: padded to 12x12, nW = 9, P = 16, C = 8,
    # h = 2, L = nW*P = 144 tokens.  MACs: qkv 144*8*24 = 27,648; q k^T and attn v 144*16*8 = 18,432 each;
    # proj 144*8*8 = 9,216: 73,728.
    op, m, shape = _swin_cases()[0]
    k = kind(op, {"window_size": [4, 4], "shift_size": [2, 2], "num_heads": 2}, [shape])
    assert (k.nW, k.P, k.shifted) == (9, 16, True)
    assert sum(t.count for t in k.terms() if t.rules[0] in ("linear", "matmul")) == 73728


def test_patch_merging_pad_equals_torchvision():
    from torchvision.models.swin_transformer import PatchMerging, _patch_merging_pad
    for s in ((5, 6, 4), (3, 7, 5, 4)):
        x = torch.randn((1,) + s)
        k = kind("patch_merging_pad", {}, [s])
        assert k.out_shape == tuple(_patch_merging_pad(x).shape[1:])
    m = nn.Sequential(PatchMerging(4)).eval()
    a = analyse(m, [(5, 6, 4)])
    assert ops_of(a) == ["patch_merging_pad", "LayerNorm", "Linear"] and not a.info["opaque"]
    x = torch.randn(1, 5, 6, 4)
    assert analyse(m, [(5, 6, 4)], "torch").totals()["flops"] == flop_counter(m, x)
    assert analyse(m, [(5, 6, 4)], "fvcore").totals()["flops"] == fvcore_total(m, x)


# ----------------------------------------------------------------------------- grid_sample
class Sample(nn.Module):
    def forward(self, x, g):
        return F.grid_sample(x, g, align_corners=False)


def test_grid_sample_shapes_and_tools():
    m = Sample()
    x, g = torch.randn(1, 3, 8, 8), torch.rand(1, 5, 6, 2) * 2 - 1
    a = analyse(m, [(3, 8, 8), (5, 6, 2)])
    assert ops_of(a) == ["grid_sample"]
    assert a.g.nodes[-1].out_shapes[0] == tuple(m(x, g).shape[1:]) == (3, 5, 6)
    # fvcore: 4 per output element, 3*5*6 = 90 -> 360; FlopCounterMode has no formula: 0
    assert analyse(m, [(3, 8, 8), (5, 6, 2)], "fvcore").totals()["flops"] == fvcore_total(m, x, g) == 360
    assert analyse(m, [(3, 8, 8), (5, 6, 2)], "torch").totals()["flops"] == flop_counter(m, x, g) == 0
    # default: 7 per bilinear sample (4 mul + 3 add), 90 -> 630, plus 2 per grid coordinate: 2*30*2 = 120
    assert a.totals()["flops"] == 630 + 120


# ----------------------------------------------------------------------------- StochasticDepth, LayerScale
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        from torchvision.ops import Permute, StochasticDepth
        self.conv = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.perm = Permute([0, 2, 3, 1])
        self.norm = nn.LayerNorm(4)
        self.back = Permute([0, 3, 1, 2])
        self.layer_scale = nn.Parameter(torch.full((4, 1, 1), 1e-6))
        self.sd = StochasticDepth(0.1, "row")

    def forward(self, x):
        return x + self.sd(self.layer_scale * self.back(self.norm(self.perm(self.conv(x)))))


def test_convnext_block_pieces_are_kinds():
    m = Block().eval()
    a = analyse(m, [(4, 6, 6)])
    assert ops_of(a) == ["Conv2d", "permute", "LayerNorm", "permute", "LayerScale", "StochasticDepth", "add"]
    assert a.totals()["params"] == sum(p.numel() for p in m.parameters()) == 4 * 9 + 4 + 8 + 4
    ls = [n for n in a.g.nodes if n.op == "LayerScale"][0]
    assert ls.module == "layer_scale" and ls.kind.params().value == 4
    # eval: the identity, no work; one multiply per element for the scale (4*6*6)
    sd = [n for n in a.g.nodes if n.op == "StochasticDepth"][0]
    assert sd.kind.eval_identity
    assert ls.kind.terms()[0].count == 144
    k = kind("StochasticDepth", {"p": 0.1, "mode": "row"}, [(4, 6, 6)])
    tm = k.torch_module()
    x = torch.randn(8, 4, 6, 6)
    assert torch.equal(tm.eval()(x), x)                        # eval: the identity
    y = tm.train()(x)
    kept = (y.flatten(1) != 0).any(1)                         # row mode: whole samples dropped or scaled
    assert torch.allclose(y[kept], x[kept] / 0.9)


# ----------------------------------------------------------------------------- pad
@pytest.mark.parametrize("shape,pad,mode", [
    ((5, 6, 4), (0, 0, 1, 2), "constant"),         # channels-last: W padded 1 before, 2 after (Swin's pad)
    ((4, 10, 9), (-1, 2), "constant"),             # a negative amount crops
    ((4, 10, 9), (1, 1, 2, 0), "reflect"),
    ((4, 10), (3, 3), "circular"),
    ((4, 6, 7, 5), (1, 0, 0, 1, 2, 2), "replicate"),
])
def test_pad_shapes_and_mapping_equal_torch(shape, pad, mode):
    x = torch.randn((1,) + shape)
    k = kind("pad", {"pad": list(pad), "mode": mode}, [shape])
    assert k.out_shape == tuple(F.pad(x, list(pad), mode=mode).shape[1:])
    assert torch.equal(k.torch_call(None, [x]), F.pad(x, list(pad), mode=mode))

    class P(nn.Module):
        def forward(self, x):
            return F.pad(x, list(pad), mode=mode)
    a = analyse(P(), [shape])
    assert not a.info["opaque"] and a.totals()["flops"] == 0


def test_pad_index_sets_follow_torch():
    # reflect, 2 on the left of a length-6 axis: output 0 reads input 2 (torch's gradient says so)
    k = kind("pad", {"pad": [2, 0], "mode": "reflect"}, [(1, 6)])
    x = torch.zeros(1, 1, 6, requires_grad=True)
    F.pad(x, [2, 0], mode="reflect")[0, 0, 0].backward()
    assert int(x.grad[0, 0].nonzero()[0, 0]) == 2
    assert k.rf_index((1 << 0,))[0] == 1 << 2


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_refuses_what_torch_refuses(mode):
    from cnncalc.kinds import KindError
    for shape in ((4,), (4, 10), (4, 10, 9), (4, 6, 7, 5), (2, 3, 4, 5, 6)):
        for k in (1, 2, 3):
            try:
                F.pad(torch.randn((1,) + shape), [1] * (2 * k), mode=mode)
                ok = True
            except (RuntimeError, NotImplementedError, ValueError):
                ok = False
            try:
                kind("pad", {"pad": [1] * (2 * k), "mode": mode}, [shape])
                ours = True
            except KindError:
                ours = False
            assert ours == ok, (shape, k, mode, ok)


# ----------------------------------------------------------------------------- MViT
class _Attn(nn.Module):
    def __init__(self, m, thw):
        super().__init__()
        self.attn = m
        self.thw = thw

    def forward(self, x):
        return self.attn(x, self.thw)[0]


@pytest.mark.parametrize("rel", [False, True])
def test_mvit_attention_equals_torchvision_module(rel):
    from torchvision.models.video.mvit import MultiscaleAttention
    thw = (2, 4, 4)
    m = _Attn(MultiscaleAttention(list(thw), 8, 16, 2, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 2, 2], True, not rel,
                                  rel), thw).eval()
    shape = (1 + 2 * 4 * 4, 8)
    x = torch.randn((1,) + shape)
    a = analyse(m, [shape])
    assert ops_of(a) == ["MultiscaleAttention"] and not a.info["opaque"]
    assert a.totals()["params"] == sum(p.numel() for p in m.parameters())
    assert a.g.nodes[-1].out_shapes[0] == tuple(m(x).shape[1:]) == (1 + 2 * 2 * 2, 16)
    assert analyse(m, [shape], "torch").totals()["flops"] == flop_counter(m, x)
    if not rel:      # with relative positions fvcore's einsum count is rounded (docs: test_torchvision_builders)
        assert analyse(m, [shape], "fvcore").totals()["flops"] == fvcore_total(m, x)


def test_mvit_skip_pool_and_positions_equal_torchvision():
    from torchvision.models.video.mvit import Pool, PositionalEncoding
    thw = (2, 4, 4)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.pos = PositionalEncoding(8, (4, 4), 2, False)
            self.skip = Pool(nn.MaxPool3d([3, 3, 3], stride=[1, 2, 2], padding=[1, 1, 1]), None)

        def forward(self, x):
            return self.skip(self.pos(x), thw)[0]
    m = Net().eval()
    a = analyse(m, [(32, 8)])
    assert ops_of(a) == ["MViTPositionalEncoding", "MViTPool"] and not a.info["opaque"]
    # class token 8, spatial 16*8, temporal 2*8, class position 8
    assert a.totals()["params"] == sum(p.numel() for p in m.parameters()) == 8 + 128 + 16 + 8
    x = torch.randn(1, 32, 8)
    assert a.g.nodes[-1].out_shapes[0] == tuple(m(x).shape[1:]) == (1 + 2 * 2 * 2, 8)
