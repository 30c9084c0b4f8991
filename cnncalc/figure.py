"""A computed number together with the formula that produced it.

Kinds compute values with plain arithmetic (fast), and declare next to each the
formula and the bindings it used.  ``explain`` renders them; a test evaluates
every formula with :mod:`cnncalc.expr` and checks it equals the value.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import expr


@dataclass
class Figure:
    value: int | float
    formula: str = ""
    bindings: dict = field(default_factory=dict)
    name: str = ""
    unit: str = ""
    note: str = ""

    def substituted(self) -> str:
        if not self.formula:
            return ""
        return expr.substitute(self.formula, self.bindings)

    def evaluate(self):
        return expr.evaluate(self.formula, self.bindings, exact=True)

    def render(self, ascii_only: bool = True) -> str:
        parts = [self.name] if self.name else []
        value = f"{self.value:,}" if isinstance(self.value, int) else f"{self.value:g}"
        if self.formula and self.formula != self.name:
            parts.append(self.formula)
            sub = self.substituted()
            if sub != self.formula and sub.replace(",", "") != value.replace(",", ""):
                parts.append(sub)
        parts.append(value)
        text = " = ".join(parts)
        if not ascii_only:
            text = _unicode_floor(text)
        if self.unit:
            text += f" {self.unit}"
        if self.note:
            text += f"   ({self.note})"
        return text

    def to_dict(self) -> dict:
        return {"value": self.value, "formula": self.formula, "substituted": self.substituted(),
                "bindings": {k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                             for k, v in self.bindings.items()},
                "note": self.note}


def _unicode_floor(text: str) -> str:
    """floor(x) -> ⌊x⌋ and ceil(x) -> ⌈x⌉ (matching parentheses)."""
    for fn, (lo, hi) in (("floor(", ("⌊", "⌋")), ("ceil(", ("⌈", "⌉"))):
        while fn in text:
            i = text.index(fn)
            depth = 0
            j = i + len(fn) - 1
            for j in range(i + len(fn) - 1, len(text)):
                if text[j] == "(":
                    depth += 1
                elif text[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
            text = text[:i] + lo + text[i + len(fn):j] + hi + text[j + 1:]
    return text
