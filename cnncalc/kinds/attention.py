"""Attention and the tensor functions it is written with: MultiheadAttention, scaled_dot_product_attention,
matmul, bmm, transpose and softmax.

A sequence is written ``[L, E]`` (tokens, features), the batch excluded as everywhere in a spec; the
tensor torch sees is batch first, ``[N, L, E]``.  ``MultiheadAttention``'s ``batch_first`` only says how the
torch module lays out its own tensors: the graph always carries batch-first tensors and the built module
transposes around itself when ``batch_first`` is false, so both settings count the same.

Counting (docs/attention.md): the projections are ``linear`` multiply-accumulates, the two products of the
attention core (QK^T and AV) are ``attention`` multiply-accumulates (a rule of their own: fvcore counts an
explicit ``matmul`` but has no formula for ``scaled_dot_product_attention``), the softmax over the scores is
``softmax`` (3 per score) and the scaling of the scores one multiply per score.

What autograd saves depends on the kernel torch picks.  The formulas follow the CPU kernels: the flash
kernel (``_scaled_dot_product_flash_attention_for_cpu``) when query, key and value have the same head size
and the inputs are 3- or 4-dimensional; the math path otherwise.  Both are measured by the tests with
``torch.autograd.graph.saved_tensors_hooks``.
"""
from __future__ import annotations

from ..i18n import N_, _
from ..figure import Figure
from .activation import TABLE as _ACT_TABLE
from .base import REGISTRY, REQUIRED, Arg, Kind, KindError, RFStep, Saved, Term, prod, register
from .tensor import TensorFn, _dim, broadcast

_FLASH = "the CPU flash-attention kernel (FlopCounterMode has no formula for it)"
_FAST_PATH = ("the fused multi-head attention fast path of eval mode with batch_first (FlopCounterMode has no "
              "formula for it)")
# blind spots of the FLOP counters (conventions.TOOLS), as the `torch` and `fvcore` presets name them
BLIND_FVCORE_SDPA = ("fvcore", "attention products (scaled_dot_product_attention)")
BLIND_FCM_FLASH = ("FlopCounterMode", "attention products in the CPU flash-attention kernel")
BLIND_FCM_FAST_PATH = ("FlopCounterMode", "nn.MultiheadAttention's fused fast path (eval, no_grad, batch_first)")


def _fig(value, formula, bindings, name, note=""):
    return Figure(value, formula, bindings, name, note=note)


def _unsupported(op, arg, what, hint):
    return KindError(_("`{op}`: {what} is not supported").format(op=op, what=what), arg, [hint], code="unsupported")


# ------------------------------------------------------------------------------------ matmul, bmm
@register("matmul")
class Matmul(TensorFn):
    """torch.matmul of two activations: ``[*B, n, k] @ [*B, k, m] -> [*B, n, m]``, the batch dims
    broadcasting as in torch (both inputs of the same rank, so the batch stays dim 0)."""
    example = ("matmul()", [[2, 5, 4], [2, 4, 3]])   # (call, input shapes without batch): docs/ops.md

    N_INPUTS = (2, 2)
    SIG = ()
    doc = "torch.matmul of two activations: [*B, n, k] @ [*B, k, m] -> [*B, n, m]"

    def setup(self):
        a, b = self.in_shapes
        op = self.op
        for i, s in enumerate((a, b)):
            if len(s) < 2:
                raise KindError(_("`{op}`: input {i} is {s}; with the batch that is a matrix [N, {value}], not a batch of "
                                  "vectors").format(op=op, i=i, s=list(s), value=s[0] if s else ''), None,
                                [_("give both inputs two dims or more (batch excluded): [n, k] and [k, m]")], code="shape")
        if self.op == "bmm" and (len(a) != 2 or len(b) != 2):
            raise KindError(_("`bmm` needs [n, k] and [k, m] (3-D tensors with the batch), got {a} and {b}").format(a=list(a), b=list(b)),
                            None, [_("use `matmul` for more dims")], code="shape")
        if len(a) != len(b):
            raise KindError(_("`{op}`: inputs {a} and {b} have different ranks: torch would broadcast the batch "
                              "dimension against another one").format(op=op, a=list(a), b=list(b)), None,
                            [_("give both the same number of dims (reshape or unsqueeze one)")], code="shape")
        if a[-1] != b[-2]:
            raise KindError(_("`{op}`: inner dims differ: {a} @ {b} needs {a_last} == {b_m2}").format(op=op, a=list(a), b=list(b), a_last=a[-1], b_m2=b[-2]), None,
                            [_("the last dim of the first input must equal the second-to-last of the second (insert a "
                               "`transpose`)")], code="shape")
        self.bdims = broadcast([a[:-2], b[:-2]], op) if len(a) > 2 else ()
        self.n, self.k, self.m = a[-2], a[-1], b[-1]
        self.out_shapes = [tuple(self.bdims) + (self.n, self.m)]

    def _bind(self):
        bb = {"N": self.N}
        f = "N"
        if self.bdims:
            bb["B"] = prod(self.bdims)
            f += "*B"
        bb.update(n=self.n, k=self.k, m=self.m)
        return f + "*n*k*m", bb

    def mac_figure(self, name="MACs"):
        f, bb = self._bind()
        v = self.N * prod(self.bdims) * self.n * self.k * self.m
        return _fig(v, f, bb, name, note="B: the broadcast batch dims beyond N" if self.bdims else "")

    def terms(self):
        m = self.mac_figure()
        return [Term(("matmul",), m.value, m)]

    def bwd_terms(self, needs_input_grad):
        if not needs_input_grad:
            return []
        return [Term(("matmul",), self.mac_figure().value, self.mac_figure("grad_input0 MACs (grad @ B^T)")),
                Term(("matmul",), self.mac_figure().value, self.mac_figure("grad_input1 MACs (A^T @ grad)"))]

    def saved(self):
        """Both operands (each for the other's gradient): the inputs themselves, or the copy torch makes of
        an operand broadcast to the other's batch dims."""
        out = []
        for i, s in enumerate(self.in_shapes):
            full = tuple(self.bdims) + tuple(s[-2:])
            if tuple(s) == full:
                out.append(Saved(f"input{i}", prod(s), alias="input" if i == 0 else f"input{i}"))
            else:
                out.append(Saved(f"input{i} expanded to the batch dims {list(self.bdims)}", prod(full)))
        return out

    def counter_gaps(self, counter):
        """fvcore's matmul formula is prod(A's shape) * m: it misses the products of a first operand
        broadcast over batch dims it does not have."""
        a = self.in_shapes[0]
        if counter != "fvcore" or prod(a[:-2]) == prod(self.bdims):
            return []
        full = self.mac_figure().value
        seen = self.N * prod(a) * self.m
        f = _fig(full - seen, "N*(B - B_A)*n*k*m", dict(self._bind()[1], B_A=prod(a[:-2]), N=self.N),
                 "MACs fvcore does not count")
        if "B" not in f.bindings:
            return []
        return [([Term(("matmul",), f.value, f)],
                 "fvcore counts torch.matmul as prod(A's shape) * m, missing A's broadcast copies")]

    def rf(self):
        return RFStep("global", formula=N_("matrix product: every output mixes a whole row and column"))

    def shape_figures(self):
        return [_fig(self.n, "n", {"n": self.n}, "rows"), _fig(self.m, "m", {"m": self.m}, "columns")]

    def torch_call(self, mod, xs):
        import torch
        return getattr(torch, self.op)(xs[0], xs[1])


@register("bmm")
class Bmm(Matmul):
    example = ("bmm()", [[5, 4], [4, 3]])
    doc = "torch.bmm: [n, k] @ [k, m] -> [n, m] per sample (3-D tensors with the batch)"


# ------------------------------------------------------------------------------------ transpose
@register("transpose")
class Transpose(TensorFn):
    example = ("transpose(1, 2)", [[4, 10, 9]])
    SIG = (Arg("dim0", REQUIRED, "int"), Arg("dim1", REQUIRED, "int"))
    view = True
    doc = "torch.transpose; dims count the batch as 0, which must stay in place"

    def setup(self):
        r = len(self.in_shape) + 1
        d0 = _dim(self.a["dim0"], r, "transpose", "dim0")
        d1 = _dim(self.a["dim1"], r, "transpose", "dim1")
        out = list(self.in_shape)
        out[d0], out[d1] = out[d1], out[d0]
        self.out_shapes = [tuple(out)]

    def rf(self):
        return RFStep("global", formula=N_("transpose"))

    def out_strides(self, ins):
        st = list(ins[0][1])
        r = len(st)
        d0, d1 = self.a["dim0"] % r, self.a["dim1"] % r
        st[d0], st[d1] = st[d1], st[d0]
        return [tuple(st)]

    def torch_call(self, mod, xs):
        return xs[0].transpose(self.a["dim0"], self.a["dim1"])


# ------------------------------------------------------------------------------------ softmax
@register("softmax")
class SoftmaxFn(REGISTRY["Softmax"]):
    """torch.softmax / F.softmax: the Softmax kind's formulas, called as a function."""
    example = ("softmax(dim=-1)", [[4, 10, 9]])

    SIG = (Arg("dim", REQUIRED, "int"),)
    rule, saves = _ACT_TABLE["Softmax"][0], _ACT_TABLE["Softmax"][2]
    has_module = False
    doc = "torch.softmax over `dim` (dim 0 is the batch)"

    def torch_module(self):
        return None

    def torch_call(self, mod, xs):
        import torch
        return torch.softmax(xs[0], dim=self.a["dim"])


# ------------------------------------------------------------------------------------ attention core
class _Core:
    """The attention core shared by SDPA and MultiheadAttention: scores = Q K^T * scale (B*L*S*E MACs),
    softmax over S, out = P V (B*L*S*Ev MACs).  ``B`` counts the batch and every head."""

    def __init__(self, N, G, L, S, E, Ev, names=("E", "Ev")):
        self.N, self.G, self.L, self.S, self.E, self.Ev = N, G, L, S, E, Ev
        self.en, self.evn = names

    def _b(self, extra):
        bb = {"N": self.N}
        f = "N"
        if self.G != 1:
            bb["H"] = self.G
            f += "*H"
        return f, dict(bb, **extra)

    def qk(self, name="QK^T MACs"):
        f, bb = self._b({"L": self.L, "S": self.S, self.en: self.E})
        return _fig(self.N * self.G * self.L * self.S * self.E, f + "*L*S*" + self.en, bb, name,
                    note=f"one dot product of length {self.en} per score")

    def av(self, name="AV MACs"):
        f, bb = self._b({"L": self.L, "S": self.S, self.evn: self.Ev})
        return _fig(self.N * self.G * self.L * self.S * self.Ev, f + "*L*S*" + self.evn, bb, name,
                    note="each output feature sums S weighted values")

    def scores(self, name):
        f, bb = self._b({"L": self.L, "S": self.S})
        return _fig(self.N * self.G * self.L * self.S, f + "*L*S", bb, name)

    def terms(self, blind=()):
        """``blind``: the counters that do not see the two products (``Term.blind``)."""
        qk, av = self.qk(), self.av()
        sc = self.scores("scores scaled")
        sm = self.scores("softmax elements")
        blind = tuple(blind)
        return [Term(("attention",), qk.value, qk, blind=blind), Term(("attention",), av.value, av, blind=blind),
                Term(("attention_scale", "elementwise"), sc.value, sc),
                Term(("softmax",), sm.value, sm)]

    def bwd_terms(self, flash):
        """dP = dO V^T, dV = P^T dO, dQ = dS K, dK = dS^T Q; the flash kernel first recomputes Q K^T
        (FlopCounterMode's sdpa backward formula counts the same five products)."""
        out = []
        if flash:
            out.append(Term(("attention",), self.qk().value, self.qk("recomputed QK^T MACs (flash kernel)")))
        out += [Term(("attention",), self.av().value, self.av("dP = dO V^T MACs")),
                Term(("attention",), self.av().value, self.av("dV = P^T dO MACs")),
                Term(("attention",), self.qk().value, self.qk("dQ = dS K MACs")),
                Term(("attention",), self.qk().value, self.qk("dK = dS^T Q MACs"))]
        sm = self.scores("softmax backward elements")
        out.append(Term(("softmax",), sm.value, sm))
        return out


@register("scaled_dot_product_attention")
class SDPA(TensorFn):
    """F.scaled_dot_product_attention(query, key, value): ``[*B, L, E], [*B, S, E], [*B, S, Ev] -> [*B, L, Ev]``
    with ``*B`` empty or one dim (the heads): 3- or 4-D tensors with the batch."""
    example = ("scaled_dot_product_attention()", [[2, 5, 4], [2, 7, 4], [2, 7, 4]])

    N_INPUTS = (3, 3)
    SIG = (Arg("attn_mask", None), Arg("dropout_p", 0.0, "float"), Arg("is_causal", False, "bool"),
           Arg("scale", None), Arg("enable_gqa", False, "bool"))
    doc = "F.scaled_dot_product_attention: softmax(Q K^T * scale) V"

    def setup(self):
        op = self.op
        a = self.a
        if a["attn_mask"] is not None:
            raise _unsupported(op, "attn_mask", _("`attn_mask` (a tensor)"),
                               _("a spec has no mask tensors; `is_causal: true` gives the causal mask"))
        if a["dropout_p"]:
            raise _unsupported(op, "dropout_p", _("attention dropout"),
                               _("write dropout_p: 0.0 (the inference setting)"))
        if a["enable_gqa"]:
            raise _unsupported(op, "enable_gqa", _("grouped-query attention"), _("give key and value as many heads as the query"))
        if a["scale"] is not None and (isinstance(a["scale"], bool) or not isinstance(a["scale"], (int, float))):
            raise KindError(_("`scale` must be a number or null, got {scale!r}").format(scale=a['scale']), "scale")
        q, k, v = self.in_shapes
        if not (len(q) == len(k) == len(v)) or len(q) not in (2, 3):
            raise KindError(_("`{op}` needs query, key and value of the same rank, [L, E] or [H, L, E] (batch "
                              "excluded), got {q}, {k}, {v}").format(op=op, q=list(q), k=list(k), v=list(v)), None, code="shape")
        if q[:-2] != k[:-2] or q[:-2] != v[:-2]:
            raise KindError(_("`{op}`: the heads differ: {q}, {k}, {v}").format(op=op, q=list(q), k=list(k), v=list(v)), None, code="shape")
        if q[-1] != k[-1]:
            raise KindError(_("`{op}`: query and key feature sizes differ ({q_last} and {k_last})").format(op=op, q_last=q[-1], k_last=k[-1]), None,
                            [_("Q K^T needs the same E in query and key")], code="shape")
        if k[-2] != v[-2]:
            raise KindError(_("`{op}`: key and value lengths differ ({k_m2} and {v_m2})").format(op=op, k_m2=k[-2], v_m2=v[-2]), None, code="shape")
        self.core = _Core(self.N, prod(q[:-2]), q[-2], k[-2], q[-1], v[-1])
        self.out_shapes = [tuple(q[:-1]) + (v[-1],)]

    @property
    def flash(self):
        """The CPU flash kernel runs when query, key and value have the same feature size."""
        q, k, v = self.in_shapes
        return q[-1] == k[-1] == v[-1]

    def terms(self):
        # fvcore has no formula for scaled_dot_product_attention; FlopCounterMode none for the CPU flash kernel
        return self.core.terms((BLIND_FVCORE_SDPA,) + ((BLIND_FCM_FLASH,) if self.flash else ()))

    def bwd_terms(self, needs_input_grad):
        return self.core.bwd_terms(self.flash) if needs_input_grad else []

    def saved(self):
        c = self.core
        if self.flash:
            # flash kernel: query, key, value, the output and the row log-sum-exp of the scores
            return [Saved("query", self.numel_in(0), alias="input"),
                    Saved("key", self.numel_in(1), alias="input1"),
                    Saved("value", self.numel_in(2), alias="input2"),
                    Saved("output", self.numel_out(), alias="output"),
                    Saved("logsumexp [N, H, L]", c.G * c.L)]
        # math path: the scaled query, the scaled key (copies), the softmax output, the value
        return [Saved("query * sqrt(scale)", self.numel_in(0)),
                Saved("key * sqrt(scale)", self.numel_in(1)),
                Saved("attention weights softmax(Q K^T * scale) [N, H, L, S]", c.G * c.L * c.S),
                Saved("value", self.numel_in(2), alias="input2")]

    def counter_gaps(self, counter):
        if counter == "FlopCounterMode":
            return [(self.core.terms()[:2], _FLASH)]
        return []

    def rf(self):
        return RFStep("global", formula=N_("attention: every output reads every key and value"))

    def shape_figures(self):
        c = self.core
        return [_fig(c.L, "L", {"L": c.L}, "tokens_out", note="one output per query"),
                _fig(c.Ev, "Ev", {"Ev": c.Ev}, "features_out", note="the value's feature size")]

    def torch_call(self, mod, xs):
        import torch.nn.functional as F
        a = self.a
        kw = {"is_causal": a["is_causal"]}
        if a["scale"] is not None:
            kw["scale"] = float(a["scale"])
        return F.scaled_dot_product_attention(xs[0], xs[1], xs[2], **kw)


# ------------------------------------------------------------------------------------ MultiheadAttention
_MHA_CLS = None


def _mha_class():
    """nn.MultiheadAttention called as a graph node: batch-first tensors in, the attention output out."""
    global _MHA_CLS
    if _MHA_CLS is None:
        import torch.nn as nn

        class MultiheadAttention(nn.MultiheadAttention):
            def forward(self, query, key=None, value=None):
                if key is None:
                    key = value = query
                if self.batch_first:
                    return super().forward(query, key, value, need_weights=False)[0]
                t = {}      # transpose each distinct tensor once: torch packs the projections of `q is k`
                q, k, v = (t[id(x)] if id(x) in t else t.setdefault(id(x), x.transpose(0, 1))
                           for x in (query, key, value))
                return super().forward(q, k, v, need_weights=False)[0].transpose(0, 1)

        _MHA_CLS = MultiheadAttention
    return _MHA_CLS


@register("MultiheadAttention")
class MultiheadAttention(Kind):
    """nn.MultiheadAttention: one input is self-attention, three (``from: [q, k, v]``) are query, key and
    value.  Its output is the attention output ``[L, E]`` (torch's ``need_weights=False``)."""
    example = ("MultiheadAttention(8, 2, kdim=6, vdim=4)", [[5, 8], [7, 6], [7, 4]])

    family = "attention"
    N_INPUTS = (1, 3)
    SIG = (Arg("embed_dim", REQUIRED, "int", infer=True), Arg("num_heads", REQUIRED, "int"),
           Arg("dropout", 0.0, "float"), Arg("bias", True, "bool"), Arg("add_bias_kv", False, "bool"),
           Arg("add_zero_attn", False, "bool"), Arg("kdim", None, "optint"), Arg("vdim", None, "optint"),
           Arg("batch_first", False, "bool"), Arg("device", None), Arg("dtype", None))
    doc = "multi-head attention: Q/K/V projections, softmax(Q K^T / sqrt(E/H)) V per head, output projection"

    def setup(self):
        a, op = self.a, self.op
        if len(self.in_shapes) == 2:
            raise KindError(_("`{op}` takes one input (self-attention) or three (query, key, value), got 2").format(op=op), None,
                            [_("for cross-attention write `from: [query, memory, memory]`")], code="inputs")
        ins = self.in_shapes * 3 if len(self.in_shapes) == 1 else self.in_shapes
        for what, s in zip((_("query"), _("key"), _("value")), ins):
            if len(s) != 2:
                raise KindError(_("`{op}` needs sequences [L, E] (batch excluded); the {what} is {s}").format(op=op, what=what, s=list(s)), None,
                                [_("a feature map [C, H, W] becomes tokens [H*W, C] with `flatten: {start_dim: 2}` then "
                                   "`transpose: {dim0: 1, dim1: 2}`")], code="shape")
        q, k, v = ins
        E = q[-1]
        if a.get("embed_dim") is not None and a["embed_dim"] != E:
            raise KindError(_("`embed_dim={embed_dim}` given but the query has {E} features (shape {q})").format(embed_dim=a['embed_dim'], E=E, q=list(q)),
                            "embed_dim", [_("write embed_dim: {E}, or leave it out to infer it").format(E=E)], code="in-features")
        a["embed_dim"] = E
        H = a["num_heads"]
        if H < 1 or E % H:
            raise KindError(_("`num_heads={H}` must divide embed_dim={E}").format(H=H, E=E), "num_heads",
                            [_("divisors of {E}: {range}").format(E=E, range=', '.join(str(d) for d in range(1, E + 1) if E % d == 0))])
        for name, s in (("kdim", k), ("vdim", v)):
            want = a[name] if a[name] is not None else E
            if s[-1] != want:
                what = _("key") if name == "kdim" else _("value")
                hint = (_("write {name}: {size}") if a[name] is None else _("write {name}: {size} or null")).format(name=name, size=s[-1])
                raise KindError(_("the {what} has {s_last} features but `{name}` is {a}{value}").format(what=what, s_last=s[-1], name=name, a=a[name], value=' (embed_dim)' if a[name] is None else ''), name, [hint], code="shape")
        if k[0] != v[0]:
            raise KindError(_("`{op}`: key and value lengths differ ({k_0} and {v_0})").format(op=op, k_0=k[0], v_0=v[0]), None, code="shape")
        if a["add_bias_kv"]:
            raise _unsupported(op, "add_bias_kv", _("`add_bias_kv: true`"), _("write add_bias_kv: false"))
        if a["add_zero_attn"]:
            raise _unsupported(op, "add_zero_attn", _("`add_zero_attn: true`"), _("write add_zero_attn: false"))
        if not 0 <= a["dropout"] < 1:
            raise KindError(_("dropout probability must be in [0, 1), got {dropout}").format(dropout=a['dropout']), "dropout")
        if a["dropout"]:
            raise _unsupported(op, "dropout", _("attention dropout"),
                               _("write dropout: 0.0 (the inference setting), or add a `Dropout` after the block"))
        self.L, self.S, self.E, self.H = q[0], k[0], E, H
        self.kdim, self.vdim = k[-1], v[-1]
        # per head: E/H features; the core's B*L*S*(E/H) over H heads is N*L*S*E
        self.core = _Core(self.N, H, self.L, self.S, E // H, E // H, names=("d", "d"))   # d = E/H per head
        self.out_shapes = [(self.L, E)]

    # parameters: in_proj (or q/k/v_proj_weight when kdim/vdim differ), in_proj_bias, out_proj
    def params(self):
        b = 1 if self.a["bias"] else 0
        E = self.E
        return _fig(E * (E + self.kdim + self.vdim) + 3 * E * b + E * E + E * b,
                    "E*(E + kdim + vdim) + 3*E*bias + E*E + E*bias",
                    {"E": E, "kdim": self.kdim, "vdim": self.vdim, "bias": b}, "params",
                    note="in_proj weight and bias (Q, K, V), then out_proj weight and bias")

    def _proj(self, what, rows, fin, name):
        f = f"N*{rows[0]}*{fin[0]}*E"
        return _fig(self.N * rows[1] * fin[1] * self.E, f, {"N": self.N, rows[0]: rows[1], fin[0]: fin[1],
                                                            "E": self.E}, name)

    def _proj_terms(self, suffix=""):
        L, S, E = ("L", self.L), ("S", self.S), self.E
        figs = [self._proj("q", L, ("E", E), "Q projection MACs" + suffix),
                self._proj("k", S, ("kdim", self.kdim), "K projection MACs" + suffix),
                self._proj("v", S, ("vdim", self.vdim), "V projection MACs" + suffix)]
        return figs

    def _out_fig(self, name="output projection MACs"):
        return _fig(self.N * self.L * self.E * self.E, "N*L*E*E", {"N": self.N, "L": self.L, "E": self.E}, name)

    @property
    def fast_path(self):
        """torch's conditions for the fused `_native_multi_head_attention` in eval mode under no_grad (one
        input, an even number of heads, batch_first, biases, no bias_k/v, no zero attention)."""
        a = self.a
        return (len(self.in_shapes) == 1 and self.H % 2 == 0 and a["batch_first"] and a["bias"]
                and not a["add_bias_kv"] and not a["add_zero_attn"])

    def terms(self):
        # need_weights=False: the core runs in scaled_dot_product_attention (fvcore has no formula for it; on
        # the CPU the flash kernel, which FlopCounterMode does not count); under no_grad with the fast path's
        # conditions FlopCounterMode sees none of the work
        fast = (BLIND_FCM_FAST_PATH,) if self.fast_path else ()
        t = [Term(("linear",), f.value, f, blind=fast) for f in self._proj_terms()]
        t += self.core.terms((BLIND_FVCORE_SDPA,) + (fast or (BLIND_FCM_FLASH,)))
        o = self._out_fig()
        t.append(Term(("linear",), o.value, o, blind=fast))
        if self.a["bias"]:
            v = self.N * (self.L + 2 * self.S) * self.E
            t.append(Term(("bias",), v, _fig(v, "N*(L + 2*S)*E", {"N": self.N, "L": self.L, "S": self.S,
                                                                  "E": self.E}, "in_proj bias adds")))
            v = self.N * self.L * self.E
            t.append(Term(("bias",), v, _fig(v, "N*L*E", {"N": self.N, "L": self.L, "E": self.E},
                                             "out_proj bias adds")))
        return t

    def bwd_terms(self, needs_input_grad):
        """The weights always need their gradients, so the gradient flows back through the output projection
        and the attention core (the flash kernel's backward) to the projections."""
        o = self._out_fig()
        t = [Term(("linear",), o.value, self._out_fig("out_proj grad_input MACs")),
             Term(("linear",), o.value, self._out_fig("out_proj grad_weight MACs"))]
        t += self.core.bwd_terms(flash=True)
        t += [Term(("linear",), f.value, f) for f in self._proj_terms(" (grad_weight)")]
        if needs_input_grad:
            t += [Term(("linear",), f.value, f) for f in self._proj_terms(" (grad_input)")]
        if self.a["bias"]:
            v = self.N * (self.L + 2 * self.S) * self.E + self.N * self.L * self.E
            t.append(Term(("bias",), v, _fig(v, "N*(2*L + 2*S)*E", {"N": self.N, "L": self.L, "S": self.S,
                                                                    "E": self.E}, "grad_bias adds")))
        return t

    def saved(self):
        """Training, CPU (need_weights=False, so the flash kernel): the inputs of the projections, the
        projected Q, K and V (one packed tensor when the inputs are one tensor: the same bytes), the
        row log-sum-exp per head, and the heads' output, which is also the output projection's input."""
        N_L_E = self.L * self.E
        out = [Saved("query", self.numel_in(0), alias="input")]
        if len(self.in_shapes) == 3:
            out += [Saved("key", self.numel_in(1), alias="input1"), Saved("value", self.numel_in(2), alias="input2")]
        out += [Saved("projected Q", N_L_E), Saved("projected K", self.S * self.E),
                Saved("projected V", self.S * self.E), Saved("logsumexp [N, H, L]", self.H * self.L),
                Saved("attention output (out_proj's input)", N_L_E)]
        return out

    def counter_gaps(self, counter):
        if counter == "FlopCounterMode":
            return [(self.core.terms()[:2], _FLASH), (self.terms(), _FAST_PATH)]
        return []

    def rf(self):
        return RFStep("global", formula=N_("attention: every output token reads every token"))

    def shape_figures(self):
        return [_fig(self.L, "L", {"L": self.L}, "tokens_out", note="one output per query token"),
                _fig(self.E, "E", {"E": self.E}, "features_out", note="embed_dim")]

    def torch_module(self):
        a = self.a
        kw = dict(dropout=a["dropout"], bias=a["bias"], add_bias_kv=a["add_bias_kv"],
                  add_zero_attn=a["add_zero_attn"], kdim=self.kdim, vdim=self.vdim, batch_first=a["batch_first"])
        return _mha_class()(self.E, self.H, **kw)
