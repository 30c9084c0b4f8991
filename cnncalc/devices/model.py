"""The memory of a training step and of inference on one device: the analytical model of
core/memory.py plus what the CUDA runtime adds (a device profile's terms), walked as a timeline.

No torch here.  The walks are those of core/memory.py (same liveness, same saved tensors, same gradient
buffers) with these additions, each a term of the profile (docs/memory.md, "Device profiles"):

* every allocation is rounded up to the caching allocator's block (512 bytes);
* fixed workspaces (cuBLAS's, one per thread that runs matrix multiplies) are alive throughout;
* while a convolution runs, its forward or backward workspace is alive (workspace.py);
* gradients: SGD is run with ``zero_grad(set_to_none=False)`` (the ``.grad`` tensors stay allocated all
  step, each new weight gradient is a temporary added into them); the other optimizers with torch's
  default ``zero_grad()`` (set_to_none): ``.grad`` is freed before the step and each weight gradient
  becomes ``.grad`` when its layer's backward produces it, so gradients grow during backward;
* the optimizer step: weights + gradients + state + the step's temporaries (foreach Adam's
  ``sqrt(exp_avg_sq)``: one more parameter-sized set; fused Adam/AdamW none: torch's ``_fused_adam``
  hands params, grads, exp_avg and exp_avg_sq to one ``torch._fused_adam_`` kernel per device and dtype,
  which updates them in place, and increments the step counts in place with ``_foreach_add_``: no
  intermediate lists.  Its step counts are on the device (one float32 scalar per parameter tensor, a
  512-byte block each: 82 KB for ResNet-50's 161 tensors), not modelled);
* mixed precision: each conv/linear weight's 16-bit copy is made at its layer's forward and freed after
  its backward (autocast's cache, saved for backward), its 16-bit gradient is a temporary beside the
  32-bit one, and the ops the profile lists as float32 islands write float32 outputs;
* a block's input stays alive until the block returns (the caller's frame holds it: workspace.frame_ends);
* mixed precision: the input stays float32 and autocast's 16-bit copy of it lives beside it;
* the loss's target (int64 per sample) is held with the input.
"""
from __future__ import annotations

from ..conventions import MAC_RULES
from ..core import memory as M
from . import workspace as W

# How the step is run: SGD with zero_grad(set_to_none=False), the others with torch's default.
SET_TO_NONE = {"sgd": False, "momentum": True, "adam": True, "adamw": True, "adam-fused": True, "adamw-fused": True}


def _is_mac_layer(n) -> bool:
    return any(t.rules[0] in MAC_RULES for t in n.kind.terms())


class _Peak:
    """The largest total seen, where, and what was alive then."""

    def __init__(self):
        self.total, self.phase, self.at, self.parts = -1, None, None, None

    def see(self, phase, at, parts: dict):
        t = sum(parts.values())
        if t > self.total:
            self.total, self.phase, self.at, self.parts = t, phase, at, dict(parts)


def _static(act, profile, prec, amp):
    """Per-node rounded bytes of weights, gradients, optimizer-state tensors and AMP weight copies."""
    R = lambda x: W.rounded(x, profile)    # noqa: E731
    weights = grads = state1 = 0
    cast = {}
    for n in act.g.nodes:
        if n.is_input:
            continue
        L = act.costs.layers[n.id]
        weights += R(L.params * prec.weight) + R(L.buffers * prec.weight)
        grads += R(L.params * prec.grad)
        state1 += R(L.params * prec.state)
        if amp and L.params and _is_mac_layer(n):
            cast[n.id] = R(L.params * profile["amp"]["cast_dtype_bytes"])
    return weights, grads, state1, cast


def device_breakdown(a, profile: dict, optimizer: str = M.DEFAULT_OPTIMIZER, amp: bool = False,
                     dtype: str | None = None) -> dict:
    """The breakdown of core.memory.breakdown with the device's terms; every total is the device's."""
    base = M.breakdown(a, optimizer, amp, dtype)
    prec = M.precision(dtype or a.g.dtype, amp)
    slots = M.optimizer_slots(optimizer)
    act = M._activation_facts(a, prec)
    g = act.g
    B = g.batch
    R = lambda x: W.rounded(x, profile)    # noqa: E731
    weights, grads_all, state1, cast = _static(act, profile, prec, amp)
    state = slots * state1
    temps = int(profile["optimizer_temporaries"].get(optimizer, 0.0) * state1)
    fixed = sum(w["bytes"] for w in profile["fixed_workspaces"])
    backward_thread = sum(w["bytes"] for w in profile["fixed_workspaces"] if w.get("thread") == "backward")
    target = R(B * 8)
    fp32_ops = set(profile["amp"]["fp32_ops"]) if amp else set()
    isz = act.itemsize

    input_ids = set(g.inputs)

    def ssize(sid, extra=None):
        b = act.store.size[sid] if sid in act.store.size else extra[sid]
        if amp and sid[0] == "s" and sid[1] in input_ids:
            # the caller's input stays float32; autocast's 16-bit copy of it is kept for the first
            # layer's backward (inference: while the first layer runs)
            return R(b * prec.weight // isz) + R(b)
        if fp32_ops and sid[0] == "s" and g.nodes[sid[1]].op in fp32_ops:
            b = b * 4 // isz
        return R(b)

    def wsf(n):
        return W.forward_workspace(n.kind, B, isz, profile)

    def wsb(n):
        return W.backward_workspace(n.kind, B, isz, profile)

    layers = [{"name": n.name, "workspace_forward": wsf(n), "workspace_backward": wsb(n),
               "amp_cast_copy": cast.get(n.id, 0)} for n in g.nodes if not n.is_input]

    # ------------------------------------------------------------------ inference (eval, no_grad)
    inf = _Peak()
    store = {}
    for n in g.nodes:
        if n.is_input:
            store[(n.id, 0)] = act.store.of[(n.id, 0)]
            continue
        alias = (n.kind.view or n.kind.eval_identity) and n.inputs
        for i in range(len(n.out_shapes)):
            store[(n.id, i)] = store[n.inputs[0]] if alias else act.store.of[(n.id, i)]
    held = {store[(i, 0)] for i in g.inputs} | {store[r] for r in g.outputs}
    frames = W.frame_ends(g)
    last = {}
    for n in g.nodes:
        for r in n.inputs:
            last[store[r]] = max(last.get(store[r], -1), n.id, frames.get(r, -1))
    dies = {}
    for sid, nid in last.items():
        dies.setdefault(nid, []).append(sid)
    live, cur = {}, 0
    for i in g.inputs:
        sid = store[(i, 0)]
        live[sid] = ssize(sid)
        cur += live[sid]
    inf_w = weights + sum(cast.values())
    inf.see("forward", None, {"weights": inf_w, "activations": cur, "workspace": fixed})
    for n in g.nodes:
        if n.is_input:
            continue
        for i in range(len(n.out_shapes)):
            sid = store[(n.id, i)]
            if sid not in live:
                live[sid] = ssize(sid)
                cur += live[sid]
        scratch = sum(R(b) for sid, b in M.saved_storages(act, n) if sid[0] == "t" and sid[2] == "indices")
        inf.see("forward", n.name, {"weights": inf_w, "activations": cur + scratch, "workspace": fixed + wsf(n)})
        born = [store[(n.id, i)] for i in range(len(n.out_shapes))]
        for sid in dies.get(n.id, []) + [x for x in born if x not in last]:
            if sid in live and sid not in held:
                cur -= live.pop(sid)

    # ------------------------------------------------------------------ training step
    to_none = SET_TO_NONE.get(optimizer, True)
    rg = M.requires_grad(act)
    held = {act.store.of[(i, 0)] for i in g.inputs} | {act.store.of[r] for r in g.outputs}
    last, release, extra, node_saved = {}, {}, {}, {}
    for n in g.nodes:
        for r in n.inputs:
            last[act.store.of[r]] = max(last.get(act.store.of[r], -1), n.id, frames.get(r, -1))
        if n.is_input or not rg[n.id]:
            continue
        sv = M.saved_storages(act, n)
        node_saved[n.id] = sv
        for sid, b in sv:
            if sid not in act.store.size:
                extra[sid] = b
            release[sid] = min(release.get(sid, n.id), n.id)
    pinned = set(release)
    dies = {}
    for sid, nid in last.items():
        dies.setdefault(nid, []).append(sid)
    tr = _Peak()
    g_static = 0 if to_none else grads_all
    live, cur = {}, 0
    for i in g.inputs:
        sid = act.store.of[(i, 0)]
        live[sid] = ssize(sid)
        cur += live[sid]
    cast_alive = 0
    cast_seen = set()

    def saved_alive():
        return sum(v for s, v in live.items() if s in pinned)

    for n in g.nodes:
        if n.is_input:
            continue
        if n.id in cast and n.module not in cast_seen:
            cast_seen.add(n.module)
            cast_alive += cast[n.id]
        new = [act.store.of[(n.id, i)] for i in range(len(n.out_shapes))]
        new += [sid for sid, _ in node_saved.get(n.id, []) if sid in extra]
        for sid in new:
            if sid not in live:
                live[sid] = ssize(sid, extra)
                cur += live[sid]
        tr.see("forward", n.name, {"weights": weights + cast_alive, "gradients": g_static, "optimizer": state,
                                   "saved_activations": saved_alive(), "peak_transient": cur - saved_alive() + target,
                                   "workspace": fixed + wsf(n)})
        for sid in dies.get(n.id, []) + [x for x in new if x not in last]:
            if sid in live and sid not in held and sid not in pinned:
                cur -= live.pop(sid)

    gbytes, gref, pend, calls_left = {}, {}, {}, {}
    cast_of_module = {}
    for n in g.nodes:
        if not n.is_input and rg[n.id]:
            calls_left[n.module] = calls_left.get(n.module, 0) + 1
        if n.id in cast:
            cast_of_module.setdefault(n.module, cast[n.id])
    for r in g.outputs:
        if rg[r[0]] and r not in gref:
            gbytes[("g",) + r] = R(M._tensor_bytes(act, r))
            gref[r] = ("g",) + r
    gsum = sum(gbytes.values())
    psum = 0
    gacc = g_static                # parameter gradients alive (.grad)
    has_grad = set()
    for n in reversed(g.nodes):
        if n.is_input or not rg[n.id]:
            continue
        outs = [(n.id, i) for i in range(len(n.out_shapes))]
        out_gids = [gref[r] for r in outs if r in gref]
        targets = []
        for r in n.inputs:
            if rg[r[0]] and r not in targets:
                targets.append(r)
        produced = []
        for r in targets:
            alias = None
            if out_gids and len(outs) == 1:
                shape = act.g.shape(r)
                if n.op == "cat" or (n.op == "add" and shape == n.out_shapes[0]) or (
                        shape and n.kind.grad_passes_through(shape)):
                    alias = out_gids[0]
            if alias is not None:
                produced.append((r, alias, 0))
            else:
                produced.append((r, ("g",) + r + (n.id,), R(M._tensor_bytes(act, r))))
        new = sum(b for _, _, b in produced)
        P = R(act.costs.layers[n.id].module_params * prec.grad)
        half = R(act.costs.layers[n.id].module_params * profile["amp"]["cast_dtype_bytes"]) if n.id in cast or (
            n.module in cast_of_module) else 0
        becomes_grad = to_none and P and n.module not in has_grad
        tr.see("backward", n.name, {"weights": weights + cast_alive, "gradients": gacc + psum + P + half,
                                    "optimizer": state, "saved_activations": saved_alive(),
                                    "peak_transient": cur - saved_alive() + gsum + new + target,
                                    "workspace": fixed + wsb(n)})
        for r, gid, b in produced:
            if r in gref:
                continue
            gref[r] = gid
            if b:
                gbytes[gid] = b
                gsum += b
        for r in outs:
            gref.pop(r, None)
        alive = set(gref.values())
        for gid in list(gbytes):
            if gid not in alive:
                gsum -= gbytes.pop(gid)
        calls_left[n.module] -= 1
        if becomes_grad:
            has_grad.add(n.module)
            gacc += P
        elif P and not to_none:
            if calls_left[n.module] > 0 and n.module not in pend:
                pend[n.module] = P
                psum += P
            elif calls_left[n.module] == 0:
                psum -= pend.pop(n.module, 0)
        if calls_left[n.module] == 0 and n.module in cast_of_module:
            cast_alive -= cast_of_module.pop(n.module)
        for sid, _ in node_saved.get(n.id, []):
            if release.get(sid) == n.id and sid in live and sid not in held:
                cur -= live.pop(sid)
    x_bytes = sum(ssize(act.store.of[(i, 0)]) for i in g.inputs)
    tr.see("optimizer", None, {"weights": weights, "gradients": grads_all, "optimizer": state + temps,
                               "saved_activations": 0, "peak_transient": x_bytes + target, "workspace": fixed})

    out = dict(base)
    p = tr.parts
    out.update({
        "model": "device:" + profile["name"],
        "device": profile["name"],
        "weights": p["weights"], "gradients": p["gradients"], "optimizer": p["optimizer"],
        "saved_activations": p["saved_activations"], "peak_transient": p["peak_transient"],
        "workspace": p["workspace"],
        "training_peak": tr.total, "training_peak_phase": tr.phase, "training_peak_at": tr.at,
        "inference_peak": inf.total, "inference_peak_at": inf.at,
        "inference_workspace": inf.parts["workspace"],
        "inference_peak_fresh_process": inf.total - backward_thread,
        "optimizer_temporaries": temps, "fixed_workspace": fixed,
        "zero_grad_set_to_none": to_none,
        "analytical": {"training_peak": base["training_peak"], "inference_peak": base["inference_peak"]},
        "device_layers": layers,
    })
    return out
