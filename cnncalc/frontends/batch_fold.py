"""Batch factors of a captured module's tensors: which tensors carry the batch, and how many times.

The graph's shapes exclude the batch, and a node's kind holds the batch of its outputs (``kind.N``).
Most models keep the batch in dim 0 of every tensor, unchanged.  Some move it:

- RAFT runs both images through one encoder as a batch of 2N (``torch.cat([image1, image2], dim=0)``,
  then ``torch.split(fmaps, [N, N], dim=0)``);
- its correlation volume folds every pixel into the batch (``corr.reshape(N*H*W, 1, H, W)``) and unfolds
  it after sampling (``.view(N, H, W, -1)``);
- coordinate grids are built from ``arange``/``linspace``/``meshgrid``: they hold no batch at all (a
  constant, the same for every input) until ``repeat(N, 1, 1, 1)`` gives them one.

One capture cannot tell a leading 256 that is 256 x N from a constant 256, so when a capture holds a
tensor whose leading dim is not the batch, the module is captured a second time at another batch and
the two are compared call by call: a tensor whose leading dim is ``f * batch`` in both has batch factor
``f`` (its node's batch is ``f * N``, its shape the rest); one whose shape does not change is a constant
(factor 0: no batch, the whole shape is its shape); anything else is unknown (an opaque node, as
before).  A capture whose calls differ between the two runs (a detector: its work depends on the data)
keeps the single-capture reading.
"""
from __future__ import annotations

from ..kinds.base import prod
from .capture import Ref, call_refs as tensor_refs


class _Constant:
    """The batch of a constant: it has none (its shape is the whole tensor)."""

    def __repr__(self):
        return "CONSTANT"


CONSTANT = _Constant()


def moves_batch(cap, batch) -> bool:
    """Whether some tensor of the capture does not have the batch as its leading dim, or is made from no
    activation at all (``arange``, a traced constant: at batch 1 its leading 1 would pass for the batch)."""
    return any(not s or s[0] != batch for c in cap.calls for s in c.out_shapes) or \
        any(c.out_shapes and not tensor_refs(c) and c.how != "module" for c in cap.calls)


def _same_call(a, b) -> bool:
    if a.how != b.how or len(a.out_shapes) != len(b.out_shapes):
        return False
    if a.how == "module":
        return a.path == b.path
    return a.target is b.target or a.target == b.target


def factor_of(s1, s2, b1, b2):
    """The batch factor of a tensor of shape s1 at batch b1 and s2 at batch b2: an int f (its leading dim is
    f x the batch in both), CONSTANT (the same shape in both), or None."""
    if len(s1) != len(s2) or tuple(s1[1:]) != tuple(s2[1:]):
        return None
    if tuple(s1) == tuple(s2):
        return CONSTANT
    d1, d2 = s1[0], s2[0]
    if d1 % b1 == 0 and d2 % b2 == 0 and d1 // b1 == d2 // b2:
        return d1 // b1
    return None


def batches(cap, batch, cap2=None, batch2=None) -> dict:
    """Ref -> the tensor's batch: an int (its leading dim in this capture: the samples it holds), CONSTANT (no
    batch), or None (unknown: a scalar made from activations, an opaque node).

    A constant is a tensor whose shape is the same in a second capture at ``batch2`` that made the same
    calls; without one (a detector, whose second run would take another path), a tensor computed from no
    activation.  Every other tensor holds its leading dim's samples: ``f * batch`` for a tensor that
    follows the batch (RAFT's 2N encoder batch, its 256N correlation rows), the rows this run found for
    one that does not (a detector's proposals, the rows a mask kept): exact for this input."""
    out = {}
    if cap2 is not None and (len(cap2.calls) != len(cap.calls) or
                             not all(_same_call(a, b) for a, b in zip(cap.calls, cap2.calls))):
        cap2 = None
    for i, (_, s) in enumerate(cap.inputs):
        out[Ref(-1 - i, 0)] = batch
    if cap2 is None and not moves_batch(cap, batch):
        for c in cap.calls:
            for i, _s in enumerate(c.out_shapes):
                out[Ref(c.id, i)] = batch
        return out
    for k, c in enumerate(cap.calls):
        made_from_nothing = c.how != "module" and all(out.get(r) is CONSTANT for r in tensor_refs(c))
        for i, s in enumerate(c.out_shapes):
            if cap2 is not None:
                const = factor_of(s, cap2.calls[k].out_shapes[i], batch, batch2) is CONSTANT
            else:
                const = made_from_nothing
            out[Ref(c.id, i)] = CONSTANT if const else (s[0] if s else None)
    return out


def _broadcasts(b, out):
    """An input of batch b read by a call whose outputs hold ``out`` samples without moving the batch: a
    constant, or a single sample broadcast against them ([1, 4] + [K, 4])."""
    return b is CONSTANT or (b == 1 and out != 1)


def classify(c, fac, n_out=None):
    """How a call treats the batch: ("same", N) when its outputs and its batched inputs hold N samples
    (constants and single samples broadcast against them), ("constant", None) when it reads and makes
    constants only, ("moves", None) when the batch changes, ("unknown", reason)."""
    outs = [fac.get(Ref(c.id, i)) for i in range(len(c.out_shapes[:n_out]))]
    ins = [fac.get(r) for r in tensor_refs(c)]
    if None in outs or not outs:
        return "unknown", "an output has no batch dimension that follows the batch"
    if None in ins:
        return "unknown", "an input has no batch dimension that follows the batch"
    if all(f is CONSTANT for f in outs + ins):
        return "constant", None
    fo = set(outs)
    if len(fo) == 1 and CONSTANT not in fo:
        n = next(iter(fo))
        if any(f == n for f in ins) and all(f == n or _broadcasts(f, n) for f in ins):
            return "same", n
    return "moves", None


def strip(shape, f, like=None):
    """A tensor's shape without its batch f; a constant keeps its whole shape, except a leading 1 where it
    meets batched tensors of its rank (``[1, 7, 7, 2] + [256N, 7, 7, 2]``: it broadcasts over the batch)."""
    s = tuple(shape)
    if f is not CONSTANT:
        return s[1:]
    if like is not None and len(s) == like + 1 and s and s[0] == 1:
        return s[1:]
    return s


def along_batch(c, name) -> bool:
    """Whether a call works along dim 0 (the batch): a cat, split or chunk there, rows picked by an index
    tensor, sliced or selected.  Such a call goes to ``rebatch`` even when its batch does not change (a
    detector's `boxes[order]`, a cat of a one-element list)."""
    args = list(c.args)
    if not args or not isinstance(args[0], (Ref, list, tuple)):
        return False
    first = args[0][0] if isinstance(args[0], (list, tuple)) and args[0] else args[0]
    rank = len(c.out_shapes[0]) if c.out_shapes else 0
    if name in ("cat", "concat", "concatenate"):
        return isinstance(first, Ref) and _dim0(c.kwargs.get("dim", args[1] if len(args) > 1 else 0), rank)
    if name in ("split", "chunk"):
        return _dim0(c.kwargs.get("dim", args[2] if len(args) > 2 else 0), rank)
    if name == "getitem" and len(args) > 1:
        ix = args[1]
        lead = ix[0] if isinstance(ix, tuple) and ix else ix
        return isinstance(lead, Ref) or (isinstance(lead, slice) and lead != slice(None)) or \
            (isinstance(lead, int) and not isinstance(lead, bool))
    return False


def _dim0(d, rank):
    return isinstance(d, int) and not isinstance(d, bool) and (d == 0 or d == -rank)


def rebatch(c, fac, shapes, batch, name):
    """A call that moves the batch -> (Rebatch kind, [input Refs]); raises Unmapped when it is not a pure
    movement of data we know: cat/split/chunk along dim 0, a reshape, a repeat or expand of a tensor
    without batch, rows picked by an index tensor or a mask, sliced (``x[a:b]``) or selected (``x[i]``)."""
    from .kinds import Rebatch
    from .mapping import Unmapped
    refs = tensor_refs(c)
    fin = [fac[r] for r in refs]
    fout = [fac[Ref(c.id, i)] for i in range(len(c.out_shapes))]
    if len(set(fout)) != 1:
        raise Unmapped("its outputs hold different batches")
    f = fout[0]
    if f is CONSTANT and name != "getitem":
        raise Unmapped(f"{name} reduces or moves the batch dimension in a way we do not model")
    full_in = [tuple(shapes[r]) for r in refs]
    rank = len(full_in[0]) if full_in else 0
    args = list(c.args)     # a method's first argument is the tensor itself
    if name in ("cat", "concat", "concatenate"):
        d = c.kwargs.get("dim", args[1] if len(args) > 1 else 0)
        ok = _dim0(d, rank) and not any(g is CONSTANT for g in fin) and sum(fin) == f
        op = "cat"
    elif name in ("split", "chunk"):
        d = c.kwargs.get("dim", args[2] if len(args) > 2 else 0)
        ok = len(refs) == 1 and _dim0(d, rank) and fin[0] == f * len(fout)
        op = name
    elif name in ("reshape", "view", "flatten", "unflatten"):
        ok = len(refs) == 1 and fin[0] is not CONSTANT and \
            fin[0] * prod(full_in[0][1:]) == f * prod(c.out_shapes[0][1:])
        op = name
    elif name == "getitem" and refs and refs[0] == args[0] and fin[0] is not CONSTANT:
        ix = args[1] if len(args) > 1 else None
        lead, rest = (ix[0], list(ix[1:])) if isinstance(ix, tuple) and ix else (ix, [])
        whole = all(e == slice(None) for e in rest)
        if isinstance(lead, Ref) and whole and len(refs) == 2:
            # rows gathered by an index tensor, or picked by a boolean mask: a copy
            op = "index"
            ok = tuple(c.out_shapes[0][1:]) == full_in[0][1:]      # whole rows, however many
        elif isinstance(lead, slice) and whole and len(refs) == 1:
            op, ok = "slice", True          # rows sliced: a view
        elif isinstance(lead, int) and not isinstance(lead, bool) and whole and len(refs) == 1:
            op, ok = "select", True         # one row: a view
        else:
            op, ok = "getitem", False
    elif name in ("repeat", "expand", "expand_as"):
        ok = len(refs) >= 1 and (fin[0] is CONSTANT or fin[0] == 1)
        op = "expand" if name == "expand_as" else name
        refs, fin, full_in = refs[:1], fin[:1], full_in[:1]
    else:
        ok = False
        op = name
    if not ok:
        raise Unmapped(f"{name} reduces or moves the batch dimension in a way we do not model")
    in_shapes = [strip(s, g) for s, g in zip(full_in, fin)]
    in_batches = [None if g is CONSTANT else g for g in fin]
    if f is CONSTANT:       # a few rows taken out of a batch (y[:3]): a tensor without a batch
        kind = Rebatch(op, in_shapes, in_batches, [tuple(s) for s in c.out_shapes], 1)
        kind.batched = False
    else:
        kind = Rebatch(op, in_shapes, in_batches, [tuple(s[1:]) for s in c.out_shapes], f)
    if op == "index":
        kind.keeps = "index"    # torch keeps the index tensor (or the boolean mask) for backward, as given
    return kind, refs
