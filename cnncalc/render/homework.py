"""The homework check (`cnncalc check`) and the one-layer calculator (`cnncalc layer`) as text;
they only read the report dicts."""
from __future__ import annotations

import json

from .layout import wrap
from .numbers import fmt_value


def check_text(report: dict, hide: bool = False) -> list[str]:
    s = report["summary"]
    src = report["file"] + (f", answers from {report['answers_file']}" if report.get("answers_file") else "")
    who = f" by {report['student']}" if report.get("student") else ""
    head = f"{report['model']}{who} ({src}): {s['answers']} answer{'s' if s['answers'] != 1 else ''}, " \
           f"{s['correct']} correct, {s['wrong']} wrong"
    if s.get("error"):
        head += f", {s['error']} unreadable"
    if s.get("not_checked"):
        head += f", {s['not_checked']} not checked"
    if s.get("skipped"):
        head += f", {s['skipped']} skipped"
    lines = [head, ""]
    for c in report["checks"]:
        where = c["node"] if c["node"] != "total" else "total"
        loc = f"   ({c['location']})" if c.get("location") else ""
        v = c["verdict"]
        if v == "correct":
            lines.append(f"correct  {where} {c['key']}" + ("" if hide else f" = {fmt_value(c['given'])}"))
            continue
        if v != "wrong":
            lines.append(f"{v.upper():8} {where} {c['key']}: {c.get('message', '')}{loc}")
            continue
        if hide:
            lines.append(f"WRONG    {where} {c['key']}{loc}")
            continue
        lines.append(f"WRONG    {where} {c['key']}: you wrote {fmt_value(c['given'])}, "
                     f"the answer is {fmt_value(c['answer'])}{loc}")
        for e in c.get("explanation") or []:
            lines.append(f"           {e}")
        d = c.get("diagnosis")
        if d:
            lines += diagnosis_text(d, total=c["node"] == "total")
    if report.get("spec_expects_ignored"):
        lines.append("")
        lines.append(f"note: the spec's own `expect:` answers ({report['spec_expects_ignored']}) were not checked: "
                     "the answers file replaces them")
    return lines


def diagnosis_text(d: dict, total: bool = False) -> list[str]:
    pad = "           "
    if d["status"] != "explained":
        return [f"{pad}diagnosis: {d['message']}"]
    out = []
    for i, c in enumerate(d["candidates"]):
        title = " + ".join(m["title"] for m in c["mistakes"])
        scope = ("" if total else " (made at every layer up to here)") if c["scope"] == "network" else ""
        lead = "diagnosis" if i == 0 else "or"
        out.append(f"{pad}{lead}: {title}{scope}: that gives {fmt_value(c['value'])}")
        for m in c["mistakes"]:
            out.append(f"{pad}  why it is wrong: {m['why']}")
        for f in c.get("figures") or []:
            out.append(f"{pad}  with the mistake: {f}")
    return out


def layer_text(rep: dict) -> list[str]:
    lines = [f"{rep['layer']}   input {fmt_value(rep['input'])}, batch {rep['batch']}, {rep['dtype']}, "
             f"conventions: {rep['conventions']}"]
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
