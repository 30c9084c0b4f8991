"""Kinds that exist only for captured modules (not in the spec format, not in REGISTRY).

- :class:`Opaque`: a call we cannot map to a kind.  Its shape comes from running it on the
  ``meta`` device, its parameters from the module, its work from ``FlopCounterMode`` (status
  ``measured, not analytic``).
- :class:`ScalarOp`: ``x * 0.5``, ``x + 1``: an elementwise op with a Python number.
- :class:`ParamOp`: ``x * self.gamma``, ``x + self.pos_embedding``: an elementwise op with a
  parameter (counted as this node's parameters; a parameter used twice counts once).
"""
from __future__ import annotations

from ..figure import Figure
from ..kinds.base import Kind, KindError, RFStep, Saved, Term, prod

# FlopCounterMode op names -> our MAC rules (every op it counts is a multiply-accumulate kind)
_CONV_OPS = ("convolution", "conv")


class CapturedKind(Kind):
    """A kind of captured modules only: no spec name, no torch builder of ours, not written by export."""

    SIG = ()
    has_module = False
    exportable = False


class Opaque(CapturedKind):
    family = "opaque"
    N_INPUTS = (0, 1000)
    status = "measured, not analytic"

    def __init__(self, op, in_shapes, out_shapes, batch, params=0, buffers=0, flop_ops=None, flops=0,
                 reason=""):
        self.op = op
        self.a = {}
        self.in_shapes = [tuple(s) for s in in_shapes]
        self.out_shapes = [tuple(s) for s in out_shapes]
        self.N = batch
        self._params = params
        self._buffers = buffers
        self.flops = flops
        self.flop_ops = dict(flop_ops or {})
        self.reason = reason

    def params(self):
        return Figure(self._params, "", {}, "params", note="counted from the module's parameters")

    def buffers(self):
        return Figure(self._buffers, "", {}, "buffers", note="counted from the module's buffers")

    def terms(self):
        # FlopCounterMode counts 2 FLOPs per multiply-accumulate of conv/matmul/attention and nothing
        # else: report its count as MACs of the matching rule, so conventions apply as usual.
        out = []
        conv = sum(v for k, v in self.flop_ops.items() if any(s in k for s in _CONV_OPS))
        rest = self.flops - conv
        note = "measured by torch.utils.flop_counter.FlopCounterMode, not analytic"
        if conv:
            out.append(Term(("conv",), conv // 2, Figure(conv // 2, "", {}, "measured MACs", note=note)))
        if rest:
            out.append(Term(("matmul",), rest // 2, Figure(rest // 2, "", {}, "measured MACs", note=note)))
        return out

    def bwd_terms(self, needs_input_grad):
        return []

    def rf(self):
        return RFStep("global", (), (), (), "opaque: receptive field unknown (taken as global)")

    def describe_args(self):
        return f"{self.op} (opaque: {self.status})"


class ScalarOp(CapturedKind):
    """``x <op> c`` with a Python number ``c``: one operation per element."""

    family = "tensor"
    N_INPUTS = (1, 1)

    def __init__(self, op, other, in_shapes, batch):
        self.other = other
        super().__init__(op, {"other": other}, in_shapes, batch)

    def setup(self):
        self.out_shapes = [self.in_shape]

    def terms(self):
        v = self.N * self.numel_in()
        return [Term(("elementwise",), v, Figure(v, "N*numel", {"N": self.N, "numel": self.numel_in()},
                                                 "operations"))]

    def describe_args(self):
        return f"{self.op}(other={self.other!r})"


class ParamOp(CapturedKind):
    """``x <op> p`` with a parameter ``p`` broadcast against ``x`` (the output has x's shape)."""

    family = "tensor"
    N_INPUTS = (1, 1)

    def __init__(self, op, pname, pshape, in_shapes, batch):
        self.pname = pname
        self.pshape = tuple(pshape)
        super().__init__(op, {"param": pname}, in_shapes, batch)

    def setup(self):
        x = (self.N,) + tuple(self.in_shape)
        p = self.pshape
        if len(p) > len(x) or any(pd not in (1, xd) for pd, xd in zip(p[::-1], x[::-1])):
            raise KindError(f"parameter {self.pname} of shape {list(p)} does not broadcast to the input {list(x)}")
        if len(p) == len(x) and p[0] != 1:
            raise KindError(f"parameter {self.pname} has a batch dimension")
        self.out_shapes = [self.in_shape]

    def params(self):
        n = 1
        for d in self.pshape:
            n *= d
        return Figure(n, "numel(" + "x".join(map(str, self.pshape)) + ")", {}, "params",
                      note=f"the parameter {self.pname}")

    def terms(self):
        v = self.N * self.numel_in()
        return [Term(("elementwise",), v, Figure(v, "N*numel", {"N": self.N, "numel": self.numel_in()},
                                                 "operations"))]

    def saved(self):
        return [Saved("input", self.numel_in(), alias="input")] if self.op == "mul" else []

    def describe_args(self):
        return f"{self.op}({self.pname})"


class ParamCat(CapturedKind):
    """``cat([p.expand(N, ...), x], dim)``: a parameter (a class token) broadcast over the batch and
    concatenated with an activation: a copy, no arithmetic; the parameter counted here."""

    family = "tensor"
    N_INPUTS = (1, 1)

    def __init__(self, pname, pshape, dim, first, in_shapes, batch):
        self.pname = pname
        self.pshape = tuple(pshape)
        self.dim = dim
        self.first = first
        super().__init__("cat", {"param": pname, "dim": dim}, in_shapes, batch)

    def setup(self):
        x = self.in_shape
        p = self.pshape[1:]
        d = self.dim + len(x) + 1 if self.dim < 0 else self.dim
        if len(p) != len(x) or not 1 <= d <= len(x) or any(a != b for i, (a, b) in enumerate(zip(p, x)) if i != d - 1):
            raise KindError(f"parameter {self.pname} of shape {list(self.pshape)} does not concatenate with "
                            f"{list(x)} along dim {self.dim}")
        out = list(x)
        out[d - 1] += p[d - 1]
        self.out_shapes = [tuple(out)]

    def params(self):
        n = 1
        for d in self.pshape:
            n *= d
        return Figure(n, "numel(" + "x".join(map(str, self.pshape)) + ")", {}, "params",
                      note=f"the parameter {self.pname}, broadcast over the batch")

    def grad_passes_through(self, in_shape):
        return True

    def rf(self):
        return RFStep("merge", formula="concatenation with a parameter")

    def describe_args(self):
        return f"cat({self.pname}.expand(N, ...), dim={self.dim})"


class Rebatch(CapturedKind):
    """A call that moves data between the batch and the other dims: ``cat`` or ``split``/``chunk`` along
    dim 0, a ``reshape``/``view`` that folds dims into the batch or takes them out of it, a ``repeat`` or
    ``expand`` that gives a constant a batch (``frontends.batch_fold``).  No arithmetic: a copy (cat,
    repeat) or a view.  Its inputs keep their own batches (``in_batches``); ``N`` is its outputs'."""

    family = "tensor"
    N_INPUTS = (1, 1000)
    COPIES = ("cat", "repeat", "index")
    keeps = None              # "index": autograd keeps the index tensor or boolean mask (input 1)

    def __init__(self, how, in_shapes, in_batches, out_shapes, batch):
        self.how = how                          # the torch call: cat, split, chunk, reshape, view, repeat, ...
        self.op = "batch_" + how
        self.a = {}
        self.in_shapes = [tuple(s) for s in in_shapes]
        self.in_batches = list(in_batches)      # None: a constant input (its shape is the whole tensor)
        self.out_shapes = [tuple(s) for s in out_shapes]
        self.N = batch
        self.view = how not in self.COPIES

    def grad_passes_through(self, in_shape):
        # cat hands each input a slice of its output's gradient, a reshape a view of it
        return self.how not in ("repeat", "expand", "index", "slice", "select")

    def saved(self):
        return [Saved("index", 1, alias="input1")] if self.keeps == "index" else []

    def rf(self):
        if self.how in ("reshape", "view", "flatten", "unflatten"):
            return RFStep("global", formula="reshape across the batch")
        return RFStep("merge", formula="samples regrouped along the batch; positions unchanged")

    def _side(self, s, b):
        return ("x".join(map(str, s)) or "scalar") if b is None else f"{b} x " + ("x".join(map(str, s)) or "1")

    def describe_args(self):
        ins = ", ".join(self._side(s, b) for s, b in zip(self.in_shapes, self.in_batches))
        outs = ", ".join(self._side(s, self.N if self.batched else None) for s in self.out_shapes)
        return f"{self.how} across the batch: [{ins}] -> [{outs}] ({'a copy' if not self.view else 'a view'})"


_ELEMENTWISE = {"add", "sub", "mul", "div", "neg", "sqrt", "rsqrt", "exp", "log", "pow", "reciprocal", "abs",
                "floor", "ceil", "round", "sin", "cos", "clamp", "square"}


class Constant(CapturedKind):
    """A tensor that does not depend on the input (``arange``, ``linspace``, ``meshgrid``, ``zeros`` and what is
    computed from them alone): the same for every input and every batch, so it has no batch (``batched``
    False: its shape is the whole tensor).  Creating and moving values is no arithmetic; an elementwise
    operation on constants counts one operation per output element."""

    family = "tensor"
    N_INPUTS = (0, 1000)
    batched = False

    def __init__(self, op, in_shapes, out_shapes):
        self.op = op
        self.a = {}
        self.in_shapes = [tuple(s) for s in in_shapes]
        self.out_shapes = [tuple(s) for s in out_shapes]
        self.N = 1

    def terms(self):
        if self.op not in _ELEMENTWISE:
            return []
        v = sum(prod(s) for s in self.out_shapes)
        return [Term(("elementwise",), v, Figure(v, "numel_out", {"numel_out": v}, "operations",
                                                 note="on a constant: no batch"))]

    def bwd_terms(self, needs_input_grad):
        return []

    def rf(self):
        return RFStep("merge", formula="a constant: sees no input")

    def grad_passes_through(self, in_shape):
        return False

    def describe_args(self):
        return f"{self.op} (a constant: the same for every input, no batch)"


class Detach(CapturedKind):
    """``x.detach()``: a view of its input that autograd does not record (no gradient flows back)."""

    family = "tensor"
    N_INPUTS = (1, 1)
    view = True
    stops_gradient = True

    def __init__(self, in_shapes, batch):
        super().__init__("detach", {}, in_shapes, batch)

    def describe_args(self):
        return "detach (a view; no gradient flows back through it)"


# torch's pointwise functions without a registered kind: what autograd keeps for backward, whether the output
# carries a gradient at all (a comparison's bool does not), its bytes per element when not the model's dtype
POINTWISE = {
    "exp": ("output", True, None), "sqrt": ("output", True, None), "rsqrt": ("output", True, None),
    "reciprocal": ("output", True, None),
    "log": ("input", True, None), "log2": ("input", True, None), "log10": ("input", True, None),
    "log1p": ("input", True, None), "sin": ("input", True, None), "cos": ("input", True, None),
    "clamp": ("input", True, None), "clip": ("input", True, None), "clamp_min": ("input", True, None),
    "clamp_max": ("input", True, None),
    "floor": (None, True, None), "ceil": (None, True, None), "round": (None, True, None),
    "trunc": (None, True, None), "neg": (None, True, None), "sign": (None, True, None),
    "ge": (None, False, 1), "gt": (None, False, 1), "le": (None, False, 1), "lt": (None, False, 1),
    "eq": (None, False, 1), "ne": (None, False, 1), "logical_and": (None, False, 1),
    "logical_or": (None, False, 1), "logical_not": (None, False, 1), "and": (None, False, 1),
    "or": (None, False, 1), "invert": (None, False, 1),
    "where": ("condition", True, None),
}


class Pointwise(CapturedKind):
    """A pointwise function of one or more tensors, broadcast (``exp``, ``clamp``, ``floor``, a comparison,
    ``where``): ``ops`` operations per output element; autograd keeps its input, its output or, for ``where``,
    the condition (1 byte per element), as torch does; a comparison's output is bool (1 byte) and carries
    no gradient."""

    family = "tensor"
    N_INPUTS = (1, 3)

    def __init__(self, op, in_shapes, batch, ops=1):
        self.ops = ops
        self.keeps, grad, self.out_itemsize = POINTWISE[op]
        self.stops_gradient = not grad
        super().__init__(op, {}, in_shapes, batch)

    def setup(self):
        from ..kinds.tensor import broadcast
        self.out_shapes = [broadcast(self.in_shapes, self.op)]

    def terms(self):
        v = self.N * self.numel_out() * self.ops
        return [Term(("elementwise",), v, Figure(v, "N*numel_out*ops", {"N": self.N, "numel_out": self.numel_out(),
                                                                         "ops": self.ops}, "operations"))]

    def saved(self):
        if self.keeps == "output":
            return [Saved("output", self.numel_out(), alias="output")]
        if self.keeps == "input":
            return [Saved("input", self.numel_in(), alias="input")]
        if self.keeps == "condition":
            return [Saved("condition", self.numel_in(), itemsize=1, alias="input")]
        return []

    def rf(self):
        return RFStep("merge", formula="pointwise")

    def describe_args(self):
        return f"{self.op} (pointwise, {self.ops} operation(s) per element)"


class Cast(CapturedKind):
    """``x.to(dtype)``, ``x.float()``, ``x.long()``: a copy in another dtype (its element size from the capture); no
    arithmetic; autograd keeps nothing (the gradient is cast back)."""

    family = "tensor"
    N_INPUTS = (1, 1)

    def __init__(self, in_shapes, batch):
        super().__init__("cast", {}, in_shapes, batch)

    def describe_args(self):
        return "cast to another dtype (a copy)"
