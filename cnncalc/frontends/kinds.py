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
from ..kinds.base import Kind, KindError, RFStep, Saved, Term

# FlopCounterMode op names -> our MAC rules (every op it counts is a multiply-accumulate kind)
_CONV_OPS = ("convolution", "conv")


class Opaque(Kind):
    family = "opaque"
    N_INPUTS = (0, 1000)
    SIG = ()
    exportable = False
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


class ScalarOp(Kind):
    """``x <op> c`` with a Python number ``c``: one operation per element."""

    family = "tensor"
    N_INPUTS = (1, 1)
    SIG = ()
    has_module = False
    exportable = False

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


class ParamOp(Kind):
    """``x <op> p`` with a parameter ``p`` broadcast against ``x`` (the output has x's shape)."""

    family = "tensor"
    N_INPUTS = (1, 1)
    SIG = ()
    has_module = False
    exportable = False

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


class ParamCat(Kind):
    """``cat([p.expand(N, ...), x], dim)``: a parameter (a class token) broadcast over the batch and
    concatenated with an activation: a copy, no arithmetic; the parameter counted here."""

    family = "tensor"
    N_INPUTS = (1, 1)
    SIG = ()
    has_module = False
    exportable = False

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
