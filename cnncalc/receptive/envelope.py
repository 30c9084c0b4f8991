"""The analytic envelope (r, j, p) of every node output, per network input, with the offsets that a
concatenation or a split along a spatial axis introduces.

The recurrence is the analysis pass's (docs/receptive-field.md): a layer with effective kernel k,
stride s and left padding P maps ``r += (k-1)*j``, ``start -= P*j``, ``j *= s``, exact Fractions
(fractional jumps through transposed convolutions and upsampling); global steps make every unit see
the whole input; merges take the union and check alignment.  Added here:

- ``cat`` along a spatial axis: the units of input ``i`` sit after the earlier inputs (offset
  ``off_i``, the sum of their sizes), so output unit ``u`` of that part is unit ``u - off_i`` of the
  input: in output coordinates its field starts at ``start_i - off_i*j_i``.  The parts are merged as
  branches are: aligned when their jumps and shifted centres agree (the two halves of a split image
  put back together), otherwise the union, with a note;
- ``split``/``chunk`` along a spatial axis: output ``k`` is the input from ``off_k`` on:
  ``start_k = start + off_k*j``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from ..core.numbers import frac_val as _q


@dataclass(frozen=True)
class Env:
    r: tuple
    j: tuple
    start: tuple
    glob: bool = False
    data: bool = False
    extent: tuple = ()

    @property
    def padding(self):
        return tuple(_q(-s) for s in self.start)

    @property
    def centre(self):
        return tuple(_q(s + Fraction(r - 1, 2)) for s, r in zip(self.start, self.r))

    def json(self):
        def n(x):
            x = Fraction(x)
            return int(x) if x.denominator == 1 else float(x)
        return {"size": [n(x) for x in self.r], "stride": [n(x) for x in self.j],
                "padding": [n(x) for x in self.padding], "center": [n(x) for x in self.centre],
                "global": self.glob, "data_dependent": self.data}


def _global(f):
    return replace(f, glob=True, r=tuple(f.extent), start=(0,) * len(f.extent))


def _apply(f, step):
    nd = len(f.r)
    if f.glob and step.kind in ("window", "data") and len(step.k) == nd:
        return replace(f, j=tuple(_q(a * b) for a, b in zip(f.j, step.s)))
    if f.glob or step.kind == "global" or len(step.k) != nd:
        return _global(f)
    return replace(f, r=tuple(_q(r + (k - 1) * j) for r, k, j in zip(f.r, step.k, f.j)),
                   start=tuple(_q(s - p * j) for s, p, j in zip(f.start, step.p, f.j)),
                   j=tuple(_q(j * s) for j, s in zip(f.j, step.s)), data=f.data or step.kind == "data")


def merge(fields, notes=None, where=""):
    """Union of aligned or unaligned fields of one network input (notes get a line when unaligned)."""
    if len(fields) == 1:
        return fields[0]
    data = any(f.data for f in fields)
    if any(f.glob for f in fields) or len({len(f.r) for f in fields}) > 1:
        grid = max(fields, key=lambda f: (len(f.r), not f.glob))
        return replace(_global(grid), data=data)
    if notes is not None and (len({f.j for f in fields}) > 1 or len({f.centre for f in fields}) > 1):
        def txt(vals):
            return " and ".join("(" + ", ".join(map(str, v)) + ")" for v in sorted(set(vals)))
        notes.append(f"{where}: the fields of its inputs are not aligned (jumps {txt(f.j for f in fields)}, "
                     f"centres of unit 0 {txt(f.centre for f in fields)}); the envelope is their union")
    nd = len(fields[0].r)
    start = tuple(_q(min(f.start[a] for f in fields)) for a in range(nd))
    end = tuple(max(f.start[a] + f.r[a] for f in fields) for a in range(nd))
    return replace(fields[0], r=tuple(_q(e - s) for s, e in zip(start, end)), start=start,
                   j=tuple(_q(max(f.j[a] for f in fields)) for a in range(nd)), data=data)


def _shift(f, axis, units):
    """The field of unit u + units, as the field of unit u (start moves by units*j on `axis`)."""
    if f.glob or axis >= len(f.r):
        return f
    st = list(f.start)
    st[axis] = _q(st[axis] + units * f.j[axis])
    return replace(f, start=tuple(st))


def _spatial_dim(n):
    """The spatial axis a cat/split/chunk node works along, or None (channels, or another op)."""
    if n.op not in ("cat", "split", "chunk"):
        return None
    from ..kinds.tensor import _dim
    d = _dim(n.kind.a["dim"], len(n.kind.in_shape) + 1, n.op)
    return d - 1 if d >= 1 else None


def envelope(graph, notes=None):
    """{(node id, k): {input name: Env}} for every node output."""
    state = {}
    for n in graph.nodes:
        if n.is_input:
            nd = len(n.out_shapes[0]) - 1
            state[(n.id, 0)] = {n.name: Env((1,) * nd, (1,) * nd, (0,) * nd, extent=tuple(n.out_shapes[0][1:]))}
            continue
        step = n.kind.rf()
        ins = [dict(state.get(r, {})) for r in n.inputs]
        ax = _spatial_dim(n)
        if n.op == "cat" and ax is not None:
            off = 0
            for i, r in enumerate(n.inputs):
                ins[i] = {s: _shift(f, ax, -off) for s, f in ins[i].items()}
                off += graph.shape(r)[ax + 1]
        if step.kind == "merge" and len(n.inputs) > 1:
            osp = n.out_shapes[0][1:]
            for i, r in enumerate(n.inputs):
                isp = graph.shape(r)[1:]
                if len(isp) == len(osp) and any(a == 1 < b for a, b in zip(isp, osp)):
                    ins[i] = {s: _global(f) for s, f in ins[i].items()}
        srcs = []
        for d in ins:
            srcs += [s for s in d if s not in srcs]
        if step.kind == "merge":
            out = {s: merge([d[s] for d in ins if s in d], notes, n.name) for s in srcs}
        elif step.kind == "global":
            out = {s: _apply(merge([d[s] for d in ins if s in d]), step) for s in srcs}
        else:
            base = ins[0] if (step.kind == "data" or len(ins) == 1) else \
                {s: merge([d[s] for d in ins if s in d], notes, n.name) for s in srcs}
            out = {s: _apply(f, step) for s, f in base.items()}
        k_outs = max(1, len(n.out_shapes))
        off = 0
        for k in range(k_outs):
            if ax is not None and n.op in ("split", "chunk"):
                state[(n.id, k)] = {s: _shift(f, ax, off) for s, f in out.items()}
                off += n.out_shapes[k][ax + 1]
            else:
                state[(n.id, k)] = out
    return state
