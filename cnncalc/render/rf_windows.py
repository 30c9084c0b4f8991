"""Render the `cnncalc rf` report (receptive.report): a table of exact windows and envelopes, the
rules on the path, the probe's verdicts and the effective receptive field."""
from __future__ import annotations

from ..i18n import N_, _

ROLES = {"output": N_("output"), "final feature map": N_("final feature map"), "node": N_("node")}
VERDICTS = {"match": N_("match"), "mismatch": N_("mismatch"), "not covered": N_("not covered")}


def _box(b):
    return _("none (only padding)") if b is None else " x ".join(f"[{lo}, {hi}]" for lo, hi in b)


def _vec(v):
    return "x".join(str(x) for x in v)


def _table_or_blocks(title, heads, rows, width):
    from .layout import Col, table
    lines = table([Col(h, wrap=True) for h in heads], rows, width, sep=1)
    if lines is None:       # too many columns for the width: one block per row
        lines = []
        for r in rows:
            lines += [f"{heads[0]} {r[0]}"] + [f"  {h}: {v}" for h, v in zip(heads[1:], r[1:])]
    return [title] + lines


def render_table(rep, width: int = 100) -> str:
    """The report as plain text of at most `width` columns (figures are never cut)."""
    from .layout import wrap
    heads = [_("node"), _("role"), _("unit"), _("input"), _("exact window"), _("size"), _("envelope r / j / p"),
             _("envelope window")]
    rows = []
    for tg in rep["targets"]:
        for src, e in tg["inputs"].items():
            env = e.get("envelope") or {}
            ev = _("global") if env.get("global") else \
                f"{_vec(env.get('size', []))} / {_vec(env.get('stride', []))} / {_vec(env.get('padding', []))}"
            holes = e.get("holes") or []
            size = "-" if e["size"] is None else _vec(e["size"]) + (
                " " + _("({holes} unread inside)").format(holes=_vec(holes)) if any(holes) else "")
            rows.append([f"{tg['node']}" + (f":{tg['output']}" if tg["output"] else ""), _(ROLES.get(tg["role"], tg["role"])),
                         ",".join(map(str, tg["unit"])) or "-", src, _box(e["field"]), size, ev,
                         _box(e.get("envelope_window")) if e.get("envelope_window") else "-"])
    out = _table_or_blocks(_("Receptive windows: {spec}").format(spec=rep["spec"]), heads, rows, width)
    for tg in rep["targets"]:
        if tg["rules"]:
            out.append(_("{node}: rules on the path of unit {unit}").format(node=tg["node"], unit=tg["unit"]))
            out += [f"  - {r}" for r in tg["rules"]]
        if tg.get("approximate"):
            out.append("  ! " + _("not modelled exactly (whole input assumed) at: {nodes}").format(
                nodes=", ".join(tg["approximate"])))
    out += [_("note: {note}").format(note=n) for n in rep.get("notes", [])]
    if rep.get("probe"):
        prow = [[r["node"], ",".join(map(str, r["unit"])) or "-", r["label"],
                 "; ".join(f"{k}: {_box(v)}" for k, v in r["exact"].items()),
                 "; ".join(f"{k}: {_box(v)}" for k, v in r["measured"].items()) or r["note"],
                 _(VERDICTS.get(r["verdict"], r["verdict"]))]
                for r in rep["probe"]]
        out += [""] + _table_or_blocks(_("Probe: gradient support vs exact window"),
                                       [_("node"), _("unit"), _("which"), _("exact"), _("measured"), _("verdict")],
                                       prow, width)
    e = rep.get("erf")
    if e:
        m = e["method"]
        out.append(_("Effective receptive field of {node} unit {unit} (Luo et al. 2016; torch default init, {seeds} "
                     "seeds x {samples} random inputs)").format(node=e["node"], unit=e["unit"], seeds=len(m["seeds"]),
                                                               samples=m["samples"]))
        for src, info in e["inputs"].items():
            if not info.get("axes"):
                out.append(f"  {src}: {info.get('status', '')}")
                continue
            for ax, d in enumerate(info["axes"]):
                out.append("  " + _("{input} axis {axis}: centre {centre}, half the mass within +-{r50} ({w50} px), "
                                    "95 percent within +-{r95} ({w95} px); theoretical field {theory} px").format(
                    input=src, axis=ax, centre=d["centre"], r50=f"{d['radius_50']:.3g}", w50=d["width_50"],
                    r95=f"{d['radius_95']:.3g}", w95=d["width_95"], theory=d["theoretical"]))
        if e.get("plot"):
            out.append("  " + _("heatmap: {path}").format(path=e["plot"]))
    return wrap("\n".join(out), width) + "\n"
