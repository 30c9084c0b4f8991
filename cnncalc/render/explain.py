"""`cnncalc explain`: every number of a node, group or spec as formula, substituted formula and result.

The formulas are the kinds' own Figure objects (params(), buffers(), terms(), bwd_terms(),
shape_figures(), the receptive-field step) and the analysis's receptive-field recurrence
(Analysis.rf_figures); this module only lays them out.  The few figures composed here are sums of
those (FLOPs = sum of the terms times the convention's costs) and the byte counts of the analysis
(elements times bytes per element), each checked against the number the analysis reports.

The explanation is a list of sections, plain data (JSON-serialisable), rendered as text or Markdown.
"""
from __future__ import annotations

import re
from fractions import Fraction

from ..conventions import MAC_RULES, RULE_DOC, tally
from ..figure import Figure, _unicode_floor
from .numbers import fmt_value, substitute  # noqa: F401 (substitute: re-exported)
from .numbers import lit as _lit
from .layout import cells
from ..core.passes.storage import node_saved
from ..i18n import N_, _
from ..i18n import tag as with_lang

VERDICTS = {"pass": N_("pass"), "fail": N_("fail"), "error": N_("error"), "skipped": N_("skipped"),
            "not checked": N_("not checked")}
SMALL_BYTES = ("save_mean", "save_invstd", "mean", "rstd")   # saved per channel/group, not per batch item


def item(fig: Figure, name: str | None = None, note: str | None = None, unit: str = "", extra: dict | None = None):
    """One explained number, from a Figure."""
    d = {"name": name or fig.name, "formula": fig.formula, "substituted": substitute(fig.formula, fig.bindings),
         "value": fig.value, "unit": unit or fig.unit, "note": note if note is not None else _(fig.note)}
    if extra:
        d.update(extra)
    return d


def text_item(text: str) -> dict:
    return {"text": text}


def render_item(it: dict, unicode: bool = False) -> str:
    if "text" in it:
        return it["text"]
    parts = [it["name"]] if it.get("name") else []
    f, sub = it.get("formula") or "", it.get("substituted") or ""
    val = fmt_value(it["value"])
    if f and f != val.replace(",", "") and f != it.get("name"):
        parts.append(f)
    if sub and sub != f and sub != val.replace(",", ""):
        parts.append(sub)
    parts.append(fmt_value(it["value"]))
    s = " = ".join(parts)
    if unicode:
        s = _unicode_floor(s)
    if it.get("unit"):
        s += f" {it['unit']}"
    if it.get("note"):
        s += f"   ({it['note']})"
    return s


# ---------------------------------------------------------------------------- helpers
def _ident(name: str, taken: set) -> str:
    base = re.sub(r"\W+", "_", name.strip()).strip("_") or "t"
    if base[0].isdigit():
        base = "t_" + base
    n, i = base, 2
    while n in taken:
        n, i = f"{base}_{i}", i + 1
    taken.add(n)
    return n


def _cost_figure(terms, conv, label: str, expected=None):
    """FLOPs as the sum of the terms' counts times the convention's cost per unit."""
    taken, parts, bind, lines = set(), [], {}, []
    work = tally(terms, conv)
    total = work.flops
    counted = {id(t) for t, _ in work.counted}
    excluded = [f"{t.figure.name or t.rules[0]} ({t.rules[0]})" for t in terms
                if id(t) not in counted and not t.alt and t.count]
    for t, c in work.counted:
        rule = t.rules[0]
        nm = _ident(t.figure.name or rule, taken)
        bind[nm] = t.count
        cost = int(c) if float(c).is_integer() else c
        parts.append(f"{nm}*{_lit(cost)}")
        doc = RULE_DOC.get(rule, "")
        lines.append(_("{rule}: {cost} FLOP(s) per unit").format(rule=rule, cost=_lit(cost))
                     + (f" ({_(doc)})" if doc else ""))
    if isinstance(total, float) and total.is_integer():
        total = int(total)
    fig = Figure(total, " + ".join(parts) if parts else "0", bind, label)
    note = ""
    if excluded:
        note = _("not counted under `{convention}`: {terms}").format(convention=conv.name, terms=", ".join(excluded))
    if expected is not None and abs(float(total) - float(expected)) > 1e-9 * max(1.0, abs(float(expected))):
        note = (note + "; " if note else "") + _("the analysis reports {value}").format(value=fmt_value(expected))
    return fig, note, lines


def _shape_names(shape):
    if len(shape) == 1:
        return ["F"]
    if len(shape) == 2:
        return ["C", "L"]
    if len(shape) == 3:
        return ["C", "H", "W"]
    if len(shape) == 4:
        return ["C", "D", "H", "W"]
    return [f"d{i}" for i in range(len(shape))]


def _bytes_figure(shapes, batch, isz, name, expected=None):
    taken, parts, bind = set(), [], {"N": batch, "bytes": isz}
    taken.update(bind)
    multi = len(shapes) > 1
    total = 0
    for k, s in enumerate(shapes):
        names = []
        for nm, v in zip(_shape_names(s), s):
            ident = _ident(f"{nm}{k}" if multi else nm, taken)
            bind[ident] = v
            names.append(ident)
        parts.append("*".join(names) if names else "1")
        n = 1
        for v in s:
            n *= v
        total += n
    formula = "N*" + ("(" + " + ".join(parts) + ")" if multi else parts[0]) + "*bytes"
    fig = Figure(batch * total * isz, formula, bind, name, unit="bytes")
    note = ""
    if expected is not None and expected != fig.value:
        note = _("the analysis reports {value}").format(value=fmt_value(expected))
    return fig, note


def _node_index(a):
    return {n.name: n for n in a.g.nodes if not n.is_input}


# ---------------------------------------------------------------------------- node
def explain_node(a, node) -> dict:
    """Sections explaining every number the analysis computed for one node."""
    g, conv, k = a.g, a.conv, node.kind
    L = a.layer[node.id]
    names = {n.id: n.name for n in g.nodes}
    sections = []

    ins = []
    for nid, idx in node.inputs:
        src = g.nodes[nid]
        ref = names[nid] + (f":{idx}" if len(src.out_shapes) > 1 else "")
        ins.append(f"{ref} {list(src.out_shapes[idx])}")
    head = [text_item(_("op: {op}").format(op=k.describe_args()))]
    if node.loc:
        head.append(text_item(_("defined at: {location}").format(location=node.loc)))
    head.append(text_item(_("input: {inputs}").format(inputs="; ".join(ins) if ins else "-")))
    outs = [list(s) for s in node.out_shapes]
    if k.batched:
        head.append(text_item(_("output: {shapes} (batch {batch} not shown)").format(
            shapes="; ".join(map(str, outs)), batch=k.N)))
    else:
        head.append(text_item(_("output: {shapes} (no batch: the same for every input)").format(
            shapes="; ".join(map(str, outs)))))
    if node.shared_call:
        head.append(text_item(_("calls the module `{module}` again: its parameters are counted there, "
                                "its work and activations here").format(module=node.module)))
    sections.append({"title": f"{node.name} ({node.op})", "items": head})

    # shapes
    figs = k.shape_figures()
    items = [item(f) for f in figs]
    if not items:
        if len(node.out_shapes) == 1 and node.inputs and tuple(node.out_shapes[0]) == tuple(g.shape(node.inputs[0])):
            items.append(text_item(_("shape unchanged: {shape} ({family})").format(
                shape=list(node.out_shapes[0]), family=k.family)))
        else:
            items.append(text_item(_("output {shapes}").format(shapes="; ".join(map(str, outs)))))
    sections.append({"title": _("output shape"), "items": items})

    # parameters
    items = []
    pf, bf = k.params(), k.buffers()
    if pf.formula or pf.value:
        items.append(item(pf))
    else:
        items.append(text_item(_("params = 0 (no weights)")))
    if bf.formula or bf.value:
        items.append(item(bf))
    if node.shared_call:
        items.append(text_item(_("counted once, at `{module}`: this call adds 0").format(module=node.module)))
    sections.append({"title": _("parameters"), "items": items})

    # forward work
    terms = k.terms()
    items = []
    for t in terms:
        if t.alt and conv.cost(t.rules) is None:
            continue
        rule = t.rules[0]
        tag = "MAC" if rule in MAC_RULES else rule
        items.append(item(t.figure, name=t.figure.name or rule,
                          note=(_(t.figure.note) + "; " if t.figure.note else "")
                          + _("rule `{rule}`").format(rule=tag) + ("; " + _("alternative accounting") if t.alt else "")))
    mac_terms = [t for t in terms if t.rules[0] in MAC_RULES and conv.counts_macs(t.rules[0])]
    if mac_terms:
        if len(mac_terms) > 1:
            taken = set()
            b = {_ident(t.figure.name or t.rules[0], taken): t.count for t in mac_terms}
            items.append(item(Figure(sum(t.count for t in mac_terms), " + ".join(b), b, "MACs")))
        elif mac_terms[0].figure.name != "MACs":
            items.append(item(Figure(mac_terms[0].count, "count", {"count": mac_terms[0].count}, "MACs")))
    elif not terms:
        items.append(text_item(_("no arithmetic (a view, a copy or a reshaping)")))
    fig, note, cost_lines = _cost_figure(terms, conv, "FLOPs", L["flops"])
    if terms:
        items.append(item(fig, note=note or _("convention `{convention}`").format(convention=conv.name)))
        for line in cost_lines:
            items.append(dict(text_item(line), indent=1))
    sections.append({"title": _("forward work (convention `{convention}`)").format(convention=conv.name),
                     "items": items})

    # memory
    items = []
    isz = a.itemsize
    fig, note = _bytes_figure(node.out_shapes, k.N if k.batched else 1, k.out_itemsize or isz, "output_bytes",
                              L["output_bytes"])
    items.append(item(fig, note=note))
    if L["alloc_bytes"] == 0 and L["output_bytes"]:
        items.append(text_item(_("the output is a view of (or written into) its input: it allocates nothing new")))
    saved = node_saved(node, a.flow, a.layout)
    for sv, rec in zip(saved, L.get("saved_items", [])):
        if sv.alias:
            what = {"input": _("its input"), "output": _("its output")}.get(
                sv.alias, _("input {index}").format(index=sv.alias[5:]))
            note = _("{what}, kept alive (no copy)").format(what=what) + (
                "; " + _("already counted by another node") if rec["shared"] else "")
            items.append(item(Figure(rec["bytes"], "", {}, f"saved {sv.what}", unit="bytes"), note=note))
            continue
        per = sv.itemsize if sv.itemsize is not None else isz
        if sv.what in SMALL_BYTES:
            f = Figure(sv.numel * per, "numel*bytes", {"numel": sv.numel, "bytes": per}, f"saved {sv.what}",
                       unit="bytes")
        else:
            f = Figure(k.N * sv.numel * per, "N*numel*bytes", {"N": k.N, "numel": sv.numel, "bytes": per},
                       f"saved {sv.what}", unit="bytes")
        note = _("already counted by another node") if rec["shared"] else ""
        if f.value != rec["bytes"]:
            note = (note + "; " if note else "") + _("the analysis reports {value}").format(value=fmt_value(rec["bytes"]))
        items.append(item(f, note=note))
    if saved:
        mine = [r["bytes"] for r in L.get("saved_items", []) if not r["shared"]]
        if len(mine) > 1:
            taken = set()
            b = {_ident(f"s_{r['what']}", taken): r["bytes"] for r in L["saved_items"] if not r["shared"]}
            items.append(item(Figure(L["saved_bytes"], " + ".join(b), b, "saved_bytes", unit="bytes"),
                              note=_("for backward, each storage counted once")))
        else:
            items.append(item(Figure(L["saved_bytes"], "", {}, "saved_bytes", unit="bytes"),
                              note=_("for backward, each storage counted once")))
    else:
        items.append(text_item(_("saved for backward: nothing")))
    sections.append({"title": _("memory ({dtype}: {bytes} bytes per element)").format(dtype=g.dtype, bytes=isz),
                     "items": items})

    # backward
    ng = L["needs_input_grad"]
    needs = ng or L["module_params"] > 0
    items = []
    if not needs:
        items.append(text_item(_("no backward: neither its inputs nor its own weights need gradients")))
    else:
        bterms = k.bwd_terms(ng)
        for t in bterms:
            items.append(item(t.figure, note=_("rule `{rule}`").format(
                rule="MAC" if t.rules[0] in MAC_RULES else t.rules[0])))
        if not ng and L["module_params"] > 0:
            items.append(text_item(_("no input gradient: its input comes from the network input")))
        fig, note, _lines = _cost_figure(bterms, conv, "bwd_FLOPs", L["bwd_flops"])
        items.append(item(fig, note=note))
    sections.append({"title": _("backward"), "items": items})

    # receptive field
    items = []
    rf = a.rf_figures(node.id)
    if not rf:
        items.append(text_item(_("no receptive field (no spatial input)")))
    multi_src = len({s for s, _, _ in rf}) > 1
    grouped = []
    for src, ax, figs in rf:
        key = (src, tuple((f.name, f.formula, tuple(sorted((k2, str(v)) for k2, v in f.bindings.items())), f.value)
                          for f in figs))
        if grouped and grouped[-1][0] == key:
            grouped[-1][2].append(ax)
        else:
            grouped.append((key, src, [ax], figs))
    step = a.rf_trace.get(node.id, (None,))[0]
    if step is not None and step.formula:
        items.append(text_item(_("step: {formula}").format(formula=_(step.formula))
                               + (" " + _("(data dependent: nominal field)") if step.kind == "data" else "")))
    for key, src, axes, figs in grouped:
        label = _(" and ").join(axes) + (" " + _("(in `{source}` coordinates)").format(source=src) if multi_src else "")
        items.append(text_item(f"{label}:"))
        for f in figs:
            items.append(dict(item(f), indent=1))
    from ..receptive.figures import offset_figures      # spatial offsets, per-unit adaptive windows
    for title, figs in offset_figures(a.g, node.id, rf=a.rf):
        items.append(text_item(f"{title}:"))
        items.extend(dict(item(f), indent=1) for f in figs)
    sections.append({"title": _("receptive field (r size, j effective stride, p effective padding: unit 0's field "
                                "starts at -p)"), "items": items})

    # expects
    exp = [r for r in a.expect_results if r.get("node") == node.name]
    if exp:
        sections.append({"title": _("expect"), "items": [
            text_item(_("{key}: expected {expected}, computed {actual}: {verdict}").format(
                key=r["key"], expected=r["expected"], actual=r["actual"], verdict=_(VERDICTS.get(r["verdict"], r["verdict"])))
                + (f" ({r['message']})" if r["verdict"] == "skipped" else "")) for r in exp]})
    return with_lang({"kind": "node", "name": node.name, "sections": sections})


# ---------------------------------------------------------------------------- groups and the whole spec
def _values(a, ids, out_ref=None, first_call=False):
    """A part's values.  first_call: parameters counted at a module's first call only (so that the
    parts of a whole add up when modules are shared); otherwise once per module in the part."""
    v = a.group_values(ids, out_ref)
    real = [i for i in ids if not a.g.nodes[i].is_input]
    v["output_bytes"] = sum(a.layer[i]["alloc_bytes"] for i in real)
    if first_call:
        v["params"] = sum(a.layer[i]["params"] for i in real)
        v["buffers"] = sum(a.layer[i]["buffers"] for i in real)
    return v


def _children(a, prefix: str, ids):
    """Direct children of a group path (or of the whole spec when prefix is ''): [(name, [ids])]."""
    out, index = [], {}
    for i in ids:
        n = a.g.nodes[i]
        if n.is_input:
            continue
        if n.name == prefix:
            key = n.name                                   # the group's own node (a parallel's merge)
        else:
            rest = n.name[len(prefix) + 1:] if prefix else n.name
            key = (prefix + "." if prefix else "") + rest.split(".")[0]
        if key not in index:
            index[key] = len(out)
            out.append((key, []))
        out[index[key]][1].append(i)
    return out


def _sum_item(name, parts, total, note=""):
    """`name = a + b + c = total` over the children's values (zeros left out)."""
    nz = [(c, v) for c, v in parts if v]
    if not nz:
        why = (_("{value} belong to modules this group shares, first called elsewhere").format(value=fmt_value(total))
               if total else _("nothing counted"))
        return {"name": name, "formula": "", "substituted": "", "value": total,
                "note": "; ".join(x for x in (note, why) if x)}
    form = " + ".join(c for c, _ in nz)
    sub = " + ".join(fmt_value(v) for _, v in nz)
    zero = len(parts) - len(nz)
    extra = _("{count} part(s) contribute 0").format(count=zero) if zero else ""
    s = sum(v for _c, v in nz)
    if s != total:
        extra = (extra + "; " if extra else "") + (
            _("shared modules counted once: the parts add up to {value}").format(value=fmt_value(s)) if s > total else
            _("{value} belong to modules this group shares, first called elsewhere").format(value=fmt_value(total - s)))
    if len(nz) == 1:
        sub = ""
    named = len(nz) <= 12 and not any(c.split(".")[-1].isdigit() and "." not in c for c, _ in nz)
    return {"name": name, "formula": form if named else _("sum of the parts"), "substituted": sub, "value": total,
            "note": "; ".join(x for x in (note, extra) if x), "sum": True}


def _top(a, ids, key, total, n=5):
    rows = []
    seen_mod = set()
    for i in ids:
        node = a.g.nodes[i]
        if node.is_input:
            continue
        if key == "params":
            if node.module in seen_mod:
                continue
            seen_mod.add(node.module)
            v = a.layer[i]["module_params"]
        else:
            v = a.layer[i][key]
        if v:
            rows.append((v, node.name, node.op))
    rows.sort(key=lambda r: -r[0])
    out = []
    for v, nm, op in rows[:n]:
        share = f"{100 * v / total:.1f}%" if total else "-"
        out.append(text_item(f"{nm} ({op}): {fmt_value(v)} = {share}"))
    return out


def explain_group(a, name: str | None) -> dict:
    """A block, a repeat group or (name None) the whole spec: totals as sums, and what dominates."""
    g = a.g
    if name:
        ids = [i for i in g.groups[name] if not g.nodes[i].is_input]
        last = max(ids)
        out_ref = (last, 0)
        tot = _values(a, ids, out_ref)
        title = _("{name} (group of {count} layers)").format(name=name, count=len(ids))
    else:
        ids = [n.id for n in g.nodes if not n.is_input]
        t = a.totals()
        tot = {"params": t["params"], "buffers": t["buffers"], "macs": t["macs"], "flops": t["flops"],
               "bwd_flops": t["bwd_flops"], "saved": t["saved_bytes"], "output_bytes": t["activation_bytes"]}
        title = _("{name} (whole spec, {count} layers)").format(name=g.name, count=len(ids))
    kids = _children(a, name or "", ids)
    while len(kids) == 1 and kids[0][0] in g.groups and len(kids[0][1]) > 1:
        kids = _children(a, kids[0][0], kids[0][1])      # a single part: show its parts instead
    kv = [(c, _values(a, cid, first_call=True)) for c, cid in kids]
    head = []
    if name:
        shape = g.shape(out_ref)
        head.append(text_item(_("output: {shape} from {node}").format(shape=list(shape), node=g.nodes[out_ref[0]].name)))
        rf = a.layer[out_ref[0]].get("rf")
        if rf:
            head.append(text_item(_("receptive field at its output: {size}, stride {stride}, padding {padding}").format(
                size=rf["size"], stride=rf["stride"], padding=rf["padding"])
                + (" " + _("(global)") if rf.get("global") else "")))
    else:
        head.append(text_item(_("inputs: {inputs}; batch {batch}; {dtype}").format(
            inputs=", ".join(f"{g.nodes[i].name} {list(g.nodes[i].out_shapes[0])}" for i in g.inputs),
            batch=g.batch, dtype=g.dtype)))
    head.append(text_item(_("convention: `{name}`: {description}").format(name=a.conv.name,
                                                                         description=_(a.conv.description))))
    sections = [{"title": title, "items": head}]
    items = [
        _sum_item("params", [(c, v["params"]) for c, v in kv], tot["params"]),
        _sum_item("buffers", [(c, v["buffers"]) for c, v in kv], tot["buffers"]),
        _sum_item("MACs", [(c, v["macs"]) for c, v in kv], tot["macs"]),
        _sum_item("FLOPs", [(c, v["flops"]) for c, v in kv], tot["flops"]),
        _sum_item("bwd_FLOPs", [(c, v["bwd_flops"]) for c, v in kv], tot["bwd_flops"]),
        _sum_item("activation_bytes", [(c, v["output_bytes"]) for c, v in kv], tot["output_bytes"],
                  _("outputs allocated in a forward pass")),
        _sum_item("saved_bytes", [(c, v["saved"]) for c, v in kv], tot["saved"], _("saved for backward")),
    ]
    sections.append({"title": _("totals as sums of its parts"), "items": items})
    sections.append({"title": _("parts"), "table": {
        "columns": [_("part"), _("params"), "MACs", "FLOPs", _("activations"), _("saved")],
        "rows": [[c, v["params"], v["macs"], v["flops"], v["output_bytes"], v["saved"]] for c, v in kv]}})
    sections.append({"title": _("largest layers by MACs"), "items": _top(a, ids, "macs", tot["macs"])
                     or [text_item(_("no MACs"))]})
    sections.append({"title": _("largest layers by parameters"), "items": _top(a, ids, "params", tot["params"])
                     or [text_item(_("no parameters"))]})
    return with_lang({"kind": "group" if name else "spec", "name": name or g.name, "sections": sections})


# ---------------------------------------------------------------------------- lookup
class UnknownNode(Exception):
    def __init__(self, name, candidates):
        super().__init__(name)
        self.name = name
        self.candidates = candidates


def explain(a, targets=()) -> list[dict]:
    """Explanations for the named nodes/groups (all of them checked first), or the whole spec."""
    if not targets:
        return [explain_group(a, None)]
    nodes = _node_index(a)
    groups = a.g.groups
    out = []
    for t in targets:
        t2 = t.split(":")[0] if ":" in t and t.split(":")[0] in nodes else t
        if t2 in nodes and t2 not in groups:
            out.append(explain_node(a, nodes[t2]))
        elif t2 in groups:
            ids = [i for i in groups[t2] if not a.g.nodes[i].is_input]
            if len(ids) == 1 and a.g.nodes[ids[0]].name == t2:
                out.append(explain_node(a, a.g.nodes[ids[0]]))
            else:
                out.append(explain_group(a, t2))
        elif t2 in nodes:
            out.append(explain_node(a, nodes[t2]))
        else:
            from ..errors import suggest
            cands = list(nodes) + [x for x in groups if x not in nodes]
            s = suggest(t, cands)
            if not s:
                s = [c for c in cands if c.startswith(t + ".") or t in c][:3]
            raise UnknownNode(t, s)
    return out


# ---------------------------------------------------------------------------- renderers
def render_text(explanations, unicode=False, width: int | None = None) -> str:
    """The explanations as text; with `width`, tables and lines fit it (figures are never split)."""
    lines = []
    for e in explanations:
        for si, sec in enumerate(e["sections"]):
            if si == 0:
                lines.append(sec["title"])
                lines.append("=" * cells(sec["title"]))
            else:
                lines.append("")
                lines.append(sec["title"])
                lines.append("-" * min(cells(sec["title"]), 60))
            if "table" in sec:
                lines.extend(_text_table(sec["table"], width))
            for it in sec.get("items", []):
                pad = "  " * (1 + it.get("indent", 0)) if si else ""
                lines.append(pad + render_item(it, unicode))
        lines.append("")
    text = "\n".join(lines) + "\n"
    if width:
        from .layout import wrap
        text = wrap(text, width)
    return text


def _cell(v):
    return fmt_value(v) if not isinstance(v, str) else v


def _text_table(tab, width=None):
    from .layout import Col, table
    rows = [[_cell(v) for v in r] for r in tab["rows"]]
    cols = [Col(str(h), right=i > 0, wrap=i == 0, floor=10) for i, h in enumerate(tab["columns"])]
    w = (width or 10 ** 6) - 2
    lines = table(cols, rows, w) or table(cols, rows, w, sep=1) or table(cols, rows, 10 ** 6)
    return ["  " + x if x else x for x in lines]


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def render_markdown(explanations, unicode=False) -> str:
    lines = []
    for e in explanations:
        for si, sec in enumerate(e["sections"]):
            lines.append(f"## {sec['title']}" if si == 0 else f"### {sec['title']}")
            lines.append("")
            if "table" in sec:
                tab = sec["table"]
                lines.append("| " + " | ".join(tab["columns"]) + " |")
                lines.append("| --- |" + " ---: |" * (len(tab["columns"]) - 1))
                for r in tab["rows"]:
                    lines.append("| " + " | ".join(_md_escape(_cell(v)) for v in r) + " |")
                lines.append("")
            for it in sec.get("items", []):
                pad = "  " * it.get("indent", 0)
                if "text" in it:
                    lines.append(f"{pad}- {it['text']}")
                    continue
                note = it.get("note")
                body = render_item(dict(it, note="", unit=""), unicode)
                lines.append(f"{pad}- `{body}`" + (f" {it['unit']}" if it.get("unit") else "")
                             + (f" ({note})" if note else ""))
            lines.append("")
    return "\n".join(lines)


def to_json(explanations) -> list:
    def conv(v):
        if isinstance(v, Fraction):
            return int(v) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        return v
    return conv(list(explanations))
