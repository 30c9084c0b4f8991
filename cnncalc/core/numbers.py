"""Exact numbers (Fractions from upsampling and transposed convolutions) made plain for reports."""
from __future__ import annotations

from fractions import Fraction


def num(x):
    """A JSON number: a whole Fraction becomes an int, another a float."""
    if isinstance(x, Fraction):
        return int(x) if x.denominator == 1 else float(x)
    return x


def q(x):
    """Keep receptive-field values as ints whenever they are whole (Fraction arithmetic is slow)."""
    if type(x) is Fraction and x.denominator == 1:
        return x.numerator
    return x


def frac_val(x):
    """An exact value for a Figure: int when whole, else the Fraction."""
    x = Fraction(x)
    return int(x) if x.denominator == 1 else x


def frac_text(x):
    if isinstance(x, Fraction) and x.denominator != 1:
        return f"{x.numerator}/{x.denominator}"
    return str(int(x)) if isinstance(x, Fraction) else str(x)
