"""Costs: parameters and buffers (a shared module counted at its first call), forward and backward
MACs and FLOPs per call, the backward split into input and weight gradients.

Every count goes through ``conventions.tally``; nothing here prices a term itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from ...conventions import tally
from ..numbers import num


@dataclass(frozen=True)
class LayerCost:
    params: int              # 0 at a shared module's later calls
    module_params: int
    buffers: int             # 0 at a shared module's later calls
    module_buffers: int
    macs: int
    flops: object
    bwd_macs: int
    bwd_flops: object
    bwd_input_flops: object  # the part of bwd_flops for the input gradient
    bwd_weight_flops: object
    bwd_input_macs: int
    bwd_weight_macs: int
    needs_input_grad: bool
    in_autograd: bool
    excluded: tuple          # rules with work the convention does not count
    blind: tuple = ()        # work the convention's tool does not see (labels), left out of macs/flops


@dataclass(frozen=True)
class Costs:
    layers: MappingProxyType     # node id -> LayerCost
    excluded: frozenset          # every rule excluded with work, over the graph
    blind: MappingProxyType = None   # label -> node ids whose work the tool does not see


def layer_cost(kind, conventions, needs_input_grad, recorded, first_call=True, terms=None) -> LayerCost:
    """The costs of one call of a kind.  ``terms`` replaces the kind's forward terms (homework)."""
    p = kind.params().value
    b = kind.buffers().value
    fwd = tally(kind.terms() if terms is None else terms, conventions)
    if recorded:
        bwd = tally(kind.bwd_terms(needs_input_grad), conventions)
        weight = tally(kind.bwd_terms(False), conventions) if needs_input_grad else bwd
    else:
        bwd = weight = tally((), conventions)
    return LayerCost(
        params=p if first_call else 0, module_params=p, buffers=b if first_call else 0, module_buffers=b,
        macs=fwd.macs, flops=num(fwd.flops), bwd_macs=bwd.macs, bwd_flops=num(bwd.flops),
        bwd_input_flops=num(bwd.flops - weight.flops), bwd_weight_flops=num(weight.flops),
        bwd_input_macs=bwd.macs - weight.macs, bwd_weight_macs=weight.macs,
        needs_input_grad=needs_input_grad, in_autograd=recorded, excluded=fwd.excluded, blind=fwd.blind)


def costs(graph, conventions, flow, terms_of=None) -> Costs:
    """``terms_of(node)`` replaces a node's forward terms (the homework counts work its wrong way
    with it); None keeps the kind's."""
    seen_modules = set()
    layers = {}
    excluded = set()
    blind = {}
    for n in graph.nodes:
        if n.is_input:
            continue
        first = n.module not in seen_modules
        seen_modules.add(n.module)
        c = layer_cost(n.kind, conventions, flow.needs_input_grad[n.id], flow.in_autograd[n.id], first,
                       terms_of(n) if terms_of else None)
        excluded.update(c.excluded)
        for label in c.blind:
            blind.setdefault(label, []).append(n.id)
        layers[n.id] = c
    return Costs(MappingProxyType(layers), frozenset(excluded),
                 MappingProxyType({k: tuple(v) for k, v in blind.items()}))
