"""The comparison of several reports (`cnncalc compare`) as text or Markdown; reads only its dict."""
from __future__ import annotations

from ..i18n import _
from .layout import Col, table, wrap
from .numbers import human


def _val(v, unit):
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


def _table(first, models, rows, width):
    """Figures whole: the model names (headers) wrap; when the models do not fit side by side, one
    block per model."""
    cols = [Col(first, wrap=True, floor=10)] + [Col(m, right=True) for m in models]
    lines = table(cols, rows, width, sep=2) or table(cols, rows, width, sep=1)
    if lines is not None:
        return lines
    out = []
    for i, m in enumerate(models):
        out += [f"{m}:"] + [f"  {r[0]}: {r[i + 1]}" for r in rows]
    return out


def render_text(cmp, width: int = 100) -> str:
    out = [_("comparison (ratios to the first)"), ""]
    out += _table("", cmp["models"], [[_(row["label"])] + _cells(row) for row in cmp["rows"]], width)
    if cmp["stages"]:
        out += ["", _("per stage (shared top-level names): params / MACs"), ""]
        out += _table(_("stage"), cmp["models"], [[s["stage"]] + _stage_cells(cmp, s) for s in cmp["stages"]],
                      width)
    if len(set(cmp["conventions"])) > 1:
        out.append(_("note: the reports use different conventions: {conventions}").format(
            conventions=", ".join(cmp["conventions"])))
    return wrap("\n".join(out), width) + "\n"


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
