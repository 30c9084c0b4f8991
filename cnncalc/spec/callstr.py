"""Call strings: `Conv2d(3, 64, kernel_size=3)` and pasted `print(model)` lines
`(conv1): Conv2d(3, 64, kernel_size=(7, 7), ...)`, parsed with `ast` (literals only)."""
from __future__ import annotations

import ast
import re

from ..i18n import _

_PREFIX = re.compile(r"^\s*\(([\w.]+)\)\s*:\s*(.*)$")


class VarRef:
    """A bare name inside a call string: resolved against the variables later."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"${self.name}"


class CallError(Exception):
    pass


def split_prefix(text: str):
    """`(conv1): Conv2d(...)` -> ("conv1", "Conv2d(...)"); otherwise (None, text)."""
    m = _PREFIX.match(text)
    if m:
        return m.group(1), m.group(2).strip()
    return None, text.strip()


def looks_like_call(text: str) -> bool:
    return "(" in text and text.rstrip().endswith(")")


def _value(node):
    if isinstance(node, ast.Name):
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        return VarRef(node.id)
    if isinstance(node, ast.Tuple) or isinstance(node, ast.List):
        return [_value(e) for e in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = _value(node.operand)
        if isinstance(v, (int, float)):
            return -v
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise CallError(_("only literals and variable names may be arguments, got `{code}`").format(code=ast.unparse(node))) from None


def parse_call(text: str):
    """-> (op name, positional list, keyword dict)."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        raise CallError(_("cannot parse call `{text}`: {msg}").format(text=text, msg=e.msg)) from None
    if not isinstance(tree, ast.Call):
        raise CallError(_("`{text}` is not a call like `Conv2d(3, 64, 3)`").format(text=text))
    f = tree.func
    if isinstance(f, ast.Attribute):     # nn.Conv2d(...), torch.nn.Conv2d(...)
        name = f.attr
    elif isinstance(f, ast.Name):
        name = f.id
    else:
        raise CallError(_("cannot read the op name in `{text}`").format(text=text))
    pos = [_value(a) for a in tree.args]
    kw = {k.arg: _value(k.value) for k in tree.keywords if k.arg}
    return name, pos, kw
