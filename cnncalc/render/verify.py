"""The cross-check result (`cnncalc verify`) as text of a given width; reads only the result dict."""
from __future__ import annotations

from .layout import Col, body, header, table, widths, wrap
from .numbers import fmt_value


def _rows(result, show_layers):
    """(check, name, analytical, measured, verdict, note) rows: totals, then a summary per per-layer
    check with its mismatches and the reasons something was not covered."""
    rows = []

    def row(c):
        rows.append([c["check"], c["name"] or "(total)", fmt_value(c["analytical"], "-"),
                     fmt_value(c["measured"], "-"), c["verdict"], c["reason"] or ""])

    checks = result["checks"]
    for c in checks:
        if c["scope"] in ("total", "info"):
            row(c)
    groups = {}
    for c in checks:
        if c["scope"] in ("layer", "module"):
            groups.setdefault(c["check"], []).append(c)
    for name, cs in groups.items():
        if show_layers:
            for c in cs:
                row(c)
            continue
        n_match = sum(c["verdict"] == "match" for c in cs)
        bad = [c for c in cs if c["verdict"] == "mismatch"]
        nc = {}
        for c in cs:
            if c["verdict"] == "not covered":
                nc.setdefault(c["reason"], []).append(c)
        compared = n_match + len(bad)
        if compared:
            rows.append([name, f"{compared} compared", "", "", "match" if not bad else "mismatch",
                         f"{n_match}/{compared} equal"])
        for c in bad:
            row(c)
        for reason, items in nc.items():
            names = ", ".join(c["name"] for c in items[:3]) + (f", ... ({len(items)} in all)" if len(items) > 3
                                                               else "")
            rows.append([name, names, "", "", "not covered", reason or ""])
    return rows


def render(result, width: int = 100, show_layers: bool = False) -> str:
    rows = _rows(result, show_layers)
    longest = max((len(w) for r in rows for w in r[0].split()), default=5)
    # floors high enough that a check name or a note reads as words, not as letters in a column
    cols = [Col("check", wrap=True, floor=min(16, max(longest, 5))), Col("layer / module", wrap=True, floor=14),
            Col("analytical", right=True), Col("measured", right=True), Col("verdict"),
            Col("note", wrap=True, floor=24)]
    lines = table(cols, rows, width, sep=2) or table(cols, rows, width, sep=1)
    if lines is None:   # the note on a line of its own under its row
        short = cols[:5]
        lines = table(short, [r[:5] for r in rows], width, sep=1)
        if lines is None:
            lines = table([Col(c.header, c.right, True, 1) for c in short], [r[:5] for r in rows], 10 ** 6, sep=1)
        else:   # the same widths, each row followed by its note
            w = widths(short, [r[:5] for r in rows], width, sep=1)
            lines = header(short, w, sep=1)
            for r in rows:
                lines += body(short, [r[:5]], w, sep=1)
                if r[5]:
                    lines.append(wrap("    note: " + r[5], width))
    s = result["summary"]
    out = [f"cnncalc verify: {result['model']} (batch {result['batch']}, {result['dtype']}, {result['device']}, "
           f"seed {result['seed']})", ""] + lines + [""]
    for note in result.get("notes", []):
        out.append(f"note: {note}")
    tm = result.get("timings", {})
    if tm:
        out.append("time: " + ", ".join(f"{k} {v:.2f}s" for k, v in tm.items()))
    verdict = "MISMATCH" if s["mismatch"] else ("all compared numbers match" if s["match"]
                                                else "nothing could be compared")
    out.append(f"{verdict}: {s['match']} match, {s['mismatch']} mismatch, {s['not_covered']} not covered")
    return wrap("\n".join(out), width) + "\n"
