"""Pooling: max, average, LP, adaptive, global; 1D/2D/3D.  Shares the convolution's geometry."""
from __future__ import annotations

import math

from ..i18n import N_, _
from ..figure import Figure
from .base import REQUIRED, Arg, Geometry, Kind, KindError, RFStep, Saved, Term, ntuple, prod, rank_hints, register
from .conv import AXES, window_rf_figures


def pool_out(L, k, s, p, d, ceil_mode):
    """torch's pooling output size, ceil_mode included (the last window must start inside)."""
    span = d * (k - 1) + 1
    num = L + 2 * p - span
    if ceil_mode:
        n = -(-num // s) + 1
        if (n - 1) * s >= L + p:
            n -= 1
    else:
        n = num // s + 1
    return n


class PoolBase(Kind):
    family = "pool"
    nd = 2
    rule = "max_pool"

    @staticmethod
    def _window_args(a, nd):
        """Normalise kernel, stride, padding and dilation in `a` and refuse what torch refuses whatever
        the input; -> the dilation per axis."""
        a["kernel_size"] = ntuple(a["kernel_size"], nd, "kernel_size")
        a["stride"] = a["kernel_size"] if a.get("stride") in (None, [], ()) else ntuple(a["stride"], nd, "stride")
        a["padding"] = ntuple(a.get("padding", 0), nd, "padding")
        dil = ntuple(a.get("dilation", 1), nd, "dilation")
        if "dilation" in a:
            a["dilation"] = dil
        for name, v in (("kernel_size", a["kernel_size"]), ("stride", a["stride"]), ("dilation", dil)):
            if min(v) < 1:
                raise KindError(_("`{name}` must be positive, got {v} (as in torch)").format(name=name, v=list(v)), name)
        if min(a["padding"]) < 0:
            raise KindError(_("`padding` must not be negative, got {padding}").format(padding=list(a['padding'])), "padding")
        if a.get("divisor_override") == 0:
            raise KindError(_("`divisor_override` cannot be 0 (torch refuses it)"), "divisor_override")
        for p, k in zip(a["padding"], a["kernel_size"]):
            if p * 2 > k:
                raise KindError(_("padding ({p}) must be at most half the kernel size ({k}), as torch requires").format(p=p, k=k),
                                "padding")
        return dil

    @classmethod
    def check_args(cls, op, args):
        if "padding" in {x.name for x in cls.SIG}:     # (LPPool has none: its setup sets 0)
            cls._window_args(dict(args), cls.nd)

    def setup(self):
        nd = self.nd
        x = self.in_shape
        if len(x) != nd + 1:
            raise KindError(_("`{op}` needs a [C, {AXES}] input, got {x}").format(op=self.op, AXES=', '.join(AXES[nd]), x=list(x)), None,
                            rank_hints(x, nd, self.op[:-2]))
        a = self.a
        self.dil = dil = self._window_args(a, nd)
        out = [x[0]]
        for ax, L, k, s, p, d in zip(AXES[nd], x[1:], a["kernel_size"], a["stride"], a["padding"], dil):
            n = pool_out(L, k, s, p, d, a.get("ceil_mode", False))
            # with ceil_mode torch lets a window overhang the input, except in its 3-D average pooling
            strict = not a.get("ceil_mode", False) or self.op == "AvgPool3d"
            if n < 1 or L + 2 * p < d * (k - 1) + 1 and strict:
                raise KindError(_("{ax}: the window spans {d} but the padded input is {L}").format(ax=ax, d=d * (k - 1) + 1, L=L + 2 * p),
                                "kernel_size", code="shape")
            if self.op == "AvgPool3d" and L < k:
                # torch's avg_pool3d checks the input itself, padding aside, against the kernel
                raise KindError(_("{ax}: the input ({L}) is smaller than the kernel ({k}); torch's avg_pool3d requires "
                                  "each input size to be at least the kernel size, padding aside").format(ax=ax, L=L, k=k),
                                "kernel_size", code="shape")
            out.append(n)
        self.out_shapes = [tuple(out)]

    def shape_figures(self):
        figs = []
        a = self.a
        rnd = "ceil" if a.get("ceil_mode") else "floor"
        for i, ax in enumerate(AXES[self.nd]):
            b = {f"{ax}_in": self.in_shape[i + 1], "P": a["padding"][i], "D": self.dil[i],
                 "K": a["kernel_size"][i], "S": a["stride"][i]}
            f = Figure(self.out_shape[i + 1], f"{rnd}(({ax}_in + 2*P - D*(K-1) - 1) / S) + 1", b, f"{ax}_out")
            if a.get("ceil_mode") and f.evaluate() != f.value:
                f.formula = f"{rnd}(({ax}_in + 2*P - D*(K-1) - 1) / S)"
                f.note = "ceil_mode: a last window starting in the right padding is dropped"
            figs.append(f)
        return figs

    def geometry(self):
        a = self.a
        return Geometry(a["kernel_size"], a["stride"], self.dil, a["padding"], a["padding"],
                        bool(a.get("ceil_mode", False)))

    def linearised(self):
        # a max pool's gradient reaches one pixel only: average over exactly the windows it reads
        return _avg_like(self) if self.rule == "max_pool" else None

    def window(self):
        return prod(self.a["kernel_size"])

    def terms(self):
        K = self.window()
        n = self.N * self.numel_out()
        if self.rule == "max_pool":
            v = n * (K - 1)
            return [Term(("max_pool",), v, Figure(v, "N*numel_out*(K - 1)", {"N": self.N, "numel_out": self.numel_out(),
                                                                          "K": K}, "comparisons"))]
        if self.rule == "avg_pool" and not self.a.get("count_include_pad", True):
            # the padding is not averaged: each output sums only the input elements inside its window
            # ((elements - 1) adds + 1 divide); separable windows: per axis, the sum of the window
            # lengths clipped to the input, multiplied across axes
            ws = self.window_sum()
            c = self.in_shape[0]
            v = self.N * c * ws
            return [Term((self.rule,), v, Figure(v, "N*C*window_sum", {"N": self.N, "C": c, "window_sum": ws},
                                                 "operations",
                                                 note="window_sum: input elements inside the windows (count_include_"
                                                      "pad=False), the product over axes of the sum of window "
                                                      "lengths clipped to the input; per output (elements - 1) "
                                                      "adds + 1 divide"))]
        v = n * K
        return [Term((self.rule,), v, Figure(v, "N*numel_out*K", {"N": self.N, "numel_out": self.numel_out(), "K": K},
                                             "operations"))]

    def window_sum(self):
        """Input elements inside the windows of one channel, padding and any ceil_mode overhang left out."""
        total = 1
        for L, n, k, s, p in zip(self.in_shape[1:], self.out_shape[1:], self.a["kernel_size"], self.a["stride"],
                                 self.a["padding"]):
            total *= _clipped_sum(L, n, k, s, p)
        return total

    def rf(self):
        # ceil_mode only adds a last, partial window: r, j and p are those of floor mode
        k = tuple(d * (kk - 1) + 1 for kk, d in zip(self.a["kernel_size"], self.dil))
        return RFStep("window", k, self.a["stride"], self.a["padding"], N_("pool"),
                      window_rf_figures(AXES[self.nd], self.a["kernel_size"], self.dil, self.a["stride"],
                                        self.a["padding"]))

    def rf_index(self, sets, i=0, out=0):
        """Exact window: the taps D*t - P of each output's window inside the input (bit masks)."""
        from .index_sets import taps
        pad = getattr(self, "_pad", None) or self.a["padding"]
        return tuple(taps(m, self.a["stride"][ax], [self.dil[ax] * t - pad[ax] for t in range(self.a["kernel_size"][ax])],
                          self.in_shape[ax + 1]) for ax, m in enumerate(sets))


def _clipped_sum(L, n, k, s, p):
    """sum over o < n of |[o*s - p, o*s - p + k) ∩ [0, L)|: k per window, less what the windows that cross
    an edge lose (only those are visited: at most about k/s per side, whatever the input's size)."""
    full = n * k
    # left: window o starts at o*s - p < 0 for o < ceil(p / s); it loses p - o*s (at most k) elements
    left = sum(min(k, p - o * s) for o in range(min(n, -(-p // s))))
    # right: window o ends past L when o*s - p + k > L; it loses o*s - p + k - L (at most k) elements
    first = max(0, (L + p - k) // s + 1)
    right = sum(min(k, o * s - p + k - L) for o in range(first, n))
    return full - left - right


def _avg_like(k):
    """Average over exactly the windows a max pool reads: pad, then a depthwise all-ones conv."""
    geo = k.geometry()
    nd = geo.nd
    ks, st, pd, dl, ceil = geo.kernel, geo.stride, geo.pad_lo, geo.dilation, geo.ceil_mode

    def run(xs):
        import torch
        import torch.nn.functional as F
        x = xs[0]
        c = x.shape[1]
        pads = []
        for ax in range(nd):
            L = x.shape[2 + ax]
            n = pool_out(L, ks[ax], st[ax], pd[ax], dl[ax], ceil)
            span = dl[ax] * (ks[ax] - 1) + 1
            extra = max(0, (n - 1) * st[ax] + span - (L + 2 * pd[ax]))
            pads.append((pd[ax], pd[ax] + extra))
        flat = []
        for lo, hi in reversed(pads):
            flat += [lo, hi]
        x = F.pad(x, flat)
        w = torch.full((c, 1) + tuple(ks), 1.0 / max(1, prod(ks)), dtype=x.dtype, device=x.device)
        conv = getattr(F, f"conv{nd}d")
        return conv(x, w, stride=st, dilation=dl, groups=c)
    return run


def _max_saved(self):
    return [Saved("input", self.numel_in(), alias="input"), Saved("indices", self.numel_out(), 8)]


def _avg_saved(self):
    # avg_pool{1,2,3}d's backward takes the input (torch saves it: measured by `cnncalc verify`)
    return [Saved("input", self.numel_in(), alias="input")]


def _torch(self):
    import torch.nn as nn
    kw = {k: (v[0] if isinstance(v, tuple) and len(v) == 1 else v) for k, v in self.torch_kwargs().items()}
    return getattr(nn, self.op)(**kw)


def _maxsig():
    return (Arg("kernel_size", REQUIRED, "ints"), Arg("stride", None, "any"), Arg("padding", 0, "ints"),
            Arg("dilation", 1, "ints"), Arg("return_indices", False, "bool"), Arg("ceil_mode", False, "bool"))


for _nd in (1, 2, 3):
    _n = f"MaxPool{_nd}d"
    register(_n)(type(_n, (PoolBase,), {"nd": _nd, "SIG": _maxsig(), "rule": "max_pool", "saved": _max_saved,
                                        "torch_module": _torch, "doc": "max pooling"}))
    _sig = (Arg("kernel_size", REQUIRED, "ints"), Arg("stride", None, "any"), Arg("padding", 0, "ints"),
            Arg("ceil_mode", False, "bool"), Arg("count_include_pad", True, "bool"))
    if _nd > 1:
        _sig += (Arg("divisor_override", None, "optint"),)
    _n = f"AvgPool{_nd}d"
    register(_n)(type(_n, (PoolBase,), {"nd": _nd, "SIG": _sig, "rule": "avg_pool", "saved": _avg_saved,
                                        "torch_module": _torch, "doc": "average pooling"}))


class LPPoolBase(PoolBase):
    rule = "lp_pool"

    def setup(self):
        k = self.a["kernel_size"]
        if self.nd > 1 and isinstance(k, (list, tuple)) and len(k) != self.nd:
            raise KindError(_("LPPool{nd}d needs an int or {nd} kernel sizes, got {k} (torch unpacks them)").format(nd=self.nd, k=list(k)), "kernel_size")
        if self.nd == 1 and not isinstance(self.a["kernel_size"], int):
            raise KindError(_("LPPool1d takes an int kernel_size (torch's lp_pool1d multiplies by it and fails on a "
                              "list)"), "kernel_size")
        if self.a["norm_type"] == 0:
            raise KindError(_("`norm_type` cannot be 0 (the output is raised to 1/norm_type; torch fails)"),
                            "norm_type")
        self.a["padding"] = 0
        super().setup()
        self.a.pop("padding", None)
        self._pad = (0,) * self.nd

    def shape_figures(self):
        self.a["padding"] = self._pad
        try:
            return super().shape_figures()
        finally:
            self.a.pop("padding", None)

    def geometry(self):
        return Geometry(self.a["kernel_size"], self.a["stride"], (1,) * self.nd, self._pad, self._pad,
                        bool(self.a.get("ceil_mode", False)))

    def rf(self):
        return RFStep("window", self.a["kernel_size"], self.a["stride"], self._pad, N_("pool"),
                      window_rf_figures(AXES[self.nd], self.a["kernel_size"], (1,) * self.nd, self.a["stride"],
                                        self._pad))

    def terms(self):
        K = self.window()
        v = self.N * self.numel_out() * 2 * K
        return [Term(("lp_pool",), v, Figure(v, "N*numel_out*2*K", {"N": self.N, "numel_out": self.numel_out(),
                                                                   "K": K}, "operations"))]

    def saved(self):
        # torch's lp_pool: avg_pool(x.pow(p)) -> sign(o) * relu(abs(o)) -> mul(K) -> pow(1/p); autograd
        # keeps x, x**p (avg_pool's input), abs's input o, relu's output, sign(o), pow's input and output
        n_in, n_out = self.numel_in(), self.numel_out()
        return [Saved("input", n_in, alias="input"), Saved("input ** p", n_in),
                Saved("pooled", n_out), Saved("relu(abs(pooled))", n_out), Saved("sign(pooled)", n_out),
                Saved("output", n_out, alias="output")]


for _nd in (1, 2):
    _n = f"LPPool{_nd}d"
    register(_n)(type(_n, (LPPoolBase,), {"nd": _nd, "SIG": (Arg("norm_type", REQUIRED, "float"),
                                                             Arg("kernel_size", REQUIRED, "ints"),
                                                             Arg("stride", None, "any"), Arg("ceil_mode", False, "bool")),
                                          "torch_module": _torch, "doc": "power-average pooling"}))


def _adaptive_windows(L, n):
    """Sizes of torch's adaptive windows: [floor(i*L/n), ceil((i+1)*L/n))."""
    return [math.ceil((i + 1) * L / n) - (i * L) // n for i in range(n)]


class AdaptiveBase(Kind):
    family = "pool"
    adaptive = True           # its windows follow from the input and output sizes (uneven when they do not divide)
    nd = 2
    is_max = False

    def setup(self):
        x = self.in_shape
        nd = self.nd
        if len(x) != nd + 1:
            raise KindError(_("`{op}` needs a [C, {AXES}] input, got {x}").format(op=self.op, AXES=', '.join(AXES[nd]), x=list(x)), None,
                            rank_hints(x, nd, self.op[:-2]))
        o = self.a["output_size"]
        if o is None:
            raise KindError(_("`output_size` is required: an int, or a list with an int or null per spatial dim"),
                            "output_size")
        if isinstance(o, int) and not isinstance(o, bool):
            o = (o,) * nd
        if nd == 1 and isinstance(o, (list, tuple)) and None in o:
            raise KindError(_("a 1-D adaptive pool takes an int output_size (torch refuses null here)"), "output_size")
        if not isinstance(o, (list, tuple)) or len(o) != nd or not all(
                v is None or isinstance(v, int) and not isinstance(v, bool) for v in o):
            raise KindError(_("`output_size` must be an int or {nd} ints (null keeps that size), got {o!r}").format(nd=nd, o=o),
                            "output_size")
        o = tuple(L if v is None else v for v, L in zip(o, x[1:]))
        if min(o) < 1:
            raise KindError(_("`output_size` must be positive, got {o}").format(o=list(o)), "output_size")
        self.a["output_size"] = o
        self.out_shapes = [(x[0],) + o]

    def _wsum(self):
        """Sum over output positions of the window volume (exact, windows may overlap)."""
        total = 1
        for L, n in zip(self.in_shape[1:], self.a["output_size"]):
            total *= sum(_adaptive_windows(L, n))
        return total

    def terms(self):
        c = self.in_shape[0]
        ws = self._wsum()
        if self.is_max:
            v = self.N * c * (ws - prod(self.a["output_size"]))
            return [Term(("adaptive_max_pool",), v, Figure(v, "N*C*(window_sum - numel_out_per_channel)",
                                                           {"N": self.N, "C": c, "window_sum": ws,
                                                            "numel_out_per_channel": prod(self.a["output_size"])},
                                                           "comparisons"))]
        v = self.N * c * ws
        t = [Term(("adaptive_avg_pool",), v, Figure(v, "N*C*window_sum", {"N": self.N, "C": c, "window_sum": ws},
                                                    "operations", note="window_sum: sum of the adaptive windows' sizes"))]
        vin = self.N * self.numel_in()
        t.append(Term((f"adaptive_avg_pool{self.nd}d_in",), vin, Figure(vin, "N*numel_in", {"N": self.N,
                                                                                          "numel_in": self.numel_in()},
                                                                         "input elements"),
                      alt=True))
        return t

    def saved(self):
        if self.is_max:
            return [Saved("input", self.numel_in(), alias="input"), Saved("indices", self.numel_out(), 8)]
        if all(o == 1 for o in self.a["output_size"]):
            return []   # torch computes a global average as input.mean(spatial dims): nothing saved
        return [Saved("input", self.numel_in(), alias="input")]

    def rf(self):
        x = self.in_shape[1:]
        if all(o == 1 for o in self.a["output_size"]):
            return RFStep("global", formula=N_("global pooling"))
        # Uniform windows when the input divides evenly: a plain window of L/n.
        if all(L % n == 0 for L, n in zip(x, self.a["output_size"])):
            k = tuple(L // n for L, n in zip(x, self.a["output_size"]))
            return RFStep("window", k, k, (0,) * self.nd, N_("adaptive pool (even windows)"))
        k = tuple(max(_adaptive_windows(L, n)) for L, n in zip(x, self.a["output_size"]))
        from fractions import Fraction
        s = tuple(Fraction(L, n) for L, n in zip(x, self.a["output_size"]))
        return RFStep("window", k, s, (0,) * self.nd, N_("adaptive pool (uneven windows: largest window, mean stride)"))

    def linearised(self):
        if not self.is_max:
            return None
        nd, o = self.nd, self.a["output_size"]

        def run(xs):
            import torch.nn.functional as F
            return getattr(F, f"adaptive_avg_pool{nd}d")(xs[0], o)
        return run

    def rf_index(self, sets, i=0, out=0):
        """Exact window of each output unit: [floor(i*L/n), ceil((i+1)*L/n) - 1] (torch's indices)."""
        from .index_sets import adaptive
        return tuple(adaptive(m, L, n) for m, L, n in zip(sets, self.in_shape[1:], self.a["output_size"]))

    def shape_figures(self):
        return [Figure(v, "output_size", {"output_size": v}, f"{ax}_out")
                for ax, v in zip(AXES[self.nd], self.a["output_size"])]

    def torch_module(self):
        import torch.nn as nn
        return getattr(nn, self.op)(self.a["output_size"])


for _nd in (1, 2, 3):
    _n = f"AdaptiveAvgPool{_nd}d"
    register(_n)(type(_n, (AdaptiveBase,), {"nd": _nd, "SIG": (Arg("output_size", REQUIRED, "any"),),
                                            "doc": "adaptive average pooling"}))
    _n = f"AdaptiveMaxPool{_nd}d"
    register(_n)(type(_n, (AdaptiveBase,), {"nd": _nd, "is_max": True, "doc": "adaptive max pooling",
                                            "SIG": (Arg("output_size", REQUIRED, "any"),
                                                    Arg("return_indices", False, "bool"))}))
