"""Recurrent layers: nn.LSTM and nn.GRU (the sequence heads of CRNN-style OCR networks).

A sequence is ``[L, input_size]`` (batch excluded, as everywhere); the output is ``[L, D*R]`` with
``D`` = 2 when bidirectional, ``R`` = proj_size (LSTM with a projection) or hidden_size.  The final
states ``h_n`` (and ``c_n``) are not the node's outputs (as MultiheadAttention's averaged weights).

Convention, per time step, per layer and direction (G gates: LSTM 4, GRU 3):

- the gate matrix products: ``G*H*in_l`` MACs with the layer's input (``in_0`` = input_size,
  ``in_l`` = D*R after) and ``G*H*R`` with the previous hidden state; an LSTM projection adds ``P*H``;
- two bias vectors: ``2*G*H`` adds;
- elementwise: LSTM ``8*H`` (the 4H sums of the two products, c = f*c + i*g: 3H, h = o*tanh(c): H),
  GRU ``7*H`` (the 2H sums for r and z, r * hh_n and its sum: 2H, h = n + z*(h - n): 3H);
- activations: LSTM 3H sigmoids and 2H tanh, GRU 2H sigmoids and H tanh.
"""
from __future__ import annotations

from ..i18n import N_, _
from ..figure import Figure
from .base import REQUIRED, Arg, Kind, KindError, RFStep, Saved, Term, register

# neither counter sees everything: fvcore 0.1.5 has no handle for aten::lstm / aten::gru; FlopCounterMode does
# not see the CPU oneDNN LSTM kernel (float32 without a projection), only the composite path's mm/addmm
BLIND_FVCORE_RNN = ("fvcore", "recurrent layers (aten::lstm, aten::gru)")
BLIND_FCM_ONEDNN = ("FlopCounterMode", "the CPU oneDNN LSTM kernel (no projection)")


class _RNN(Kind):
    family = "recurrent"
    GATES = 4
    ELEMENTWISE = 8          # per hidden unit per step (see the module doc)
    SIGMOIDS, TANHS = 3, 2
    N_INPUTS = (1, 1)

    def setup(self):
        a, op = self.a, self.op
        x = self.in_shape
        if len(x) != 2:
            raise KindError(_("`{op}` needs a sequence [L, input_size] (batch excluded), got {x}").format(op=op, x=list(x)), None,
                            [_("a feature map [C, H, W] becomes a sequence with `flatten` and `permute` (CRNN: columns "
                               "as time steps, [W, C*H])")], code="shape")
        I = x[-1]
        if a.get("input_size") is not None and a["input_size"] != I:
            raise KindError(_("`input_size={input_size}` given but the sequence has {I} features (shape {x})").format(input_size=a['input_size'], I=I, x=list(x)), "input_size", [_("write input_size: {I}, or leave it out to infer it").format(I=I)],
                            code="in-features")
        a["input_size"] = I
        H = a["hidden_size"]
        if H < 1:
            raise KindError(_("`hidden_size` must be positive"), "hidden_size")
        if a["num_layers"] < 1:
            raise KindError(_("`num_layers` must be at least 1"), "num_layers")
        if a["dropout"]:
            raise KindError(_("`{op}`: dropout between layers is not supported").format(op=op), "dropout",
                            [_("write dropout: 0.0 (the inference setting)")], code="unsupported")
        P = a.get("proj_size", 0)
        if P < 0 or (P and P >= H):
            raise KindError(_("`proj_size` must be 0 or smaller than hidden_size ({H}), got {P}").format(H=H, P=P), "proj_size")
        self.I, self.H, self.P = I, H, P
        self.R = P or H
        self.D = 2 if a["bidirectional"] else 1
        self.layers = a["num_layers"]
        self.L = x[0]
        self.out_shapes = [(self.L, self.D * self.R)]

    # --- figures -----------------------------------------------------------------------------------
    def _bind(self, **extra):
        b = {"N": self.N, "L": self.L, "D": self.D, "G": self.GATES, "H": self.H, "layers": self.layers}
        b.update(extra)
        return b

    def _ih(self, name="input-to-hidden MACs"):
        """Sum over layers of G*H*in_l per step and direction: in_0 = I, then D*R."""
        v = self.N * self.L * self.D * self.GATES * self.H * (self.I + (self.layers - 1) * self.D * self.R)
        return Figure(v, "N*L*D*G*H*(I + (layers - 1)*D*R)", self._bind(I=self.I, R=self.R), name,
                      note="per step and direction, the gates' product with the layer's input (I, then D*R)")

    def _hh(self, name="hidden-to-hidden MACs"):
        v = self.N * self.L * self.D * self.layers * self.GATES * self.H * self.R
        return Figure(v, "N*L*D*layers*G*H*R", self._bind(R=self.R), name,
                      note="per step and direction, the gates' product with the previous hidden state")

    def _proj(self, name="projection MACs"):
        v = self.N * self.L * self.D * self.layers * self.P * self.H
        b = self._bind(P=self.P)
        del b["G"]
        return Figure(v, "N*L*D*layers*P*H", b, name, note="h = W_hr (o * tanh(c)), per step")

    def _per_unit(self, k, name, note=""):
        v = self.N * self.L * self.D * self.layers * k * self.H
        b = self._bind(k=k)
        del b["G"]
        return Figure(v, "N*L*D*layers*k*H", b, name, note=note)

    def _blind(self):
        return (BLIND_FVCORE_RNN,)

    def params(self):
        a = self.a
        bias = 1 if a["bias"] else 0
        G, H, D, R, P, n = self.GATES, self.H, self.D, self.R, self.P, self.layers
        v = D * G * H * (self.I + (n - 1) * D * R) + D * n * G * H * R + 2 * D * n * G * H * bias + D * n * P * H
        return Figure(v, "D*G*H*(I + (layers - 1)*D*R) + D*layers*G*H*R + 2*D*layers*G*H*bias + D*layers*P*H",
                      {"D": D, "G": G, "H": H, "I": self.I, "R": R, "layers": n, "bias": bias, "P": P}, "params",
                      note="weight_ih, weight_hh, bias_ih and bias_hh per layer and direction"
                           + (", weight_hr (the projection)" if P else ""))

    def terms(self):
        blind = self._blind()
        ih, hh = self._ih(), self._hh()
        t = [Term(("linear",), ih.value, ih, blind=blind), Term(("linear",), hh.value, hh, blind=blind)]
        if self.P:
            pr = self._proj()
            t.append(Term(("linear",), pr.value, pr, blind=blind))
        if self.a["bias"]:
            f = self._per_unit(2 * self.GATES, "bias adds", "two bias vectors of G*H per step")
            t.append(Term(("bias",), f.value, f))
        e = self._per_unit(self.ELEMENTWISE, "elementwise ops", "sums of the two products and the state update")
        s = self._per_unit(self.SIGMOIDS, "sigmoid elements", "the gates")
        h = self._per_unit(self.TANHS, "tanh elements")
        t += [Term(("elementwise",), e.value, e), Term(("sigmoid",), s.value, s), Term(("tanh",), h.value, h)]
        return t

    def bwd_terms(self, needs_input_grad):
        """The weights always need their gradients: through time every product runs twice more (grad of the
        weight, grad of the hidden state), except the first layer's input gradient when the input needs none."""
        out = []
        ih, hh = self._ih(), self._hh()
        first = self.N * self.L * self.D * self.GATES * self.H * self.I
        out.append(Term(("linear",), ih.value, self._ih("grad_weight_ih MACs")))
        gi = ih.value if needs_input_grad else ih.value - first
        if gi:
            b = dict(ih.bindings)
            if not needs_input_grad:
                del b["I"]
            out.append(Term(("linear",), gi, Figure(gi, ih.formula if needs_input_grad else
                                                    "N*L*D*G*H*(layers - 1)*D*R", b, "grad_input MACs")))
        out += [Term(("linear",), hh.value, self._hh("grad_weight_hh MACs")),
                Term(("linear",), hh.value, self._hh("grad_hidden MACs"))]
        if self.P:
            pr = self._proj()
            out += [Term(("linear",), pr.value, self._proj("grad_weight_hr MACs")),
                    Term(("linear",), pr.value, self._proj("grad_projection_input MACs"))]
        e = self._per_unit(self.ELEMENTWISE + self.SIGMOIDS + self.TANHS, "gate gradient elements")
        out.append(Term(("elementwise",), e.value, e))
        return out

    def saved(self):
        """Measured on the composite path (GRU; LSTM with a projection or in float64): the layer's input (the
        first layer's, and its time-reversed copy for the backward direction), then per step, layer and
        direction 7*H values (gates and states) plus P (the projected state).  The CPU oneDNN LSTM kernel
        (float32 without projection) keeps a workspace instead, which is not modelled."""
        out = [Saved("input (first layer)", self.L * self.I, alias="input")]
        if self.D == 2:
            out.append(Saved("input reversed (backward direction)", self.L * self.I))
        if self.layers > 1:
            out.append(Saved("inputs of the later layers", (self.layers - 1) * self.L * self.D * self.R))
        out.append(Saved("gates and states per step", self.layers * self.D * self.L * (7 * self.H + self.P)))
        return out

    def rf(self):
        return RFStep("global", formula=N_("recurrent: each output reads every earlier step (bidirectional: every step)"))

    def shape_figures(self):
        return [Figure(self.D * self.R, "D*R", {"D": self.D, "R": self.R}, "features_out",
                       note="hidden_size (or proj_size) per direction")]

    def torch_module(self):
        kw = dict(num_layers=self.layers, bias=self.a["bias"], batch_first=self.a["batch_first"],
                  bidirectional=self.a["bidirectional"])
        if self.P:
            kw["proj_size"] = self.P
        return _rnn_class(self.op)(self.I, self.H, **kw)


_CLASSES = {}


def _rnn_class(op):
    """nn.LSTM / nn.GRU called as a graph node: a batch-first sequence in, the output sequence out."""
    if op not in _CLASSES:
        import torch.nn as nn
        base = getattr(nn, op)

        def forward(self, x):
            if self.batch_first:
                return base.forward(self, x)[0]
            return base.forward(self, x.transpose(0, 1))[0].transpose(0, 1)
        _CLASSES[op] = type(op, (base,), {"forward": forward, "__module__": __name__})
    return _CLASSES[op]


@register("LSTM")
class LSTM(_RNN):
    """nn.LSTM: 4 gates (input, forget, cell, output), an optional projection of the hidden state."""
    example = ("LSTM(6, 5, num_layers=2, bidirectional=True, proj_size=3)", [[7, 6]])
    SIG = (Arg("input_size", REQUIRED, "int", infer=True), Arg("hidden_size", REQUIRED, "int"),
           Arg("num_layers", 1, "int"), Arg("bias", True, "bool"), Arg("batch_first", False, "bool"),
           Arg("dropout", 0.0, "float"), Arg("bidirectional", False, "bool"), Arg("proj_size", 0, "int"),
           Arg("device", None), Arg("dtype", None))
    doc = "long short-term memory: per step, 4 gates from the input and the previous state"
    GATES, ELEMENTWISE, SIGMOIDS, TANHS = 4, 8, 3, 2

    def _blind(self):
        return (BLIND_FVCORE_RNN,) + (() if self.P else (BLIND_FCM_ONEDNN,))

    def saved_gap(self):
        return "" if self.P else ("on the CPU in float32 torch runs the oneDNN LSTM kernel, which keeps a workspace "
                                  "per layer and direction instead of the composite path's gates (not modelled)")


@register("GRU")
class GRU(_RNN):
    """nn.GRU: 3 gates (reset, update, new)."""
    example = ("GRU(6, 5, bidirectional=True)", [[7, 6]])
    SIG = (Arg("input_size", REQUIRED, "int", infer=True), Arg("hidden_size", REQUIRED, "int"),
           Arg("num_layers", 1, "int"), Arg("bias", True, "bool"), Arg("batch_first", False, "bool"),
           Arg("dropout", 0.0, "float"), Arg("bidirectional", False, "bool"), Arg("device", None), Arg("dtype", None))
    doc = "gated recurrent unit: per step, 3 gates from the input and the previous state"
    GATES, ELEMENTWISE, SIGMOIDS, TANHS = 3, 7, 2, 1
