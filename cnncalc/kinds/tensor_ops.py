"""Tensor functions of vision transformers: ``pad`` (functional, any dims), ``sum``, ``einsum`` (a
two-operand contraction), ``getitem`` (basic indexing, a view), ``roll`` and ``relative_position_bias``
(scores plus a learned table gathered by an index buffer, as in MaxViT).  Dims follow torch: dim 0 is the batch, which each of them
keeps in place.
"""
from __future__ import annotations

from ..i18n import N_, _
from ..figure import Figure
from .base import REQUIRED, Arg, KindError, RFStep, Saved, Term, prod, register
from .strides import einsum_pair, slice_strides
from .tensor import Reduce, TensorFn, _dim


# the rule of fvcore's rounding of an einsum count: priced (1 per unit) by the fvcore preset alone
FVCORE_EINSUM_ROUNDING = "fvcore_einsum_rounding"


def fvcore_einsum_count(macs):
    """fvcore 0.1.5's count of a two-operand einsum contracting a letter (other than its two batched-matmul
    equations): numpy's ``einsum_path`` reports the "Optimized FLOP count" 2*P (P the product of every
    letter's size, the exact MACs) as ``%.3e``; fvcore halves and floors it: 4 significant digits."""
    return int(float("%.3e" % (2 * macs)) // 2)


def fvcore_rounding_terms(macs, fvcore_macs):
    """The alternative accounting the fvcore preset alone prices: fvcore's einsum count less the exact one."""
    if fvcore_macs == macs:
        return []
    d = fvcore_macs - macs
    return [Term((FVCORE_EINSUM_ROUNDING,), d,
                 _fig(d, "floor(float('%.3e' % (2*P))/2) - P", {"P": macs}, "fvcore's rounding",
                      note="fvcore reads an einsum's count from numpy's einsum_path report, printed to 4 "
                           "significant digits"), alt=True)]


def _fig(value, formula, bindings, name, note=""):
    return Figure(value, formula, bindings, name, note=note)


# ------------------------------------------------------------------------------------ einsum
def parse_equation(eq, op="einsum"):
    """``"bij,bjk->bik"`` (spaces ignored) -> ([operand subscripts], output subscripts)."""
    if not isinstance(eq, str):
        raise KindError(_("`equation` must be a string"), "equation")
    e = eq.replace(" ", "")
    if "->" not in e:
        raise KindError(_("`{op}`: the equation {eq!r} has no explicit output (`->`)").format(op=op, eq=eq), "equation",
                        [_("write the output subscripts, e.g. 'bij,bjk->bik'")])
    lhs, out = e.split("->", 1)
    ins = lhs.split(",")
    for s in ins + [out]:
        if not s.isalpha() and s != "":
            raise KindError(_("`{op}`: subscripts must be letters (no `...`), got {s!r}").format(op=op, s=s), "equation")
        if len(set(s)) != len(s):
            raise KindError(_("`{op}`: a letter repeated within one operand ({s!r}: a diagonal) is not supported").format(op=op, s=s),
                            "equation")
    return ins, out


@register("einsum")
class Einsum(TensorFn):
    """torch.einsum of two activations that contracts at least one letter.  The first letter of every
    operand and of the output is the batch."""
    example = ("einsum('bhid,bhjd->bhij')", [[2, 5, 4], [2, 3, 4]])
    N_INPUTS = (2, 2)
    SIG = (Arg("equation", REQUIRED, "str"),)
    doc = "torch.einsum of two activations contracting at least one letter; the batch letter first everywhere"

    def setup(self):
        ins, out = parse_equation(self.a["equation"])
        if len(ins) != 2:
            raise KindError(_("`einsum` here takes two operands, the equation has {n_ins}").format(n_ins=len(ins)), "equation")
        sizes = {}
        for i, (s, shp) in enumerate(zip(ins, self.in_shapes)):
            if len(s) != len(shp) + 1:
                raise KindError(_("`einsum`: operand {i} has subscripts {s!r} ({n_s} dims) but is [N, {map}] ({n_shp} "
                                  "dims, batch included)").format(i=i, s=s, n_s=len(s), map=', '.join(map(str, shp)), n_shp=len(shp) + 1), "equation")
            for L, d in zip(s[1:], shp):
                if sizes.setdefault(L, d) != d:
                    raise KindError(_("`einsum`: letter {L!r} is {sizes} in one operand and {d} in another").format(L=L, sizes=sizes[L], d=d),
                                    "equation", code="shape")
        b = {s[0] for s in ins + [out]}
        if len(b) != 1 or any(s[0] in s[1:] for s in ins + [out]):
            raise KindError(_("`einsum`: the first letter of every operand and of the output must be the batch"),
                            "equation", [_("dim 0 is the batch: write it first everywhere, e.g. 'bij,bjk->bik'")])
        self.batch = b.pop()
        if any(L not in sizes for L in out[1:]):
            raise KindError(_("`einsum`: output letters {out!r} not in the operands").format(out=out), "equation")
        self.sizes = sizes
        self.contracted = [L for L in sizes if L not in out]
        if not self.contracted:
            raise KindError(_("`einsum` without a contracted letter (an outer or elementwise product) is not supported"), "equation", [_("use `mul` for an elementwise product")], code="unsupported")
        self.ins, self.out = ins, out
        self.out_shapes = [tuple(sizes[L] for L in out[1:])]

    def mac_figure(self, name="MACs"):
        letters = sorted(self.sizes)
        v = self.N * prod(self.sizes[L] for L in letters)
        return _fig(v, "N*" + "*".join("d_" + L for L in letters),
                    dict({"N": self.N}, **{"d_" + L: self.sizes[L] for L in letters}), name,
                    note="the product of every letter's size: one multiply-accumulate per combination "
                         f"(contracted: {', '.join(self.contracted)})")

    def fvcore_macs(self):
        """What fvcore 0.1.5 counts for this einsum: two equations (batched matmuls) exactly, any other
        rounded (fvcore_einsum_count)."""
        eq = ",".join(self.ins) + "->" + self.out
        order = {}
        for ch in eq:
            if ch.isalpha():
                order.setdefault(ch, chr(97 + len(order)))
        canon = "".join(order.get(ch, ch) for ch in eq)
        v = self.mac_figure().value
        return v if canon in ("abc,abd->acd", "abc,adc->adb") else fvcore_einsum_count(v)

    def terms(self):
        m = self.mac_figure()
        return [Term(("matmul",), m.value, m)] + fvcore_rounding_terms(m.value, self.fvcore_macs())

    def bwd_terms(self, needs_input_grad):
        if not needs_input_grad:
            return []
        return [Term(("matmul",), self.mac_figure().value, self.mac_figure("grad_input0 MACs")),
                Term(("matmul",), self.mac_figure().value, self.mac_figure("grad_input1 MACs"))]

    def saved(self):
        return [Saved("input0", self.numel_in(0), alias="input"), Saved("input1", self.numel_in(1), alias="input1")]

    def _pair(self, ins):
        return einsum_pair(self.ins, self.out, [s for s, _ in ins], [st for _, st in ins])

    def saved_in_layout(self, ins):
        """torch reshapes each operand, permuted to [batch letters, kept, contracted], to 3-D for bmm,
        which saves the results: a view of the operand where its strides allow (the operand's storage),
        else a copy (``strides.einsum_pair``)."""
        out = []
        for i, (view, numel) in enumerate(self._pair(ins)[0]):
            if view:
                out.append(Saved(f"input{i}", self.numel_in(i), alias="input1" if i else "input"))
            else:
                out.append(Saved(f"input{i} (copied to 3-D for bmm: not a view of it)", numel, batched=False))
        return out

    def out_strides(self, ins):
        return [self._pair(ins)[1]]

    def rf(self):
        return RFStep("global", formula=N_("contraction: every output mixes whole rows of both operands"))

    def shape_figures(self):
        return [_fig(self.numel_out(), "*".join("d_" + L for L in self.out[1:]),
                     {"d_" + L: self.sizes[L] for L in self.out[1:]},
                     "output elements")]

    def torch_call(self, mod, xs):
        import torch
        return torch.einsum(self.a["equation"], xs[0], xs[1])


# ------------------------------------------------------------------------------------ getitem
def _norm_index(index, shape, op="getitem"):
    """Basic indexing of the dims after the batch: entries int, null (all) or [start, stop, step].
    Returns (per dim: ("int", i) or ("slice", start, stop, step)), output shape)."""
    if not isinstance(index, (list, tuple)):
        index = [index]
    if len(index) > len(shape):
        raise KindError(_("`{op}`: {n_index} index entries for {n_shape} dims (batch excluded)").format(op=op, n_index=len(index), n_shape=len(shape)), "index")
    res, out = [], []
    for e, L in zip(list(index) + [None] * (len(shape) - len(index)), shape):
        if isinstance(e, bool):
            raise KindError(_("`{op}`: an index entry must be an integer, null or [start, stop, step]").format(op=op), "index")
        if isinstance(e, int):
            i = e + L if e < 0 else e
            if not 0 <= i < L:
                raise KindError(_("`{op}`: index {error} out of range for a dim of {L}").format(op=op, error=e, L=L), "index")
            res.append(("int", i))
            continue
        if e is None:
            e = (None, None, None)
        if not isinstance(e, (list, tuple)) or len(e) not in (2, 3):
            raise KindError(_("`{op}`: an index entry must be an integer, null or [start, stop, step], got {error!r}").format(op=op, error=e),
                            "index")
        start, stop, step = (list(e) + [None])[:3]
        step = 1 if step is None else step
        if not isinstance(step, int) or step < 1:
            raise KindError(_("`{op}`: a slice step must be a positive integer (as in torch), got {step!r}").format(op=op, step=step), "index")
        a, b, s = slice(start, stop, step).indices(L)
        res.append(("slice", a, b, s))
        out.append(len(range(a, b, s)))
    return res, tuple(out)


@register("getitem")
class GetItem(TensorFn):
    """``x[:, i, a:b:s, ...]``: basic indexing after the batch (a view)."""
    example = ("getitem([0, [1, 9, 2]])", [[4, 10, 9]])
    SIG = (Arg("index", REQUIRED, "any"),)
    view = True
    doc = ("x[:, ...]: basic indexing of the dims after the batch; `index` lists per dim an integer, null "
           "(the whole dim) or [start, stop, step]")

    def setup(self):
        self.idx, out = _norm_index(self.a["index"], self.in_shape)
        self.out_shapes = [out]

    def grad_passes_through(self, in_shape):
        return False       # the input's gradient is a new zero tensor with the output's gradient written in

    def out_strides(self, ins):
        return [slice_strides(ins[0][1], self.idx)]

    def bwd_terms(self, needs_input_grad):
        return []

    def rf(self):
        return RFStep("global", formula=N_("indexing"))

    def torch_call(self, mod, xs):
        ix = [slice(None)]
        for e in self.idx:
            ix.append(e[1] if e[0] == "int" else slice(e[1], e[2], e[3]))
        return xs[0][tuple(ix)]


# ------------------------------------------------------------------------------------ roll
@register("roll")
class Roll(TensorFn):
    """torch.roll along dims after the batch: a circular shift, a copy with no arithmetic."""
    example = ("roll([-3, -3], [1, 2])", [[7, 7, 4]])
    SIG = (Arg("shifts", REQUIRED, "any"), Arg("dims", REQUIRED, "any"))
    doc = "torch.roll (a circular shift, copied); `dims` count the batch as 0, which is refused"

    def setup(self):
        sh, ds = self.a["shifts"], self.a["dims"]
        sh = [sh] if isinstance(sh, int) else list(sh)
        ds = [ds] if isinstance(ds, int) else list(ds)
        if len(sh) != len(ds) or not all(isinstance(x, int) and not isinstance(x, bool) for x in sh + ds):
            raise KindError(_("`roll`: `shifts` and `dims` must be integers or lists of integers of one length"),
                            "shifts")
        self.pairs = [(_dim(d, len(self.in_shape) + 1, "roll", "dims"), s) for s, d in zip(sh, ds)]
        self.out_shapes = [self.in_shape]

    def grad_passes_through(self, in_shape):
        return False      # the gradient is rolled back: a new tensor

    def bwd_terms(self, needs_input_grad):
        return []

    def rf(self):
        if not any(d for d, _ in self.pairs):
            nd = len(self.in_shape) - 1
            return RFStep("window", (1,) * nd, (1,) * nd, (0,) * nd, N_("roll of the channels: the identity in space"))
        return RFStep("global", formula=N_("a circular shift: each unit reads one input position, wrapped around "
                                           "(no window formula; the index sets are exact)"))

    def rf_index(self, sets, i=0, out=0):
        """Output position p along a rolled spatial axis reads input position (p - shift) mod L."""
        res = list(sets)
        for d, s in self.pairs:
            if d == 0:
                continue
            L = self.in_shape[d]
            s %= L
            m = res[d - 1]
            res[d - 1] = ((m >> s) | (m << (L - s))) & ((1 << L) - 1)
        return tuple(res)

    def torch_call(self, mod, xs):
        import torch
        return torch.roll(xs[0], self.a["shifts"], self.a["dims"])


# ------------------------------------------------------------------------------------ relative position bias
@register("relative_position_bias")
class RelativePositionBias(TensorFn):
    """``scores + table[index]``: attention scores ``[*, H, P, P]`` plus a learned table of
    ``table_size x H`` biases gathered by a ``P*P`` index buffer (Swin, Swin3D, MaxViT).  The gather runs
    once per forward; the add once per score."""
    example = ("relative_position_bias(9)", [[4, 2, 4, 4]])
    SIG = (Arg("table_size", REQUIRED, "int"), Arg("num_heads", REQUIRED, "int", infer=True))
    has_module = True
    doc = ("attention scores [*, H, P, P] plus table[index]: a learned table_size x H table gathered by a "
           "P*P index buffer (Swin's, MaxViT's relative position bias)")

    def setup(self):
        s = self.in_shape
        if len(s) < 3 or s[-1] != s[-2]:
            raise KindError(_("`relative_position_bias` needs scores [*, H, P, P], got {s}").format(s=list(s)), None, code="shape")
        H = self.a.get("num_heads", REQUIRED)
        if H is REQUIRED:
            H = s[-3]
            self.a["num_heads"] = H
        if H != s[-3]:
            raise KindError(_("`num_heads` is {H} but the scores have {s_m3} heads (dim -3)").format(H=H, s_m3=s[-3]), "num_heads")
        if self.a["table_size"] < 1:
            raise KindError(_("`table_size` must be positive"), "table_size")
        self.P = s[-1]
        self.out_shapes = [s]

    def params(self):
        T, H = self.a["table_size"], self.a["num_heads"]
        return _fig(T * H, "table_size*H", {"table_size": T, "H": H}, "params", note="the bias table")

    def buffers(self):
        return _fig(self.P * self.P, "P*P", {"P": self.P}, "buffers",
                    note="the index buffer: one table row per (query, key) pair")

    def terms(self):
        v = self.N * self.numel_in()
        return [Term(("elementwise",), v, _fig(v, "N*numel", {"N": self.N, "numel": self.numel_in()},
                                                "bias adds"))]

    def bwd_terms(self, needs_input_grad):
        # the table's gradient: every score's gradient summed into its table entry (index_put with accumulate)
        v = self.N * self.numel_in()
        return [Term(("elementwise",), v, _fig(v, "N*numel", {"N": self.N, "numel": self.numel_in()},
                                                "grad_table adds (scatter-add of the scores' gradient)"))]

    def grad_passes_through(self, in_shape):
        return True

    def rf(self):
        return RFStep("merge", formula=N_("elementwise bias"))

    def torch_module(self):
        import torch
        T, H, P = self.a["table_size"], self.a["num_heads"], self.P

        class RelPosBias(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.relative_position_bias_table = torch.nn.Parameter(torch.zeros(T, H))
                torch.nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
                self.register_buffer("relative_position_index", torch.arange(P * P) % T)

            def forward(self, x):
                b = self.relative_position_bias_table[self.relative_position_index]     # [P*P, H]
                return x + b.view(P, P, H).permute(2, 0, 1)

        return RelPosBias()

    def torch_call(self, mod, xs):
        return mod(xs[0])


# ------------------------------------------------------------------------------------ sum
@register("sum")
class Sum(Reduce):
    """torch.sum over dims: one add per input element (as mean, without the divide)."""
    example = ("sum(dim=[2, 3])", [[4, 10, 9]])
    doc = "torch.sum over dims"


# ------------------------------------------------------------------------------------ pad
_PAD_MODES = ("constant", "reflect", "replicate", "circular")


@register("pad")
class Pad(TensorFn):
    """torch.nn.functional.pad: ``pad`` lists (before, after) for the last dim, then the one before, ... (as
    in torch); any dims after the batch, negative amounts crop (constant mode).  A copy, no arithmetic."""
    example = ("pad([0, 0, 1, 2], mode='constant')", [[5, 6, 4]])
    SIG = (Arg("pad", REQUIRED, "any"), Arg("mode", "constant", "str", _PAD_MODES), Arg("value", None, "any"))
    doc = ("torch.nn.functional.pad: (before, after) per dim from the last one, any dims after the batch "
           "(a channels-last map too); modes constant, reflect, replicate, circular")

    def setup(self):
        p = self.a["pad"]
        x = self.in_shape
        if not isinstance(p, (list, tuple)) or not p or len(p) % 2 or \
                not all(isinstance(v, int) and not isinstance(v, bool) for v in p):
            raise KindError(_("`pad` must be an even number of ints (before, after, ...) from the last dim, got {p!r}").format(p=p),
                            "pad")
        k = len(p) // 2
        if k > len(x):
            raise KindError(_("`pad` covers {k} dims but the input has {n_x} after the batch").format(k=k, n_x=len(x)), "pad",
                            [_("the batch is never padded")])
        mode = self.a["mode"]
        v = self.a["value"]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise KindError(_("`value` must be a number or null"), "value")
        if mode != "constant":
            if v not in (None, 0):
                raise KindError(_("`value` is for mode 'constant' only (mode is {mode!r}; torch refuses it)").format(mode=mode), "value")
            if k > 3 or len(x) + 1 not in (k + 1, k + 2):
                raise KindError(_("mode {mode!r} pads the last 1 to 3 dims of a 2- to 5-dim tensor (batch included), the "
                                  "last {k} of {n_x} here (as in torch)").format(mode=mode, k=k, n_x=len(x) + 1), "pad")
            if min(p) < 0:
                raise KindError(_("negative padding crops in mode 'constant' only (as in torch)"), "pad")
        out = list(x)
        self.lo = [0] * len(x)
        for i in range(k):
            d = len(x) - 1 - i
            lo, hi = p[2 * i], p[2 * i + 1]
            if mode == "reflect" and max(lo, hi) >= x[d]:
                raise KindError(_("reflect padding {max} must be smaller than the size {x} (as in torch)").format(max=max(lo, hi), x=x[d]),
                                "pad", code="shape")
            if mode == "circular" and max(lo, hi) > x[d]:
                raise KindError(_("circular padding {max} must not exceed the size {x} (as in torch)").format(max=max(lo, hi), x=x[d]),
                                "pad", code="shape")
            out[d] += lo + hi
            self.lo[d] = lo
            if out[d] < 1:
                raise KindError(_("the padding leaves dim {d} (batch = 0) with {out} elements").format(d=d + 1, out=out[d]), "pad",
                                code="shape")
        self.out_shapes = [tuple(out)]

    @property
    def copies_border(self):
        return self.a["mode"] != "constant"

    def bwd_terms(self, needs_input_grad):
        return []

    def saved(self):
        if self.a["mode"] in ("reflect", "replicate"):
            return [Saved("input", self.numel_in(), alias="input", input_grad_only=True)]
        return []

    def rf(self):
        if self.lo[0] or self.out_shape[0] != self.in_shape[0]:
            return RFStep("global", formula=N_("padding of dim 1 (the channels, or a channels-last map's rows)"))
        nd = len(self.in_shape) - 1
        left = tuple(self.lo[1:])
        return RFStep("window", (1,) * nd, (1,) * nd, left, N_("padding: shifts p, not r"))

    def rf_index(self, sets, i=0, out=0):
        """Output o reads o - P_left; reflect, replicate and circular copy input pixels into the border."""
        from .index_sets import taps_mode
        if self.rf().kind == "global":
            return tuple((1 << L) - 1 for L in self.in_shape[1:])
        m = {"constant": "zeros"}.get(self.a["mode"], self.a["mode"])
        return tuple(taps_mode(s, 1, [-pl], L, m) for s, pl, L in zip(sets, self.lo[1:], self.in_shape[1:]))

    def torch_call(self, mod, xs):
        import torch.nn.functional as F
        kw = {"value": self.a["value"]} if self.a["mode"] == "constant" and self.a["value"] is not None else {}
        return F.pad(xs[0], list(self.a["pad"]), mode=self.a["mode"], **kw)
