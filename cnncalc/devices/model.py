"""The memory of a training step and of inference on one device: the analytical model of
core/memory.py plus what the CUDA runtime adds (a device profile's terms), walked as a timeline.

No torch here.  The walks are core/memory.py's own (``walk_inference``, ``walk_training``: same liveness,
same saved tensors, same gradient buffers); ``DeviceTerms`` gives them these terms of the profile in place
of the analytical ones (docs/memory.md, "Device profiles"):

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


class DeviceTerms(M.Terms):
    """The analytical walks' terms with the profile's: rounded allocations, a block's input held until the
    block returns, autocast's copies, fixed and per-layer workspaces, parameter gradients as the step's
    zero_grad leaves them; the peak kept with its parts (what was alive then)."""

    def __init__(self, act, profile, prec, amp, optimizer):
        super().__init__(act, prec.grad)
        g = act.g
        self.profile, self.prec, self.amp = profile, prec, amp
        self.R = lambda x: W.rounded(x, profile)    # noqa: E731
        self.weights, self.grads_all, state1, self.cast = _static(act, profile, prec, amp)
        self.state = M.optimizer_slots(optimizer) * state1
        self.temps = int(profile["optimizer_temporaries"].get(optimizer, 0.0) * state1)
        self.fixed = sum(w["bytes"] for w in profile["fixed_workspaces"])
        self.backward_thread = sum(w["bytes"] for w in profile["fixed_workspaces"] if w.get("thread") == "backward")
        self.target = self.R(g.batch * 8)
        self.fp32_ops = set(profile["amp"]["fp32_ops"]) if amp else set()
        self.isz = act.itemsize
        self.input_ids = set(g.inputs)
        self.frames = W.frame_ends(g)
        self.to_none = SET_TO_NONE.get(optimizer, True)
        self.inf, self.tr = _Peak(), _Peak()
        # what the training walk's parameter-gradient terms track
        self.g_static = 0 if self.to_none else self.grads_all
        self.gacc = self.g_static          # parameter gradients alive (.grad)
        self.has_grad, self.cast_seen, self.cast_alive = set(), set(), 0
        self.cast_of_module = {}
        for n in g.nodes:
            if n.id in self.cast:
                self.cast_of_module.setdefault(n.module, self.cast[n.id])

    # ---- sizes and lifetimes
    def size(self, sid, nbytes):
        g, prec = self.facts.g, self.prec
        if self.amp and sid[0] == "s" and sid[1] in self.input_ids:
            # the caller's input stays float32; autocast's 16-bit copy of it is kept for the first
            # layer's backward (inference: while the first layer runs)
            return self.R(nbytes * prec.weight // self.isz) + self.R(nbytes)
        if self.fp32_ops and sid[0] == "s" and g.nodes[sid[1]].op in self.fp32_ops:
            nbytes = nbytes * 4 // self.isz
        return self.R(nbytes)

    def grad_size(self, nbytes):
        return self.R(nbytes)

    def scratch(self, nbytes):
        return self.R(nbytes)

    def held_until(self, ref, nid):
        return max(nid, self.frames.get(ref, -1))    # a block's input: until the block returns

    def wsf(self, n):
        return W.forward_workspace(n.kind, n.kind.N, self.isz, self.profile)

    def wsb(self, n):
        return W.backward_workspace(n.kind, n.kind.N, self.isz, self.profile)

    # ---- inference (eval, no_grad)
    def _inf_weights(self):
        return self.weights + sum(self.cast.values())

    def inference_start(self, act):
        self.inf.see("forward", None, {"weights": self._inf_weights(), "activations": act, "workspace": self.fixed})

    def inference_step(self, n, act):
        self.inf.see("forward", n.name, {"weights": self._inf_weights(), "activations": act,
                                         "workspace": self.fixed + self.wsf(n)})

    # ---- training step
    def forward_start(self, cur, saved):
        pass

    def forward_step(self, n, cur, saved):
        if n.id in self.cast and n.module not in self.cast_seen:
            self.cast_seen.add(n.module)
            self.cast_alive += self.cast[n.id]
        self.tr.see("forward", n.name, {"weights": self.weights + self.cast_alive, "gradients": self.g_static,
                                        "optimizer": self.state, "saved_activations": saved,
                                        "peak_transient": cur - saved + self.target,
                                        "workspace": self.fixed + self.wsf(n)})

    def backward_start(self, cur, saved):
        pass

    def backward_step(self, n, cur, saved, gsum, new):
        layer = self.facts.costs.layers[n.id]
        P = self.R(layer.module_params * self.prec.grad)
        half = self.R(layer.module_params * self.profile["amp"]["cast_dtype_bytes"]) if (
            n.id in self.cast or n.module in self.cast_of_module) else 0
        self._P, self._becomes_grad = P, self.to_none and P and n.module not in self.has_grad
        self.tr.see("backward", n.name, {"weights": self.weights + self.cast_alive,
                                         "gradients": self.gacc + self.psum + P + half,
                                         "optimizer": self.state, "saved_activations": saved,
                                         "peak_transient": cur - saved + gsum + new + self.target,
                                         "workspace": self.fixed + self.wsb(n)})

    def backward_done(self, n):
        self.calls_left[n.module] -= 1
        P = self._P
        if self._becomes_grad:            # zero_grad() set .grad to None: this gradient becomes .grad
            self.has_grad.add(n.module)
            self.gacc += P
        elif P and not self.to_none:      # added into .grad, after the module's last call
            if self.calls_left[n.module] > 0 and n.module not in self.pend:
                self.pend[n.module] = P
                self.psum += P
            elif self.calls_left[n.module] == 0:
                self.psum -= self.pend.pop(n.module, 0)
        if self.calls_left[n.module] == 0 and n.module in self.cast_of_module:
            self.cast_alive -= self.cast_of_module.pop(n.module)

    def optimizer_step(self):
        g = self.facts.g
        x_bytes = sum(self.size(self.facts.store.of[(i, 0)], self.facts.store.size[self.facts.store.of[(i, 0)]])
                      for i in g.inputs)
        self.tr.see("optimizer", None, {"weights": self.weights, "gradients": self.grads_all,
                                        "optimizer": self.state + self.temps, "saved_activations": 0,
                                        "peak_transient": x_bytes + self.target, "workspace": self.fixed})


def device_breakdown(a, profile: dict, optimizer: str = M.DEFAULT_OPTIMIZER, amp: bool = False,
                     dtype: str | None = None) -> dict:
    """The breakdown of core.memory.breakdown with the device's terms; every total is the device's: the
    walks of core/memory.py with DeviceTerms."""
    base = M.breakdown(a, optimizer, amp, dtype)
    prec = M.precision(dtype or a.g.dtype, amp)
    act = M._activation_facts(a, prec)
    g = act.g
    inf_terms = DeviceTerms(act, profile, prec, amp, optimizer)
    M.walk_inference(act, inf_terms)
    t = DeviceTerms(act, profile, prec, amp, optimizer)
    M.walk_training(act, t)
    t.optimizer_step()
    inf, tr = inf_terms.inf, t.tr
    layers = [{"name": n.name, "workspace_forward": t.wsf(n), "workspace_backward": t.wsb(n),
               "amp_cast_copy": t.cast.get(n.id, 0)} for n in g.nodes if not n.is_input]

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
        "inference_peak_fresh_process": inf.total - t.backward_thread,
        "optimizer_temporaries": t.temps, "fixed_workspace": t.fixed,
        "zero_grad_set_to_none": t.to_none,
        "analytical": {"training_peak": base["training_peak"], "inference_peak": base["inference_peak"]},
        "device_layers": layers,
    })
    return out
