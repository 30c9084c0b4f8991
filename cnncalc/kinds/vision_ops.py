"""torchvision-era building blocks: ``grid_sample`` (RAFT's lookups, spatial transformers),
``StochasticDepth`` (torchvision.ops: the identity in evaluation, a per-sample mask in training) and
``LayerScale`` (ConvNeXt's learned per-channel scale of a residual branch).
"""
from __future__ import annotations

from ..i18n import N_, _
from ..figure import Figure
from .base import Arg, Kind, KindError, RFStep, Saved, Term, prod, register
from .misc import DropoutBase
from .tensor import TensorFn

_SAMPLE_RULE = {("bilinear", 2): "upsample_bilinear", ("bilinear", 3): "upsample_trilinear",
                ("nearest", 2): "upsample_nearest", ("nearest", 3): "upsample_nearest",
                ("bicubic", 2): "upsample_bicubic"}


@register("grid_sample")
class GridSample(TensorFn):
    """F.grid_sample(input [C, *S_in], grid [*S_out, nd]) -> [C, *S_out]; nd = 2 or 3."""
    example = ("grid_sample()", [[3, 8, 8], [5, 6, 2]])
    N_INPUTS = (2, 2)
    SIG = (Arg("mode", "bilinear", "str", ("bilinear", "nearest", "bicubic")),
           Arg("padding_mode", "zeros", "str", ("zeros", "border", "reflection")),
           Arg("align_corners", None, "any"))
    doc = ("torch.nn.functional.grid_sample: input [C, H, W] sampled at grid [H_out, W_out, 2] (or [C, D, H, W] "
           "at [D_out, H_out, W_out, 3]) -> [C, H_out, W_out]")

    def setup(self):
        x, g = self.in_shapes
        nd = len(x) - 1
        if nd not in (2, 3) or len(g) != nd + 1 or g[-1] != nd:
            raise KindError(_("`grid_sample` takes input [C, H, W] and grid [H_out, W_out, 2] (or 3-D: [C, D, H, W] "
                              "and [D_out, H_out, W_out, 3]), got {x} and {g}").format(x=list(x), g=list(g)), None, code="shape")
        if (self.a["mode"], nd) not in _SAMPLE_RULE:
            raise KindError(_("`grid_sample`: mode 'bicubic' needs a 4-D input (as in torch)"), "mode")
        if self.a["align_corners"] not in (None, True, False):
            raise KindError(_("`align_corners` must be true, false or null"), "align_corners")
        self.nd = nd
        self.out_shapes = [(x[0],) + tuple(g[:-1])]

    def terms(self):
        rule = _SAMPLE_RULE[(self.a["mode"], self.nd)]
        v = self.N * self.numel_out()
        loc = self.N * prod(self.in_shapes[1][:-1])
        c = 2 * loc * self.nd
        return [Term(("grid_sampler", rule), v, Figure(v, "N*numel_out", {"N": self.N, "numel_out": self.numel_out()},
                                                       f"sampled values ({self.a['mode']})")),
                Term(("elementwise",), c, Figure(c, "2*N*locations*nd", {"N": self.N, "locations": loc // self.N,
                                                                            "nd": self.nd},
                                                 "grid coordinates unnormalised (a multiply and an add each)"))]

    def bwd_terms(self, needs_input_grad):
        # the input's gradient scatters each output gradient to its taps; the grid's gradient needs the taps'
        # differences: as much work again as the forward, for each
        out = []
        for name in (("grad_input",) if needs_input_grad else ()) + ("grad_grid",):
            for t in self.terms():
                out.append(Term(t.rules, t.count, Figure(t.count, t.figure.formula, t.figure.bindings,
                                                         f"{name} {t.figure.name}")))
        return out

    def saved(self):
        return [Saved("input", self.numel_in(0), alias="input"), Saved("grid", self.numel_in(1), alias="input1")]

    def rf(self):
        return RFStep("data", formula=N_("sampling positions come from the grid (data dependent)"))

    def torch_call(self, mod, xs):
        import torch.nn.functional as F
        return F.grid_sample(xs[0], xs[1], mode=self.a["mode"], padding_mode=self.a["padding_mode"],
                             align_corners=self.a["align_corners"])


@register("StochasticDepth")
class StochasticDepth(DropoutBase):
    """torchvision.ops.StochasticDepth(p, mode): in training, a whole sample (``row``) or the whole batch
    (``batch``) dropped with probability p and the rest scaled by 1/(1-p); the identity in evaluation."""
    example = ("StochasticDepth(0.1, 'row')", [[4, 10, 9]])
    SIG = (Arg("p", 0.5, "float"), Arg("mode", "row", "str", ("row", "batch")))
    doc = "torchvision.ops.StochasticDepth: identity in eval mode; in training a per-sample (row) or per-batch mask"

    def setup(self):
        if not 0 <= self.a["p"] <= 1:
            raise KindError(_("stochastic depth probability must be in [0, 1], got {p}").format(p=self.a['p']), "p")
        self.out_shapes = [self.in_shape]

    def saved(self):
        if self.a["p"] == 0:
            return []         # torchvision returns the input itself when p == 0
        # input * noise with noise [N, 1, ...] (row) or [1, ...] (batch): the noise is saved for backward
        if self.a["mode"] == "row":
            return [Saved("mask (one value per sample)", 1)]
        return [Saved("mask (one value per batch)", 1, batched=False)]

    def torch_module(self):
        import torch
        p, mode = self.a["p"], self.a["mode"]

        class StochasticDepth(torch.nn.Module):
            """torchvision.ops.stochastic_depth, without needing torchvision."""

            def forward(self, x):
                if not self.training or p == 0.0:
                    return x
                size = [x.shape[0]] + [1] * (x.ndim - 1) if mode == "row" else [1] * x.ndim
                noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(1.0 - p)
                if p < 1.0:
                    noise.div_(1.0 - p)
                return x * noise
        return StochasticDepth()


@register("LayerScale")
class LayerScale(Kind):
    """ConvNeXt's layer scale: ``gamma * x`` with a learned ``gamma`` of one value per channel, the channels
    at ``channel_dim`` (torch's numbering: 1 for [N, C, H, W], -1 for channels-last)."""
    example = ("LayerScale(channel_dim=1)", [[4, 10, 9]])
    SIG = (Arg("channel_dim", 1, "int"),)
    family = "tensor"
    doc = "x times a learned per-channel scale (ConvNeXt's layer_scale), channels at channel_dim"

    def setup(self):
        d = self.a["channel_dim"]
        r = len(self.in_shape) + 1
        if d < 0:
            d += r
        if not 1 <= d < r:
            raise KindError(_("`channel_dim` {channel_dim} is not a dim after the batch of {in_shape}").format(channel_dim=self.a['channel_dim'], in_shape=list(self.in_shape)), "channel_dim", [_("dim 0 is the batch")])
        self.d = d - 1
        self.C = self.in_shape[self.d]
        self.out_shapes = [self.in_shape]

    def params(self):
        return Figure(self.C, "C", {"C": self.C}, "params", note="gamma, one per channel")

    def terms(self):
        v = self.N * self.numel_in()
        return [Term(("elementwise",), v, Figure(v, "N*numel", {"N": self.N, "numel": self.numel_in()},
                                                 "multiplies"))]

    def bwd_terms(self, needs_input_grad):
        v = self.N * self.numel_in()
        out = [Term(("elementwise",), 2 * v, Figure(2 * v, "2*N*numel", {"N": self.N, "numel": self.numel_in()},
                                                    "grad_gamma multiplies and sums"))]
        if needs_input_grad:
            out.append(Term(("elementwise",), v, Figure(v, "N*numel", {"N": self.N, "numel": self.numel_in()},
                                                        "grad_input multiplies")))
        return out

    def saved(self):
        # x for gamma's gradient; gamma itself is the parameter (no new memory)
        return [Saved("input", self.numel_in(), alias="input")]

    def rf(self):
        return RFStep("merge", formula=N_("per-channel scale"))

    def linearised(self):
        return lambda xs: xs[0]

    def torch_module(self):
        import torch

        C, d, rank = self.C, self.d, len(self.in_shape)

        class LayerScale(torch.nn.Module):
            def __init__(self):
                super().__init__()
                shape = [1] * rank
                shape[d] = C
                self.layer_scale = torch.nn.Parameter(torch.full(shape, 1e-6))

            def forward(self, x):
                return self.layer_scale * x

        return LayerScale()
