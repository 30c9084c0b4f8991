"""Gradient flow: the one definition of "does this node need a gradient".

A node is part of the autograd graph when it has parameters or when any of its inputs is; graph
inputs need no gradient.  A node needs its input gradient when one of its inputs is part of the
autograd graph (the first layer of a network computes only its weight gradients).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


def in_autograd(params: int, inputs_need_grad: bool) -> bool:
    """Whether autograd records a node: it has parameters, or one of its inputs needs a gradient."""
    return bool(inputs_need_grad) or params > 0


@dataclass(frozen=True)
class GradientFlow:
    in_autograd: MappingProxyType        # node id -> recorded by autograd (its output needs a gradient)
    needs_input_grad: MappingProxyType   # node id -> some input of it needs a gradient

    def __call__(self, nid) -> bool:
        return self.in_autograd[nid]


def gradient_flow(graph, params_of=None) -> GradientFlow:
    """Walk the nodes in order.  ``params_of(node)`` gives a node's parameter count (its kind's by
    default; the homework passes a rebuilt kind's)."""
    rec, ng = {}, {}
    for n in graph.nodes:
        if n.is_input:
            rec[n.id] = False
            ng[n.id] = False
            continue
        need = any(rec.get(i, False) for i, _ in n.inputs)
        p = params_of(n) if params_of else n.kind.params().value
        ng[n.id] = need
        rec[n.id] = in_autograd(p, need) and not n.kind.stops_gradient
    return GradientFlow(MappingProxyType(rec), MappingProxyType(ng))
