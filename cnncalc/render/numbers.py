"""How numbers, shapes and formulas are written in every report (the one place for each)."""
from __future__ import annotations

import io
import tokenize
from fractions import Fraction


def human(n, binary=False, digits=3) -> str:
    """1814073344 -> '1.81G'; bytes with binary=True -> '1.69GiB'; None -> '-'."""
    if n is None:
        return "-"
    if isinstance(n, str):
        return n
    base, units = (1024, ["", "Ki", "Mi", "Gi", "Ti"]) if binary else (1000, ["", "K", "M", "G", "T", "P"])
    x = float(n)
    i = 0
    while abs(x) >= base and i < len(units) - 1:
        x /= base
        i += 1
    if i == 0:
        s = f"{int(n):,}" if float(n).is_integer() else f"{n:.3g}"
        return s + ("B" if binary else "")
    # (from 100 up, 3 digits are the integer part; more digits asked for are decimals: 140.4GiB)
    s = f"{x:.{digits}g}" if abs(x) < 100 else f"{x:.{max(0, digits - 3)}f}"
    return s + units[i] + ("B" if binary else "")


def fmt_value(v, none: str = "None") -> str:
    """A value written out whole: integers grouped (9,472), fractions as 3/2, lists as [6, 28, 28]."""
    if v is None:
        return none
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, Fraction):
        if v.denominator == 1:
            return f"{int(v):,}"
        return f"{v.numerator}/{v.denominator}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{int(v):,}" if v.is_integer() else f"{v:,.6g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return str(v)


def grouped(v) -> str:
    """A count in a table cell: 9,472; a non-integer to one decimal; None as '-'."""
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.1f}"
    return f"{int(v):,}"


def shape_text(s) -> str:
    """[64, 112, 112] -> '64x112x112'; several shapes joined by ', '; [] -> 'scalar'."""
    if s and isinstance(s[0], list):
        return ", ".join(shape_text(x) for x in s)
    return "x".join(map(str, s)) if s else "scalar"


def _rf_num(x) -> str:
    if isinstance(x, float) and not x.is_integer():
        return f"{x:.3g}"
    return str(int(x))


def rf_text(rf) -> str:
    """A receptive field as a table cell: '7', '7x11', 'global'; '*' when it depends on the data."""
    if not rf:
        return "-"
    if rf.get("global"):
        return "global"
    size = rf.get("size") or []
    t = "x".join(_rf_num(x) for x in size) if len(set(size)) > 1 else _rf_num(size[0]) if size else "-"
    if rf.get("data_dependent"):
        t += "*"
    return t


def lit(v) -> str:
    """A bound value as it appears inside a substituted formula (evaluates back to v)."""
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, Fraction):
        if v.denominator == 1:
            return str(int(v)) if v >= 0 else f"({int(v)})"
        return f"({v.numerator}/{v.denominator})"
    if isinstance(v, (int, float)):
        return repr(v) if v >= 0 else f"({v!r})"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(lit(x) for x in v) + "]"
    return repr(v)


def substitute(formula: str, bindings: dict) -> str:
    """The formula with every bound name replaced by its value, the author's spacing kept
    (`floor((H_in + 2*P - D*(K-1) - 1) / S) + 1` -> `floor((224 + 2*3 - 1*(7-1) - 1) / 2) + 1`)."""
    if not formula:
        return ""
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(formula).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return _fallback(formula, bindings)
    out, last = [], (1, 0)
    for t in toks:
        if t.type in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER):
            continue
        if t.start[0] != 1 or t.end[0] != 1:   # formulas are one line
            return _fallback(formula, bindings)
        out.append(formula[last[1]:t.start[1]])
        if t.type == tokenize.NAME and t.string in bindings:
            out.append(lit(bindings[t.string]))
        else:
            out.append(t.string)
        last = t.end
    out.append(formula[last[1]:])
    return "".join(out)


def _fallback(formula, bindings):
    from ..expr import substitute as ast_substitute
    return ast_substitute(formula, bindings)
