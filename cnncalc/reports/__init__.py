"""Report builders: an analysis (and the options of a question) -> the plain, JSON-serialisable data
that the renderers in `cnncalc.render` read.  Nothing here prints, and nothing imports torch.

- `analysis_report`: the analysis report of `cnncalc analyze` (with training FLOPs per epoch),
- `memory.memory_report`: `cnncalc memory` (breakdown, batch sweep, the largest batch that fits),
- `review_report`: `cnncalc review`,
- `forward_memory`: the forward walk's live and saved bytes per layer (the memory plot),
- `document.document`: the HTML or Markdown report of `cnncalc report`.
"""
from __future__ import annotations


def analysis_report(a, dataset_size: int | None = None) -> dict:
    """The versioned analysis report; with `dataset_size`, training FLOPs per epoch under "training"."""
    report = a.report()
    if dataset_size:
        from ..core.memory import train_flops
        report["training"] = train_flops(a, dataset_size)
    return report


def review_report(a, ignore=()) -> dict:
    """The design review of an analysis: findings with stable IDs, severity, reason and saving."""
    from ..review.rules import review, review_dict
    ignore = tuple(ignore or ())
    return review_dict(a, review(a, ignore), ignore)


def forward_memory(a):
    """Walk the forward pass in graph order, as the fx interpreter does.

    Returns a list with one dict per layer: ``name``, ``live_bytes`` (every tensor still needed,
    counted when the layer's output has been allocated, before freeing inputs that die there) and
    ``saved_bytes`` (bytes kept for backward so far).  Views share their input's storage.
    """
    g = a.g
    storage, size = a.storage, a.storage_size
    end = len(g.nodes)
    last = {}
    for n in g.nodes:
        for ref in n.inputs:
            sid = storage.get(ref)
            if sid is not None:
                last[sid] = max(last.get(sid, -1), n.id)
    for ref in g.outputs:
        sid = storage.get(ref)
        if sid is not None:
            last[sid] = end
    live = {}
    for i in g.inputs:
        sid = storage.get((i, 0))
        if sid is not None:
            live[sid] = size.get(sid, 0)
    out, saved = [], 0
    for n in g.nodes:
        if n.is_input:
            continue
        for k in range(len(n.out_shapes)):
            sid = storage.get((n.id, k))
            if sid is not None and sid not in live:
                live[sid] = size.get(sid, 0)
        saved += a.layer[n.id].get("saved_bytes", 0)
        out.append({"name": n.name, "op": n.op, "live_bytes": sum(live.values()), "saved_bytes": saved})
        for sid in [s for s in live if last.get(s, n.id) <= n.id]:
            del live[sid]
    return out
