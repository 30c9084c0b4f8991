"""`cnncalc layer`: every number of one layer, each as formula = substituted = value."""
from __future__ import annotations

import json
from fractions import Fraction

from ..conventions import tally
from ..figure import Figure
from ..i18n import _, current
from .explain import dims_figure, output_lines, saved_lines, shape_text, work_lines

LAYER_FILE = "<layer>"


def spec_text(call: str, input_shape, batch=1) -> str:
    """A one-node spec around a call string (quoted as a YAML string, so any call text is safe)."""
    return (f"cnncalc: 1\nname: layer\ninput: {list(input_shape)}\nbatch: {int(batch)}\nlayers:\n"
            f"  - {json.dumps(call.strip())}\n")


def layer_report(call: str, input_shape, batch=1, dtype=None, convention=None) -> dict:
    from ..pipeline import analysis_for
    analysis = analysis_for(LAYER_FILE, text=spec_text(call, input_shape, batch), dtype=dtype, convention=convention)
    nodes = [n for n in analysis.g.nodes if not n.is_input]
    errs = [d for d in analysis.diagnostics if d.severity == "error"]
    if errs or not nodes:
        from ..errors import SpecErrors
        raise SpecErrors(errs or [])
    n = nodes[-1]
    k = n.kind
    L = analysis.layer[n.id]
    N = k.N
    sections = []

    def sec(key, title, value, summary, lines):
        sections.append({"key": key, "title": title, "value": value, "summary": summary, "lines": lines})

    sec("output", _("output shape"), list(k.out_shape), _("{shape} (batch excluded)").format(shape=shape_text(k.out_shape)),
        output_lines(k))
    p = k.params()
    plines = [p.render() if p.formula else f"params = {p.value:,}"]
    b = k.buffers()
    if b.value:
        plines.append(b.render() + "   (" + _("buffers: saved with the model, not trained") + ")")
    sec("params", _("parameters"), p.value, f"{p.value:,}", plines)
    sec("macs", _("MACs"), L["macs"], f"{L['macs']:,}", work_lines(k, analysis.conventions, "macs"))
    sec("flops", _("FLOPs"), L["flops"], _("{value}  ({convention} convention)").format(
        value=_n(L["flops"]), convention=analysis.conventions.name), work_lines(k, analysis.conventions, "flops"))
    mem = dims_figure(k.out_shape, N, analysis.itemsize, "memory")
    sec("memory", _("output memory"), mem.value, _("{value} bytes").format(value=f"{mem.value:,}"),
        [mem.render() + " bytes"])
    sec("saved", _("saved for backward"), L["saved_bytes"], _("{value} bytes").format(value=f"{L['saved_bytes']:,}"),
        saved_lines(k, N, analysis.itemsize, analysis.flow.needs_input_grad.get(n.id, True)))
    bwd = _work(k.bwd_terms(True), analysis.conventions)
    first = _work(k.bwd_terms(False), analysis.conventions) if p.value else 0
    sec("bwd_flops", _("backward FLOPs"), bwd, _("{value}  (inside a network; {first} as the first layer)").format(
        value=_n(bwd), first=_n(first)),
        work_lines(k, analysis.conventions, "flops", k.bwd_terms(True), "backward FLOPs")
        + [_("as the first layer its input needs no gradient: only the weight (and bias) gradients, "
             "{value} FLOPs").format(value=_n(first))])
    rf_sum, rf_lines = rf_step_lines(k)
    sec("rf", _("receptive-field step"), rf_sum["k"], rf_sum["text"], rf_lines)
    return {"lang": current(), "layer": k.describe_args(), "call": call, "input": list(k.in_shape), "batch": N, "dtype": analysis.g.dtype,
            "conventions": analysis.conventions.name, "sections": sections,
            "diagnostics": [d.to_dict() for d in analysis.diagnostics]}


def _work(terms, conventions):
    return tally(terms, conventions).flops


def _n(v):
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return f"{v:,}" if isinstance(v, int) else f"{v:g}"


def _q(x):
    x = Fraction(x)
    return int(x) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def rf_step_lines(kind):
    """Kernel extent, stride and padding per axis, and how they compose along a network."""
    step = kind.rf()
    if step.kind == "global":
        return {"k": "global", "text": _("global: every output sees the whole input")}, [step.formula or "global"]
    nd = len(step.k)
    axes = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(nd, tuple(f"axis{i}" for i in range(nd)))
    geo = kind.geometry()
    lines = []
    for i, ax in enumerate(axes):
        if geo is not None and not geo.transposed and geo.nd == nd:
            lines.append(Figure(step.k[i], "D*(K - 1) + 1", {"D": geo.dilation[i], "K": geo.kernel[i]},
                                f"{ax}: k").render() + f",  s = {_q(step.s[i])},  p = {_q(step.p[i])}")
        else:
            lines.append(f"{ax}: k = {_q(step.k[i])},  s = {_q(step.s[i])},  p = {_q(step.p[i])}")
    lines.append(_("along a network: {formula}  (r = receptive field, j = jump in input pixels)").format(
        formula="r_out = r_in + (k - 1)*j_in,  j_out = j_in*s"))
    if step.kind == "data":
        lines.append(_("deformable: the sampling offsets are data dependent"))
    ks = [_q(x) for x in step.k]
    text = _("{window} window, stride {stride}").format(window="x".join(str(x) for x in ks),
                                                       stride="x".join(str(_q(x)) for x in step.s))
    return {"k": ks, "text": text}, lines
