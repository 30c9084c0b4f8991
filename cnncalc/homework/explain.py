"""How a number was computed, as `formula = substituted = value` lines.

Every line renders a :class:`~cnncalc.figure.Figure` that the layer kind itself
produced (``params()``, ``shape_figures()``, ``terms()``), or one built here from
values the analysis computed (memory = elements x bytes per element).
"""
from __future__ import annotations

import math
from fractions import Fraction

from ..conventions import is_mac, tally
from ..core.passes.storage import saved_numel
from ..figure import Figure
from ..kinds.base import kept_saved
from ..i18n import _, ngettext


def render(f) -> str:
    """Figure.render, without repeating a formula that is only the figure's own name (`C_out = C_out`)."""
    if f.formula and f.formula == f.name:
        g = type(f)(f.value, "", {}, f.name, f.unit, f.note)
        return g.render()
    return f.render()


def _n(v):
    if isinstance(v, Fraction):
        v = int(v) if v.denominator == 1 else float(v)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return f"{v:,}" if isinstance(v, int) else f"{v:g}"


def shape_text(s):
    return "[" + ", ".join(str(x) for x in s) + "]"


def dims_figure(shape, N, itemsize=None, name=""):
    """N*C*H*W (x bytes): the elements (or bytes) of one tensor of ``shape`` for a batch of N."""
    names = {1: ("F",), 2: ("C", "L"), 3: ("C", "H", "W"), 4: ("C", "D", "H", "W")}.get(len(shape))
    if names is None:
        names = tuple(f"d{i}" for i in range(len(shape)))
    b = {"N": N, **dict(zip(names, shape))}
    formula = "N*" + "*".join(names)
    v = N * math.prod(shape)
    if itemsize is not None:
        formula += "*bytes_per_element"
        b["bytes_per_element"] = itemsize
        v *= itemsize
    return Figure(v, formula, b, name)


def output_lines(kind):
    figs = kind.shape_figures()
    if not figs:
        s = kind.out_shape
        same = kind.in_shapes and tuple(s) == tuple(kind.in_shape)
        return [f"output = {shape_text(s)}" + ("  " + _("(same shape as the input)") if same else "")]
    lines = [render(f) for f in figs]
    lines.append(f"output = {shape_text(kind.out_shape)}")
    return lines


def work_lines(kind, conventions, key, terms=None, unit_name="FLOPs"):
    """MACs or FLOPs of one kind under a convention, one line per term, then the sum (the sum is
    ``conventions.tally``'s: the figure the analysis reports)."""
    terms = kind.terms() if terms is None else terms
    work = tally(terms, conventions)
    lines, parts = [], []
    if key == "macs":
        total = work.macs
        for t in terms:
            if is_mac(t) and conventions.counts_macs(t.rules[0]):
                lines.append(render(t.figure))
                parts.append(_n(t.count))
    else:
        total = work.flops
        cost = {id(t): c for t, c in work.counted}
        for t in terms:
            c = cost.get(id(t))
            if c is None:
                if t.count and not t.alt:
                    lines.append(render(t.figure) + "   (" + _("not counted by the `{convention}` convention").format(
                        convention=conventions.name) + ")")
                continue
            alt = "; " + _("the `{convention}` convention's own accounting").format(convention=conventions.name) \
                if t.alt else ""
            lines.append(render(t.figure) + "   (" + ngettext("x {n} FLOP each", "x {n} FLOPs each", 1 if c == 1 else 2)
                         .format(n=_n(c)) + alt + ")")
            parts.append(f"{_n(c)}*{_n(t.count)}" if c != 1 else _n(t.count))
    name = "MACs" if key == "macs" else unit_name
    if not parts:
        lines.append(f"{name} = 0")
    elif len(parts) > 1 or (key != "macs" and parts[0] != _n(total)):
        lines.append(f"{name} = " + " + ".join(parts) + f" = {_n(total)}")
    return lines


def saved_lines(kind, N, itemsize, needs_input_grad=True):
    lines = []
    total = 0
    for sv in kept_saved(kind.saved(), needs_input_grad):
        if sv.alias:
            shape = kind.out_shape if sv.alias == "output" else kind.in_shapes[0 if sv.alias == "input" else
                                                                                int(sv.alias[5:])]
            f = dims_figure(shape, N, itemsize, sv.what)
        else:
            per = sv.itemsize if sv.itemsize is not None else itemsize
            n = saved_numel(sv, N)
            f = Figure(n * per, "numel*bytes", {"numel": n, "bytes": per}, sv.what)
        lines.append(f.render())
        total += f.value
    if not lines:
        return [_("nothing saved for backward")]
    if len(lines) > 1:
        lines.append(_("saved = {value} bytes before sharing with other layers").format(value=_n(total)))
    return lines


def rf_lines(kind, rf_in, key):
    """r_out = r_in + (k_eff-1)*j_in and j_out = j_in*S, per axis, from the kind's receptive-field step."""
    step = kind.rf()
    if step.kind == "global" or rf_in is None:
        return [_("receptive field: {formula}").format(formula=step.formula or step.kind)]
    f = next(iter(rf_in.values()))
    if f.get("glob"):
        return [_("receptive field: the whole input (an earlier layer is global)")]
    lines = []
    axes = ("H", "W") if len(step.k) == 2 else tuple(f"axis{i}" for i in range(len(step.k)))
    if len(step.k) == 1:
        axes = ("L",)
    if len(step.k) == 3:
        axes = ("D", "H", "W")
    for i, ax in enumerate(axes):
        r, j = Fraction(f["r"][i]), Fraction(f["j"][i])
        k, s = Fraction(step.k[i]), Fraction(step.s[i])
        if key == "rf_stride" and s < 1 and (1 / s).denominator == 1:
            # a transposed convolution or an upsampling by S: the stride is 1/S, the jump divided by S
            lines.append(Figure(_q(j * s), "j_in/S", {"j_in": _q(j), "S": _q(1 / s)}, f"{ax}: j_out").render())
        elif key == "rf_stride":
            lines.append(Figure(_q(j * s), "j_in*S", {"j_in": _q(j), "S": _q(s)}, f"{ax}: j_out").render())
        else:
            # the kernel's extent as `explain` writes it: k_eff (= D*(K-1) + 1 for a dilated kernel)
            keff = (step.figures or {}).get(ax, [None])[0] if step.figures else None
            if keff is not None and keff.name == "k_eff" and keff.formula not in ("K", "1") \
                    and Fraction(keff.value) != Fraction(keff.bindings.get("K", keff.value)):
                lines.append(Figure(keff.value, keff.formula, keff.bindings, f"{ax}: k_eff").render())
            lines.append(Figure(_q(r + (k - 1) * j), "r_in + (k_eff - 1)*j_in",
                                {"r_in": _q(r), "k_eff": _q(k), "j_in": _q(j)}, f"{ax}: r_out").render())
    return lines


def _q(x):
    x = Fraction(x)
    return int(x) if x.denominator == 1 else float(x)


def node_lines(analysis, node, key):
    """The explanation of one layer's value for an expect key."""
    kind = node.kind
    N = kind.N
    if key == "output":
        return output_lines(kind)
    if key in ("params", "trainable_params"):
        f = kind.params()
        lines = [f.render() if f.formula else f"params = {_n(f.value)}"]
        if node.shared_call:
            lines.append(_("(a second call of `{module}`: the weights are the same tensors)").format(module=node.module))
        return lines
    if key == "buffers":
        f = kind.buffers()
        return [f.render() if f.formula else f"buffers = {_n(f.value)}"]
    if key in ("macs", "flops"):
        return work_lines(kind, analysis.conventions, key)
    if key == "bwd_flops":
        ng = analysis.flow.needs_input_grad.get(node.id, True)
        return work_lines(kind, analysis.conventions, "flops", kind.bwd_terms(ng), "backward FLOPs")
    if key == "activations":
        return [dims_figure(kind.out_shape, N, None, "activations").render()]
    if key == "memory":
        return [dims_figure(kind.out_shape, N, analysis.itemsize, "memory").render() + " bytes"]
    if key == "saved":
        return saved_lines(kind, N, analysis.itemsize, analysis.flow.needs_input_grad.get(node.id, True))
    if key in ("rf", "rf_stride", "rf_padding"):
        rf_in = analysis.rf.state.get(node.inputs[0]) if node.inputs else None
        return rf_lines(kind, rf_in, key)
    return []


def sum_lines(analysis, ids, key, value):
    """A group's or the network's total as the sum of its layers' values."""
    g = analysis.g
    parts = []
    seen = set()
    for i in ids:
        n = g.nodes[i]
        if n.is_input:
            continue
        L = analysis.layer[i]
        if key in ("params", "trainable_params"):
            if n.module in seen:
                continue
            seen.add(n.module)
            v = L["module_params"]
        elif key == "buffers":
            if n.module in seen:
                continue
            seen.add(n.module)
            v = n.kind.buffers().value
        elif key == "saved":
            v = L["saved_bytes"]
        elif key in ("macs", "flops", "bwd_flops"):
            v = L[key]
        else:
            return []
        if v:
            parts.append(f"{_n(v)} ({n.name})")
    if not parts:
        return [f"{key} = 0"]
    shown = parts if len(parts) <= 12 else parts[:10] + ["... (" + _("{count} more layers").format(count=len(parts) - 10) + ")"]
    return [f"{key} = " + " + ".join(shown) + f" = {_n(value)}"]


def explain(analysis, expect, key, value):
    """Lines explaining ``value`` (the right answer) of one expect key."""
    g = analysis.g
    ids = [i for i in expect.node_ids if not g.nodes[i].is_input]
    if key in ("output", "activations", "memory", "rf", "rf_stride", "rf_padding"):
        if expect.output is None:
            return []
        n = g.nodes[expect.output[0]]
        if n.is_input:
            return [_("{key}: the input itself").format(key=key)]
        return node_lines(analysis, n, key)
    if expect.scope != "total" and len(ids) == 1:
        return node_lines(analysis, g.nodes[ids[0]], key)
    if expect.scope == "total":
        ids = [n.id for n in g.nodes]
    return sum_lines(analysis, ids, key, value)
