"""Receptive field per spatial axis, in the coordinates of each network input.

Definitions (Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks",
Distill 2019), per node, per spatial axis, in the coordinates of a network input:
  r      size of the field of one unit (input pixels)
  j      effective stride (jump): input distance between neighbouring units
  start  left edge of unit 0's field; the effective padding is p = -start
  centre of unit 0 = start + (r - 1) / 2
A layer with effective kernel k (= D*(K-1) + 1), stride s and left padding P maps
  r_out = r_in + (k - 1) * j_in,   j_out = j_in * s,   p_out = p_in + P * j_in.
Values are exact Fractions: upsampling and transposed convolutions give fractional jumps.
Where branches merge, the fields must be aligned (equal jumps and centres, as
google-research/receptive_field checks) or a diagnostic says they are not; the union is reported,
its jump taken per axis.
A concatenation or a split along a spatial axis (the kind's ``spatial_offsets()``) moves units: in a
concatenation, output unit u of input i is its unit u - off_i, so that input's field starts off_i*j
earlier (start_i - off_i*j_i) before the union; output k of a split is the input from off_k on, its
field starts off_k*j later.  This is the one walk: ``cnncalc rf`` (receptive/envelope.py) reads it.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

from ...i18n import N_, _

from ...errors import Diagnostic
from ...figure import Figure
from ..numbers import frac_text as _frac_text, frac_val as _frac_val, num as _num, q as _q

AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


@dataclass(frozen=True)
class Receptive:
    state: MappingProxyType      # (node id, output index) -> {network input name: field}
    trace: MappingProxyType      # node id -> (step, [input fields, shifted], fields of output 0)
    layers: MappingProxyType     # node id -> the report's `rf` object of output 0 (None without spatial input)
    diagnostics: tuple           # branches not aligned; the final field against the input (review)

    def figures(self, graph, nid):
        return rf_figures(graph, self.trace, nid)


def input_field(node):
    """The field of a network input: every unit sees itself."""
    nd = len(node.out_shapes[0]) - 1
    return dict(r=(1,) * nd, j=(1,) * nd, start=(0,) * nd, glob=False, data=False,
                extent=tuple(node.out_shapes[0][1:]))


def receptive(graph, has_errors=False, step_of=None, apply_step=None) -> Receptive:
    """The receptive-field pass.  ``step_of(node)`` gives a node's step (its kind's ``rf()`` by
    default); ``apply_step(node, field, step)`` replaces the engine's arithmetic for one node (the
    homework's wrong receptive-field rules); the merge rules stay the engine's."""
    g = graph
    diags = []
    layers = {}
    trace = {}   # node id -> (step, [input states], output state)
    state = {}   # (node id, output index) -> {input name: dict(r, j, start, glob, data, extent)}
    for n in g.nodes:
        if n.is_input:
            state[(n.id, 0)] = {n.name: input_field(n)}
            continue
        step = step_of(n) if step_of else n.kind.rf()
        app = apply if apply_step is None else (lambda f, s, n=n: apply_step(n, f, s))
        ins = [state.get(r, {}) for r in n.inputs]
        so = n.kind.spatial_offsets()
        if so is not None:          # a concatenation along a spatial axis: parts after the first move
            ins = [{src: _shift(f, so[0], -off) for src, f in d.items()} if off else d
                   for d, off in zip(ins, so[1])]
        if step.kind == "merge" and len(n.inputs) > 1 and not n.kind.concatenates:
            # an input broadcast along a spatial axis ([C, 1, 1] * [C, H, W]) reaches every output
            # position from one pixel: along that axis every unit sees all of that input's field
            osp = n.out_shapes[0][1:]
            for i, r in enumerate(n.inputs):
                isp = g.shape(r)[1:]
                if len(isp) == len(osp) and any(a == 1 < b for a, b in zip(isp, osp)):
                    ins[i] = {src: _global(f) for src, f in ins[i].items()}
        if step.kind == "merge":
            out = merge(n, ins, diags)
        elif step.kind == "global":
            # every output unit sees all of every input (a loss with its target, Linear, flatten)
            out = {}
            for d in ins:
                for src, f in d.items():
                    g_f = app(f, step)
                    if src in out:
                        g_f = dict(g_f, data=g_f["data"] or out[src]["data"])
                    out[src] = g_f
        else:
            # window or data dependent: the first input carries the data (DeformConv2d's
            # offsets and mask steer where it samples; they are not what it samples)
            base = merge(n, ins, diags) if len(ins) > 1 and step.kind != "data" else (ins[0] if ins else {})
            out = {src: app(f, step) for src, f in base.items()}
        for i in range(len(n.out_shapes)):
            off = so[2][i] if so is not None and i < len(so[2]) else 0
            state[(n.id, i)] = {src: _shift(f, so[0], off) for src, f in out.items()} if off else out
        trace[n.id] = (step, ins, out)
        layers[n.id] = rf_json(out)
    if not has_errors:
        diags.extend(review(g, state))
    return Receptive(MappingProxyType(state), MappingProxyType(trace), MappingProxyType(layers), tuple(diags))


def _global(f):
    return dict(f, glob=True, r=tuple(f["extent"]), start=(0,) * len(f["extent"]))


def _shift(f, axis, units):
    """The field of unit u + units, as the field of unit u (its start moves by units*j along ``axis``)."""
    if f["glob"] or axis >= len(f["r"]):
        return f
    st = list(f["start"])
    st[axis] = _q(st[axis] + units * f["j"][axis])
    return dict(f, start=tuple(st))


def apply(f, step):
    """One layer's step applied to one field (the engine's arithmetic; the homework passes another)."""
    nd = len(f["r"])
    if f["glob"] and step.kind in ("window", "data") and len(step.k) == nd:
        # already global (e.g. after an SE gate), but the map still has a grid: keep its jump
        return dict(f, j=tuple(ji * ss for ji, ss in zip(f["j"], step.s)))
    if f["glob"] or step.kind == "global":
        return _global(f)
    if len(step.k) != nd:
        return _global(f)
    # ints stay ints (fast); Fractions only where a kind gives one (upsampling, transposed conv)
    r = tuple(_q(ri + (kk - 1) * ji) for ri, kk, ji in zip(f["r"], step.k, f["j"]))
    start = tuple(_q(si - pp * ji) for si, pp, ji in zip(f["start"], step.p, f["j"]))
    j = tuple(_q(ji * ss) for ji, ss in zip(f["j"], step.s))
    return dict(f, r=r, j=j, start=start, data=f["data"] or step.kind == "data")


def centre(f):
    return tuple(s + ((r - 1) // 2 if type(r) is int and r % 2 else Fraction(r - 1) / 2)
                 for s, r in zip(f["start"], f["r"]))


def merge(n, ins, diags):
    """Union of the inputs' fields, per network input; a diagnostic when they are not aligned
    (different jumps or different centres of unit 0), as google-research/receptive_field checks."""
    out = {}
    srcs = []
    for d in ins:
        for s in d:
            if s not in srcs:
                srcs.append(s)
    for src in srcs:
        fields = [d[src] for d in ins if src in d]
        if len(fields) == 1:
            out[src] = fields[0]
            continue
        data = any(f["data"] for f in fields)
        if any(f["glob"] for f in fields) or len({len(f["r"]) for f in fields}) > 1:
            # the grid (jump) is that of the spatially resolved input, e.g. x in SE's x * gate
            grid = max(fields, key=lambda f: (len(f["r"]), not f["glob"]))
            out[src] = dict(_global(grid), data=data)
            continue
        js = {tuple(f["j"]) for f in fields}
        centres = {centre(f) for f in fields}
        if len(js) > 1 or len(centres) > 1:
            if len(js) > 1:
                what = "different effective strides " + ", ".join(
                    "x".join(_frac_text(x) for x in jj) for jj in sorted(js))
            else:
                what = "different centres of unit 0 " + ", ".join(
                    "(" + ", ".join(_frac_text(x) for x in c) + ")" for c in sorted(centres))
            diags.append(Diagnostic(
                "warning", f"{n.name} ({n.op}): the receptive fields of its inputs are not aligned "
                f"({what}, in `{src}` coordinates); reporting their union", n.loc,
                ["equal strides and symmetric padding ('same' padding, odd kernels) on every branch keep "
                 "branches aligned"], node=n.name, code="rf-not-aligned"))
        nd = len(fields[0]["r"])
        start = tuple(_q(min(f["start"][a] for f in fields)) for a in range(nd))
        end = tuple(max(f["start"][a] + f["r"][a] for f in fields) for a in range(nd))
        out[src] = dict(fields[0], r=tuple(_q(e - s) for s, e in zip(start, end)), start=start,
                        j=tuple(_q(max(f["j"][a] for f in fields)) for a in range(nd)), data=data)
    return out


def rf_json(fields):
    if not fields:
        return None
    res = {}
    for src, f in fields.items():
        res[src] = {"size": [_num(x) for x in f["r"]], "stride": [_num(x) for x in f["j"]],
                    "padding": [_num(-x) for x in f["start"]],
                    "center": [_num(x) for x in centre(f)], "global": bool(f["glob"]),
                    "data_dependent": bool(f["data"])}
    first = next(iter(res.values()))
    out = dict(first)
    if len(res) > 1:
        out["per_input"] = res
    return out


def final_fields(graph, state):
    """Per graph output and network input: the last node output whose field is still local (the final
    feature map before a global step such as global pooling or a Linear on the flattened map)."""
    found = []
    seen = set()
    for ref in graph.outputs:
        stack = [ref]
        visited = set()
        while stack:
            r = stack.pop()
            if r in visited:
                continue
            visited.add(r)
            node = graph.nodes[r[0]]
            if node.is_input:
                continue
            fields = state.get(r) or {}
            local = {s: f for s, f in fields.items() if not f["glob"]}
            for s, f in local.items():
                if (r[0], s) not in seen:
                    seen.add((r[0], s))
                    found.append((r[0], s, f))
            if len(local) < len(fields) or not fields:
                stack.extend(node.inputs)
    return found


def review(graph, state):
    """Design review: the final field far smaller than the input, or more than 4x larger."""
    diags = []
    inputs = {graph.nodes[i].name for i in graph.inputs}
    for nid, src, f in final_fields(graph, state):
        if src not in inputs or not f["extent"]:
            continue
        n = graph.nodes[nid]
        r = [Fraction(x) for x in f["r"]]
        ext = list(f["extent"])
        rt = "x".join(_frac_text(x) for x in r)
        et = "x".join(str(x) for x in ext)
        dd = " (nominal: deformable sampling makes it data dependent)" if f["data"] else ""
        if any(ri < e for ri, e in zip(r, ext)):
            diags.append(Diagnostic(
                "note", f"{n.name}: each unit of this last spatial map on its path sees {rt} of the {et} input "
                f"`{src}`{dd}: no unit sees the whole input", n.loc,
                ["fine for dense prediction; a classifier relies on its global pooling or fully connected "
                 "layers to combine distant regions",
                 "more or larger-stride layers, or dilation, enlarge the field"],
                node=n.name, code="rf-smaller-than-input"))
        elif any(ri > 4 * e for ri, e in zip(r, ext)):
            diags.append(Diagnostic(
                "note", f"{n.name}: each unit of this last spatial map on its path sees {rt}, more than 4x the {et} "
                f"input `{src}`{dd}: most of the field lies in the padding", n.loc,
                ["the network may be deeper than this input size needs, or the input could be larger"],
                node=n.name, code="rf-much-larger-than-input"))
    return diags


def rf_figures(graph, trace, nid):
    """The receptive-field recurrence of one node as Figures, per network input and axis:
    [(input name, axis name, [Figure, ...]), ...].  Read by `cnncalc explain`."""
    step, ins, out = trace.get(nid, (None, [], {}))
    res = []
    if step is None:
        return res
    names = [graph.nodes[i].name for i, _o in graph.nodes[nid].inputs]
    for src, f in out.items():
        nd = len(f["r"])
        axes = AXES.get(nd, tuple(f"x{a}" for a in range(nd)))
        for a, ax in enumerate(axes):
            figs = []
            fin = [(nm, d[src]) for nm, d in zip(names, ins) if src in d]
            if f["glob"]:
                why = _(step.formula) if step.formula else step.kind
                if step.kind != "global" and fin and all(x["glob"] for _n, x in fin):
                    why = _("an input is already global")
                elif step.kind == "merge":
                    why = _("merge with a global input")
                figs.append(Figure(f["extent"][a], f"{ax}_input", {f"{ax}_input": f["extent"][a]}, "r_out",
                                   note=_("global ({why}): every unit sees the whole input").format(why=why)))
                figs.append(Figure(0, "0", {}, "p_out", note=N_("global")))
                res.append((src, ax, figs))
                continue
            if step.kind == "merge" or (len(fin) > 1 and step.kind not in ("data",)):
                if len(fin) == 1:
                    figs.append(Figure(_frac_val(f["r"][a]), "r_in", {"r_in": _frac_val(f["r"][a])}, "r_out",
                                       note=_("{rule}: one input carries `{source}`").format(
                                           rule=_(step.formula) if step.formula else _("merge"), source=src)))
                else:
                    b = {}
                    rs, ps = [], []
                    for i, (_n, x) in enumerate(fin):
                        b[f"r_{i}"] = _frac_val(x["r"][a])
                        b[f"p_{i}"] = _frac_val(-Fraction(x["start"][a]))
                        rs.append(f"r_{i} - p_{i}")
                        ps.append(f"p_{i}")
                    mp = "max(" + ", ".join(ps) + ")"
                    figs.append(Figure(_frac_val(-Fraction(f["start"][a])), mp,
                                       {k2: v for k2, v in b.items() if k2.startswith("p_")}, "p_out",
                                       note=_("union of {parts}").format(parts=", ".join(nm for nm, _x in fin))))
                    figs.append(Figure(_frac_val(f["r"][a]), "max(" + ", ".join(rs) + ") + " + mp, dict(b),
                                       "r_out", note=N_("union: rightmost end minus leftmost start")))
                    figs.append(Figure(_frac_val(f["j"][a]), "max(" + ", ".join(
                        f"j_{i}" for i in range(len(fin))) + ")",
                        {f"j_{i}": _frac_val(x["j"][a]) for i, (_n, x) in enumerate(fin)}, "j_out"))
            else:
                x = fin[0][1] if fin else f
                k, s, p = step.k[a], step.s[a], step.p[a]
                r_in, j_in, p_in = x["r"][a], x["j"][a], -Fraction(x["start"][a])
                figs.extend(step.figures.get(ax, []))
                figs.append(Figure(_frac_val(f["r"][a]), "r_in + (k_eff - 1)*j_in",
                                   {"r_in": _frac_val(r_in), "k_eff": _frac_val(k), "j_in": _frac_val(j_in)},
                                   "r_out"))
                figs.append(Figure(_frac_val(f["j"][a]), "j_in*s", {"j_in": _frac_val(j_in),
                                                                    "s": _frac_val(s)}, "j_out"))
                figs.append(Figure(_frac_val(-Fraction(f["start"][a])), "p_in + P*j_in",
                                   {"p_in": _frac_val(p_in), "P": _frac_val(p), "j_in": _frac_val(j_in)},
                                   "p_out", note=_("unit 0's field starts at {start}").format(
                                       start=_frac_text(Fraction(f["start"][a])))))
            c = centre(f)[a]
            figs.append(Figure(_frac_val(c), "(r - 1)/2 - p", {"r": _frac_val(f["r"][a]),
                                                               "p": _frac_val(-Fraction(f["start"][a]))},
                               "centre", note=N_("centre of unit 0's field")))
            res.append((src, ax, figs))
    return res
