"""Write a captured graph as a spec in our format (spec-format.md), so that analysing the written file
gives the same numbers.

Layout, tried in this order until the written spec re-analyses to the same numbers:

1. ``blocks``: module classes whose instances have the same structure become ``blocks:``
   definitions (``BasicBlock``, ``BasicBlock_2`` for a second structure such as the one with a
   downsample branch); arguments that differ between instances become block parameters
   (inferable ones, like ``in_channels``, are left to inference); a container whose items are
   calls of one block named ``0..n-1``, each reading the previous, becomes ``repeat: n`` (with
   ``first:`` for the first copy's different arguments).
2. ``nested``: the module hierarchy as nested ``Sequential`` nodes named like the modules.
3. ``flat``: one ``layers:`` list with names like ``layer1_0_conv1``.

In every form node paths in the spec's report are the module paths (``layer1.0.conv1``; flat:
``layer1_0_conv1``); non-sequential wiring is written with ``from:``; a module called again is
written ``share: <path of its first call>``.  Totals are written as a top-level ``expect:`` so the
file checks itself.
"""
from __future__ import annotations

import json
import math
from fractions import Fraction

from ..errors import UsageError
from ..kinds import REGISTRY
from ..kinds.base import REQUIRED


class _Fail(Exception):
    pass


def _fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, Fraction):
        v = int(v) if v.denominator == 1 else float(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            raise UsageError(f"cannot write the number {v} in a spec")
        r = repr(v)
        if "e" in r and "." not in r.split("e")[0]:
            m, e = r.split("e")
            r = f"{m}.0e{e}"
        return r
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    raise UsageError(f"cannot write the argument value {v!r} in a spec")


def _check_exportable(g):
    if len(g.nodes) == len(g.inputs):
        raise UsageError("nothing to export: the module's forward does no layer (it returns its input)")
    for n in g.nodes:
        if n.kind is None:
            if n.id not in g.inputs:
                raise UsageError(f"cannot export: `{n.name}` is a constant tensor made inside forward; the spec "
                                 "format has no constants")
            continue
        if getattr(n.kind, "exportable", True) is False or n.op not in REGISTRY:
            what = "an opaque node (not a known layer)" if n.op == "opaque" else f"`{n.op}` (no spec op for it)"
            raise UsageError(f"cannot export: `{n.name}` is {what}; the spec format cannot express it",)


def export_spec(analysis, title: str = "", flat: bool | None = None, blocks: bool = True) -> str:
    """The spec text for ``analysis`` (a ModuleAnalysis).  Verified by re-analysing it.

    Tried in order until one analyses to the same numbers: module classes that repeat as
    ``blocks:`` (with ``repeat:``), nested ``Sequential`` nodes, one flat list."""
    g = analysis.g
    _check_exportable(g)
    if flat:
        attempts = ["flat"]
    else:
        attempts = (["blocks"] if blocks else []) + ["nested", "flat"]
    last_err = None
    for mode in attempts:
        try:
            text = _emit(g, analysis, title, mode, getattr(analysis, "module_types", {}))
        except _Fail as e:
            last_err = str(e)
            continue
        problem = verify_roundtrip(analysis, text)
        if problem is None:
            return text
        last_err = problem
    raise UsageError(f"cannot export this graph exactly: {last_err}")


def verify_roundtrip(analysis, text):
    """None when the spec ``text`` analyses to the same numbers as ``analysis``; else what differs."""
    from ..pipeline import analysis_for
    from ..errors import SpecErrors
    try:
        b = analysis_for("exported.yaml", text=text, batch=analysis.g.batch, dtype=analysis.g.dtype,
                         convention=analysis.conv.name if analysis.conv.name in _presets() else None)
    except SpecErrors as e:
        return "the written spec does not load: " + "; ".join(d.render() for d in e.diagnostics[:3])
    errs = [d for d in b.diagnostics if d.severity == "error"]
    if errs:
        return "the written spec has errors: " + "; ".join(d.render() for d in errs[:3])
    ta, tb = analysis.totals(), b.totals()
    for k in ta:
        if ta[k] != tb.get(k):
            return f"total {k}: {ta[k]} from the module, {tb.get(k)} from the spec"
    la = [(v["params"], v["macs"], v["flops"]) for i, v in sorted(analysis.layer.items())]
    lb = [(v["params"], v["macs"], v["flops"]) for i, v in sorted(b.layer.items())]
    if la != lb:
        return "per-layer numbers differ"
    return None


def _presets():
    from ..conventions import PRESETS
    return PRESETS



MARK = "\x00"
_CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")
_RESERVED_BLOCK_NAMES = ("Sequential", "parallel", "share", "input")


def _arg_items(kind, skip_infer):
    """[(name, value)] of the arguments worth writing (defaults left out)."""
    cls = REGISTRY[kind.op]
    out = []
    for a in cls.SIG:
        if a.name in ("device", "dtype") or a.name not in kind.a:
            continue
        if a.infer and skip_infer:
            continue
        v = kind.a[a.name]
        if a.default is not REQUIRED and not a.infer:
            try:
                if v == a.default or (isinstance(v, tuple) and a.default is not None and
                                      not isinstance(a.default, tuple) and all(x == a.default for x in v)):
                    continue
            except Exception:   # noqa: BLE001  (odd types compare badly: write them)
                pass
        out.append((a.name, v))
    return out


def _args_template(kind, skip_infer):
    """('{a: <M>, b: [<M>, <M>]}', [values], [arg names]) with MARK where each atomic value goes."""
    parts, vals, names = [], [], []
    for name, v in _arg_items(kind, skip_infer):
        if isinstance(v, (tuple, list)) and all(not isinstance(x, (tuple, list)) for x in v):
            parts.append(f"{name}: [" + ", ".join(MARK for _ in v) + "]")
            vals += list(v)
            names += [name] * len(v)
        elif isinstance(v, (tuple, list)):
            parts.append(f"{name}: {_fmt(v)}")
        else:
            parts.append(f"{name}: {MARK}")
            vals.append(v)
            names.append(name)
    return ("{" + ", ".join(parts) + "}" if parts else ""), vals, names


def _fill(text, vals):
    out = []
    it = iter(vals)
    for ch in text:
        out.append(_fmt(next(it)) if ch == MARK else ch)
    return "".join(out)


class _Scope:
    def __init__(self, path):
        self.path = tuple(path)
        self.items = []          # ("n", node id) or ("s", _Scope)
        self.nodes = []          # every node id under it, in order

    @property
    def last(self):
        return self.nodes[-1]


class _Env:
    """Names visible while emitting one list: its own, then its parents' (up to a block's root)."""

    def __init__(self, path, parent=None, block_root=None):
        self.path = tuple(path)
        self.parent = parent
        self.names = set()
        self.block_root = block_root if block_root is not None else (parent.block_root if parent else None)
        self.prev = None         # node id whose value the previous item of this list gives


def _emit(g, analysis, title, mode, module_types):
    nodes = [n for n in g.nodes if n.id not in g.inputs]
    comps = {}
    for n in nodes:
        parts = n.name.split(".")
        comps[n.id] = ["_".join(parts)] if mode == "flat" else parts
    for i in g.inputs:
        comps[i] = [g.nodes[i].name]
    seen = set()
    for n in nodes:
        key = tuple(comps[n.id])
        if key in seen:
            raise _Fail(f"two nodes are named {'.'.join(key)}")
        seen.add(key)
    # --- the scope tree (a scope must be contiguous)
    root = _Scope(())
    scopes = {(): root}
    closed = set()
    chain = [root]
    for n in nodes:
        sc = tuple(comps[n.id][:-1])
        k = 0
        while k + 1 < len(chain) and k < len(sc) and chain[k + 1].path == sc[:k + 1]:
            k += 1
        for s_ in chain[k + 1:]:
            closed.add(s_.path)
        chain = chain[:k + 1]
        for j in range(k + 1, len(sc) + 1):
            if sc[:j] in closed or sc[:j] in scopes:
                raise _Fail(f"scope {'.'.join(sc[:j])} is entered twice")
            s_ = _Scope(sc[:j])
            scopes[s_.path] = s_
            chain[-1].items.append(("s", s_))
            chain.append(s_)
        chain[-1].items.append(("n", n.id))
        for s_ in chain:
            s_.nodes.append(n.id)
    under = {}
    for path, s_ in scopes.items():
        under[path] = set(s_.nodes)
    first_of_module = {}
    for n in nodes:
        first_of_module.setdefault(n.module, n.id)

    def path_of(nid):
        return tuple(comps[nid])

    def ref(src, env):
        nid, k = src
        target = path_of(nid)
        multi = len(g.nodes[nid].out_shapes) > 1
        if env.block_root is not None and nid not in under[env.block_root]:
            ext = block_external.get(env.block_root)
            if ext != src:
                raise _Fail("a block reads more than one outside value")
            return "input"
        scope = env.path
        L = 0
        while L < len(scope) and L < len(target) - 1 and scope[L] == target[L]:
            L += 1
        x = target[L]
        if len(target) > L + 1 and scopes[target[:L + 1]].last != nid:
            raise _Fail(f"{'.'.join(target)} is read from outside its scope but is not its last node")
        e = env
        while e is not None and len(e.path) > L:
            if x in e.names:
                raise _Fail(f"`{x}` is ambiguous inside {'.'.join(e.path)}")
            e = e.parent
        if e is None or e.path != target[:L] or x not in e.names:
            raise _Fail(f"`{x}` is not visible where it is read")
        r = f"{x}:{k}" if multi else x
        return _fmt(r) if r.isdigit() else r

    def from_line(env, inputs, ind):
        if len(inputs) == 1 and env.prev is not None and inputs[0][0] == env.prev and \
                len(g.nodes[env.prev].out_shapes) == 1:
            return []
        refs = [ref(r, env) for r in inputs]
        return [(f"{ind}  from: {refs[0]}" if len(refs) == 1 else f"{ind}  from: [{', '.join(refs)}]", [])]

    def node_lines(nid, env, ind, in_block):
        n = g.nodes[nid]
        leaf = comps[nid][-1]
        first = first_of_module[n.module]
        out = []
        if first != nid:
            tp = path_of(first)
            if in_block:
                root_ = env.block_root
                if first not in under[root_]:
                    raise _Fail("a block shares a module from outside")
                tp = tp[len(root_):]
            out.append((f"{ind}- share: {'.'.join(tp)}", []))
        else:
            text, vals, _ = _args_template(n.kind, skip_infer=in_block)
            out.append((f"{ind}- {n.op}: {text}" if text else f"{ind}- {n.op}:", vals))
        out.append((f"{ind}  name: {_fmt(leaf) if leaf.isdigit() else leaf}", []))
        out += from_line(env, n.inputs, ind)
        env.names.add(leaf)
        env.prev = nid
        return out

    def scope_input(s_):
        """The outside values a scope reads."""
        ext = []
        for nid in s_.nodes:
            for r in g.nodes[nid].inputs:
                if r[0] not in under[s_.path] and r not in ext:
                    ext.append(r)
        return ext

    def body_lines(s_, env, ind, in_block, use_blocks):
        out = []
        for what, x in s_.items:
            if what == "n":
                out += node_lines(x, env, ind, in_block)
                continue
            leaf = x.path[-1]
            leaf_txt = _fmt(leaf) if leaf.isdigit() else leaf
            if use_blocks and not in_block and x.path in call_of:
                out += call_lines(x, env, ind, leaf_txt)
            else:
                out.append((f"{ind}- name: {leaf_txt}", []))
                out.append((f"{ind}  Sequential:", []))
                sub = _Env(x.path, env)
                rep = repeat_of.get(x.path) if (use_blocks and not in_block) else None
                if rep is not None:     # the container is a repeat group of one block instead
                    out = out[:-2] + repeat_lines(x, rep, env, ind, leaf_txt)
                else:
                    out += body_lines(x, sub, ind + "    ", in_block, use_blocks)
            env.names.add(leaf)
            env.prev = x.last
        return out

    def call_lines(s_, env, ind, leaf_txt):
        bname, pvals = call_of[s_.path]
        args = ", ".join(f"{k}: {_fmt(v)}" for k, v in pvals.items())
        out = [(f"{ind}- {bname}: {{{args}}}" if args else f"{ind}- {bname}:", []),
               (f"{ind}  name: {leaf_txt}", [])]
        out += from_line(env, [block_external[s_.path]], ind)
        return out

    def repeat_lines(s_, rep, env, ind, leaf_txt):
        bname, n, common, first = rep
        args = ", ".join(f"{k}: {_fmt(v)}" for k, v in common.items())
        out = [(f"{ind}- {bname}: {{{args}}}" if args else f"{ind}- {bname}:", []),
               (f"{ind}  name: {leaf_txt}", [])]
        if first:
            out.append((f"{ind}  repeat: {{n: {n}, first: {{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in first.items())
                        + "}}", []))
        else:
            out.append((f"{ind}  repeat: {n}", []))
        out += from_line(env, [block_external[s_.items[0][1].path]], ind)
        return out

    # --- blocks: module classes whose instances have the same structure
    block_external = {}
    call_of = {}
    repeat_of = {}
    block_defs = []
    if mode == "blocks":
        groups = {}
        for path, s_ in scopes.items():
            if not path:
                continue
            cls = module_types.get(".".join(path))
            if cls is None or cls in _CONTAINERS:
                continue
            ext = scope_input(s_)
            if len(ext) != 1:
                continue
            block_external[path] = ext[0]
            try:
                lines = body_lines(s_, _Env(path, None, block_root=path), "      ", True, False)
            except _Fail:
                continue
            key = (cls, tuple(t for t, _ in lines))
            groups.setdefault(key, []).append((path, [v for _, vs in lines for v in vs], lines))
        used_names = set()
        for (cls, fmts), inst in groups.items():
            if len(inst) < 2:
                continue
            base = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in cls) or "Block"
            if base in REGISTRY or base in _RESERVED_BLOCK_NAMES:
                base += "Block"
            bname, k = base, 1
            while bname in used_names:
                k += 1
                bname = f"{base}_{k}"
            used_names.add(bname)
            # positions that differ between instances become parameters (one per distinct column)
            lines0 = inst[0][2]
            names_at = []
            for t, vs in lines0:
                names_at += _names_for_line(t, len(vs))
            cols = list(zip(*[v for _, v, _ in inst])) if inst[0][1] else []
            pname_of_col = {}
            pnames = []
            for j, col in enumerate(cols):
                if len(set(map(repr, col))) == 1:
                    continue
                key = tuple(map(repr, col))
                if key in pname_of_col:
                    continue
                nm = names_at[j] or "p"
                cand, q = nm, 1
                while cand in pnames or cand in ("input", "i"):
                    q += 1
                    cand = f"{nm}_{q}"
                pname_of_col[key] = cand
                pnames.append(cand)
            for path, vals, _ in inst:
                pv = {}
                for j, col in enumerate(cols):
                    key = tuple(map(repr, col))
                    if key in pname_of_col:
                        pv[pname_of_col[key]] = vals[j]
                call_of[path] = (bname, pv)
            # the definition: constant columns as literals, the others as $param
            out = [f"  {bname}:"]
            if pnames:
                out.append("    params: {" + ", ".join(f"{p}: required" for p in pnames) + "}")
            out.append("    layers:")
            j = 0
            for t, vs in lines0:
                pieces = []
                for ch in t:
                    if ch == MARK:
                        key = tuple(map(repr, cols[j]))
                        pieces.append("$" + pname_of_col[key] if key in pname_of_col else _fmt(cols[j][0]))
                        j += 1
                    else:
                        pieces.append(ch)
                out.append("".join(pieces))
            block_defs += out
        # repeats: a container whose items are calls of one block named 0..n-1, each reading the previous
        for path, s_ in scopes.items():
            if not path or module_types.get(".".join(path)) not in _CONTAINERS:
                continue
            its = s_.items
            if len(its) < 2 or any(w != "s" or x.path not in call_of for w, x in its):
                continue
            if [x.path[-1] for _, x in its] != [str(i) for i in range(len(its))]:
                continue
            bn = {call_of[x.path][0] for _, x in its}
            if len(bn) != 1:
                continue
            if any(block_external[its[i][1].path] != (its[i - 1][1].last, 0) for i in range(1, len(its))):
                continue
            rest = [call_of[x.path][1] for _, x in its[1:]]
            if any(r != rest[0] for r in rest):
                continue
            p0 = call_of[its[0][1].path][1]
            first = {k: v for k, v in p0.items() if rest[0].get(k) != v}
            repeat_of[path] = (bn.pop(), len(its), rest[0], first)
    lines = []
    if title:
        lines.append(f"# {title}")
    lines.append("cnncalc: 1")
    lines.append(f"name: {_fmt(g.name)}")
    if len(g.inputs) == 1 and g.nodes[g.inputs[0]].name == "input":
        lines.append(f"input: {_fmt(list(g.nodes[g.inputs[0]].out_shapes[0]))}")
    else:
        lines.append("inputs: {" + ", ".join(f"{g.nodes[i].name}: {_fmt(list(g.nodes[i].out_shapes[0]))}"
                                             for i in g.inputs) + "}")
    if g.batch != 1:
        lines.append(f"batch: {g.batch}")
    if g.dtype != "float32":
        lines.append(f"dtype: {g.dtype}")
    if block_defs:
        lines.append("blocks:")
        lines += block_defs
    lines.append("layers:")
    env = _Env(())
    env.names.update(g.nodes[i].name for i in g.inputs)
    env.prev = None     # the first node names its input explicitly
    for t, vs in body_lines(root, env, "  ", False, mode == "blocks"):
        lines.append(_fill(t, vs))
    outs = [ref(r, env) for r in g.outputs]
    last = nodes[-1].id if nodes else None
    if not (len(g.outputs) == 1 and g.outputs[0] == (last, 0)):
        lines.append(f"outputs: [{', '.join(outs)}]")
    t = analysis.totals()
    lines.append(f"expect: {{params: {t['params']}, macs: {t['macs']}}}")
    return "\n".join(lines) + "\n"


def _names_for_line(text, n):
    """The argument name of each MARK in a template line."""
    out = []
    cur = None
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == MARK:
            out.append(cur)
        elif ch.isalpha() or ch == "_":
            j = i
            while j < len(text) and (text[j].isalnum() or text[j] == "_"):
                j += 1
            if j < len(text) and text[j] == ":":
                cur = text[i:j]
            i = j
            continue
        i += 1
    return out[:n] + [None] * (n - len(out))
