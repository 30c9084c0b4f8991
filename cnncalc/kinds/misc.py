"""Shape ops, dropout, upsampling, shuffles, padding and losses."""
from __future__ import annotations

from fractions import Fraction

from ..i18n import N_, _
from ..figure import Figure
from .base import REQUIRED, Arg, Geometry, Kind, KindError, RFStep, Saved, Term, ntuple, prod, register
from .conv import AXES
from .strides import view_strides
from .tensor import _flatten_shape


def _fv(x):
    x = Fraction(x)
    return int(x) if x.denominator == 1 else x


def _torch(self):
    import torch.nn as nn
    return getattr(nn, self.op)(**self.torch_kwargs())


@register("Flatten")
class Flatten(Kind):
    family = "shape"
    SIG = (Arg("start_dim", 1, "int"), Arg("end_dim", -1, "int"))
    view = True
    doc = "nn.Flatten: [C, H, W] -> [C*H*W]"
    torch_module = _torch

    def setup(self):
        self.out_shapes = [_flatten_shape(self.in_shape, self.a["start_dim"], self.a["end_dim"], "Flatten")]

    def shape_figures(self):
        return [Figure(prod(self.in_shape), "*".join(f"d{i}" for i in range(len(self.in_shape))),
                       {f"d{i}": v for i, v in enumerate(self.in_shape)}, "features")]

    def out_strides(self, ins):
        # torch.reshape/flatten view the input when aten's computeStride allows, else copy (None)
        return [view_strides(ins[0][0], ins[0][1], self.full_out_shape())]

    def rf(self):
        if len(self.in_shape) > 1 and self.a["start_dim"] == 1:
            return RFStep("global", formula=N_("flatten: spatial axes merged"))
        return super().rf()


@register("Unflatten")
class Unflatten(Kind):
    family = "shape"
    SIG = (Arg("dim", REQUIRED, "int"), Arg("unflattened_size", REQUIRED, "any"))
    view = True
    doc = "nn.Unflatten"
    torch_module = _torch

    def setup(self):
        d = self.a["dim"]
        r = len(self.in_shape) + 1
        if d < 0:
            d += r
        if not 0 < d < r:
            raise KindError(_("`dim` out of range (dim 0 is the batch)"), "dim")
        sz = self.a["unflattened_size"]
        if not isinstance(sz, (list, tuple)) or not sz or not all(
                isinstance(v, int) and not isinstance(v, bool) and (v > 0 or v == -1) for v in sz) \
                or list(sz).count(-1) > 1:
            raise KindError(_("`unflattened_size` must be a list of positive ints (one may be -1), got {sz!r}").format(sz=sz),
                            "unflattened_size")
        sz = tuple(sz)
        if -1 in sz:   # as torch: one size inferred from the others
            rest = -prod(sz)
            if self.in_shape[d - 1] % rest:
                raise KindError(_("unflattened_size {sz} cannot split {in_shape}").format(sz=list(sz), in_shape=self.in_shape[d - 1]), "unflattened_size")
            sz = tuple(self.in_shape[d - 1] // rest if v == -1 else v for v in sz)
        self.a["unflattened_size"] = sz
        if prod(sz) != self.in_shape[d - 1]:
            raise KindError(_("unflattened_size {sz} does not multiply to {in_shape}").format(sz=list(sz), in_shape=self.in_shape[d - 1]),
                            "unflattened_size")
        self.out_shapes = [tuple(self.in_shape[:d - 1]) + sz + tuple(self.in_shape[d:])]

    def out_strides(self, ins):
        # torch.reshape/flatten view the input when aten's computeStride allows, else copy (None)
        return [view_strides(ins[0][0], ins[0][1], self.full_out_shape())]


@register("Identity")
class Identity(Kind):
    family = "shape"
    SIG = ()
    view = True
    doc = "nn.Identity"

    def torch_module(self):
        import torch.nn as nn
        return nn.Identity()


class DropoutBase(Kind):
    family = "dropout"
    eval_identity = True
    SIG = (Arg("p", 0.5, "float"), Arg("inplace", False, "bool"))
    doc = "dropout: identity in eval mode; in training a mask multiplies the input"
    torch_module = _torch

    def setup(self):
        if not 0 <= self.a["p"] <= 1:
            raise KindError(_("dropout probability must be in [0, 1], got {p}").format(p=self.a['p']), "p")
        self.out_shapes = [self.in_shape]
        self.view = bool(self.a["inplace"])

    def elementwise(self):
        return True      # input * mask: the mask and the product follow the input's memory order

    def terms(self):
        v = self.N * self.numel_in()
        return [Term(("dropout",), v, Figure(v, "N*numel", {"N": self.N, "numel": self.numel_in()}, "elements"))]

    def bwd_terms(self, needs_input_grad):
        return []

    def saved(self):
        # Dropout2d keeps a per-channel noise tensor [N, C, 1, 1] in the input's dtype (input * noise).
        # nn.Dropout and AlphaDropout on the CPU compute input * noise with an input-shaped noise tensor
        # in the input's dtype, which is saved (measured by `cnncalc verify`); on CUDA, nn.Dropout's fused
        # kernel keeps a 1-byte bool mask instead: 1/4 of this at float32.
        if not self.a.get("p", 0.5):
            return []        # p = 0: torch returns the input itself in training too, and saves nothing
        if self.op in ("Dropout1d", "Dropout2d", "Dropout3d"):
            return [Saved("mask", self.in_shape[0])]
        return [Saved("mask", self.numel_in())]


for _n in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout"):
    register(_n)(type(_n, (DropoutBase,), {}))


_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "nearest-exact", "area")


class UpsampleBase(Kind):
    family = "upsample"

    def setup(self):
        x = self.in_shape
        nd = len(x) - 1
        if nd < 1:
            raise KindError(_("`{op}` needs a [C, ...spatial] input, got {x}").format(op=self.op, x=list(x)), None)
        a = self.a
        mode = a["mode"]
        need = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}.get(mode)
        if need and need != nd:
            raise KindError(_("mode '{mode}' needs {need} spatial dims, the input has {nd}").format(mode=mode, need=need, nd=nd), "mode")
        if (a["size"] is None) == (a["scale_factor"] is None):
            raise KindError(_("`{op}` needs exactly one of `size` and `scale_factor`").format(op=self.op), "size")
        self._check_flags(mode, nd)
        if a["size"] is not None:
            if nd > 1 and isinstance(a["size"], (list, tuple)) and len(a["size"]) != nd:
                raise KindError(_("`size` needs an int or {nd} values, got {size} (as in torch)").format(nd=nd, size=list(a['size'])), "size")
            out = ntuple(a["size"], nd, "size")
            if min(out) < 1:
                raise KindError(_("`size` must be positive, got {out} (as in torch)").format(out=list(out)), "size")
            self.scale = tuple(Fraction(o, i) for o, i in zip(out, x[1:]))
        else:
            sf = a["scale_factor"]
            num = (int, float)
            sf = (sf,) * nd if isinstance(sf, num) and not isinstance(sf, bool) else sf
            if not isinstance(sf, (list, tuple)) or len(sf) != nd or not all(
                    isinstance(f, num) and not isinstance(f, bool) for f in sf):
                raise KindError(_("`scale_factor` must be a number or {nd} numbers, got {scale_factor!r}").format(nd=nd, scale_factor=a['scale_factor']),
                                "scale_factor")
            sf = tuple(sf)
            if min(sf) <= 0 or any(f != f or f in (float("inf"),) for f in sf):
                raise KindError(_("`scale_factor` must be positive, got {sf} (as in torch)").format(sf=list(sf)), "scale_factor")
            out = tuple(int(i * f) for i, f in zip(x[1:], sf))   # torch: floor(input * scale)
            self.scale = tuple(Fraction(f).limit_denominator(1000) for f in sf)
        self.out_shapes = [(x[0],) + tuple(out)]

    def _check_flags(self, mode, nd):
        """torch's checks on the flags of interpolate, as F.interpolate makes them."""
        a = self.a
        ac = a.get("align_corners")
        if ac is not None and not isinstance(ac, bool):
            raise KindError(_("`align_corners` must be true, false or null, got {ac!r}").format(ac=ac), "align_corners")
        if ac is not None and mode in ("nearest", "nearest-exact", "area"):
            raise KindError(_("align_corners can only be set with the interpolating modes (linear, bilinear, bicubic, "
                              "trilinear), as in torch"), "align_corners")
        rsf = a.get("recompute_scale_factor")
        if rsf is not None and not isinstance(rsf, (bool, int)):
            raise KindError(_("`recompute_scale_factor` must be true, false or null, got {rsf!r}").format(rsf=rsf),
                            "recompute_scale_factor")
        if rsf and a["size"] is not None:
            raise KindError(_("recompute_scale_factor is not meaningful with an explicit size (torch refuses it)"),
                            "recompute_scale_factor")
        if a.get("antialias") and (mode not in ("bilinear", "bicubic") or nd != 2):
            raise KindError(_("antialias is restricted to the bilinear and bicubic modes on [C, H, W] inputs (as in "
                              "torch)"), "antialias")

    def rule(self):
        return {"nearest": "upsample_nearest", "nearest-exact": "upsample_nearest", "linear": "upsample_linear",
                "bilinear": "upsample_bilinear", "bicubic": "upsample_bicubic", "trilinear": "upsample_trilinear",
                "area": "adaptive_avg_pool"}[self.a["mode"]]

    def terms(self):
        nd = len(self.in_shape) - 1
        r = self.rule()
        v = self.N * self.numel_out()
        return [Term((f"{r}{nd}d", r), v, Figure(v, "N*numel_out", {"N": self.N, "numel_out": self.numel_out()},
                                                 "output elements"))]

    def shape_figures(self):
        figs = []
        nd = len(self.in_shape) - 1
        for i, ax in enumerate(AXES.get(nd, tuple(f"X{j}" for j in range(nd)))):
            if self.a["size"] is not None:
                figs.append(Figure(self.out_shape[i + 1], "size", {"size": self.out_shape[i + 1]}, f"{ax}_out"))
            else:
                figs.append(Figure(self.out_shape[i + 1], f"floor({ax}_in*scale)",
                                   {f"{ax}_in": self.in_shape[i + 1], "scale": self.scale[i]}, f"{ax}_out"))
        return figs

    def rf(self):
        """Upsampling by f: the jump shrinks by f (exact Fractions).  Output o reads source
        coordinate x = (o + 1/2)/f - 1/2 (align_corners=False) or o*(L_in-1)/(L_out-1) (True), and
        its `taps` neighbours (nearest 1, linear 2, bicubic 4), modelled as a window of `taps`
        centred on x: unit 0's window starts at x_0 - (taps - 1)/2."""
        nd = len(self.in_shape) - 1
        mode = self.a["mode"]
        axes = AXES.get(nd, tuple(f"X{j}" for j in range(nd)))
        figs = {}
        if mode in ("nearest", "nearest-exact"):
            s = tuple(1 / f for f in self.scale)
            for ax, f in zip(axes, self.scale):
                figs[ax] = [Figure(1, "1", {}, "k_eff", note="nearest: one source pixel"),
                            Figure(_fv(1 / f), "1/scale", {"scale": f}, "s", note="output o reads floor(o/scale)"),
                            Figure(0, "0", {}, "P")]
            return RFStep("window", (1,) * nd, s, (0,) * nd, N_("nearest upsampling: jump / scale"), figs)
        taps = {"bicubic": 4, "area": 1}.get(mode, 2)
        if self.a.get("align_corners"):
            s, p = [], []
            for ax, L, O in zip(axes, self.in_shape[1:], self.out_shape[1:]):
                sv = Fraction(L - 1, O - 1) if O > 1 else Fraction(1)
                s.append(sv)
                p.append(Fraction(taps - 1, 2))
                figs[ax] = [Figure(taps, "taps", {"taps": taps}, "k_eff"),
                            Figure(_fv(sv), "(L_in - 1)/(L_out - 1)", {"L_in": L, "L_out": O}, "s",
                                   note="align_corners: the corner pixels coincide")
                            if O > 1 else Figure(1, "1", {}, "s"),
                            Figure(_fv(p[-1]), "(taps - 1)/2", {"taps": taps}, "P", note="unit 0 is centred on x = 0")]
            return RFStep("window", (taps,) * nd, tuple(s), tuple(p),
                          f"interpolating upsampling (align_corners): {taps} taps", figs)
        s = tuple(1 / f for f in self.scale)
        p = tuple(Fraction(taps, 2) - Fraction(1, 2) / f for f in self.scale)
        for ax, f, pv in zip(axes, self.scale, p):
            figs[ax] = [Figure(taps, "taps", {"taps": taps}, "k_eff", note=f"{mode}: {taps} neighbours per axis"),
                        Figure(_fv(1 / f), "1/scale", {"scale": f}, "s", note="fractional stride"),
                        Figure(_fv(pv), "taps/2 - 1/(2*scale)", {"taps": taps, "scale": f}, "P",
                               note="unit 0 reads around x_0 = 1/(2*scale) - 1/2")]
        return RFStep("window", (taps,) * nd, s, p, f"interpolating upsampling: jump / scale, {taps} taps", figs)

    def saved(self):
        return []

    def rf_index(self, sets, i=0, out=0):
        """Exact window: torch's source index formulas per mode (pixels with a non-zero weight)."""
        from .index_sets import interpolate
        a = self.a
        sf = a["scale_factor"] if a["size"] is None and not a.get("recompute_scale_factor") else None
        return tuple(interpolate(m, self.in_shape[ax + 1], self.out_shape[ax + 1], a["mode"],
                                 a.get("align_corners") or False,
                                 sf if sf is None or isinstance(sf, (int, float)) else sf[ax])
                     for ax, m in enumerate(sets))

    def bwd_terms(self, needs_input_grad):
        return super().bwd_terms(needs_input_grad)


@register("Upsample")
class Upsample(UpsampleBase):
    SIG = (Arg("size", None, "any"), Arg("scale_factor", None, "any"), Arg("mode", "nearest", "str", _MODES),
           Arg("align_corners", None, "any"), Arg("recompute_scale_factor", None, "any"))
    doc = "nn.Upsample"
    torch_module = _torch


@register("interpolate")
class Interpolate(UpsampleBase):
    SIG = (Arg("size", None, "any"), Arg("scale_factor", None, "any"), Arg("mode", "nearest", "str", _MODES),
           Arg("align_corners", None, "any"), Arg("recompute_scale_factor", None, "any"),
           Arg("antialias", False, "bool"))
    has_module = False
    doc = "torch.nn.functional.interpolate"

    def torch_module(self):
        return None

    def torch_call(self, mod, xs):
        import torch.nn.functional as F
        return F.interpolate(xs[0], **self.torch_kwargs())


@register("PixelShuffle")
class PixelShuffle(Kind):
    family = "shape"
    SIG = (Arg("upscale_factor", REQUIRED, "int"),)
    doc = "nn.PixelShuffle: [C*r*r, H, W] -> [C, H*r, W*r]"
    torch_module = _torch

    def setup(self):
        r = self.a["upscale_factor"]
        c, *sp = self.in_shape
        if r < 1:
            raise KindError(_("`upscale_factor` must be positive, got {r} (as in torch)").format(r=r), "upscale_factor")
        if len(sp) != 2 or c % (r * r):
            raise KindError(_("PixelShuffle({r}) needs [C*{r2}, H, W], got {in_shape}").format(r=r, r2=r * r, in_shape=list(self.in_shape)), "upscale_factor")
        self.out_shapes = [(c // (r * r), sp[0] * r, sp[1] * r)]

    def rf(self):
        r = self.a["upscale_factor"]
        figs = {ax: [Figure(1, "1", {}, "k_eff"), Figure(Fraction(1, r), "1/r", {"r": r}, "s",
                                                          note="output o reads input floor(o/r)"),
                     Figure(0, "0", {}, "P")] for ax in ("H", "W")}
        return RFStep("window", (1, 1), (Fraction(1, r),) * 2, (0, 0), N_("pixel shuffle"), figs)

    def rf_index(self, sets, i=0, out=0):
        from .index_sets import runs, span
        r = self.a["upscale_factor"]      # output o reads input floor(o / r)
        res = []
        for m in sets:
            res.append(0)
            for o0, o1 in runs(m):
                res[-1] |= span(o0 // r, o1 // r)
        return tuple(res)


@register("PixelUnshuffle")
class PixelUnshuffle(Kind):
    family = "shape"
    SIG = (Arg("downscale_factor", REQUIRED, "int"),)
    doc = "nn.PixelUnshuffle: [C, H*r, W*r] -> [C*r*r, H, W]"
    torch_module = _torch

    def setup(self):
        r = self.a["downscale_factor"]
        c, *sp = self.in_shape
        if r < 1:
            raise KindError(_("`downscale_factor` must be positive, got {r} (as in torch)").format(r=r), "downscale_factor")
        if len(sp) != 2 or sp[0] % r or sp[1] % r:
            raise KindError(_("PixelUnshuffle({r}) needs H and W divisible by {r}, got {in_shape}").format(r=r, in_shape=list(self.in_shape)),
                            "downscale_factor")
        self.out_shapes = [(c * r * r, sp[0] // r, sp[1] // r)]

    def rf(self):
        r = self.a["downscale_factor"]
        figs = {ax: [Figure(r, "r", {"r": r}, "k_eff"), Figure(r, "r", {"r": r}, "s"), Figure(0, "0", {}, "P")]
                for ax in ("H", "W")}
        return RFStep("window", (r, r), (r, r), (0, 0), N_("pixel unshuffle"), figs)


def _pair(v, name):
    """torch's ``_pair`` for im2col: an int means the same value on H and W; a list must hold exactly two
    ints (no one-element broadcast: torch refuses it)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return (v, v)
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return tuple(v)
    raise KindError(_("`{name}` must be an int or a list of 2 ints (H, W), got {v!r} (as in torch)").format(
        name=name, v=list(v) if isinstance(v, (list, tuple)) else v), name)


_UNFOLD_POSITIVE = ("kernel_size", "dilation", "stride")


@register("Unfold")
class Unfold(Kind):
    """nn.Unfold / F.unfold (im2col): every kernel-sized block of a [C, H, W] map, flattened into a column.

    Output [C*K_h*K_w, L], L = H_blocks*W_blocks, with a convolution's output-size formula per axis.  A copy
    with no arithmetic: 0 MACs and 0 FLOPs under every convention (FlopCounterMode and fvcore count
    none for aten::im2col either).  The output is a new tensor (overlapping windows repeat input
    elements).  Autograd saves no tensor (Im2ColBackward keeps the input's sizes only).  Backward is
    col2im: it sums each column element into the input gradient where windows overlap; like the other
    data-movement kinds (padding, indexing, roll) no FLOPs are counted for that scatter, and neither
    counter counts aten::col2im."""

    family = "shape"
    SIG = (Arg("kernel_size", REQUIRED, "ints"), Arg("dilation", 1, "ints"), Arg("padding", 0, "ints"),
           Arg("stride", 1, "ints"))
    example = ("Unfold(3, padding=1, stride=2)", [[2, 7, 6]])
    doc = ("nn.Unfold / F.unfold (im2col): [C, H, W] -> [C*K_h*K_w, L], L = H_blocks*W_blocks; a copy (0 FLOPs, "
           "backward's col2im sums overlaps, not counted); nothing saved for backward")

    @classmethod
    def check_args(cls, op, args):
        pairs = {n: _pair(args.get(n, d), n) for n, d in (("kernel_size", 1), ("dilation", 1), ("padding", 0),
                                                           ("stride", 1))}
        for n in _UNFOLD_POSITIVE:
            if min(pairs[n]) < 1:
                raise KindError(_("`{name}` must be positive, got {v} (as in torch)").format(
                    name=n, v=list(pairs[n])), n)
        if min(pairs["padding"]) < 0:
            raise KindError(_("`padding` must not be negative, got {p} (as in torch)").format(
                p=list(pairs["padding"])), "padding")
        return pairs

    def setup(self):
        pairs = self.check_args(self.op, self.a)
        self.a.update(pairs)
        x = self.in_shape
        if len(x) != 3:
            hints = [_("the spec's shapes leave out the batch: write the input as [C, H, W] (torch's 4-D "
                       "[N, C, H, W])")] if len(x) == 2 else []
            raise KindError(_("`{op}` needs a [C, H, W] input (torch: a 4-D batch), got {shape}").format(
                op=self.op, shape=list(x)), None, hints, code="shape")
        a = self.a
        sp = []
        for ax, L, k, d, p, s in zip(("H", "W"), x[1:], a["kernel_size"], a["dilation"], a["padding"], a["stride"]):
            span = d * (k - 1) + 1
            if L + 2 * p < span:
                raise KindError(_("{axis}: the block spans {span} (dilation {dilation} * (kernel {kernel} - 1) + 1) "
                                  "but the padded input is only {length} + 2*{padding} = {padded}: no block fits "
                                  "(torch: the array of sliding blocks' components must be at least one)").format(
                                    axis=ax, span=span, dilation=d, kernel=k, length=L, padding=p,
                                    padded=L + 2 * p), "kernel_size",
                                [_("use a smaller kernel, more padding, or a larger input")], code="shape")
            sp.append((L + 2 * p - span) // s + 1)
        self.grid = tuple(sp)
        self.out_shapes = [(x[0] * prod(a["kernel_size"]), prod(sp))]

    def geometry(self):
        a = self.a
        return Geometry(a["kernel_size"], a["stride"], a["dilation"], a["padding"], a["padding"])

    def shape_figures(self):
        a = self.a
        kh, kw = a["kernel_size"]
        figs = [Figure(self.out_shape[0], "C*K_h*K_w", {"C": self.in_shape[0], "K_h": kh, "K_w": kw}, "C_out",
                       note=N_("one row per channel and kernel tap"))]
        for i, ax in enumerate(("H", "W")):
            figs.append(Figure(self.grid[i], f"floor(({ax}_in + 2*P - D*(K-1) - 1) / S) + 1",
                               {f"{ax}_in": self.in_shape[i + 1], "P": a["padding"][i], "D": a["dilation"][i],
                                "K": a["kernel_size"][i], "S": a["stride"][i]}, f"{ax}_blocks",
                               note=N_("block positions along the axis (a convolution's output size)")))
        figs.append(Figure(self.out_shape[1], "H_blocks*W_blocks", {"H_blocks": self.grid[0], "W_blocks": self.grid[1]},
                           "L",
                           note=N_("one column per block position, the grid of blocks flattened")))
        return figs

    def rf(self):
        # the L axis flattens the grid of block positions: no window formula along it
        return RFStep("global", formula=N_("unfold: the grid of blocks flattened into one axis"))

    def rf_index(self, sets, i=0, out=0):
        """Exact for one unit: column l is block (l // W_out, l % W_out), which reads rows
        oh*S - P + D*t and columns ow*S - P + D*t; a set of columns reads the product of the unions."""
        from .index_sets import bits, taps
        a = self.a
        w_out = self.grid[1]
        rows = cols = 0
        for l in bits(sets[0]):
            rows |= 1 << (l // w_out)
            cols |= 1 << (l % w_out)
        return tuple(taps(m, a["stride"][ax], [a["dilation"][ax] * t - a["padding"][ax]
                                               for t in range(a["kernel_size"][ax])], self.in_shape[ax + 1])
                     for ax, m in enumerate((rows, cols)))

    def torch_module(self):
        import torch.nn as nn
        a = self.a
        return nn.Unfold(a["kernel_size"], dilation=a["dilation"], padding=a["padding"], stride=a["stride"])


@register("ChannelShuffle")
class ChannelShuffle(Kind):
    family = "shape"
    SIG = (Arg("groups", REQUIRED, "int"),)
    doc = "nn.ChannelShuffle (ShuffleNet): a permutation of channels, no arithmetic"
    torch_module = _torch

    def setup(self):
        if self.a["groups"] < 1:
            raise KindError(_("`groups` must be positive, got {groups} (as in torch)").format(groups=self.a['groups']), "groups")
        if len(self.in_shape) < 2:
            raise KindError(_("ChannelShuffle needs a [C, ...spatial] input, got {in_shape}").format(in_shape=list(self.in_shape)), None)
        if self.in_shape[0] % self.a["groups"]:
            raise KindError(_("groups={groups} must divide the {in_shape_0} channels").format(groups=self.a['groups'], in_shape_0=self.in_shape[0]), "groups")
        self.out_shapes = [self.in_shape]


class PadBase(Kind):
    family = "pad"
    nd = 2

    @property
    def copies_border(self):
        return self.op.startswith(("ReflectionPad", "ReplicationPad"))

    def setup(self):
        p = self.a["padding"]
        n = 2 * self.nd
        p = (p,) * n if isinstance(p, int) and not isinstance(p, bool) else p
        if not isinstance(p, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in p) \
                or len(p) % 2 or not 2 <= len(p) <= n:
            raise KindError(_("`padding` must be an int or an even number (up to {n}) of ints: (left, right, top, "
                              "bottom, ...), got {p!r}").format(n=n, p=p), "padding")
        if len(p) != n and not self.op.startswith(("Zero", "Constant")):
            raise KindError(_("`{op}` takes an int or {n} ints, got {n_p} (as in torch)").format(op=self.op, n=n, n_p=len(p)), "padding")
        # torch pads the last dims first; a shorter list leaves the leading spatial dims alone
        p = tuple(p) + (0,) * (n - len(p))
        self.a["padding"] = p
        x = self.in_shape
        if len(x) != self.nd + 1:
            raise KindError(_("`{op}` needs {nd} spatial dims, got {x}").format(op=self.op, nd=self.nd, x=list(x)), None)
        if self.op.startswith("Reflection"):
            for i in range(self.nd):
                L = x[len(x) - 1 - i]
                if max(p[2 * i], p[2 * i + 1]) >= L:
                    raise KindError(_("reflection padding {max} must be smaller than the input size {L} it reflects (as in "
                                      "torch)").format(max=max(p[2 * i], p[2 * i + 1]), L=L), "padding", code="shape")
        # torch order: last dim first: (left, right, top, bottom, front, back)
        out = list(x)
        for i in range(self.nd):
            lo, hi = p[2 * i], p[2 * i + 1]
            out[len(x) - 1 - i] += lo + hi
        self.out_shapes = [tuple(out)]

    def rf(self):
        p = self.a["padding"]
        left = tuple(p[2 * (self.nd - 1 - i)] for i in range(self.nd))
        figs = {ax: [Figure(1, "1", {}, "k_eff"), Figure(1, "1", {}, "s"),
                     Figure(v, "P_left", {"P_left": v}, "P",
                            note="torch's padding order is (left, right, top, bottom, front, back)")]
                for ax, v in zip(AXES[self.nd], left)}
        return RFStep("window", (1,) * self.nd, (1,) * self.nd, left, N_("padding: shifts p, not r"), figs)

    def rf_index(self, sets, i=0, out=0):
        """Output o reads o - P_left (negative padding crops); reflection and replication copy borders."""
        from .index_sets import taps_mode
        mode = {"Reflection": "reflect", "Replication": "replicate"}.get(self.op.split("Pad")[0], "zeros")
        return tuple(taps_mode(m, 1, [-pl], L, mode) for m, pl, L in zip(sets, self.rf().p, self.in_shape[1:]))

    def saved(self):
        # reflection/replication padding's backward takes the input; constant padding needs nothing
        if self.op.startswith(("Reflection", "Replication")):
            return [Saved("input", self.numel_in(), alias="input")]
        return []

    torch_module = _torch


for _nd in (1, 2, 3):
    for _kind, _extra in (("Zero", ()), ("Constant", (Arg("value", REQUIRED, "float"),)), ("Reflection", ()),
                          ("Replication", ())):
        _n = f"{_kind}Pad{_nd}d"
        register(_n)(type(_n, (PadBase,), {"nd": _nd, "SIG": (Arg("padding", REQUIRED, "any"),) + _extra,
                                           "doc": f"{_kind.lower()} padding"}))


class LossBase(Kind):
    family = "loss"
    per_element = 3
    target = "same"   # "class" for CE/NLL (class indices)

    def setup(self):
        if len(self.in_shapes) == 2 and self.target == "same" and self.in_shapes[1] != self.in_shape:
            raise KindError(_("`{op}`: prediction {in_shape} and target {in_shapes_1} differ").format(op=self.op, in_shape=list(self.in_shape), in_shapes_1=list(self.in_shapes[1])),
                            None, code="shape")
        red = self.a.get("reduction", "mean")
        self.out_shapes = [() if red != "none" else (self.in_shape if self.target == "same" else self.in_shape[1:])]

    def terms(self):
        v = self.N * self.numel_in() * self.per_element
        return [Term(("loss",), v, Figure(v, "N*numel*ops", {"N": self.N, "numel": self.numel_in(),
                                                            "ops": self.per_element}, "operations",
                                          note=self.doc))]

    def saved(self):
        """What torch's loss functions keep (measured by `cnncalc verify`)."""
        x = self.in_shape
        n = self.numel_in()
        given = len(self.in_shapes) == 2        # the target is a declared input
        target = Saved("target", prod(self.in_shapes[1]), alias="input1") if given else None
        if self.op == "CrossEntropyLoss":
            # log_softmax keeps its output; nll_loss that output (same storage), the target, total_weight;
            # with a float (probability) target: log_softmax's output and the target
            out = [Saved("log_softmax output", n)]
            if given:
                return out + [target]
            return out + [Saved("target (class indices)", prod(x[1:]), 8), Saved("total_weight", 1, batched=False)]
        if self.op == "NLLLoss":
            out = [Saved("input", n, alias="input")]
            if given:
                return out + [target, Saved("total_weight", 1, batched=False)]
            return out + [Saved("target (class indices)", prod(x[1:]), 8), Saved("total_weight", 1, batched=False)]
        if self.op == "L1Loss":
            return [Saved("input - target", n)]      # (input - target).abs(): abs keeps the difference
        # mse_loss, smooth_l1_loss, binary_cross_entropy(_with_logits) keep the input and the target
        return [Saved("input", n, alias="input"), target or Saved("target", n)]

    def rf(self):
        return RFStep("global", formula=N_("loss"))

    torch_module = _torch

    def torch_call(self, mod, xs):
        import torch
        if len(xs) == 2:
            return mod(xs[0], xs[1])
        x = xs[0]
        if self.target == "class":
            t = torch.zeros((x.shape[0],) + tuple(x.shape[2:]), dtype=torch.long, device=x.device)
        else:
            t = torch.zeros_like(x).detach()
            if self.op == "BCELoss" and bool(((x < 0) | (x > 1)).any()):
                # BCELoss needs probabilities (a Sigmoid before it); move x's values into [0, 1] with a
                # subtraction, which saves nothing for backward
                with torch.no_grad():
                    d = x - x.clamp(0, 1)
                x = x - d
        return mod(x, t)


_RED = Arg("reduction", "mean", "str", ("mean", "sum", "none"))
_LOSSES = {
    "CrossEntropyLoss": (5, "class", (Arg("weight", None), Arg("size_average", None), Arg("ignore_index", -100, "int"),
                                      Arg("reduce", None), _RED, Arg("label_smoothing", 0.0, "float")),
                         "log-softmax (3 per element) + pick, negate and average (~2 per element)"),
    "NLLLoss": (1, "class", (Arg("weight", None), Arg("size_average", None), Arg("ignore_index", -100, "int"),
                             Arg("reduce", None), _RED), "pick and average (1 per element)"),
    "MSELoss": (3, "same", (Arg("size_average", None), Arg("reduce", None), _RED), "subtract, square, sum"),
    "L1Loss": (3, "same", (Arg("size_average", None), Arg("reduce", None), _RED), "subtract, abs, sum"),
    "SmoothL1Loss": (4, "same", (Arg("size_average", None), Arg("reduce", None), _RED, Arg("beta", 1.0, "float")),
                     "subtract, abs, compare, square-or-linear"),
    "BCELoss": (6, "same", (Arg("weight", None), Arg("size_average", None), Arg("reduce", None), _RED),
                "two logs, two multiplies, add, sum"),
    "BCEWithLogitsLoss": (8, "same", (Arg("weight", None), Arg("size_average", None), Arg("reduce", None), _RED,
                                      Arg("pos_weight", None)), "log-sigmoid then BCE"),
}
for _n, (_k, _t, _sig, _doc) in _LOSSES.items():
    register(_n)(type(_n, (LossBase,), {"per_element": _k, "target": _t, "SIG": _sig, "doc": _doc,
                                        "N_INPUTS": (1, 2)}))
