"""Convolutions: standard, grouped, depthwise, dilated, 1x1, transposed, deformable; 1D/2D/3D."""
from __future__ import annotations

from ..figure import Figure
from ..i18n import N_, _
from .base import REQUIRED, Arg, Geometry, Kind, KindError, RFStep, Saved, Term, ntuple, prod, rank_hints, register

# fvcore 0.1.5 has no handle for aten::_convolution_mode (a string padding, zeros mode): it counts nothing
BLIND_FVCORE_PAD_MODE = ("fvcore", "padding='same'/'valid' convolutions (aten::_convolution_mode)")
# neither counter has a formula for torchvision.ops.deform_conv2d
BLIND_DEFORM = (("FlopCounterMode", "torchvision's deform_conv2d"), ("fvcore", "torchvision's deform_conv2d"))
AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _conv_sig(lazy: bool, transposed: bool):
    sig = [] if lazy else [Arg("in_channels", REQUIRED, "int", infer=True)]
    sig += [Arg("out_channels", REQUIRED, "int"), Arg("kernel_size", REQUIRED, "ints"),
            Arg("stride", 1, "ints"), Arg("padding", 0, "any")]
    if transposed:
        sig += [Arg("output_padding", 0, "ints"), Arg("groups", 1, "int"), Arg("bias", True, "bool"),
                Arg("dilation", 1, "ints")]
    else:
        sig += [Arg("dilation", 1, "ints"), Arg("groups", 1, "int"), Arg("bias", True, "bool")]
    sig += [Arg("padding_mode", "zeros", "str", ("zeros", "reflect", "replicate", "circular")),
            Arg("device", None), Arg("dtype", None)]
    return tuple(sig)


class ConvBase(Kind):
    family = "conv"
    nd = 2
    transposed = False
    lazy = False

    def _common(self):
        nd = self.nd
        x = self.in_shape
        if len(x) != nd + 1:
            raise KindError(_("`{op}` needs a {want} input, got {shape}").format(
                op=self.op, want=f"[C, {', '.join(AXES[nd])}]", shape=list(x)), None, rank_hints(x, nd, "Conv"))
        c_in = x[0]
        given = self.a.get("in_channels")
        if given is not None and given != c_in:
            raise KindError(_("`in_channels={given}` given but the input has {channels} channels "
                              "(input shape {shape})").format(given=given, channels=c_in, shape=list(x)), "in_channels",
                            [_("write in_channels: {channels}, or leave it out to infer it").format(channels=c_in)],
                            code="in-channels")
        self.a["in_channels"] = c_in
        a = self.a
        _no_short_list(a["kernel_size"], nd, "kernel_size",
                       _("torch builds the weight from it, and a one-element list gives it the wrong rank"))
        a["kernel_size"] = ntuple(a["kernel_size"], nd, "kernel_size")
        a["stride"] = ntuple(a["stride"], nd, "stride")
        a["dilation"] = ntuple(a["dilation"], nd, "dilation")
        g = a["groups"]
        if g < 1 or c_in % g or a["out_channels"] % g:
            raise KindError(_("groups={g} must divide in_channels={c_in} and out_channels={out_channels}").format(g=g, c_in=c_in, out_channels=a['out_channels']),
                            "groups")
        if a["out_channels"] < 1:
            raise KindError(_("`out_channels` must be positive"), "out_channels")
        if min(a["kernel_size"]) < 1 or min(a["stride"]) < 1 or min(a["dilation"]) < 1:
            raise KindError(_("kernel_size, stride and dilation must be positive"))

    def geometry(self):
        a = self.a
        return Geometry(a["kernel_size"], a["stride"], a["dilation"], tuple(pl for pl, _ in self.pad_lr),
                        tuple(pr for _, pr in self.pad_lr), False, self.transposed,
                        a["output_padding"] if self.transposed else ())

    def param_figure(self):
        a = self.a
        K = prod(a["kernel_size"])
        b = 1 if a["bias"] else 0
        if self.transposed:
            v = a["in_channels"] * (a["out_channels"] // a["groups"]) * K + b * a["out_channels"]
            return Figure(v, "C_in*(C_out/G*" + self._kform() + ") + bias*C_out",
                          {"C_in": a["in_channels"], "C_out": a["out_channels"], "G": a["groups"],
                           "bias": b, **self._kbind()}, "params")
        v = a["out_channels"] * (a["in_channels"] // a["groups"] * K + b)
        return Figure(v, "C_out*(C_in/G*" + self._kform() + " + bias)",
                      {"C_out": a["out_channels"], "C_in": a["in_channels"], "G": a["groups"], "bias": b,
                       **self._kbind()}, "params")

    def _kform(self):
        return "*".join(f"K_{ax.lower()}" for ax in AXES[self.nd])

    def _kbind(self):
        return {f"K_{ax.lower()}": k for ax, k in zip(AXES[self.nd], self.a["kernel_size"])}

    def params(self):
        return self.param_figure()

    def _out_sp_form(self):
        return "*".join(f"{ax}_out" for ax in AXES[self.nd])

    def _out_sp_bind(self):
        return {f"{ax}_out": v for ax, v in zip(AXES[self.nd], self.out_shape[1:])}

    def _in_sp_form(self):
        return "*".join(f"{ax}_in" for ax in AXES[self.nd])

    def _in_sp_bind(self):
        return {f"{ax}_in": v for ax, v in zip(AXES[self.nd], self.in_shape[1:])}

    def mac_figure(self):
        a = self.a
        K = prod(a["kernel_size"])
        if self.transposed:
            v = self.N * a["in_channels"] * prod(self.in_shape[1:]) * (a["out_channels"] // a["groups"]) * K
            return Figure(v, f"N*C_in*{self._in_sp_form()}*(C_out/G)*{self._kform()}",
                          {"N": self.N, "C_in": a["in_channels"], **self._in_sp_bind(),
                           "C_out": a["out_channels"], "G": a["groups"], **self._kbind()}, "MACs",
                          note=N_("counted on input positions: each input value scatters a kernel-sized patch"))
        v = self.N * a["out_channels"] * prod(self.out_shape[1:]) * (a["in_channels"] // a["groups"]) * K
        return Figure(v, f"N*C_out*{self._out_sp_form()}*(C_in/G)*{self._kform()}",
                      {"N": self.N, "C_out": a["out_channels"], **self._out_sp_bind(),
                       "C_in": a["in_channels"], "G": a["groups"], **self._kbind()}, "MACs")

    def bias_figure(self):
        v = self.N * self.numel_out()
        return Figure(v, f"N*C_out*{self._out_sp_form()}",
                      {"N": self.N, "C_out": self.a["out_channels"], **self._out_sp_bind()}, "bias adds")

    def terms(self):
        rule = "conv_transpose" if self.transposed else "conv"
        # padding='same'/'valid' with zero padding runs aten::_convolution_mode, which fvcore 0.1.5 skips
        blind = (BLIND_FVCORE_PAD_MODE,) if (isinstance(self.a.get("padding"), str) and not self.transposed
                                             and self.a.get("padding_mode", "zeros") == "zeros") else ()
        t = [Term((rule,), None, self.mac_figure(), blind=blind)]
        t[0].count = t[0].figure.value
        if self.a["bias"]:
            f = self.bias_figure()
            t.append(Term(("bias",), f.value, f))
        return t

    def bwd_terms(self, needs_input_grad):
        rule = "conv_transpose" if self.transposed else "conv"
        m = self.mac_figure()
        out = []
        if needs_input_grad:
            out.append(Term((rule,), m.value, Figure(m.value, m.formula, m.bindings, "grad_input MACs")))
        out.append(Term((rule,), m.value, Figure(m.value, m.formula, m.bindings, "grad_weight MACs")))
        if self.a["bias"]:
            f = self.bias_figure()
            out.append(Term(("bias",), f.value, Figure(f.value, f.formula, f.bindings, "grad_bias adds")))
        return out

    def saved(self):
        mode = self.a.get("padding_mode", "zeros")
        if mode != "zeros" and not self.transposed:
            # nn.Conv pads a copy with F.pad(mode) and convolves it without padding: the conv saves the
            # copy; reflection/replication padding also keeps the input for its own backward, which runs
            # only when the input needs a gradient (not for a network's first layer)
            n = self.in_shape[0] * prod(L + pl + pr for L, (pl, pr) in zip(self.in_shape[1:], self.pad_lr))
            out = [Saved(f"input, padded copy ({mode})", n)]
            if mode in ("reflect", "replicate"):
                out.insert(0, Saved("input", self.numel_in(), alias="input", input_grad_only=True))
            return out
        extra = [pr - pl for pl, pr in getattr(self, "pad_lr", ())]
        if self.a.get("padding") == "same" and any(extra):
            # padding='same' with an uneven total (even kernel): torch pads a copy of the input by the
            # extra pixel on the right and convolves that copy, which is what it saves
            n = self.in_shape[0] * prod(L + e for L, e in zip(self.in_shape[1:], extra))
            return [Saved("input, copy padded by 1 on the right ('same', even kernel)", n)]
        return [Saved("input", self.numel_in(), alias="input")]

    def rf_index(self, sets, i=0, out=0):
        """Exact window: per axis, the input indices (bit masks) that the output indices `sets` read."""
        from .index_sets import taps_mode, transposed
        if i > 0:
            return tuple(sets)      # DeformConv2d's offset and mask: one position per output unit
        a, res = self.a, []
        for ax, m in enumerate(sets):
            K, S, D, L = a["kernel_size"][ax], a["stride"][ax], a["dilation"][ax], self.in_shape[ax + 1]
            if self.transposed:
                res.append(transposed(m, S, D, K, a["padding"][ax], L))
            else:
                res.append(taps_mode(m, S, [D * t - self.pad_lr[ax][0] for t in range(K)], L,
                                     a.get("padding_mode", "zeros")))
        return tuple(res)


def _no_short_list(v, nd, name, why):
    """A one-element list where torch needs one value per axis (no broadcasting there)."""
    if nd > 1 and isinstance(v, (list, tuple)) and len(v) == 1:
        raise KindError(_("`{name}` needs an int or {nd} values, got {v} ({why})").format(name=name, nd=nd, v=list(v), why=why), name)


def _check_padding_mode(pad, stride):
    """A string padding: 'same' or 'valid', and 'same' only without a stride (as torch); needs no input."""
    if isinstance(pad, str):
        if pad not in ("same", "valid"):
            raise KindError(_("`padding` must be an int, a list of ints, 'same' or 'valid', got {pad!r}").format(pad=pad), "padding")
        strides = stride if isinstance(stride, (list, tuple)) else [stride]
        if pad == "same" and any(x != 1 for x in strides if isinstance(x, int)):
            raise KindError(_("padding='same' is not supported for strided convolutions (as in torch)"), "padding",
                            [_("give the padding explicitly, e.g. padding: (kernel_size - 1) // 2")])


def _ints(v):
    return [x for x in (v if isinstance(v, (list, tuple)) else [v]) if isinstance(x, int)]


def _conv_check_args(cls, op, args):
    """What _common and _conv_setup refuse whatever the input: the same messages, found also on a node
    whose input has an error."""
    g, oc, ic = args.get("groups", 1), args.get("out_channels"), args.get("in_channels")
    if isinstance(g, int) and isinstance(oc, int) and (g < 1 or oc % g or (isinstance(ic, int) and ic % g)):
        if isinstance(ic, int):
            raise KindError(_("groups={g} must divide in_channels={c_in} and out_channels={out_channels}").format(
                g=g, c_in=ic, out_channels=oc), "groups")
        raise KindError(_("groups={g} must divide out_channels={out_channels}").format(g=g, out_channels=oc), "groups")
    if isinstance(oc, int) and oc < 1:
        raise KindError(_("`out_channels` must be positive"), "out_channels")
    if min(_ints(args.get("kernel_size", 1)) + _ints(args.get("stride", 1)) + _ints(args.get("dilation", 1)) + [1]) < 1:
        raise KindError(_("kernel_size, stride and dilation must be positive"))
    if not cls.transposed:
        _check_padding_mode(args.get("padding", 0), args.get("stride", 1))


def _conv_setup(self):
    self._common()
    a = self.a
    nd = self.nd
    pad = a["padding"]
    k, s, d = a["kernel_size"], a["stride"], a["dilation"]
    if isinstance(pad, str):
        _check_padding_mode(pad, s)
        total = [dd * (kk - 1) for kk, dd in zip(k, d)] if pad == "same" else [0] * nd
        self.pad_lr = tuple((t // 2, t - t // 2) for t in total)
    else:
        p = ntuple(pad, nd, "padding")
        if min(p) < 0:
            raise KindError(_("`padding` must not be negative, got {p} (torch: negative padding is not supported)").format(p=list(p)), "padding")
        a["padding"] = p
        self.pad_lr = tuple((pp, pp) for pp in p)
    mode = a.get("padding_mode", "zeros")
    for ax, L, (pl, pr) in zip(AXES[nd], self.in_shape[1:], self.pad_lr):
        if mode == "reflect" and max(pl, pr) >= L:
            raise KindError(_("{ax}: reflect padding {max} must be smaller than the input size {L} (as in torch)").format(ax=ax, max=max(pl, pr), L=L), "padding", code="shape")
        if mode == "circular" and max(pl, pr) > L:
            raise KindError(_("{ax}: circular padding {max} wraps around the input of size {L} more than once (torch "
                              "refuses this)").format(ax=ax, max=max(pl, pr), L=L), "padding", code="shape")
    out = [a["out_channels"]]
    for ax, L, kk, ss, dd, (pl, pr) in zip(AXES[nd], self.in_shape[1:], k, s, d, self.pad_lr):
        span = dd * (kk - 1) + 1
        n = (L + pl + pr - span) // ss + 1
        if L + pl + pr < span:
            raise KindError(_("{axis}: the kernel spans {span} (dilation {dilation} * (kernel {kernel} - 1) + 1) but "
                              "the padded input is only {length} + {padding} = {padded}").format(
                                axis=ax, span=span, dilation=dd, kernel=kk, length=L, padding=pl + pr,
                                padded=L + pl + pr), "kernel_size",
                            [_("use a smaller kernel, more padding, or a larger input")], code="shape")
        out.append(n)
    self.out_shapes = [tuple(out)]


def _conv_shape_figures(self):
    figs = []
    a = self.a
    for i, ax in enumerate(AXES[self.nd]):
        pl, pr = self.pad_lr[i]
        b = {f"{ax}_in": self.in_shape[i + 1], "P": pl, "D": a["dilation"][i], "K": a["kernel_size"][i],
             "S": a["stride"][i]}
        if pl == pr:
            f = f"floor(({ax}_in + 2*P - D*(K-1) - 1) / S) + 1"
        else:
            f = f"floor(({ax}_in + P + P_r - D*(K-1) - 1) / S) + 1"
            b["P_r"] = pr
        figs.append(Figure(self.out_shape[i + 1], f, b, f"{ax}_out"))
    figs.insert(0, Figure(a["out_channels"], "C_out", {"C_out": a["out_channels"]}, "C_out"))
    return figs


def window_rf_figures(axes, kernel, dilation, stride, pad_left):
    """The per-axis figures of a sliding window's receptive-field step (for `explain`)."""
    figs = {}
    for ax, kk, dd, ss, pl in zip(axes, kernel, dilation, stride, pad_left):
        figs[ax] = [Figure(dd * (kk - 1) + 1, "D*(K-1) + 1", {"D": dd, "K": kk}, "k_eff",
                           note=N_("effective kernel extent (dilation spreads the taps)")),
                    Figure(ss, "S", {"S": ss}, "s"), Figure(pl, "P", {"P": pl}, "P", note=N_("left padding"))]
    return figs


def _conv_rf(self):
    a = self.a
    k = tuple(dd * (kk - 1) + 1 for kk, dd in zip(a["kernel_size"], a["dilation"]))
    pl = tuple(p for p, _ in self.pad_lr)
    return RFStep("window", k, a["stride"], pl, N_("conv"),
                  window_rf_figures(AXES[self.nd], a["kernel_size"], a["dilation"], a["stride"], pl))


def _conv_torch(self):
    import torch.nn as nn
    a = self.a
    cls = getattr(nn, f"Conv{self.nd}d")
    pad = a["padding"]
    return cls(a["in_channels"], a["out_channels"], a["kernel_size"], stride=a["stride"], padding=pad,
               dilation=a["dilation"], groups=a["groups"], bias=a["bias"], padding_mode=a["padding_mode"])


def _tconv_setup(self):
    self._common()
    a = self.a
    nd = self.nd
    if isinstance(a["padding"], str):
        raise KindError(_("transposed convolution takes an int or list padding"), "padding")
    a["padding"] = ntuple(a["padding"], nd, "padding")
    a["output_padding"] = ntuple(a["output_padding"], nd, "output_padding")
    if min(a["padding"]) < 0 or min(a["output_padding"]) < 0:
        raise KindError(_("`padding` and `output_padding` must not be negative (as in torch)"), "padding")
    if a["padding_mode"] != "zeros":
        raise KindError(_("transposed convolution supports only padding_mode='zeros' (as in torch)"), "padding_mode")
    out = [a["out_channels"]]
    for ax, L, kk, ss, dd, pp, op in zip(AXES[nd], self.in_shape[1:], a["kernel_size"], a["stride"],
                                         a["dilation"], a["padding"], a["output_padding"]):
        if op >= max(ss, dd):
            raise KindError(_("output_padding ({op}) must be smaller than stride or dilation").format(op=op), "output_padding")
        n = (L - 1) * ss - 2 * pp + dd * (kk - 1) + op + 1
        if n < 1:
            raise KindError(_("{ax}: output size (L_in-1)*S - 2*P + D*(K-1) + output_padding + 1 = {n} < 1").format(ax=ax, n=n),
                            "padding", code="shape")
        out.append(n)
    self.out_shapes = [tuple(out)]
    self.pad_lr = tuple((p, p) for p in a["padding"])


def _tconv_shape_figures(self):
    a = self.a
    figs = [Figure(a["out_channels"], "C_out", {"C_out": a["out_channels"]}, "C_out")]
    for i, ax in enumerate(AXES[self.nd]):
        figs.append(Figure(self.out_shape[i + 1], f"({ax}_in - 1)*S - 2*P + D*(K-1) + OP + 1",
                           {f"{ax}_in": self.in_shape[i + 1], "S": a["stride"][i], "P": a["padding"][i],
                            "D": a["dilation"][i], "K": a["kernel_size"][i], "OP": a["output_padding"][i]},
                           f"{ax}_out"))
    return figs


def _tconv_rf(self):
    from fractions import Fraction
    a = self.a
    # Output o reads inputs i with i*S = o + P - D*k for taps k in [0, K-1]: in input units the
    # field spans D*(K-1)/S, the jump shrinks by S, and unit 0 starts at (P - D*(K-1))/S.
    k = tuple(Fraction(dd * (kk - 1), ss) + 1 for kk, dd, ss in zip(a["kernel_size"], a["dilation"], a["stride"]))
    s = tuple(Fraction(1, ss) for ss in a["stride"])
    p = tuple(Fraction(dd * (kk - 1) - pp, ss) for kk, dd, ss, pp in
              zip(a["kernel_size"], a["dilation"], a["stride"], a["padding"]))
    figs = {}
    for i, ax in enumerate(AXES[self.nd]):
        kk, dd, ss, pp = a["kernel_size"][i], a["dilation"][i], a["stride"][i], a["padding"][i]
        figs[ax] = [Figure(_fv(k[i]), "D*(K-1)/S + 1", {"D": dd, "K": kk, "S": ss}, "k_eff",
                           note="output o reads inputs (o + P - D*t)/S, taps t = 0..K-1: a span of D*(K-1)/S"),
                    Figure(_fv(s[i]), "1/S", {"S": ss}, "s", note=N_("fractional stride")),
                    Figure(_fv(p[i]), "(D*(K-1) - P)/S", {"D": dd, "K": kk, "P": pp, "S": ss}, "P",
                           note="unit 0 reads from input (P - D*(K-1))/S")]
    return RFStep("window", k, s, p, N_("transposed conv"), figs)


def _fv(x):
    return int(x) if x.denominator == 1 else x


def _tconv_torch(self):
    import torch.nn as nn
    a = self.a
    cls = getattr(nn, f"ConvTranspose{self.nd}d")
    return cls(a["in_channels"], a["out_channels"], a["kernel_size"], stride=a["stride"], padding=a["padding"],
               output_padding=a["output_padding"], groups=a["groups"], bias=a["bias"], dilation=a["dilation"])


for _nd in (1, 2, 3):
    for _lazy in (False, True):
        for _tr in (False, True):
            _name = ("Lazy" if _lazy else "") + ("ConvTranspose" if _tr else "Conv") + f"{_nd}d"
            _cls = type(_name, (ConvBase,), {
                "nd": _nd, "transposed": _tr, "lazy": _lazy, "SIG": _conv_sig(_lazy, _tr),
                "setup": _tconv_setup if _tr else _conv_setup,
                "check_args": classmethod(_conv_check_args),
                "shape_figures": _tconv_shape_figures if _tr else _conv_shape_figures,
                "rf": _tconv_rf if _tr else _conv_rf,
                "torch_module": _tconv_torch if _tr else _conv_torch,
                "doc": ("transposed " if _tr else "") + f"{_nd}D convolution",
            })
            register(_name)(_cls)
            globals()[_name] = _cls


@register("DeformConv2d")
class DeformConv2d(ConvBase):
    """torchvision.ops.DeformConv2d: `from: [x, offset]` or `[x, offset, mask]`."""

    nd = 2
    N_INPUTS = (2, 3)
    SIG = (Arg("in_channels", REQUIRED, "int", infer=True), Arg("out_channels", REQUIRED, "int"),
           Arg("kernel_size", REQUIRED, "ints"), Arg("stride", 1, "ints"), Arg("padding", 0, "ints"),
           Arg("dilation", 1, "ints"), Arg("groups", 1, "int"), Arg("bias", True, "bool"))
    doc = "deformable convolution (torchvision.ops.DeformConv2d)"
    torch_counter_gap = "FlopCounterMode does not count torchvision's deform_conv2d"

    def setup(self):
        self.a.setdefault("padding_mode", "zeros")
        _conv_setup(self)
        self.a.pop("padding_mode", None)
        kh, kw = self.a["kernel_size"]
        off = self.in_shapes[1]
        if len(off) != 3 or off[0] % (2 * kh * kw) or off[1:] != self.out_shape[1:]:
            raise KindError(_("the offset input must be [2*offset_groups*{kh}*{kw}, {out_shape_1}, {out_shape_2}], got "
                              "{off}").format(kh=kh, kw=kw, out_shape_1=self.out_shape[1], out_shape_2=self.out_shape[2], off=list(off)), None,
                            [_("make the offset a Conv2d of x with {value} output channels and the same kernel, stride, "
                               "padding and dilation").format(value=2 * kh * kw)], code="shape")
        self.offset_groups = off[0] // (2 * kh * kw)
        self.has_mask = len(self.in_shapes) == 3

    def _samples(self):
        a = self.a
        v = self.N * a["in_channels"] * prod(a["kernel_size"]) * prod(self.out_shape[1:])
        return Figure(v, "N*C_in*K_h*K_w*H_out*W_out",
                      {"N": self.N, "C_in": a["in_channels"], **self._kbind(), **self._out_sp_bind()},
                      "bilinear samples")

    def terms(self):
        m = self.mac_figure()
        t = [Term(("deform_conv",), m.value, m, blind=BLIND_DEFORM)]
        smp = self._samples()
        t.append(Term(("deform_sample",), smp.value, smp))
        if self.has_mask:
            t.append(Term(("deform_mask",), smp.value, smp))
        if self.a["bias"]:
            f = self.bias_figure()
            t.append(Term(("bias",), f.value, f))
        return t

    def bwd_terms(self, needs_input_grad):
        m = self.mac_figure()
        out = [Term(("deform_conv",), m.value, m)]
        if needs_input_grad:
            out.append(Term(("deform_conv",), m.value, m))
            smp = self._samples()
            out.append(Term(("deform_sample",), smp.value, smp))
        return out

    def saved(self):
        s = [Saved("input", self.numel_in(0), alias="input"), Saved("offset", self.numel_in(1), alias="input1")]
        if self.has_mask:
            s.append(Saved("mask", self.numel_in(2), alias="input2"))
        else:   # torchvision passes a zeros [N, 1] mask, which its autograd function saves
            s.append(Saved("mask (zeros placeholder)", 1))
        if not self.a["bias"]:   # and a zeros bias of out_channels
            s.append(Saved("bias (zeros placeholder)", self.a["out_channels"], batched=False))
        return s

    def rf(self):
        st = _conv_rf(self)
        return RFStep("data", st.k, st.s, st.p, N_("deformable: offsets are data dependent"))

    shape_figures = _conv_shape_figures

    def torch_module(self):
        from torchvision.ops import DeformConv2d as D
        a = self.a
        return D(a["in_channels"], a["out_channels"], a["kernel_size"], stride=a["stride"], padding=a["padding"],
                 dilation=a["dilation"], groups=a["groups"], bias=a["bias"])
