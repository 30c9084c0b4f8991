"""The analytic envelope (r, j, p) of every node output, per network input: the analysis pass's fields
(core/passes/receptive.py, the one walk), read as ``Env`` values.

The pass applies the recurrence of docs/receptive-field.md (``r += (k-1)*j``, ``start -= P*j``,
``j *= s``, exact Fractions), makes fields global where every unit sees the whole input, takes the
union where branches merge (checking alignment), and shifts fields by the offsets a concatenation or a
split along a spatial axis introduces (the kind's ``spatial_offsets()``): in a concatenation output unit
u of input i is its unit u - off_i (start_i - off_i*j_i); output k of a split is the input from off_k
on (start + off_k*j).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..core.numbers import frac_val as _q
from ..core.passes.receptive import receptive


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


def envelope(graph, notes=None, rf=None):
    """{(node id, k): {input name: Env}} for every node output, from ``rf`` (an analysis's receptive
    pass, ``Analysis.rf``) or the pass run on ``graph``.  ``notes`` gets the messages of the merges
    whose inputs' fields are not aligned."""
    rf = rf or receptive(graph, has_errors=True)
    if notes is not None:
        notes.extend(d.message for d in rf.diagnostics if d.code == "rf-not-aligned")
    return {ref: {src: Env(f["r"], f["j"], f["start"], bool(f["glob"]), bool(f["data"]), f["extent"])
                  for src, f in fields.items()} for ref, fields in rf.state.items()}
