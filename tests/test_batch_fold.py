"""Tensors whose batch is not the graph's: two images run as one batch of 2N, pixels folded into the batch
(RAFT's correlation volume), constants with no batch (coordinate grids), ``detach``.

Every expected figure comes from the real module (forward hooks, FlopCounterMode, fvcore, saved-tensor hooks,
run by ``verify_analysis`` or here) or from hand arithmetic written in the comments."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from cnncalc.frontends.module_target import analysis_for_module  # noqa: E402


class Flow(nn.Module):
    """A RAFT in miniature: one encoder for both images (cat along the batch, then split), an all-pairs
    correlation folded into the batch and pooled, a coordinate grid built from arange, a detach."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.head = nn.Conv2d(16 + 2, 2, 1)

    def forward(self, image1, image2):
        n = image1.shape[0]
        f = self.enc(torch.cat([image1, image2], dim=0))         # [2N, 4, 4, 4]
        f1, f2 = torch.split(f, [n, n], dim=0)
        h, w = f1.shape[-2:]
        corr = f1.view(n, 4, h * w).transpose(1, 2) @ f2.view(n, 4, h * w)      # [N, 16, 16]
        corr = corr.reshape(n * h * w, 1, h, w)                   # every pixel a sample: [16N, 1, 4, 4]
        corr = F.avg_pool2d(corr, 2, stride=2)                    # [16N, 1, 2, 2]
        corr = corr.view(n, h, w, 4).permute(0, 3, 1, 2) * 2.0    # [N, 4, 4, 4]
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        grid = torch.stack([xs, ys]).float()[None].repeat(n, 1, 1, 1)   # [N, 2, 4, 4], no batch until repeat
        grid = grid.detach()
        x = torch.cat([corr, corr * f1[:, :1], f1, f2 * 0.5, grid], dim=1)   # 4 + 4 + 4 + 4 + 2 = 18
        return self.head(x)


def _analysis(batch, convention=None):
    torch.manual_seed(0)
    m = Flow().eval()
    return analysis_for_module(None, inputs=["image1=3x8x8", "image2=3x8x8"], batch=batch, model=m,
                               convention=convention), m


@pytest.mark.parametrize("batch", [1, 3])
def test_no_opaque_node_and_each_tensor_has_its_batch(batch):
    a, m = _analysis(batch)
    assert a.info["opaque"] == []
    by = {L["name"]: L for L in a.report()["layers"]}
    N = batch
    assert by["cat"]["batch"] == 2 * N and by["cat"]["output_shape"] == [3, 8, 8]
    assert by["enc"]["batch"] == 2 * N and by["enc"]["output_shape"] == [4, 4, 4]
    assert "batch" not in by["split"] and by["split"]["output_shape"] == [[4, 4, 4], [4, 4, 4]]
    assert by["reshape"]["batch"] == 16 * N and by["reshape"]["output_shape"] == [1, 4, 4]
    assert by["avg_pool2d"]["batch"] == 16 * N
    assert by["arange"]["batch"] is None and by["arange"]["output_shape"] == [4]
    assert by["getitem"]["batch"] is None and by["getitem"]["output_shape"] == [1, 2, 4, 4]
    assert "batch" not in by["repeat"] and by["repeat"]["output_shape"] == [2, 4, 4]
    # conv on the 2N batch: 2N * (4*4*4 outputs) * 27 MACs each = 3,456 N
    assert by["enc"]["macs"] == 2 * N * 64 * 27
    # avg_pool2d 2x2 on [16N, 1, 4, 4]: 16N * 4 outputs * 4 taps -> counted as in a plain AvgPool2d
    pool = by["avg_pool2d"]
    assert pool["output_bytes"] == 16 * N * 1 * 2 * 2 * 4      # 16N samples of 1x2x2 float32
    # params: enc 4*3*9 + 4 = 112, head 2*18 + 2 = 38
    assert a.report()["totals"]["params"] == 112 + 38 == sum(p.numel() for p in m.parameters())


def test_activation_bytes_equal_the_tensors_torch_allocates():
    """Every output the analysis says is allocated, at batch 2, against the real outputs' sizes: views
    (split, reshape, view, transpose, getitem, detach) allocate nothing."""
    a, m = _analysis(2)
    rep = a.report()
    got = {L["name"]: L["output_bytes"] for L in rep["layers"]}
    # by hand, float32 (4 B), N = 2: cat 2N*3*8*8 = 768 el; enc 2N*4*4*4 = 256; reshape [16N,1,4,4] = 512;
    # avg_pool2d 16N*1*2*2 = 128; arange 4 int64 (8 B each; one tensor, no batch)
    assert got["cat"] == 768 * 4 and got["enc"] == 256 * 4
    assert got["reshape"] == 512 * 4 and got["avg_pool2d"] == 128 * 4
    assert got["arange"] == 4 * 8


def test_verify_on_the_module_agrees_everywhere():
    """Shapes (batch included) of every node, parameters, both FLOP counters and the bytes autograd saves,
    measured on the module itself: all match (the grid is detached and the constant 0.5/arange inputs
    need no gradient: torch keeps `f2 * 0.5`'s nothing and `corr * f1`'s both operands)."""
    from cnncalc.crosscheck.checks import verify_analysis
    a, m = _analysis(2)
    res = verify_analysis(a, lambda convention=None, batch=None: _analysis(2, convention)[0], device="cpu",
                          probe=False)
    bad = [c for c in res["checks"] if c["verdict"] == "mismatch"]
    assert bad == []
    shapes = [c for c in res["checks"] if c["check"] == "output shape (own module)"]
    by = {c["name"]: c for c in shapes}
    assert by["cat"]["measured"] == "[4, 3, 8, 8]" and by["reshape"]["measured"] == "[32, 1, 4, 4]"
    assert by["arange"]["measured"] == "[4]"
    names = {c["check"] for c in res["checks"] if c["verdict"] == "match"}
    assert "bytes saved for backward (own module)" in names
    assert "FLOPs (torch convention) vs FlopCounterMode (own module)" in names


def test_presets_equal_the_counters():
    from fvcore.nn import FlopCountAnalysis
    from torch.utils.flop_counter import FlopCounterMode
    a, m = _analysis(2, "torch")
    xs = (torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8))
    fc = FlopCounterMode(display=False)
    with torch.no_grad(), fc:
        m(*xs)
    assert a.report()["totals"]["flops"] == fc.get_total_flops()
    fv = FlopCountAnalysis(m, xs)
    fv.unsupported_ops_warnings(False)
    fv.uncalled_modules_warnings(False)
    assert _analysis(2, "fvcore")[0].report()["totals"]["flops"] == fv.total()


def test_detach_stops_the_gradient():
    a, _ = _analysis(1)
    g = a.g
    det = next(n for n in g.nodes if n.name == "detach")
    assert not a.flow.in_autograd[det.id]


def test_mul_by_a_constant_keeps_only_what_the_gradient_needs():
    """x * c with c a constant (no gradient): torch keeps c (for x's gradient), not x; measured here."""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            c = torch.arange(4.0).view(1, 1, 1, 4)
            return self.conv(x) * c

    m = M()
    a = analysis_for_module(None, inputs=["3x4x4"], batch=2, model=m)
    mul = next(L for L in a.report()["layers"] if L["name"] == "mul")
    kept = []

    def pack(t):
        kept.append(t)
        return t.detach()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = m.conv(torch.randn(2, 3, 4, 4))
        before = len(kept)
        y * torch.arange(4.0).view(1, 1, 1, 4)
    saved = kept[before:]
    # torch keeps the constant only: 4 floats = 16 bytes
    assert sum(t.numel() * t.element_size() for t in saved) == 16
    assert mul["saved_bytes"] == 16


def test_table_shows_the_batch_of_each_tensor():
    from cnncalc.render.table import layer_shape
    assert layer_shape({"output_shape": [4, 4, 4], "batch": 6}) == "4x4x4 (batch 6)"
    assert layer_shape({"output_shape": [4], "batch": None}) == "4 (no batch)"
    assert layer_shape({"output_shape": [4, 4, 4]}) == "4x4x4"


def test_unsqueeze_squeeze_and_none_indexing_are_views():
    """x.unsqueeze(2), x[:, None], x.squeeze(1): reshapes that allocate nothing; verify on the module agrees."""
    from cnncalc.crosscheck.checks import verify_analysis

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)                        # [N, 4, 6, 6]
            a = y.unsqueeze(2) * y[:, :, None]      # [N, 4, 1, 6, 6]
            return a.squeeze(2) + y

    m = M()
    a = analysis_for_module(None, inputs=["3x6x6"], batch=2, model=m)
    assert a.info["opaque"] == []
    views = [L for L in a.report()["layers"] if L["op"] == "reshape"]
    assert len(views) == 3 and all(L["output_bytes"] and a.layer[next(
        n.id for n in a.g.nodes if n.name == L["name"])]["alloc_bytes"] == 0 for L in views)
    res = verify_analysis(a, lambda convention=None, batch=None: analysis_for_module(
        None, inputs=["3x6x6"], batch=2, model=m, convention=convention), device="cpu", probe=False)
    assert res["summary"]["mismatch"] == 0
