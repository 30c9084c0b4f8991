"""Renderers that only read the report: rich table, CSV, Markdown, JSON."""
from __future__ import annotations

import csv
import io
import json

from ..core.units import human


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
            g["rf"] = L.get("rf")
            g["op"] = "block"
        g["_n"] += 1
    for g in out:
        g.pop("_n", None)
    return out


def shape_text(s):
    if s and isinstance(s[0], list):
        return ", ".join(shape_text(x) for x in s)
    return "x".join(map(str, s)) if s else "scalar"


def rf_text(rf):
    if not rf:
        return "-"
    if rf.get("global"):
        return "global"
    size = rf["size"]
    t = "x".join(_n(x) for x in size) if len(set(size)) > 1 else _n(size[0]) if size else "-"
    if rf.get("data_dependent"):
        t += "*"
    return t


def _n(x):
    if isinstance(x, float) and not x.is_integer():
        return f"{x:.3g}"
    return str(int(x))


def render_table(report: dict, console, depth=None, show_rf=True):
    from rich.table import Table
    from rich import box

    t = Table(box=box.SIMPLE_HEAD, title=f"{report['model']}  (batch {report['batch']}, {report['dtype']})",
              title_justify="left", pad_edge=False, expand=False)
    t.add_column("layer", overflow="fold", max_width=26)
    t.add_column("op", overflow="fold", max_width=18)
    t.add_column("output", overflow="fold", max_width=14)
    # numbers are short: no wrapping to compute for them (rich's layout is most of the rendering time)
    for col in ("params", "MACs", "FLOPs", "memory") + (("RF",) if show_rf else ()):
        t.add_column(col, justify="right", no_wrap=True)
    from rich.text import Text
    for L in collapse(report, depth):
        row = [L["name"], L["op"], shape_text(L["output_shape"]), human(L["params"]) if L["params"] else "-",
               human(L["macs"]) if L["macs"] else "-", human(L["flops"]) if L["flops"] else "-",
               human(L["output_bytes"], binary=True)]
        if show_rf:
            row.append(rf_text(L.get("rf")))
        t.add_row(*(Text(x) for x in row))   # plain text: no markup or emoji parsing per cell
    console.print(t)
    render_totals(report, console)


def render_totals(report, console):
    T = report["totals"]
    c = report["conventions"]
    console.print(f"[bold]params[/] {T['params']:,} (trainable {T['trainable_params']:,}, buffers {T['buffers']:,})"
                  f"   [bold]MACs[/] {T['macs']:,} ({human(T['macs'])})   [bold]FLOPs[/] {T['flops']:,} "
                  f"({human(T['flops'])})")
    console.print(f"[bold]activations[/] {human(T['activation_bytes'], True)} (outputs allocated in a forward pass)"
                  f"   [bold]saved for backward[/] {human(T['saved_bytes'], True)}"
                  f"   [bold]weights[/] {human(T['param_bytes'], True)}")
    console.print(f"[bold]backward FLOPs[/] {human(T['bwd_flops'])}   [bold]train step FLOPs[/] "
                  f"{human(T['train_step_flops'])} (forward + backward)")
    if T.get("inference_peak_bytes") is not None:
        mem = report.get("memory") or {}
        console.print(f"[bold]peak memory[/]: inference {human(T['inference_peak_bytes'], True)}, training "
                      f"{human(T['training_peak_bytes'], True)} ({mem.get('optimizer_name', 'adam')}; "
                      f"`cnncalc memory` for the breakdown)")
    tr = report.get("training")
    if tr and tr.get("epoch") is not None:
        console.print(f"[bold]per epoch[/] ({tr['dataset_size']:,} samples, {tr['steps_per_epoch']:,} steps): "
                      f"{human(tr['epoch'])} FLOPs")
    excl = c.get("excluded_with_work") or []
    console.print(f"[dim]conventions: {c['name']}: {c['description']}"
                  + (f"; not counted under this convention: {', '.join(excl)}" if excl else "") + "[/]",
                  highlight=False)


def render_expects(report, console, hide_values=False):
    res = report.get("expect") or []
    if not res:
        return
    bad = [r for r in res if r["verdict"] != "pass"]
    skipped = [r for r in bad if r["verdict"] == "skipped"]
    console.print(f"[bold]expect[/]: {len(res) - len(bad)} of {len(res)} passed"
                  + (f", {len(skipped)} skipped" if skipped else ""))
    for why in dict.fromkeys(r.get("message", "") for r in skipped):   # one line per reason
        names = ", ".join(f"{r['node'] or 'totals'} {r['key']}" for r in skipped if r.get("message", "") == why)
        console.print(f"  [yellow]skipped[/] ({why}): {names}", highlight=False)
    for r in bad:
        where = r["node"] or "totals"
        if r["verdict"] == "skipped":
            continue
        if r["verdict"] == "not checked":
            console.print(f"  [yellow]not checked[/] {where} {r['key']}: {r.get('message', '')}", highlight=False)
            continue
        if hide_values:
            console.print(f"  [red]wrong[/] {r['location']}: {where} {r['key']}", highlight=False)
        else:
            console.print(f"  [red]FAIL[/] {r['location']}: {where} {r['key']}: expected {_fmt(r['expected'])}, "
                          f"computed {_fmt(r['actual'])}", highlight=False)


def _fmt(v):
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


COLUMNS = ("name", "op", "inputs", "output_shape", "params", "buffers", "macs", "flops", "bwd_flops",
           "output_bytes", "saved_bytes", "rf")


def render_csv(report, depth=None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for L in collapse(report, depth):
        w.writerow([";".join(L.get("inputs", [])) if k == "inputs" else
                    shape_text(L[k]) if k == "output_shape" else rf_text(L.get(k)) if k == "rf" else L.get(k)
                    for k in COLUMNS])
    return buf.getvalue()


def render_markdown(report, depth=None) -> str:
    lines = [f"# {report['model']}", "",
             f"Input {', '.join(f'{k}: {shape_text(v)}' for k, v in report['inputs'].items())}; batch "
             f"{report['batch']}; {report['dtype']}.", "",
             "| layer | op | output | params | MACs | FLOPs | memory | RF |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for L in collapse(report, depth):
        lines.append(f"| {L['name']} | {L['op']} | {shape_text(L['output_shape'])} | {L['params']:,} | "
                     f"{L['macs']:,} | {L['flops']:,} | {human(L['output_bytes'], True)} | {rf_text(L.get('rf'))} |")
    T = report["totals"]
    lines += ["", f"**Totals**: params {T['params']:,} (buffers {T['buffers']:,}); MACs {T['macs']:,}; "
                  f"FLOPs {T['flops']:,}; activations {human(T['activation_bytes'], True)}; saved for backward "
                  f"{human(T['saved_bytes'], True)}.", "",
              f"Conventions: `{report['conventions']['name']}`: {report['conventions']['description']}.", ""]
    return "\n".join(lines)


def render_json(report) -> str:
    return json.dumps(report, indent=2, default=str) + "\n"
