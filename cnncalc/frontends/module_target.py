"""``MODULE:ATTR`` -> an ``nn.Module`` -> the same layer graph a spec gives -> an Analysis.

MODULE is an importable module path (``torchvision.models``) or a ``.py`` file (``net.py``; loading
it RUNS ITS CODE); ATTR names an ``nn.Module`` class, a factory function, or an instance (dotted
attribute paths work).  Classes and factories are called with the keyword arguments of
``--kwargs`` (JSON), or of the environment variable ``CNNCALC_KWARGS`` when the CLI has no such
option.

The graph is captured by :mod:`.capture` (``torch.fx``, or forward hooks when tracing fails),
each call is mapped to a kind by :mod:`.mapping` and checked against the real shapes and parameter
counts; what cannot be mapped becomes an :class:`~.kinds.Opaque` node with measured numbers and a
diagnostic.  Node names are module paths (``layer1.0.conv1``); functional calls are named after
the function inside their module (``layer1.0.add``); a module called again gets ``_1``, ``_2``
(``layer1.0.relu_1``) and keeps its module path, so its parameters count once.
"""
from __future__ import annotations

import json
import os
import sys

from ..core.analyze import Analysis
from ..core.graph import Graph
from ..errors import Diagnostic, Loc, UsageError
from ..figure import Figure
from ..kinds import REGISTRY, KindError
from ..kinds.base import check_types
from .capture import PRef, Ref, refs_in
from .kinds import Cast, Constant, Detach, Opaque, ParamCat, ParamOp, Pointwise, ScalarOp

KWARGS_ENV = "CNNCALC_KWARGS"
SPEC_SUFFIXES = (".yaml", ".yml", ".json")


_WARNED = set()


def warn_running(mod_name: str):
    """Say on stderr, before it happens, that a MODULE:ATTR target runs Python code (once per module: a
    model rebuilt for a real run or for verify is the same code)."""
    if mod_name in _WARNED:
        return
    _WARNED.add(mod_name)
    from ..safetext import clean
    what = "running the Python file" if mod_name.endswith(".py") or os.path.isfile(mod_name) else "importing"
    sys.stderr.write(f"note: {what} `{clean(mod_name)}` and calling its code (MODULE:ATTR target); "
                     "only do this with code you trust\n")


# ----------------------------------------------------------------------------- loading
def split_target(spec: str):
    if ":" not in spec:
        raise UsageError(f"`{spec}` is neither a spec file nor MODULE:ATTR (e.g. torchvision.models:resnet50)")
    mod, attr = spec.rsplit(":", 1)
    if mod.lower().endswith(SPEC_SUFFIXES):
        raise UsageError(f"`{spec}`: `{mod}` is a spec file, and a spec file takes no `:NAME` suffix"
                         + ("" if os.path.exists(mod) else f" (and there is no file `{mod}`)")
                         + "; give the file alone, or MODULE:ATTR for a PyTorch module")
    if not mod or not attr:
        raise UsageError(f"`{spec}`: write MODULE:ATTR, e.g. torchvision.models:resnet50 or net.py:Net")
    return mod, attr


def load_object(spec: str):
    """Import MODULE and return ATTR (not yet called).  A .py file is executed."""
    import importlib
    import importlib.util
    mod_name, attr = split_target(spec)
    warn_running(mod_name)
    if mod_name.endswith(".py") or os.path.isfile(mod_name):
        if not os.path.isfile(mod_name):
            raise UsageError(f"no such file: {mod_name}")
        path = os.path.abspath(mod_name)
        name = "_cnncalc_user_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
        sp = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(sp)
        sys.modules[name] = module
        d = os.path.dirname(path)
        sys.path.insert(0, d)
        try:
            sp.loader.exec_module(module)
        except Exception as e:
            raise UsageError(f"running {mod_name} failed: {type(e).__name__}: {e}") from None
        finally:
            if sys.path and sys.path[0] == d:
                sys.path.pop(0)
    else:
        try:
            module = importlib.import_module(mod_name)
        except ImportError as e:
            raise UsageError(f"cannot import `{mod_name}`: {e}; give an importable module path or a .py file "
                             "(and check the spelling of the spec path if you meant a file)") from None
        except Exception as e:
            raise UsageError(f"importing `{mod_name}` failed: {type(e).__name__}: {e}") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            from ..errors import suggest
            names = [n for n in dir(obj) if not n.startswith("_")]
            s = suggest(part, names)
            hint = (" (did you mean " + " or ".join(f"`{x}`" for x in s) + "?)") if s else ""
            raise UsageError(f"`{mod_name}` has no attribute `{part}`{hint}")
        obj = getattr(obj, part)
    return obj


def parse_kwargs(kwargs):
    if kwargs is None:
        kwargs = os.environ.get(KWARGS_ENV)
    if kwargs is None or kwargs == "":
        return {}
    if isinstance(kwargs, dict):
        return kwargs
    try:
        v = json.loads(kwargs)
    except json.JSONDecodeError as e:
        raise UsageError(f"--kwargs must be a JSON object like '{{\"num_classes\": 10}}': {e}") from None
    if not isinstance(v, dict):
        raise UsageError("--kwargs must be a JSON object like '{\"num_classes\": 10}'")
    return v


def build_module(spec: str, kwargs=None, device=None):
    """Build the module; ``device="meta"`` builds it without memory or weight initialisation."""
    import torch
    import torch.nn as nn
    obj = load_object(spec)
    kw = parse_kwargs(kwargs)
    if isinstance(obj, nn.Module):
        if kw:
            raise UsageError(f"`{spec}` is a module instance: --kwargs cannot be applied")
        return obj
    if not callable(obj):
        raise UsageError(f"`{spec}` is a {type(obj).__name__}, not an nn.Module, a class or a factory function")
    try:
        if device is not None:
            try:
                with torch.device(device):
                    m = obj(**kw)
                if isinstance(m, nn.Module):
                    return m
            except Exception:   # noqa: BLE001  (some constructors insist on real tensors: build normally)
                pass
        m = obj(**kw)
    except Exception as e:
        raise UsageError(f"calling `{spec}`({', '.join(f'{k}={v!r}' for k, v in kw.items())}) failed: "
                         f"{type(e).__name__}: {e}") from None
    if not isinstance(m, nn.Module):
        raise UsageError(f"`{spec}` returned a {type(m).__name__}, not an nn.Module")
    return m


def input_list(model, inputs, batch):
    """--input strings -> [(name, shape with batch)] in the order of forward's parameters."""
    import inspect
    from ..shapes import parse_inputs
    if not inputs:
        raise UsageError("a PyTorch module needs its input shape: --input 3x224x224 (no batch), or "
                         "--input left=1x105x105 --input right=1x105x105 for several inputs")
    parsed = parse_inputs(list(inputs))
    if isinstance(parsed, tuple):
        return [("input", (batch,) + tuple(parsed))]
    params = [p.name for p in inspect.signature(model.forward).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if all(k in params for k in parsed):
        order = sorted(parsed, key=params.index)
        if order[:len(order)] != params[:len(order)]:
            missing = [p for p in params[:params.index(order[-1])] if p not in parsed]
            raise UsageError(f"forward's inputs are {', '.join(params)}: give a shape for {', '.join(missing)}")
    else:
        order = list(parsed)
    return [(k, (batch,) + tuple(parsed[k])) for k in order]


# ----------------------------------------------------------------------------- graph building
_SHORT = {"iadd": "add", "isub": "sub", "imul": "mul", "truediv": "div", "itruediv": "div"}


def _short_name(call):
    if call.how == "method":
        n = call.target.strip("_")
        if n.startswith("i") and n[1:] in ("add", "sub", "mul", "div", "truediv"):
            n = n[1:]
        if n.startswith("r") and n[1:] in ("add", "sub", "mul", "div", "truediv"):
            n = n[1:]
        return _SHORT.get(n, n)
    n = getattr(call.target, "__name__", "op").strip("_")
    return _SHORT.get(n, n)


class _Namer:
    """Instance paths: module paths for first calls, ``_k`` suffixes where a name is taken."""

    def __init__(self, reserved):
        self.inst = {}         # scope key -> name components
        self.taken = set()
        self.reserved = set(reserved)

    def _component(self, parent, cand, own):
        base = cand
        k = 0
        while True:
            full = ".".join(parent + [cand])
            if full not in self.taken and (own or full not in self.reserved):
                self.taken.add(full)
                return cand
            k += 1
            cand = f"{base}_{k}"

    def scope_names(self, scope):
        parts = []
        parent_path = ""
        for i in range(len(scope)):
            key = scope[:i + 1]
            path, k = scope[i]
            if key in self.inst:
                parts = list(self.inst[key])
            else:
                rel = path[len(parent_path) + 1:] if parent_path and path.startswith(parent_path + ".") else path
                segs = rel.split(".") if rel else ["_"]
                # a module reached without its parents being called (self.layer1[0](x)): the
                # intermediate path segments are plain prefixes; only the last one is this call
                parts = parts + segs[:-1]
                parts = parts + [self._component(parts, segs[-1], k == 0)]
                self.inst[key] = list(parts)
            parent_path = path
        return parts

    def function_name(self, scope, short):
        parts = self.scope_names(scope)
        return ".".join(parts + [self._component(parts, short, False)])


class _Ctx:
    """What a mapping handler may ask about a call."""

    def __init__(self, call, shapes, param_shapes, batch):
        self.call = call
        self.shapes = shapes
        self.param_shapes = param_shapes
        self.out_shapes = call.out_shapes
        self.batch = batch

    def in_shape(self, ref):
        if not isinstance(ref, Ref):
            from .mapping import Unmapped
            raise Unmapped("an input is not an activation")
        return self.shapes[ref]

    def batch_kept(self, ref):
        s = self.in_shape(ref)
        return bool(s) and s[0] == self.batch and self.out_shapes[0][:1] == (self.batch,)


def _prefs_in(v):
    """The names of the parameters and buffers inside an argument structure."""
    return [p.name for p in refs_in(v, PRef)]


def _loc(call):
    site = getattr(call, "site", None)
    return Loc(site[0], site[1], 1) if site else None


def _channel_shuffles(cap):
    """ShuffleNet's channel shuffle written with views (torchvision's ``channel_shuffle``):
    ``view(N, g, C/g, *S)`` -> ``transpose(1, 2)`` -> [``contiguous()``] -> ``view(N, C, *S)``,
    the intermediates used only by the next step.  Returns ({final call id: (input ref, g)},
    {ids of the intermediate calls}): the chain becomes one ChannelShuffle node."""
    uses = {}
    for c in cap.calls:
        for r in refs_in((c.args, c.kwargs)):
            uses.setdefault(r.call, []).append(c.id)
    for r in cap.outputs:
        uses.setdefault(r.call, []).append(-1)
    by_id = {c.id: c for c in cap.calls}

    def name(c):
        return c.target if c.how == "method" else getattr(c.target, "__name__", "")

    def single_input(c):
        refs = refs_in((c.args, c.kwargs))
        return refs[0] if len(refs) == 1 and refs[0].idx == 0 else None

    def only_user(cid, user):
        return uses.get(cid, []) == [user]

    found, skipped = {}, set()
    for d in cap.calls:
        if name(d) not in ("view", "reshape") or len(d.out_shapes) != 1:
            continue
        r = single_input(d)
        mid = by_id.get(r.call) if r else None
        chain = []
        if mid is not None and name(mid) == "contiguous":
            chain.append(mid)
            r2 = single_input(mid)
            mid = by_id.get(r2.call) if r2 else None
        if mid is None or name(mid) not in ("transpose", "swapaxes"):
            continue
        dims = [a for a in mid.args[1:] if isinstance(a, int)] + [mid.kwargs[k] for k in ("dim0", "dim1")
                                                                  if k in mid.kwargs]
        if sorted(dims) != [1, 2]:
            continue
        chain.append(mid)
        r3 = single_input(mid)
        a = by_id.get(r3.call) if r3 else None
        if a is None or name(a) not in ("view", "reshape"):
            continue
        x = single_input(a)
        if x is None:
            continue
        xs = (cap.inputs[-1 - x.call][1] if x.call < 0 else by_id[x.call].out_shapes[0])
        ys = a.out_shapes[0]
        if len(xs) < 3 or len(ys) != len(xs) + 1 or ys[0] != xs[0] or ys[3:] != tuple(xs[2:]) or \
                ys[1] * ys[2] != xs[1] or tuple(d.out_shapes[0]) != tuple(xs):
            continue
        chain.append(a)
        ids = [c.id for c in chain]
        users = [d.id] + ids[:-1]
        if not all(only_user(cid, u) for cid, u in zip(ids, users)):
            continue
        found[d.id] = (x, ys[1])
        skipped.update(ids)
    return found, skipped


class _Built(Exception):
    """Raised inside build_graph's mapping when a call's kind is built without the usual checks."""


def build_graph(model, cap, batch, name, file, dtype="float32", convention=None):
    """Turn a Capture into a Graph.  Returns (graph, diagnostics, info)."""
    from .. import conventions as conventions_mod
    from .mapping import MODULE_CALLS, Unmapped, handler_for, known_module, module_args

    g = Graph(name=name, file=file)
    g.batch = batch
    g.dtype = dtype
    cname = convention or "default"
    if cname not in conventions_mod.PRESETS:
        from ..errors import suggest
        s = suggest(cname, list(conventions_mod.PRESETS))
        raise UsageError(f"unknown convention `{cname}`" + (f" (did you mean `{s[0]}`?)" if s else "") +
                         f"; presets: {', '.join(conventions_mod.PRESETS)}")
    g.conventions = conventions_mod.PRESETS[cname]
    diags = []
    param_shapes = {}
    param_numel = {}
    for n, p in list(model.named_parameters(remove_duplicate=False)):
        param_shapes[n] = tuple(p.shape)
        param_numel[n] = p.numel()
    buf_numel = {n: b.numel() for n, b in model.named_buffers(remove_duplicate=False)}
    for n, b in model.named_buffers(remove_duplicate=False):
        param_shapes[n] = tuple(b.shape)
    modules = dict(model.named_modules(remove_duplicate=False))
    namer = _Namer([p for p in modules if p])
    refmap = {}
    shapes = {}
    for i, (iname, shape) in enumerate(cap.inputs):
        n = g.add(name=iname, op="input", kind=None, inputs=[], out_shapes=[tuple(shape[1:])], module=iname)
        g.inputs.append(n.id)
        namer.taken.add(iname)
        refmap[Ref(-1 - i, 0)] = (n.id, 0)
        shapes[Ref(-1 - i, 0)] = tuple(shape)
    opaque = []
    status = {}
    reads, claimed = [], set()    # buffers a call reads as an argument (not its own module's), and counted ones
    node_call = {}                # node id -> the capture's call id (verify measures the same call on the module)

    from . import batch_fold as bf
    from . import detection
    fac = cap.batches if cap.batches is not None else bf.batches(cap, batch)
    shuffles, skipped = _channel_shuffles(cap)
    from . import patterns
    fused, fskipped = patterns.find(cap, param_shapes, buf_numel, batch)
    skipped = skipped | fskipped
    isz = {}                      # Ref -> bytes per element of a non-float tensor (None: a float)
    for c in cap.calls:
        for i, s in enumerate(c.out_shapes):
            shapes[Ref(c.id, i)] = tuple(s)
            isz[Ref(c.id, i)] = c.int_itemsizes[i] if i < len(c.int_itemsizes) else None
        if c.id in skipped:
            continue
        if c.id in shuffles:
            nm = namer.function_name(c.scope, "channel_shuffle")
            what = "channel shuffle (view, transpose, view)"
        elif c.id in fused:
            nm = namer.function_name(c.scope, fused[c.id][0])
            what = fused[c.id][0]
        elif c.how == "module":
            nm = ".".join(namer.scope_names(c.scope)) if c.scope else c.path
            what = f"{type(c.target).__module__}.{type(c.target).__name__}"
        else:
            short = _short_name(c)
            nm = namer.function_name(c.scope, short)
            what = (f"Tensor.{c.target}" if c.how == "method" else
                    f"{getattr(c.target, '__module__', '') or ''}.{getattr(c.target, '__name__', str(c.target))}")
        reason = None
        op = bound = n_out = None
        in_refs = []
        pnames = []
        N = batch
        try:
            if detection.known(c):        # roi_align, nms: their rows are the boxes this run found
                kind, in_refs = detection.build(c, fac, shapes)
                op = kind.op
                raise _Built
            # a module's own handler speaks first (an RNN names its batch_first); its batch is read after
            how, f = ("same", 1) if (c.id in shuffles or c.id in fused or c.how == "module") else bf.classify(c, fac)
            if how == "unknown":
                raise Unmapped(f)
            if how == "constant" and not _prefs_in((c.args, c.kwargs)):
                in_refs = bf.tensor_refs(c)
                op, kind = "constant", Constant(_short_name(c), [shapes[r] for r in in_refs], c.out_shapes)
                raise _Built
            if how == "constant":
                raise Unmapped("a tensor computed from parameters alone")
            if how == "same" and c.how != "module" and bf.along_batch(c, _short_name(c)):
                how = "moves"           # along dim 0: rows moved, even where their count does not change
            if how == "moves":
                kind, in_refs = bf.rebatch(c, fac, shapes, batch, _short_name(c))
                op = kind.op
                raise _Built
            N = f
            if c.id in shuffles:
                src, groups = shuffles[c.id]
                op, bound, in_refs, pnames = "ChannelShuffle", {"groups": groups}, [src], []
            elif c.id in fused:
                op, bound, in_refs, pnames, fbufs = fused[c.id]
                op = "paramcat:" if op == "param_cat" else op
                claimed.update(fbufs)
            elif c.how == "module":
                op = known_module(c.target)
                if op is None:
                    raise Unmapped("not a module type we know")
                if op in MODULE_CALLS:
                    bound, in_refs, n_out = MODULE_CALLS[op](c)
                else:
                    if not c.value_ok:
                        raise Unmapped("its output is not a tensor or a tuple of tensors")
                    bound = module_args(op, c.target)
                    in_refs = [a for a in c.args if isinstance(a, Ref)]
                    if len(in_refs) != len(c.args) or c.kwargs:
                        raise Unmapped("called with non-tensor arguments")
                pnames = [c.path + "." + n if c.path else n for n, _ in c.target.named_parameters()]
                how, f = bf.classify(c, fac, n_out)
                if how != "same":
                    raise Unmapped(f if how == "unknown" else "it moves the batch dimension")
                N = f
            elif c.how == "method" and c.target == "detach":
                op, bound, in_refs, pnames = "detach", {}, [c.args[0]], []
            else:
                h = handler_for(c)
                if h is None:
                    raise Unmapped("not a function we know")
                if not c.value_ok and not getattr(h, "partial_output", False):
                    raise Unmapped("its output is not a tensor or a tuple of tensors")
                op, bound, in_refs, pnames = h(_Ctx(c, shapes, param_shapes, N), c.args, c.kwargs)
                if not all(isinstance(r, Ref) for r in in_refs):
                    raise Unmapped("an input is not an activation")
            if op == "cast" and isz.get(in_refs[0]) == (c.int_itemsizes or [None])[0]:
                op = "alias"            # torch returns the tensor itself when the dtype does not change
            if op == "alias":
                refmap[Ref(c.id, 0)] = refmap[in_refs[0]]
                continue
            rank = max((len(shapes[r]) for r in in_refs if fac.get(r) == N), default=None)
            in_shapes = []
            for r in in_refs:
                if fac.get(r) is None:
                    raise Unmapped(f"an input of shape {list(shapes[r])} has no batch dimension {batch}")
                b = fac[r] if fac[r] == N else bf.CONSTANT    # a constant or a single sample: broadcast
                if b is bf.CONSTANT and rank and len(shapes[r]) == rank and shapes[r][:1] == (N,) and \
                        cap.batches is None:
                    b = N      # one run read as it is: a tensor made from sizes alone, with N rows here
                in_shapes.append(bf.strip(shapes[r], b, rank - 1 if rank else None))
            for i, s in enumerate(c.out_shapes[:n_out]):
                if fac.get(Ref(c.id, i)) != f:
                    raise Unmapped(f"its output of shape {list(s)} has no batch dimension {batch}")
            scale_dim = _layer_scale_dim(op, param_shapes.get((bound or {}).get("param")), in_shapes, N)
            if scale_dim is not None:
                op = "LayerScale"
                kind = REGISTRY[op](op, {"channel_dim": scale_dim}, in_shapes, N)
            elif op == "detach":
                kind = Detach(in_shapes, N)
            elif op == "cast":
                kind = Cast(in_shapes, N)
            elif op.startswith("pointwise:"):
                kind = Pointwise(op[10:], in_shapes, N, **bound)
            elif op.startswith("param:"):
                kind = ParamOp(op[6:].lstrip("r") if op[6:] not in ("rsub", "rdiv") else op[6:], bound["param"],
                               param_shapes[bound["param"]], in_shapes, N)
            elif op == "paramcat:":
                kind = ParamCat(bound["param"], param_shapes[bound["param"]], bound["dim"], bound["first"],
                                in_shapes, N)
            elif op.startswith("scalar:"):
                kind = ScalarOp(op[7:].lstrip("r") if op[7:] not in ("rsub", "rdiv") else op[7:], bound["other"],
                                in_shapes, N)
                kind.reverse = op[7:].startswith("r")
            else:
                cls = REGISTRY[op]
                args = check_types(cls, op, dict(bound))
                kind = cls(op, args, in_shapes, N)
            want = [tuple(s[1:]) for s in c.out_shapes][:n_out]
            if [tuple(s) for s in kind.out_shapes] != want:
                raise Unmapped(f"our {op} gives {[list(s) for s in kind.out_shapes]} but the real output is "
                               f"{[list(s) for s in want]}")
            real_p = sum(param_numel.get(p, 0) for p in pnames)
            if kind.params().value != real_p:
                raise Unmapped(f"our {op} has {kind.params().value} parameters but the module has {real_p}")
        except _Built:          # a constant, or a call that moves the batch: its kind is built
            pass
        except (Unmapped, KindError) as e:
            reason = str(e)
        except Exception as e:   # a handler meeting an argument form it does not expect
            reason = f"{type(e).__name__}: {e}"
        if reason is None:
            module = c.path if c.how == "module" else (pnames[0] if pnames else nm)
            prefix = "scalar_" if isinstance(kind, ScalarOp) else "param_" if isinstance(kind, (ParamOp, ParamCat)) \
                else ""
            shown = prefix + kind.op
            n = g.add(name=nm, op=shown, kind=kind,
                      inputs=[refmap[r] for r in in_refs], out_shapes=[tuple(s) for s in kind.out_shapes],
                      module=module, loc=_loc(c))
            status[n.id] = "exact"
            owned = {(c.path + "." + b) if c.path else b for b, _ in c.target.named_buffers()} \
                if c.how == "module" else set()
            read = [b for b in _prefs_in((c.args, c.kwargs)) if b in buf_numel and b not in owned]
            reads.append((n.id, kind, read, c.scope))
        else:
            in_refs = [r for r in refs_in((c.args, c.kwargs)) if r in refmap]
            if c.how == "module":
                pn = [(c.path + "." + n) if c.path else n for n, _ in c.target.named_parameters()]
                bn = [(c.path + "." + n) if c.path else n for n, _ in c.target.named_buffers()]
                module = c.path
            else:
                pn = [p for p in _prefs_in((c.args, c.kwargs)) if p in param_numel]
                bn = [p for p in _prefs_in((c.args, c.kwargs)) if p in buf_numel]
                module = "+".join(pn) if pn else nm
            strip = lambda s, f: tuple(s[1:]) if isinstance(f, int) and s else tuple(s)  # noqa: E731
            fo = fac.get(Ref(c.id, 0)) if c.out_shapes else None
            kind = Opaque(what.rsplit(".", 1)[-1], [strip(shapes[r], fac.get(r)) for r in in_refs],
                          [strip(s, fo) for s in c.out_shapes], fo if isinstance(fo, int) else 1,
                          sum(param_numel[p] for p in pn),
                          sum(buf_numel[b] for b in bn), c.flop_ops, c.flops, reason)
            inputs = [refmap[r] for r in in_refs]
            if not isinstance(fo, int):
                kind.batched = False        # a constant or a tensor of unknown batch: its shape is the whole tensor
            if not inputs and g.inputs:
                inputs = [(g.inputs[0], 0)]     # the analysis passes need an input edge
            n = g.add(name=nm, op="opaque", kind=kind, inputs=inputs, out_shapes=list(kind.out_shapes),
                      module=module, loc=_loc(c))
            status[n.id] = Opaque.status
            opaque.append(n.id)
            claimed.update(bn)
            read = [b for b in _prefs_in((c.args, c.kwargs)) if b in buf_numel and b not in bn]
            reads.append((n.id, kind, read, c.scope))
            diags.append(Diagnostic(
                "warning", f"{nm} ({what}) is not analysed: {reason}; counted as an opaque node: shape from a "
                f"meta-device run, {kind._params:,} parameters from the module, {c.flops:,} FLOPs measured by "
                "FlopCounterMode (measured, not analytic)", _loc(c),
                ["map it to a known layer, or accept the measured numbers"], node=nm, code="opaque-node"))
        node_call[n.id] = c.id
        ints = [x for x in c.int_itemsizes[:len(n.out_shapes)] if x is not None]
        if ints and n.kind.out_itemsize is None and len(ints) == len(n.out_shapes) and len(set(ints)) == 1:
            n.kind.out_itemsize = ints[0]      # indices, masks: their own element size, whatever the model's dtype
        for i in range(min(len(c.out_shapes), len(n.out_shapes))):   # outputs beyond the kind's are not its
            refmap[Ref(c.id, i)] = (n.id, i)
    g.outputs = [refmap[r] for r in cap.outputs if r in refmap]
    if not g.outputs and len(g.nodes) > len(g.inputs):
        g.outputs = [(g.nodes[-1].id, 0)]
    for c in cap.calls:        # a called module's buffers are its kind's (BatchNorm's running statistics)
        if c.how == "module":
            claimed.update((c.path + "." + b) if c.path else b for b, _ in c.target.named_buffers())
    extra = {}
    for nid, kind, read, _ in reads:   # a buffer read by a function (a relative position table, an index)
        for b in read:
            if b not in claimed:
                claimed.add(b)
                extra.setdefault(nid, (kind, []))[1].append(b)
    # a buffer the trace folded into a constant (read through a view): charged to the first node run
    # inside the module that holds it
    for b in buf_numel:
        if b in claimed:
            continue
        owner = b.rsplit(".", 1)[0] if "." in b else ""
        for nid, kind, _, scope in reads:
            if owner == "" or any(sp == owner for sp, _ in scope):
                claimed.add(b)
                extra.setdefault(nid, (kind, []))[1].append(b)
                break
    for nid, (kind, names) in extra.items():
        _add_read_buffers(kind, names, sum(buf_numel[b] for b in names))
    info = {"capture": cap.method, "opaque": opaque, "status": status, "node_call": node_call}
    info["data_sources"], info["data_dependent"] = _data_dependent(g, cap, node_call)
    by_dtype = {}
    for b in {id(b): b for _, b in model.named_buffers()}.values():
        key = str(b.dtype).replace("torch.", "")
        by_dtype[key] = by_dtype.get(key, 0) + b.numel() * b.element_size()
    info["buffer_bytes_by_dtype"] = by_dtype
    info["module_params"] = sum(p.numel() for p in model.parameters())
    return g, diags, info


# Calls whose output size is decided by values, not shapes: the boxes NMS keeps, the RoIs pooled (one output
# per box, the boxes coming from proposals), the indices of the true elements of a mask.
DATA_SOURCES = {"nms": "boxes kept by non-maximum suppression", "batched_nms": "boxes kept by non-maximum suppression",
                "_batched_nms_vanilla": "boxes kept by non-maximum suppression",
                "_batched_nms_coordinate_trick": "boxes kept by non-maximum suppression",
                "roi_align": "one output per box, the boxes from the data", "roi_pool": "one output per box",
                "ps_roi_align": "one output per box", "ps_roi_pool": "one output per box",
                "nonzero": "indices of the non-zero elements", "argwhere": "indices of the non-zero elements",
                "masked_select": "elements selected by a mask", "unique": "distinct values",
                "unique_consecutive": "distinct values"}
_BOOL_OPS = {"ge", "gt", "le", "lt", "eq", "ne", "__ge__", "__gt__", "__le__", "__lt__", "__eq__", "__ne__",
             "__and__", "__or__", "__invert__", "logical_and", "logical_or", "logical_not", "isfinite", "isnan",
             "all", "any"}


def _call_name(c):
    return c.target if c.how == "method" else getattr(c.target, "__name__", "")


def _data_dependent(g, cap, node_call):
    """(source node ids -> why, ids of every node whose counts depend on the data): a source's output size
    is decided by values (DATA_SOURCES, `where` with one argument, indexing by a boolean mask); every node
    reading a data-dependent value depends on the data too, and so does a tensor made from sizes alone
    after the first source (its size may be a count the data decided)."""
    calls = {c.id: c for c in cap.calls}
    sources = {}
    for n in g.nodes:
        c = calls.get(node_call.get(n.id))
        if c is None:
            continue
        name = _call_name(c)
        why = DATA_SOURCES.get(name)
        if name == "where" and len(refs_in((c.args, c.kwargs))) == 1 and len(c.args) + len(c.kwargs) == 1:
            why = "indices of the true elements"
        if name == "__getitem__" and len(c.args) > 1:
            idx = refs_in(c.args[1:])
            if any(r.call >= 0 and _call_name(calls[r.call]) in _BOOL_OPS for r in idx):
                why = "elements selected by a boolean mask"
        if why:
            sources[n.id] = why
    dd = set(sources)
    first = min((node_call[i] for i in sources), default=None)
    for n in g.nodes:
        c = calls.get(node_call.get(n.id))
        # a tensor made from sizes alone (zeros, empty, full) after a source: its size may be a data-dependent
        # count (MultiScaleRoIAlign's zeros(num_rois, ...), filled in place)
        made = c is not None and first is not None and c.id > first and not refs_in((c.args, c.kwargs))
        if made or any(nid in dd for nid, _ in n.inputs):
            dd.add(n.id)
    return sources, dd


def _layer_scale_dim(op, pshape, in_shapes, batch):
    """``gamma * x`` with one learned value per channel (ConvNeXt's layer scale): the channel dim (torch's
    numbering), else None."""
    if op not in ("param:mul", "param:rmul") or pshape is None or len(in_shapes) != 1:
        return None
    x = (batch,) + tuple(in_shapes[0])
    p = tuple(pshape)
    if len(p) > len(x) or (len(p) == len(x) and p[0] != 1):
        return None
    big = [i for i, d in enumerate(p) if d != 1]
    if len(big) != 1:
        return None
    k = len(x) - len(p) + big[0]
    return k if k >= 1 and x[k] == p[big[0]] else None


def _add_read_buffers(kind, names, numel):
    """Charge a node with the buffers it reads as arguments (a relative position index, a coordinate
    table), which no module call of theirs counts."""
    own = kind.buffers

    def buffers():
        f = own()
        v = f.value + numel
        return Figure(v, "own + read" if f.value else "read", {"own": f.value, "read": numel} if f.value else
                      {"read": numel}, "buffers", note="read: elements of the buffers it reads (as arguments, or "
                      "inside the module that holds them): " + ", ".join(names))
    kind.buffers = buffers


class ModuleAnalysis(Analysis):
    """An Analysis of a captured module: the report says how it was captured and what is analytic.
    Everything it holds is given to it when it is built (read-only afterwards, as every Analysis)."""

    def __init__(self, graph, diagnostics=(), warnings=(), info=None, model=None, capture=None,
                 module_types=None):
        self.info = info or {}
        self.model = model
        self.capture = capture
        self.module_types = module_types or {}
        super().__init__(graph, diagnostics, warnings)

    def extra_diagnostics(self):
        out = []
        covered = self.info.get("module_params")
        got = sum(c.params for c in self.costs.layers.values())
        if covered is not None and got < covered:
            out.append(Diagnostic(
                "warning", f"the captured graph holds {got:,} parameters but the module has {covered:,}: "
                f"{covered - got:,} belong to submodules the forward pass never called", None, code="unused-params"))
        elif covered is not None and got > covered:
            out.append(Diagnostic(
                "warning", f"the captured graph counts {got:,} parameters but the module has {covered:,}", None,
                code="param-count"))
        dd = self.info.get("data_dependent") or set()
        if dd:
            src = self.info.get("data_sources", {})
            import re
            names = sorted({re.sub(r"_\d+$", "", self.g.nodes[i].name.rsplit(".", 1)[-1]) for i in src})
            out.append(Diagnostic(
                "warning", f"data-dependent: the work of {len(dd)} of {len(self.g.nodes) - len(self.g.inputs)} nodes "
                f"depends on the input's values ({len(src)} source(s): {', '.join(names)}; first: "
                f"{self.g.nodes[min(src)].name}): the figures are those of this input and seed", None,
                ["`--format json` lists them (`data_dependent`); another --seed gives another input"],
                code="data-dependent"))
        cov = self.coverage()
        if cov["opaque_nodes"]:
            out.append(Diagnostic(
                "note", f"{cov['analytic_nodes']} of {cov['nodes']} nodes analysed analytically; "
                f"{cov['analytic_flops_fraction']:.1%} of FLOPs and {cov['analytic_params_fraction']:.1%} of "
                f"parameters are analytic, the rest measured", None, code="coverage"))
        return out

    def coverage(self):
        op = set(self.info.get("opaque", ()))
        layers = self.costs.layers
        tot_f = sum(c.flops for c in layers.values())
        tot_m = sum(c.macs for c in layers.values())
        tot_p = sum(c.params for c in layers.values())
        of = sum(layers[i].flops for i in op)
        om = sum(layers[i].macs for i in op)
        opp = sum(layers[i].params for i in op)
        nodes = len(layers)
        return {
            "capture": self.info.get("capture"),
            "nodes": nodes,
            "opaque_nodes": len(op),
            "analytic_nodes": nodes - len(op),
            "analytic_flops_fraction": (1 - of / tot_f) if tot_f else 1.0,
            "analytic_macs_fraction": (1 - om / tot_m) if tot_m else 1.0,
            "analytic_params_fraction": (1 - opp / tot_p) if tot_p else 1.0,
            "module_params": self.info.get("module_params"),
        }

    def report(self):
        r = super().report()
        st = self.info.get("status", {})
        by_name = {n.name: n.id for n in self.g.nodes}
        for L in r["layers"]:
            L["status"] = st.get(by_name.get(L["name"]), "exact")
        r["coverage"] = self.coverage()
        dd = self.info.get("data_dependent") or set()
        if dd:
            src = self.info.get("data_sources", {})
            for L in r["layers"]:
                if by_name.get(L["name"]) in dd:
                    L["data_dependent"] = True
            r["data_dependent"] = {
                "sources": {self.g.nodes[i].name: why for i, why in src.items()},
                "nodes": [n.name for n in self.g.nodes if n.id in dd],
                "note": "the work of these nodes depends on the input's values (proposals, NMS, RoIs): the "
                        "figures are those of this input, from the seeded capture (--seed)"}
        if "buffer_bytes_by_dtype" in self.info:
            r["buffer_bytes_by_dtype"] = dict(self.info["buffer_bytes_by_dtype"])
        return r


def analysis_for_module(spec, batch=None, inputs=None, convention=None, dtype=None, kwargs=None, model=None,
                        method="auto", seed=0):
    """Analyse ``MODULE:ATTR`` (or ``model`` given directly).  ``method``: auto, fx or hooks.  ``seed``
    seeds torch's generators for the capture (a real run rebuilds the model and feeds it random data: a
    detector's work depends on both), leaving the caller's random state as it was."""
    from ..needs import require_torch
    require_torch("a PyTorch module as input")
    import torch
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UsageError(f"`seed` must be a non-negative integer, got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _analysis_for_module(spec, batch, inputs, convention, dtype, kwargs, model, method)


def _analysis_for_module(spec, batch, inputs, convention, dtype, kwargs, model, method):
    from ..core.dtypes import DTYPES
    batch = batch or 1
    dtype = dtype or "float32"
    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype `{dtype}`; use one of {', '.join(DTYPES)}")
    rebuild = None
    _given = model is not None
    if model is None:
        model = build_module(spec, kwargs, device="meta")
        rebuild = lambda: build_module(spec, kwargs)  # noqa: E731  (a real copy for a run on real data)
    refuse_quantized(model, spec)
    ins = input_list(model, inputs, batch)
    try:
        cap, notes, model = capture(model, ins, method, rebuild)
        refuse_quantized_calls(cap, spec)
        name = spec.rsplit(":", 1)[-1] if spec else type(model).__name__
        g, diags, info = build_graph(model, cap, batch, name, spec or name, dtype, convention)
    except UsageError:
        raise
    except Exception as e:   # never a traceback: say what failed
        raise UsageError(f"capturing `{spec}` failed: {type(e).__name__}: {e}") from None
    # verify measures the user's own module: a real copy (the captured one may be on the meta device)
    info["rebuild"] = (lambda: build_module(spec, kwargs)) if spec and not _given else None
    return ModuleAnalysis(g, [], list(notes) + diags, info, model=model, capture=cap,
                          module_types={p: type(m).__name__ for p, m in model.named_modules() if p})


_QUANT_PREFIXES = ("torch.ao.nn.quantized", "torch.nn.quantized", "torch.ao.nn.intrinsic.quantized",
                   "torch.nn.intrinsic.quantized", "torch.ao.nn.sparse.quantized")
QUANT_HINT = ("analyse the floating-point model instead (for torchvision's quantizable models: quantize=False): "
              "the same shapes, parameters and multiply-accumulates; the int8 weights take 1 byte each")


def _quant_error(spec, what):
    return UsageError(f"`{spec or 'the module'}` is a quantized model ({what}): cnncalc analyses floating-point "
                      "layers only, and would report its quantized layers as zero parameters and zero MACs; "
                      f"refused. hint: {QUANT_HINT}")


def refuse_quantized(model, spec):
    """Refuse a module holding quantized modules or quantized tensors (int8 kinds do not exist yet): never
    zeros with full coverage."""
    import collections
    found = collections.Counter()
    for _, m in model.named_modules():
        mod = type(m).__module__ or ""
        if mod.startswith(_QUANT_PREFIXES):
            found[type(m).__name__] += 1
    try:
        tensors = list(model.parameters()) + list(model.buffers())
    except Exception:   # noqa: BLE001  (packed parameters refuse to be listed)
        tensors = []
    q = sum(1 for t in tensors if getattr(t, "is_quantized", False))
    if found or q:
        parts = [f"{k} x{v}" if v > 1 else k for k, v in found.most_common()]
        if q:
            parts.append(f"{q} quantized tensor(s)")
        raise _quant_error(spec, "quantized modules: " + ", ".join(parts))


def refuse_quantized_calls(cap, spec):
    """Refuse a capture that calls quantized operators (torch.ops.quantized.*, quantize_per_tensor, ...)."""
    names = []
    for c in cap.calls:
        t = c.target if c.how == "method" else getattr(c.target, "__name__", str(c.target))
        ops = [k for k in c.flop_ops if "quantized" in k]
        if "quantize" in str(t) or ops or "quantized" in str(getattr(c.target, "__module__", "") or ""):
            names.append(str(t))
    if names:
        raise _quant_error(spec, "quantized operators: " + ", ".join(sorted(set(names))))


def _materialize_lazy(model, ins):
    """Lazy modules (LazyLinear, ...) get their shapes from a first call: make it, on zeros (on the
    meta device when the model is there), before capturing."""
    import torch
    from torch.nn.parameter import is_lazy
    params = list(model.parameters()) + list(model.buffers())
    if not any(is_lazy(p) for p in params):
        return
    dev = next((p.device for p in params if not is_lazy(p)), torch.device("cpu"))
    with torch.no_grad():
        model(*[torch.zeros(s, device=dev) for _, s in ins])


def _on_meta(model):
    return any(t.is_meta for t in list(model.parameters()) + list(model.buffers()))


def _batch_factors(cap, ins, again):
    """Where a tensor's leading dim is not the batch, capture again at another batch and read each
    tensor's batch factor from the two (``batch_fold``).  Not for a capture whose work depends on the
    data (a detector's proposals): its second run would take another path."""
    from . import batch_fold as bf
    batch = ins[0][1][0] if ins and ins[0][1] else 1
    if not bf.moves_batch(cap, batch):
        return
    if any(_call_name(c) in DATA_SOURCES for c in cap.calls):
        return
    b2 = batch + 1
    try:
        cap2 = again([(n, (b2,) + tuple(s[1:])) for n, s in ins])
    except Exception:    # noqa: BLE001  (a model that runs at one batch only keeps the single reading)
        return
    cap.batches = bf.batches(cap, batch, cap2, b2)


def capture(model, ins, method="auto", rebuild=None):
    """Capture with fx, falling back to hooks.  Returns (Capture, [Diagnostic], model).

    The hooks capture runs the model on real data: a model built on the meta device is rebuilt
    (``rebuild``) for it, and the rebuilt model is returned."""
    from .capture import capture_fx, capture_hooks
    from .mapping import known_module
    was_training = model.training
    model.eval()
    notes = []
    _materialize_lazy(model, ins)
    try:
        if method in ("auto", "fx"):
            try:
                cap = capture_fx(model, ins, known_module)
                _batch_factors(cap, ins, lambda ins2: capture_fx(model, ins2, known_module))
                notes.append(Diagnostic("note", "captured with torch.fx symbolic tracing; shapes from a run on the "
                                        "meta device", None, code="capture-fx"))
                return cap, notes, model
            except UsageError:
                raise
            except Exception as e:
                if method == "fx":
                    raise UsageError(f"torch.fx could not trace the module: {type(e).__name__}: {e}") from None
                msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
                notes.append(Diagnostic(
                    "warning", f"torch.fx could not trace the module ({type(e).__name__}: {msg}); captured instead "
                    "with forward hooks during one real run on a random input: the graph is the path that run "
                    "took (data-dependent branches may differ on other inputs)", None,
                    ["make the forward traceable (no Python control flow on tensor values) for a "
                     "data-independent graph"], code="capture-hooks"))
        if _on_meta(model):
            if rebuild is None:
                raise UsageError("the module's weights are on the meta device: a real run is impossible")
            model = rebuild()
            model.eval()
        try:
            cap = capture_hooks(model, ins, known_module)
            _batch_factors(cap, ins, lambda ins2: capture_hooks(model, ins2, known_module))
        except Exception as e:
            raise UsageError(f"running the module on inputs {', '.join(str(list(s)) for _, s in ins)} failed: "
                             f"{type(e).__name__}: {e}") from None
        if method == "hooks":
            notes.append(Diagnostic("note", "captured with forward hooks during one real run on a random input",
                                    None, code="capture-hooks"))
        return cap, notes, model
    finally:
        model.train(was_training)
