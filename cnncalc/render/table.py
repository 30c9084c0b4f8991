"""The analysis report (`cnncalc analyze`) as a table, CSV, Markdown or JSON; read-only on the report."""
from __future__ import annotations

import csv
import io

from ..i18n import _, ngettext
from .jsonout import render_json  # noqa: F401  (re-exported)
from .layout import LONG_TABLE, Col, cells, glue, table, wrap
from .numbers import fmt_value, human, rf_text, shape_text

__all__ = ["collapse", "shape_text", "rf_text", "render_table", "render_totals", "render_expects",
           "render_csv", "render_markdown", "render_json", "COLUMNS"]


def collapse(report: dict, depth: int | None) -> list[dict]:
    """Layers grouped to `depth` path components (blocks collapsed).  Work summed, params once."""
    layers = report["layers"]
    if not depth:
        return layers
    out, index = [], {}
    for L in layers:
        key = ".".join(L["name"].split(".")[:depth])
        if key not in index:
            index[key] = len(out)
            out.append(dict(L, name=key, op=L["op"] if key == L["name"] else "block", _n=0))
        g = out[index[key]]
        if g is not L and g["_n"]:
            for k in ("params", "buffers", "macs", "flops", "bwd_flops", "output_bytes", "saved_bytes"):
                g[k] = (g.get(k) or 0) + (L.get(k) or 0)
            g["output_shape"] = L["output_shape"]
            g.pop("batch", None)
            if "batch" in L:
                g["batch"] = L["batch"]
            g["rf"] = L.get("rf")
            g["op"] = "block"
        g["_n"] += 1
    for g in out:
        g.pop("_n", None)
    return out


def layer_shape(L) -> str:
    """A layer's output shape (batch excluded), with its batch where it is not the graph's."""
    s = shape_text(L["output_shape"])
    if "batch" not in L:
        return s
    return _("{shape} (no batch)").format(shape=s) if L["batch"] is None else \
        _("{shape} (batch {batch})").format(shape=s, batch=L["batch"])


def _rows(layers, show_rf):
    rows = []
    for L in layers:
        row = [L["name"], L["op"], layer_shape(L), human(L["params"]) if L["params"] else "-",
               human(L["macs"]) if L["macs"] else "-", human(L["flops"]) if L["flops"] else "-",
               human(L["output_bytes"], binary=True)]
        if show_rf:
            row.append(rf_text(L.get("rf")))
        rows.append(row)
    return rows


def layer_lines(report: dict, width: int, depth=None, show_rf=True) -> list[str]:
    """The per-layer table at `width` columns: names wrap, figures stay whole.  Narrower forms in
    turn: one space between columns, then without the receptive field, then without the op."""
    layers = collapse(report, depth)
    rows = _rows(layers, True)
    out_floor = max((cells(p) for r in rows for p in r[2].split(", ")), default=6)
    # TRANSLATORS: column headers of the per-layer table (short: they sit above figures)
    full = [Col(_("layer"), wrap=True, floor=10), Col(_("op"), wrap=True, floor=6),
            Col(_("output"), wrap=True, floor=out_floor), Col(_("params"), right=True), Col("MACs", right=True),
            Col("FLOPs", right=True), Col(_("memory"), right=True), Col(_("RF"), right=True)]
    if not show_rf:
        full, rows = full[:-1], [r[:-1] for r in rows]

    def drop(cols, rows, k):
        return [c for i, c in enumerate(cols) if i != k], [[x for i, x in enumerate(r) if i != k] for r in rows]

    no_rf = drop(full, rows, 7) if show_rf else (full, rows)
    no_op = drop(*no_rf, 1)
    notes = {0: "", 1: "", 2: _("(receptive fields left out at this width: --width or --format csv shows them)"),
             3: _("(ops and receptive fields left out at this width: --width or --format csv shows them)")}
    forms = [(full, rows, 2), (full, rows, 1), (*no_rf, 1), (*no_op, 1)]
    for k, (cols, rs, sep) in enumerate(forms):
        lines = table(cols, rs, width, sep=sep)
        if lines is not None:
            break
    else:
        cols, rs, _sep = forms[-1]
        lines = table([Col(c.header, c.right, True, 1) for c in cols], rs, 10 ** 6, sep=1)
        k = 3
    head = [_("{model}  (batch {batch}, {dtype})").format(model=report["model"], batch=report["batch"],
                                                          dtype=report["dtype"]), ""]
    tail = [notes[k]] if notes[k] else []
    if len(layers) > LONG_TABLE and not depth:
        tail.append(_("({count} rows: --depth 1 or --depth 2 shows blocks instead of layers)").format(
            count=f"{len(layers):,}"))
    return head + lines + tail


def render_table(report: dict, width: int = 100, depth=None, show_rf=True) -> str:
    """The table and the totals, as text of at most `width` columns."""
    return "\n".join(layer_lines(report, width, depth, show_rf)) + "\n" + render_totals(report, width)


def g(label, value) -> str:
    """`label value` kept on one line when wrapped (value: a figure, grouped when an int)."""
    return glue(f"{label} {value:,}" if isinstance(value, int) else f"{label} {value}")


def render_totals(report, width: int = 100) -> str:
    T = report["totals"]
    c = report["conventions"]
    # TRANSLATORS: the totals lines under the table; {params}, {macs}... are "label figure" pairs kept on one line
    lines = [_("{params} (trainable {trainable}, {buffers})   {macs}   {flops}").format(
                 params=g(_("params"), T["params"]), trainable=f"{T['trainable_params']:,}",
                 buffers=g(_("buffers"), T["buffers"]), macs=g(_("MACs"), f"{T['macs']:,} ({human(T['macs'])})"),
                 flops=g(_("FLOPs"), f"{T['flops']:,} ({human(T['flops'])})")),
             _("{activations} (outputs allocated in a forward pass)   {saved}   {weights}").format(
                 activations=g(_("activations"), human(T["activation_bytes"], True)),
                 saved=g(_("saved for backward"), human(T["saved_bytes"], True)),
                 weights=g(_("weights"), human(T["param_bytes"], True))),
             _("{backward}   {step} (forward + backward)").format(
                 backward=g(_("backward FLOPs"), human(T["bwd_flops"])),
                 step=g(_("train step FLOPs"), human(T["train_step_flops"])))]
    if T.get("inference_peak_bytes") is not None:
        mem = report.get("memory") or {}
        lines.append(_("peak memory: {inference}, {training} ({optimizer}; `cnncalc memory` for the breakdown)").format(
            inference=g(_("inference"), human(T["inference_peak_bytes"], True)),
            training=g(_("training"), human(T["training_peak_bytes"], True)),
            optimizer=mem.get("optimizer_name", "adam")))
    tr = report.get("training")
    if tr and tr.get("epoch") is not None:
        lines.append(_("per epoch ({samples} samples, {steps} steps): {flops} FLOPs").format(
            samples=f"{tr['dataset_size']:,}", steps=f"{tr['steps_per_epoch']:,}", flops=human(tr["epoch"])))
    excl = c.get("excluded_with_work") or []
    lines.append(_("conventions: {name}: {description}").format(name=c["name"], description=_(c["description"]))
                 + ("; " + _("not counted under this convention: {ops}").format(ops=", ".join(excl)) if excl else ""))
    blind = c.get("tool_blind_to") or {}
    if blind:
        lines.append(_("{tool} does not count: {what} (left out of this preset's figures)").format(
            tool=c["tool"], what=", ".join(ngettext("{label} ({count} node)", "{label} ({count} nodes)", len(ns)).format(
                label=lb, count=len(ns)) for lb, ns in blind.items())))
    return wrap("\n".join(lines), width) + "\n"


def render_expects(report, width: int = 100, hide_values=False) -> str:
    res = report.get("expect") or []
    if not res:
        return ""
    bad = [r for r in res if r["verdict"] != "pass"]
    skipped = [r for r in bad if r["verdict"] == "skipped"]
    lines = [_("expect: {passed} of {total} passed").format(passed=len(res) - len(bad), total=len(res))
             + (_(", {count} skipped").format(count=len(skipped)) if skipped else "")]
    for why in dict.fromkeys(r.get("message", "") for r in skipped):   # one line per reason
        names = ", ".join(f"{r['node'] or _('totals')} {r['key']}" for r in skipped if r.get("message", "") == why)
        lines.append("  " + _("skipped ({why}): {names}").format(why=why, names=names))
    for r in bad:
        where = r["node"] or _("totals")
        if r["verdict"] == "skipped":
            continue
        if r["verdict"] == "not checked":
            lines.append("  " + _("not checked {where} {key}: {message}").format(where=where, key=r["key"],
                                                                                 message=r.get("message", "")))
        elif hide_values:
            lines.append("  " + _("wrong {location}: {where} {key}").format(location=r["location"], where=where,
                                                                          key=r["key"]))
        else:
            lines.append("  " + _("FAIL {location}: {where} {key}: expected {expected}, computed {actual}").format(
                location=r["location"], where=where, key=r["key"], expected=fmt_value(r["expected"]),
                actual=fmt_value(r["actual"])))
    return wrap("\n".join(lines), width) + "\n"


COLUMNS = ("name", "op", "inputs", "output_shape", "params", "buffers", "macs", "flops", "bwd_flops",
           "output_bytes", "saved_bytes", "rf")


def render_csv(report, depth=None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for L in collapse(report, depth):
        w.writerow([";".join(L.get("inputs", [])) if k == "inputs" else
                    layer_shape(L) if k == "output_shape" else rf_text(L.get(k)) if k == "rf" else L.get(k)
                    for k in COLUMNS])
    return buf.getvalue()


def render_markdown(report, depth=None) -> str:
    lines = [f"# {report['model']}", "",
             f"Input {', '.join(f'{k}: {shape_text(v)}' for k, v in report['inputs'].items())}; batch "
             f"{report['batch']}; {report['dtype']}.", "",
             "| layer | op | output | params | MACs | FLOPs | memory | RF |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for L in collapse(report, depth):
        lines.append(f"| {L['name']} | {L['op']} | {layer_shape(L)} | {L['params']:,} | "
                     f"{L['macs']:,} | {L['flops']:,} | {human(L['output_bytes'], True)} | {rf_text(L.get('rf'))} |")
    T = report["totals"]
    lines += ["", f"**Totals**: params {T['params']:,} (buffers {T['buffers']:,}); MACs {T['macs']:,}; "
                  f"FLOPs {T['flops']:,}; activations {human(T['activation_bytes'], True)}; saved for backward "
                  f"{human(T['saved_bytes'], True)}.", "",
              f"Conventions: `{report['conventions']['name']}`: {report['conventions']['description']}.", ""]
    return "\n".join(lines)


