"""cnncalc accepts a layer exactly when torch does.

Hypothesis draws an op and a random combination of its arguments (signs, zeros, floats where ints
belong, tuples of the wrong length, orderings such as min > max) and an input shape of the op's rank.
Torch then builds the module straight from `torch.nn` (not through cnncalc's builder) and runs it in
training mode on a batch of 2; cnncalc analyses the same call string.  The two must agree: torch
accepts <=> cnncalc reports no error.  (test_fuzz_args.py checks the other half: whatever is drawn,
no traceback.)

Not drawn here, each for a stated reason: losses (their target is implied by the spec format, not
given to the module), DeformConv2d (two inputs, its offset drawn by a dedicated test), reshape,
permute, flatten, mean and amax (the spec format defines their shape arguments without the batch,
or with it, where torch's call differs), Identity (no arguments), and the device/dtype arguments.
"""
import os

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

torch = pytest.importorskip("torch")

from conftest import analyse_text  # noqa: E402
from kind_samples import spec_text  # noqa: E402
from cnncalc.kinds import REGISTRY  # noqa: E402
from cnncalc.kinds.base import REQUIRED  # noqa: E402

SKIP = {"DeformConv2d", "reshape", "permute", "flatten", "mean", "amax", "sum", "Identity",
        "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "BCELoss", "BCEWithLogitsLoss",
        "einsum", "getitem", "roll", "relative_position_bias", "ShiftedWindowAttention",
        "ShiftedWindowAttentionV2", "ShiftedWindowAttention3d", "patch_merging_pad",
        "grid_sample", "StochasticDepth", "LayerScale", "pad",
        "MultiscaleAttention", "MViTPool", "MViTPositionalEncoding"}   # arguments of their own form (tests/test_tensor_ops.py)
OPS = sorted(op for op in REGISTRY if op not in SKIP)
# inferable sizes read from the input's last dim (the others from its first, the channels)
LAST_DIM = ("in_features", "input_size")
FUNCS = {"add", "sub", "mul", "div", "abs", "cat", "stack", "chunk", "split", "interpolate"}


def _rank(op):
    """Spatial rank the op expects (None: any)."""
    for nd in (1, 2, 3):
        if op.endswith(f"{nd}d"):
            return nd
    return None


INTS = st.integers(-2, 6)
FLOATS = st.sampled_from([-1.0, 0.0, 1e-5, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0])


def _value(arg, nd):
    t, name = arg.type, arg.name
    if t == "bool":
        return st.booleans()
    if t == "int":
        return st.one_of(INTS, st.sampled_from([2.0, 2.5]))
    if t == "optint":
        return st.one_of(st.none(), INTS)
    if t == "float":
        return st.one_of(FLOATS, INTS)
    if t == "str":
        return st.sampled_from(list(arg.choices) + ["x"]) if arg.choices else st.just("x")
    n = nd or 2
    tup = st.lists(st.integers(-1, 5), min_size=max(1, n - 1), max_size=n + 1)
    if name in ("size", "output_size"):
        return st.one_of(st.integers(-1, 9), st.lists(st.one_of(st.integers(-1, 9), st.none()), min_size=n,
                                                      max_size=n), st.none())
    if name == "scale_factor":
        return st.one_of(st.sampled_from([-2, 0, 0.5, 1, 2, 1.5, 2.0]), st.none(),
                         st.lists(st.sampled_from([-1, 0.5, 1, 2]), min_size=n, max_size=n))
    if name == "padding":
        return st.one_of(INTS, tup, st.sampled_from(["same", "valid"]))
    if name in ("normalized_shape", "unflattened_size", "split_size_or_sections"):
        return st.one_of(st.integers(-1, 12), st.lists(st.integers(-1, 12), min_size=1, max_size=3))
    if name == "momentum":
        return st.one_of(st.none(), FLOATS)
    return st.one_of(INTS, tup)


def _literal(v):
    return repr(v) if not isinstance(v, list) else "[" + ", ".join(_literal(x) for x in v) + "]"


@st.composite
def case(draw):
    op = draw(st.sampled_from(OPS))
    cls = REGISTRY[op]
    nd = _rank(op)
    sig = [a for a in cls.SIG if a.name not in ("device", "dtype", "inplace")]
    kw = {}
    for a in sig:
        if a.default is REQUIRED and not a.infer:
            if draw(st.integers(0, 9)):           # usually give the required ones
                kw[a.name] = draw(_value(a, nd))
        elif draw(st.integers(0, 2)) == 0:
            kw[a.name] = draw(_value(a, nd))
    rank = nd if nd is not None else draw(st.integers(0, 2))
    c = draw(st.sampled_from([1, 2, 3, 4, 6]))
    spatial = draw(st.lists(st.integers(1, 9), min_size=rank, max_size=rank))
    if op in ("Linear", "LazyLinear", "Bilinear") or op.startswith("BatchNorm1") and draw(st.booleans()):
        shape = [c]
    else:
        shape = [c] + spatial
    shapes = [shape]
    if op in ("add", "sub", "mul", "div", "cat", "stack"):
        other = list(shape)
        if draw(st.booleans()) and len(other) > 1:
            other[draw(st.integers(0, len(other) - 1))] = draw(st.sampled_from([1, 2, 5]))
        shapes.append(other)
        if op in ("add", "sub", "mul", "div"):
            kw.pop("alpha", None) if op in ("mul", "div") else None
    return op, kw, shapes


def outside_the_format(op, kw, shapes):
    """Calls the spec format defines differently from torch, each on purpose (spec-format.md):
    dims that reach into the batch (shapes exclude it), an explicit size that disagrees with the
    input (always an error in a spec; torch's InstanceNorm without affine only warns), and softmax
    without `dim` (deprecated in torch, which then guesses the dim)."""
    rank = len(shapes[0]) + 1
    if op in ("Softmax", "LogSoftmax") and kw.get("dim") in (None, 0, -rank):
        return "softmax dim"
    if op == "Flatten" and kw.get("start_dim", 1) in (0, -rank):
        return "flattens the batch"
    if op in ("PixelShuffle", "PixelUnshuffle", "ChannelShuffle") and rank != 4:
        return "torch would read the batch as the channels"
    if op == "Unfold" and rank == 3:
        return "torch would read the batch as the channels (a 3-D input is one unbatched [C, H, W] map)"
    if op == "cat" and kw.get("dim", 1) in (0, -rank):
        return "concatenates along the batch"
    if op in ("chunk", "split", "stack") and kw.get("dim", 0 if op != "stack" else 1) in (0, -rank, -rank - 1):
        return "splits or stacks along the batch"
    if op in ("LSTM", "GRU") and rank == 2:
        return "torch would read the batch as the time steps (a 2-D input is one unbatched sequence)"
    for a in REGISTRY[op].SIG:
        if a.infer and a.name in kw:
            want = shapes[0][-1] if a.name in LAST_DIM else shapes[0][0]
            if kw[a.name] != want or type(kw[a.name]) is not int:
                return "explicit size against the input"
    return None


def _torch_kwargs(op, kw, shapes):
    """What torch's constructor needs that a spec may leave out: the inferable sizes."""
    out = dict(kw)
    for a in REGISTRY[op].SIG:
        if a.infer and a.name not in out:
            out[a.name] = shapes[0][-1] if a.name in LAST_DIM else shapes[0][0]
    return out


def _torch_accepts(op, kw, shapes):
    import torch.nn.functional as F
    kw = _torch_kwargs(op, kw, shapes)
    xs = [torch.rand(2, *s) for s in shapes]
    try:
        if op in FUNCS:
            if op in ("add", "sub"):
                getattr(torch, op)(xs[0], xs[1], **kw)
            elif op in ("mul", "div"):
                getattr(torch, op)(xs[0], xs[1])
            elif op == "abs":
                torch.abs(xs[0])
            elif op in ("cat", "stack"):
                getattr(torch, op)(xs, dim=kw.get("dim", 1))
            elif op == "chunk":
                torch.chunk(xs[0], **kw)
            elif op == "split":
                torch.split(xs[0], **kw)
            elif op == "interpolate":
                F.interpolate(xs[0], **kw)
            return True
        mod = getattr(torch.nn, op)(**kw)
        mod.train()
        out = mod(xs[0])
        outs = out if isinstance(out, (tuple, list)) else [out]
        return all(o.numel() > 0 for o in outs if isinstance(o, torch.Tensor))
    except Exception:  # noqa: BLE001 - any refusal by torch counts as a refusal
        return False


def _cnncalc_accepts(op, kw, shapes):
    node = f"{op}(" + ", ".join(f"{k}={_literal(v)}" for k, v in kw.items()) + ")"
    from cnncalc.errors import SpecErrors
    try:
        a = analyse_text(spec_text(node, shapes), batch=2)
    except SpecErrors:
        return False, node
    return not any(d.severity == "error" for d in a.diagnostics), node


@pytest.mark.slow
@settings(max_examples=int(os.environ.get("CNNCALC_FUZZ_TORCH", "300")), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case())
def test_accepts_exactly_what_torch_accepts(c):
    op, kw, shapes = c
    assume(outside_the_format(op, kw, shapes) is None)
    want = _torch_accepts(op, kw, shapes)
    got, node = _cnncalc_accepts(op, kw, shapes)
    assert got == want, f"{node} on {shapes}: torch {'accepts' if want else 'refuses'}, cnncalc " \
                        f"{'accepts' if got else 'refuses'}"
