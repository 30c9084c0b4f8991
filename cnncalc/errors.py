"""Located errors and diagnostics.

Every problem the tool finds in a spec is a :class:`Diagnostic` with a position
(``file:line:col``), a message and hints.  The core collects them; the CLI turns
them into text and an exit code in one place.  Nothing here prints.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import NamedTuple

from .i18n import N_, _


# the severities as a reader sees them (the JSON keeps the English identifiers)
SEVERITY = {"error": N_("error"), "warning": N_("warning"), "note": N_("note"), "info": N_("info")}


class Loc(NamedTuple):
    """A position in a source file; line and column are 1-based.  (A tuple: cheap to make.)"""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class Diagnostic:
    severity: str  # "error" | "warning" | "note"
    message: str
    loc: Loc | None = None
    hints: list[str] = field(default_factory=list)
    node: str | None = None
    code: str | None = None

    def to_dict(self) -> dict:
        return {
            "severity": self.severity,
            "message": self.message,
            "location": str(self.loc) if self.loc else None,
            "hints": list(self.hints),
            "node": self.node,
            "code": self.code,
        }

    def render(self) -> str:
        where = f"{self.loc}: " if self.loc else ""
        lines = [f"{where}{_(SEVERITY.get(self.severity, self.severity))}: {self.message}"]
        lines += ["  " + _("hint: {hint}").format(hint=h) for h in self.hints]
        return "\n".join(lines)


class SpecError(Exception):
    """An error in the user's input, with a position and hints."""

    def __init__(self, message: str, loc: Loc | None = None, hints: list[str] | None = None,
                 node: str | None = None, code: str | None = None):
        super().__init__(message)
        self.diagnostic = Diagnostic("error", message, loc, list(hints or []), node, code)

    @property
    def loc(self) -> Loc | None:
        return self.diagnostic.loc


class SpecErrors(Exception):
    """Several independent errors, collected before giving up."""

    def __init__(self, diagnostics: list[Diagnostic], partial=None):
        super().__init__("\n".join(d.render() for d in diagnostics))
        self.diagnostics = diagnostics
        self.partial = partial


class UsageError(Exception):
    """The tool was used wrongly (bad option value, missing file)."""


# Argument names from other frameworks, and what they are called here.  (Op names from other
# frameworks are the kinds' knowledge: ``kinds.base.FOREIGN_OPS``, passed in as ``foreign``.)
FOREIGN_NAMES = {
    "filters": "out_channels",
    "num_output": "out_channels",
    "units": "out_features",
    "size": "kernel_size",
    "pad": "padding",
    "strides": "stride",
    "kernel": "kernel_size",
    "dilation_rate": "dilation",
    "use_bias": "bias",
}


def suggest(name: str, candidates, n: int = 3, foreign=None) -> list[str]:
    """Closest valid names for a misspelt one (foreign-framework names first: ``foreign`` adds
    a mapping of such names to ours)."""
    out: list[str] = []
    cands = list(candidates)
    table = {**FOREIGN_NAMES, **(foreign or {})}
    if name in table and table[name] in cands:
        out.append(table[name])
    lower = {c.lower(): c for c in cands}
    if name.lower() in lower and lower[name.lower()] not in out:
        out.append(lower[name.lower()])
    for c in difflib.get_close_matches(name, cands, n=n, cutoff=0.6):
        if c not in out:
            out.append(c)
    return out[:n]


def did_you_mean(name: str, candidates, foreign=None) -> list[str]:
    s = suggest(name, candidates, foreign=foreign)
    if not s:
        return []
    return [did_you_mean_text(s)]


def did_you_mean_text(names) -> str:
    return _("did you mean {names}?").format(names=_(" or ").join(f"`{x}`" for x in names))
