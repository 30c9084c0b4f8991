"""The layer graph: a DAG of nodes in topological order (the order they were created)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Loc


@dataclass
class Node:
    id: int
    name: str                   # instance path, as PyTorch names modules: layer2.0.conv1
    op: str
    kind: object | None         # a Kind instance; None for graph inputs
    inputs: list                # [(node id, output index)]
    out_shapes: list            # shapes without batch
    module: str                 # module path; differs from name when a shared module is called again
    loc: Loc | None = None
    args_text: str = ""

    @property
    def is_input(self) -> bool:
        return self.kind is None

    @property
    def shared_call(self) -> bool:
        return self.module != self.name


@dataclass
class Expect:
    """An `expect:` mapping and what it applies to."""

    scope: str                  # "node", "group" or "total"
    name: str                   # node or group path ("" for totals)
    node_ids: list              # nodes it aggregates
    output: tuple | None        # the (node id, index) whose shape `output` checks
    items: object               # the YMap of expected values
    loc: Loc | None = None


@dataclass
class Graph:
    name: str
    file: str
    nodes: list = field(default_factory=list)
    inputs: list = field(default_factory=list)      # node ids of graph inputs
    outputs: list = field(default_factory=list)     # (node id, index)
    expects: list = field(default_factory=list)
    batch: int = 1
    spec_batch: int = 1        # the batch the spec's expects are written for
    question: list = field(default_factory=list)   # what the command line changed for the expects (expect_input)
    no_expect: bool = False                         # --no-expect: every expect reported skipped
    dtype: str = "float32"
    conventions: object = None
    groups: dict = field(default_factory=dict)      # path -> [node ids], for --depth and explain

    def add(self, **kw) -> Node:
        n = Node(id=len(self.nodes), **kw)
        self.nodes.append(n)
        return n

    def shape(self, ref):
        nid, k = ref
        return self.nodes[nid].out_shapes[k]

    def batch_of(self, ref):
        """The batch of a tensor: its node's (``kind.N``; a captured module may fold pixels into the
        batch or run two images as one batch), the graph's for an input, 1 for a constant."""
        k = self.nodes[ref[0]].kind
        return self.batch if k is None else k.N

    def full_shape(self, ref):
        """A tensor's shape with its batch (a constant's shape is already the whole tensor)."""
        k = self.nodes[ref[0]].kind
        s = tuple(self.shape(ref))
        return s if k is not None and not k.batched else (self.batch_of(ref),) + s

    def consumers(self):
        out = {n.id: [] for n in self.nodes}
        for n in self.nodes:
            for nid, _ in n.inputs:
                out[nid].append(n.id)
        return out
