"""Compare several analysed specs: totals side by side with ratios to the first, and per stage.

Reads only JSON reports (``Analysis.report()``); `cnncalc.render.compare` writes the result out.  A stage is a top-level name of the spec (the
first component of a layer's path: ``features``, ``layer3``, ``fc``); stages are compared where
every spec has them.
"""
from __future__ import annotations

from ..i18n import N_
from .rules import final_rf

# (key, label, unit) of the rows compared; unit "B" is bytes
METRICS = (
    ("params", N_("params"), ""),
    ("macs", N_("MACs"), ""),
    ("flops", N_("FLOPs"), ""),
    ("activation_bytes", N_("activation memory"), "B"),
    ("saved_bytes", N_("saved for backward"), "B"),
    ("param_bytes", N_("weights"), "B"),
    ("training_peak_bytes", N_("training peak memory"), "B"),
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
    rows.append({"metric": "rf", "label": N_("receptive field (last feature map)"), "unit": "px", "values": rf_vals,
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
