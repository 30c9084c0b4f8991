"""Activations: elementwise, shape unchanged, k operations per element (one table)."""
from __future__ import annotations

from ..figure import Figure
from .base import Arg, Kind, KindError, RFStep, Saved, Term, register
from ..i18n import _

INPLACE = Arg("inplace", False, "bool")

# op: (rule, signature, what autograd saves for backward)
TABLE = {
    "ReLU": ("relu", (INPLACE,), "output"),
    "ReLU6": ("relu6", (INPLACE,), "input"),
    "LeakyReLU": ("leaky_relu", (Arg("negative_slope", 0.01, "float"), INPLACE), "input"),
    "PReLU": ("prelu", (Arg("num_parameters", 1, "int"), Arg("init", 0.25, "float"), Arg("device", None),
                        Arg("dtype", None)), "input"),
    "RReLU": ("rrelu", (Arg("lower", 0.125, "float"), Arg("upper", 1 / 3, "float"), INPLACE), "input"),
    # elu/selu/celu keep their input (in place: their result, which is the input's memory)
    "ELU": ("elu", (Arg("alpha", 1.0, "float"), INPLACE), "input"),
    "SELU": ("selu", (INPLACE,), "input"),
    "CELU": ("celu", (Arg("alpha", 1.0, "float"), INPLACE), "input"),
    "GELU": ("gelu", (Arg("approximate", "none", "str", ("none", "tanh")),), "input"),
    "SiLU": ("silu", (INPLACE,), "input"),
    "Mish": ("mish", (INPLACE,), "input"),
    "Sigmoid": ("sigmoid", (), "output"),
    "Tanh": ("tanh", (), "output"),
    "Hardswish": ("hardswish", (INPLACE,), "input"),
    "Hardsigmoid": ("hardsigmoid", (INPLACE,), "input"),
    "Hardtanh": ("hardtanh", (Arg("min_val", -1.0, "float"), Arg("max_val", 1.0, "float"), INPLACE), "input"),
    "Softplus": ("softplus", (Arg("beta", 1.0, "float"), Arg("threshold", 20.0, "float")), "input"),
    "Softmax": ("softmax", (Arg("dim", None, "optint"),), "output"),
    "LogSoftmax": ("log_softmax", (Arg("dim", None, "optint"),), "output"),
}


class Activation(Kind):
    family = "activation"
    rule = "relu"
    saves = "output"

    def setup(self):
        self.out_shapes = [self.in_shape]
        if self.op == "PReLU":
            n = self.a["num_parameters"]
            if n not in (1, self.in_shape[0]):
                raise KindError(_("PReLU num_parameters must be 1 or the {in_shape_0} channels").format(in_shape_0=self.in_shape[0]), "num_parameters")
        a = self.a
        if self.op == "Hardtanh" and not a["max_val"] > a["min_val"]:
            raise KindError(_("Hardtanh needs max_val > min_val, got min_val={min_val}, max_val={max_val} (torch "
                              "refuses this)").format(min_val=a['min_val'], max_val=a['max_val']), "max_val")
        if self.op == "RReLU" and a["lower"] > a["upper"]:
            raise KindError(_("RReLU needs lower <= upper, got lower={lower}, upper={upper} (torch refuses this)").format(lower=a['lower'], upper=a['upper']), "lower")
        if self.op == "CELU" and a["alpha"] == 0:
            raise KindError(_("CELU's alpha cannot be 0 (it divides by alpha; torch refuses this)"), "alpha")
        if self.op == "PReLU" and self.a["num_parameters"] < 1:
            raise KindError(_("PReLU num_parameters must be positive"), "num_parameters")
        if self.rule in ("softmax", "log_softmax"):
            d = self.a["dim"]
            if d is None:
                raise KindError(_("`{op}` needs `dim` (dim 1 is the channels; dim 0 is the batch)").format(op=self.op), "dim",
                                [_("write {op}: {{dim: 1}}").format(op=self.op)])
            if d == 0 or not -len(self.in_shape) <= d <= len(self.in_shape):
                raise KindError(_("`dim={d}` is out of range for a [N, {map}] tensor (dim 0 is the batch)").format(d=d, map=', '.join(map(str, self.in_shape))), "dim")
        # In place: the output is the input's memory.
        self.view = bool(self.a.get("inplace", False))

    def elementwise(self):
        # TensorIterator ops keep a permuted input's memory order; softmax and log_softmax write a
        # row-major output (measured, torch 2.14)
        return self.rule not in ("softmax", "log_softmax")

    def params(self):
        if self.op == "PReLU":
            n = self.a["num_parameters"]
            return Figure(n, "num_parameters", {"num_parameters": n}, "params")
        return Figure(0, "", {}, "params")

    def terms(self):
        v = self.N * self.numel_in()
        return [Term((self.rule,), v, Figure(v, "N*numel", {"N": self.N, "numel": self.numel_in()}, "elements"))]

    def saved(self):
        n = self.numel_in()
        if self.op == "RReLU":
            return [Saved("input", n, alias="input"), Saved("noise", n)]
        if self.a.get("inplace") and self.op in ("ReLU6", "Hardtanh", "SiLU", "Mish", "Hardswish", "Hardsigmoid"):
            # an in-place op whose backward needs the original input makes autograd keep a copy of it: a
            # new tensor, not the input's memory (in-place LeakyReLU, ELU, SELU, CELU keep their result
            # instead, which is the input's memory)
            return [Saved("input (copy kept by the in-place op)", n)]
        return [Saved(self.saves, n, alias=self.saves)]

    def rf(self):
        """Elementwise: the identity step; a softmax over a spatial dim mixes the whole axis."""
        if self.rule in ("softmax", "log_softmax"):
            d = self.a["dim"]
            rank = len(self.in_shape) + 1
            d = d + rank if d < 0 else d
            if d >= 2 and len(self.in_shape) >= 2:
                return RFStep("global", formula=f"{self.op} over a spatial dim")
        return super().rf()

    def rf_index(self, sets, i=0, out=0):
        """A softmax over a spatial dim reads that whole axis; everything else is per position."""
        if self.rf().kind != "global":
            return tuple(sets)
        d = self.a["dim"] % (len(self.in_shape) + 1)
        return tuple((1 << L) - 1 if ax + 2 == d else m for ax, (m, L) in enumerate(zip(sets, self.in_shape[1:])))

    def torch_module(self):
        import torch.nn as nn
        return getattr(nn, self.op)(**self.torch_kwargs())


for _op, (_rule, _sig, _saves) in TABLE.items():
    register(_op)(type(_op, (Activation,), {"SIG": _sig, "rule": _rule, "saves": _saves,
                                            "doc": f"activation ({_rule})"}))
