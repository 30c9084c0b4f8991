"""Independent measurements on the real model: shapes, parameters, FLOPs, saved tensors, peak memory.

None of these reuse the analytical formulas: shapes come from the interpreter's values,
parameters from ``module.parameters()``, FLOPs from ``FlopCounterMode`` and ``fvcore``, saved bytes
from ``torch.autograd.graph.saved_tensors_hooks``, peak memory from the CUDA allocator.
"""
from __future__ import annotations

import warnings


def measure_shapes(model, inputs):
    """Output shapes of every node (batch included), from one eval forward."""
    import torch
    model.record = True
    model.shapes = {}
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        model.record = False
    return dict(model.shapes)


def measure_params(model):
    """Parameters and buffers of the whole model (shared modules once) and per distinct module."""
    total_p = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total_b = sum(b.numel() for b in model.buffers())
    per = {}
    for key, m in model._mods.items():
        per[key] = (sum(p.numel() for p in m.parameters()), sum(b.numel() for b in m.buffers()))
    return {"params": total_p, "trainable_params": trainable, "buffers": total_b, "per_module": per}


def measure_fcm(model, inputs, per_node=None):
    """FlopCounterMode's forward total and its per-module counts (keys: our module paths); with a dict
    ``per_node``, also what it counted while each node ran (node id -> FLOPs, tensor functions included).

    The same eval forward records every node's output shapes in ``model.shapes``."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    model.record = True
    model.shapes = {}
    fcm = FlopCounterMode(display=False)
    last = [None, 0]

    def on_node(n):       # the counter's running total at each node boundary
        now = fcm.get_total_flops()
        if last[0] is not None:
            per_node[last[0].id] = now - last[1]
        last[:] = [n, now]
    if per_node is not None:
        model.on_node = on_node
    try:
        with torch.no_grad():
            with fcm:
                model(*inputs)
    finally:
        model.record = False
        model.on_node = None
    counts = fcm.get_flop_counts()
    prefix = type(model).__name__ + "."
    per = {}
    for name, ops in counts.items():
        if name.startswith(prefix):
            per[name[len(prefix):]] = int(sum(ops.values()))
    return int(fcm.get_total_flops()), per


def measure_fvcore(model, inputs):
    """fvcore.nn.FlopCountAnalysis total and by_module (keys: qualified module names)."""
    import logging
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis
        fa = FlopCountAnalysis(model, tuple(inputs))
        fa.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        total = int(fa.total())
        per = {k: int(v) for k, v in fa.by_module().items()}
        unsupported = dict(fa.unsupported_ops())
    return total, per, unsupported


def _unlinked(t):
    """What a measuring pack hook keeps: the tensor without its autograd history.  Returning `t` itself
    for a tensor an op saves of its own output (ReLU, sigmoid, ...) makes a cycle through autograd's C++
    graph (output -> grad_fn -> saved output) that Python's collector cannot see: the whole forward
    graph, weights included, then lives until the process ends (0.1 GB per ResNet-50 at 64x64).  The
    measurement never runs backward, so the history is not needed."""
    return t.detach()


def measure_saved(model, inputs):
    """Bytes autograd saves for backward in train mode, per node, deduplicated by storage.

    A pack hook sees every tensor an autograd node saves; the node running at that moment
    (the interpreter reports it) is charged with the tensor's whole storage, unless that storage
    was charged before (the first saver pays, as in the analysis) or is a parameter or buffer.
    """
    import torch
    state_ptrs = set()
    for t in list(model.parameters()) + list(model.buffers()):
        state_ptrs.add(t.untyped_storage().data_ptr())
    current = [None]
    seen = set()
    per = {}
    items = {}

    def on_node(n):
        current[0] = n

    def pack(t):
        st = t.untyped_storage()
        ptr = st.data_ptr()
        n = current[0]
        if ptr in state_ptrs or st.nbytes() == 0 or n is None:
            return t
        if ptr not in seen:
            seen.add(ptr)
            per[n.id] = per.get(n.id, 0) + st.nbytes()
            items.setdefault(n.id, []).append((tuple(t.shape), str(t.dtype).replace("torch.", ""), st.nbytes()))
        return _unlinked(t)

    def unpack(t):
        return t

    was_training = model.training
    model.train()
    model.on_node = on_node
    try:
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            out = model(*inputs)
    finally:
        model.on_node = None
        model.train(was_training)
    del out
    return sum(per.values()), per, items


def measure_cuda_peak(model, inputs):
    """Peak allocated CUDA memory (model weights included) of an eval forward, and of a training step
    (forward + backward, gradients included, no optimizer)."""
    import torch
    dev = inputs[0].device
    torch.cuda.synchronize(dev)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(dev)
    model.eval()
    with torch.no_grad():
        out = model(*inputs)
    torch.cuda.synchronize(dev)
    fwd = torch.cuda.max_memory_allocated(dev)
    del out
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(dev)
    model.train()
    try:
        out = model(*inputs)
        outs = out if isinstance(out, tuple) else (out,)
        loss = sum(o.float().sum() for o in outs if o.is_floating_point() and o.requires_grad)
        if torch.is_tensor(loss):
            loss.backward()
        torch.cuda.synchronize(dev)
        step = torch.cuda.max_memory_allocated(dev)
        del out, outs, loss
    finally:
        model.zero_grad(set_to_none=True)
        model.eval()
        torch.cuda.empty_cache()
    return fwd, step
