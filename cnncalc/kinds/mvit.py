"""MViT's pieces (torchvision.models.video.mvit): ``MultiscaleAttention`` (pooling attention, v2's
decomposed relative positions and residual pooling), ``MViTPool`` (the skip connection's pooling) and
``MViTPositionalEncoding`` (class token, v1's absolute positions).

Tokens are ``[L, C]`` with ``L = 1 + T*H*W`` (a class token first); ``thw`` is the ``(T, H, W)`` the
tokens after the class token form (the module gets it as an argument of its ``forward``).  Pooling runs
on the tokens as a ``[N*heads, d, T, H, W]`` clip: the work is counted from the kinds of its pieces
(Conv3d, MaxPool3d, LayerNorm, Linear, matmul, einsum, softmax) so that each convention prices them as
it prices those.
"""
from __future__ import annotations

from ..i18n import N_, _
from ..figure import Figure
from .base import REQUIRED, Arg, Kind, KindError, RFStep, Saved, Term, ntuple, register
from .swin import _renamed, _sub
from .tensor_ops import fvcore_einsum_count, fvcore_rounding_terms


def _prod(xs):
    p = 1
    for x in xs:
        p *= x
    return p


def _pool_out(thw, k, s):
    return tuple((n + 2 * (kk // 2) - kk) // ss + 1 for n, kk, ss in zip(thw, k, s))


class _Pooling:
    """One pooling of ``[N, heads, 1 + T*H*W, d]`` tokens (class token kept apart) as torchvision's Pool."""

    def __init__(self, kind_op, d, heads, thw, k, s, norm, batch):
        self.thw_in = tuple(thw)
        self.thw = _pool_out(thw, k, s)
        pad = tuple(kk // 2 for kk in k)
        nb = batch * heads
        if kind_op == "Conv3d":
            self.pool = _sub("Conv3d", {"in_channels": d, "out_channels": d, "kernel_size": tuple(k),
                                        "stride": tuple(s), "padding": pad, "groups": d, "bias": False},
                             [(d,) + self.thw_in], nb)
        else:
            self.pool = _sub("MaxPool3d", {"kernel_size": tuple(k), "stride": tuple(s), "padding": pad},
                             [(d,) + self.thw_in], nb)
        self.norm = _sub("LayerNorm", {"normalized_shape": d}, [(heads, 1 + _prod(self.thw), d)], batch) \
            if norm else None
        self.L = 1 + _prod(self.thw)

    def params(self):
        return self.pool.params().value + (self.norm.params().value if self.norm else 0)

    def terms(self, name):
        out = _renamed(self.pool.terms(), name)
        if self.norm:
            out += _renamed(self.norm.terms(), name + " norm")
        return out

    def bwd_terms(self, name):
        out = _renamed(self.pool.bwd_terms(True), name)
        if self.norm:
            out += _renamed(self.norm.bwd_terms(True), name + " norm")
        return out


@register("MultiscaleAttention")
class MultiscaleAttention(Kind):
    example = ("MultiscaleAttention(8, 8, 2, [1, 4, 4], kernel_q=[3, 3, 3], kernel_kv=[3, 3, 3], "
               "stride_q=[1, 2, 2], stride_kv=[1, 2, 2])", [[17, 8]])
    SIG = (Arg("embed_dim", REQUIRED, "int", infer=True), Arg("output_dim", REQUIRED, "int"),
           Arg("num_heads", REQUIRED, "int"), Arg("thw", REQUIRED, "ints"),
           Arg("kernel_q", (1, 1, 1), "ints"), Arg("kernel_kv", (1, 1, 1), "ints"),
           Arg("stride_q", (1, 1, 1), "ints"), Arg("stride_kv", (1, 1, 1), "ints"),
           Arg("residual_pool", True, "bool"), Arg("residual_with_cls_embed", True, "bool"),
           Arg("rel_pos_embed", False, "bool"), Arg("rel_pos_size", (0, 0), "ints"))
    family = "attention"
    doc = ("torchvision's MViT pooling attention on [1 + T*H*W, C] tokens (a class token first): q, k, v pooled "
           "by depthwise Conv3d + LayerNorm, v2's decomposed relative positions, residual pooling; `thw` is the "
           "tokens' (T, H, W); `rel_pos_size` the (spatial, temporal) rows of v2's tables")

    def setup(self):
        s = self.in_shape
        if len(s) != 2:
            raise KindError(_("`MultiscaleAttention` takes tokens [L, C], got {s}").format(s=list(s)), None, code="shape")
        L, E = s
        if self.a.get("embed_dim", REQUIRED) is REQUIRED:
            self.a["embed_dim"] = E
        if self.a["embed_dim"] != E:
            raise KindError(_("`embed_dim` is {embed_dim} but the tokens have {E} features").format(embed_dim=self.a['embed_dim'], E=E), "embed_dim")
        thw = ntuple(self.a["thw"], 3, "thw")
        if 1 + _prod(thw) != L:
            raise KindError(_("`thw` {thw} makes {value} tokens with the class token, the input has {L}").format(thw=list(thw), value=1 + _prod(thw), L=L),
                            "thw")
        D, h = self.a["output_dim"], self.a["num_heads"]
        if h < 1 or D % h:
            raise KindError(_("`num_heads` {h} does not divide output_dim {D}").format(h=h, D=D), "num_heads")
        d = D // h
        N = self.N
        self.d, self.h, self.D, self.E, self.L = d, h, D, E, L
        kq, kkv = ntuple(self.a["kernel_q"], 3, "kernel_q"), ntuple(self.a["kernel_kv"], 3, "kernel_kv")
        sq, skv = ntuple(self.a["stride_q"], 3, "stride_q"), ntuple(self.a["stride_kv"], 3, "stride_kv")
        self.qkv = _sub("Linear", {"in_features": E, "out_features": 3 * D}, [(L, E)], N)
        self.proj = _sub("Linear", {"in_features": D, "out_features": D}, [(L, D)], N)   # re-made below
        self.pq = _Pooling("Conv3d", d, h, thw, kq, sq, True, N) if _prod(kq) > 1 or _prod(sq) > 1 else None
        self.pk = self.pv = None
        if _prod(kkv) > 1 or _prod(skv) > 1:
            self.pk = _Pooling("Conv3d", d, h, thw, kkv, skv, True, N)
            self.pv = _Pooling("Conv3d", d, h, thw, kkv, skv, True, N)
        self.q_thw = self.pq.thw if self.pq else thw
        self.k_thw = self.pk.thw if self.pk else thw
        Lq, Lk = 1 + _prod(self.q_thw), 1 + _prod(self.k_thw)
        self.Lq, self.Lk = Lq, Lk
        self.qk = _sub("matmul", {}, [(h, Lq, d), (h, d, Lk)], N)
        self.av = _sub("matmul", {}, [(h, Lq, Lk), (h, Lk, d)], N)
        self.sm = _sub("softmax", {"dim": -1}, [(h, Lq, Lk)], N)
        self.proj = _sub("Linear", {"in_features": D, "out_features": D}, [(Lq, D)], N)
        self.rel = None
        if self.a["rel_pos_embed"]:
            sp, tp = ntuple(self.a["rel_pos_size"], 2, "rel_pos_size")
            qt, qh, qw = self.q_thw
            kt, kh, kw = self.k_thw
            if sp != 2 * max(qh, kh) - 1 or sp != 2 * max(qw, kw) - 1 or tp != 2 * max(qt, kt) - 1:
                raise KindError(_("relative position tables that torchvision would interpolate are not supported"),
                                "rel_pos_size", code="unsupported")
            self.rel = (sp, tp)
        self.out_shapes = [(Lq, D)]

    def params(self):
        v = self.qkv.params().value + self.proj.params().value
        for p in (self.pq, self.pk, self.pv):
            if p:
                v += p.params()
        b = {"qkv": self.qkv.params().value, "proj": self.proj.params().value,
             "pools": v - self.qkv.params().value - self.proj.params().value}
        f = "qkv + proj + pools"
        if self.rel:
            sp, tp = self.rel
            r = (2 * sp + tp) * self.d
            v += r
            b.update(sp=sp, tp=tp, d=self.d)
            f += " + (2*sp + tp)*d"
        return Figure(v, f, b, "params", note="qkv and proj Linear, the pooling convolutions and norms" +
                      (", v2's relative position tables" if self.rel else ""))

    def _rel_terms(self):
        if not self.rel:
            return []
        N, h, d = self.N, self.h, self.d
        qt, qh, qw = self.q_thw
        kt, kh, kw = self.k_thw
        q = N * h * qt * qh * qw * d
        b = {"N": N, "h": h, "qt": qt, "qh": qh, "qw": qw, "d": d}
        n = N * h * qt * qh * qw * kt * kh * kw
        # the two einsums ("bythwc,hkc->bythwk" and its w twin): fvcore rounds their counts (tensor_ops)
        rounding = [t for m in (q * kh, q * kw) for t in fvcore_rounding_terms(m, fvcore_einsum_count(m))]
        return rounding + [
                Term(("matmul",), q * kh, Figure(q * kh, "N*h*qt*qh*qw*d*kh", dict(b, kh=kh), "rel pos h MACs (einsum)")),
                Term(("matmul",), q * kw, Figure(q * kw, "N*h*qt*qh*qw*d*kw", dict(b, kw=kw), "rel pos w MACs (einsum)")),
                Term(("matmul",), q * kt, Figure(q * kt, "N*h*qt*qh*qw*d*kt", dict(b, kt=kt), "rel pos t MACs (matmul)")),
                Term(("elementwise",), 3 * n, Figure(3 * n, "3*N*h*qt*qh*qw*kt*kh*kw",
                                                     {"N": N, "h": h, "qt": qt, "qh": qh, "qw": qw, "kt": kt,
                                                      "kh": kh, "kw": kw}, "rel pos adds (two to combine, one into "
                                                                           "the scores)"))]

    def terms(self):
        N, h, d = self.N, self.h, self.d
        out = _renamed(self.qkv.terms(), "qkv")
        for nm, p in (("pool k", self.pk), ("pool v", self.pv), ("pool q", self.pq)):
            if p:
                out += p.terms(nm)
        qn = N * h * self.Lq * d
        out.append(Term(("elementwise",), qn, Figure(qn, "N*h*Lq*d", {"N": N, "h": h, "Lq": self.Lq, "d": d},
                                                     "q scaling")))
        out += _renamed(self.qk.terms(), "q k^T")
        out += self._rel_terms()
        out += _renamed(self.sm.terms(), "scores")
        out += _renamed(self.av.terms(), "attn v")
        if self.a["residual_pool"]:
            r = qn if self.a["residual_with_cls_embed"] else N * h * (self.Lq - 1) * d
            out.append(Term(("elementwise",), r, Figure(r, "N*h*Lq*d" if self.a["residual_with_cls_embed"] else
                                                        "N*h*(Lq - 1)*d", {"N": N, "h": h, "Lq": self.Lq, "d": d},
                                                        "residual pooling adds")))
        out += _renamed(self.proj.terms(), "proj")
        return out

    def bwd_terms(self, needs_input_grad):
        out = _renamed(self.proj.bwd_terms(True), "proj") + _renamed(self.av.bwd_terms(True), "attn v")
        out += _renamed(self.sm.bwd_terms(True), "scores") + _renamed(self.qk.bwd_terms(True), "q k^T")
        for t in self._rel_terms():
            if t.rules[0] == "matmul":
                out.append(Term(t.rules, 2 * t.count, Figure(2 * t.count, "2*" + t.figure.formula, t.figure.bindings,
                                                             "grad " + t.figure.name)))
        for nm, p in (("pool k", self.pk), ("pool v", self.pv), ("pool q", self.pq)):
            if p:
                out += p.bwd_terms(nm)
        out += _renamed(self.qkv.bwd_terms(needs_input_grad), "qkv")
        return out

    def saved(self):
        """Measured with saved_tensors_hooks on torchvision's module (CPU): the qkv input; per pooling its
        clip (the Conv3d input), its LayerNorm input, mean and rstd; the bmm operands (k transposed, the
        scaled q, v: copies), the attention weights and the proj input.  v2's relative positions save
        their einsum and matmul operands too, not listed (not measured)."""
        h, d = self.h, self.d
        out = [Saved("qkv input", self.L * self.E, alias="input")]
        for nm, p in (("k", self.pk), ("v", self.pv), ("q", self.pq)):
            if p:
                out += [Saved(f"pool {nm}: Conv3d input", h * d * _prod(p.thw_in)),
                        Saved(f"pool {nm}: LayerNorm input, mean and rstd", h * p.L * d + 2 * h * p.L)]
        out += [Saved("k^T, scaled q and v (bmm operands)", h * d * (2 * self.Lk + self.Lq)),
                Saved("attention weights", h * self.Lq * self.Lk), Saved("proj input", self.Lq * self.D)]
        return out

    def rf(self):
        return RFStep("global", formula=N_("attention over every token"))

    def torch_module(self):
        import torch
        from torchvision.models.video.mvit import MultiscaleAttention as M
        thw = tuple(ntuple(self.a["thw"], 3, "thw"))
        m = M(list(thw), self.E, self.D, self.h, list(ntuple(self.a["kernel_q"], 3, "kernel_q")),
              list(ntuple(self.a["kernel_kv"], 3, "kernel_kv")), list(ntuple(self.a["stride_q"], 3, "stride_q")),
              list(ntuple(self.a["stride_kv"], 3, "stride_kv")), self.a["residual_pool"],
              self.a["residual_with_cls_embed"], self.a["rel_pos_embed"])

        class Attention(torch.nn.Module):      # forward(x, thw) -> (x, thw): the tokens only
            def __init__(self):
                super().__init__()
                self.attn = m

            def forward(self, x):
                return self.attn(x, thw)[0]
        return Attention()


@register("MViTPool")
class MViTPool(Kind):
    """MViT's skip pooling (torchvision's ``Pool(nn.MaxPool3d(...), None)``) of ``[1 + T*H*W, C]`` tokens."""
    example = ("MViTPool([1, 4, 4], [3, 3, 3], [1, 2, 2])", [[17, 8]])
    SIG = (Arg("thw", REQUIRED, "ints"), Arg("kernel_size", REQUIRED, "ints"), Arg("stride", REQUIRED, "ints"))
    family = "pool"
    doc = "MViT's skip-connection max pooling of [1 + T*H*W, C] tokens (the class token passed through)"

    def setup(self):
        s = self.in_shape
        thw = ntuple(self.a["thw"], 3, "thw")
        if len(s) != 2 or s[0] != 1 + _prod(thw):
            raise KindError(_("`MViTPool` takes [1 + T*H*W, C] tokens with thw {thw}, got {s}").format(thw=list(thw), s=list(s)), None,
                            code="shape")
        self.p = _Pooling("MaxPool3d", s[1], 1, thw, ntuple(self.a["kernel_size"], 3, "kernel_size"),
                          ntuple(self.a["stride"], 3, "stride"), False, self.N)
        self.out_shapes = [(self.p.L, s[1])]

    def terms(self):
        return self.p.terms("max pool")

    def bwd_terms(self, needs_input_grad):
        return []

    def saved(self):
        # the pooled clip (the tokens without the class token, a reshaped copy) and the int64 indices
        C = self.in_shape[1]
        return [Saved("pooled tokens (class token apart)", C * _prod(self.p.thw_in)),
                Saved("max indices", C * _prod(self.p.thw), itemsize=8)]

    def rf(self):
        return RFStep("global", formula=N_("pooling of tokens"))

    def torch_module(self):
        import torch
        from torchvision.models.video.mvit import Pool
        k = ntuple(self.a["kernel_size"], 3, "kernel_size")
        thw = tuple(ntuple(self.a["thw"], 3, "thw"))

        class Skip(torch.nn.Module):
            def __init__(self, stride):
                super().__init__()
                self.pool = Pool(torch.nn.MaxPool3d(k, stride=stride, padding=[x // 2 for x in k]), None)

            def forward(self, x):
                return self.pool(x, thw)[0]
        return Skip(list(ntuple(self.a["stride"], 3, "stride")))


@register("MViTPositionalEncoding")
class MViTPositionalEncoding(Kind):
    """MViT's ``PositionalEncoding``: a class token prepended to ``[T*H*W, C]`` tokens; v1 adds absolute
    positions (a spatial table repeated over time plus a temporal one, built once per forward)."""
    example = ("MViTPositionalEncoding([2, 2], 4)", [[16, 8]])
    SIG = (Arg("spatial_size", REQUIRED, "ints"), Arg("temporal_size", REQUIRED, "int"),
           Arg("rel_pos_embed", False, "bool"))
    family = "tensor"
    doc = "MViT's class token and (v1) absolute position embedding of [T*H*W, C] tokens"

    def setup(self):
        s = self.in_shape
        hw = ntuple(self.a["spatial_size"], 2, "spatial_size")
        T = self.a["temporal_size"]
        if len(s) != 2 or s[0] != T * hw[0] * hw[1]:
            raise KindError(_("`MViTPositionalEncoding` takes [T*H*W, C] = [{T}, C] tokens, got {s}").format(T=T * hw[0] * hw[1], s=list(s)), None, code="shape")
        self.C, self.hw, self.T = s[1], hw[0] * hw[1], T
        self.out_shapes = [(s[0] + 1, s[1])]

    def params(self):
        C = self.C
        if self.a["rel_pos_embed"]:
            return Figure(C, "C", {"C": C}, "params", note="the class token")
        v = C + self.hw * C + self.T * C + C
        return Figure(v, "C + HW*C + T*C + C", {"C": C, "HW": self.hw, "T": self.T}, "params",
                      note="class token, spatial, temporal and class positions")

    def terms(self):
        if self.a["rel_pos_embed"]:
            return []
        once = self.T * self.hw * self.C
        v = self.N * self.out_shape[0] * self.C
        return [Term(("elementwise",), once, Figure(once, "T*HW*C", {"T": self.T, "HW": self.hw, "C": self.C},
                                                    "position table adds (once)")),
                Term(("elementwise",), v, Figure(v, "N*L*C", {"N": self.N, "L": self.out_shape[0], "C": self.C},
                                                 "position adds"))]

    def bwd_terms(self, needs_input_grad):
        return []

    def grad_passes_through(self, in_shape):
        return False

    def rf(self):
        return RFStep("global", formula=N_("a class token and positions"))

    def torch_module(self):
        from torchvision.models.video.mvit import PositionalEncoding as P
        return P(self.C, tuple(ntuple(self.a["spatial_size"], 2, "spatial_size")), self.T, self.a["rel_pos_embed"])



