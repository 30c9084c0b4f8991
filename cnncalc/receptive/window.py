"""The exact window of an output unit: per axis, the input interval it reads, clipped to the input.

The graph is walked backwards from the unit.  Per spatial axis the walk carries the SET of indices
read so far (a bit mask, ``index``): each node maps the sets of its output to sets of each input.
A kind that knows its index arithmetic says so in ``rf_index(sets, i, out)`` (convolutions with
their taps and padding modes, pooling, transposed convolutions, interpolation modes, adaptive
pooling, padding and cropping, spatial concatenation and split, a softmax or a reduction over a
spatial dim); the others are covered here from their receptive-field step: a global step reads all
of its input, a merge the same position of each input (a broadcast input its single position), an
integer window ``{o*s - p, ..., o*s - p + k - 1}``.

The window reported is the bounding interval of the set per axis (dilation, strides larger than the
kernel and circular padding leave holes inside it, which ``holes`` counts).  The walk keeps one set
per axis, so where branches meet it keeps, per axis, the union of what they read: a unit of a merge
reads at most the product of those unions (exact for every single path, and for merges of branches
that read whole intervals).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from ..kinds.index_sets import bounds, full, taps


def union(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return tuple(x | y for x, y in zip(a, b))


def _whole(shape):
    return tuple(full(L) for L in shape[1:])


def _is_int(x):
    return isinstance(x, int) or (isinstance(x, Fraction) and x.denominator == 1)


def node_index(node, sets, i, out, in_shape):
    """The index sets of input ``i`` that the index sets ``sets`` of output ``out`` of ``node`` read.
    Second value: False when the answer is the conservative fallback (the whole input)."""
    k = node.kind
    fn = getattr(k, "rf_index", None)
    if fn is not None:
        return fn(sets, i, out), True
    step = k.rf()
    if step.kind == "global":
        return _whole(in_shape), True
    if step.kind == "merge":
        # the same position of each input, dims aligned from the right as torch broadcasts
        shift = len(sets) + 1 - len(in_shape)
        res = []
        for a, L in enumerate(in_shape[1:]):
            oa = a + shift
            res.append(full(L) if oa < 0 else (1 if sets[oa] else 0) if L == 1 else sets[oa] & full(L))
        return tuple(res), True
    nums = tuple(step.k) + tuple(step.s) + tuple(step.p)
    if len(step.k) == len(sets) == len(in_shape) - 1 and all(_is_int(x) for x in nums):
        return tuple(taps(m, int(s), [t - int(p) for t in range(int(kk))], L)
                     for m, kk, s, p, L in zip(sets, step.k, step.s, step.p, in_shape[1:])), True
    return _whole(in_shape), False


@dataclass
class Window:
    """The exact window of one unit: per network input, the index sets it reads (None: none)."""

    node: str
    output: int
    unit: tuple
    sets: dict                                       # input name -> (mask per axis) or None
    path: list = field(default_factory=list)         # node ids whose outputs the unit depends on
    approximate: list = field(default_factory=list)  # nodes answered by the whole-input fallback
    bounded: list = field(default_factory=list)      # nodes whose step is global without index arithmetic:
    #                                                  the whole input is their upper bound (matmul, permute)

    @property
    def fields(self):
        """input name -> ((first, last) per axis) or None: the bounding box of what the unit reads."""
        return {k: None if s is None else tuple(bounds(m) for m in s) for k, s in self.sets.items()}

    def holes(self):
        """input name -> per axis, the indices inside the bounding interval that the unit does not read."""
        out = {}
        for k, s in self.sets.items():
            if s is not None:
                out[k] = [(b[1] - b[0] + 1) - bin(m).count("1") for m, b in zip(s, (bounds(m) for m in s))]
        return out

    def json(self):
        return {k: None if b is None else [list(iv) for iv in b] for k, b in self.fields.items()}


def unit_window(graph, ref, unit):
    """The exact window of output unit ``unit`` (indices per spatial axis) of ``ref = (node id, k)``."""
    shape = graph.shape(ref)
    if len(unit) != len(shape) - 1:
        raise ValueError(f"a unit needs {len(shape) - 1} indices for the shape {list(shape)}")
    return sets_window(graph, ref, tuple(1 << u for u in unit), unit)


def sets_window(graph, ref, sets, unit=None):
    cur = {ref: tuple(sets)}
    path, approx, bounded = [], [], []
    for n in reversed(graph.nodes):
        if n.is_input:
            continue
        outs = [(k, cur[(n.id, k)]) for k in range(max(1, len(n.out_shapes))) if (n.id, k) in cur]
        if not outs:
            continue
        path.append(n.id)
        for i, r in enumerate(n.inputs):
            got = None
            for k, s in outs:
                ins, exact = node_index(n, s, i, k, graph.shape(r))
                if not exact and n.id not in approx:
                    approx.append(n.id)
                if exact and n.id not in bounded and getattr(n.kind, "rf_index", None) is None and \
                        n.kind.rf().kind == "global":
                    bounded.append(n.id)
                if ins is not None and all(ins):
                    got = union(got, ins)
            if got is not None:
                cur[r] = union(cur.get(r), got)
    node = graph.nodes[ref[0]]
    return Window(node.name, ref[1], tuple(unit) if unit is not None else (),
                  {graph.nodes[i].name: cur.get((i, 0)) for i in graph.inputs}, list(reversed(path)), approx,
                  bounded)


def parse_unit(text, shape):
    """'32,32' -> (32, 32); negative indices count from the end; None or 'centre' -> the middle unit."""
    sp = tuple(shape[1:])
    if text in (None, "", "centre", "center"):
        return tuple(L // 2 for L in sp)
    try:
        u = [int(x) for x in str(text).replace("x", ",").split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"cannot read the unit `{text}`: write one index per spatial axis, e.g. 32,32") from None
    if len(u) != len(sp):
        raise ValueError(f"the unit `{text}` has {len(u)} indices; the map {list(shape)} has {len(sp)} "
                         f"spatial axes")
    out = []
    for v, L in zip(u, sp):
        w = v + L if v < 0 else v
        if not 0 <= w < L:
            raise ValueError(f"unit index {v} is outside an axis of size {L}")
        out.append(w)
    return tuple(out)
