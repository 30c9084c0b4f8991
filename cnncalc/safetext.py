"""User-supplied text on the way to a terminal: no rich markup, no control characters.

A model name, a node name or a spec path comes from the user; printed as rich markup,
``[link=...]`` or ``[bold red]`` would take effect, and escape bytes (``\\x1b]...``) would drive the
terminal.  :func:`clean` replaces control characters (except newline and tab) by their ``\\xNN``
escape; :func:`safe` also escapes rich markup, for text printed with markup enabled.
"""
from __future__ import annotations

import re

_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def clean(text) -> str:
    """The text with control characters shown as escapes (``\\x1b``) instead of sent to the terminal."""
    return _CTRL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                     str(text))


def safe(text) -> str:
    """:func:`clean`, then rich markup escaped: for user text inside a string printed with markup."""
    from rich.markup import escape
    return escape(clean(text))
