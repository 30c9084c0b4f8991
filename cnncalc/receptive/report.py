"""What ``cnncalc rf`` reports: per target (a node output) and network input, the exact window of
one unit beside the analytic envelope, and the rules on the unit's path explained with numbers.

No torch here; the effective receptive field (``erf``) is added by the command when asked for.
"""
from __future__ import annotations

from fractions import Fraction

from ..core.numbers import frac_text
from ..i18n import _
from .envelope import envelope
from .probe import final_maps
from .window import parse_unit, unit_window

SCHEMA_VERSION = 1
AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _t(x):
    return frac_text(Fraction(x))


def _n(x):
    x = Fraction(x)
    return int(x) if x.denominator == 1 else float(x)


def resolve(graph, name):
    """'node' or 'node:k' -> (node id, k); KeyError with close names when unknown."""
    base, _sep, k = name.rpartition(":") if ":" in name else (name, "", "0")
    if not k.isdigit():
        base, k = name, "0"
    for n in graph.nodes:
        if n.name == base and not n.is_input:
            if int(k) >= max(1, len(n.out_shapes)):
                raise KeyError(f"`{base}` has {len(n.out_shapes)} outputs; `:{k}` is out of range")
            return (n.id, int(k))
    ids = graph.groups.get(base)
    if ids:                 # a block or group: its output (the last node it holds)
        return (max(ids), 0)
    from ..errors import suggest
    near = suggest(base, [n.name for n in graph.nodes if not n.is_input] + list(graph.groups))
    raise KeyError(f"no node `{base}` in the graph" + (f"; did you mean {', '.join(f'`{x}`' for x in near)}?"
                                                      if near else ""))


def targets(graph, node=None, env=None):
    if node:
        return [resolve(graph, node)]
    return final_maps(graph, env)


def report(analysis, node=None, unit=None):
    """The JSON-serialisable rf report (see docs/receptive-field.md, "Exact windows")."""
    g = analysis.g
    notes = []
    env = envelope(g, notes, analysis.rf)
    outs = set(g.outputs)
    res = {"schema": SCHEMA_VERSION, "spec": g.name, "targets": [], "notes": notes}
    for ref in targets(g, node, env):
        shape = g.shape(ref)
        n = g.nodes[ref[0]]
        u = parse_unit(unit if node or (unit and len(str(unit).split(",")) == len(shape) - 1) else None, shape)
        w = unit_window(g, ref, u)
        holes = w.holes()
        t = {"node": n.name, "output": ref[1], "op": n.op, "role": "output" if ref in outs else "final feature map",
             "shape": list(shape), "unit": list(u), "inputs": {}, "rules": rules(g, env, w),
             "approximate": [g.nodes[i].name for i in w.approximate]}
        for src, f in w.fields.items():
            e = env.get(ref, {}).get(src)
            entry = {"field": None if f is None else [list(x) for x in f],
                     "size": None if f is None else [hi - lo + 1 for lo, hi in f],
                     "holes": holes.get(src), "envelope": e.json() if e else None}
            if e and not e.glob and len(e.r) == len(u):
                lo = [e.start[a] + u[a] * e.j[a] for a in range(len(u))]
                entry["envelope_window"] = [[_n(lo[a]), _n(lo[a] + e.r[a] - 1)] for a in range(len(u))]
            t["inputs"][src] = entry
        res["targets"].append(t)
    return res


def rules(g, env, w):
    """The rules on the unit's path that the (r, j, p) recurrence of a plain window does not show:
    fractional jumps, spatial offsets, uneven adaptive windows.  One line each, numbers filled in."""
    out = []
    for nid in w.path:
        n = g.nodes[nid]
        k = n.kind
        src = next(iter(w.sets))
        fin = env.get(n.inputs[0], {}).get(src) if n.inputs else None
        j = fin.j if fin and not fin.glob else None
        ax_names = AXES.get(len(n.out_shapes[0]) - 1, ())
        if getattr(k, "transposed", False):
            a = k.a
            per_ax = []
            for ax, nm in enumerate(ax_names):
                K, S, P, D = a["kernel_size"][ax], a["stride"][ax], a["padding"][ax], a["dilation"][ax]
                line = _("{node} ({op}, K={K}, S={S}, P={P}, D={D}, {axes}): output o reads the inputs "
                         "i = (o + P - D*t)/S for the taps t = 0..K-1 where that is a whole number; neighbouring "
                         "outputs move by 1/S = {step} input pixel: the jump is multiplied by 1/S").format(
                    node=n.name, op=n.op, K=K, S=S, P=P, D=D, axes="{axes}", step=_t(Fraction(1, S)))
                if j:
                    line += _(" ({j_in} -> {j_out}), the envelope grows by D*(K-1)/S*j_in = {grows} and starts "
                              "(D*(K-1) - P)/S*j_in = {starts} earlier").format(
                        j_in=_t(j[ax]), j_out=_t(j[ax] / S), grows=_t(Fraction(D * (K - 1), S) * j[ax]),
                        starts=_t(Fraction(D * (K - 1) - P, S) * j[ax]))
                if S > 1:
                    line += _(". The envelope is a continuous hull: a unit's exact window moves by whole input "
                              "pixels, once every {S} outputs").format(S=S)
                    if K % S:
                        line += _(", and since S does not divide K an output reads {more} or {fewer} taps "
                                  "depending on o mod S").format(more=-(-K // S), fewer=K // S)
                per_ax.append((nm, line))
            out.extend(_join_axes(per_ax))
        elif k.family == "upsample":
            a = k.a
            mode, ac = a["mode"], bool(a.get("align_corners"))
            per_ax = []
            for ax, nm in enumerate(ax_names):
                Li, Lo = k.in_shape[ax + 1], k.out_shape[ax + 1]
                if mode in ("nearest", "nearest-exact"):
                    rule = "x = floor(o*scale)" if mode == "nearest" else "x = floor((o + 1/2)*scale)"
                    what = _("one source pixel")
                elif ac:
                    rule, what = "x = o*(L_in - 1)/(L_out - 1)", _("floor(x) and floor(x) + 1 (weight 0 when x is whole)")
                else:
                    rule = "x = max(0, (o + 1/2)*scale - 1/2)"
                    what = _("floor(x) and floor(x) + 1 (weight 0 when x is whole)")
                if mode == "bicubic":
                    what = _("floor(x) - 1 .. floor(x) + 2, clamped (only floor(x) when x is whole)")
                s = Fraction(Li, Lo)
                line = _("{node} ({op} {mode}, {axes}: {L_in} -> {L_out}): output o reads {what}, {rule}, "
                         "scale = {scale}: the jump is multiplied by {scale}").format(
                    node=n.name, op=n.op, mode=mode + (", align_corners" if ac else ""), axes="{axes}", L_in=Li,
                    L_out=Lo, what=what, rule=rule, scale=_t(s))
                if j:
                    line += f" ({_t(j[ax])} -> {_t(j[ax] * s)})"
                per_ax.append((nm, line + _("; neighbouring units read different source pixels, so the exact "
                                            "window is given beside the envelope")))
            out.extend(_join_axes(per_ax))
        elif k.spatial_offsets() is not None and k.concatenates:
            ax, offs, _outs = k.spatial_offsets()
            nm = ax_names[ax] if ax < len(ax_names) else f"axis {ax}"
            parts = []
            for r, off in zip(n.inputs, offs):
                L = g.shape(r)[ax + 1]
                e = env.get(r, {}).get(src)
                jj = f", p += {off}*j = {_t(off * e.j[ax])}" if e and not e.glob and off else ""
                parts.append(_("{part} fills {first}..{last}").format(part=g.nodes[r[0]].name, first=off,
                                                                        last=off + L - 1) + jj)
            out.append(_("{node} (cat along {axis}): input i's units sit after the earlier inputs, so output unit u "
                         "of part i is its unit u - offset_i and its field starts offset_i*j earlier: {parts}").format(
                node=n.name, axis=nm, parts="; ".join(parts)))
        elif k.spatial_offsets() is not None:
            ax, _ins, offs = k.spatial_offsets()
            out.append(_("{node} ({op} along {axis}): output k is the input from offset_k on (offsets "
                         "{offsets}): unit u of output k is input unit u + offset_k, its field starts offset_k*j "
                         "later").format(node=n.name, op=n.op, axis=ax_names[ax] if ax < len(ax_names) else ax,
                                         offsets=list(offs)))
        elif k.adaptive and any(L % o for L, o in zip(k.in_shape[1:], k.a["output_size"])):
            out.append(_("{node} ({op}): uneven windows: output i reads [floor(i*L/n), ceil((i+1)*L/n) - 1] "
                         "(L = {L}, n = {n}); the envelope uses the largest window and the mean stride, the exact "
                         "window the unit's own").format(node=n.name, op=n.op, L=list(k.in_shape[1:]),
                                                         n=list(k.a["output_size"])))
    return out


def _join_axes(per_ax):
    """One line for the axes whose explanation is the same (H and W of a square layer)."""
    groups = {}
    for nm, line in per_ax:
        groups.setdefault(line, []).append(nm)
    return [line.replace("{axes}", _(" and ").join(nms)) for line, nms in groups.items()]
