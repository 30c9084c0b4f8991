"""The analysis' own passes, run over a graph rebuilt with a student's mistake (or none) built in.

The homework checker never reuses an answer it computed to guess a mistake, nor computes the
numbers a second way: it rebuilds each layer kind from its arguments (``REGISTRY[op](op, args,
in_shapes, batch)``) with the mistake applied (an argument changed, an output size computed with
the wrong formula, the batch left out), lets the shapes flow on to the layers after it, and runs
the engine's passes over that graph (``core.passes``: gradient flow, costs through
``conventions.tally``, storage and saved tensors, receptive field) with the mistake's hooks (terms
counted another way, a convention switched, a receptive-field rule done wrongly).  The baseline
(no mistake) therefore reproduces the analysis' own numbers.
"""
from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

from ..core.graph import Graph
from ..core.numbers import num as _num
from ..core.passes import receptive as R
from ..core.passes.costs import costs
from ..core.passes.gradients import gradient_flow
from ..core.passes.layout import layout
from ..core.passes.storage import saved, storage
from ..kinds import REGISTRY
from ..kinds.base import KindError, RFStep

INFER_ARGS = ("in_channels", "in_features", "num_features", "num_channels")


class Recomputed:
    """Per-node values of one recomputation; ``None`` for a node that could not be rebuilt."""

    def __init__(self, analysis, combo, where):
        self.analysis = analysis
        self.itemsize = analysis.itemsize
        self.combo = combo
        self.where = where          # None: every node; else a set of node ids the mistakes apply to
        self.kinds = {}             # node id -> rebuilt kind (or None)
        self.shapes = {}            # (node id, k) -> shape
        self.vals = {}              # node id -> dict
        self.figures = {}           # node id -> {key: [Figure]} written by mistakes (shape overrides)
        self.rf = {}                # (node id, k) -> field dict(r, j, start, glob, extent)
        self.per_call = any(m.per_call_params for m in combo)
        conventions = analysis.conventions
        for m in combo:
            conventions = m.convention(conventions, self)
        self.conventions = conventions
        self._run()

    def applies(self, n):
        return self.where is None or n.id in self.where

    # ------------------------------------------------------------------ the rebuilt graph
    def _rebuild_graph(self):
        g = self.analysis.g
        nodes, failed = [], set()
        for n in g.nodes:
            if n.is_input:
                self.shapes[(n.id, 0)] = tuple(n.out_shapes[0])
                nodes.append(n)
                continue
            on = self.applies(n)
            ins = [self.shapes.get(r) for r in n.inputs]
            kind = None if any(s is None for s in ins) else self._build(n, ins, g.batch, on)
            figs = {}
            if kind is not None and on:
                for m in self.combo:
                    got = m.shape(n, kind, self)
                    if got is not None:
                        shapes, f = got
                        kind.out_shapes = [tuple(s) for s in shapes]
                        figs.setdefault("output", []).extend(f)
                if any(min(s, default=1) < 1 for s in kind.out_shapes):
                    kind = None
            if kind is None:
                # the passes still see the node as it was; its values (and all after it) are dropped
                failed.add(n.id)
                self.kinds[n.id] = None
                for k in range(len(n.out_shapes)):
                    self.shapes[(n.id, k)] = None
                nodes.append(n)
                continue
            self.kinds[n.id] = kind
            self.figures[n.id] = figs
            for k, s in enumerate(kind.out_shapes):
                self.shapes[(n.id, k)] = tuple(s)
            nodes.append(replace(n, kind=kind, out_shapes=[tuple(s) for s in kind.out_shapes]))
        graph = Graph(g.name, g.file, nodes, list(g.inputs), list(g.outputs), [], g.batch, g.spec_batch, g.dtype,
                      self.conventions, g.groups)
        return graph, failed

    def _build(self, n, ins, batch, on):
        """The node's kind, rebuilt from its arguments (with the mistakes' changes where they apply)."""
        op = n.op
        args = {k: v for k, v in n.kind.args.items() if k not in INFER_ARGS}
        if "in_channels" in n.kind.args and op.startswith("Lazy"):
            args.pop("in_channels", None)
        b = batch
        if on:
            for m in self.combo:
                op, args, b = m.rebuild(n, op, args, b, self)
        unchanged = op == n.op and b == n.kind.N and [tuple(s) for s in ins] == list(n.kind.in_shapes) and \
            args == {k: v for k, v in n.kind.args.items() if k not in INFER_ARGS}
        cls = REGISTRY.get(op)
        try:
            return cls(op, dict(args), list(ins), b)
        except (KindError, TypeError, ValueError, KeyError, IndexError, ZeroDivisionError):
            return n.kind if unchanged else None

    # ------------------------------------------------------------------ the passes
    def _run(self):
        graph, failed = self._rebuild_graph()
        self.graph = graph

        def terms_of(n):
            terms = list(n.kind.terms())
            if n.id not in failed and self.applies(n):
                for m in self.combo:
                    terms = m.terms(n, n.kind, terms, self)
            return terms

        flow = gradient_flow(graph)
        cost = costs(graph, self.conventions, flow, terms_of)
        lay = layout(graph)
        mem = saved(graph, flow, storage(graph, self.itemsize, lay), lay)
        wrong = next((m for m in reversed(self.combo) if m.rf_mode), None)
        field = R.receptive(graph, has_errors=True, step_of=_step_of,
                            apply_step=self._wrong_step(wrong) if wrong else None)
        for n in graph.nodes:
            if n.is_input:
                self.rf[(n.id, 0)] = R.input_field(n)
                continue
            if n.id in failed:
                self.vals[n.id] = None
                for k in range(len(n.out_shapes)):
                    self.rf[(n.id, k)] = None
                continue
            kind = n.kind
            c = cost.layers[n.id]
            act = kind.N * math.prod(kind.out_shapes[0])
            v = {"params": c.module_params, "buffers": c.module_buffers, "macs": c.macs, "flops": c.flops,
                 "bwd_flops": c.bwd_flops, "output": list(kind.out_shapes[0]), "activations": act,
                 "memory": act * self.itemsize, "saved": mem.layers[n.id].saved_bytes}
            if self.applies(n):
                for m in self.combo:
                    v = m.values(n, kind, v, self)
            self.vals[n.id] = v
            for k in range(len(n.out_shapes)):
                fields = field.state.get((n.id, k)) or {}
                self.rf[(n.id, k)] = next(iter(fields.values())) if fields else None

    def _wrong_step(self, mistake):
        """The mistake's receptive-field arithmetic at the nodes it applies to, on window steps over
        a local field; the engine's everywhere else."""
        def apply_step(n, f, step):
            if not self.applies(n) or f["glob"] or step.kind == "global" or len(step.k) != len(f["r"]):
                return R.apply(f, step)
            return mistake.rf_step(f, step)
        return apply_step

    # ------------------------------------------------------------------ aggregates
    def aggregate(self, ids, out_ref):
        """The values an `expect` compares, for nodes ``ids`` and output ``out_ref`` (None: unavailable)."""
        g = self.analysis.g
        mods = {}
        macs = flops = bwd = saved_ = 0
        params_per_call = 0
        for i in ids:
            n = g.nodes[i]
            if n.is_input:
                continue
            v = self.vals.get(i)
            if v is None:
                return None
            mods.setdefault(n.module, (v["params"], v["buffers"], v.get("trainable_delta", 0)))
            params_per_call += v["params"]
            macs += v["macs"]
            flops += v["flops"]
            bwd += v["bwd_flops"]
            saved_ += v["saved"]
        out = {"params": params_per_call if self.per_call else sum(p for p, _, _ in mods.values()),
               "buffers": sum(b for _, b, _ in mods.values()), "macs": macs, "flops": _num(flops),
               "bwd_flops": _num(bwd), "saved": saved_}
        # a mistake may count some parameters as trainable and others not (``trainable_delta``)
        out["trainable_params"] = out["params"] + sum(t for _, _, t in mods.values())
        if out_ref is not None:
            shape = self.shapes.get(out_ref)
            if shape is None:
                return None
            N = self.batch_of(out_ref)
            v = self.vals.get(out_ref[0])
            out["output"] = list(shape)
            out["activations"] = v["activations"] if v and out_ref[1] == 0 else N * math.prod(shape)
            out["memory"] = v["memory"] if v and out_ref[1] == 0 else N * math.prod(shape) * self.itemsize
            f = self.rf.get(out_ref)
            if f:
                out["rf"] = [_num(x) for x in f["r"]]
                out["rf_stride"] = [_num(x) for x in f["j"]]
                out["rf_padding"] = [_num(-Fraction(x)) for x in f["start"]]
        return out

    def batch_of(self, ref):
        k = self.kinds.get(ref[0])
        return k.N if k is not None else self.analysis.g.batch


def _step_of(n):
    """A node's receptive-field step; a rebuilt kind that cannot say is taken as global."""
    try:
        return n.kind.rf()
    except Exception:  # noqa: BLE001 - a rebuilt kind with arguments its rf() does not handle
        return RFStep("global", formula="unknown")
