"""Receptive field, measured: the support of an input gradient.

The analytical field of output unit ``u`` of a layer spans, per spatial axis, input coordinates
``[u*stride - padding, u*stride - padding + size - 1]`` (clipped to the input).  To measure it, the
model is turned into a *positive linear* network of the same geometry, so that the gradient of one
output unit is non-zero exactly where some path reaches the input:

- weights positive (all equal, each output's weights summing to 1, so values stay O(1) in deep
  networks), biases zero;
- max pooling replaced by average pooling of the same geometry (kernel, stride, padding, dilation,
  ceil_mode; a max pool's gradient reaches one pixel only), adaptive max by adaptive average;
- activations, normalisations and dropout replaced by the identity (they act per position; a
  saturating ReLU6/Hardsigmoid or a channel softmax would zero gradients that do exist);
- ``sub`` -> ``add``, ``div`` -> ``mul``, ``amax`` -> ``mean`` (signs and arg-max do not change which
  inputs are read, but could cancel or hide them);
- float32, positive inputs, eval mode.

The bounding box of the support is compared with the analytical field for the centre unit and for
both corner units (which checks the padding on each side).  Dilated kernels and strided stacks read
a field with holes: the bounding box is what the receptive field describes.
"""
from __future__ import annotations

from fractions import Fraction

from .verdicts import MATCH, MISMATCH, NOT_COVERED


def _is_int(x):
    return isinstance(x, int) or (isinstance(x, float) and x.is_integer()) or \
        (isinstance(x, Fraction) and x.denominator == 1)


def _per_input(analysis, n):
    """The node's field per network input name, from the analysis's receptive-field state."""
    from ..core.numbers import num as _num
    state = getattr(analysis, "rf_state", {}).get((n.id, 0)) or {}
    return {src: {"size": [_num(x) for x in f["r"]], "stride": [_num(x) for x in f["j"]],
                  "padding": [_num(-Fraction(x)) for x in f["start"]], "global": bool(f["glob"]),
                  "data_dependent": bool(f["data"])} for src, f in state.items()}


def _fractional_paths(analysis):
    """Node id -> why the field is approximate on a path into it (fractional stride, dilation), or ""."""
    g = analysis.g
    out = {}
    for n in g.nodes:
        if n.is_input:
            out[n.id] = False
            continue
        mine = ""
        try:
            st = n.kind.rf()
            if any(not _is_int(x) for x in tuple(st.s) + tuple(st.p) + tuple(st.k)):
                mine = "a transposed convolution or an upsampling (fractional stride) lies on the path: " \
                       "the analytical field is an approximation there"
        except Exception:
            pass
        geo = n.kind.geometry()
        if not mine and geo is not None and any(d > 1 for d in geo.dilation):
            mine = "a dilated kernel lies on the path: its field has holes, and taps that fall in the " \
                   "padding leave parts of the clipped field unread"
        if not mine and n.kind.copies_border:
            mine = "padding that copies input pixels (reflect, replicate, circular) lies on the path: border " \
                   "units read pixels outside the zero-padding field"
        pads, kext = (list(zip(geo.pad_lo, geo.pad_hi)) if geo is not None else None), _step_k(n)
        if not mine and pads and kext and any(max(p) >= k for p, k in zip(pads, kext)):
            mine = "a layer padded by as much as its kernel reaches lies on the path: units over its padding " \
                   "read nothing, which the field formula does not model"
        if not mine and len(n.inputs) > 1 and _merges(n) and any(
                tuple(g.shape(r)[1:]) != tuple(n.out_shapes[0][1:]) for r in n.inputs):
            mine = "an input broadcast over space (e.g. [C, 1, 1] * [C, H, W]) lies on the path: every output " \
                   "reads its one pixel, which the field (size 1, stride 1) does not describe"
        out[n.id] = mine or next((out[i] for i, _ in n.inputs if out.get(i)), "")
    return out


def _merges(n):
    """An elementwise merge (its inputs broadcast against each other), not a concatenation."""
    try:
        return n.kind.rf().kind == "merge" and not n.kind.concatenates
    except Exception:  # noqa: BLE001 - a kind without a receptive-field step
        return False


def _step_k(n):
    """The node's effective kernel extents per axis, or "" when it has none."""
    try:
        st = n.kind.rf()
    except Exception:
        return ""
    return tuple(st.k) if st.kind == "window" and st.k else ""


def pick_layer(analysis, report):
    """The last layer with a spatial output and a window-type integer receptive field."""
    g = analysis.g
    layers = {L["name"]: L for L in report["layers"]}
    best = None
    reason = "no layer with a spatial output"
    frac = _fractional_paths(analysis)
    for n in g.nodes:
        if n.is_input or not n.out_shapes or len(n.out_shapes[0]) < 2:
            continue
        rf = layers[n.name].get("rf")
        if not rf:
            continue
        per = _per_input(analysis, n)
        if not per:
            continue
        if any(f["global"] for f in per.values()):
            reason = "the receptive field is global (every output sees the whole input)"
            continue
        if any(f["data_dependent"] for f in per.values()):
            reason = "the receptive field is data dependent (deformable convolution)"
            continue
        if not all(_is_int(x) for f in per.values() for k in ("size", "stride", "padding") for x in f[k]):
            reason = "fractional receptive-field stride (transposed convolution or upsampling)"
            continue
        if any(len(f["size"]) != len(n.out_shapes[0]) - 1 for f in per.values()):
            continue
        if frac.get(n.id):
            reason = frac[n.id]
            continue
        best = (n, per)
    return best, reason


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


def _prepare(model, g):
    """Make the model positive and linear (see the module docstring), in place."""
    positive_weights(model)
    ov = {}
    for n in g.nodes:
        if n.is_input:
            continue
        stand_in = n.kind.linearised()
        if stand_in is not None:
            ov[n.id] = stand_in
    return ov


def check_rf(res, analysis, report, model):
    """Add receptive-field checks for the chosen layer (centre and both corner units).

    One backward pass gives all gradients: the batch holds four copies of the input, and sample
    0, 1, 2 back-propagate the centre, first-corner and last-corner unit, sample 3 every unit (the
    input region the layer reads at all: a strided layer whose windows do not tile its input
    leaves the last pixels unread, which a field formula cannot know).
    """
    import torch
    from .build import make_inputs
    g = analysis.g
    picked, reason = pick_layer(analysis, report)
    if picked is None:
        res.add("receptive field", "layer", "", None, None, NOT_COVERED, reason)
        return
    n, per = picked
    model.override = _prepare(model, g)
    model.capture = {n.id}
    model.captured = {}
    model.stop_after = n.id
    model.to(torch.float32).eval()
    xs = make_inputs(g, 1, res.seed, torch.float32, "cpu", positive=True)
    xs = tuple(x.expand((4,) + tuple(x.shape[1:])).clone().requires_grad_(True) for x in xs)
    try:
        with torch.enable_grad():
            model(*xs)
            y = model.captured[n.id][0]
            sp = tuple(y.shape[2:])
            units = {"centre": tuple(s // 2 for s in sp), "first corner": (0,) * len(sp),
                     "last corner": tuple(s - 1 for s in sp)}
            obj = sum(y[(b, slice(None)) + u].sum() for b, u in enumerate(units.values())) + y[3].sum()
            # backward(inputs=...) rather than autograd.grad: the same gradients, and it tolerates global
            # module hooks that other tools (a FlopCounterMode left open) may have installed
            torch.autograd.backward(obj, inputs=[x for x in xs])
            grads = [x.grad for x in xs]
    finally:
        model.override = {}
        model.capture = set()
        model.captured = {}
        model.stop_after = None
    names = [g.nodes[i].name for i in g.inputs]
    for iname, gr in zip(names, grads):
        f = per.get(iname)
        if f is None:
            continue
        L = g.nodes[g.inputs[names.index(iname)]].out_shapes[0][1:]
        reach = _support(gr[3:4]) if gr is not None else None
        field = f"size {[int(x) for x in f['size']]}, stride {[int(x) for x in f['stride']]}, " \
                f"padding {[int(x) for x in f['padding']]}"
        unread = [] if reach is None else [
            f"axis {ax}: input [{hi + 1}, {L[ax] - 1}] read by no output" for ax, (lo, hi) in enumerate(reach)
            if hi < L[ax] - 1] + [f"axis {ax}: input [0, {lo - 1}] read by no output" for ax, (lo, hi) in
                                  enumerate(reach) if lo > 0]
        for b, (label, u) in enumerate(units.items()):
            want = []
            for ax in range(len(sp)):
                s, j, p = int(f["size"][ax]), int(f["stride"][ax]), int(f["padding"][ax])
                lo = u[ax] * j - p
                hi = lo + s - 1
                if reach is not None:
                    want.append((max(lo, 0, reach[ax][0]), min(hi, L[ax] - 1, reach[ax][1])))
                else:
                    want.append((max(lo, 0), min(hi, L[ax] - 1)))
            if any(lo > hi for lo, hi in want):
                want = None           # the unit sees only padding
            got = _support(gr[b:b + 1]) if gr is not None else None
            who = f"{n.name} unit {list(u)} ({label})" + (f", input {iname}" if len(names) > 1 else "")
            note = field + ("; " + "; ".join(unread) if unread else "")
            if got is None and want is not None and label != "centre":
                # a layer padded by more than its kernel reaches: this unit reads only an intermediate
                # layer's zero padding, while the field formula assumes every position reads the input
                res.add("receptive field (gradient support)", "layer", who, _box_text(want), "none", NOT_COVERED,
                        "the unit reads only zero padding of an intermediate layer (padding >= kernel "
                        "extent); the field formula assumes every position reads the input; " + note)
                continue
            res.add("receptive field (gradient support)", "layer", who, _box_text(want), _box_text(got),
                    MATCH if got == want else MISMATCH, note)


def _support(grad):
    """Per spatial axis, the [first, last] coordinate with a non-zero gradient (None when none)."""
    if grad is None:
        return None
    nz = grad.detach().abs().sum(dim=(0, 1)) > 0
    if not bool(nz.any()):
        return None
    out = []
    for ax in range(nz.dim()):
        other = tuple(d for d in range(nz.dim()) if d != ax)
        line = nz.any(dim=other) if other else nz
        idx = line.nonzero().flatten()
        out.append((int(idx.min()), int(idx.max())))
    return out


def _box_text(box):
    if box is None:
        return "none"
    return " x ".join(f"[{lo}, {hi}]" for lo, hi in box)
