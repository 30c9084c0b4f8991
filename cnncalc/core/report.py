"""The versioned JSON report: the one place it is assembled, from an analysis's frozen results."""
from __future__ import annotations

from . import memory as M
from ..i18n import current

SCHEMA_VERSION = 1


def _ref_name(g, names, ref):
    i, k = ref
    return names[i] + (f":{k}" if len(g.nodes[i].out_shapes) > 1 else "")


def layer_entry(analysis, n, names) -> dict:
    g = analysis.g
    c = analysis.costs.layers[n.id]
    m = analysis.saved.layers[n.id]
    shapes = [list(s) for s in n.out_shapes]
    split = not analysis.has_errors
    # a captured module may hold tensors of another batch (two images as one batch, pixels folded into
    # it) or none (a constant): then the entry says its batch (None: no batch, the shape is the whole tensor)
    other = {"batch": n.kind.N if n.kind.batched else None} \
        if (not n.kind.batched or n.kind.N != g.batch) else {}
    return {
        "name": n.name,
        "op": n.op,
        "module": n.module,
        "args": n.kind.describe_args(),
        "inputs": [_ref_name(g, names, r) for r in n.inputs],
        "output_shape": shapes[0] if len(shapes) == 1 else shapes,
        "params": c.params,
        "module_params": c.module_params,
        "buffers": c.buffers,
        "macs": c.macs,
        "flops": c.flops,
        "bwd_flops": c.bwd_flops,
        "bwd_input_flops": M._num(c.bwd_input_flops) if split else None,
        "bwd_weight_flops": M._num(c.bwd_weight_flops) if split else None,
        "output_bytes": m.output_bytes,
        "saved_bytes": m.saved_bytes,
        "rf": analysis.rf.layers.get(n.id),
        "location": str(n.loc) if n.loc else None,
        **other,
    }


def build_report(analysis) -> dict:
    g = analysis.g
    names = {n.id: n.name for n in g.nodes}
    layers = [layer_entry(analysis, n, names) for n in g.nodes if not n.is_input]
    conventions = analysis.conventions.to_dict()
    conventions["excluded_with_work"] = sorted(analysis.excluded)
    if analysis.conventions.tool:
        # what this preset's tool does not count, by name, with the nodes concerned (left out of the figures)
        conventions["tool_blind_to"] = {label: [names[i] for i in ids]
                                        for label, ids in sorted(analysis.costs.blind.items())}
    return {
        "schema_version": SCHEMA_VERSION,
        "model": g.name,
        "file": g.file,
        "inputs": {g.nodes[i].name: list(g.nodes[i].out_shapes[0]) for i in g.inputs},
        "outputs": [_ref_name(g, names, r) for r in g.outputs],
        "batch": g.batch,
        "dtype": g.dtype,
        "bytes_per_element": analysis.itemsize,
        "conventions": conventions,
        "totals": dict(analysis.totals()),
        "layers": layers,
        "expect": [dict(r) for r in analysis.expect_results],
        "diagnostics": [d.to_dict() for d in analysis.diagnostics],
        "memory": None if analysis.has_errors else M.report_memory(analysis, computed=analysis.memory),
        "lang": current(),     # the language of the diagnostics' prose
    }
