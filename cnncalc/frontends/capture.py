"""Capture a module's calls: ``torch.fx`` symbolic tracing, or forward hooks during a real run.

Both captures produce the same thing: a list of :class:`Call` records in execution order, each
naming what was called (a leaf module, a function, a tensor method), its arguments with tensors
replaced by :class:`Ref` (the output of an earlier call or a graph input) or :class:`PRef` (a
parameter or buffer, by qualified name), the shapes of its tensor outputs (batch included), the
FLOPs ``FlopCounterMode`` measured for it, and the module scope it ran in.

1. ``fx``: ``torch.fx`` symbolic tracing with known module types as leaves, then an interpreter runs
   the traced graph on the ``meta`` device (no arithmetic, no memory) to get every shape and to
   resolve Python values computed from shapes (``x.view(x.size(0), -1)``).
2. ``hooks`` (fallback when tracing fails, e.g. data-dependent control flow): one real run on a
   random input of the given shape, with forward hooks on leaf modules and a ``TorchFunctionMode``
   recording functional calls; calls are connected by tensor identity.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Ref:
    """The ``idx``-th tensor output of call ``call`` (call -1..-k: graph inputs)."""

    call: int
    idx: int = 0


@dataclass(frozen=True)
class PRef:
    """A parameter or buffer of the root module, by qualified name."""

    name: str


def refs_in(v, cls=None) -> list:
    """The distinct references (``Ref``, or ``cls``: ``PRef``) inside an argument structure, in order."""
    cls = cls or Ref
    out = []

    def walk(x):
        if isinstance(x, cls):
            if x not in out:
                out.append(x)
        elif isinstance(x, (tuple, list)):
            for y in x:
                walk(y)
        elif isinstance(x, dict):
            for y in x.values():
                walk(y)
    walk(v)
    return out


def int_itemsizes(ts) -> list:
    """Per tensor: its bytes per element when it is not a floating-point tensor (indices, masks), else None:
    a float tensor takes the dtype the analysis is asked for."""
    return [None if (t.dtype.is_floating_point or t.dtype.is_complex) else t.element_size() for t in ts]


def call_refs(c, cls=None) -> list:
    """The distinct activations (or, with ``cls=PRef``, parameters and buffers) a call reads."""
    return refs_in((c.args, c.kwargs), cls)


@dataclass
class Call:
    id: int
    how: str                  # "module", "function", "method"
    target: object            # module instance, function, or method name
    path: str                 # module path for "module" calls, "" otherwise
    scope: tuple              # ((module path, call index), ...) of the enclosing modules (a module call: itself last)
    args: tuple
    kwargs: dict
    out_shapes: list          # tensor outputs' shapes, batch included
    multi: bool = False       # the output is a tuple/list of tensors
    flops: int = 0            # measured by FlopCounterMode
    flop_ops: dict = field(default_factory=dict)
    value_ok: bool = True     # every output is a tensor
    site: tuple | None = None  # (file, line) of the call in the model's source
    int_itemsizes: list = field(default_factory=list)   # per output: bytes per element of a non-float tensor
    #                                                     (bool 1, int64 8), None for a float (the model's dtype)


@dataclass
class Capture:
    method: str               # "fx" or "hooks"
    inputs: list              # [(name, shape with batch)]
    calls: list
    outputs: list             # [Ref]
    note: str = ""
    batches: dict | None = None   # Ref -> the tensor's batch, from a second capture (frontends.batch_fold)


def call_site():
    """(file, line) of the innermost frame outside torch and this package: where the model's code
    made the call.  Walking frames is cheap, unlike fx's ``record_stack_traces``."""
    import os
    import sys
    f = sys._getframe(1)
    here = os.path.dirname(os.path.abspath(__file__))
    pkg = os.path.dirname(here)
    while f is not None:
        fn = f.f_code.co_filename
        if fn.startswith(here) or f"{os.sep}torch{os.sep}" in fn or fn.startswith("<"):
            f = f.f_back
            continue
        if fn.startswith(pkg):      # back in cnncalc: no model code made this call (torch's own forward)
            return None
        return fn, f.f_lineno
    return None


def _is_leaf_type(m, known) -> bool:
    import torch.nn as nn
    if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
        return False
    if known(m) is not None:
        return True
    mod = type(m).__module__ or ""
    # any other torch.nn module is a leaf (an opaque node) rather than traced through
    return mod.startswith("torch.nn.") and not mod.startswith("torch.nn.modules.container")


def _flops(fc):
    total = fc.get_total_flops()
    ops = {}
    for _mod, d in fc.get_flop_counts().items():
        for op, n in d.items():
            ops[str(op)] = max(ops.get(str(op), 0), int(n))
        break   # the "Global" entry holds every op
    return int(total), ops


def _tensor_leaves(v, torch):
    """Tensors in an output value (a tensor, or a tuple/list of tensors), and whether that is all."""
    if isinstance(v, torch.Tensor):
        return [v], False, True
    if isinstance(v, (tuple, list)):
        ts = [x for x in v if isinstance(x, torch.Tensor)]
        return ts, True, len(ts) == len(v) and len(ts) > 0
    return [], False, False


def constant():
    """The target of a captured constant: a tensor torch.fx computed while tracing, from no input, and
    folded into the traced module as an attribute (``_tensor_constant0``)."""


# ----------------------------------------------------------------------------- fx
def capture_fx(model, inputs, known):
    """inputs: [(name, shape with batch)].  Raises on a tracing failure."""
    import torch
    import torch.fx as fx
    from torch.utils.flop_counter import FlopCounterMode

    stack = []
    counts = {}

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m, qualname):
            return _is_leaf_type(m, known)

        def call_module(self, m, forward, args, kwargs):
            path = self.path_of_module(m)
            k = counts.get(path, 0)
            counts[path] = k + 1
            stack.append((path, k))
            try:
                return super().call_module(m, forward, args, kwargs)
            finally:
                stack.pop()

        def create_node(self, kind, target, args, kwargs, name=None, type_expr=None):
            n = super().create_node(kind, target, args, kwargs, name, type_expr)
            n.meta["cnn_scope"] = tuple(stack)
            if kind.startswith("call_"):
                n.meta["cnn_site"] = call_site()
            return n

    import inspect
    sig_names = [p for p in inspect.signature(model.forward).parameters]
    concrete = {}
    if len(inputs) < len(sig_names):
        # extra forward arguments with defaults are bound to their defaults
        for p in list(inspect.signature(model.forward).parameters.values())[len(inputs):]:
            if p.default is not inspect.Parameter.empty:
                concrete[p.name] = p.default
    tracer = Tracer()
    graph = tracer.trace(model, concrete_args=concrete or None)
    gm = fx.GraphModule(tracer.root, graph)

    # meta copies of parameters and buffers, swapped in for the run
    metas = {}
    for name, t in list(gm.named_parameters(remove_duplicate=False)) + \
            list(gm.named_buffers(remove_duplicate=False)):
        metas[name] = torch.empty_like(t, device="meta")
    try:
        from torch.nn.utils.stateless import _reparametrize_module
    except ImportError:  # pragma: no cover
        _reparametrize_module = None

    calls: list[Call] = []
    model_tensors = list(model.parameters()) + list(model.buffers())
    owned = {n for n, _ in list(model.named_parameters(remove_duplicate=False)) +
             list(model.named_buffers(remove_duplicate=False))}
    ptrs = {t.untyped_storage().data_ptr() for t in model_tensors if not t.is_meta}

    def _made_from_nothing(target):
        """A folded tensor that is not a view of the model's parameters or buffers (those stay references
        to them: a relative position index read through a view)."""
        t = getattr(tracer.root, target, None)
        return isinstance(t, torch.Tensor) and not t.is_meta and t.untyped_storage().data_ptr() not in ptrs
    refs = {}       # fx node -> ref structure (Ref, tuple of Refs, or a plain value)
    phs = [n for n in graph.nodes if n.op == "placeholder"]
    fc = FlopCounterMode(display=False)

    def to_ref(a):
        return fx.node.map_arg(a, lambda n: refs[n])

    class Interp(fx.Interpreter):
        def run_node(self, n):
            if n.op == "placeholder":
                v = super().run_node(n)
                refs.setdefault(n, v)      # a tensor input's Ref is preset; a concrete argument is its value
                return v
            if n.op == "output":
                return super().run_node(n)
            if n.op == "get_attr":
                v = super().run_node(n)
                if isinstance(v, torch.Tensor) and n.target not in owned and _made_from_nothing(n.target):
                    # a tensor the tracer computed from no input and folded into the traced module
                    # (torch.arange(4.0).view(1, 4)): a constant, recorded as a call without arguments
                    c = Call(len(calls), "function", constant, "", n.meta.get("cnn_scope", ()), (), {},
                             [tuple(v.shape)], False, 0, {}, True)
                    c.int_itemsizes = int_itemsizes([v])
                    c.fx_name = n.name
                    c.site = n.meta.get("cnn_site")
                    calls.append(c)
                    refs[n] = Ref(c.id, 0)
                    return v
                refs[n] = PRef(n.target) if isinstance(v, torch.Tensor) else v
                return v
            # getitem on a captured tuple: a reference, not a call
            if n.op == "call_function" and n.target.__name__ == "getitem" and isinstance(n.args[0], fx.Node):
                src = refs.get(n.args[0])
                if isinstance(src, (tuple, list)) and isinstance(n.args[1], int):
                    v = super().run_node(n)
                    refs[n] = src[n.args[1]]
                    return v
            with fc:
                v = super().run_node(n)
            ts, multi, allt = _tensor_leaves(v, torch)
            if not ts:
                refs[n] = v if not isinstance(v, torch.Tensor) else None
                return v
            total, ops = _flops(fc)
            if n.op == "call_module":
                how, target, path = "module", self.module.get_submodule(n.target), n.target
            elif n.op == "call_method":
                how, target, path = "method", n.target, ""
            else:
                how, target, path = "function", n.target, ""
            c = Call(len(calls), how, target, path, n.meta.get("cnn_scope", ()), to_ref(n.args), to_ref(n.kwargs),
                     [tuple(t.shape) for t in ts], multi, total, ops, allt)
            c.int_itemsizes = int_itemsizes(ts)
            c.fx_name = n.name
            c.site = n.meta.get("cnn_site")
            calls.append(c)
            if multi:
                k = iter(range(len(ts)))
                refs[n] = tuple(Ref(c.id, next(k)) if isinstance(x, torch.Tensor) else x for x in v)
            else:
                refs[n] = Ref(c.id, 0)
            return v

    ins = []
    for i, (ph, (name, shape)) in enumerate(zip(phs, inputs)):
        refs[ph] = Ref(-1 - i, 0)
        ins.append(torch.empty(shape, device="meta"))
    if len(phs) < len(inputs):
        raise ValueError(f"forward takes {len(phs)} tensor input(s) ({', '.join(p.target for p in phs)}), "
                         f"--input gave {len(inputs)}")
    interp = Interp(gm)
    if _reparametrize_module is not None:
        with torch.no_grad(), _reparametrize_module(gm, metas):
            out = interp.run(*ins)
    else:  # pragma: no cover
        import copy
        gm2 = copy.deepcopy(gm).to("meta")
        interp = Interp(gm2)
        out = interp.run(*ins)
    out_node = next(n for n in graph.nodes if n.op == "output")
    outs = refs_in(to_ref(out_node.args[0]))
    del out
    return Capture("fx", list(inputs), calls, outs)


# ----------------------------------------------------------------------------- hooks
def capture_hooks(model, inputs, known):
    """Run the model once on random inputs, recording leaf-module and functional calls."""
    import torch
    from torch.overrides import TorchFunctionMode
    from torch.utils.flop_counter import FlopCounterMode

    names = {}
    tensors = list(model.named_parameters(remove_duplicate=False)) + list(model.named_buffers(remove_duplicate=False))
    for n, p in tensors:
        names.setdefault(id(p), n)
    calls: list[Call] = []
    tmap = {}           # id(tensor) -> Ref
    keep = []           # keep tensors alive so ids stay unique
    state = {"leaf": 0, "stack": [], "counts": {}}
    paths = {id(m): p for p, m in model.named_modules(remove_duplicate=False)}

    def to_ref(a):
        if isinstance(a, torch.Tensor):
            if id(a) in tmap:
                return tmap[id(a)]
            if id(a) in names:
                return PRef(names[id(a)])
            return None   # a tensor made outside the capture (a constant)
        if isinstance(a, tuple):
            return tuple(to_ref(x) for x in a)
        if isinstance(a, list):
            return [to_ref(x) for x in a]
        if isinstance(a, dict):
            return {k: to_ref(x) for k, x in a.items()}
        return a

    def record(how, target, path, args, kwargs, out, flops, ops, site=None):
        ts, multi, allt = _tensor_leaves(out, torch)
        if not ts:
            return
        c = Call(len(calls), how, target, path, tuple(state["stack"]), to_ref(tuple(args)), to_ref(dict(kwargs)),
                 [tuple(t.shape) for t in ts], multi, flops, ops, allt, site)
        c.int_itemsizes = int_itemsizes(ts)
        calls.append(c)
        for i, t in enumerate(ts):
            tmap[id(t)] = Ref(c.id, i)
            keep.append(t)

    class Mode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if state["leaf"]:
                return func(*args, **kwargs)
            fc = FlopCounterMode(display=False)
            with fc:
                out = func(*args, **kwargs)
            name = getattr(func, "__name__", "")
            if name in ("__get__", "size", "dim", "numel", "__len__", "__bool__", "__index__", "item", "tolist",
                        "__format__", "__repr__", "__iter__"):
                return out
            is_method = getattr(torch.Tensor, name, None) is func
            total, ops = _flops(fc)
            record("method" if is_method else "function", name if is_method else func, "", args, kwargs, out,
                   total, ops, call_site())
            return out

    handles = []
    leaf_fc = []

    def pre(mod, args, kwargs):
        path = paths.get(id(mod), "")
        k = state["counts"].get(path, 0)
        state["counts"][path] = k + 1
        state["stack"].append((path, k))
        state.setdefault("sites", []).append(call_site())
        if _is_leaf_type(mod, known):
            state["leaf"] += 1
            if state["leaf"] == 1:
                fc = FlopCounterMode(display=False)
                fc.__enter__()
                leaf_fc.append(fc)

    def post(mod, args, kwargs, out):
        site = state["sites"].pop()
        if _is_leaf_type(mod, known):
            state["leaf"] -= 1
            if state["leaf"] == 0:
                fc = leaf_fc.pop()
                fc.__exit__(None, None, None)
                total, ops = _flops(fc)
                record("module", mod, paths.get(id(mod), ""), args, kwargs, out, total, ops, site)
        state["stack"].pop()

    seen = set()
    for p, m in model.named_modules():
        if m is model or id(m) in seen:
            continue
        seen.add(id(m))
        handles.append(m.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(m.register_forward_hook(post, with_kwargs=True))
    xs = []
    for i, (name, shape) in enumerate(inputs):
        x = torch.randn(shape)
        tmap[id(x)] = Ref(-1 - i, 0)
        keep.append(x)
        xs.append(x)
    try:
        with torch.no_grad(), Mode():
            out = model(*xs)
    finally:
        for h in handles:
            h.remove()
        while leaf_fc:   # a leaf that raised left its counter on the dispatch stack: close it
            leaf_fc.pop().__exit__(None, None, None)
    return Capture("hooks", list(inputs), calls, refs_in(to_ref(out)))
