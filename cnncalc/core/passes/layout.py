"""Memory layout: the strides of every tensor (its full shape, the batch as dim 0), as torch lays it
out, and which outputs of view kinds torch has to copy.

A kind that allocates gives a new row-major tensor unless its ``out_strides`` says otherwise (an
elementwise op follows its input's memory order, einsum's output is its bmm's result permuted back);
a view kind derives its output's strides from its input's (permute, transpose, indexing, chunk); a
reshape or flatten is a view only where torch's view rule allows (``kinds.strides.view_strides``),
else torch copies: such an output is a new allocation (``copies``), which ``passes.storage`` counts.
The kinds own the rules (``Kind.out_strides``); this pass only walks the graph.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from ...kinds.base import Kind
from ...kinds.strides import contiguous


@dataclass(frozen=True)
class Layout:
    strides: MappingProxyType    # (node id, output index) -> strides of its full shape
    shapes: MappingProxyType     # (node id, output index) -> its full shape (the batch first)
    copies: frozenset            # refs of a view kind's outputs that torch copies (not a view)

    def inputs(self, n) -> list:
        """[(full shape, strides)] of a node's inputs."""
        return [(self.shapes[r], self.strides[r]) for r in n.inputs]

    def is_view(self, n, i=0) -> bool:
        """Whether output i of node n shares its input's storage."""
        return bool(n.kind.view and n.inputs) and (n.id, i) not in self.copies


def layout(graph) -> Layout:
    strides, shapes, copies = {}, {}, set()
    irregular = set()          # refs whose strides are not row-major
    base = Kind.out_strides
    for n in graph.nodes:
        if n.is_input:
            shp = (graph.batch,) + tuple(n.out_shapes[0])
            shapes[(n.id, 0)] = shp
            strides[(n.id, 0)] = contiguous(shp)
            continue
        k = n.kind
        outs = [k.full_out_shape(i) for i in range(len(n.out_shapes))]
        ins = [(shapes[r], strides[r]) for r in n.inputs]
        # a kind without its own rule, not a view, reading row-major inputs: row-major outputs
        if k.view or type(k).out_strides is not base or any(r in irregular for r in n.inputs):
            got = k.out_strides(ins)
        else:
            got = ()
        for i, shp in enumerate(outs):
            st = got[i] if i < len(got) else None
            row = contiguous(shp)
            if st is None:
                st = row
                if k.view and n.inputs:
                    copies.add((n.id, i))
            elif tuple(st) != row:
                irregular.add((n.id, i))
            shapes[(n.id, i)] = shp
            strides[(n.id, i)] = tuple(st)
    return Layout(MappingProxyType(strides), MappingProxyType(shapes), frozenset(copies))
