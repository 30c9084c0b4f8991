"""The cross-check result (`cnncalc verify`) as text of a given width; reads only the result dict."""
from __future__ import annotations

from ..i18n import N_, _
from .layout import Col, body, header, cells, table, widths, wrap
from .numbers import fmt_value


VERDICTS = {"match": N_("match"), "mismatch": N_("mismatch"), "not covered": N_("not covered"), "info": N_("info")}
# the checks' names and standing reasons, for the catalog (the result keeps them in English: they are its keys)
CHECKS = (N_("model output shape"), N_("output shape"), N_("parameters"), N_("trainable parameters"), N_("buffers"),
          N_("FLOPs (torch convention) vs FlopCounterMode"), N_("FLOPs (torch) per module"),
          N_("FLOPs (fvcore convention) vs fvcore"), N_("FLOPs (fvcore) per module"), N_("bytes saved for backward"),
          N_("saved for backward"), N_("receptive field"), N_("receptive field (gradient support)"),
          N_("receptive field (analysis field holds the measured window)"), N_("forward pass"), N_("torch model"),
          N_("FlopCounterMode counts only convolution, matmul and attention"),
          N_("fvcore does not count this op by default"),
          N_("an opaque node: its work is measured, not analysed"))
OWN = " (own module)"


def _check(name: str) -> str:
    """A check's name in the reader's language (`... (own module)`: the user's module measured)."""
    if name.endswith(OWN):
        return _("{check} (own module)").format(check=_(name[:-len(OWN)]))
    return _(name)


def _rows(result, show_layers):
    """(check, name, analytical, measured, verdict, note) rows: totals, then a summary per per-layer
    check with its mismatches and the reasons something was not covered."""
    rows = []

    def row(c):
        rows.append([_check(c["check"]), c["name"] or _("(total)"), fmt_value(c["analytical"], "-"),
                     fmt_value(c["measured"], "-"), _(VERDICTS.get(c["verdict"], c["verdict"])), _(c["reason"] or "")])

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
            rows.append([_check(name), _("{count} compared").format(count=compared), "", "",
                         _("match") if not bad else _("mismatch"), _("{equal}/{count} equal").format(equal=n_match,
                                                                                                   count=compared)])
        for c in bad:
            row(c)
        for reason, items in nc.items():
            names = ", ".join(c["name"] for c in items[:3]) + (
                ", ... (" + _("{count} in all").format(count=len(items)) + ")" if len(items) > 3 else "")
            rows.append([_check(name), names, "", "", _("not covered"), _(reason or "")])
    return rows


def render(result, width: int = 100, show_layers: bool = False) -> str:
    rows = _rows(result, show_layers)
    longest = max((cells(w) for r in rows for w in r[0].split()), default=5)
    # floors high enough that a check name or a note reads as words, not as letters in a column
    cols = [Col(_("check"), wrap=True, floor=min(16, max(longest, 5))), Col(_("layer / module"), wrap=True, floor=14),
            Col(_("analytical"), right=True), Col(_("measured"), right=True), Col(_("verdict")),
            Col(_("note"), wrap=True, floor=24)]
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
                    lines.append(wrap("    " + _("note: {note}").format(note=r[5]), width))
    s = result["summary"]
    out = [_("cnncalc verify: {model} (batch {batch}, {dtype}, {device}, seed {seed})").format(
        model=result["model"], batch=result["batch"], dtype=result["dtype"], device=result["device"],
        seed=result["seed"]), ""] + lines + [""]
    for note in result.get("notes", []):
        out.append(_("note: {note}").format(note=note))
    tm = result.get("timings", {})
    if tm:
        out.append(_("time: {timings}").format(timings=", ".join(f"{k} {v:.2f}s" for k, v in tm.items())))
    verdict = _("MISMATCH") if s["mismatch"] else (_("all compared numbers match") if s["match"]
                                                   else _("nothing could be compared"))
    out.append(_("{verdict}: {match} match, {mismatch} mismatch, {not_covered} not covered").format(
        verdict=verdict, match=s["match"], mismatch=s["mismatch"], not_covered=s["not_covered"]))
    return wrap("\n".join(out), width) + "\n"
