"""Report renderers: one self-contained HTML file, or Markdown, from the JSON report.

The HTML page holds a summary, the review findings, the plots as inline ``<svg>`` elements, a
diagram of the layer graph (blocks collapsed into ``<details>``, expandable without scripts) and
the per-layer table.  Nothing is loaded from elsewhere: no scripts, fonts, styles or images.
The Markdown form has the same sections without the interactive parts; plots are links to
files written beside it (``--plots DIR``) or omitted.

Both only read what they are given (the report, the review, the memory walk, SVG strings).
"""
from __future__ import annotations

import os
from html import escape

from .numbers import grouped as _n
from .numbers import human
from .numbers import rf_text as _rf
from .numbers import shape_text as _shape
from .review import saving_text as _saving

SEV_ORDER = {"error": 0, "warning": 1, "info": 2}


def _loc(loc):
    """file:line:col with the file's directory dropped (reports are moved around; goldens are stable)."""
    if not loc:
        return ""
    return os.path.basename(str(loc))


def _inputs(report):
    ins = report["inputs"]
    if list(ins) == ["input"]:
        return f"input {_shape(ins['input'])}"
    return "inputs " + ", ".join(f"{k} {_shape(v)}" for k, v in ins.items())


def summary_rows(report, walk=None, rf_info=None):
    """(label, value text) pairs for the summary table."""
    T = report["totals"]
    rows = [("parameters", f"{T['params']:,} (trainable {T['trainable_params']:,}, buffers {T['buffers']:,})"),
            ("MACs", f"{T['macs']:,} ({human(T['macs'])})"),
            ("FLOPs", f"{_n(T['flops'])} ({human(T['flops'])})"),
            ("backward FLOPs", f"{_n(T['bwd_flops'])} ({human(T['bwd_flops'])})"),
            ("activation memory", f"{T['activation_bytes']:,} B ({human(T['activation_bytes'], True)}), outputs "
                                  "allocated in one forward pass"),
            ("saved for backward", f"{T['saved_bytes']:,} B ({human(T['saved_bytes'], True)})"),
            ("weights", f"{T['param_bytes']:,} B ({human(T['param_bytes'], True)})")]
    if walk:
        i = max(range(len(walk)), key=lambda j: walk[j]["live_bytes"])
        rows.append(("peak live activations (inference)",
                     f"{walk[i]['live_bytes']:,} B ({human(walk[i]['live_bytes'], True)}) at {walk[i]['name']}"))
    if T.get("training_peak_bytes") is not None:
        rows.append(("training peak memory", f"{T['training_peak_bytes']:,} B "
                                             f"({human(T['training_peak_bytes'], True)})"))
    if rf_info:
        name, rf, extent = rf_info
        rows.append(("receptive field (last feature map)", f"{_rf(rf)} at {name} (input {_shape(extent)})"))
    return rows


def _tree(layers):
    """Nested tree of layer paths: {"children": {part: node}, "layer": L or None}."""
    root = {"children": {}, "layer": None, "path": ""}
    for L in layers:
        cur = root
        parts = L["name"].split(".")
        for i, p in enumerate(parts):
            cur = cur["children"].setdefault(p, {"children": {}, "layer": None, "path": ".".join(parts[:i + 1])})
        cur["layer"] = L
    return root


def _walk_layers(node):
    if node["layer"] is not None:
        yield node["layer"]
    for ch in node["children"].values():
        yield from _walk_layers(ch)


def _anchor(name):
    return "layer-" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _node_links(names):
    return ", ".join(f'<a href="#{_anchor(x)}">{escape(x)}</a>' for x in names)


def _diagram(node, prev_name, depth=0, flagged=frozenset()):
    """HTML for one tree node; returns (html, name of the last layer in it)."""
    out = []
    for key, ch in node["children"].items():
        if ch["children"]:
            layers = list(_walk_layers(ch))
            params = sum(L.get("params") or 0 for L in layers)
            macs = sum(L.get("macs") or 0 for L in layers)
            inner, last = _diagram(ch, prev_name, depth + 1, flagged)
            out.append(f'<details class="block"><summary><b>{escape(ch["path"])}</b> '
                       f'<span class="meta">{len(layers)} layers, {human(params)} params, {human(macs)} MACs '
                       f'&rarr; {escape(_shape(layers[-1]["output_shape"]))}</span></summary>'
                       f'<div class="inner">{inner}</div></details>')
            prev_name = last
        else:
            L = ch["layer"]
            ins = [i for i in L.get("inputs", [])]
            wiring = "" if ins == [prev_name] else f' <span class="from">&larr; {escape(", ".join(ins))}</span>'
            flag = ' <a class="flag" href="#review" title="see the review findings">&#9873;</a>' \
                if L["name"] in flagged else ""
            out.append(f'<div class="node fam-{escape(L["op"])}"><span class="nm">{escape(key)}</span>{flag} '
                       f'<code>{escape(L.get("args") or L["op"])}</code> &rarr; '
                       f'{escape(_shape(L["output_shape"]))}{wiring}</div>')
            prev_name = L["name"]
    return "".join(out), prev_name


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{margin-bottom:4px} h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #ddd;padding:3px 8px;vertical-align:top}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.sev-error{color:#b00020;font-weight:bold} .sev-warning{color:#b26a00;font-weight:bold} .sev-info{color:#1f5fa8}
figure{margin:12px 0} figure svg{max-width:100%;height:auto}
details.block{border-left:3px solid #9ab;margin:3px 0 3px 8px;padding-left:8px}
details.block summary{cursor:pointer} .meta{color:#666;font-size:12px}
.node{font-size:13px;margin:2px 0 2px 8px;padding:1px 6px;border:1px solid #ccd;border-radius:4px;display:table}
.nm{font-weight:bold} .from{color:#7a3} code{font-size:12px}
.muted{color:#777} .flag{color:#b26a00;text-decoration:none}
"""


def render_html(report, review=None, svgs=None, walk=None, rf_info=None) -> str:
    """One self-contained HTML page."""
    r = report
    e = escape
    from ..i18n import current
    lang = {"zh": "zh-CN"}.get(current(), "en")
    h = ["<!DOCTYPE html>", f'<html lang="{lang}"><head><meta charset="utf-8">',
         f"<title>cnncalc report: {e(r['model'])}</title>", f"<style>{CSS}</style></head><body>",
         f"<h1>{e(r['model'])}</h1>",
         f'<p class="muted">{e(os.path.basename(r.get("file") or ""))} &middot; {e(_inputs(r))} '
         f"&middot; batch {r['batch']} "
         f"&middot; {e(r['dtype'])} &middot; conventions: {e(r['conventions'].get('name', ''))}</p>"]
    # summary
    h.append('<h2 id="summary">Summary</h2><table class="summary">')
    for label, val in summary_rows(r, walk, rf_info):
        h.append(f"<tr><th>{e(label)}</th><td>{e(val)}</td></tr>")
    h.append("</table>")
    desc = r["conventions"].get("description")
    if desc:
        h.append(f'<p class="muted">conventions: {e(desc)}</p>')
    # findings
    h.append('<h2 id="review">Review findings</h2>')
    fs = (review or {}).get("findings") or []
    if not fs:
        h.append("<p>No findings.</p>")
    else:
        h.append('<table class="findings"><tr><th>ID</th><th>severity</th><th>nodes</th><th>finding</th>'
                 "<th>fix</th><th>saving</th><th>where</th></tr>")
        for f in fs:
            h.append(f'<tr class="finding"><td>{e(f["id"])}<br><span class="muted">{e(f["slug"])}</span></td>'
                     f'<td class="sev-{e(f["severity"])}">{e(f["severity"])}</td>'
                     f'<td>{_node_links(f["nodes"])}</td>'
                     f'<td><b>{e(f["message"])}</b><br>{e(f["reason"])}</td>'
                     f'<td>{e(f["fix"])}</td><td>{e(_saving(f["saving"]))}</td><td>{e(_loc(f["location"]))}</td></tr>')
        h.append("</table>")
    # plots
    if svgs:
        h.append('<h2 id="plots">Plots</h2>')
        for key, (title, svg) in svgs.items():
            h.append(f'<figure id="plot-{e(key)}">{svg}<figcaption>{e(title)}</figcaption></figure>')
    # graph
    h.append('<h2 id="graph">Layer graph</h2><p class="muted">Blocks are collapsed: click to expand. '
             "&larr; marks inputs other than the previous layer.</p>")
    inputs = list(r["inputs"])
    flagged = frozenset(x for f in fs for x in f["nodes"])
    inner, _ = _diagram(_tree(r["layers"]), inputs[0] if inputs else None, 0, flagged)
    h.append(f'<div class="graph">' + "".join(f'<div class="node"><span class="nm">{e(k)}</span> input &rarr; '
                                              f'{e(_shape(v))}</div>' for k, v in r["inputs"].items())
             + inner + "</div>")
    # layers
    h.append('<h2 id="layers">Layers</h2><table class="layers"><tr><th>layer</th><th>op</th><th>output</th>'
             "<th>params</th><th>MACs</th><th>FLOPs</th><th>memory</th><th>saved</th><th>RF</th><th>inputs</th></tr>")
    for L in r["layers"]:
        h.append(f'<tr id="{_anchor(L["name"])}"><td>{e(L["name"])}</td><td><code>{e(L.get("args") or L["op"])}</code></td>'
                 f'<td>{e(_shape(L["output_shape"]))}</td><td class="num">{_n(L["params"])}</td>'
                 f'<td class="num">{_n(L["macs"])}</td><td class="num">{_n(L["flops"])}</td>'
                 f'<td class="num">{e(human(L["output_bytes"], True))}</td>'
                 f'<td class="num">{e(human(L["saved_bytes"], True))}</td><td class="num">{e(_rf(L.get("rf")))}</td>'
                 f'<td>{e(", ".join(L.get("inputs", [])))}</td></tr>')
    h.append("</table>")
    # diagnostics and expectations
    diags = r.get("diagnostics") or []
    if diags:
        h.append('<h2 id="diagnostics">Diagnostics</h2><ul>')
        for d in diags:
            h.append(f'<li><span class="sev-{e(d["severity"] if d["severity"] != "note" else "info")}">'
                     f'{e(d["severity"])}</span> {e(_loc(d.get("location")))} {e(d["message"])}</li>')
        h.append("</ul>")
    ex = r.get("expect") or []
    if ex:
        ok = sum(x["verdict"] == "pass" for x in ex)
        h.append(f'<h2 id="expect">Expected answers</h2><p>{ok} of {len(ex)} passed.</p>')
    h.append('<p class="muted">Generated by cnncalc.</p></body></html>')
    return "\n".join(h) + "\n"


def render_markdown(report, review=None, walk=None, rf_info=None, plot_links=None) -> str:
    """The report in Markdown: summary, findings, per-stage and per-layer tables; plots as links."""
    r = report
    lines = [f"# {r['model']}", "",
             f"{os.path.basename(r.get('file') or '')}; {_inputs(r)}; batch {r['batch']}; {r['dtype']}; "
             f"conventions: {r['conventions'].get('name', '')}.", "", "## Summary", "", "| | |", "| --- | --- |"]
    for label, val in summary_rows(r, walk, rf_info):
        lines.append(f"| {label} | {_md(val)} |")
    lines += ["", "## Review findings", ""]
    fs = (review or {}).get("findings") or []
    if not fs:
        lines.append("No findings.")
    else:
        lines += ["| ID | severity | nodes | finding | fix | saving | where |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for f in fs:
            lines.append(f"| {f['id']} {f['slug']} | {f['severity']} | {_md(', '.join(f['nodes']))} | "
                         f"**{_md(f['message'])}**: {_md(f['reason'])} | {_md(f['fix'])} | "
                         f"{_saving(f['saving']) or '-'} | {_loc(f['location'])} |")
    lines += ["", "## Plots", ""]
    if plot_links:
        for title, path in plot_links:
            lines.append(f"![{title}]({path})")
            lines.append("")
    else:
        lines += ["Plots are omitted in Markdown: use `cnncalc report --format html`, or `--plots DIR` to write "
                  "them as files and link them here.", ""]
    # stages: top-level names
    st = {}
    for L in r["layers"]:
        k = L["name"].split(".")[0]
        s = st.setdefault(k, [0, 0, 0, None])
        s[0] += 1
        s[1] += L.get("params") or 0
        s[2] += L.get("macs") or 0
        s[3] = L["output_shape"]
    if any(v[0] > 1 for v in st.values()):      # only when the spec has blocks or Sequentials
        lines += ["## Stages", "", "| stage | layers | params | MACs | output |",
                  "| --- | ---: | ---: | ---: | --- |"]
        for k, (n, p, m, shp) in st.items():
            lines.append(f"| {_md(k)} | {n} | {p:,} | {m:,} | {_shape(shp)} |")
        lines.append("")
    lines += ["## Layers", "",
              "| layer | op | output | params | MACs | FLOPs | memory | saved | RF |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for L in r["layers"]:
        lines.append(f"| {_md(L['name'])} | `{_md(L.get('args') or L['op'])}` | {_shape(L['output_shape'])} | "
                     f"{_n(L['params'])} | {_n(L['macs'])} | {_n(L['flops'])} | {human(L['output_bytes'], True)} | "
                     f"{human(L['saved_bytes'], True)} | {_rf(L.get('rf'))} |")
    diags = r.get("diagnostics") or []
    if diags:
        lines += ["", "## Diagnostics", ""]
        for d in diags:
            lines.append(f"- {d['severity']} {_loc(d.get('location'))} {_md(d['message'])}")
    return "\n".join(lines) + "\n"


def _md(s):
    return str(s).replace("|", "\\|").replace("\n", " ")
