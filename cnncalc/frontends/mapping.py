"""From a captured call to one of our layer kinds, with its real arguments.

``known_module(m)`` names the kind of a leaf module (``nn.Conv2d`` -> ``Conv2d``); ``map_call``
turns a :class:`~.capture.Call` into ``(op, bound arguments, input refs, parameter names)`` or
``None`` when the call is not one we know (it then becomes an opaque node).  Tensors in arguments
are :class:`Ref` (activations) or :class:`PRef` (parameters, named by qualified name).
"""
from __future__ import annotations

import operator

from ..kinds import REGISTRY
from .capture import PRef, Ref


class Unmapped(Exception):
    """A known function called in a way our kinds do not cover (reason in the message)."""


# ----------------------------------------------------------------------------- modules
_EXTRA_MODULES = {
    # torchvision classes mapped to our kinds
    "torchvision.ops.deform_conv.DeformConv2d": "DeformConv2d",
    "torchvision.ops.stochastic_depth.StochasticDepth": "StochasticDepth",
    "torchvision.ops.misc.Permute": "permute",
    "torchvision.models.swin_transformer.ShiftedWindowAttention": "ShiftedWindowAttention",
    "torchvision.models.swin_transformer.ShiftedWindowAttentionV2": "ShiftedWindowAttentionV2",
    "torchvision.models.video.swin_transformer.ShiftedWindowAttention3d": "ShiftedWindowAttention3d",
    "torchvision.models.video.mvit.MultiscaleAttention": "MultiscaleAttention",
    "torchvision.models.video.mvit.Pool": "MViTPool",
    "torchvision.models.video.mvit.PositionalEncoding": "MViTPositionalEncoding",
}


def known_module(m):
    """The kind name for a leaf module, or None (then fx traces through it, or it is opaque)."""
    t = type(m)
    full = f"{t.__module__}.{t.__qualname__}"
    if full in _EXTRA_MODULES:
        return _EXTRA_MODULES[full]
    for base in t.__mro__:
        mod = base.__module__ or ""
        if not mod.startswith("torch.nn.modules"):
            continue
        if base.__name__ in REGISTRY and REGISTRY[base.__name__].has_module:
            # a subclass that overrides forward does something else: trace through it instead
            if getattr(t, "forward", None) is not getattr(base, "forward", None):
                return None
            return base.__name__
        return None
    return None


def module_args(op, m):
    """Arguments of kind ``op`` read from the module's attributes, by the kind's torch signature."""
    import torch
    cls = REGISTRY[op]
    bound = {}
    if op == "Identity":
        return {}
    for a in cls.SIG:
        if a.name in ("device", "dtype"):
            continue
        if not hasattr(m, a.name):
            continue
        v = getattr(m, a.name)
        if a.type == "bool" and (v is None or isinstance(v, torch.Tensor)):
            v = v is not None
        elif isinstance(v, torch.Tensor):
            continue          # a loss weight tensor and the like: keep the default
        if isinstance(v, torch.Size):
            v = tuple(v)
        if isinstance(v, list):
            v = tuple(v)
        bound[a.name] = v
    if op == "ReLU6":
        bound = {"inplace": m.inplace}
    if op == "MViTPositionalEncoding":
        bound = {"spatial_size": tuple(m.spatial_size), "temporal_size": m.temporal_size,
                 "rel_pos_embed": m.spatial_pos is None}
    if op in ("ShiftedWindowAttention", "ShiftedWindowAttentionV2", "ShiftedWindowAttention3d"):
        bound.update(qkv_bias=m.qkv.bias is not None, proj_bias=m.proj.bias is not None)
    return bound


# ----------------------------------------------------------------------------- functions
def _bind(names, args, kwargs):
    """Bind positional and keyword arguments to ``names`` [(name, default)]; REQ marks required."""
    out = {}
    for (n, d), v in zip(names, args):
        out[n] = v
    for n, d in names:
        if n in kwargs:
            out[n] = kwargs[n]
        elif n not in out:
            if d is _REQ:
                raise Unmapped(f"missing argument {n}")
            out[n] = d
    return out


_REQ = object()


def _act(op, extra=(), inplace=True):
    names = [("input", _REQ)] + list(extra) + ([("inplace", False)] if inplace else [])

    def h(c, args, kwargs):
        b = _bind(names, args, kwargs)
        kw = {k: b[k] for k, _ in extra}
        if inplace:
            kw["inplace"] = bool(b["inplace"])
        return op, kw, [b["input"]], []
    return h


def _method_act(op, inplace=False):
    def h(c, args, kwargs):
        kw = {"inplace": True} if inplace else {}
        if op in ("Sigmoid", "Tanh"):
            kw = {}
        return op, kw, [args[0]], []
    return h


def _softmax(op):
    def h(c, args, kwargs):
        b = _bind([("input", _REQ), ("dim", None), ("_stacklevel", 3), ("dtype", None)], args, kwargs)
        if b["dtype"] is not None:
            raise Unmapped("softmax with a dtype")
        return op, {"dim": b["dim"]}, [b["input"]], []
    return h


def _pool(kind, nd):
    if kind == "max":
        names = [("input", _REQ), ("kernel_size", _REQ), ("stride", None), ("padding", 0), ("dilation", 1),
                 ("ceil_mode", False), ("return_indices", False)]
        op = f"MaxPool{nd}d"
    else:
        names = [("input", _REQ), ("kernel_size", _REQ), ("stride", None), ("padding", 0), ("ceil_mode", False),
                 ("count_include_pad", True)] + ([("divisor_override", None)] if nd > 1 else [])
        op = f"AvgPool{nd}d"

    def h(c, args, kwargs):
        b = _bind(names, args, kwargs)
        x = b.pop("input")
        if b.get("return_indices"):
            raise Unmapped("max pooling that returns indices")
        if b["stride"] in ([], ()):
            b["stride"] = None
        return op, b, [x], []
    return h


def _adaptive(kind, nd):
    op = f"Adaptive{'Max' if kind == 'max' else 'Avg'}Pool{nd}d"

    def h(c, args, kwargs):
        b = _bind([("input", _REQ), ("output_size", _REQ), ("return_indices", False)], args, kwargs)
        if b["return_indices"]:
            raise Unmapped("adaptive max pooling that returns indices")
        return op, {"output_size": b["output_size"]}, [b["input"]], []
    return h


def _shape_of(c, shapes, ref):
    return shapes[ref]


def _weight_shape(c, ref):
    if not isinstance(ref, PRef):
        raise Unmapped("the weight is not a parameter of the module")
    return c.param_shapes[ref.name]


def _conv(nd, transposed=False):
    if transposed:
        names = [("input", _REQ), ("weight", _REQ), ("bias", None), ("stride", 1), ("padding", 0),
                 ("output_padding", 0), ("groups", 1), ("dilation", 1)]
    else:
        names = [("input", _REQ), ("weight", _REQ), ("bias", None), ("stride", 1), ("padding", 0),
                 ("dilation", 1), ("groups", 1)]

    def h(c, args, kwargs):
        b = _bind(names, args, kwargs)
        w = _weight_shape(c, b["weight"])
        pn = [b["weight"].name]
        if b["bias"] is not None:
            if not isinstance(b["bias"], PRef):
                raise Unmapped("the bias is not a parameter")
            pn.append(b["bias"].name)
        g = b["groups"]
        kw = {"stride": b["stride"], "padding": b["padding"], "dilation": b["dilation"], "groups": g,
              "bias": b["bias"] is not None, "kernel_size": tuple(w[2:])}
        if transposed:
            kw.update(in_channels=w[0], out_channels=w[1] * g, output_padding=b["output_padding"])
            op = f"ConvTranspose{nd}d"
        else:
            kw.update(in_channels=w[1] * g, out_channels=w[0])
            op = f"Conv{nd}d"
        return op, kw, [b["input"]], pn
    return h


def _linear(c, args, kwargs):
    b = _bind([("input", _REQ), ("weight", _REQ), ("bias", None)], args, kwargs)
    w = _weight_shape(c, b["weight"])
    pn = [b["weight"].name] + ([b["bias"].name] if isinstance(b["bias"], PRef) else [])
    if b["bias"] is not None and not isinstance(b["bias"], PRef):
        raise Unmapped("the bias is not a parameter")
    return "Linear", {"in_features": w[1], "out_features": w[0], "bias": b["bias"] is not None}, [b["input"]], pn


def _batch_norm(c, args, kwargs):
    b = _bind([("input", _REQ), ("running_mean", _REQ), ("running_var", _REQ), ("weight", None), ("bias", None),
               ("training", False), ("momentum", 0.1), ("eps", 1e-5)], args, kwargs)
    rank = len(c.in_shape(b["input"]))
    nd = {2: 1, 3: 1, 4: 2, 5: 3}.get(rank)
    if nd is None:
        raise Unmapped("batch norm of an unusual rank")
    pn = [x.name for x in (b["weight"], b["bias"]) if isinstance(x, PRef)]
    if (b["weight"] is None) != (b["bias"] is None):
        raise Unmapped("batch norm with only one of weight and bias")
    return (f"BatchNorm{nd}d", {"eps": b["eps"], "momentum": b["momentum"], "affine": b["weight"] is not None,
                                "track_running_stats": b["running_mean"] is not None}, [b["input"]], pn)


def _layer_norm(c, args, kwargs):
    b = _bind([("input", _REQ), ("normalized_shape", _REQ), ("weight", None), ("bias", None), ("eps", 1e-5)],
              args, kwargs)
    pn = [x.name for x in (b["weight"], b["bias"]) if isinstance(x, PRef)]
    ns = b["normalized_shape"]
    return ("LayerNorm", {"normalized_shape": tuple(ns) if not isinstance(ns, int) else ns, "eps": b["eps"],
                          "elementwise_affine": b["weight"] is not None, "bias": b["bias"] is not None},
            [b["input"]], pn)


def _group_norm(c, args, kwargs):
    b = _bind([("input", _REQ), ("num_groups", _REQ), ("weight", None), ("bias", None), ("eps", 1e-5)], args, kwargs)
    pn = [x.name for x in (b["weight"], b["bias"]) if isinstance(x, PRef)]
    return "GroupNorm", {"num_groups": b["num_groups"], "eps": b["eps"], "affine": b["weight"] is not None}, \
        [b["input"]], pn


def _prelu(c, args, kwargs):
    b = _bind([("input", _REQ), ("weight", _REQ)], args, kwargs)
    w = _weight_shape(c, b["weight"])
    n = 1
    for d in w:
        n *= d
    return "PReLU", {"num_parameters": n}, [b["input"]], [b["weight"].name]


def _dropout(op):
    def h(c, args, kwargs):
        b = _bind([("input", _REQ), ("p", 0.5), ("training", True), ("inplace", False)], args, kwargs)
        return op, {"p": b["p"], "inplace": bool(b["inplace"])}, [b["input"]], []
    return h


def _interpolate(c, args, kwargs):
    b = _bind([("input", _REQ), ("size", None), ("scale_factor", None), ("mode", "nearest"), ("align_corners", None),
               ("recompute_scale_factor", None), ("antialias", False)], args, kwargs)
    x = b.pop("input")
    return "interpolate", b, [x], []


def _pixel(op, argname):
    def h(c, args, kwargs):
        b = _bind([("input", _REQ), (argname, _REQ)], args, kwargs)
        return op, {argname if op != "ChannelShuffle" else "groups": b[argname]}, [b["input"]], []
    return h


def _unfold(c, args, kwargs):
    """``F.unfold(input, kernel_size, dilation=1, padding=0, stride=1)`` (im2col; not ``Tensor.unfold``)."""
    b = _bind([("input", _REQ), ("kernel_size", _REQ), ("dilation", 1), ("padding", 0), ("stride", 1)], args, kwargs)
    x = b.pop("input")
    return "Unfold", {k: tuple(v) if isinstance(v, list) else v for k, v in b.items()}, [x], []


def _pad(c, args, kwargs):
    b = _bind([("input", _REQ), ("pad", _REQ), ("mode", "constant"), ("value", None)], args, kwargs)
    pad = tuple(b["pad"])
    nd = len(pad) // 2
    rank = len(c.in_shape(b["input"])) - 2
    mode = b["mode"]
    if len(pad) % 2 or nd != rank or nd not in (1, 2, 3) or mode not in ("constant", "reflect", "replicate"):
        # a channels-last map, some of the dims, or circular: the functional kind
        return "pad", {"pad": pad, "mode": mode, "value": b["value"]}, [b["input"]], []
    if mode == "constant":
        if not b["value"]:
            return f"ZeroPad{nd}d", {"padding": pad}, [b["input"]], []
        return f"ConstantPad{nd}d", {"padding": pad, "value": float(b["value"])}, [b["input"]], []
    op = {"reflect": "Reflection", "replicate": "Replication"}[mode]
    return f"{op}Pad{nd}d", {"padding": pad}, [b["input"]], []


def _tensors_fn(op):
    def h(c, args, kwargs):
        b = _bind([("tensors", _REQ), ("dim", 0)], args, kwargs)
        ts = list(b["tensors"])
        if not all(isinstance(t, Ref) for t in ts):
            raise Unmapped(f"{op} of something other than activations")
        return op, {"dim": b["dim"]}, ts, []
    return h


def _flatten(c, args, kwargs):
    b = _bind([("input", _REQ), ("start_dim", 0), ("end_dim", -1)], args, kwargs)
    return "flatten", {"start_dim": b["start_dim"], "end_dim": b["end_dim"]}, [b["input"]], []


def _reshape(c, args, kwargs):
    x = args[0]
    if not c.batch_kept(x):
        raise Unmapped("a reshape that moves the batch dimension")
    return "reshape", {"shape": tuple(c.out_shapes[0][1:])}, [x], []


def _permute_method(c, args, kwargs):
    x = args[0]
    dims = args[1:] if len(args) > 1 else kwargs.get("dims")
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    return _permute(c, x, dims)


def _permute_fn(c, args, kwargs):
    b = _bind([("input", _REQ), ("dims", _REQ)], args, kwargs)
    return _permute(c, b["input"], b["dims"])


def _permute(c, x, dims):
    r = len(c.in_shape(x))
    dims = tuple(d + r if d < 0 else d for d in dims)
    if dims[0] != 0:
        raise Unmapped("a permutation that moves the batch dimension")
    return "permute", {"dims": dims}, [x], []


def _transpose(c, args, kwargs):
    b = _bind([("input", _REQ), ("dim0", _REQ), ("dim1", _REQ)], args, kwargs)
    r = len(c.in_shape(b["input"]))
    d0, d1 = (d + r if d < 0 else d for d in (b["dim0"], b["dim1"]))
    dims = list(range(r))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return _permute(c, b["input"], dims)


def _chunk(c, args, kwargs):
    b = _bind([("input", _REQ), ("chunks", _REQ), ("dim", 0)], args, kwargs)
    return "chunk", {"chunks": b["chunks"], "dim": b["dim"]}, [b["input"]], []


def _split(c, args, kwargs):
    b = _bind([("input", _REQ), ("split_size_or_sections", _REQ), ("dim", 0)],
              args, {("split_size_or_sections" if k == "split_size" else k): v for k, v in kwargs.items()})
    s = b["split_size_or_sections"]
    return "split", {"split_size_or_sections": s if isinstance(s, int) else tuple(s), "dim": b["dim"]}, \
        [b["input"]], []


def _reduce(op):
    def h(c, args, kwargs):
        b = _bind([("input", _REQ), ("dim", None), ("keepdim", False)], args, kwargs)
        if b["dim"] is None or kwargs.get("dtype") is not None:
            raise Unmapped(f"{op} over every dim (the batch included)")
        d = b["dim"]
        return op, {"dim": tuple(d) if isinstance(d, (list, tuple)) else d, "keepdim": bool(b["keepdim"])}, \
            [b["input"]], []
    return h


def _binary(op):
    def h(c, args, kwargs):
        x, y = args[0], (args[1] if len(args) > 1 else kwargs.get("other"))
        alpha = kwargs.get("alpha", 1)
        if isinstance(x, Ref) and isinstance(y, Ref):
            kw = {"alpha": alpha} if op in ("add", "sub") else {}
            if op not in ("add", "sub") and alpha != 1:
                raise Unmapped("alpha")
            return op, kw, [x, y], []
        if isinstance(x, Ref) and isinstance(y, (int, float)) and not isinstance(y, bool):
            return "scalar:" + op, {"other": y}, [x], []
        if isinstance(y, Ref) and isinstance(x, (int, float)) and not isinstance(x, bool):
            return "scalar:r" + op, {"other": x}, [y], []
        if isinstance(x, Ref) and isinstance(y, PRef) and alpha == 1:
            return "param:" + op, {"param": y.name}, [x], [y.name]
        if isinstance(y, Ref) and isinstance(x, PRef) and alpha == 1:
            return "param:r" + op, {"param": x.name}, [y], [x.name]
        raise Unmapped(f"{op} with a parameter or constant tensor operand")
    return h


def _rbinary(op):
    def h(c, args, kwargs):
        return _binary(op)(c, (args[1], args[0]), kwargs)
    return h


def _matmul(op):
    def h(c, args, kwargs):
        x, y = args[0], (args[1] if len(args) > 1 else kwargs.get("other", kwargs.get("mat2")))
        if not (isinstance(x, Ref) and isinstance(y, Ref)):
            raise Unmapped(f"{op} with a parameter or constant operand")
        if op == "matmul" and len(c.in_shape(x)) != len(c.in_shape(y)):
            raise Unmapped("matmul of tensors of different ranks (the batch would broadcast against another dim)")
        return op, {}, [x, y], []
    return h


def _sdpa(c, args, kwargs):
    b = _bind([("query", _REQ), ("key", _REQ), ("value", _REQ), ("attn_mask", None), ("dropout_p", 0.0),
               ("is_causal", False), ("scale", None), ("enable_gqa", False)], args, kwargs)
    if b["attn_mask"] is not None:
        raise Unmapped("scaled_dot_product_attention with an attention mask")
    if b["dropout_p"]:
        raise Unmapped("scaled_dot_product_attention with dropout")
    kw = {"is_causal": bool(b["is_causal"]), "scale": b["scale"], "enable_gqa": bool(b["enable_gqa"])}
    return "scaled_dot_product_attention", kw, [b["query"], b["key"], b["value"]], []


def _mha_call(c):
    """nn.MultiheadAttention(query, key, value, ...): the attention output (output 0) is the node's output;
    the averaged weights (output 1, with need_weights) are not a kind's output."""
    m = c.target
    b = _bind([("query", _REQ), ("key", _REQ), ("value", _REQ), ("key_padding_mask", None), ("need_weights", True),
               ("attn_mask", None), ("average_attn_weights", True), ("is_causal", False)], c.args, c.kwargs)
    if b["key_padding_mask"] is not None or b["attn_mask"] is not None or b["is_causal"]:
        raise Unmapped("MultiheadAttention with a mask")
    if not m.batch_first:
        raise Unmapped("MultiheadAttention with batch_first=False: the batch is dim 1 of its tensors")
    bound = module_args("MultiheadAttention", m)
    bound["bias"] = m.in_proj_bias is not None
    bound["add_bias_kv"] = m.bias_k is not None
    if b["query"] == b["key"] == b["value"]:
        return bound, [b["query"]], 1          # self-attention: one input (torch's fast path needs the same tensor)
    return bound, [b["query"], b["key"], b["value"]], 1


def _rnn_call(c):
    """nn.LSTM / nn.GRU(input): the output sequence (output 0) is the node's output; the final states h_n
    (and c_n), [layers*D, N, H] with the batch in dim 1, are not."""
    m = c.target
    op = type(m).__name__ if type(m).__name__ in ("LSTM", "GRU") else None
    for base in type(m).__mro__:
        if base.__name__ in ("LSTM", "GRU") and (base.__module__ or "").startswith("torch.nn.modules"):
            op = base.__name__
    b = _bind([("input", _REQ), ("hx", None)], c.args, c.kwargs)
    if b["hx"] is not None:
        raise Unmapped(f"{op} with an initial state hx")
    if not m.batch_first:
        raise Unmapped(f"{op} with batch_first=False: the batch is dim 1 of its tensors")
    bound = module_args(op, m)
    return bound, [b["input"]], 1


def _thw(c):
    b = _bind([("x", _REQ), ("thw", _REQ)], c.args, c.kwargs)
    thw = b["thw"]
    if not isinstance(thw, (tuple, list)) or len(thw) != 3 or not all(isinstance(v, int) for v in thw):
        raise Unmapped("thw is not three integers")
    return b["x"], tuple(thw)


def _mvit_attention_call(c):
    """MViT's MultiscaleAttention(x, thw) -> (x, thw): output 0 is the kind's."""
    m = c.target
    x, thw = _thw(c)

    def pool(p):
        if p is None:
            return (1, 1, 1), (1, 1, 1)
        if type(p.pool).__name__ != "Conv3d" or p.norm_before_pool:
            raise Unmapped("a pooling other than torchvision's Conv3d + norm")
        return tuple(p.pool.kernel_size), tuple(p.pool.stride)
    kq, sq = pool(m.pool_q)
    kkv, skv = pool(m.pool_k)
    if (kkv, skv) != pool(m.pool_v):
        raise Unmapped("k and v pooled differently")
    rel = m.rel_pos_h is not None
    bound = {"embed_dim": m.qkv.in_features, "output_dim": m.output_dim, "num_heads": m.num_heads, "thw": thw,
             "kernel_q": kq, "kernel_kv": kkv, "stride_q": sq, "stride_kv": skv, "residual_pool": m.residual_pool,
             "residual_with_cls_embed": m.residual_with_cls_embed, "rel_pos_embed": rel,
             "rel_pos_size": (m.rel_pos_h.shape[0], m.rel_pos_t.shape[0]) if rel else (0, 0)}
    return bound, [x], 1


def _mvit_pool_call(c):
    """MViT's skip Pool(MaxPool3d, None)(x, thw) -> (x, thw)."""
    m = c.target
    x, thw = _thw(c)
    if type(m.pool).__name__ != "MaxPool3d" or m.norm_act is not None:
        raise Unmapped("a pooling other than the skip connection's MaxPool3d")
    k = tuple(m.pool.kernel_size) if isinstance(m.pool.kernel_size, (tuple, list)) else (m.pool.kernel_size,) * 3
    s = tuple(m.pool.stride) if isinstance(m.pool.stride, (tuple, list)) else (m.pool.stride,) * 3
    if tuple(m.pool.padding if isinstance(m.pool.padding, (tuple, list)) else (m.pool.padding,) * 3) != \
            tuple(v // 2 for v in k):
        raise Unmapped("a padding other than kernel // 2")
    return {"thw": thw, "kernel_size": k, "stride": s}, [x], 1


# module kind -> handler(call) -> (bound arguments, input refs, number of outputs that are the kind's)
# for modules called with more than activations (keyword arguments, an output tuple holding None)
MODULE_CALLS = {"MultiheadAttention": _mha_call, "MultiscaleAttention": _mvit_attention_call,
                "MViTPool": _mvit_pool_call, "LSTM": _rnn_call, "GRU": _rnn_call}


def _einsum(c, args, kwargs):
    if not args or not isinstance(args[0], str):
        raise Unmapped("einsum without an equation string")
    ops = list(args[1:])
    if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
        ops = list(ops[0])
    if len(ops) != 2 or not all(isinstance(x, Ref) for x in ops):
        raise Unmapped("einsum of other than two activations")
    return "einsum", {"equation": args[0]}, ops, []


def _unsqueeze(c, args, kwargs):
    """``x.unsqueeze(d)``, ``x.squeeze(d)``, ``x[:, None]``: a view with size-1 dims added or removed (a reshape)."""
    if not isinstance(args[0], Ref):
        raise Unmapped("a reshape of something other than an activation")
    return _reshape(c, args, kwargs)


def _getitem(c, args, kwargs):
    x, ix = args[0], args[1]
    if not isinstance(x, Ref):
        raise Unmapped("indexing of something other than an activation")
    if isinstance(ix, tuple) and None in ix and all(e is None or e is Ellipsis or e == slice(None) for e in ix):
        return _unsqueeze(c, args, kwargs)          # x[:, None], x[..., None]: new size-1 dims
    ix = list(ix) if isinstance(ix, tuple) else [ix]
    rank = len(c.in_shape(x))
    if Ellipsis in ix:
        k = ix.index(Ellipsis)
        if Ellipsis in ix[k + 1:]:
            raise Unmapped("two ellipses")
        ix = ix[:k] + [slice(None)] * (rank - len(ix) + 1) + ix[k + 1:]
    if not ix or ix[0] != slice(None):
        raise Unmapped("indexing that does not keep the whole batch dimension")
    out = []
    for e in ix[1:]:
        if isinstance(e, bool) or e is None:
            raise Unmapped("indexing with None or a bool")
        if isinstance(e, int):
            out.append(e)
        elif isinstance(e, slice):
            if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in (e.start, e.stop, e.step)):
                raise Unmapped("a slice bound that is not an integer")
            out.append(None if e == slice(None) else (e.start, e.stop, e.step))
        else:
            raise Unmapped("indexing by a tensor or a list")
    return "getitem", {"index": tuple(out)}, [x], []


def _roll(c, args, kwargs):
    b = _bind([("input", _REQ), ("shifts", _REQ), ("dims", None)], args, kwargs)
    if b["dims"] is None:
        raise Unmapped("roll of the flattened tensor (no dims)")
    sh, ds = b["shifts"], b["dims"]
    return "roll", {"shifts": tuple(sh) if isinstance(sh, (list, tuple)) else sh,
                    "dims": tuple(ds) if isinstance(ds, (list, tuple)) else ds}, [b["input"]], []


def _grid_sample(c, args, kwargs):
    b = _bind([("input", _REQ), ("grid", _REQ), ("mode", "bilinear"), ("padding_mode", "zeros"),
               ("align_corners", None)], args, kwargs)
    return "grid_sample", {k: b[k] for k in ("mode", "padding_mode", "align_corners")}, [b["input"], b["grid"]], []


def _mvit_unsqueeze(c, args, kwargs):
    """MViT's ``_unsqueeze(x, target_dim, expand_dim) -> (x, dim)``: the tensor unchanged when it already has
    ``target_dim`` dims (a clip into MViT)."""
    x, target = args[0], args[1]
    if len(c.in_shape(x)) != target:
        raise Unmapped("_unsqueeze that adds a dim")
    return "alias", {}, [x], []


_mvit_unsqueeze.partial_output = True      # returns (tensor, int)


def _abs(c, args, kwargs):
    return "abs", {}, [args[0]], []


def _identity(c, args, kwargs):
    return "alias", {}, [args[0]], []


def _pointwise(op):
    """A pointwise function (frontends.kinds.POINTWISE) of activations, Python numbers as other operands."""
    def h(c, args, kwargs):
        from .capture import refs_in
        refs = refs_in((args, kwargs))
        if not refs:
            raise Unmapped(f"{op} of no activation")
        if refs_in((args, kwargs), PRef):
            raise Unmapped(f"{op} with a parameter operand")
        ops = 1
        if op in ("clamp", "clip"):
            b = _bind([("input", _REQ), ("min", None), ("max", None)], args, kwargs)
            ops = max(1, sum(v is not None for v in (b["min"], b["max"])))
        if op == "where" and len(args) + len(kwargs) != 3:
            raise Unmapped("where with one argument (the indices of the true elements)")
        return "pointwise:" + op, {"ops": ops}, refs, []
    return h


def _to(c, args, kwargs):
    """``x.to(device)``: the same tensor on the device the analysis is about (a move, not a new layer);
    ``x.to(dtype)``, ``x.float()``, ``x.long()``, ...: a cast (build_graph decides: the same dtype is the
    tensor itself, another a copy)."""
    import torch
    rest = list(args[1:]) + [v for k, v in kwargs.items() if k not in ("non_blocking", "copy")]
    if not isinstance(args[0], Ref):
        raise Unmapped("a cast of something other than an activation")
    if kwargs.get("copy") or not all(isinstance(v, (torch.device, str, torch.dtype)) for v in rest):
        raise Unmapped("`to` with other arguments than a device or a dtype")
    if all(isinstance(v, (torch.device, str)) for v in rest) and c.call.how == "method" and c.call.target == "to":
        return "alias", {}, [args[0]], []
    return "cast", {}, [args[0]], []


_FUNCS = None
_METHODS = None


def tables():
    """(function table, method table), built on first use (needs torch)."""
    global _FUNCS, _METHODS
    if _FUNCS is not None:
        return _FUNCS, _METHODS
    import torch
    import torch.nn.functional as F
    f = {}

    def add(fns, h):
        for fn in fns:
            if fn is not None:
                f[fn] = h
    g = lambda mod, *names: [getattr(mod, n, None) for n in names]  # noqa: E731
    add(g(F, "relu") + g(torch, "relu"), _act("ReLU"))
    add(g(F, "relu_") + g(torch, "relu_"), lambda c, a, k: ("ReLU", {"inplace": True}, [a[0]], []))
    add(g(F, "relu6"), _act("ReLU6"))
    add(g(F, "hardtanh"), _act("Hardtanh", (("min_val", -1.0), ("max_val", 1.0))))
    add(g(F, "leaky_relu"), _act("LeakyReLU", (("negative_slope", 0.01),)))
    add(g(F, "elu"), _act("ELU", (("alpha", 1.0),)))
    add(g(F, "celu"), _act("CELU", (("alpha", 1.0),)))
    add(g(F, "selu") + g(torch, "selu"), _act("SELU"))
    add(g(F, "silu"), _act("SiLU"))
    add(g(F, "mish"), _act("Mish"))
    add(g(F, "hardswish"), _act("Hardswish"))
    add(g(F, "hardsigmoid"), _act("Hardsigmoid"))
    add(g(F, "gelu"), _act("GELU", (("approximate", "none"),), inplace=False))
    add(g(F, "softplus"), _act("Softplus", (("beta", 1.0), ("threshold", 20.0)), inplace=False))
    add(g(F, "sigmoid") + g(torch, "sigmoid"), _act("Sigmoid", inplace=False))
    add(g(F, "tanh") + g(torch, "tanh"), _act("Tanh", inplace=False))
    add(g(F, "softmax") + g(torch, "softmax"), _softmax("Softmax"))
    add(g(F, "log_softmax") + g(torch, "log_softmax"), _softmax("LogSoftmax"))
    add(g(F, "prelu") + g(torch, "prelu"), _prelu)
    add(g(F, "dropout"), _dropout("Dropout"))
    add(g(F, "dropout1d"), _dropout("Dropout1d"))
    add(g(F, "dropout2d"), _dropout("Dropout2d"))
    add(g(F, "dropout3d"), _dropout("Dropout3d"))
    add(g(F, "alpha_dropout"), _dropout("AlphaDropout"))
    for nd in (1, 2, 3):
        add(g(F, f"max_pool{nd}d") + g(torch, f"max_pool{nd}d"), _pool("max", nd))
        add(g(F, f"avg_pool{nd}d") + g(torch, f"avg_pool{nd}d"), _pool("avg", nd))
        add(g(F, f"adaptive_avg_pool{nd}d") + g(torch, f"adaptive_avg_pool{nd}d"), _adaptive("avg", nd))
        add(g(F, f"adaptive_max_pool{nd}d"), _adaptive("max", nd))
        add(g(F, f"conv{nd}d") + g(torch, f"conv{nd}d"), _conv(nd))
        add(g(F, f"conv_transpose{nd}d") + g(torch, f"conv_transpose{nd}d"), _conv(nd, True))
    add(g(F, "linear"), _linear)
    add(g(F, "batch_norm"), _batch_norm)
    add(g(F, "layer_norm"), _layer_norm)
    add(g(F, "group_norm"), _group_norm)
    add(g(F, "interpolate"), _interpolate)
    add(g(F, "pixel_shuffle") + g(torch, "pixel_shuffle"), _pixel("PixelShuffle", "upscale_factor"))
    add(g(F, "pixel_unshuffle") + g(torch, "pixel_unshuffle"), _pixel("PixelUnshuffle", "downscale_factor"))
    add(g(F, "channel_shuffle") + g(torch, "channel_shuffle"), _pixel("ChannelShuffle", "groups"))
    add(g(F, "pad"), _pad)
    add(g(F, "unfold"), _unfold)
    add(g(torch, "cat", "concat", "concatenate"), _tensors_fn("cat"))
    add(g(torch, "stack"), _tensors_fn("stack"))
    add(g(torch, "flatten"), _flatten)
    add(g(torch, "unsqueeze", "squeeze"), _unsqueeze)
    add(g(torch, "reshape"), _reshape)
    add(g(torch, "permute"), _permute_fn)
    add(g(torch, "transpose", "swapaxes"), _transpose)
    add(g(torch, "chunk"), _chunk)
    add(g(torch, "split"), _split)
    add(g(torch, "mean"), _reduce("mean"))
    add(g(torch, "amax"), _reduce("amax"))
    add(g(torch, "sum"), _reduce("sum"))
    add(g(torch, "abs") + [operator.abs], _abs)
    add(g(torch, "matmul") + [operator.matmul], _matmul("matmul"))
    add(g(torch, "bmm"), _matmul("bmm"))
    add(g(F, "scaled_dot_product_attention"), _sdpa)
    add(g(torch, "einsum"), _einsum)
    add([operator.getitem], _getitem)
    add(g(torch, "roll"), _roll)
    add(g(F, "grid_sample"), _grid_sample)
    try:
        from torchvision.models.video import mvit
        add([getattr(mvit, "_unsqueeze", None)], _mvit_unsqueeze)
    except ImportError:    # pragma: no cover
        pass
    try:
        from torchvision.models import swin_transformer
        add([getattr(swin_transformer, "_patch_merging_pad", None)], lambda c, a, k: ("patch_merging_pad", {}, [a[0]], []))
    except ImportError:    # pragma: no cover  (torchvision is optional)
        pass
    for op, fns in (("add", [operator.add, operator.iadd, torch.add]),
                    ("sub", [operator.sub, operator.isub, torch.sub]),
                    ("mul", [operator.mul, operator.imul, torch.mul]),
                    ("div", [operator.truediv, operator.itruediv, torch.div])):
        add(fns, _binary(op))
    m = {
        "relu": _method_act("ReLU"), "relu_": _method_act("ReLU", True), "sigmoid": _method_act("Sigmoid"),
        "tanh": _method_act("Tanh"),
        "softmax": _softmax("Softmax"), "log_softmax": _softmax("LogSoftmax"),
        "flatten": _flatten, "view": _reshape, "reshape": _reshape, "permute": _permute_method,
        "unsqueeze": _unsqueeze, "squeeze": _unsqueeze,
        "transpose": _transpose, "chunk": _chunk, "split": _split, "mean": _reduce("mean"), "amax": _reduce("amax"), "sum": _reduce("sum"),
        "abs": _abs, "contiguous": _identity, "to": _to, "float": _to, "double": _to, "half": _to,
        "bfloat16": _to, "long": _to, "int": _to, "bool": _to, "type": _to,
        "matmul": _matmul("matmul"), "__matmul__": _matmul("matmul"), "bmm": _matmul("bmm"),
        "__getitem__": _getitem, "roll": _roll,
    }
    for op in ("add", "sub", "mul", "div"):
        m[op] = _binary(op)
        m[op + "_"] = _binary(op)
        m[f"__{op}__"] = _binary(op)
        m[f"__i{op}__"] = _binary(op)
        m[f"__r{op}__"] = _rbinary(op)
    m["__truediv__"] = _binary("div")
    m["__itruediv__"] = _binary("div")
    m["__rtruediv__"] = _rbinary("div")
    from .kinds import POINTWISE
    dunder = {"and": operator.and_, "or": operator.or_, "invert": operator.invert, "ge": operator.ge,
              "gt": operator.gt, "le": operator.le, "lt": operator.lt, "eq": operator.eq, "ne": operator.ne,
              "neg": operator.neg}
    for op in POINTWISE:
        h = _pointwise(op)
        add([getattr(torch, op, None), dunder.get(op)], h)
        m.setdefault(op, h)
        m.setdefault(f"__{op}__", h)
    _FUNCS, _METHODS = f, m
    return f, m


def handler_for(call):
    """The mapping function for a function/method call, or None."""
    funcs, methods = tables()
    if call.how == "method":
        return methods.get(call.target)
    try:
        return funcs.get(call.target)
    except TypeError:   # unhashable target
        return None
