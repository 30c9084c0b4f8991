"""Compare several analysed specs: totals side by side with ratios to the first, and per stage.

Reads only JSON reports (``Analysis.report()``).  A stage is a top-level name of the spec (the
first component of a layer's path: ``features``, ``layer3``, ``fc``); stages are compared where
every spec has them.
"""
from __future__ import annotations

from .rules import final_rf

# (key, label, unit) of the rows compared; unit "B" is bytes
METRICS = (
    ("params", "params", ""),
    ("macs", "MACs", ""),
    ("flops", "FLOPs", ""),
    ("activation_bytes", "activation memory", "B"),
    ("saved_bytes", "saved for backward", "B"),
    ("param_bytes", "weights", "B"),
    ("training_peak_bytes", "training peak memory", "B"),
)


def output_rf(report):
    """The receptive field of the last spatial feature map: a number (largest axis), "global", or None."""
    fr = final_rf(report)
    if fr is None:
        return None, None
    name, rf, _ = fr
    if rf.get("global"):
        return "global", name
    if rf.get("data_dependent"):
        return "data dependent", name
    size = rf["size"]
    return max(size), name


def _ratio(v, v0):
    if not isinstance(v, (int, float)) or not isinstance(v0, (int, float)) or isinstance(v, bool) or not v0:
        return None
    return v / v0


def stages(report):
    """Top-level name -> {params, macs, flops, output_bytes}, in first-seen order."""
    out = {}
    for L in report["layers"]:
        key = L["name"].split(".")[0]
        s = out.setdefault(key, {"params": 0, "macs": 0, "flops": 0, "activation_bytes": 0, "layers": 0})
        s["params"] += L.get("params") or 0
        s["macs"] += L.get("macs") or 0
        s["flops"] += L.get("flops") or 0
        s["activation_bytes"] += L.get("output_bytes") or 0
        s["layers"] += 1
    return out


def compare(reports, labels=None) -> dict:
    """Side-by-side comparison of reports; ratios are value / first report's value."""
    labels = list(labels or [r["model"] for r in reports])
    rows = []
    for key, label, unit in METRICS:
        vals = [r["totals"].get(key) for r in reports]
        if all(v is None for v in vals):
            continue
        rows.append({"metric": key, "label": label, "unit": unit, "values": vals,
                     "ratios": [_ratio(v, vals[0]) for v in vals]})
    rfs = [output_rf(r) for r in reports]
    rf_vals = [v for v, _ in rfs]
    rows.append({"metric": "rf", "label": "receptive field (last feature map)", "unit": "px", "values": rf_vals,
                 "ratios": [_ratio(v, rf_vals[0]) for v in rf_vals], "layers": [n for _, n in rfs]})
    st = [stages(r) for r in reports]
    # shared top-level names that hold parameters or work in some spec (not every ReLU or flatten)
    shared = [k for k in st[0] if all(k in s for s in st[1:]) and any(s[k]["params"] or s[k]["macs"] for s in st)]
    stage_rows = []
    for k in shared:
        row = {"stage": k}
        for m in ("params", "macs", "activation_bytes"):
            vals = [s[k][m] for s in st]
            row[m] = {"values": vals, "ratios": [_ratio(v, vals[0]) for v in vals]}
        stage_rows.append(row)
    return {"models": labels, "files": [r.get("file") for r in reports], "batch": [r.get("batch") for r in reports],
            "conventions": [r["conventions"].get("name") for r in reports], "rows": rows, "stages": stage_rows}


# --------------------------------------------------------------------------- renderers
def _val(v, unit):
    from ..core.units import human
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if unit == "B":
        return human(v, binary=True)
    if unit == "px":
        return f"{v:g}"
    return human(v)


def _rat(r):
    return "-" if r is None else f"x{r:.3g}" if r < 100 else f"x{r:.0f}"


def _cells(row):
    return [f"{_val(v, row['unit'])} ({_rat(r)})" if i else _val(v, row["unit"])
            for i, (v, r) in enumerate(zip(row["values"], row["ratios"]))]


def render_text(cmp, console):
    from rich import box
    from rich.table import Table
    t = Table(box=box.SIMPLE_HEAD, title="comparison (ratios to the first)", title_justify="left")
    t.add_column("")
    for m in cmp["models"]:
        t.add_column(m, justify="right", overflow="fold")
    for row in cmp["rows"]:
        t.add_row(row["label"], *_cells(row))
    console.print(t)
    if cmp["stages"]:
        t = Table(box=box.SIMPLE_HEAD, title="per stage (shared top-level names): params / MACs",
                  title_justify="left")
        t.add_column("stage")
        for m in cmp["models"]:
            t.add_column(m, justify="right", overflow="fold")
        for s in cmp["stages"]:
            cells = _stage_cells(cmp, s)
            t.add_row(s["stage"], *cells)
        console.print(t)
    if len(set(cmp["conventions"])) > 1:
        console.print(f"[yellow]note: the reports use different conventions: {', '.join(cmp['conventions'])}[/]")


def _stage_cells(cmp, s):
    """`params / MACs` of one stage for each model, with ratios to the first."""
    cells = []
    for i in range(len(cmp["models"])):
        p, m = s["params"], s["macs"]
        txt = f"{_val(p['values'][i], '')} / {_val(m['values'][i], '')}"
        if i:
            txt += f" ({_rat(p['ratios'][i])} / {_rat(m['ratios'][i])})"
        cells.append(txt)
    return cells


def render_markdown(cmp) -> str:
    head = "| | " + " | ".join(cmp["models"]) + " |"
    sep = "| --- |" + " ---: |" * len(cmp["models"])
    lines = ["## Totals (ratios to the first)", "", head, sep]
    for row in cmp["rows"]:
        lines.append(f"| {row['label']} | " + " | ".join(_cells(row)) + " |")
    if cmp["stages"]:
        lines += ["", "## Per stage (params / MACs)", "", head.replace("| |", "| stage |", 1), sep]
        for s in cmp["stages"]:
            cells = _stage_cells(cmp, s)
            lines.append(f"| {s['stage']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
