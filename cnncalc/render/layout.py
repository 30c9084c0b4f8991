"""Plain-text layout for terminals of any width: tables whose figures are never cut, prose wrapped
between words.

Rich's tables are fine for a screenful, but they crop cells with an ellipsis when the terminal is
narrow (`97.7…`) and their layout costs about a millisecond per row.  Here every column is either a
*figure* column (numbers, shapes: never wrapped, never cut; its width is its widest cell) or a *name*
column (layer names, ops, notes: wrapped, preferably after a `.`).  When even the figures do not fit,
`table()` returns None and the caller picks a narrower form (shorter headers, fewer columns, a
transposed sweep).  The work is linear in the number of cells.
"""
from __future__ import annotations

import os
import re
import sys
import textwrap
from dataclasses import dataclass

DEFAULT_WIDTH = 100      # output that goes to a file or a pipe, when COLUMNS does not say
MIN_WIDTH = 40
NBSP = "\u00a0"          # joins a label to its figure in wrapped prose (replaced by a space on output)
LONG_TABLE = 200         # rows: above this a table says so and suggests --depth


def output_width(width: int | None = None, stream=None) -> int:
    """--width, else COLUMNS (also when piped), else the terminal's width, else DEFAULT_WIDTH."""
    if width:
        return max(int(width), MIN_WIDTH)
    env = os.environ.get("COLUMNS", "")
    if env.strip().isdigit() and int(env) > 0:
        return max(int(env), MIN_WIDTH)
    stream = stream or sys.stdout
    try:
        if stream.isatty():
            return max(os.get_terminal_size(stream.fileno()).columns, MIN_WIDTH)
    except (AttributeError, OSError, ValueError):
        pass
    return DEFAULT_WIDTH


def cells(s: str) -> int:
    """The columns a terminal gives `s`: East Asian Wide and Fullwidth characters (CJK) take two,
    combining marks none, everything else one (as rich measures a cell)."""
    if s.isascii():
        return len(s)
    import unicodedata
    n = 0
    for ch in s:
        if unicodedata.combining(ch):
            continue
        n += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return n


def ljust(s: str, w: int) -> str:
    """`s` padded on the right to `w` display columns."""
    return s + " " * (w - cells(s))


def rjust(s: str, w: int) -> str:
    return " " * (w - cells(s)) + s


def _cut(s: str, w: int) -> int:
    """How many characters of `s` fit in `w` display columns (at least one)."""
    if s.isascii():
        return max(1, min(w, len(s)))
    n = 0
    for i, ch in enumerate(s):
        n += cells(ch)
        if n > w:
            return max(1, i)
    return len(s)


@dataclass
class Col:
    header: str
    right: bool = False      # right-aligned (figures)
    wrap: bool = False       # a name column: may be wrapped
    floor: int = 8           # a name column is not made narrower than this


def _split_name(s: str, w: int) -> list[str]:
    """Wrap a name to width w: after a space, else a `.`, else a `_` or `/` (the first of these that
    leaves at least half the line filled), else anywhere."""
    out = []
    while cells(s) > w:
        fit = _cut(s, w)
        cut = 0
        for seps in (" ", ".", "_/"):
            best = max(s.rfind(c, 0, fit) for c in seps)
            if best + 1 >= fit // 2:
                cut = best + 1
                break
        if not cut:
            cut = max(s.rfind(c, 0, fit) for c in " ._/") + 1 or fit
        out.append(s[:cut].rstrip())
        s = s[cut:].lstrip()
    out.append(s)
    return out


def _header_lines(h: str, w: int) -> list[str]:
    if not h.isascii():
        return _split_name(h, w) if cells(h) > w else [h]
    return textwrap.wrap(h, w, break_long_words=False, break_on_hyphens=False) or [""]


def widths(cols, rows, width, sep=2):
    """Column widths that fit `width`, or None when the figure columns alone do not fit."""
    n = len(cols)
    nat = [cells(c.header) for c in cols]
    for r in rows:
        for i, cell in enumerate(r):
            n_ = cells(cell)
            if n_ > nat[i]:
                nat[i] = n_
    # the least each column can take: a figure its widest cell (and header word), a name its floor
    least = []
    for i, c in enumerate(cols):
        word = max((cells(x) for x in c.header.split()), default=0)
        if not c.header.isascii():     # a CJK header may wrap between characters, not below 4 of them
            word = min(word, 8)
        if c.wrap:
            least.append(min(nat[i], max(c.floor, word)))
        else:
            widest = max((cells(r[i]) for r in rows), default=0)
            least.append(max(widest, word))
    total = sum(nat) + sep * (n - 1)
    if total <= width:
        return nat
    if sum(least) + sep * (n - 1) > width:
        return None
    w = list(nat)
    deficit = total - width
    # shrink figure headers first (they wrap between words), then the names, widest first
    for group in ([i for i, c in enumerate(cols) if not c.wrap], [i for i, c in enumerate(cols) if c.wrap]):
        while deficit > 0:
            slack = [i for i in group if w[i] > least[i]]
            if not slack:
                break
            i = max(slack, key=lambda k: w[k] - least[k])
            step = min(deficit, w[i] - least[i], max(1, (w[i] - least[i] + 1) // 2))
            w[i] -= step
            deficit -= step
    return w if deficit <= 0 else None


def table(cols, rows, width, sep=2, rule="-"):
    """Lines of a table fitting `width`, or None when it cannot fit (then try a narrower form)."""
    w = widths(cols, rows, width, sep)
    if w is None:
        return None
    return header(cols, w, sep, rule) + body(cols, rows, w, sep)


def header(cols, w, sep=2, rule="-"):
    """The header lines (wrapped between words, sitting on the rule) and the rule."""
    gap = " " * sep
    heads = [_header_lines(c.header, w[i]) for i, c in enumerate(cols)]
    hn = max(len(h) for h in heads)
    lines = []
    for k in range(hn):
        parts = []
        for i, c in enumerate(cols):
            h = heads[i]
            txt = h[k - (hn - len(h))] if k >= hn - len(h) else ""
            parts.append(rjust(txt, w[i]) if c.right else ljust(txt, w[i]))
        lines.append(gap.join(parts).rstrip())
    lines.append(gap.join(rule * x for x in w))
    return lines


def body(cols, rows, w, sep=2):
    """The rows at column widths `w`: names wrapped, figures whole."""
    gap = " " * sep
    just = [(rjust if c.right else ljust) for c in cols]
    wrap_ = [c.wrap for c in cols]
    lines = []
    for r in rows:
        if all(cells(cell) <= w[i] for i, cell in enumerate(r)):
            lines.append(gap.join(just[i](cell, w[i]) for i, cell in enumerate(r)).rstrip())
            continue
        parts = [_split_name(cell, w[i]) if wrap_[i] else [cell] for i, cell in enumerate(r)]
        for k in range(max(len(x) for x in parts)):
            lines.append(gap.join(just[i](x[k] if k < len(x) else "", w[i])
                                  for i, x in enumerate(parts)).rstrip())
    return lines


_BRACKETS = re.compile(r"\[[^\[\]]{0,40}\]")


def wrap(text: str, width: int, hang: int = 4) -> str:
    """Wrap every line longer than `width` between words, never inside a figure or a short [list];
    continuation lines are indented `hang` more than the line.  Label and figure joined by NBSP stay
    together."""
    out = []
    for line in text.split("\n"):
        if cells(line) <= width:
            out.append(line.replace(NBSP, " "))
            continue
        line = _BRACKETS.sub(lambda m: m.group(0).replace(" ", NBSP), line)
        body = line.lstrip(" ")
        ind = " " * (len(line) - len(body))
        sub = ind + " " * hang
        if len(sub) > width // 2:
            sub = " " * hang
        for piece in _wrap_line(body, width, ind, sub):
            out.append(piece.replace(NBSP, " "))
    return "\n".join(out)


def _words(body, width, ind, sub):
    if body.isascii():
        return textwrap.wrap(body, width, initial_indent=ind, subsequent_indent=sub,
                             break_long_words=False, break_on_hyphens=False)
    return _wrap_cells(body, width, ind, sub)


_CHUNKS = re.compile(r" +|[^ \u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\u3000-\u303f]+[，。：；、）」』！？]*"
                     r"|[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\u3000-\u303f][，。：；、）」』！？,.:;)]*")


def _wrap_cells(body, width, ind, sub):
    """textwrap by display columns: a line may break between words and between any two CJK characters
    (never before CJK punctuation, never inside a word or a figure)."""
    lines, cur, lead = [], "", ind
    for ch in _CHUNKS.findall(body):
        if ch.startswith(" "):
            if cur:
                cur += ch
            continue
        if cur and cells(lead) + cells(cur.rstrip() if ch[0] == " " else cur) + cells(ch) > width:
            lines.append(lead + cur.rstrip())
            cur, lead = "", sub
        cur += ch
    if cur or not lines:
        lines.append(lead + cur.rstrip())
    return lines


def _wrap_line(body, width, ind, sub):
    """A formula `a = b = c` breaks before its ` = ` first, so each step of it stays on one line."""
    steps = body.split(" = ")
    if len(steps) < 2:
        return _words(body, width, ind, sub)
    lines, cur, lead = [], steps[0], ind
    for st in steps[1:]:
        if cells(lead) + cells(cur) + 3 + cells(st) <= width:
            cur += " = " + st
        else:
            lines.append((lead, cur))
            cur, lead = "= " + st, sub
    lines.append((lead, cur))
    out = []
    for k, (lead, text) in enumerate(lines):
        out += [lead + text] if cells(lead) + cells(text) <= width else _words(text, width, lead, sub)
    return out


def glue(s: str) -> str:
    """A phrase that `wrap` keeps on one line (a label and its figure)."""
    return s.replace(" ", NBSP)
