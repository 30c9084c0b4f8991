"""Numbers with units: `61.7K`, `1.81G`, `3.2KiB`, `93MB`, matched to the precision written."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

SI = {"": 1, "K": 10**3, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
BIN = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_NUM = re.compile(r"^\s*([-+]?\d[\d,_]*(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*([KkMGTP]i?)?\s*(B|bytes)?\s*$")


def parse_number(v):
    """-> (value, half-unit of the last written digit).  Plain ints are exact (precision 0)."""
    if isinstance(v, bool):
        raise ValueError(f"expected a number, got {v!r}")
    if isinstance(v, int):
        return v, 0
    if isinstance(v, float):
        d = Decimal(repr(v))
        exp = d.as_tuple().exponent
        return v, (0.5 * 10 ** exp) if exp < 0 else 0
    m = _NUM.match(str(v))
    if not m:
        raise ValueError(f"cannot read `{v}` as a number (write e.g. 61706, 61.7K, 1.81G, 3.2KiB, 93MB)")
    num, unit = m.group(1).replace(",", "").replace("_", ""), m.group(2) or ""
    mult = BIN.get(unit) or SI.get(unit)
    if mult is None:
        raise ValueError(f"unknown unit `{unit}`")
    try:
        d = Decimal(num)
    except InvalidOperation:
        raise ValueError(f"cannot read `{v}`") from None
    exp = d.as_tuple().exponent
    value = d * mult
    if unit == "" and exp >= 0:
        return int(value), 0
    half = Decimal(5) * Decimal(10) ** (exp - 1) * mult
    return float(value), float(half)


def match_number(want, got, tol=None):
    value, half = parse_number(want)
    if tol is not None:
        return abs(got - value) <= float(tol) * abs(value)
    if half == 0:
        return got == value
    return abs(got - value) <= half + 1e-9 * abs(value)
