"""The RoI and box operators of torchvision's detectors, as kinds of captured modules: ``roi_align`` and
``nms`` (``torch.ops.torchvision``).  Both take boxes: their rows are the boxes a run found, so their batch
is that run's count (a data-dependent count, named as such by the report), not the images'.

- ``roi_align(input [N, C, H, W], rois [K, 5], spatial_scale, oh, ow, sampling_ratio, aligned)`` ->
  ``[K, C, oh, ow]``: each output value averages ``sr_h * sr_w`` bilinear samples of its bin (sampling_ratio
  ``sr`` per axis).  With ``sampling_ratio <= 0`` the count per bin is ``ceil(box size / bin count)``, which
  depends on each box: not modelled (the call stays opaque, with that reason).
- ``nms(boxes [K, 4], scores [K], iou_threshold)`` -> the kept indices ``[M]`` (int64): how many box pairs it
  compares depends on which boxes suppress which (at most K(K-1)/2 IoUs after a sort): reported as work
  not counted, never as zero.
"""
from __future__ import annotations

from ..figure import Figure
from ..kinds.base import RFStep, Saved, Term
from .capture import Ref
from .kinds import CapturedKind


class RoIAlign(CapturedKind):
    family = "pool"
    N_INPUTS = (2, 2)

    def __init__(self, in_shapes, in_batches, K, pooled, sampling_ratio, spatial_scale, aligned):
        self.op = "roi_align"
        self.in_batches = list(in_batches)
        self.sr = sampling_ratio
        super().__init__("roi_align", {"output_size": tuple(pooled), "spatial_scale": spatial_scale,
                                       "sampling_ratio": sampling_ratio, "aligned": aligned}, in_shapes, K)

    def setup(self):
        c = self.in_shapes[0][0]
        self.out_shapes = [(c,) + tuple(self.a["output_size"])]

    def _counts(self):
        P = self.sr * self.sr
        return P, self.N * self.numel_out() * P

    def terms(self):
        P, v = self._counts()
        b = {"K": self.N, "numel_out": self.numel_out(), "P": P}
        note = "each output averages P = sampling_ratio^2 bilinear samples of its bin; the bilinear weights of " \
               "a sampling point, shared by every channel, are not counted"
        return [Term(("roi_align_sample", "deform_sample"), v,
                     Figure(v, "K*numel_out*P", b, "bilinear samples", note=note)),
                Term(("avg_pool",), v, Figure(v, "K*numel_out*P", b, "averaging",
                                              note="P - 1 adds and 1 divide per output"))]

    def bwd_terms(self, needs_input_grad):
        # the input's gradient scatters each output gradient to its samples' 4 taps: as much again as the
        # forward's sampling; the boxes get no gradient
        if not needs_input_grad:
            return []
        return [Term(t.rules, t.count, Figure(t.count, t.figure.formula, t.figure.bindings, "grad_input " +
                                              t.figure.name)) for t in self.terms()[:1]]

    def saved(self):
        # torchvision's RoIAlignFunction keeps the boxes (and the input's size)
        return [Saved("rois", 5, alias="input1")]

    def rf(self):
        return RFStep("data", formula="sampling positions come from the boxes (data dependent)")

    def describe_args(self):
        return (f"roi_align(output_size={list(self.a['output_size'])}, spatial_scale={self.a['spatial_scale']}, "
                f"sampling_ratio={self.sr}, aligned={self.a['aligned']}) on {self.N} boxes")


class NMS(CapturedKind):
    family = "tensor"
    N_INPUTS = (2, 2)
    out_itemsize = 8          # int64 indices

    def __init__(self, in_shapes, in_batches, M, iou_threshold):
        self.in_batches = list(in_batches)
        super().__init__("nms", {"iou_threshold": iou_threshold}, in_shapes, M)

    def setup(self):
        self.out_shapes = [()]

    def terms(self):
        K = self.in_batches[0]
        pairs = K * (K - 1) // 2
        return [Term(("nms",), pairs, Figure(pairs, "K*(K-1)/2", {"K": K}, "box pairs at most",
                                             note="how many IoUs it computes depends on which boxes suppress "
                                                  "which: not counted"))]

    def bwd_terms(self, needs_input_grad):
        return []

    def rf(self):
        return RFStep("data", formula="the boxes kept depend on the scores (data dependent)")

    def describe_args(self):
        return f"nms(iou_threshold={self.a['iou_threshold']}): {self.in_batches[0]} boxes -> {self.N} kept"


def _name(c):
    n = getattr(c.target, "__name__", "") or ""
    return n.rsplit(".", 1)[-1]


def known(c) -> bool:
    return c.how == "function" and _name(c) in ("roi_align", "nms") and \
        "torchvision" in str(getattr(c.target, "__module__", "") or "") + str(c.target)


def build(c, fac, shapes):
    """(kind, [input Refs]) for a captured ``torch.ops.torchvision.roi_align`` / ``nms`` call; raises Unmapped."""
    from .mapping import Unmapped
    a = list(c.args)
    if _name(c) == "roi_align":
        if len(a) != 7 or not all(isinstance(x, Ref) for x in a[:2]):
            raise Unmapped("roi_align called with other arguments than (input, rois, scale, h, w, ratio, aligned)")
        x, rois, scale, oh, ow, sr, aligned = a
        if not isinstance(sr, int) or sr <= 0:
            raise Unmapped("roi_align with sampling_ratio <= 0: the samples per bin depend on each box's size")
        sx, sr_ = tuple(shapes[x]), tuple(shapes[rois])
        if len(sx) != 4 or len(sr_) != 2 or sr_[1] != 5:
            raise Unmapped("roi_align on other than [N, C, H, W] features and [K, 5] boxes")
        K = sr_[0]
        kind = RoIAlign([sx[1:], (5,)], [fac.get(x), K], K, (oh, ow), sr, scale, aligned)
        return kind, [x, rois]
    if len(a) != 3 or not all(isinstance(v, Ref) for v in a[:2]):
        raise Unmapped("nms called with other arguments than (boxes, scores, iou_threshold)")
    boxes, scores, thr = a
    sb, ss = tuple(shapes[boxes]), tuple(shapes[scores])
    if len(sb) != 2 or sb[1] != 4 or ss != sb[:1]:
        raise Unmapped("nms on other than [K, 4] boxes and [K] scores")
    M = c.out_shapes[0][0]
    return NMS([(4,), ()], [sb[0], sb[0]], M, thr), [boxes, scores]
