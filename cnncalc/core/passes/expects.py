"""Totals, group aggregates, and the spec's expected answers checked against them."""
from __future__ import annotations

import math
from fractions import Fraction

from ...errors import Diagnostic
from ..numbers import num
from ..units import match_number, parse_number

BATCH_LINEAR = ("macs", "flops", "activations", "memory", "saved", "bwd_flops")


def totals(facts, memory=None) -> dict:
    """The report's `totals`; ``memory``: the default breakdown (``core.memory.breakdown``), None
    when the graph has errors."""
    g = facts.g
    layers = facts.costs.layers.values()
    params = sum(c.params for c in layers)
    buffers = sum(c.buffers for c in layers)
    flops = sum(c.flops for c in layers)
    bwd = sum(c.bwd_flops for c in layers)
    return {
        "params": params + 0,
        "trainable_params": params,
        "buffers": buffers,
        "macs": sum(c.macs for c in layers),
        "flops": num(flops),
        "activation_bytes": sum(m.alloc_bytes for m in facts.saved.layers.values()),
        "saved_bytes": facts.saved.total,
        "bwd_macs": sum(c.bwd_macs for c in layers),
        "bwd_flops": num(bwd),
        "train_step_flops": num(flops + bwd),
        "param_bytes": (params + buffers) * facts.itemsize,
        # memory.py: peaks with the default optimizer (adam) in the graph's dtype; None with errors
        "inference_peak_bytes": memory["inference_peak"] if memory else None,
        "training_peak_bytes": memory["training_peak"] if memory else None,
        "train_flops_per_sample": num(Fraction(flops + bwd) / g.batch),
    }


def group_values(facts, rf_state, ids, out_ref=None) -> dict:
    """Aggregate over nodes: params once per module, work summed."""
    g = facts.g
    mods = {}
    macs = flops = bwd = saved = 0
    for i in ids:
        n = g.nodes[i]
        if n.is_input:
            continue
        c = facts.costs.layers[i]
        mods.setdefault(n.module, (c.module_params, c.module_buffers))
        macs += c.macs
        flops += c.flops
        bwd += c.bwd_flops
        saved += facts.saved.layers[i].saved_bytes
    out = {"params": sum(p for p, _ in mods.values()), "buffers": sum(b for _, b in mods.values()),
           "macs": macs, "flops": flops, "bwd_flops": bwd, "saved": saved}
    out["trainable_params"] = out["params"]
    if out_ref is not None:
        shape = g.shape(out_ref)
        out["output"] = list(shape)
        out["activations"] = math.prod(shape) * g.batch
        out["memory"] = math.prod(shape) * g.batch * facts.itemsize
        rf = rf_state.get(out_ref)
        if rf:
            f = next(iter(rf.values()))
            out["rf"] = [num(x) for x in f["r"]]
            out["rf_stride"] = [num(x) for x in f["j"]]
            out["rf_padding"] = [num(-x) for x in f["start"]]
    return out


def check_expects(graph, tot, values_of, has_errors):
    """-> (results, diagnostics).  ``values_of(node ids, output ref)`` aggregates (group_values)."""
    results, diags = [], []
    for e in graph.expects:
        if e.scope == "total":
            vals = dict(tot)
            vals["saved"] = tot["saved_bytes"]
            if e.output is not None:
                gv = values_of([], e.output)
                for k in ("output", "activations", "memory", "rf", "rf_stride", "rf_padding"):
                    if k in gv:
                        vals[k] = gv[k]
        else:
            vals = values_of(e.node_ids, e.output)
        tol = e.items.get("tol")
        blocked = has_errors and (e.scope == "total" or any(i >= len(graph.nodes) for i in e.node_ids))
        for key, want in e.items.items():
            if key == "tol":
                continue
            got = vals.get(key)
            res = {"scope": e.scope, "node": e.name, "key": key, "expected": jsonable(want), "actual": got,
                   "location": str(e.items.vloc(key)) if hasattr(e.items, "vloc") else str(e.loc)}
            if blocked:
                res["verdict"] = "not checked"
                res["message"] = "the spec has errors: totals are incomplete"
                results.append(res)
                continue
            if key in BATCH_LINEAR and isinstance(got, (int, float)) and graph.batch != graph.spec_batch:
                # expects are written for the spec's own batch; all of these grow linearly with it
                got = got * graph.spec_batch // graph.batch
                res["actual"] = got
                res["note"] = f"checked at the spec's batch {graph.spec_batch}"
            try:
                ok = check_value(key, want, got, graph.spec_batch, tol)
                res["verdict"] = "pass" if ok else "fail"
            except ValueError as err:
                res["verdict"] = "error"
                res["message"] = str(err)
                diags.append(Diagnostic("error", f"expect `{key}`: {err}", e.items.vloc(key)))
            results.append(res)
    return results, diags


def jsonable(v):
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
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
