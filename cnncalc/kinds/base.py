"""The layer-kind registry and the base class every kind derives from.

A kind holds everything about one op in one place (design.md, "Define a layer
kind once"): its torch signature, argument normalisation, output shapes,
parameters and buffers, forward and backward work as terms, what autograd saves
for backward, its receptive-field step, the formulas behind the numbers, and a
builder of the real ``torch.nn`` module (torch imported inside it only).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from ..figure import Figure
from ..i18n import N_, _

REQUIRED = object()   # marks an argument without default
REGISTRY: dict[str, type["Kind"]] = {}

# Op names of other frameworks (Keras, Caffe), and the kind they mean here: error hints suggest them.
FOREIGN_OPS = {
    "Conv2D": "Conv2d",
    "Conv1D": "Conv1d",
    "Conv3D": "Conv3d",
    "Conv2DTranspose": "ConvTranspose2d",
    "Dense": "Linear",
    "Concat": "cat",
    "Concatenate": "cat",
    "concat": "cat",
    "MaxPooling2D": "MaxPool2d",
    "AveragePooling2D": "AvgPool2d",
    "GlobalAveragePooling2D": "AdaptiveAvgPool2d",
    "BatchNormalization": "BatchNorm2d",
    "Add": "add",
    "Multiply": "mul",
    "Activation": "ReLU",
    "Relu": "ReLU",
    "relu": "ReLU",
}
# The ops a spec's `parallel` block may merge its branches with (`merge:`), the first the default.
MERGE_OPS = ("cat", "add", "mul")


class KindError(Exception):
    """A problem with one node's arguments or inputs.  ``arg`` names the argument at fault."""

    def __init__(self, message: str, arg: str | None = None, hints=None, code: str | None = None):
        super().__init__(message)
        self.arg = arg
        self.hints = list(hints or [])
        self.code = code


def register(*names):
    """Class decorator: register a kind under its op names; duplicates are refused."""
    def deco(cls):
        for n in names:
            if n in REGISTRY:
                raise RuntimeError(f"op {n!r} registered twice ({REGISTRY[n].__name__}, {cls.__name__})")
            REGISTRY[n] = cls
        cls.names = tuple(names)
        return cls
    return deco


@dataclass
class Arg:
    name: str
    default: object = REQUIRED
    type: str = "any"     # int, float, bool, str, ints (int or tuple), shape, any, size
    choices: tuple = ()
    infer: bool = False   # may be left out and inferred from the input


@dataclass
class Term:
    """One piece of work: ``count`` units of ``rules`` (most specific rule first)."""

    rules: tuple
    count: int
    figure: Figure
    alt: bool = False     # an alternative accounting used by another convention only
    blind: tuple = ()     # ((tool, label), ...): FLOP counters that do not see this work (conventions.TOOLS)


@dataclass
class Saved:
    """A tensor autograd keeps for backward: what, how many elements, element size."""

    what: str
    numel: int
    itemsize: int | None = None   # None: the model's dtype
    alias: str | None = None      # "input"/"output" when it is that very tensor (deduplicated)
    batched: bool = True          # False: `numel` is the whole tensor, not per sample (a scalar, a bias)
    input_grad_only: bool = False  # kept only when the node's input needs a gradient (a padding's backward)
    for_inputs: tuple | None = None  # kept only when one of these inputs (indices) needs a gradient (x * y
    #                                  keeps y for x's gradient: not when x is a constant)


def kept_saved(saved, needs_input_grad: bool, inputs_need=None):
    """The saved tensors autograd keeps for a node whose input does (not) need a gradient; ``inputs_need``
    (whether each input needs one, when known) drops what only another input's gradient would use."""
    return [sv for sv in saved if (needs_input_grad or not sv.input_grad_only) and
            (sv.for_inputs is None or inputs_need is None or any(inputs_need[i] for i in sv.for_inputs
                                                                 if i < len(inputs_need)))]


@dataclass
class RFStep:
    """Per spatial axis: effective kernel extent, stride and left padding, in input units.

    ``kind`` is "window" (conv/pool/identity), "global" (every output sees the
    whole input), or "data" (data dependent: deformable conv).
    """

    kind: str = "window"
    k: tuple = ()
    s: tuple = ()
    p: tuple = ()
    formula: str = ""
    figures: dict = field(default_factory=dict)   # axis name -> [Figure] for k_eff, s, P (explain)


@dataclass(frozen=True)
class Geometry:
    """A sliding window, per spatial axis: kernel extent, stride, dilation, padding on each side
    (``pad_lo`` before the first element, ``pad_hi`` after the last), ``ceil_mode``, and whether it
    runs transposed (a transposed convolution).  Read by the homework's mistakes, review rules, the
    receptive-field probe and error hints, rather than re-derived from arguments."""

    kernel: tuple
    stride: tuple
    dilation: tuple
    pad_lo: tuple
    pad_hi: tuple
    ceil_mode: bool = False
    transposed: bool = False
    output_padding: tuple = ()

    @property
    def nd(self):
        return len(self.kernel)

    @property
    def symmetric(self) -> bool:
        return self.pad_lo == self.pad_hi

    @property
    def padding(self) -> tuple:
        """The per-side padding when both sides are equal (else the left one)."""
        return self.pad_lo

    def extent(self, axis) -> int:
        """Effective kernel extent D*(K-1) + 1 along one axis."""
        return self.dilation[axis] * (self.kernel[axis] - 1) + 1


def rank_hints(shape, nd, prefix) -> list:
    """Hints for an input of the wrong rank at a kind that takes [C, *nd spatial dims]: the true cause
    first (a leading 1 that looks like a batch, channels left out), else the kind of the right rank."""
    x = list(shape)
    dims = "x".join(map(str, x[1:] if len(x) == nd + 2 else x))
    if len(x) == nd + 2 and x[0] == 1:
        return [_("{shape} looks like it includes the batch (the leading 1): shapes never include the batch; "
                  "write {dims} (the batch is --batch or the spec's `batch:`)").format(shape=x, dims=dims)]
    if len(x) == nd:
        return [_("{shape} has no channel dimension: write the channels first, e.g. 3x{dims} (or 1x{dims} "
                  "for one channel)").format(shape=x, dims=dims)]
    if 2 <= len(x) <= 4:
        return [_("use {op} for a {n}D input").format(op=f"{prefix}{len(x) - 1}d", n=len(x) - 1)]
    return []


def prod(xs):
    return math.prod(xs)


def ntuple(v, n, name):
    if isinstance(v, bool):
        raise KindError(_("`{name}` must be an int or a list of {n} ints, got {v!r}").format(name=name, n=n, v=v), name)
    if isinstance(v, int):
        return (v,) * n
    if isinstance(v, (list, tuple)):
        if len(v) == 1 and n > 1 and isinstance(v[0], int) and not isinstance(v[0], bool):
            return (v[0],) * n
        if len(v) != n or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise KindError(_("`{name}` must be an int or a list of {n} ints, got {v}").format(name=name, n=n, v=list(v)), name)
        return tuple(v)
    raise KindError(_("`{name}` must be an int or a list of {n} ints, got {v!r}").format(name=name, n=n, v=v), name)


class Kind:
    """Base of all kinds.  Subclasses set SIG and implement ``setup``."""

    names: tuple = ()
    SIG: tuple = ()           # torch's signature, in positional order
    N_INPUTS = (1, 1)         # min, max number of inputs
    family = "other"
    has_module = True         # builds an nn.Module (False for tensor functions)
    view = False              # the output aliases the input (no new memory)
    eval_identity = False     # returns its input in evaluation mode (dropout): no new memory at inference
    concatenates = False      # joins its inputs along a dim (a spec's merge checks the other dims)
    out_itemsize = None       # bytes per element of its outputs when not the model's dtype (int64 indices: 8)
    adaptive = False          # an adaptive pool: windows from the input and output sizes
    batched = True            # its outputs hold N samples (False: a constant, its shapes the whole tensor)
    stops_gradient = False    # autograd does not record it (detach): no gradient flows through it
    doc = ""

    def __init__(self, op: str, args: dict, in_shapes: list, batch: int = 1):
        self.op = op
        self.args = args
        self.in_shapes = [tuple(s) for s in in_shapes]
        self.N = batch
        self.out_shapes: list[tuple] = []
        self.setup()

    # --- to override -------------------------------------------------------
    @classmethod
    def check_binding(cls, op: str, positional: list, bound: dict):
        """Refuse a call whose arguments bound but surely mean something else (a KindError with a
        hint); called by the spec reader before the types are checked."""

    @classmethod
    def check_args(cls, op: str, args: dict):
        """Refuse typed arguments that no input could make valid (a KindError).  The spec reader runs it
        on a node that reads the output of a node with an error, whose setup does not run (its shapes
        would follow from the first error; spec/static_check.py): such an argument error is independent
        of the first one.  setup() must refuse the same arguments (with the input it can say more)."""

    def setup(self):
        """Check arguments against the input, infer what may be inferred, set out_shapes."""
        self.out_shapes = [self.in_shapes[0]]

    def params(self) -> Figure:
        return Figure(0, "", {}, "params")

    def buffers(self) -> Figure:
        return Figure(0, "", {}, "buffers")

    def terms(self) -> list[Term]:
        return []

    def bwd_terms(self, needs_input_grad: bool) -> list[Term]:
        """Backward work.  Default: as much as the forward's non-MAC work, for the input gradient."""
        if not needs_input_grad:
            return []
        out = []
        for t in self.terms():
            if not t.alt:
                out.append(Term(t.rules, t.count, Figure(t.count, t.figure.formula, t.figure.bindings,
                                                         "grad_input " + t.figure.name), t.alt))
        return out

    def saved(self) -> list[Saved]:
        return []

    # --- memory layout (core/passes/layout.py) -----------------------------
    def full_out_shape(self, i=0) -> tuple:
        """Output i's shape with the batch as dim 0 (a constant's shape is already whole)."""
        return ((self.N,) if self.batched else ()) + tuple(self.out_shapes[i])

    def elementwise(self) -> bool:
        """Computed element by element by torch's TensorIterator, which lays a new output out in the
        memory order of its first input (a permuted input gives a permuted output).  Default: all its
        work is elementwise operations and its output has its first input's shape."""
        if not self.in_shapes or self.out_shapes != [self.in_shapes[0]]:
            return False
        ts = [t for t in self.terms() if not t.alt]
        return bool(ts) and all(t.rules == ("elementwise",) for t in ts)

    def out_strides(self, ins) -> list:
        """The strides of each output (full shape, batch first) given the inputs' ``[(full shape,
        strides), ...]``; an entry None is a new row-major tensor, and for a view kind (``view``) means
        torch cannot view the input and copies it.  Default: a view with its input's full shape keeps
        its strides (identity, in-place ops), another view is taken as row-major; an elementwise kind
        follows its first input's memory order (``strides.dense_like``); any other kind allocates
        row-major outputs.  View kinds that move dims (permute, reshape, indexing) override it."""
        from .strides import contiguous, dense_like
        outs = [self.full_out_shape(i) for i in range(len(self.out_shapes))]
        same = len(outs) == 1 and ins and tuple(ins[0][0]) == outs[0]
        if self.view:
            return [ins[0][1]] if same else [contiguous(s) for s in outs]
        if same and self.elementwise():
            return [dense_like(*ins[0])]
        return [None] * len(outs)

    def saved_in_layout(self, ins) -> list:
        """``saved()`` given the inputs' ``[(full shape, strides), ...]``: a kind whose saved tensors
        are views or copies depending on the inputs' layout (einsum) overrides it."""
        return self.saved()

    def rf(self) -> RFStep:
        nd = len(self.in_shapes[0]) - 1 if self.in_shapes else 0
        return RFStep("window", (1,) * nd, (1,) * nd, (0,) * nd, N_("identity"))

    def spatial_offsets(self):
        """A concatenation or a split along a spatial axis: ``(axis, input offsets, output offsets)``,
        ``axis`` counted from the first spatial axis (0 is H of a 2-d map), input ``i``'s units starting
        at unit ``input offsets[i]`` of the output (a concatenation) and output ``k``'s at unit ``output
        offsets[k]`` of the input (a split).  None for every other kind, and along the channels or the
        batch (the receptive-field pass shifts the fields by these offsets)."""
        return None

    def shape_figures(self) -> list[Figure]:
        return []

    def grad_passes_through(self, in_shape) -> bool:
        """Whether the gradient handed to an input of shape ``in_shape`` is its output's gradient
        itself (or a view of it), so that backward allocates no new buffer for it.  Default: a view
        that is not an activation (an in-place activation computes a new gradient) and not the
        evaluation-mode identity, with as many elements as its output."""
        return (self.view and self.family != "activation" and not self.eval_identity
                and prod(in_shape) == prod(self.out_shapes[0]))

    def geometry(self):
        """The sliding-window geometry of a convolution- or pooling-like kind (a ``Geometry``), or
        None for a kind without one."""
        return None

    # Families that act per position: for the receptive-field probe they are the identity.
    PER_POSITION_FAMILIES = ("activation", "norm", "dropout")
    torch_counter_gap = ""    # why torch's FlopCounterMode does not count this op's work ("" if it does)

    def linearised(self):
        """For the receptive-field probe of `verify`: a positive, linear stand-in with the same
        field, as a function of the list of input tensors (torch imported inside), or None when the
        module itself, with positive weights and zero biases, serves.  Per-position ops (activations,
        normalisations, dropout) become the identity: a saturating ReLU6 or a softmax would zero
        gradients that do exist."""
        if self.family in self.PER_POSITION_FAMILIES:
            return lambda xs: xs[0]
        return None

    @property
    def copies_border(self) -> bool:
        """Its padding copies input pixels (reflect, replicate, circular) instead of zeros."""
        return self.a.get("padding_mode", "zeros") not in ("zeros", None)

    def torch_module(self):
        raise NotImplementedError(f"{self.op} has no torch builder")

    def saved_gap(self) -> str:
        """Why torch may save other bytes than ``saved()`` says (a fused kernel's workspace the analysis
        does not model), or "": ``verify`` then says "not covered" with the reason where they differ."""
        return ""

    def counter_gaps(self, counter: str) -> list:
        """Work that the FLOP counter ``counter`` ("FlopCounterMode", "fvcore") may not see, because torch
        runs it in a fused kernel the counter has no formula for: ``[(terms, reason), ...]``.  ``verify``
        says "not covered" (with the reason) rather than "mismatch" when the count it measured for this
        node is exactly the analysis less one entry's terms."""
        return []

    # --- helpers -----------------------------------------------------------
    @property
    def a(self) -> dict:
        """The arguments (``args``), under the short name the kinds' formulas use."""
        return self.args

    @a.setter
    def a(self, value):
        self.args = value

    @property
    def in_shape(self):
        return self.in_shapes[0]

    @property
    def out_shape(self):
        return self.out_shapes[0]

    def numel_out(self, i=0):
        return prod(self.out_shapes[i])

    def numel_in(self, i=0):
        return prod(self.in_shapes[i])

    def describe_args(self) -> str:
        parts = []
        for arg in self.SIG:
            v = self.a.get(arg.name, arg.default)
            if arg.default is not REQUIRED and v == arg.default and not arg.infer:
                continue
            if v is REQUIRED:
                continue
            parts.append(f"{arg.name}={_fmt(v)}")
        return f"{self.op}(" + ", ".join(parts) + ")"

    def torch_kwargs(self, skip=()):
        kw = {}
        for arg in self.SIG:
            if arg.name in skip or arg.name in ("device", "dtype"):
                continue
            v = self.a.get(arg.name, arg.default)
            if v is REQUIRED:
                continue
            kw[arg.name] = v
        return kw


def _fmt(v):
    if isinstance(v, tuple):
        return "(" + ", ".join(_fmt(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, Fraction):
        return str(v)
    return repr(v)


def bind_args(cls: type[Kind], op: str, positional: list, keywords: dict):
    """Map positional and keyword arguments onto the kind's torch signature."""
    sig = cls.SIG
    names = [a.name for a in sig]
    bound: dict = {}
    if len(positional) > len(sig):
        raise KindError(_("`{op}` takes at most {count} positional arguments ({names}), got {given}").format(
            op=op, count=len(sig), names=", ".join(names), given=len(positional)), None)
    for a, v in zip(sig, positional):
        bound[a.name] = v
    for k, v in keywords.items():
        if k not in names:
            from ..errors import suggest
            hints = []
            s = suggest(k, names)
            if s:
                from ..errors import did_you_mean_text
                hints.append(did_you_mean_text(s))
            hints.append(_("`{op}` takes: {names}").format(op=op, names=", ".join(n for n in names
                                                                                if n not in ("device", "dtype"))))
            raise KindError(_("`{op}` has no argument `{name}`").format(op=op, name=k), k, hints,
                            code="unknown-argument")
        if k in bound:
            raise KindError(_("`{op}` got `{name}` both positionally and by name").format(op=op, name=k), k)
        bound[k] = v
    return bound


def check_types(cls: type[Kind], op: str, bound: dict, inferable_ok=True) -> dict:
    """Type-check bound arguments and fill defaults.  Missing inferable ones stay absent."""
    out = {}
    for a in cls.SIG:
        if a.name not in bound:
            if a.default is REQUIRED:
                if a.infer and inferable_ok:
                    continue
                raise KindError(_("`{op}` needs `{name}`").format(op=op, name=a.name), a.name,
                                code="missing-argument")
            out[a.name] = a.default
            continue
        v = bound[a.name]
        t = a.type
        if t == "bool":
            if not isinstance(v, bool):
                raise KindError(_("`{name}` must be true or false, got {v!r}").format(name=a.name, v=v), a.name,
                                [_("YAML 1.2: `yes`/`no`/`on`/`off` are strings; write true or false")])
        elif t == "int":
            if not isinstance(v, int) or isinstance(v, bool):   # torch refuses 4.0 for a size, too
                raise KindError(_("`{name}` must be an integer, got {v!r}").format(name=a.name, v=v), a.name,
                                [_("write {v}").format(v=int(v)) if isinstance(v, float) and v.is_integer() else
                                 _("an expression with `/` gives a fraction: use `//` or int(...)")])
        elif t == "float":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise KindError(_("`{name}` must be a number, got {v!r}").format(name=a.name, v=v), a.name)
        elif t == "str":
            if not isinstance(v, str):
                raise KindError(_("`{name}` must be a string, got {v!r}").format(name=a.name, v=v), a.name)
            if a.choices and v not in a.choices:
                from ..errors import suggest
                s = suggest(v, a.choices)
                raise KindError(_("`{name}` must be one of {map}, got {v!r}").format(name=a.name, map=', '.join(map(repr, a.choices)), v=v),
                                a.name, [_("did you mean `{s_0}`?").format(s_0=s[0])] if s else [])
            v = str(v)
        elif t == "optint":
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                raise KindError(_("`{name}` must be an integer or null, got {v!r}").format(name=a.name, v=v), a.name)
        if isinstance(v, list):
            v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
        out[a.name] = v
    return out
