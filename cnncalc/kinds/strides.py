"""Memory layout of tensors, as torch lays them out: strides in elements, for full shapes (the batch as
dim 0).  Pure functions, no torch: the layout pass (``core/passes/layout.py``) and the kinds' layout
hooks (``Kind.out_strides``) read them.

  contiguous(shape)                 a new tensor's strides (row-major)
  view_strides(shape, st, new)      torch's view rule (aten computeStride): the strides of ``new`` as a
                                    view of a tensor (shape, st), or None where no view exists (torch's
                                    ``reshape`` then copies)
  dense_like(shape, st)             the strides TensorIterator gives the output of an elementwise op
                                    (dense, dims in the memory order of its input)
"""
from __future__ import annotations


def contiguous(shape) -> tuple:
    out = [1] * len(shape)
    acc = 1
    for d in range(len(shape) - 1, -1, -1):
        out[d] = acc
        acc *= max(shape[d], 1)
    return tuple(out)


def is_contiguous(shape, strides) -> bool:
    """torch's ``is_contiguous``: size-1 dims are ignored, an empty tensor is contiguous."""
    if any(s == 0 for s in shape):
        return True
    acc = 1
    for s, st in zip(reversed(shape), reversed(strides)):
        if s != 1:
            if st != acc:
                return False
            acc *= s
    return True


def view_strides(shape, strides, new):
    """aten's computeStride (TensorUtils.cpp): the strides of shape ``new`` viewing a tensor of
    ``shape`` and ``strides``, or None when the elements cannot be addressed by one stride per dim."""
    shape, strides, new = tuple(shape), tuple(strides), tuple(new)
    if not shape:
        return (1,) * len(new)
    numel = 1
    for s in shape:
        numel *= s
    if numel == 0:
        return strides if shape == new else contiguous(new)
    out = [0] * len(new)
    view_d = len(new) - 1
    chunk_base = strides[-1]
    tensor_numel = 1
    view_numel = 1
    for td in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[td]
        if td == 0 or (shape[td - 1] != 1 and strides[td - 1] != tensor_numel * chunk_base):
            while view_d >= 0 and (view_numel < tensor_numel or new[view_d] == 1):
                out[view_d] = view_numel * chunk_base
                view_numel *= new[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if td > 0:
                chunk_base = strides[td - 1]
                tensor_numel = 1
                view_numel = 1
    if view_d != -1:
        return None
    return tuple(out)


def permute(strides, dims) -> tuple:
    return tuple(strides[d] for d in dims)


def is_dense(shape, strides) -> bool:
    """Non-overlapping and dense: some order of the dims is contiguous."""
    dims = sorted((st, s) for s, st in zip(shape, strides) if s != 1)
    acc = 1
    for st, s in dims:
        if st != acc:
            return False
        acc *= s
    return True


def dense_like(shape, strides) -> tuple:
    """The strides of a new tensor laid out in the memory order of (shape, strides), as TensorIterator
    allocates an elementwise op's output (a dense input's strides are kept; size-1 dims and ties keep
    the row-major order)."""
    if is_dense(shape, strides):
        return tuple(strides)
    n = len(shape)
    # innermost first: ascending stride, ties (and size-1 dims) by the later dim first
    order = sorted(range(n), key=lambda d: (strides[d] if shape[d] != 1 else 0, -d))
    order = [d for d in order if shape[d] != 1] + [d for d in range(n - 1, -1, -1) if shape[d] == 1]
    out = [0] * n
    acc = 1
    for d in order:
        out[d] = acc
        acc *= max(shape[d], 1)
    return tuple(out)


def slice_strides(strides, index) -> tuple:
    """Basic indexing of the dims after the batch: ("int", i) drops a dim, ("slice", a, b, step)
    multiplies its stride by the step."""
    out = [strides[0]]
    for st, e in zip(strides[1:], list(index) + [None] * (len(strides) - 1 - len(index))):
        if e is None:
            out.append(st)
        elif e[0] == "slice":
            out.append(st * e[3])
    return tuple(out)


def _label_key(L):
    """aten's einsum numbers labels A-Z before a-z: contracted labels are aligned in that order."""
    return (0, L) if L.isupper() else (1, L)


def einsum_pair(ins, out, shapes, strides):
    """What torch.einsum of two operands does with their memory (aten einsum + sumproduct_pair): each
    operand is aligned to the output's letters then the contracted ones (missing letters unsqueezed),
    a letter of size != 1 in one operand only and contracted is summed away first (a new tensor), the
    rest is permuted to [batch, kept, contracted] / [batch, contracted, kept] and reshaped to 3-D for
    bmm, which saves both: a view of the operand where ``view_strides`` allows, else a copy.

    ``ins`` the operands' letters, ``out`` the output's, ``shapes``/``strides`` the operands' full
    shapes and strides.  Returns ``(saved, out_strides)``: per operand ``(is_view, numel)`` of the
    tensor bmm saves (``is_view``: it aliases the operand's storage), and the output's strides."""
    contracted = sorted({L for s in ins for L in s if L not in out}, key=_label_key)
    order = list(out) + contracted
    nd, n_out = len(order), len(out)
    ops = []
    for s, shp, st in zip(ins, shapes, strides):
        osz, ost = [], []
        for L in order:
            if L in s:
                i = s.index(L)
                osz.append(shp[i])
                ost.append(st[i])
            else:
                osz.append(1)
                ost.append(1)
        ops.append([osz, ost, True])           # True: still the operand's storage
    counts = [sum(1 for o in ops if o[0][d] != 1) for d in range(nd)]
    a, b = ops
    sum_dims = []
    for d in range(n_out, nd):
        if a[0][d] != 1 and b[0][d] != 1:
            counts[d] -= 1
            if counts[d] == 1:
                sum_dims.append(d)
                counts[d] = 0
        elif counts[d] == 1:
            o = a if a[0][d] != 1 else b if b[0][d] != 1 else None
            if o is not None:
                _sum_away(o, d)
                counts[d] = 0
    # sumproduct_pair
    sums = set(sum_dims)
    lro, lo, ro = [], [], []
    for d in range(nd):
        sl, sr = a[0][d] != 1, b[0][d] != 1
        if d in sums:
            if sl and not sr:
                _sum_away(a, d)
            elif sr and not sl:
                _sum_away(b, d)
        elif sl and sr:
            lro.append(d)
        elif sl:
            lo.append(d)
        else:
            ro.append(d)
    if not sum_dims:
        # nothing left to contract (contracted letters of size 1): at::mul of the aligned operands, which
        # saves both as they are; its output is taken as a new row-major tensor
        return [(o[2], _numel(o[0], range(nd))) for o in ops], contiguous([a[0][d] if a[0][d] != 1 else b[0][d] for d in range(n_out)])
    if lo and ro and ro[-1] < lo[0]:
        # torch multiplies right by left when every kept dim of the right operand comes before the
        # left's in the output: the bmm's result is then in the output's order (measured, torch 2.14)
        a, b = b, a
        lo, ro = ro, lo
    p = 1
    for d in lro:
        p *= a[0][d]
    lo_n = _numel(a[0], lo)
    ro_n = _numel(b[0], ro)
    s_n = _numel(a[0], sum_dims)
    saved = {}
    for o, perm, shape3 in ((a, lro + lo + sum_dims + ro, (p, lo_n, s_n)),
                            (b, lro + sum_dims + ro + lo, (p, s_n, ro_n))):
        psz = [o[0][d] for d in perm]
        pst = [o[1][d] for d in perm]
        v = view_strides(psz, pst, shape3)
        saved[id(o)] = (o[2] and v is not None, shape3[0] * shape3[1] * shape3[2])
    res_shape = [a[0][d] for d in lro] + [a[0][d] for d in lo] + [1] * len(sum_dims) + [b[0][d] for d in ro]
    res_st = contiguous(res_shape)
    operm = lro + lo + sum_dims + ro
    aligned = [0] * nd
    for i, d in enumerate(operm):
        aligned[d] = res_st[i]
    return [saved[id(ops[0])], saved[id(ops[1])]], tuple(aligned[:n_out])


def _numel(shape, dims):
    n = 1
    for d in dims:
        n *= shape[d]
    return n


def _sum_away(o, d):
    """``o.sum(d, keepdim=True)``: a new (contiguous) tensor."""
    o[0][d] = 1
    o[1] = list(contiguous(o[0]))
    o[2] = False
