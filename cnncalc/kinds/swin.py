"""Swin Transformer's window attention (torchvision's ``ShiftedWindowAttention`` and
``ShiftedWindowAttentionV2``) and its patch merging's padding (``_patch_merging_pad``).

Tensors are channels-last, ``[H, W, C]`` (batch excluded).  One attention layer, as torchvision runs it:
pad H and W up to multiples of the window (``Hp``, ``Wp``); roll by ``-shift`` when the window is smaller
than the padded map; cut into ``nW = Hp/wh * Wp/ww`` windows of ``P = wh*ww`` tokens; ``qkv`` Linear(C, 3C);
per head (``h`` heads of ``d = C/h``) scores ``q k^T`` (v1: q scaled by ``d^-0.5`` first; v2: q and k
normalised, the scores times ``exp(min(logit_scale, log 100))``); plus the relative position bias
(v1: a learned ``(2wh-1)(2ww-1) x h`` table gathered by a ``P*P`` index buffer; v2: the table computed by
``cpb_mlp``, Linear(2, 512) ReLU Linear(512, h), from a coordinate buffer, then ``16*sigmoid``); plus the
shift's mask where shifted; softmax; ``@ v``; ``proj`` Linear(C, C); roll back; crop.

The counting is composed from the kinds of those pieces (Linear, matmul, softmax, ...) so that every
convention prices them as it prices the pieces.  Work done once per forward whatever the batch (v2's
``cpb_mlp`` and sigmoid, the mask's construction) is counted once.
"""
from __future__ import annotations

import math

from ..i18n import N_, _
from ..figure import Figure
from .base import REGISTRY, REQUIRED, Arg, Kind, KindError, RFStep, Saved, Term, check_types, ntuple, register
from .tensor import TensorFn


def _sub(op, kw, shapes, batch):
    cls = REGISTRY[op]
    return cls(op, check_types(cls, op, dict(kw)), [tuple(s) for s in shapes], batch)


def _fig(value, formula, bindings, name, note=""):
    return Figure(value, formula, bindings, name, note=note)


def _renamed(terms, prefix):
    return [Term(t.rules, t.count, Figure(t.figure.value, t.figure.formula, t.figure.bindings,
                                          f"{prefix} {t.figure.name}", note=t.figure.note), t.alt) for t in terms]


@register("ShiftedWindowAttention")
class ShiftedWindowAttention(Kind):
    example = ("ShiftedWindowAttention(8, [4, 4], [2, 2], 2)", [[6, 8, 8]])
    SIG = (Arg("dim", REQUIRED, "int", infer=True), Arg("window_size", REQUIRED, "ints"),
           Arg("shift_size", REQUIRED, "ints"), Arg("num_heads", REQUIRED, "int"),
           Arg("qkv_bias", True, "bool"), Arg("proj_bias", True, "bool"),
           Arg("attention_dropout", 0.0, "float"), Arg("dropout", 0.0, "float"))
    family = "attention"
    v2 = False
    doc = ("torchvision's Swin window attention on a channels-last [H, W, C] map: padded to whole windows, "
           "shifted, windowed multi-head attention with a relative position bias")

    ND = 2

    def setup(self):
        s = self.in_shape
        nd = self.ND
        if len(s) != nd + 1:
            dims = "[T, H, W, C]" if nd == 3 else "[H, W, C]"
            raise KindError(_("`{op}` takes a channels-last map {dims}, got {s}").format(op=self.op, dims=dims, s=list(s)), None, code="shape")
        S, C = tuple(s[:-1]), s[-1]
        if self.a.get("dim", REQUIRED) is REQUIRED:
            self.a["dim"] = C
        if self.a["dim"] != C:
            raise KindError(_("`dim` is {dim} but the input has {C} channels (last dim)").format(dim=self.a['dim'], C=C), "dim")
        ws = ntuple(self.a["window_size"], nd, "window_size")
        sh = ntuple(self.a["shift_size"], nd, "shift_size")
        h = self.a["num_heads"]
        if h < 1 or C % h:
            raise KindError(_("`num_heads` {h} does not divide dim {C}").format(h=h, C=C), "num_heads")
        if min(ws) < 1 or min(sh) < 0:
            raise KindError(_("`window_size` must be positive and `shift_size` non-negative"), "window_size")
        self.ws0 = ws
        self.T = 1
        for w in ws:
            self.T *= 2 * w - 1
        self.P0 = 1
        for w in ws:
            self.P0 *= w
        ws, sh = self._adapt(S, ws, sh)
        self.ws, self.h, self.C = ws, h, C
        self.Sp = tuple(n + (w - n % w) % w for n, w in zip(S, ws))
        self.sh = self._shift(ws, sh)
        self.shifted = sum(self.sh) > 0
        self.nW = 1
        self.P = 1
        for n, w in zip(self.Sp, ws):
            self.nW *= n // w
            self.P *= w
        d = C // h
        N = self.N
        tok = (self.nW, self.P, C)
        self.qkv = _sub("Linear", {"in_features": C, "out_features": 3 * C, "bias": self.a["qkv_bias"]}, [tok], N)
        self.proj = _sub("Linear", {"in_features": C, "out_features": C, "bias": self.a["proj_bias"]}, [tok], N)
        self.qk = _sub("matmul", {}, [(self.nW, h, self.P, d), (self.nW, h, d, self.P)], N)
        self.av = _sub("matmul", {}, [(self.nW, h, self.P, self.P), (self.nW, h, self.P, d)], N)
        self.sm = _sub("softmax", {"dim": -1}, [(self.nW, h, self.P, self.P)], N)
        self.out_shapes = [s]

    def _adapt(self, S, ws, sh):
        """The window and shift used (the 3-D module shrinks a window larger than the map)."""
        return ws, sh

    def _shift(self, ws, sh):
        # torchvision (2-D): no shift along an axis the window covers whole once padded
        return tuple(0 if w >= n else x for w, n, x in zip(ws, self.Sp, sh))

    # ---- sizes
    def _b(self):
        return {"N": self.N, "nW": self.nW, "h": self.h, "P": self.P}

    def scores(self):
        return self.N * self.nW * self.h * self.P * self.P

    def params(self):
        C = self.C
        qb, pb = int(self.a["qkv_bias"]), int(self.a["proj_bias"])
        v = 3 * C * C + 3 * C * qb + C * C + C * pb + self._bias_params()
        f, b = self._bias_params_formula()
        return _fig(v, f"3*C*C + 3*C*qkv_bias + C*C + C*proj_bias + {f}",
                    dict({"C": C, "qkv_bias": qb, "proj_bias": pb}, **b), "params",
                    note="qkv and proj Linear, " + self._bias_note())

    def _bias_params(self):
        return self.T * self.h

    def _bias_params_formula(self):
        return "T*h", {"T": self.T, "h": self.h}

    def _bias_note(self):
        return "the relative position bias table, T = product of (2*w - 1) over the window's axes"

    def buffers(self):
        return _fig(self.P0 * self.P0, "P0*P0", {"P0": self.P0}, "buffers",
                    note="the relative position index (P0: tokens of the configured window)")

    def _score_terms(self):
        """Per-score elementwise work besides the bias: v1 scales q instead (per q element)."""
        q = self.N * self.nW * self.P * self.C
        return [Term(("elementwise",), q, _fig(q, "N*nW*P*C", {"N": self.N, "nW": self.nW, "P": self.P, "C": self.C},
                                               "q scaling"))]

    def _once_terms(self):
        return []

    def terms(self):
        sc = self.scores()
        out = _renamed(self.qkv.terms(), "qkv")
        out += self._score_terms()
        out += _renamed(self.qk.terms(), "q k^T")
        out.append(Term(("elementwise",), sc, _fig(sc, "N*nW*h*P*P", self._b(), "relative position bias adds")))
        if self.shifted:
            out.append(Term(("elementwise",), sc, _fig(sc, "N*nW*h*P*P", self._b(), "shift mask adds")))
            m = self.nW * self.P * self.P
            out.append(Term(("elementwise",), m, _fig(m, "nW*P*P", {"nW": self.nW, "P": self.P},
                                                      "shift mask construction (once)")))
        out += _renamed(self.sm.terms(), "scores")
        out += _renamed(self.av.terms(), "attn v")
        out += _renamed(self.proj.terms(), "proj")
        out += self._once_terms()
        return out

    def bwd_terms(self, needs_input_grad):
        sc = self.scores()
        out = _renamed(self.proj.bwd_terms(True), "proj")
        out += _renamed(self.av.bwd_terms(True), "attn v")
        out += _renamed(self.sm.bwd_terms(True), "scores")
        out.append(Term(("elementwise",), sc, _fig(sc, "N*nW*h*P*P", self._b(),
                                                   "bias table gradient adds (scatter-add)")))
        out += _renamed(self.qk.bwd_terms(True), "q k^T")
        out += _renamed(self.qkv.bwd_terms(needs_input_grad), "qkv")
        return out

    def saved(self):
        tok = self.nW * self.P * self.C
        out = [Saved("qkv input (the padded, shifted windows)", tok)]
        out += [Saved("q (scaled), k, v", 3 * tok), Saved("attention weights", self.nW * self.h * self.P * self.P),
                Saved("attention output (proj input)", tok)]
        if self.N * self.nW == 1:
            # one window of one sample: matmul keeps k and v as views of the whole qkv output (3 tokens' worth)
            # instead of copies of each (2): measured with saved_tensors_hooks on torchvision's module
            out.append(Saved("the rest of the qkv output (k and v kept as views of it: batch 1, one window)",
                             tok, batched=False))
        return out

    def rf(self):
        return RFStep("global", formula=N_("window attention on a channels-last map"))

    def shape_figures(self):
        ax = "thw"[3 - self.ND:]
        f = "*".join(f"({a}p/w{a})" for a in ax)
        b = {}
        for a, n, w in zip(ax, self.Sp, self.ws):
            b[f"{a}p"] = n
            b[f"w{a}"] = w
        return [_fig(self.nW, f, b, "windows"),
                _fig(self.P, "*".join(f"w{a}" for a in ax), {f"w{a}": w for a, w in zip(ax, self.ws)},
                     "tokens per window")]

    def _torch_class(self):
        from torchvision.models import swin_transformer as sw
        return sw.ShiftedWindowAttentionV2 if self.v2 else sw.ShiftedWindowAttention

    def torch_module(self):
        return self._torch_class()(self.C, list(self.ws0), list(ntuple(self.a["shift_size"], self.ND, "shift_size")), self.h,
                   qkv_bias=self.a["qkv_bias"], proj_bias=self.a["proj_bias"],
                   attention_dropout=self.a["attention_dropout"], dropout=self.a["dropout"])


@register("ShiftedWindowAttentionV2")
class ShiftedWindowAttentionV2(ShiftedWindowAttention):
    example = ("ShiftedWindowAttentionV2(8, [4, 4], [2, 2], 2)", [[6, 8, 8]])
    v2 = True
    HIDDEN = 512         # torchvision's cpb_mlp width
    doc = ("torchvision's Swin v2 window attention: cosine scores with a learned logit scale, the relative "
           "position bias from an MLP (cpb_mlp) over a coordinate table")

    def setup(self):
        super().setup()
        T, Hd, h = self.T, self.HIDDEN, self.h
        self.cpb1 = _sub("Linear", {"in_features": 2, "out_features": Hd}, [(T, 2)], 1)
        self.cpb_act = _sub("ReLU", {}, [(T, Hd)], 1)
        self.cpb2 = _sub("Linear", {"in_features": Hd, "out_features": h, "bias": False}, [(T, Hd)], 1)
        self.sig = _sub("Sigmoid", {}, [(h, self.P, self.P)], 1)

    def _bias_params(self):
        return 2 * self.HIDDEN + self.HIDDEN + self.HIDDEN * self.h + self.h

    def _bias_params_formula(self):
        return "2*hidden + hidden + hidden*h + h", {"hidden": self.HIDDEN, "h": self.h}

    def _bias_note(self):
        return "cpb_mlp Linear(2, hidden) and Linear(hidden, h, bias=False), logit_scale (h)"

    def buffers(self):
        return _fig(self.P * self.P + 2 * self.T, "P*P + 2*T", {"P": self.P, "T": self.T}, "buffers",
                    note="the relative position index and the coordinate table (T = (2*wh - 1)*(2*ww - 1) rows)")

    def _score_terms(self):
        # F.normalize of q and of k: square, accumulate, divide per element; scores times the logit scale
        q = self.N * self.nW * self.P * self.C
        sc = self.scores()
        return [Term(("elementwise",), 6 * q, _fig(6 * q, "2*3*N*nW*P*C", {"N": self.N, "nW": self.nW, "P": self.P,
                                                                        "C": self.C},
                                                   "q and k normalisation (square, add, divide)")),
                Term(("elementwise",), sc, _fig(sc, "N*nW*h*P*P", self._b(), "logit scale multiplies"))]

    def saved(self):
        """Measured with saved_tensors_hooks on torchvision's module (CPU, float32): per sample the qkv
        input, q and k with their norms (F.normalize), the normalised q, both cosine-product operands and v
        as bmm copies, the cosine scores (for the logit scale) and the softmax output, the proj input;
        once per forward the cpb_mlp's hidden activations, the sigmoid output, the logit scale and the
        int64 index gathered with."""
        tok = self.nW * self.P * self.C
        rows = self.nW * self.h * self.P
        sc = rows * self.P
        return [Saved("qkv input, q, k, normalised q, two bmm operands, v, proj input", 8 * tok),
                Saved("q and k norms", 2 * rows), Saved("cosine scores and attention weights", 2 * sc),
                Saved("cpb_mlp hidden activations (once)", self.T * self.HIDDEN, batched=False),
                Saved("bias sigmoid output (once)", self.h * self.P * self.P, batched=False),
                Saved("logit scale (once)", self.h, batched=False),
                Saved("relative position index gathered with (once, int64)", self.P * self.P, itemsize=8,
                      batched=False)]

    def _once_terms(self):
        hp = self.h * self.P * self.P
        out = _renamed(self.cpb1.terms(), "cpb_mlp.0 (once)") + _renamed(self.cpb_act.terms(), "cpb_mlp.1 (once)")
        out += _renamed(self.cpb2.terms(), "cpb_mlp.2 (once)") + _renamed(self.sig.terms(), "bias sigmoid (once)")
        out.append(Term(("elementwise",), hp, _fig(hp, "h*P*P", {"h": self.h, "P": self.P}, "bias times 16 (once)")))
        out.append(Term(("elementwise",), 2 * self.h, _fig(2 * self.h, "2*h", {"h": self.h},
                                                           "logit scale clamp and exp (once)")))
        return out


@register("ShiftedWindowAttention3d")
class ShiftedWindowAttention3d(ShiftedWindowAttention):
    example = ("ShiftedWindowAttention3d(8, [2, 4, 4], [1, 2, 2], 2)", [[4, 6, 8, 8]])
    ND = 3
    doc = ("torchvision's Swin3D window attention on a channels-last [T, H, W, C] clip: a window larger than the "
           "clip shrinks to it (no shift on that axis), then as the 2-D one")

    def _adapt(self, S, ws, sh):
        ws, sh = list(ws), list(sh)
        for i, n in enumerate(S):
            if n <= ws[i]:
                ws[i], sh[i] = n, 0
        return tuple(ws), tuple(sh)

    def _shift(self, ws, sh):
        return tuple(sh)

    def _torch_class(self):
        from torchvision.models.video import swin_transformer as sw
        return sw.ShiftedWindowAttention3d


@register("patch_merging_pad")
class PatchMergingPad(TensorFn):
    """torchvision's ``_patch_merging_pad``: a channels-last ``[..., H, W, C]`` map padded to even H and W, its
    four 2x2 phases concatenated on the channels: ``[ceil(H/2), ceil(W/2), 4C]`` (a copy)."""
    example = ("patch_merging_pad()", [[5, 6, 4]])
    SIG = ()
    doc = "Swin's patch merging gather: channels-last [H, W, C] -> [ceil(H/2), ceil(W/2), 4C] (a copy)"

    def setup(self):
        s = self.in_shape
        if len(s) < 3:
            raise KindError(_("`patch_merging_pad` takes a channels-last map [..., H, W, C], got {s}").format(s=list(s)), None,
                            code="shape")
        H, W, C = s[-3:]
        self.out_shapes = [tuple(s[:-3]) + (math.ceil(H / 2), math.ceil(W / 2), 4 * C)]

    def bwd_terms(self, needs_input_grad):
        return []

    def rf(self):
        return RFStep("global", formula=N_("2x2 phases stacked on the channels of a channels-last map"))

    def torch_call(self, mod, xs):
        from torchvision.models.swin_transformer import _patch_merging_pad
        return _patch_merging_pad(xs[0])

