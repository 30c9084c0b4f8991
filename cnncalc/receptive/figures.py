"""The receptive-field rules that the (r, j, p) recurrence of one step does not show, as Figures for
`cnncalc explain`: the offset of a concatenation or a split along a spatial axis, and the per-unit
window of an uneven adaptive pooling.  (A transposed convolution's and an upsampling's fractional
jump, and a padding's shift, are the kinds' own step figures.)

Each entry is (title, [Figure]), the values substituted from the graph and the envelope
(``envelope.envelope``: the analysis's recurrence with the offsets).  No torch here.
"""
from __future__ import annotations

from fractions import Fraction

from ..figure import Figure
from ..i18n import _
from .envelope import envelope

AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _v(x):
    x = Fraction(x)
    return int(x) if x.denominator == 1 else x


def offset_figures(graph, nid, env=None, rf=None):
    """[(title, [Figure])] for node ``nid`` (empty when none of these rules applies); ``env``: the
    envelopes, or ``rf``: the analysis's receptive pass to read them from."""
    n = graph.nodes[nid]
    if n.is_input:
        return []
    so = n.kind.spatial_offsets()
    if so is not None:
        env = env or envelope(graph, rf=rf)
        return (_cat if n.kind.concatenates else _split)(graph, n, so, env)
    if hasattr(n.kind, "rf_index") and n.kind.adaptive and "output_size" in n.kind.a:
        return _adaptive(n)
    return []


def _axis_name(n, ax):
    names = AXES.get(len(n.out_shapes[0]) - 1, ())
    return names[ax] if ax < len(names) else f"axis {ax}"


def _ref_name(graph, r):
    nd = graph.nodes[r[0]]
    return f"{nd.name}:{r[1]}" if len(nd.out_shapes) > 1 else nd.name


def _cat(graph, n, so, env):
    ax, offs, _outs = so
    nm = _axis_name(n, ax)
    out = []
    sizes = []
    shifted = {}                      # network input -> [(p_i, r_i)]
    for i, (r, off) in enumerate(zip(n.inputs, offs)):
        L = graph.shape(r)[ax + 1]
        src = _ref_name(graph, r)
        figs = [Figure(off, " + ".join(f"{nm}_{k}" for k in range(i)) if i else "0",
                       {f"{nm}_{k}": sizes[k] for k in range(i)}, f"off_{i}",
                       note=_("`{source}` fills output units {first}..{last} along {axis}").format(
                           source=src, first=off, last=off + L - 1, axis=nm))]
        for s, f in env.get(r, {}).items():
            if f.glob or ax >= len(f.r):
                continue
            p, j = -Fraction(f.start[ax]), Fraction(f.j[ax])
            figs.append(Figure(_v(p + off * j), "p_in + off*j_in", {"p_in": _v(p), "off": off, "j_in": _v(j)},
                               f"p_{i}", note=_("output unit u is unit u - off of `{source}`: unit 0's field (in `{input}`) "
                                                "starts off*j_in earlier").format(source=src, input=s)))
            shifted.setdefault(s, []).append((p + off * j, Fraction(f.r[ax])))
        out.append((_("{axis} offset of input {index} ({source}, cat along {axis})").format(
            axis=nm, index=i, source=src), figs))
        sizes.append(L)
    for s, parts in shifted.items():
        if len(parts) < 2:
            continue
        b = {f"p_{i}": _v(p) for i, (p, _) in enumerate(parts)}
        pmax = max(p for p, _ in parts)
        rb = dict(b, **{f"r_{i}": _v(r) for i, (_, r) in enumerate(parts)})
        mp = "max(" + ", ".join(b) + ")"
        out.append((_("{axis}: the envelope of the concatenation (union of the shifted parts, in `{input}`)").format(
            axis=nm, input=s), [
            Figure(_v(pmax), mp, b, "p_out", note=_("unit 0's field starts at {start}").format(start=_v(-pmax))),
            Figure(_v(max(r - p for p, r in parts) + pmax), "max(" + ", ".join(
                f"r_{i} - p_{i}" for i in range(len(parts))) + ") + " + mp, rb, "r_out",
                note=_("rightmost end minus leftmost start: parts that read different regions widen it"))]))
    return out


def _split(graph, n, so, env):
    ax, _ins, offs = so
    nm = _axis_name(n, ax)
    src_env = env.get(n.inputs[0], {})
    out, sizes = [], []
    for k, (shape, off) in enumerate(zip(n.out_shapes, offs)):
        L = shape[ax + 1]
        figs = [Figure(off, " + ".join(f"{nm}_{q}" for q in range(k)) if k else "0",
                       {f"{nm}_{q}": sizes[q] for q in range(k)}, f"off_{k}",
                       note=_("output {index} is input units {first}..{last} along {axis}").format(
                           index=k, first=off, last=off + L - 1, axis=nm))]
        for s, f in src_env.items():
            if f.glob or ax >= len(f.r):
                continue
            p, j = -Fraction(f.start[ax]), Fraction(f.j[ax])
            figs.append(Figure(_v(p - off * j), "p_in - off*j_in", {"p_in": _v(p), "off": off, "j_in": _v(j)},
                               f"p_{k}", note=_("unit u of output {index} is input unit u + off: unit 0's field (in "
                                                "`{input}`) starts off*j_in later").format(index=k, input=s)))
        out.append((_("{axis} offset of output {index} ({op} along {axis})").format(axis=nm, index=k, op=n.op), figs))
        sizes.append(L)
    return out


def _adaptive(n):
    """Output unit i of an adaptive pool reads [floor(i*L/n), ceil((i+1)*L/n) - 1]: the first unit, the
    second and the last, and the widest window (the envelope's size)."""
    k = n.kind
    out = []
    for ax, (L, m) in enumerate(zip(k.in_shape[1:], k.a["output_size"])):
        if L % m == 0:
            continue             # even windows: the step's figures say it (k = s = L/n)
        nm = AXES.get(len(k.in_shape) - 1, ())[ax]
        figs = []
        for i in sorted({0, 1, m - 1}):
            lo, hi = (i * L) // m, -(-(i + 1) * L // m) - 1
            figs.append(Figure(lo, "floor(i*L/n)", {"i": i, "L": L, "n": m}, f"first_{i}"))
            figs.append(Figure(hi, "ceil((i + 1)*L/n) - 1", {"i": i, "L": L, "n": m}, f"last_{i}",
                               note=_("unit {unit} reads input {first}..{last}: {count} pixels").format(
                                   unit=i, first=lo, last=hi, count=hi - lo + 1)))
        widths = [-(-(i + 1) * L // m) - (i * L) // m for i in range(m)]
        figs.append(Figure(max(widths), "max over i of (last_i - first_i + 1)", {}, "k_max",
                           note=_("windows of {narrow} or {wide} pixels, stride L/n = {stride} on average: the "
                                  "envelope takes the widest").format(narrow=min(widths), wide=max(widths),
                                                                      stride=_v(Fraction(L, m)))))
        out.append((_("{axis}: the window of each output unit ({op}, L = {L}, n = {n})").format(
            axis=nm, op=n.op, L=L, n=m), figs))
    return out
