"""Recompute every number of a graph with a student's mistake (or none) built in.

The homework checker never reuses an answer it computed to guess a mistake: it
rebuilds each layer kind from its arguments (``REGISTRY[op](op, args,
in_shapes, batch)``) with the mistake applied (an argument changed, an output
size computed with the wrong formula, a term counted differently, a convention
switched), lets the shapes flow on to the layers after it, and sums up the same
way the analysis does.  The baseline (no mistake) must reproduce the analysis'
own numbers; a quantity where it does not is left undiagnosed rather than
diagnosed from a number we cannot vouch for.
"""
from __future__ import annotations

import math
from fractions import Fraction

from ..kinds import REGISTRY
from ..kinds.base import KindError

from ..conventions import MAC_RULES  # noqa: E402
OPS_RULE = "_ops"          # a term counted as plain operations, one FLOP per unit (mistakes use it)
INFER_ARGS = ("in_channels", "in_features", "num_features", "num_channels")


class Recomputed:
    """Per-node values of one recomputation; ``None`` for a node that could not be rebuilt."""

    def __init__(self, analysis, combo, where):
        self.a = analysis
        self.combo = combo
        self.where = where          # None: every node; else a set of node ids the mistakes apply to
        self.kinds = {}             # node id -> alt kind (or None)
        self.shapes = {}            # (node id, k) -> shape
        self.vals = {}              # node id -> dict
        self.figures = {}           # node id -> {key: [Figure]} written by mistakes (shape overrides)
        self.rf = {}                # (node id, k) -> dict(r, j, start, glob, extent)
        self.per_call = any(m.per_call_params for m in combo)
        self._run()

    # ------------------------------------------------------------------ helpers
    def applies(self, n):
        return self.where is None or n.id in self.where

    def cost(self, conv, rules):
        if rules[0] == OPS_RULE:
            return 1
        return conv.cost(rules)

    # ------------------------------------------------------------------ the pass
    def _run(self):
        a = self.a
        g = a.g
        conv = a.conv
        batch = g.batch
        for m in self.combo:
            conv = m.convention(conv, self)
        self.conv = conv
        needs_grad = {}
        for n in g.nodes:
            if n.is_input:
                self.shapes[(n.id, 0)] = tuple(n.out_shapes[0])
                nd = len(n.out_shapes[0]) - 1
                self.rf[(n.id, 0)] = dict(r=(1,) * nd, j=(1,) * nd, start=(0,) * nd, glob=False,
                                          extent=tuple(n.out_shapes[0][1:]))
                needs_grad[n.id] = False
                continue
            on = self.applies(n)
            ins = [self.shapes.get(r) for r in n.inputs]
            if any(s is None for s in ins):
                self._fail(n)
                continue
            kind = self._build(n, ins, batch, on)
            if kind is None:
                self._fail(n)
                continue
            figs = {}
            if on:
                for m in self.combo:
                    got = m.shape(n, kind, self)
                    if got is not None:
                        shapes, f = got
                        kind.out_shapes = [tuple(s) for s in shapes]
                        figs.setdefault("output", []).extend(f)
                if any(min(s, default=1) < 1 for s in kind.out_shapes):
                    self._fail(n)
                    continue
            self.kinds[n.id] = kind
            self.figures[n.id] = figs
            for k, s in enumerate(kind.out_shapes):
                self.shapes[(n.id, k)] = tuple(s)
            N = kind.N
            terms = list(kind.terms())
            if on:
                for m in self.combo:
                    terms = m.terms(n, kind, terms, self)
            macs = flops = 0
            for t in terms:
                c = self.cost(conv, t.rules)
                if t.rules[0] in MAC_RULES and conv.counts_macs(t.rules[0]):
                    macs += t.count
                if c is not None:
                    flops += t.count * c
            ng = any(needs_grad.get(nid, False) for nid, _ in n.inputs)
            p = kind.params().value
            needs_grad[n.id] = ng or p > 0
            bwd = 0
            if needs_grad[n.id]:
                for t in kind.bwd_terms(ng):
                    c = self.cost(conv, t.rules)
                    if c is not None:
                        bwd += t.count * c
            isz = a.itemsize
            act = N * math.prod(kind.out_shapes[0])
            v = {"params": p, "buffers": kind.buffers().value, "macs": macs, "flops": _num(flops),
                 "bwd_flops": _num(bwd), "output": list(kind.out_shapes[0]), "activations": act,
                 "memory": act * isz, "saved": self._saved(n, kind, N, isz)}
            if on:
                for m in self.combo:
                    v = m.values(n, kind, v, self)
            self.vals[n.id] = v
            self._rf_step(n, kind, on)

    def _fail(self, n):
        self.kinds[n.id] = None
        self.vals[n.id] = None
        for k in range(len(n.out_shapes)):
            self.shapes[(n.id, k)] = None

    def _build(self, n, ins, batch, on):
        """The node's kind, rebuilt from its arguments (with the mistakes' changes where they apply)."""
        op = n.op
        args = {k: v for k, v in n.kind.a.items() if k not in INFER_ARGS}
        if "in_channels" in n.kind.a and op.startswith("Lazy"):
            args.pop("in_channels", None)
        b = batch
        if on:
            for m in self.combo:
                op, args, b = m.rebuild(n, op, args, b, self)
        unchanged = op == n.op and b == n.kind.N and [tuple(s) for s in ins] == list(n.kind.in_shapes) and \
            args == {k: v for k, v in n.kind.a.items() if k not in INFER_ARGS}
        cls = REGISTRY.get(op)
        try:
            kind = cls(op, dict(args), list(ins), b)
        except (KindError, TypeError, ValueError, KeyError, IndexError, ZeroDivisionError):
            if unchanged:
                return n.kind
            return None
        return kind

    def _saved(self, n, kind, N, isz):
        """Bytes this node saves for backward (aliases of inputs resolved, no cross-node dedupe)."""
        total = 0
        for sv in kind.saved():
            if sv.alias:
                if sv.alias == "output":
                    shape = kind.out_shapes[0]
                else:
                    idx = 0 if sv.alias == "input" else int(sv.alias[5:])
                    shape = kind.in_shapes[idx]
                total += N * math.prod(shape) * isz
            else:
                per = sv.itemsize if sv.itemsize is not None else isz
                total += (sv.numel if sv.what in ("save_mean", "save_invstd", "mean", "rstd") else N * sv.numel) * per
        return total

    # ------------------------------------------------------------------ receptive field
    def _rf_step(self, n, kind, on):
        ins = [self.rf.get(r) for r in n.inputs]
        if not ins or any(f is None for f in ins):
            for k in range(len(kind.out_shapes)):
                self.rf[(n.id, k)] = None
            return
        try:
            step = kind.rf()
        except Exception:  # noqa: BLE001 - a kind without an rf step: leave the field unknown
            step = None
        if step is None:
            out = None
        elif len(ins) > 1 and step.kind != "data":
            out = _merge(ins)
        else:
            out = self._apply(ins[0], step, on)
        for k in range(len(kind.out_shapes)):
            self.rf[(n.id, k)] = out

    def _apply(self, f, step, on):
        if f["glob"] or step.kind == "global":
            return dict(f, glob=True, r=f["extent"], start=(0,) * len(f["extent"]))
        nd = len(f["r"])
        if len(step.k) != nd:
            return dict(f, glob=True, r=f["extent"], start=(0,) * len(f["extent"]))
        ks, ss = step.k, step.s
        mode = None
        if on:
            for m in self.combo:
                mode = m.rf_mode or mode
        if mode == "strides_ignored":
            r = tuple(Fraction(ri) + (Fraction(kk) - 1) for ri, kk in zip(f["r"], ks))
            j = f["j"]
        elif mode == "kernels_summed":
            # r counted as the plain sum of kernel extents: k1 + k2 (no "- 1" for the shared pixel)
            r = tuple((Fraction(ri) if ri != 1 or kk == 1 else Fraction(0)) + (Fraction(kk) * ji if kk != 1 else 0)
                      for ri, kk, ji in zip(f["r"], ks, f["j"]))
            j = tuple(Fraction(ji) * Fraction(s) for ji, s in zip(f["j"], ss))
        else:
            r = tuple(Fraction(ri) + (Fraction(kk) - 1) * ji for ri, kk, ji in zip(f["r"], ks, f["j"]))
            j = tuple(Fraction(ji) * Fraction(s) for ji, s in zip(f["j"], ss))
        start = tuple(Fraction(si) - Fraction(pp) * ji for si, pp, ji in zip(f["start"], step.p, f["j"]))
        return dict(f, r=r, j=j, start=start)

    # ------------------------------------------------------------------ aggregates
    def aggregate(self, ids, out_ref):
        """The values an `expect` compares, for nodes ``ids`` and output ``out_ref`` (None: unavailable)."""
        g = self.a.g
        mods = {}
        macs = flops = bwd = saved = 0
        params_per_call = 0
        for i in ids:
            n = g.nodes[i]
            if n.is_input:
                continue
            v = self.vals.get(i)
            if v is None:
                return None
            mods.setdefault(n.module, (v["params"], v["buffers"]))
            params_per_call += v["params"]
            macs += v["macs"]
            flops += v["flops"]
            bwd += v["bwd_flops"]
            saved += v["saved"]
        out = {"params": params_per_call if self.per_call else sum(p for p, _ in mods.values()),
               "buffers": sum(b for _, b in mods.values()), "macs": macs, "flops": _num(flops),
               "bwd_flops": _num(bwd), "saved": saved}
        out["trainable_params"] = out["params"]
        if out_ref is not None:
            shape = self.shapes.get(out_ref)
            if shape is None:
                return None
            N = self.batch_of(out_ref)
            v = self.vals.get(out_ref[0])
            out["output"] = list(shape)
            out["activations"] = v["activations"] if v and out_ref[1] == 0 else N * math.prod(shape)
            out["memory"] = v["memory"] if v and out_ref[1] == 0 else N * math.prod(shape) * self.a.itemsize
            f = self.rf.get(out_ref)
            if f:
                out["rf"] = [_num(x) for x in f["r"]]
                out["rf_stride"] = [_num(x) for x in f["j"]]
                out["rf_padding"] = [_num(-Fraction(x)) for x in f["start"]]
        return out

    def batch_of(self, ref):
        k = self.kinds.get(ref[0])
        return k.N if k is not None else self.a.g.batch


def _merge(fields):
    if any(f["glob"] for f in fields) or len({len(f["r"]) for f in fields}) > 1:
        f0 = fields[0]
        return dict(f0, glob=True, r=f0["extent"], start=(0,) * len(f0["extent"]))
    nd = len(fields[0]["r"])
    start = tuple(min(Fraction(f["start"][a]) for f in fields) for a in range(nd))
    end = tuple(max(Fraction(f["start"][a]) + f["r"][a] for f in fields) for a in range(nd))
    return dict(fields[0], r=tuple(e - s for s, e in zip(start, end)), start=start, j=max(f["j"] for f in fields))


def _num(x):
    if isinstance(x, Fraction):
        return int(x) if x.denominator == 1 else float(x)
    return x
