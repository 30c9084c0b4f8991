"""The exact windows, measured: the support of input gradients of a positive linear twin.

The spec's torch model (built by ``verify.build``) is turned into a network of the same geometry
whose input gradient is non-zero exactly where some path of non-zero weights reaches the input:

- every weight equal and positive (each output's weights summing to 1), biases zero;
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

Precision: the windows are measured in float32 first (fast); a unit whose float32 support differs
from its exact window is measured again in float64, whose verdict stands.  With positive weights
there is no cancellation, so float32 can only lose a tail to underflow (a deep stack's extreme tap:
the product of ~1/9 per 3x3 layer), never show a pixel that float64 would not.

The torch model comes from the caller (``build``: an object with ``build_model`` and ``make_inputs``,
as ``cnncalc.crosscheck.build``): this package computes windows and never builds models itself.

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
    dtype: str = ""                              # the precision of the measurement that stands
    bounded: list = field(default_factory=list)  # global steps on the path: the window is an upper bound
    path: list = field(default_factory=list)     # node ids the unit depends on

    def json(self):
        return {"node": self.node, "output": self.output, "unit": list(self.unit), "label": self.label,
                "verdict": self.verdict, "exact": _j(self.want), "measured": _j(self.got), "note": self.note,
                "dtype": self.dtype}


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


def final_maps(graph, env=None):
    """For each graph output: itself, and where it is global (a classifier's logits) the last maps
    whose units still see a local window (the final feature maps its global step reads).  ``env``:
    the envelopes (``envelope.envelope``) when the caller has them."""
    out = []
    for refs in output_maps(graph, env).values():
        out.extend(r for r in refs if r not in out)
    return out


def output_maps(graph, env=None):
    """{graph output: [itself, and the final feature maps its global steps read]} (see final_maps)."""
    if env is None:
        from .envelope import envelope
        env = envelope(graph)
    res = {}
    for ref in graph.outputs:
        out = res.setdefault(ref, [ref])
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
    return res


def positive_weights(model):
    """Zero biases and equal positive weights (each output's summing to 1), in place: with the kinds'
    linear stand-ins, a model whose input gradient is non-zero exactly where a unit reads."""
    import torch
    with torch.no_grad():
        for m in model._mods.values():
            for name, p in m.named_parameters(recurse=True):
                if name.endswith("bias"):
                    p.zero_()
                elif p.dim() >= 2:      # equal positive weights, each output's summing to 1
                    p.fill_(1.0 / max(1, p[0].numel()))
                else:
                    p.fill_(1.0)


def prepare(model, graph):
    """Make the model the positive linear twin described in the module docstring (in place): the
    stand-ins are the kinds' own (``Kind.linearised``: max pooling averages its windows, sub adds, div
    multiplies, amax averages); a softmax over a spatial axis reads every position of that axis."""
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


def probe(graph, targets=None, *, build, n_random=3, seed=0, chunk=64, units=None):
    """Measure the windows of the targets' units and compare them with the exact windows.

    ``targets``: [(node id, k)] (default: ``final_maps``); ``units``: {ref: [(label, unit)]} to
    override the default centre, corners and random units; ``build``: the torch model builder
    (``cnncalc.crosscheck.build``).  Returns [ProbeResult]."""
    import torch
    targets = list(targets or final_maps(graph))
    names = [graph.nodes[i].name for i in graph.inputs]
    todo, results = [], []
    for ref in targets:
        n = graph.nodes[ref[0]]
        if not graph.shape(ref):
            continue                  # a reduced loss: a scalar, no per-sample unit (its inputs are probed)
        todo_units, seen = [], set()
        for label, u in (units or {}).get(ref) or probe_units(graph.shape(ref), n_random, seed):
            if u not in seen:
                seen.add(u)
                todo_units.append((label, u))
        for label, u in todo_units:
            w = unit_window(graph, ref, u)
            r = ProbeResult(n.name, ref[1], u, label, "", dict(w.fields))
            r.bounded, r.path = [graph.nodes[i].name for i in w.bounded], list(w.path)
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
    model = build.build_model(graph, seed)
    if model.unbuildable:
        for _, _, r in todo:
            r.verdict, r.note = NOT_COVERED, "no torch builder for " + ", ".join(o for _, o in model.unbuildable)
        return results
    model.eval()
    for p in model.parameters():      # input gradients only: autograd then keeps no activations for
        p.requires_grad_(False)       # weight gradients (a fraction of the memory and time)
    model.override = prepare(model, graph)
    try:
        for dt in (torch.float32, torch.float64):
            model.to(dt)
            _measure(model, graph, build, todo, names, seed, dt, chunk)
            todo = [t for t in todo if t[2].verdict != MATCH]     # float64 again where float32 differs
            if not todo:
                break
    finally:
        model.override, model.capture, model.captured, model.stop_after = {}, set(), {}, None
    return results


def inside(got, want):
    """Every measured box within the window (None: reads nothing)."""
    for k, g in got.items():
        w = want.get(k)
        if g is None:
            continue
        if w is None or any(a[0] < b[0] or a[1] > b[1] for a, b in zip(g, w)):
            return False
    return True


def verdict(r):
    """Equal boxes match.  Where a step on the path is global without index arithmetic (a matrix
    product, a permute: the analysis lets it read its whole input), the window is an upper bound: a
    measured window inside it matches, with a note."""
    if r.got == r.want:
        return MATCH
    if r.bounded and inside(r.got, r.want):
        note = "an upper bound: " + ", ".join(r.bounded) + " read their whole input in the analysis"
        r.note = (r.note + "; " if r.note else "") + note
        return MATCH
    return MISMATCH


def _measure(model, graph, build, todo, names, seed, dt, chunk):
    """Measure the units of ``todo`` in dtype ``dt`` and set their verdicts.

    Every sample of the twin would carry the same input, so the forward pass runs once, at batch 1,
    and each unit gets its own backward pass through the retained graph (a pass per unit also keeps
    a unit's gradient apart from another target's: summing the objectives of a node and of a node
    downstream of it into one backward lost the upstream node's gradient in torch 2.x, measured on
    EfficientNet-B0 at 128x128).  ``chunk`` units share a forward pass (the graph is kept alive)."""
    import torch
    model.stop_after = max(ref[0] for ref, _, _ in todo)
    xs0 = build.make_inputs(graph, 1, seed, dt, "cpu", positive=True)
    for s in range(0, len(todo), chunk):
        part = todo[s:s + chunk]
        model.capture = {ref[0] for ref, _, _ in part}
        model.captured = {}
        xs = tuple(x.clone().requires_grad_(True) for x in xs0)
        with torch.enable_grad():
            model(*xs)
            for b, (ref, u, r) in enumerate(part):
                y = model.captured[ref[0]][ref[1]]
                obj = y[(0, Ellipsis) + tuple(u)].sum() if u else y[0].sum()
                gs = torch.autograd.grad(obj, list(xs), retain_graph=b < len(part) - 1, allow_unused=True)
                r.got = {nm: None if gk is None else support(gk[0]) for nm, gk in zip(names, gs)}
                r.verdict = verdict(r)
                r.dtype = str(dt).replace("torch.", "")
        model.captured = {}
