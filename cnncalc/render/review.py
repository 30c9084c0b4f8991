"""The design review (`cnncalc review`) as text or Markdown; reads only the review dict."""
from __future__ import annotations

from ..errors import SEVERITY
from ..i18n import _, ngettext
from .layout import wrap
from .numbers import human


def saving_text(s) -> str:
    """What a fix saves: `1,152 params, 903,168 MACs, 3.06MiB`."""
    parts = []
    if s.get("params"):
        parts.append(_("{count} params").format(count=f"{s['params']:,}"))
    if s.get("macs"):
        parts.append(_("{count} MACs").format(count=f"{s['macs']:,}"))
    if s.get("flops"):
        parts.append(_("{count} FLOPs").format(count=f"{s['flops']:,}"))
    if s.get("bytes"):
        parts.append(human(s["bytes"], binary=True))
    return ", ".join(parts)


def _head(rv) -> str:
    c = rv["counts"]
    n = len(rv["findings"])
    return (ngettext("{count} finding ({error} error, {warning} warning, {info} info)",
                     "{count} findings ({error} error, {warning} warning, {info} info)", n).format(
        count=n, error=c["error"], warning=c["warning"], info=c["info"])
            + ("; " + _("ignored: {rules}").format(rules=", ".join(rv["ignored"])) if rv["ignored"] else ""))


def render_text(rv, width: int = 100) -> str:
    lines = [f"{rv['model']}: {_head(rv)}"]
    for f in rv["findings"]:
        lines += ["", f"{f['id']} {_(SEVERITY.get(f['severity'], f['severity']))} {f['slug']}  {', '.join(f['nodes'])}"
                  + (f"  {f['location']}" if f["location"] else ""),
                  f"  {f['message']}", "  " + _("why: {reason}").format(reason=f["reason"])]
        if f["fix"]:
            lines.append("  " + _("fix: {fix}").format(fix=f["fix"]))
        if f["saving"]:
            lines.append("  " + _("saves: {saving}").format(saving=saving_text(f["saving"])))
    return wrap("\n".join(lines), width, hang=2) + "\n"


def render_markdown(rv) -> str:
    c = rv["counts"]
    n = len(rv["findings"])
    lines = [f"# Review: {rv['model']}", "",
             f"{n} finding{'' if n == 1 else 's'}: {c['error']} error, {c['warning']} warning, {c['info']} info"
             + (f"; ignored: {', '.join(rv['ignored'])}" if rv["ignored"] else "") + ".", ""]
    for f in rv["findings"]:
        lines += [f"## {f['id']} {f['slug']} ({f['severity']})", "",
                  f"- nodes: {', '.join(f['nodes'])}" + (f" ({f['location']})" if f["location"] else ""),
                  f"- {f['message']}", f"- why: {f['reason']}"]
        if f["fix"]:
            lines.append(f"- fix: {f['fix']}")
        if f["saving"]:
            lines.append(f"- saves: {saving_text(f['saving'])}")
        lines.append("")
    return "\n".join(lines)
