"""Render the `cnncalc rf` report (receptive.report): a table of exact windows and envelopes, the
rules on the path, the probe's verdicts and the effective receptive field."""
from __future__ import annotations


def _box(b):
    return "none (only padding)" if b is None else " x ".join(f"[{lo}, {hi}]" for lo, hi in b)


def _vec(v):
    return "x".join(str(x) for x in v)


def render_table(rep, con):
    from rich.table import Table
    t = Table(title=f"Receptive windows: {rep['spec']}", title_justify="left")
    for c in ("node", "role", "unit", "input", "exact window", "size", "envelope r / j / p", "envelope window"):
        t.add_column(c, overflow="fold")
    for tg in rep["targets"]:
        for src, e in tg["inputs"].items():
            env = e.get("envelope") or {}
            ev = "global" if env.get("global") else \
                f"{_vec(env.get('size', []))} / {_vec(env.get('stride', []))} / {_vec(env.get('padding', []))}"
            holes = e.get("holes") or []
            size = "-" if e["size"] is None else _vec(e["size"]) + (f" ({_vec(holes)} unread inside)"
                                                                    if any(holes) else "")
            t.add_row(f"{tg['node']}" + (f":{tg['output']}" if tg["output"] else ""), tg["role"],
                      ",".join(map(str, tg["unit"])) or "-", src, _box(e["field"]), size, ev,
                      _box(e.get("envelope_window")) if e.get("envelope_window") else "-")
    con.print(t)
    for tg in rep["targets"]:
        if tg["rules"]:
            con.print(f"[bold]{tg['node']}[/]: rules on the path of unit {tg['unit']}")
            for r in tg["rules"]:
                con.print(f"  - {r}", markup=False)
        if tg.get("approximate"):
            con.print(f"  ! not modelled exactly (whole input assumed) at: {', '.join(tg['approximate'])}", markup=False)
    for n in rep.get("notes", []):
        con.print(f"note: {n}", markup=False)
    if rep.get("probe"):
        p = Table(title="Probe: gradient support vs exact window", title_justify="left")
        for c in ("node", "unit", "which", "exact", "measured", "verdict"):
            p.add_column(c, overflow="fold")
        for r in rep["probe"]:
            p.add_row(r["node"], ",".join(map(str, r["unit"])) or "-", r["label"],
                      "; ".join(f"{k}: {_box(v)}" for k, v in r["exact"].items()),
                      "; ".join(f"{k}: {_box(v)}" for k, v in r["measured"].items()) or r["note"], r["verdict"])
        con.print(p)
    e = rep.get("erf")
    if e:
        m = e["method"]
        con.print(f"[bold]Effective receptive field[/] of {e['node']} unit {e['unit']} (Luo et al. 2016; torch default "
                  f"init, {len(m['seeds'])} seeds x {m['samples']} random inputs)")
        for src, info in e["inputs"].items():
            if not info.get("axes"):
                con.print(f"  {src}: {info.get('status', '')}", markup=False)
                continue
            for ax, d in enumerate(info["axes"]):
                con.print(f"  {src} axis {ax}: centre {d['centre']}, 50% of the mass within +-{d['radius_50']:.3g} "
                          f"({d['width_50']} px), 95% within +-{d['radius_95']:.3g} ({d['width_95']} px); theoretical "
                          f"field {d['theoretical']} px", markup=False)
        if e.get("plot"):
            con.print(f"  heatmap: {e['plot']}", markup=False)
