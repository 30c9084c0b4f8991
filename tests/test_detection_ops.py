"""torchvision's RoI and box operators in a captured module: ``roi_align`` and ``nms``.  Their rows are the
boxes the run found (a data-dependent count, named by the report).  Expected values: torch measured in the
test, or hand arithmetic in the comments."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
nn = torch.nn

from cnncalc.frontends.module_target import analysis_for_module  # noqa: E402


SCORES = torch.linspace(0, 1, 64)


def _boxes():
    ij = torch.arange(64)
    y0 = (ij // 8).float()
    x0 = (ij % 8).float()
    return torch.stack([x0, y0, x0 + 3, y0 + 3], dim=1)     # [64, 4]: 3x3 boxes, overlapping


def _kept():
    """How many boxes NMS keeps, computed here with torchvision."""
    return torchvision.ops.nms(_boxes(), SCORES, 0.3).shape[0]


class Head(nn.Module):
    """Fixed boxes scored by a conv, NMS keeps some, RoIAlign pools the kept ones, a Linear reads them."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.score = nn.Conv2d(4, 1, 1)
        self.fc = nn.Linear(4 * 2 * 2, 3)

    def forward(self, x):
        f = self.conv(x)                                   # [1, 4, 8, 8]
        s = self.score(f).flatten() * 0 + SCORES           # [64]: one score per pixel, fixed (M is known)
        keep = torchvision.ops.nms(_boxes(), s, 0.3)
        boxes = _boxes()
        rois = torch.cat([torch.zeros(keep.shape[0], 1), boxes[keep]], dim=1)   # [M, 5]
        pooled = torchvision.ops.roi_align(f, rois, (2, 2), spatial_scale=1.0, sampling_ratio=2)
        return self.fc(pooled.flatten(1))


def _analysis():
    torch.manual_seed(0)
    m = Head().eval()
    return analysis_for_module(None, inputs=["3x8x8"], batch=1, model=m, seed=0), m


def test_roi_align_and_nms_are_kinds_with_the_runs_counts():
    a, m = _analysis()
    by = {L["name"]: L for L in a.report()["layers"]}
    nms = by["nms"]
    roi = by["roi_align"]
    M = _kept()
    assert 1 < M < 64 and nms["batch"] == M
    assert nms["op"] == "nms" and nms["output_shape"] == []
    # NMS writes M int64 indices: 8 bytes each
    assert nms["output_bytes"] == 8 * M
    # roi_align: [M, 4, 2, 2]; 4 bilinear samples per bin (sampling_ratio 2 -> 2x2), each 4 mul + 3 add, and
    # the average of the 4: 3 adds + 1 divide -> (7 + 1) * 4 = 32 FLOPs per output value
    assert roi["op"] == "roi_align" and roi["batch"] == M and roi["output_shape"] == [4, 2, 2]
    assert roi["flops"] == M * 4 * 2 * 2 * 32
    assert roi["macs"] == 0
    # the Linear runs on the M pooled boxes: M * 16 * 3 MACs
    assert by["fc"]["macs"] == M * 16 * 3 and by["fc"]["batch"] == M
    # nms's comparisons are data dependent: reported as not counted, never as zero
    assert "nms" in a.report()["conventions"]["excluded_with_work"]
    assert a.info["opaque"] == [] or all(a.g.nodes[i].name not in ("nms", "roi_align") for i in a.info["opaque"])
    # both are named data-dependent sources
    dd = {L["name"] for L in a.report()["layers"] if L.get("data_dependent")}
    assert {"roi_align", "fc"} <= dd


def test_roi_align_saves_only_the_boxes():
    """torchvision's RoIAlign keeps the boxes for backward (measured with saved-tensor hooks)."""
    a, _ = _analysis()
    roi = next(L for L in a.report()["layers"] if L["name"] == "roi_align")
    M = roi["batch"]
    f = torch.randn(1, 4, 8, 8, requires_grad=True)
    rois = torch.cat([torch.zeros(M, 1), torch.rand(M, 2) * 4, torch.rand(M, 2) * 4 + 4], dim=1)
    kept = []

    def pack(t):
        kept.append(t)
        return t.detach()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        torchvision.ops.roi_align(f, rois, (2, 2), spatial_scale=1.0, sampling_ratio=2)
    assert sum(t.numel() * t.element_size() for t in kept) == M * 5 * 4
    assert roi["saved_bytes"] == M * 5 * 4


def test_flop_counters_agree_on_the_head():
    """Neither counter has a formula for roi_align or nms: the presets leave them out, and equal the tools."""
    from fvcore.nn import FlopCountAnalysis
    from torch.utils.flop_counter import FlopCounterMode
    torch.manual_seed(0)
    m = Head().eval()
    x = torch.randn(1, 3, 8, 8)
    M = _kept()
    at = analysis_for_module(None, inputs=["3x8x8"], batch=1, model=m, convention="torch", seed=0)
    fc = FlopCounterMode(display=False)
    with torch.no_grad(), fc:
        m(x)
    # conv 4*64 outputs * 27 taps, score 64 * 4, fc M * 16 * 3; FlopCounterMode: 2 FLOPs per MAC
    assert at.report()["totals"]["flops"] == 2 * (4 * 64 * 27 + 64 * 4 + M * 16 * 3) == fc.get_total_flops()
    af = analysis_for_module(None, inputs=["3x8x8"], batch=1, model=m, convention="fvcore", seed=0)
    fv = FlopCountAnalysis(m, x)
    fv.unsupported_ops_warnings(False)
    fv.uncalled_modules_warnings(False)
    assert af.report()["totals"]["flops"] == fv.total()


class BoxCoding(nn.Module):
    """The pointwise functions a detector's box coding uses, on activations."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.c(x)
        a = torch.exp(y) + torch.log2(y.abs() + 1) + y.clamp(min=0, max=1) + torch.sqrt(y * y + 1) + y.floor()
        m = (y > 0.5) & (y < 2)
        return torch.where(m, a, y) * 2


def test_pointwise_functions_are_analysed_and_agree_with_torch():
    """Every call is a kind (no opaque node); verify measures the module itself: shapes, both FLOP counters and
    the bytes autograd saves (exp keeps its output, log2 and clamp their input, where its bool condition)."""
    from cnncalc.crosscheck.checks import verify_analysis
    torch.manual_seed(0)
    m = BoxCoding()
    a = analysis_for_module(None, inputs=["3x8x8"], batch=2, model=m)
    assert a.info["opaque"] == []
    by = {L["name"]: L for L in a.report()["layers"]}
    n = 2 * 4 * 8 * 8       # elements of y: 512
    assert by["exp"]["flops"] == n and by["clamp"]["flops"] == 2 * n      # clamp to [0, 1]: two bounds
    assert by["gt"]["output_bytes"] == n * 1 and by["and"]["output_bytes"] == n    # bool: 1 byte each
    assert by["where"]["saved_bytes"] == n * 1        # its condition, 1 byte per element
    assert by["exp"]["saved_bytes"] == n * 4          # its float32 output
    res = verify_analysis(a, lambda convention=None, batch=None: analysis_for_module(
        None, inputs=["3x8x8"], batch=2, model=m, convention=convention), device="cpu", probe=False)
    assert res["summary"]["mismatch"] == 0
    names = {c["check"] for c in res["checks"] if c["verdict"] == "match"}
    assert "bytes saved for backward (own module)" in names


class Rows(nn.Module):
    """Rows picked by a score threshold (a mask), by the indices of the best ones, sliced and selected."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):                       # x: [N, 4] rows
        y = self.fc(x)
        kept = y[y[:, 0] > 0]                   # a boolean mask: the rows whose first score is positive
        best = y[torch.argsort(y[:, 1])[:3]]    # an index tensor: three rows
        return kept.sum() + best.sum() + y[1:].sum() + y[0].sum()


def test_rows_by_mask_index_slice_and_select_agree_with_torch():
    from cnncalc.crosscheck.checks import verify_analysis
    torch.manual_seed(0)
    m = Rows()
    a = analysis_for_module(None, inputs=["4"], batch=8, model=m, seed=0)
    by = {L["name"]: L for L in a.report()["layers"]}
    idx = [L for L in a.report()["layers"] if L["op"] == "batch_index"]
    assert len(idx) == 2
    # the mask keeps the rows of this run (its batch); the 3 best rows are 3 at any batch: no batch, [3, 4]
    best = next(L for L in idx if L["output_shape"] == [3, 4])
    assert best["batch"] is None and best["output_bytes"] == 3 * 4 * 4
    kept = next(L for L in idx if L is not best)
    assert kept["output_shape"] == [4] and kept["output_bytes"] == kept["batch"] * 4 * 4
    # torch keeps the boolean mask itself (measured: saved_tensors_hooks give the [8] bool tensor): 8 bytes
    assert kept["saved_bytes"] == 8 * 1
    res = verify_analysis(a, lambda convention=None, batch=None: analysis_for_module(
        None, inputs=["4"], batch=8, model=m, convention=convention, seed=0), device="cpu", probe=False)
    assert res["summary"]["mismatch"] == 0, [c for c in res["checks"] if c["verdict"] == "mismatch"]
    saved = [c for c in res["checks"] if c["check"] == "bytes saved for backward (own module)"]
    assert saved and all(c["verdict"] == "match" for c in saved)
    del by
