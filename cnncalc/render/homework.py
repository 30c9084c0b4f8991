"""The homework check (`cnncalc check`) and the one-layer calculator (`cnncalc layer`) as text;
they only read the report dicts."""
from __future__ import annotations

import json

from ..i18n import _, ngettext
from .layout import ljust, wrap
from .numbers import fmt_value


def check_text(report: dict, hide: bool = False) -> list[str]:
    s = report["summary"]
    src = report["file"] + (_(", answers from {file}").format(file=report["answers_file"])
                            if report.get("answers_file") else "")
    who = _(" by {student}").format(student=report["student"]) if report.get("student") else ""
    head = ngettext("{model}{who} ({source}): {answers} answer, {correct} correct, {wrong} wrong",
                    "{model}{who} ({source}): {answers} answers, {correct} correct, {wrong} wrong",
                    s["answers"]).format(model=report["model"], who=who, source=src, answers=s["answers"],
                                         correct=s["correct"], wrong=s["wrong"])
    if s.get("error"):
        head += _(", {count} unreadable").format(count=s["error"])
    if s.get("not_checked"):
        head += _(", {count} not checked").format(count=s["not_checked"])
    if s.get("skipped"):
        head += _(", {count} skipped").format(count=s["skipped"])
    lines = [head, ""]
    verdicts = {"correct": _("correct"), "wrong": _("WRONG"), "error": _("ERROR"),
                "not checked": _("NOT CHECKED"), "skipped": _("SKIPPED")}
    for c in report["checks"]:
        where = c["node"] if c["node"] != "total" else _("total")
        loc = f"   ({c['location']})" if c.get("location") else ""
        v = c["verdict"]
        mark = ljust(verdicts.get(v, v.upper()), 8) + " "
        if v == "correct":
            lines.append(f"{mark}{where} {c['key']}" + ("" if hide else f" = {fmt_value(c['given'])}"))
            continue
        if v != "wrong":
            lines.append(f"{mark}{where} {c['key']}: {c.get('message', '')}{loc}")
            continue
        if hide:
            lines.append(f"{mark}{where} {c['key']}{loc}")
            continue
        lines.append(f"{mark}{where} {c['key']}: "
                     + _("you wrote {given}, the answer is {answer}").format(given=fmt_value(c["given"]),
                                                                             answer=fmt_value(c["answer"])) + loc)
        for e in c.get("explanation") or []:
            lines.append(f"           {e}")
        d = c.get("diagnosis")
        if d:
            lines += diagnosis_text(d, total=c["node"] == "total")
    if report.get("spec_expects_ignored"):
        lines.append("")
        lines.append(_("note: the spec's own `expect:` answers ({count}) were not checked: "
                       "the answers file replaces them").format(count=report["spec_expects_ignored"]))
    return lines


def diagnosis_text(d: dict, total: bool = False) -> list[str]:
    pad = "           "
    if d["status"] != "explained":
        return [pad + _("diagnosis: {message}").format(message=d["message"])]
    out = []
    for i, c in enumerate(d["candidates"]):
        title = " + ".join(m["title"] for m in c["mistakes"])
        scope = ("" if total else " " + _("(made at every layer up to here)")) if c["scope"] == "network" else ""
        lead = _("diagnosis") if i == 0 else _("or")
        out.append(pad + _("{lead}: {mistake}{scope}: that gives {value}").format(
            lead=lead, mistake=title, scope=scope, value=fmt_value(c["value"])))
        for m in c["mistakes"]:
            out.append(pad + "  " + _("why it is wrong: {why}").format(why=m["why"]))
        for f in c.get("figures") or []:
            out.append(pad + "  " + _("with the mistake: {figure}").format(figure=f))
    return out


def layer_text(rep: dict) -> list[str]:
    lines = [rep["layer"] + "   " + _("input {shape}, batch {batch}, {dtype}, conventions: {conventions}").format(
        shape=fmt_value(rep["input"]), batch=rep["batch"], dtype=rep["dtype"], conventions=rep["conventions"])]
    for sec in rep["sections"]:
        lines.append("")
        lines.append(f"{sec['title']}: {sec['summary']}")
        for ln in sec["lines"]:
            lines.append(f"  {ln}")
    return lines


def to_json(obj) -> str:
    return json.dumps(obj, indent=2, default=str) + "\n"


def render_check(report: dict, width: int = 100, hide: bool = False) -> str:
    return wrap("\n".join(check_text(report, hide=hide)), width) + "\n"


def render_layer(rep: dict, width: int = 100) -> str:
    return wrap("\n".join(layer_text(rep)), width) + "\n"
