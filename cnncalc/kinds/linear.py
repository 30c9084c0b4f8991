"""Fully connected layers."""
from __future__ import annotations

from ..figure import Figure
from ..i18n import N_, _
from .base import REQUIRED, Arg, Kind, KindError, RFStep, Saved, Term, prod, register


class LinearBase(Kind):
    family = "linear"

    def setup(self):
        x = self.in_shape
        if len(x) >= 3 and self.a.get("in_features") != x[-1]:
            # torch applies Linear to the last dim of any input; on a feature map that is almost always
            # a forgotten Flatten, so it is accepted only when in_features says so explicitly
            raise KindError(_("`{op}` needs a flat input but got {x}").format(op=self.op, x=list(x)), None,
                            [_("insert `- Flatten` before it (nn.Flatten: [C, H, W] -> [{prod}])").format(prod=prod(x))], code="needs-flat")
        f = x[-1]
        given = self.a.get("in_features")
        if given is not None and given != f:
            hints = [_("write in_features: {f}, or leave it out to infer it").format(f=f)]
            if "out_features" not in self.a:
                hints = [_("`{op}`'s first positional argument is `in_features`; write `LazyLinear: {given}` or "
                           "`Linear: {{out_features: {given}}}`").format(op=self.op, given=given)]
            raise KindError(_("`in_features={given}` given but the input has {features} features (shape {shape})").format(
                given=given, features=f, shape=list(x)), "in_features", hints, code="in-features")
        self.a["in_features"] = f
        if self.a.get("out_features", 0) < 1:
            raise KindError(_("`out_features` must be positive"), "out_features")
        self.out_shapes = [tuple(x[:-1]) + (self.a["out_features"],)]

    def params(self):
        a = self.a
        b = 1 if a["bias"] else 0
        return Figure(a["out_features"] * (a["in_features"] + b), "F_out*(F_in + bias)",
                      {"F_out": a["out_features"], "F_in": a["in_features"], "bias": b}, "params")

    def _rows(self):
        return self.N * prod(self.in_shape[:-1])

    def mac_figure(self):
        a = self.a
        rows = self._rows()
        if len(self.in_shape) == 1:
            return Figure(rows * a["in_features"] * a["out_features"], "N*F_in*F_out",
                          {"N": self.N, "F_in": a["in_features"], "F_out": a["out_features"]}, "MACs")
        return Figure(rows * a["in_features"] * a["out_features"], "N*L*F_in*F_out",
                      {"N": self.N, "L": prod(self.in_shape[:-1]), "F_in": a["in_features"],
                       "F_out": a["out_features"]}, "MACs")

    def terms(self):
        m = self.mac_figure()
        t = [Term(("linear",), m.value, m)]
        if self.a["bias"]:
            v = self.N * self.numel_out()
            bb = {"N": self.N, "F_out": self.a["out_features"]}
            if len(self.in_shape) > 1:
                bb["L"] = prod(self.in_shape[:-1])
            t.append(Term(("bias",), v, Figure(v, "N*F_out" if len(self.in_shape) == 1 else "N*L*F_out", bb,
                                               "bias adds")))
        return t

    def bwd_terms(self, needs_input_grad):
        m = self.mac_figure()
        out = []
        if needs_input_grad:
            out.append(Term(("linear",), m.value, Figure(m.value, m.formula, m.bindings, "grad_input MACs")))
        out.append(Term(("linear",), m.value, Figure(m.value, m.formula, m.bindings, "grad_weight MACs")))
        if self.a["bias"]:
            v = self.N * self.numel_out()
            out.append(Term(("bias",), v, Figure(v, "N*numel_out", {"N": self.N, "numel_out": self.numel_out()},
                                                 "grad_bias adds")))
        return out

    def saved(self):
        return [Saved("input", self.numel_in(), alias="input")]

    def rf(self):
        return RFStep("global", formula=N_("fully connected: every output sees every input"))

    def shape_figures(self):
        return [Figure(self.a["out_features"], "F_out", {"F_out": self.a["out_features"]}, "F_out")]

    def torch_module(self):
        import torch.nn as nn
        return nn.Linear(self.a["in_features"], self.a["out_features"], bias=self.a["bias"])


@register("Linear")
class Linear(LinearBase):
    @classmethod
    def check_binding(cls, op, positional, bound):
        if "out_features" not in bound and "in_features" in bound and len(positional) == 1:
            raise KindError(_("`Linear`'s first positional argument is `in_features`, so `Linear: {positional_0}` sets "
                              "in_features and leaves out_features missing").format(positional_0=positional[0]), "in_features",
                            [_("write `LazyLinear: {positional_0}` or `Linear: {{out_features: {positional_0}}}`").format(positional_0=positional[0])],
                            code="linear-scalar")

    SIG = (Arg("in_features", REQUIRED, "int", infer=True), Arg("out_features", REQUIRED, "int"),
           Arg("bias", True, "bool"), Arg("device", None), Arg("dtype", None))
    doc = "fully connected layer y = x W^T + b"


@register("LazyLinear")
class LazyLinear(LinearBase):
    SIG = (Arg("out_features", REQUIRED, "int"), Arg("bias", True, "bool"), Arg("device", None), Arg("dtype", None))
    doc = "fully connected layer with in_features inferred"
