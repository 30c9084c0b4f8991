"""The exact windows, measured: the support of input gradients of a positive linear twin.

The spec's torch model (built by ``verify.build``) is turned into a network of the same geometry
whose input gradient is non-zero exactly where some path of non-zero weights reaches the input:

- float64; every weight equal and positive (each output's weights summing to 1), biases zero;
- activations, normalisations and dropout replaced by the identity (they act per position), except a
  softmax over a spatial dim, replaced by the mean over that dim (it reads the whole axis; a softmax's
  gradient summed over its own dim is zero);
- max pooling replaced by average pooling of the same geometry (a max pool's gradient reaches one
  pixel), adaptive max by adaptive average, ``amax`` by ``mean``, ``sub`` by ``add``, ``div`` by ``mul``;
- transposed convolutions, upsampling (every mode), dilation, padding modes (reflect, replicate,
  circular), padding and cropping, spatial concatenation and split run as they are.

One backward pass measures many units: sample ``b`` of the batch back-propagates one unit of one
target node.  The measured window of a unit is, per axis, the first and last input index with a
non-zero gradient (the bounding box of the support's projection, as the exact window is a bounding
box).  Compared with ``window.unit_window``: equal, or a mismatch with both boxes.

Interpolation weights: an output whose source coordinate is a whole number reads its neighbour with
weight exactly 0 (bilinear at aligned positions, bicubic's outer taps); torch then adds exactly 0 to
that neighbour's gradient.  The exact window counts only pixels with a non-zero weight, which is what
the gradient support shows.  A bicubic kernel has negative lobes: in principle two paths could
cancel; the probe reports what it measures.

Not covered: targets whose window passes through a deformable convolution (its sampling positions
are data: the gradient reaches wherever the offsets point) and graphs with ops that have no torch
builder.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from .window import unit_window

MATCH, MISMATCH, NOT_COVERED = "match", "mismatch", "not covered"


@dataclass
class ProbeResult:
    node: str
    output: int
    unit: tuple
    label: str
    verdict: str
    want: dict = field(default_factory=dict)     # input name -> box (exact window)
    got: dict = field(default_factory=dict)      # input name -> box (gradient support)
    note: str = ""

    def json(self):
        return {"node": self.node, "output": self.output, "unit": list(self.unit), "label": self.label,
                "verdict": self.verdict, "exact": _j(self.want), "measured": _j(self.got), "note": self.note}


def _j(d):
    return {k: None if b is None else [list(x) for x in b] for k, b in d.items()}


def probe_units(shape, n_random=3, seed=0):
    """Centre, every corner and a few random units of a map (labels beside them)."""
    sp = tuple(shape[1:])
    units = [("centre", tuple(L // 2 for L in sp))]
    import itertools
    for c in itertools.product(*[(0, L - 1) for L in sp]):
        units.append(("corner", tuple(c)))
    rng = random.Random(seed)
    for _ in range(n_random if sp else 0):
        units.append(("random", tuple(rng.randrange(L) for L in sp)))
    seen, out = set(), []
    for lab, u in units:
        if u not in seen:
            seen.add(u)
            out.append((lab, u))
    return out


def data_dependent(graph, window):
    """The deformable nodes on the unit's path (their sampling positions are data)."""
    return [graph.nodes[i].name for i in window.path if graph.nodes[i].kind.rf().kind == "data"]


def final_maps(graph):
    """For each graph output: itself, and where it is global (a classifier's logits) the last maps
    whose units still see a local window (the final feature maps its global step reads)."""
    from .envelope import envelope
    env = envelope(graph)
    out = []
    for ref in graph.outputs:
        if ref not in out:
            out.append(ref)
        stack, seen = [ref], set()
        while stack:
            r = stack.pop()
            if r in seen:
                continue
            seen.add(r)
            n = graph.nodes[r[0]]
            if n.is_input:
                continue
            f = env.get(r, {})
            if f and not any(x.glob for x in f.values()) and len(graph.shape(r)) >= 2:
                if r not in out:
                    out.append(r)
                continue
            stack.extend(n.inputs)
    return out


def prepare(model, graph):
    """Make the model the positive linear twin described in the module docstring (in place): the
    stand-ins are the kinds' own (``Kind.linearised``: max pooling averages its windows, sub adds, div
    multiplies, amax averages); a softmax over a spatial axis reads every position of that axis."""
    from ..crosscheck.probe import positive_weights
    positive_weights(model)
    ov = {}
    for n in graph.nodes:
        if n.is_input:
            continue
        k = n.kind
        if k.family == "activation" and k.rf().kind == "global":
            ov[n.id] = (lambda d: lambda xs: xs[0].mean(dim=d, keepdim=True).expand_as(xs[0]))(k.a["dim"])
            continue
        stand_in = k.linearised()
        if stand_in is not None:
            ov[n.id] = stand_in
    return ov


def support(grad):
    """Per spatial axis, the [first, last] index with a non-zero gradient (None when none)."""
    nz = grad.detach().abs().sum(dim=0) != 0          # over channels
    if not bool(nz.any()):
        return None
    out = []
    for ax in range(nz.dim()):
        other = tuple(d for d in range(nz.dim()) if d != ax)
        line = nz.any(dim=other) if other else nz
        idx = line.nonzero().flatten()
        out.append((int(idx.min()), int(idx.max())))
    return tuple(out)


def probe(graph, targets=None, *, n_random=3, seed=0, chunk=16, units=None):
    """Measure the windows of the targets' units and compare them with the exact windows.

    ``targets``: [(node id, k)] (default: ``final_maps``); ``units``: {ref: [(label, unit)]} to
    override the default centre, corners and random units.  Returns [ProbeResult]."""
    import torch
    from ..crosscheck.build import build_model, make_inputs
    targets = list(targets or final_maps(graph))
    names = [graph.nodes[i].name for i in graph.inputs]
    todo, results = [], []
    for ref in targets:
        n = graph.nodes[ref[0]]
        todo_units, seen = [], set()
        for label, u in (units or {}).get(ref) or probe_units(graph.shape(ref), n_random, seed):
            if u not in seen:
                seen.add(u)
                todo_units.append((label, u))
        for label, u in todo_units:
            w = unit_window(graph, ref, u)
            r = ProbeResult(n.name, ref[1], u, label, "", dict(w.fields))
            dd = data_dependent(graph, w)
            if dd:
                r.verdict, r.note = NOT_COVERED, f"data-dependent sampling (deformable convolution) at {', '.join(dd)}"
            elif w.approximate:
                r.note = "whole-input fallback at " + ", ".join(graph.nodes[i].name for i in w.approximate)
            results.append(r)
            if not r.verdict:
                todo.append((ref, u, r))
    if not todo:
        return results
    model = build_model(graph, seed)
    if model.unbuildable:
        for _, _, r in todo:
            r.verdict, r.note = NOT_COVERED, "no torch builder for " + ", ".join(o for _, o in model.unbuildable)
        return results
    model.to(torch.float64).eval()
    for p in model.parameters():      # input gradients only: autograd then keeps no activations for
        p.requires_grad_(False)       # weight gradients (a fraction of the memory and time)
    model.override = prepare(model, graph)
    model.capture = {ref[0] for ref, _, _ in todo}
    model.stop_after = max(ref[0] for ref, _, _ in todo)
    xs0 = make_inputs(graph, 1, seed, torch.float64, "cpu", positive=True)
    try:
        for s in range(0, len(todo), chunk):
            part = todo[s:s + chunk]
            xs = tuple(x.expand((len(part),) + tuple(x.shape[1:])).clone().requires_grad_(True) for x in xs0)
            model.captured = {}
            grads = [torch.zeros_like(x) for x in xs]
            with torch.enable_grad():
                model(*xs)
                # one backward pass per target node: summing the objectives of a node and of a node
                # downstream of it into one backward lost the upstream node's gradient in torch 2.x
                # (measured on EfficientNet-B0 at 128x128, float64 CPU)
                refs = list(dict.fromkeys(ref for ref, _, _ in part))
                for t, tref in enumerate(refs):
                    y = model.captured[tref[0]][tref[1]]
                    obj = sum(y[(b, Ellipsis) + tuple(u)].sum() if u else y[b].sum()
                              for b, (ref, u, _) in enumerate(part) if ref == tref)
                    gs = torch.autograd.grad(obj, list(xs), retain_graph=t < len(refs) - 1, allow_unused=True)
                    for b, (ref, _, _) in enumerate(part):
                        if ref == tref:
                            for k, gk in enumerate(gs):
                                if gk is not None:
                                    grads[k][b] = gk[b]
            for b, (_, _, r) in enumerate(part):
                r.got = {nm: support(gr[b]) for nm, gr in zip(names, grads)}
                r.verdict = MATCH if r.got == r.want else MISMATCH
    finally:
        model.override, model.capture, model.captured, model.stop_after = {}, set(), {}, None
    return results
