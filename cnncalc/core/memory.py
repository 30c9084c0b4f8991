"""Memory and training cost: inference peak, training peak and its breakdown, backward work split.

Everything here reads an `Analysis` (its per-layer numbers and its storage maps) and never imports
torch.  The model of memory is documented in docs/memory.md; in short:

inference peak
    weights (parameters + buffers) + the largest set of live activations while a forward pass runs
    under ``torch.no_grad()``: the nodes run in topological order, a node's outputs are allocated
    while its inputs are still alive, and a tensor is freed after its last use (as the fx
    interpreter frees values).  Views (Flatten, reshape, in-place activations, chunk ...) share their
    input's storage; Dropout is the identity in eval mode.  The graph inputs are held by the caller
    for the whole pass, and the graph outputs survive it.

training peak
    weights + gradients + optimizer state + activations, where activations are the larger of
      * the forward walk: live tensors as above, except that a tensor autograd saved for backward is
        not freed (it is pinned until the backward of the last node that saved it), and
      * the backward walk: nodes in reverse order; while a node's backward runs, alive are the saved
        tensors not yet released, the inputs/outputs the caller holds, the gradients of activations
        already produced and not yet consumed, and the gradients this node is producing for its
        inputs and its parameters (until added into ``.grad``).  After the node, its output gradients
        and the saved tensors only it still needed are freed; a gradient arriving for a tensor that
        already has one is added in place; gradient buffers are shared as autograd shares them (views,
        cat's slices, add's pass-through).
    and the breakdown reports it as ``saved_activations`` (all tensors saved for backward at the end
    of forward) + ``peak_transient`` (the rest of the activation peak above them).
    Gradients of parameters are counted whole for the whole step (steady state with
    ``zero_grad(set_to_none=False)``; an upper bound for the default ``set_to_none=True``).
    Not modelled: workspaces of kernels (cuDNN, im2col), allocator rounding and fragmentation, the
    CUDA context.

A node whose inputs need no gradient and that has no parameters records nothing for autograd (torch
saves nothing for it): its saved tensors are not counted here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# Optimizer state: number of per-parameter state tensors, each the size of the parameter.
OPTIMIZERS = {
    "sgd": (0, "SGD without momentum keeps no state"),
    "momentum": (1, "SGD with momentum keeps one momentum buffer per parameter"),
    "adam": (2, "Adam keeps exp_avg and exp_avg_sq per parameter"),
    "adamw": (2, "AdamW keeps exp_avg and exp_avg_sq per parameter"),
    "adam-fused": (2, "Adam (fused=True) keeps exp_avg and exp_avg_sq per parameter; its step makes no "
                      "parameter-sized temporaries"),
    "adamw-fused": (2, "AdamW (fused=True) keeps exp_avg and exp_avg_sq per parameter; its step makes no "
                       "parameter-sized temporaries"),
}
#: `--fused`: the fused implementation of an optimizer (SGD's foreach step makes no temporaries either,
#: so for sgd and momentum the model is the same)
FUSED = {"adam": "adam-fused", "adamw": "adamw-fused", "sgd": "sgd", "momentum": "momentum"}
DEFAULT_OPTIMIZER = "adam"
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
from ..conventions import is_mac  # noqa: E402
from .facts import run_passes  # noqa: E402

# Nominal memory of common accelerators, in bytes (GiB as marketed: 16 GB cards hold 16 GiB).
GiB = 2 ** 30
DEVICES = {
    "t4": (16 * GiB, "NVIDIA T4 16GB"),
    "v100-16gb": (16 * GiB, "NVIDIA V100 16GB"),
    "v100-32gb": (32 * GiB, "NVIDIA V100 32GB"),
    "a100-40gb": (40 * GiB, "NVIDIA A100 40GB"),
    "a100-80gb": (80 * GiB, "NVIDIA A100 80GB"),
    "h100": (80 * GiB, "NVIDIA H100 80GB"),
    "h100-80gb": (80 * GiB, "NVIDIA H100 80GB"),
    "h200": (141 * 10 ** 9, "NVIDIA H200 141GB"),
    "a10": (24 * GiB, "NVIDIA A10 24GB"),
    "a10g": (24 * GiB, "NVIDIA A10G 24GB"),
    "l4": (24 * GiB, "NVIDIA L4 24GB"),
    "l40s": (48 * GiB, "NVIDIA L40S 48GB"),
    "rtx3090": (24 * GiB, "NVIDIA GeForce RTX 3090 24GB"),
    "rtx4090": (24 * GiB, "NVIDIA GeForce RTX 4090 24GB"),
    "rtxa6000": (48 * GiB, "NVIDIA RTX A6000 48GB"),
}
_ALIASES = {"v10016gb": "v100-16gb", "v10032gb": "v100-32gb",
            "a10040gb": "a100-40gb", "a10080gb": "a100-80gb", "h10080gb": "h100-80gb", "t416gb": "t4",
            "l424gb": "l4", "h200141gb": "h200", "a6000": "rtxa6000"}
_AMBIGUOUS = {"v100": ("v100-16gb", "v100-32gb"), "a100": ("a100-40gb", "a100-80gb")}


class MemoryError_(ValueError):
    """A bad --fit / --optimizer value; the message says what is accepted."""


def device_bytes(name: str):
    """`a100-80gb`, `A100 80GB`, `rtx 4090`, `T4` -> (bytes, label); None when unknown."""
    key = name.strip().lower().replace("nvidia", "").replace("geforce", "").replace(" ", "").replace("_", "")
    flat = key.replace("-", "")
    if flat in _AMBIGUOUS:
        raise MemoryError_(f"`{name}` comes in several sizes: write " + " or ".join(_AMBIGUOUS[flat]))
    for k in DEVICES:
        if k.replace("-", "") == flat:
            return DEVICES[k]
    if flat in _ALIASES:
        return DEVICES[_ALIASES[flat]]
    return None


_SIZE = None
#: byte multiple of each size unit, case-insensitive: k/m/g/t/p (with or without `b`) are decimal
#: (1 GB = 10**9 bytes, as memory is sold and as `16GB` has always meant here), ki/mi/gi/ti/pi binary
#: (1 GiB = 2**30 bytes, as nvidia-smi and torch count)
SIZE_UNITS = {"": 1, "b": 1, "bytes": 1,
              **{p + s: 10 ** (3 * (i + 1)) for i, p in enumerate("kmgtp") for s in ("", "b")},
              **{p + "i" + s: 2 ** (10 * (i + 1)) for i, p in enumerate("kmgtp") for s in ("", "b")}}


def parse_size(text: str, what: str = "--fit") -> int:
    """`24GiB`, `24gib`, `24 GB`, `1.5g`, `8e9`, `512MiB` -> bytes (an int, rounded down).  Units are
    case-insensitive; GB, G and the like are decimal (10**9), GiB binary (2**30).  ValueError when the
    text is not a size; MemoryError_ when it is one but is not positive or absurdly large."""
    global _SIZE
    import re
    from decimal import Decimal, InvalidOperation
    if _SIZE is None:
        _SIZE = re.compile(r"\s*([0-9][0-9,_]*(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?)\s*([a-z]*)\s*\Z", re.I)
    m = _SIZE.match(str(text))
    if not m or m.group(2).lower() not in SIZE_UNITS:
        raise ValueError(f"`{text}` is not a size")
    try:
        v = Decimal(m.group(1).replace(",", "").replace("_", "")) * SIZE_UNITS[m.group(2).lower()]
    except InvalidOperation:
        raise ValueError(f"`{text}` is not a size") from None
    if v > 2 ** 50:
        raise MemoryError_(f"{what} {text}: more than 1 PiB, far beyond any device; give a device's memory "
                           "(24GiB, 80GB) or its name")
    return int(v)


def parse_budget(text: str):
    """`24GiB`, `24gib`, `16GB`, `8e9`, or a device name -> (bytes, label)."""
    try:
        v = parse_size(text)
    except ValueError as e:
        if isinstance(e, MemoryError_):
            raise
    else:
        if v <= 0:
            raise MemoryError_(f"--fit needs a positive memory size, got `{text}`")
        return v, text
    dev = device_bytes(text)
    if dev is None:
        from ..errors import suggest
        s = suggest(text.lower(), list(DEVICES))
        raise MemoryError_(f"--fit: `{text}` is neither a size (24GiB, 16GB; any case: GB = 10^9 bytes, "
                           f"GiB = 2^30) nor a known device"
                           + (f"; did you mean {' or '.join(s)}?" if s else "")
                           + " (known: " + ", ".join(DEVICES) + ")")
    return dev


#: What `--fit` leaves free beside the estimated peak unless `--reserve` or a profile's measured
#: `context_reserve_bytes` says otherwise: 1 GiB, an ESTIMATE, not measured by this project.  It is
#: the CUDA context of a PyTorch process (commonly reported at 300 to 600 MiB with CUDA's lazy module
#: loading, torch's default since CUDA 11.7: 512 MiB taken) plus the caching allocator's reserved but
#: unallocated slack (its segments are 2 MiB for small tensors and 20 MiB or the rounded size for
#: large ones, so partly used segments stay reserved: 512 MiB taken).  ../shared/gpu/context.py
#: measures both; docs/memory.md says how to replace this figure with a measured one.
DEFAULT_RESERVE_BYTES = 1 << 30
DEFAULT_RESERVE_NOTE = ("estimate, not measured: 512 MiB for the CUDA context (commonly 300-600 MiB per "
                        "PyTorch process) + 512 MiB of caching-allocator slack; --reserve SIZE to change it")


@dataclass(frozen=True)
class Precision:
    """Bytes per element of each kind of tensor."""

    name: str
    activation: int      # activations and their gradients
    weight: int          # stored parameters (fp32 master weights under AMP) and buffers
    grad: int            # parameter gradients (the parameters' dtype)
    state: int           # optimizer state elements (the parameters' dtype)
    cast_copy: int = 0   # AMP: the 16-bit copy of conv/linear weights autocast makes (kept for backward)
    act_dtype: str = "float32"


def precision(dtype: str = "float32", amp: bool = False) -> Precision:
    if amp:
        half = dtype if dtype in ("float16", "bfloat16") else "float16"
        return Precision(f"amp ({half} activations, float32 master weights)", 2, 4, 4, 4, 2, half)
    b = DTYPE_BYTES[dtype]
    return Precision(dtype, b, b, b, b, 0, dtype)


def optimizer_slots(name: str) -> int:
    if name not in OPTIMIZERS:
        raise MemoryError_(f"unknown optimizer `{name}`: use " + ", ".join(OPTIMIZERS))
    return OPTIMIZERS[name][0]


# ---------------------------------------------------------------------------- graph facts
# Every function below reads ``facts``: the passes' frozen results (``core.facts.Facts``, or the
# Analysis, which holds the same attributes: g, conventions, itemsize, flow, costs, layout, store, saved).
def requires_grad(facts) -> dict:
    """node id -> whether its output is part of the autograd graph (``passes.gradients``)."""
    return facts.flow.in_autograd


def saved_storages(facts, n):
    """[(storage id, bytes)] autograd saves at node n, bytes as the saved-tensor pass computed them."""
    return [(it.storage, it.bytes) for it in facts.saved.layers[n.id].saved_items]


def _tensor_bytes(facts, ref):
    return math.prod(facts.g.full_shape(ref)) * facts.itemsize


def _bytes_of(facts, sid, extra):
    return facts.store.size[sid] if sid in facts.store.size else extra[sid]


# ---------------------------------------------------------------------------- walks
# One walk for inference and one for a training step, for every memory model: the walks decide what is
# alive when (liveness of activations, tensors saved for backward, gradient buffers); a model's
# ``Terms`` decide how large each allocation is and what else is alive beside the activations
# (weights, parameter gradients, optimizer state, library workspaces), and keep the peak.  ``Terms``
# below is the analytical model; a device profile's terms subclass it (devices/model.py).
class Terms:
    """The analytical model's terms: exact tensor bytes, a storage freed after its last reader, the
    activation peaks of the forward and backward walks (weights, gradients and state are added to them
    by ``breakdown``)."""

    def __init__(self, facts, grad_bytes_per_param=None):
        self.facts = facts
        self.gbpp = facts.itemsize if grad_bytes_per_param is None else grad_bytes_per_param
        self.inf_peak, self.inf_at = 0, None
        self.fpeak, self.fat = 0, None
        self.bpeak, self.bat = 0, None
        self.calls_left, self.pend, self.psum = {}, {}, 0
        rg = requires_grad(facts)
        for n in facts.g.nodes:
            if not n.is_input and rg[n.id]:
                self.calls_left[n.module] = self.calls_left.get(n.module, 0) + 1

    # ---- sizes and lifetimes
    def size(self, sid, nbytes: int) -> int:
        """Bytes allocated for an activation storage of nbytes."""
        return nbytes

    def grad_size(self, nbytes: int) -> int:
        """Bytes allocated for an activation gradient of nbytes."""
        return nbytes

    def scratch(self, nbytes: int) -> int:
        """Bytes of a scratch tensor made and dropped within one node (max pooling's indices)."""
        return nbytes

    def held_until(self, ref, nid: int) -> int:
        """The node after which a tensor read by node nid may be freed (its reader: the fx interpreter
        frees a value after its last use)."""
        return nid

    # ---- inference: called with the live activation bytes at the start and at each node
    def inference_start(self, act: int):
        self.inf_peak, self.inf_at = act, None

    def inference_step(self, n, act: int):
        if act > self.inf_peak:
            self.inf_peak, self.inf_at = act, n.name

    # ---- training step
    def forward_start(self, cur: int, saved: int):
        self.fpeak, self.fat = cur, None

    def forward_step(self, n, cur: int, saved: int):
        """After node n's outputs (and the tensors it saves) are allocated."""
        if cur > self.fpeak:
            self.fpeak, self.fat = cur, n.name

    def backward_start(self, cur: int, saved: int):
        self.bpeak, self.bat = cur, None

    def backward_step(self, n, cur: int, saved: int, gsum: int, new: int):
        """While node n's backward runs: ``cur`` live activations (``saved`` of them saved for
        backward), ``gsum`` activation gradients waiting, ``new`` the input gradients it produces.  Its
        parameter gradients exist beside ``.grad`` until added into it; for a module called several
        times (``share:``) they wait until its last call's backward."""
        P = self.facts.costs.layers[n.id].module_params * self.gbpp
        t = cur + gsum + self.psum + new + P
        if t > self.bpeak:
            self.bpeak, self.bat = t, n.name
        self._P = P

    def backward_done(self, n):
        self.calls_left[n.module] -= 1
        P = self._P
        if P:
            if self.calls_left[n.module] > 0 and n.module not in self.pend:
                self.pend[n.module] = P
                self.psum += P
            elif self.calls_left[n.module] == 0:
                self.psum -= self.pend.pop(n.module, 0)


def walk_inference(facts, terms: Terms):
    """A forward pass under ``torch.no_grad()`` (see the module docstring); reports to ``terms``."""
    g = facts.g
    store = {}
    for n in g.nodes:
        if n.is_input:
            store[(n.id, 0)] = facts.store.of[(n.id, 0)]
            continue
        for i in range(len(n.out_shapes)):
            alias = facts.layout.is_view(n, i) or (n.kind.eval_identity and n.inputs)
            store[(n.id, i)] = store[n.inputs[0]] if alias else facts.store.of[(n.id, i)]
    held = {store[(i, 0)] for i in g.inputs} | {store[r] for r in g.outputs}
    last = {}
    for n in g.nodes:
        for r in n.inputs:
            last[store[r]] = max(last.get(store[r], -1), terms.held_until(r, n.id))
    dies = {}
    for sid, nid in last.items():
        dies.setdefault(nid, []).append(sid)
    live, cur = {}, 0
    for i in g.inputs:
        sid = store[(i, 0)]
        live[sid] = terms.size(sid, facts.store.size[sid])
        cur += live[sid]
    terms.inference_start(cur)
    for n in g.nodes:
        if n.is_input:
            continue
        for i in range(len(n.out_shapes)):
            sid = store[(n.id, i)]
            if sid not in live:
                live[sid] = terms.size(sid, facts.store.size[sid])
                cur += live[sid]
        # max pooling computes its int64 indices even without autograd, and drops them at once
        scratch = sum(terms.scratch(b) for sid, b in saved_storages(facts, n) if sid[0] == "t" and sid[2] == "indices")
        terms.inference_step(n, cur + scratch)
        born = [store[(n.id, i)] for i in range(len(n.out_shapes))]
        for sid in dies.get(n.id, []) + [x for x in born if x not in last]:
            if sid in live and sid not in held:
                cur -= live.pop(sid)
    return terms


def walk_training(facts, terms: Terms) -> int:
    """A training step's forward and backward (see the module docstring); reports to ``terms``.
    Returns the bytes of all tensors saved for backward."""
    g = facts.g
    rg = requires_grad(facts)
    held = {facts.store.of[(i, 0)] for i in g.inputs} | {facts.store.of[r] for r in g.outputs}
    last, release = {}, {}
    extra = {}
    node_saved = {}
    for n in g.nodes:
        for r in n.inputs:
            sid = facts.store.of[r]
            last[sid] = max(last.get(sid, -1), terms.held_until(r, n.id))
        if n.is_input or not rg[n.id]:
            continue
        sv = saved_storages(facts, n)
        node_saved[n.id] = sv
        for sid, b in sv:
            if sid not in facts.store.size:
                extra[sid] = b
            release[sid] = min(release.get(sid, n.id), n.id)   # freed after the backward of this node
    pinned = set(release)

    # forward: a storage can be freed after its last reader (or at once if nothing reads it)
    dies = {}
    for sid, nid in last.items():
        dies.setdefault(nid, []).append(sid)
    live, cur, saved = {}, 0, 0
    for i in g.inputs:
        sid = facts.store.of[(i, 0)]
        live[sid] = terms.size(sid, facts.store.size[sid])
        cur += live[sid]
        saved += live[sid] if sid in pinned else 0
    terms.forward_start(cur, saved)
    for n in g.nodes:
        if n.is_input:
            continue
        new = [facts.store.of[(n.id, i)] for i in range(len(n.out_shapes))]
        new += [sid for sid, _ in node_saved.get(n.id, []) if sid in extra]
        for sid in new:
            if sid not in live:
                live[sid] = terms.size(sid, _bytes_of(facts, sid, extra))
                cur += live[sid]
                saved += live[sid] if sid in pinned else 0
        terms.forward_step(n, cur, saved)
        for sid in dies.get(n.id, []) + [x for x in new if x not in last]:
            if sid in live and sid not in held and sid not in pinned:
                cur -= live.pop(sid)
    saved_total = sum(_bytes_of(facts, sid, extra) for sid in pinned)

    # backward.  Gradient buffers are counted by storage: a reshape passes its gradient on as a view,
    # cat hands each input a slice of its output's gradient, add hands its output's gradient to each
    # same-shaped input; the buffer lives while any tensor still waits on it.
    gbytes = {}          # gradient buffer id -> bytes
    gref = {}            # tensor ref -> gradient buffer id
    for r in g.outputs:
        if rg[r[0]] and r not in gref:
            gbytes[("g",) + r] = terms.grad_size(_tensor_bytes(facts, r))
            gref[r] = ("g",) + r
    gsum = sum(gbytes.values())
    terms.backward_start(cur, saved)
    for n in reversed(g.nodes):
        if n.is_input or not rg[n.id]:
            continue
        outs = [(n.id, i) for i in range(len(n.out_shapes))]
        out_gids = [gref[r] for r in outs if r in gref]
        targets = []
        for r in n.inputs:
            if rg[r[0]] and r not in targets:
                targets.append(r)
        produced = []    # (input ref, gradient buffer id, bytes newly allocated)
        for r in targets:
            if out_gids and len(outs) == 1 and n.kind.grad_passes_through(facts.g.shape(r)):
                produced.append((r, out_gids[0], 0))
            else:
                produced.append((r, ("g",) + r + (n.id,), terms.grad_size(_tensor_bytes(facts, r))))
        terms.backward_step(n, cur, saved, gsum, sum(b for _, _, b in produced))
        for r, gid, b in produced:
            if r in gref:                     # accumulated in place into the gradient already there
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
        terms.backward_done(n)
        for sid, _ in node_saved.get(n.id, []):
            if release.get(sid) == n.id and sid in live and sid not in held:
                b = live.pop(sid)
                cur -= b
                saved -= b
    return saved_total


def inference_walk(facts):
    """-> (peak activation bytes, node name at the peak), the analytical model."""
    t = walk_inference(facts, Terms(facts))
    return t.inf_peak, t.inf_at


def training_walk(facts, grad_bytes_per_param=None):
    """-> dict(saved, forward_peak, backward_peak, peak, peak_at, phase), the analytical model.

    While a node's backward runs, the new gradients of its parameters (``grad_bytes_per_param`` each,
    the activation itemsize by default) exist beside ``.grad`` until they are accumulated into it; for
    a module called several times (``share:``) they wait until its last call's backward."""
    t = Terms(facts, grad_bytes_per_param)
    saved = walk_training(facts, t)
    fpeak, bpeak = t.fpeak, t.bpeak
    return {"saved": saved, "forward_peak": fpeak, "backward_peak": bpeak, "peak": max(fpeak, bpeak),
            "peak_at": t.bat if bpeak >= fpeak else t.fat, "phase": "backward" if bpeak >= fpeak else "forward"}


# ---------------------------------------------------------------------------- per layer
def backward_split(facts, n, needs_grad=None):
    """(input-gradient FLOPs, weight-gradient FLOPs, input MACs, weight MACs) of node n's backward,
    as the costs pass computed them: the weight part is the kind's backward work when no input
    gradient is needed; the input part is the rest (none for a node whose inputs need no gradient,
    such as the first layer)."""
    if n.is_input:
        return 0, 0, 0, 0
    c = facts.costs.layers[n.id]
    return c.bwd_input_flops, c.bwd_weight_flops, c.bwd_input_macs, c.bwd_weight_macs


def _num(x):
    return int(x) if float(x).is_integer() else float(x)


def layer_rows(facts):
    """Per layer: output bytes, saved bytes (each storage counted at the first node that saves it;
    nothing for nodes outside the autograd graph) and the backward work split."""
    rows = []
    for n in facts.g.nodes:
        if n.is_input:
            continue
        c = facts.costs.layers[n.id]
        m = facts.saved.layers[n.id]
        rows.append({"name": n.name, "op": n.op, "output_bytes": m.output_bytes,
                     "alloc_bytes": m.alloc_bytes, "saved_bytes": m.saved_bytes,
                     "fwd_flops": c.flops, "bwd_input_flops": _num(c.bwd_input_flops),
                     "bwd_weight_flops": _num(c.bwd_weight_flops),
                     "bwd_input_macs": c.bwd_input_macs, "bwd_weight_macs": c.bwd_weight_macs,
                     "needs_input_grad": c.needs_input_grad})
    return rows


# ---------------------------------------------------------------------------- breakdown
def cast_params(facts) -> int:
    """Parameters of the layers whose weights autocast copies to 16 bits (conv, linear: MAC layers)."""
    seen, total = set(), 0
    for n in facts.g.nodes:
        if n.is_input or n.module in seen:
            continue
        seen.add(n.module)
        if any(is_mac(t) for t in n.kind.terms()):
            total += facts.costs.layers[n.id].module_params
    return total


def _activation_facts(facts, prec: Precision):
    """The facts whose activation byte counts use the precision's activation dtype (the same
    gradient flow and costs; storage and saved tensors recomputed at that element size)."""
    if facts.g.dtype == prec.act_dtype or facts.itemsize == prec.activation:
        return facts
    return run_passes(facts.g, DTYPE_BYTES[prec.act_dtype], facts.flow, facts.costs, facts.layout)


def _param_totals(facts):
    layers = facts.costs.layers.values()
    return sum(c.params for c in layers), sum(c.buffers for c in layers)


def breakdown(facts, optimizer: str = DEFAULT_OPTIMIZER, amp: bool = False, dtype: str | None = None) -> dict:
    """The memory of one training step and of inference, in bytes, with the model's assumptions."""
    prec = precision(dtype or facts.g.dtype, amp)
    slots = optimizer_slots(optimizer)
    params, buffers = _param_totals(facts)
    cast = cast_params(facts) if prec.cast_copy else 0
    weights = (params + buffers) * prec.weight + cast * prec.cast_copy
    grads = params * prec.grad
    opt = params * slots * prec.state
    act = _activation_facts(facts, prec)
    tw = training_walk(act, prec.grad)
    inf_peak, inf_at = inference_walk(act)
    inf_weights = (params + buffers) * prec.weight + cast * prec.cast_copy
    return {
        "batch": facts.g.batch,
        "precision": prec.name,
        "activation_bytes_per_element": prec.activation,
        "optimizer_name": optimizer,
        "optimizer_state_tensors": slots,
        "bytes_per_param": {"weights": prec.weight, "gradients": prec.grad, "optimizer": slots * prec.state,
                            "amp_cast_copy": prec.cast_copy},
        "params": params,
        "weights": weights,
        "gradients": grads,
        "optimizer": opt,
        "saved_activations": tw["saved"],
        "peak_transient": tw["peak"] - tw["saved"],
        "training_peak": weights + grads + opt + tw["peak"],
        "training_peak_phase": tw["phase"],
        "training_peak_at": tw["peak_at"],
        "forward_activation_peak": tw["forward_peak"],
        "backward_activation_peak": tw["backward_peak"],
        "inference_activation_peak": inf_peak,
        "inference_peak": inf_weights + inf_peak,
        "inference_peak_at": inf_at,
    }


def train_flops(facts, dataset_size: int | None = None) -> dict:
    fwd = sum(c.flops for c in facts.costs.layers.values())
    bwd = sum(c.bwd_flops for c in facts.costs.layers.values())
    rows = layer_rows(facts)
    out = {"forward": _num(fwd), "backward": _num(bwd),
           "backward_input": _num(sum(r["bwd_input_flops"] for r in rows)),
           "backward_weight": _num(sum(r["bwd_weight_flops"] for r in rows)),
           "step": _num(fwd + bwd), "per_sample": (fwd + bwd) / facts.g.batch}
    if dataset_size:
        out["dataset_size"] = dataset_size
        out["steps_per_epoch"] = -(-dataset_size // facts.g.batch)
        out["epoch"] = _num((fwd + bwd) * dataset_size / facts.g.batch)
    return out


# ---------------------------------------------------------------------------- fitting a budget
def largest_batch(peak_of, budget: int, limit: int = 1 << 24):
    """Largest batch b >= 1 with peak_of(b) <= budget (0 if even 1 does not fit), and the number of
    analyses it took.  peak_of must grow with the batch.  The first guess extrapolates the straight
    line through b=1 and b=2 (every activation term is linear in the batch; per-channel statistics
    and weights are constant; the peak, a maximum of such lines, is piecewise linear); the answer is
    then confirmed, or searched for, with exact values."""
    calls = {}

    def f(b):
        if b not in calls:
            calls[b] = peak_of(b)
        return calls[b]

    if f(1) > budget:
        return 0, len(calls), calls
    slope = f(2) - f(1)
    guess = limit if slope <= 0 else max(1, min(limit, 1 + (budget - f(1)) // slope))
    if f(guess) <= budget and (guess == limit or f(guess + 1) > budget):
        return guess, len(calls), calls
    # bracket and bisect on exact values
    lo, hi = 1, None
    if f(guess) <= budget:
        lo, step = guess, max(1, guess // 16)
        while hi is None:
            b = min(limit, lo + step)
            if f(b) > budget:
                hi = b
            elif b == limit:
                return limit, len(calls), calls
            else:
                lo, step = b, step * 2
    else:
        hi = guess
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if f(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return lo, len(calls), calls


def report_memory(facts, optimizer: str = DEFAULT_OPTIMIZER, computed=None) -> dict:
    """The `memory` object of the analysis report: the training-step breakdown with the default
    optimizer (Adam: the most common choice for a first training run; `cnncalc memory -O` picks
    another) in the graph's dtype, without mixed precision."""
    b = computed if computed is not None else breakdown(facts, optimizer)
    keys = ("weights", "gradients", "optimizer", "saved_activations", "peak_transient", "training_peak",
            "inference_peak", "optimizer_name", "optimizer_state_tensors", "bytes_per_param", "precision",
            "training_peak_phase", "training_peak_at", "inference_peak_at")
    out = {k: b[k] for k in keys}
    out["status"] = "estimate"
    out["model"] = "docs/memory.md: no kernel workspaces, allocator overhead or CUDA context"
    return out
