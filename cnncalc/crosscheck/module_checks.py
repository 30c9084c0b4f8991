"""Verify a ``MODULE:ATTR`` analysis on the user's own module, not only on a graph rebuilt from it.

Every figure is measured on a real copy of the module (built with the same seed as the analysis's
capture, fed seeded inputs of the analysed shapes):

- output shapes: forward hooks on every submodule (a module call's ``k``-th call is the node
  ``path``/``path_k``), and for the functions between modules either the traced ``torch.fx`` graph
  interpreted on the real inputs (an fx capture: one shape per fx node) or the same hooks and a
  ``TorchFunctionMode`` recording every call (a hooks capture: call by call);
- parameters and buffers: ``module.parameters()`` / ``module.buffers()``, and each called submodule's;
- FLOPs: ``FlopCounterMode`` (CPU, eval, no_grad: the `torch` preset) total and per module, and
  ``fvcore.nn.FlopCountAnalysis`` total and ``by_module()`` (the `fvcore` preset);
- bytes saved for backward: one training-mode forward under ``saved_tensors_hooks`` (storages
  deduplicated, parameters and buffers excluded).

torch is imported inside the functions.
"""
from __future__ import annotations

import warnings

from .verdicts import MATCH, MISMATCH, NOT_COVERED

OWN = " (own module)"


def is_module_analysis(analysis) -> bool:
    info = getattr(analysis, "info", None)
    return isinstance(info, dict) and "node_call" in info and getattr(analysis, "capture", None) is not None


def real_module(analysis, seed):
    """A real copy of the analysed module, built under ``seed`` as the capture built its copy, and the
    seeded inputs (a hooks capture ran on those very weights and inputs)."""
    import torch
    rebuild = analysis.info.get("rebuild")
    model = analysis.model
    on_meta = any(t.is_meta for t in list(model.parameters()) + list(model.buffers()))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if rebuild is not None:
            model = rebuild()
        elif on_meta:
            return None, None
        xs = tuple(torch.randn(tuple(s)) for _, s in analysis.capture.inputs)
    return model.eval(), xs


def _texts(shapes):
    return " ".join("[" + ", ".join(map(str, s)) + "]" for s in shapes) if shapes is not None else None


def _module_calls(model, xs, known):
    """One eval forward under no_grad with FlopCounterMode: output shapes per (module path, call index),
    and FlopCounterMode's total and per-module counts (its module names, root stripped)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..frontends.capture import _tensor_leaves
    shapes, counts, handles = {}, {}, []
    for path, m in model.named_modules():
        if not path:
            continue

        def post(mod, args, out, _p=path):
            k = counts.get(_p, 0)
            counts[_p] = k + 1
            ts, _, _ = _tensor_leaves(out, torch)
            shapes[(_p, k)] = [tuple(t.shape) for t in ts]
        handles.append(m.register_forward_hook(post))
    fcm = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), fcm:
            model(*xs)
    finally:
        for h in handles:
            h.remove()
    per = {}
    root = type(model).__name__
    for name, ops in fcm.get_flop_counts().items():
        if name.startswith(root + "."):
            per[name[len(root) + 1:]] = int(sum(ops.values()))
    return shapes, int(fcm.get_total_flops()), per


def _fx_shapes(model, xs, known):
    """Shapes of every fx node of the module traced as the capture traced it, run on the real inputs."""
    import inspect

    import torch
    import torch.fx as fx

    from ..frontends.capture import _is_leaf_type, _tensor_leaves

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m, qualname):
            return _is_leaf_type(m, known)
    params = list(inspect.signature(model.forward).parameters.values())
    concrete = {p.name: p.default for p in params[len(xs):] if p.default is not inspect.Parameter.empty}
    tr = Tracer()
    graph = tr.trace(model, concrete_args=concrete or None)
    gm = fx.GraphModule(tr.root, graph)
    out = {}

    class Interp(fx.Interpreter):
        def run_node(self, n):
            v = super().run_node(n)
            ts, _, _ = _tensor_leaves(v, torch)
            if ts:
                out[n.name] = [tuple(t.shape) for t in ts]
            return v
    with torch.no_grad():
        Interp(gm).run(*xs)
    return out


def _hook_calls(model, analysis, seed, known):
    """A hooks capture's calls, measured again on the real module and inputs (same seed)."""
    import torch

    from ..frontends.capture import capture_hooks
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        m = analysis.info["rebuild"]() if analysis.info.get("rebuild") else model
        cap = capture_hooks(m.eval(), analysis.capture.inputs, known)
    return {c.id: c for c in cap.calls}


def check_module(res, analysis, reload, phase, seed, fvcore=True):
    """Compare ``analysis`` (a ModuleAnalysis) with measurements on the real module; True when run."""
    from ..frontends.mapping import known_module
    g = analysis.g
    with phase("build the module"):
        model, xs = real_module(analysis, seed)
    if model is None:
        res.notes.append("the module was given on the meta device: it cannot be run")
        return False
    calls = {c.id: c for c in analysis.capture.calls}
    node_call = analysis.info["node_call"]
    dd = analysis.info.get("data_dependent") or ()
    if dd:
        res.notes.append(f"data-dependent: the work of {len(dd)} node(s) depends on the input's values (NMS, RoIs, "
                         f"masks): the module is measured on the same seeded weights and input (seed {seed}) as the "
                         "analysis")
    nodes = [n for n in g.nodes if not n.is_input]
    opaque = set(analysis.info.get("opaque", ()))
    report = analysis.report()

    # --- shapes, FlopCounterMode
    with phase("forward on the module: shapes, FlopCounterMode"):
        try:
            mshapes, fcm_total, fcm_per = _module_calls(model, xs, known_module)
        except Exception as e:
            res.add("forward pass" + OWN, "total", "", "runs", f"{type(e).__name__}: {str(e)[:200]}", MISMATCH,
                    "the module fails on inputs of the analysed shapes")
            return True
        fx_shapes, hook_calls = {}, {}
        try:
            if analysis.capture.method == "fx":
                fx_shapes = _fx_shapes(model, xs, known_module)
            else:
                hook_calls = _hook_calls(model, analysis, seed, known_module)
        except Exception as e:   # noqa: BLE001
            res.notes.append(f"functions between modules not measured ({type(e).__name__}: {str(e)[:120]})")
    ok = bad = none = 0
    for n in nodes:
        c = calls.get(node_call.get(n.id))
        want = [g.full_shape((n.id, i)) for i in range(len(n.out_shapes))]
        if n.id in opaque and c is not None:
            want = [tuple(s) for s in c.out_shapes]   # measured at capture, the batch where it was
        got = None
        how = ""
        if c is not None and c.how == "module" and c.scope:
            got, how = mshapes.get(c.scope[-1]), "forward hook"
        elif c is not None and getattr(c, "fx_name", None):
            got, how = fx_shapes.get(c.fx_name), "fx node run on the module"
        elif c is not None and c.id in hook_calls:
            got, how = hook_calls[c.id].out_shapes, "function call recorded on the module"
        if got is None:
            none += 1
            continue
        got = [tuple(s) for s in got][:len(want)]
        v = MATCH if got == want else MISMATCH
        ok += v == MATCH
        bad += v == MISMATCH
        res.add("output shape" + OWN, "layer", n.name, _texts(want), _texts(got), v, how if v == MISMATCH else "")
    if none:
        res.notes.append(f"{none} node(s) not reached by a hook or an fx node on the module: shapes not compared")

    # --- parameters and buffers
    with phase("parameters of the module"):
        t = report["totals"]
        uniq = {id(p): p for p in model.parameters()}.values()
        res.add("parameters" + OWN, "total", "", t["params"], sum(p.numel() for p in uniq))
        res.add("trainable parameters" + OWN, "total", "", t["trainable_params"],
                sum(p.numel() for p in uniq if p.requires_grad))
        res.add("buffers" + OWN, "total", "", t["buffers"], sum(b.numel() for b in model.buffers()))
        mods = dict(model.named_modules())
        seen = set()
        for n in nodes:
            c = calls.get(node_call.get(n.id))
            if c is None or c.how != "module" or c.path in seen or c.path not in mods:
                continue
            seen.add(c.path)
            res.add("parameters" + OWN, "module", c.path, analysis.layer[n.id]["module_params"],
                    sum(p.numel() for p in mods[c.path].parameters()))

    # --- FLOPs: FlopCounterMode, fvcore
    from .tool_totals import _blind_work, _tool_total
    a_t = reload(convention="torch")
    tn = [n for n in a_t.g.nodes if not n.is_input]
    blind, labels = _blind_work(a_t, tn, "FlopCounterMode")
    _tool_total(res, "FLOPs (torch convention) vs FlopCounterMode" + OWN, "FlopCounterMode",
                a_t.totals()["flops"], fcm_total, blind, labels)
    _per_module_flops(res, a_t, tn, node_call, calls, fcm_per, "FLOPs (torch) per module" + OWN, labels,
                      "FlopCounterMode", opaque)
    if fvcore:
        with phase("FLOPs on the module: fvcore"):
            _fvcore(res, reload, model, xs, node_call, calls, opaque)

    # --- saved for backward
    with phase("saved for backward on the module"):
        _saved(res, analysis, model, xs, opaque, node_call, calls)
    return True


def _per_module_flops(res, a2, nodes, node_call, calls, per, check, labels, tool, opaque):
    from .tool_totals import blind_reason
    sums, members = {}, {}
    for n in nodes:
        c = calls.get(node_call.get(n.id))
        if c is None or c.how != "module":
            continue
        sums[c.path] = sums.get(c.path, 0) + a2.layer[n.id]["flops"]
        members.setdefault(c.path, []).append(n.id)
    for path, an in sums.items():
        got = per.get(path, 0)
        ls = [labels[i] for i in members[path] if i in labels]
        if an == got:
            res.add(check, "module", path, an, got, MATCH, blind_reason(tool, ls) if ls else "")
        elif any(i in opaque for i in members[path]):
            res.add(check, "module", path, an, got, NOT_COVERED, "an opaque node: its work is measured, not analysed")
        else:
            res.add(check, "module", path, an, got)


def _fvcore(res, reload, model, xs, node_call, calls, opaque):
    from .tool_totals import _blind_work, _tool_total
    from .measure import measure_fvcore
    a2 = reload(convention="fvcore")
    nodes = [n for n in a2.g.nodes if not n.is_input]
    tot = a2.totals()["flops"]
    check = "FLOPs (fvcore convention) vs fvcore" + OWN
    try:
        total, per, unsupported = measure_fvcore(model, xs)
    except Exception as e:   # noqa: BLE001  (fvcore traces with torch.jit: not every module traces)
        res.add(check, "total", "", tot, None, NOT_COVERED,
                f"fvcore could not trace the module ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})")
        return
    blind, labels = _blind_work(a2, nodes, "fvcore")
    skipped = ("fvcore skipped: " + ", ".join(sorted(unsupported))) if unsupported else ""
    if tot != total and opaque:
        res.add(check, "total", "", tot, total, NOT_COVERED,
                f"{len(opaque)} opaque node(s) are measured by FlopCounterMode, not analysed: fvcore's count of "
                "them is not modelled" + (f"; {skipped}" if skipped else ""))
    else:
        _tool_total(res, check, "fvcore", tot, total, blind, labels, skipped)
    _per_module_flops(res, a2, nodes, node_call, calls, per, "FLOPs (fvcore) per module" + OWN, labels, "fvcore",
                      opaque)


def _saved(res, analysis, model, xs, opaque, node_call, calls):
    """One training forward under saved_tensors_hooks: each new storage is charged to the innermost
    module running when it is packed (the first saver pays, as in the analysis)."""
    import torch
    want = analysis.totals()["saved_bytes"]
    check = "bytes saved for backward" + OWN
    state = set()
    for t in list(model.parameters()) + list(model.buffers()):
        state.add(t.untyped_storage().data_ptr())
    seen, per, stack = set(), {}, [""]

    def pack(t):
        st = t.untyped_storage()
        ptr = st.data_ptr()
        if ptr not in state and ptr not in seen and st.nbytes():
            seen.add(ptr)
            per[stack[-1]] = per.get(stack[-1], 0) + st.nbytes()
        return t
    handles = []

    def post(mod, args, out):   # returns None: the output stays the module's
        stack.pop()
    for path, m in model.named_modules():
        if path:
            handles.append(m.register_forward_pre_hook(lambda mod, a, _p=path: stack.append(_p) and None))
            handles.append(m.register_forward_hook(post))
    model.train()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                out = model(*xs)
        del out
    except Exception as e:   # noqa: BLE001  (a detector wants targets in training; batch norm one value)
        res.add(check, "total", "", want, None, NOT_COVERED,
                f"the module cannot run a training forward on these inputs ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:150] if str(e) else ''})")
        return
    finally:
        model.eval()
        for h in handles:
            h.remove()
    got = sum(per.values())
    # per module called once, without submodules: what was packed while it ran
    mods = dict(model.named_modules())
    by_path = {}
    for n in analysis.g.nodes:
        c = calls.get(node_call.get(n.id))
        if c is not None and c.how == "module" and c.path in mods and not list(mods[c.path].children()):
            by_path.setdefault(c.path, []).append(n)
    layer = {L["name"]: L for L in analysis.report()["layers"]}
    gaps = {p: ns[0] for p, ns in by_path.items() if len(ns) == 1 and ns[0].id not in opaque and ns[0].kind.saved_gap()}
    off = sum(per.get(p, 0) - layer[n.name]["saved_bytes"] for p, n in gaps.items())
    if want != got and opaque:
        res.add(check, "total", "", want, got, NOT_COVERED,
                f"{len(opaque)} opaque node(s): what they save is not analysed")
    elif want != got and gaps and want + off == got:
        res.add(check, "total", "", want, got, NOT_COVERED,
                "the rest matches; " + "; ".join(sorted({n.kind.saved_gap() for n in gaps.values()})))
    else:
        res.add(check, "total", "", want, got)
    for path, ns in by_path.items():
        if len(ns) != 1:
            continue
        n = ns[0]
        a = layer[n.name]["saved_bytes"]
        m = per.get(path, 0)
        gap = n.kind.saved_gap() if n.id not in opaque else ""
        v = MATCH if a == m else (NOT_COVERED if n.id in opaque or gap else MISMATCH)
        res.add("saved for backward" + OWN, "layer", n.name, a, m, v,
                "" if v == MATCH else ("an opaque node: not analysed" if n.id in opaque else
                                       gap or f"{type(mods[path]).__name__} in training mode"))
