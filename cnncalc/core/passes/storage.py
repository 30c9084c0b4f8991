"""Storage and saved tensors: which storage each output lives in (a view shares its input's, unless
torch has to copy it: ``passes.layout``), the bytes of each, and what every node saves for backward
(deduplicated by storage; einsum's saved operands are views or copies by their layout).

Autograd records (and saves for) only the nodes in the autograd graph (``passes.gradients``); a
node outside it still lists its items, marked not recorded (max pooling computes its indices even
without autograd).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from ...kinds.base import Kind, kept_saved
from .layout import layout as layout_pass


@dataclass(frozen=True)
class Storage:
    of: MappingProxyType     # (node id, output index) -> storage id
    size: MappingProxyType   # storage id -> bytes
    itemsize: int


@dataclass(frozen=True)
class SavedItem:
    what: str
    bytes: int
    shared: bool             # the same storage was already saved by an earlier node
    recorded: bool           # autograd records the node (it is in the autograd graph)
    storage: tuple           # storage id

    def to_dict(self):
        return {"what": self.what, "bytes": self.bytes, "shared": self.shared, "recorded": self.recorded}


@dataclass(frozen=True)
class NodeMemory:
    output_bytes: int        # bytes of its outputs, views included
    alloc_bytes: int         # bytes it allocates (0 for a view)
    saved_bytes: int         # saved for backward, storages not counted by an earlier node
    saved_items: tuple       # SavedItem per Saved of the kind


@dataclass(frozen=True)
class Saved:
    layers: MappingProxyType     # node id -> NodeMemory
    total: int


def saved_numel(sv, batch) -> int:
    """Elements of a non-aliased saved tensor: per sample times the batch, or whole (``batched``
    False: per-channel statistics, a scalar)."""
    return batch * sv.numel if sv.batched else sv.numel


def saved_item_bytes(sv, batch, itemsize) -> int:
    per = sv.itemsize if sv.itemsize is not None else itemsize
    return saved_numel(sv, batch) * per


def alias_ref(sv, node_id, inputs):
    """The tensor ref a saved alias names: its output, or one of its inputs."""
    if sv.alias == "output":
        return (node_id, 0)
    return inputs[0 if sv.alias == "input" else int(sv.alias[5:])]


def storage(graph, itemsize, lay=None) -> Storage:
    """Graph inputs hold the graph's batch; a node's outputs its kind's (the same, except where the
    homework rebuilt a kind with another batch).  ``lay``: the graph's ``passes.layout`` (computed when
    not given)."""
    lay = lay or layout_pass(graph)
    of, size = {}, {}
    for n in graph.nodes:
        if n.is_input:
            of[(n.id, 0)] = ("s", n.id, 0)
            size[("s", n.id, 0)] = graph.batch * math.prod(n.out_shapes[0]) * itemsize
            continue
        B = n.kind.N
        for i, s in enumerate(n.out_shapes):
            if lay.is_view(n, i):
                of[(n.id, i)] = of[n.inputs[0]]
            else:
                sid = ("s", n.id, i)
                of[(n.id, i)] = sid
                size[sid] = B * math.prod(s) * (n.kind.out_itemsize or itemsize)
    return Storage(MappingProxyType(of), MappingProxyType(size), itemsize)


def node_saved(n, flow, lay=None):
    """The tensors autograd keeps for node n, given which of its inputs need a gradient and, for a kind
    whose saved tensors depend on it (einsum: views or copies of its operands), its inputs' layout."""
    k = n.kind
    own = lay is not None and type(k).saved_in_layout is not Kind.saved_in_layout
    return kept_saved(k.saved_in_layout(lay.inputs(n)) if own else k.saved(), flow.needs_input_grad[n.id],
                      [flow.in_autograd[r[0]] for r in n.inputs])


def saved(graph, flow, store: Storage, lay=None) -> Saved:
    lay = lay or layout_pass(graph)
    isz = store.itemsize
    seen = set()
    layers = {}
    total = 0
    for n in graph.nodes:
        if n.is_input:
            continue
        k = n.kind
        B = k.N
        out_bytes = B * sum(math.prod(s) for s in n.out_shapes) * (k.out_itemsize or isz)
        rec = flow.in_autograd[n.id]
        mine = 0
        items = []
        for sv in node_saved(n, flow, lay):
            if sv.alias:
                sid = store.of[alias_ref(sv, n.id, n.inputs)]
                nbytes = store.size[sid]
            else:
                sid = ("t", n.id, sv.what)
                nbytes = saved_item_bytes(sv, B, isz)
            items.append(SavedItem(sv.what, nbytes, sid in seen, rec, sid))
            if rec and sid not in seen:
                seen.add(sid)
                mine += nbytes
        alloc = sum(store.size.get(("s", n.id, i), 0) for i in range(len(n.out_shapes)))
        layers[n.id] = NodeMemory(out_bytes, alloc, mine, tuple(items))
        total += mine
    return Saved(MappingProxyType(layers), total)
