"""The graph facts every later computation reads: the passes' frozen results, run once."""
from __future__ import annotations

from dataclasses import dataclass

from .dtypes import DTYPES
from .passes.costs import Costs, costs
from .passes.gradients import GradientFlow, gradient_flow
from .passes.layout import Layout, layout
from .passes.storage import Saved, Storage, saved, storage


@dataclass(frozen=True)
class Facts:
    g: object                # the Graph
    conventions: object
    itemsize: int            # bytes per element of activations
    flow: GradientFlow
    costs: Costs
    layout: Layout
    store: Storage
    saved: Saved


def run_passes(graph, itemsize=None, flow=None, costs_=None, layout_=None) -> Facts:
    """Gradient flow, costs, layout, storage and saved tensors of a graph; ``itemsize`` overrides the graph's
    dtype for activations (the memory model's mixed precision)."""
    isz = DTYPES[graph.dtype] if itemsize is None else itemsize
    flow = flow or gradient_flow(graph)
    c = costs_ or costs(graph, graph.conventions, flow)
    lay = layout_ or layout(graph)
    store = storage(graph, isz, lay)
    return Facts(graph, graph.conventions, isz, flow, c, lay, store, saved(graph, flow, store, lay))
