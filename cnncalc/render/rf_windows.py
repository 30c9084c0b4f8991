"""Render the `cnncalc rf` report (receptive.report): a table of exact windows and envelopes, the
rules on the path, the probe's verdicts and the effective receptive field."""
from __future__ import annotations


def _box(b):
    return "none (only padding)" if b is None else " x ".join(f"[{lo}, {hi}]" for lo, hi in b)


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
    heads = ["node", "role", "unit", "input", "exact window", "size", "envelope r / j / p", "envelope window"]
    rows = []
    for tg in rep["targets"]:
        for src, e in tg["inputs"].items():
            env = e.get("envelope") or {}
            ev = "global" if env.get("global") else \
                f"{_vec(env.get('size', []))} / {_vec(env.get('stride', []))} / {_vec(env.get('padding', []))}"
            holes = e.get("holes") or []
            size = "-" if e["size"] is None else _vec(e["size"]) + (f" ({_vec(holes)} unread inside)"
                                                                    if any(holes) else "")
            rows.append([f"{tg['node']}" + (f":{tg['output']}" if tg["output"] else ""), tg["role"],
                         ",".join(map(str, tg["unit"])) or "-", src, _box(e["field"]), size, ev,
                         _box(e.get("envelope_window")) if e.get("envelope_window") else "-"])
    out = _table_or_blocks(f"Receptive windows: {rep['spec']}", heads, rows, width)
    for tg in rep["targets"]:
        if tg["rules"]:
            out.append(f"{tg['node']}: rules on the path of unit {tg['unit']}")
            out += [f"  - {r}" for r in tg["rules"]]
        if tg.get("approximate"):
            out.append(f"  ! not modelled exactly (whole input assumed) at: {', '.join(tg['approximate'])}")
    out += [f"note: {n}" for n in rep.get("notes", [])]
    if rep.get("probe"):
        prow = [[r["node"], ",".join(map(str, r["unit"])) or "-", r["label"],
                 "; ".join(f"{k}: {_box(v)}" for k, v in r["exact"].items()),
                 "; ".join(f"{k}: {_box(v)}" for k, v in r["measured"].items()) or r["note"], r["verdict"]]
                for r in rep["probe"]]
        out += [""] + _table_or_blocks("Probe: gradient support vs exact window",
                                       ["node", "unit", "which", "exact", "measured", "verdict"], prow, width)
    e = rep.get("erf")
    if e:
        m = e["method"]
        out.append(f"Effective receptive field of {e['node']} unit {e['unit']} (Luo et al. 2016; torch default "
                   f"init, {len(m['seeds'])} seeds x {m['samples']} random inputs)")
        for src, info in e["inputs"].items():
            if not info.get("axes"):
                out.append(f"  {src}: {info.get('status', '')}")
                continue
            for ax, d in enumerate(info["axes"]):
                out.append(f"  {src} axis {ax}: centre {d['centre']}, 50% of the mass within +-{d['radius_50']:.3g} "
                           f"({d['width_50']} px), 95% within +-{d['radius_95']:.3g} ({d['width_95']} px); "
                           f"theoretical field {d['theoretical']} px")
        if e.get("plot"):
            out.append(f"  heatmap: {e['plot']}")
    return wrap("\n".join(out), width) + "\n"
