"""Analysis passes over the layer graph, and the JSON-serialisable report.

Passes (each a walk over the topologically ordered nodes):
  costs     params/buffers per module (shared modules once), MACs/FLOPs per call
  memory    output bytes, saved-for-backward bytes (deduplicated by storage)
  rf        receptive field per axis, in the coordinates of each network input
  expect    the spec's expected answers, checked
"""
from __future__ import annotations

import math
from fractions import Fraction

from ..errors import Diagnostic
from ..spec.loader import DTYPES
from .units import match_number, parse_number

SCHEMA_VERSION = 1


def _num(x):
    if isinstance(x, Fraction):
        return int(x) if x.denominator == 1 else float(x)
    return x


def _frac_text(x):
    if isinstance(x, Fraction) and x.denominator != 1:
        return f"{x.numerator}/{x.denominator}"
    return str(int(x)) if isinstance(x, Fraction) else str(x)


class Analysis:
    """All numbers for one graph under one convention.  `report()` gives the JSON form."""

    def __init__(self, graph, diagnostics=(), warnings=()):
        self.g = graph
        self.conv = graph.conventions
        self.itemsize = DTYPES[graph.dtype]
        self.diagnostics = list(diagnostics) + list(warnings)
        self.has_errors = any(d.severity == "error" for d in diagnostics)
        self.layer = {}          # node id -> dict
        self.excluded = set()    # rules excluded by the convention that had work
        self._costs()
        self._memory()
        self._rf()
        self.expect_results = self._expects()

    # ------------------------------------------------------------------ costs
    def _costs(self):
        g, conv = self.g, self.conv
        seen_modules = set()
        needs_grad = {}
        for n in g.nodes:
            if n.is_input:
                needs_grad[n.id] = False
                continue
            k = n.kind
            first_call = n.module not in seen_modules
            seen_modules.add(n.module)
            p = k.params().value
            b = k.buffers().value
            macs = flops = 0
            for t in k.terms():
                c = conv.cost(t.rules)
                if t.rules[0] in ("conv", "conv_transpose", "linear", "matmul", "deform_conv"):
                    if conv.counts_macs(t.rules[0]):
                        macs += t.count
                if c is None:
                    if not t.alt and t.count:
                        self.excluded.add(t.rules[-1])
                    continue
                flops += t.count * c
            # backward: the input gradient is needed unless every input is a graph input or
            # comes only from such (parameters need grads; inputs do not)
            ng = any(needs_grad.get(nid, False) for nid, _ in n.inputs)
            has_params = p > 0
            needs_grad[n.id] = ng or has_params or any(needs_grad.get(nid) for nid, _ in n.inputs)
            bwd = 0
            bwd_macs = 0
            if needs_grad[n.id]:
                for t in k.bwd_terms(ng):
                    c = conv.cost(t.rules)
                    if t.rules[0] in ("conv", "conv_transpose", "linear", "matmul", "deform_conv") and \
                            conv.counts_macs(t.rules[0]):
                        bwd_macs += t.count
                    if c is not None:
                        bwd += t.count * c
            self.layer[n.id] = {
                "params": p if first_call else 0,
                "module_params": p,
                "buffers": b if first_call else 0,
                "macs": macs,
                "flops": _num(flops),
                "bwd_macs": bwd_macs,
                "bwd_flops": _num(bwd),
                "needs_input_grad": ng,
            }

    # ------------------------------------------------------------------ memory
    def _memory(self):
        g = self.g
        B = g.batch
        isz = self.itemsize
        storage = {}      # (node id, out idx) -> storage id
        size = {}         # storage id -> bytes
        for n in g.nodes:
            if n.is_input:
                storage[(n.id, 0)] = ("s", n.id, 0)
                size[("s", n.id, 0)] = B * math.prod(n.out_shapes[0]) * isz
                continue
            k = n.kind
            for i, s in enumerate(n.out_shapes):
                if k.view and n.inputs:
                    storage[(n.id, i)] = storage[n.inputs[0]]
                else:
                    sid = ("s", n.id, i)
                    storage[(n.id, i)] = sid
                    size[sid] = B * math.prod(s) * isz
        saved_seen = set()
        self.total_saved = 0
        for n in g.nodes:
            if n.is_input:
                continue
            k = n.kind
            L = self.layer[n.id]
            out_bytes = 0 if k.view else sum(B * math.prod(s) * isz for s in n.out_shapes)
            L["output_bytes"] = B * sum(math.prod(s) for s in n.out_shapes) * isz
            L["alloc_bytes"] = out_bytes
            mine = 0
            items = []
            for sv in k.saved():
                if sv.alias:
                    if sv.alias == "output":
                        sid = storage[(n.id, 0)]
                    else:
                        idx = 0 if sv.alias == "input" else int(sv.alias[5:])
                        sid = storage[n.inputs[idx]]
                    nbytes = size[sid]
                else:
                    sid = ("t", n.id, sv.what)
                    per = sv.itemsize if sv.itemsize is not None else isz
                    nbytes = (sv.numel if sv.what in ("save_mean", "save_invstd", "mean", "rstd") else
                              B * sv.numel) * per
                items.append({"what": sv.what, "bytes": nbytes, "shared": sid in saved_seen})
                if sid not in saved_seen:
                    saved_seen.add(sid)
                    mine += nbytes
            L["saved_bytes"] = mine
            L["saved_items"] = items
            self.total_saved += mine
        self.storage = storage
        self.storage_size = size

    # ------------------------------------------------------------------ receptive field
    def _rf(self):
        g = self.g
        state = {}   # node id -> {input name: dict(r, j, start, global, data)}
        self.rf_notes = []
        for n in g.nodes:
            if n.is_input:
                nd = len(n.out_shapes[0]) - 1
                state[(n.id, 0)] = {n.name: dict(r=(1,) * nd, j=(1,) * nd, start=(0,) * nd, glob=False, data=False,
                                                  extent=tuple(n.out_shapes[0][1:]))}
                continue
            k = n.kind
            step = k.rf()
            ins = [state.get(r, {}) for r in n.inputs]
            if step.kind == "merge" or len(n.inputs) > 1 and step.kind != "data":
                merged = {}
                for src, fields in self._merge(n, ins).items():
                    merged[src] = fields
                out = merged
            else:
                out = {}
                for src, f in ins[0].items():
                    out[src] = self._apply(f, step, k)
            for i in range(len(n.out_shapes)):
                state[(n.id, i)] = out
            self.layer[n.id]["rf"] = self._rf_json(out)
        self.rf_state = state

    def _apply(self, f, step, k):
        if f["glob"] or step.kind == "global":
            return dict(f, glob=True, r=f["extent"], j=f["j"], start=(0,) * len(f["extent"]))
        nd = len(f["r"])
        if len(step.k) != nd:
            return dict(f, glob=True, r=f["extent"], start=(0,) * len(f["extent"]))
        r = tuple(Fraction(ri) + (Fraction(kk) - 1) * ji for ri, kk, ji in zip(f["r"], step.k, f["j"]))
        start = tuple(Fraction(si) - Fraction(pp) * ji for si, pp, ji in zip(f["start"], step.p, f["j"]))
        j = tuple(Fraction(ji) * Fraction(ss) for ji, ss in zip(f["j"], step.s))
        return dict(f, r=r, j=j, start=start, data=f["data"] or step.kind == "data")

    def _merge(self, n, ins):
        out = {}
        for src in {s for d in ins for s in d}:
            fields = [d[src] for d in ins if src in d]
            if len(fields) == 1:
                out[src] = fields[0]
                continue
            if any(f["glob"] for f in fields):
                out[src] = dict(fields[0], glob=True, r=fields[0]["extent"], start=(0,) * len(fields[0]["extent"]))
                continue
            if len({len(f["r"]) for f in fields}) > 1:
                out[src] = dict(fields[0], glob=True)
                continue
            js = {f["j"] for f in fields}
            centres = {tuple(Fraction(s) + (Fraction(r) - 1) / 2 for s, r in zip(f["start"], f["r"])) for f in fields}
            if len(js) > 1 or len(centres) > 1:
                what = "strides" if len(js) > 1 else "centres"
                self.diagnostics.append(Diagnostic(
                    "warning", f"{n.name} ({n.op}): the receptive fields of its inputs are not aligned "
                    f"(different {what}); reporting their union", n.loc, node=n.name, code="rf-not-aligned"))
            start = tuple(min(f["start"][a] for f in fields) for a in range(len(fields[0]["r"])))
            end = tuple(max(Fraction(f["start"][a]) + f["r"][a] for f in fields) for a in range(len(fields[0]["r"])))
            out[src] = dict(fields[0], r=tuple(e - s for s, e in zip(start, end)), start=start,
                            j=max(js), data=any(f["data"] for f in fields))
        return out

    def _rf_json(self, fields):
        if not fields:
            return None
        res = {}
        for src, f in fields.items():
            res[src] = {"size": [_num(x) for x in f["r"]], "stride": [_num(x) for x in f["j"]],
                        "padding": [_num(-Fraction(x)) for x in f["start"]], "global": bool(f["glob"]),
                        "data_dependent": bool(f["data"])}
        first = next(iter(res.values()))
        out = dict(first)
        if len(res) > 1:
            out["per_input"] = res
        return out

    # ------------------------------------------------------------------ totals
    def totals(self):
        g = self.g
        L = self.layer
        params = sum(v["params"] for v in L.values())
        buffers = sum(v["buffers"] for v in L.values())
        trainable = params
        macs = sum(v["macs"] for v in L.values())
        flops = sum(v["flops"] for v in L.values())
        bwd = sum(v["bwd_flops"] for v in L.values())
        act = sum(v["alloc_bytes"] for v in L.values())
        return {
            "params": params + 0,
            "trainable_params": trainable,
            "buffers": buffers,
            "macs": macs,
            "flops": _num(flops),
            "activation_bytes": act,
            "saved_bytes": self.total_saved,
            "bwd_macs": sum(v["bwd_macs"] for v in L.values()),
            "bwd_flops": _num(bwd),
            "train_step_flops": _num(flops + bwd),
            "param_bytes": (params + buffers) * self.itemsize,
        }

    def group_values(self, ids, out_ref=None):
        """Aggregate over nodes: params once per module, work summed."""
        mods = {}
        macs = flops = bwd = saved = act = 0
        for i in ids:
            n = self.g.nodes[i]
            if n.is_input:
                continue
            v = self.layer[i]
            mods.setdefault(n.module, (v["module_params"], n.kind.buffers().value))
            macs += v["macs"]
            flops += v["flops"]
            bwd += v["bwd_flops"]
            saved += v["saved_bytes"]
            act += v["alloc_bytes"]
        out = {"params": sum(p for p, _ in mods.values()), "buffers": sum(b for _, b in mods.values()),
               "macs": macs, "flops": flops, "bwd_flops": bwd, "saved": saved}
        out["trainable_params"] = out["params"]
        if out_ref is not None:
            shape = self.g.shape(out_ref)
            out["output"] = list(shape)
            out["activations"] = math.prod(shape) * self.g.batch
            out["memory"] = math.prod(shape) * self.g.batch * self.itemsize
            rf = self.rf_state.get(out_ref)
            if rf:
                f = next(iter(rf.values()))
                out["rf"] = [_num(x) for x in f["r"]]
                out["rf_stride"] = [_num(x) for x in f["j"]]
                out["rf_padding"] = [_num(-Fraction(x)) for x in f["start"]]
        return out

    # ------------------------------------------------------------------ expect
    def _expects(self):
        results = []
        tot = self.totals()
        for e in self.g.expects:
            if e.scope == "total":
                vals = dict(tot)
                vals["trainable_params"] = tot["trainable_params"]
                vals["saved"] = tot["saved_bytes"]
                if e.output is not None:
                    gv = self.group_values([], e.output)
                    for k in ("output", "activations", "memory", "rf", "rf_stride", "rf_padding"):
                        if k in gv:
                            vals[k] = gv[k]
            else:
                vals = self.group_values(e.node_ids, e.output)
            tol = e.items.get("tol")
            blocked = self.has_errors and (e.scope == "total" or any(
                i >= len(self.g.nodes) for i in e.node_ids))
            for key, want in e.items.items():
                if key == "tol":
                    continue
                got = vals.get(key)
                res = {"scope": e.scope, "node": e.name, "key": key, "expected": _jsonable(want), "actual": got,
                       "location": str(e.items.vloc(key)) if hasattr(e.items, "vloc") else str(e.loc)}
                if blocked:
                    res["verdict"] = "not checked"
                    res["message"] = "the spec has errors: totals are incomplete"
                    results.append(res)
                    continue
                try:
                    ok = check_value(key, want, got, self.g.batch, tol)
                    res["verdict"] = "pass" if ok else "fail"
                except ValueError as err:
                    res["verdict"] = "error"
                    res["message"] = str(err)
                    self.diagnostics.append(Diagnostic("error", f"expect `{key}`: {err}", e.items.vloc(key)))
                results.append(res)
        return results

    # ------------------------------------------------------------------ report
    def report(self) -> dict:
        g = self.g
        layers = []
        names = {n.id: n.name for n in g.nodes}
        for n in g.nodes:
            if n.is_input:
                continue
            v = self.layer[n.id]
            shapes = [list(s) for s in n.out_shapes]
            layers.append({
                "name": n.name,
                "op": n.op,
                "module": n.module,
                "args": n.kind.describe_args(),
                "inputs": [names[i] + (f":{k}" if len(g.nodes[i].out_shapes) > 1 else "") for i, k in n.inputs],
                "output_shape": shapes[0] if len(shapes) == 1 else shapes,
                "params": v["params"],
                "module_params": v["module_params"],
                "buffers": v["buffers"],
                "macs": v["macs"],
                "flops": v["flops"],
                "bwd_flops": v["bwd_flops"],
                "output_bytes": v["output_bytes"],
                "saved_bytes": v["saved_bytes"],
                "rf": v.get("rf"),
                "location": str(n.loc) if n.loc else None,
            })
        conv = self.conv.to_dict()
        conv["excluded_with_work"] = sorted(self.excluded)
        return {
            "schema_version": SCHEMA_VERSION,
            "model": g.name,
            "file": g.file,
            "inputs": {g.nodes[i].name: list(g.nodes[i].out_shapes[0]) for i in g.inputs},
            "outputs": [names[i] + (f":{k}" if len(g.nodes[i].out_shapes) > 1 else "") for i, k in g.outputs],
            "batch": g.batch,
            "dtype": g.dtype,
            "bytes_per_element": self.itemsize,
            "conventions": conv,
            "totals": self.totals(),
            "layers": layers,
            "expect": self.expect_results,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }


def _jsonable(v):
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, str):
        return str(v)
    return v


def check_value(key, want, got, batch, tol=None):
    if got is None:
        raise ValueError("not computed for this node")
    if key == "output":
        if not isinstance(want, list):
            raise ValueError(f"`output` must be a shape list, got {want!r}")
        w = list(want)
        if len(w) == len(got) + 1 and w[0] == batch:
            w = w[1:]
        return w == list(got)
    if key in ("rf", "rf_stride", "rf_padding"):
        g = list(got)
        if isinstance(want, (int, float, str)):
            w = [parse_number(want)[0] if isinstance(want, str) else want] * len(g)
        else:
            w = [parse_number(x)[0] if isinstance(x, str) else x for x in want]
        return len(w) == len(g) and all(abs(float(a) - float(b)) <= 1e-9 for a, b in zip(w, g))
    return match_number(want, got, tol)
