"""Input shapes written on a command line or passed to the library: `3x224x224`, `left=1x105x105`."""
from __future__ import annotations

from .errors import UsageError
from .i18n import _


def parse_shape(text: str):
    try:
        dims = tuple(int(x) for x in text.lower().replace("*", "x").replace(",", "x").split("x") if x)
    except ValueError:
        raise UsageError(_("cannot read the shape `{text}`: write it like 3x224x224 (no batch)").format(text=text)) from None
    if not dims or min(dims) < 1:
        raise UsageError(_("cannot read the shape `{text}`: write it like 3x224x224 (no batch)").format(text=text))
    return dims


def parse_inputs(values):
    if not values:
        return None
    named = {}
    for v in values:
        if "=" in v:
            k, s = v.split("=", 1)
            named[k.strip()] = parse_shape(s)
        else:
            if len(values) > 1:
                raise UsageError(_("several --input options must be named: --input left=1x105x105"))
            return parse_shape(v)
    return named
