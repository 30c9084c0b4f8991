"""Chains of captured calls that become one node: computations on parameters and buffers alone (no
activation, no batch) folded into the call that meets an activation.

- relative position bias: ``table[index]`` (a parameter gathered by an index buffer, maybe through a view
  of it), then views (``view``, ``reshape``, ``permute``, ``contiguous``, ``unsqueeze``, ``transpose``),
  added to attention scores ``[N, *, H, P, P]``: one ``relative_position_bias`` node (MaxViT).
- a class token: ``param.expand(N, -1, ...)`` concatenated with activations: one ``param_cat`` node (ViT).
"""
from __future__ import annotations

import operator

from .capture import PRef, Ref, call_refs

_VIEWS = ("view", "reshape", "permute", "contiguous", "unsqueeze", "transpose", "flatten")


def _name(c):
    return c.target if c.how == "method" else getattr(c.target, "__name__", "")


def _uses(cap):
    uses = {}
    for c in cap.calls:
        for r in call_refs(c):
            uses.setdefault(r.call, []).append(c.id)
    for r in cap.outputs:
        uses.setdefault(r.call, []).append(-1)
    return uses


def _is_add(c):
    if c.how == "method":
        return c.target in ("add", "__add__", "__iadd__", "__radd__")
    import torch
    return c.target in (operator.add, operator.iadd, torch.add)


def _buffer_root(v, by_id, chain):
    """The buffer name an index argument is (a PRef, or views of one), else None; views go to `chain`."""
    while isinstance(v, Ref):
        c = by_id.get(v.call)
        if c is None or _name(c) not in _VIEWS:
            return None
        chain.append(c.id)
        v = c.args[0]
    return v.name if isinstance(v, PRef) else None


def find(cap, param_shapes, buffer_names, batch):
    """``buffer_names``: {buffer name: numel}."""
    """Returns ({call id: (op, bound, input refs, parameter names, buffer names)}, {skipped call ids})."""
    by_id = {c.id: c for c in cap.calls}
    uses = _uses(cap)
    found, skipped = {}, set()
    for c in cap.calls:
        if not _is_add(c) or c.kwargs or len(c.args) != 2 or not all(isinstance(a, Ref) for a in c.args):
            continue
        for k in (0, 1):
            r, x = c.args[k], c.args[1 - k]
            chain = []
            p = by_id.get(r.call)
            ok = True
            while p is not None and _name(p) in _VIEWS:
                chain.append(p.id)
                nxt = p.args[0] if p.args else None
                if not isinstance(nxt, Ref):
                    ok = False
                    break
                p = by_id.get(nxt.call)
            if not ok or p is None or p.target is not operator.getitem or len(p.args) != 2:
                continue
            table, idx = p.args
            if not isinstance(table, PRef) or table.name not in param_shapes or len(param_shapes[table.name]) != 2:
                continue
            ichain = []
            buf = _buffer_root(idx, by_id, ichain)
            s = c.out_shapes[0]
            if buf is not None and buf not in buffer_names and len(s) >= 2:
                # fx folded a view of the buffer into a constant: the module's own buffer of that size
                owner = table.name.rsplit(".", 1)[0] if "." in table.name else ""
                cands = [b for b, n in buffer_names.items() if n == s[-1] * s[-2] and
                         (b.rsplit(".", 1)[0] if "." in b else "") == owner]
                buf = cands[0] if len(cands) == 1 else None
            if buf is None:
                continue
            ids = chain + [p.id] + ichain
            if any(len(uses.get(i, [])) != 1 for i in ids):
                continue
            T, H = param_shapes[table.name]
            if len(s) < 4 or s[-1] != s[-2] or s[-3] != H or s[0] != batch:
                continue
            found[c.id] = ("relative_position_bias", {"table_size": T, "num_heads": H}, [x], [table.name], [buf])
            skipped.update(ids)
            break
    # a class token: cat([param.expand(N, ...), x], dim)
    import torch
    for c in cap.calls:
        if c.how != "function" or c.target not in (torch.cat, getattr(torch, "concat", None)):
            continue
        ts = c.args[0] if c.args else c.kwargs.get("tensors")
        dim = c.args[1] if len(c.args) > 1 else c.kwargs.get("dim", 0)
        if not isinstance(ts, (list, tuple)) or len(ts) != 2 or not all(isinstance(t, Ref) for t in ts):
            continue
        for k in (0, 1):
            e = by_id.get(ts[k].call)
            if e is None or _name(e) != "expand" or not e.args or not isinstance(e.args[0], PRef) or \
                    uses.get(e.id) != [c.id] or e.args[0].name not in param_shapes:
                continue
            if e.out_shapes[0][:1] != (batch,) or param_shapes[e.args[0].name][:1] != (1,):
                continue
            found[c.id] = ("param_cat", {"param": e.args[0].name, "dim": dim, "first": k == 0},
                           [ts[1 - k]], [e.args[0].name], [])
            skipped.add(e.id)
            break
    return found, skipped
