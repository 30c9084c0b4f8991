"""YAML 1.2 loading that keeps every position and refuses duplicate keys.

PyYAML implements YAML 1.1 (where ``no`` is false and ``1e-5`` is a string), so
we let it compose the node tree and resolve scalars ourselves with the YAML 1.2
core schema.  Mappings and sequences become :class:`YMap` / :class:`YList`,
which remember where each key and value stood.
"""
from __future__ import annotations

import math
import re

import yaml

from .. import limits
from ..errors import Loc, SpecError, SpecErrors, Diagnostic
from ..i18n import _


class YMap(dict):
    loc: Loc
    key_locs: dict
    val_locs: dict

    def kloc(self, key) -> Loc:
        return self.key_locs.get(key, self.loc)

    def vloc(self, key) -> Loc:
        return self.val_locs.get(key, self.loc)


class YList(list):
    loc: Loc
    locs: list

    def iloc(self, i) -> Loc:
        return self.locs[i] if 0 <= i < len(self.locs) else self.loc


class YStr(str):
    """A string scalar that remembers where it stood and whether it was quoted."""

    loc: Loc
    quoted: bool = False


_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(inf|Inf|INF)$")
_NAN = re.compile(r"^\.(nan|NaN|NAN)$")


def resolve_scalar(text: str, plain: bool):
    """YAML 1.2 core schema resolution of one scalar."""
    if not plain:
        return text
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.match(text):
        return int(text)
    if _OCT.match(text):
        return int(text[2:], 8)
    if _HEX.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text


def _loc(file: str, mark) -> Loc:
    return Loc(file, mark.line + 1, mark.column + 1)


_STD = "tag:yaml.org,2002:"
_RESOLVER = yaml.resolver.Resolver()
_TYPES = {"int": (int,), "float": (float, int), "bool": (bool,), "null": (type(None),)}


def _tag_name(tag: str) -> str:
    return "!!" + tag[len(_STD):] if tag.startswith(_STD) else tag


def _implicit_tag(node) -> str:
    """The tag the node would have had without an explicit one."""
    if isinstance(node, yaml.ScalarNode):
        if node.style in (None, ""):
            return _RESOLVER.resolve(yaml.ScalarNode, node.value, (True, False))
        return _STD + "str"
    return _STD + ("seq" if isinstance(node, yaml.SequenceNode) else "map")


_TAG_AT = re.compile(r"^(&\S+\s+)?!")


def _tag_written(node, lines) -> bool:
    """A plain scalar whose YAML 1.1 type (timestamp, `yes`) equals its explicit tag: was a tag written?
    (Its tag alone cannot tell `!!timestamp 2001-12-14` from `2001-12-14`.)"""
    if not isinstance(node, yaml.ScalarNode) or node.style not in (None, "") or node.tag == _STD + "str":
        return False
    m = node.start_mark
    if not 0 <= m.line < len(lines):
        return False
    return bool(_TAG_AT.match(lines[m.line][m.column:]))


def _bad_tag(node, file, errors):
    tag = _tag_name(node.tag)
    hints = [_("YAML tags other than !!str, !!int, !!float, !!bool, !!null, !!seq and !!map are not "
               "part of a spec")]
    if "python/" in node.tag:
        hints = [_("a spec never constructs Python objects; tags like this are refused, never run")]
    errors.append(Diagnostic("error", _("unsupported YAML tag `{tag}`").format(tag=tag), _loc(file, node.start_mark), hints,
                             code="yaml-tag"))


def _tagged_scalar(node, file, errors):
    """A scalar with an explicit standard tag: honour it (`!!str 4` is the string "4")."""
    kind = node.tag[len(_STD):]
    if kind == "str":
        s = YStr(node.value)
        s.loc = _loc(file, node.start_mark)
        s.quoted = True
        return s
    v = resolve_scalar(node.value, True)
    if kind in _TYPES and isinstance(v, _TYPES[kind]) and not (kind != "bool" and isinstance(v, bool)):
        return float(v) if kind == "float" else v
    errors.append(Diagnostic("error", _("`{tag_name} {value}`: `{value}` is not a valid {kind}").format(tag_name=_tag_name(node.tag), value=node.value, kind=kind),
                             _loc(file, node.start_mark), code="yaml-tag"))
    return None


def count_values(text: str, file: str, loader) -> int:
    """Values in the document once aliases are expanded, counted from the event stream before any
    node is built (nor any alias expanded).

    An anchor's size is remembered when it closes and an alias adds that size, so a "billion laughs"
    document is refused after reading it once, in time proportional to its length; a large plain
    document stops at the bound.  An alias to a value that is still open (a recursive alias) is
    refused too."""
    bound = limits.get("yaml_nodes")
    sizes: dict = {}
    stack: list = []        # [count, anchor] per open collection
    open_anchors: set = set()
    total = 0

    def over(ev, n):
        raise SpecErrors([Diagnostic(
            "error", _("the YAML holds more than {bound:,} values").format(bound=bound) + (_(" once its aliases (`*name`) are expanded")
                                                                      if n else ""),
            _loc(file, ev.start_mark), [limits.hint("yaml_nodes")], code="limit")])

    for ev in yaml.parse(text, Loader=loader):
        if isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            stack.append([1, ev.anchor])
            if ev.anchor:
                open_anchors.add(ev.anchor)
            continue
        if isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            n, anchor = stack.pop()
            if anchor:
                sizes[anchor] = n
                open_anchors.discard(anchor)
            via_alias = False
        elif isinstance(ev, yaml.ScalarEvent):
            n, via_alias = 1, False
            if ev.anchor:
                sizes[ev.anchor] = 1
        elif isinstance(ev, yaml.AliasEvent):
            if ev.anchor in open_anchors:
                raise SpecErrors([Diagnostic("error", _("the alias `*{anchor}` refers to a value that contains it (a recursive alias)").format(anchor=ev.anchor), _loc(file, ev.start_mark),
                                             code="yaml-alias")])
            n, via_alias = sizes.get(ev.anchor, 1), True
        else:
            continue
        if stack:
            stack[-1][0] += n
            if stack[-1][0] > bound:
                over(ev, via_alias)
        else:
            total += n
            if total > bound:
                over(ev, via_alias)
    return total


def _children(node):
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [x for kv in node.value for x in kv]
    return ()


def _convert(node, file: str, errors: list, lines=()):
    loc = _loc(file, node.start_mark)
    if node.tag != _implicit_tag(node) or _tag_written(node, lines):
        std = node.tag.startswith(_STD) and node.tag[len(_STD):] in ("str", "int", "float", "bool", "null",
                                                                     "seq", "map")
        if not std:
            _bad_tag(node, file, errors)
        elif isinstance(node, yaml.ScalarNode):
            return _tagged_scalar(node, file, errors)
        elif node.tag[len(_STD):] != ("seq" if isinstance(node, yaml.SequenceNode) else "map"):
            errors.append(Diagnostic("error", _("`{tag_name}` on a {value}").format(tag_name=_tag_name(node.tag), value=_("list") if isinstance(node, yaml.SequenceNode) else _("mapping")),
                                     loc, code="yaml-tag"))
    if isinstance(node, yaml.ScalarNode):
        plain = node.style is None or node.style == ""
        if plain and len(node.value) > 400 and _INT.match(node.value):
            errors.append(Diagnostic("error", _("a {n_value:,}-digit integer is not a size any layer has").format(n_value=len(node.value)),
                                     loc, code="limit"))
            return None
        v = resolve_scalar(node.value, plain)
        if isinstance(v, str):
            s = YStr(v)
            s.loc = loc
            s.quoted = not plain
            return s
        return v
    if isinstance(node, yaml.SequenceNode):
        out = YList()
        out.loc = loc
        out.locs = []
        for item in node.value:
            out.append(_convert(item, file, errors, lines))
            out.locs.append(_loc(file, item.start_mark))
        return out
    if isinstance(node, yaml.MappingNode):
        out = YMap()
        out.loc = loc
        out.key_locs = {}
        out.val_locs = {}
        for knode, vnode in node.value:
            key = _convert(knode, file, errors, lines)
            if isinstance(key, (YMap, YList)):
                errors.append(Diagnostic("error", _("a mapping key must be a plain name"),
                                         _loc(file, knode.start_mark)))
                continue
            if key is None:
                key = YStr("")
                key.loc = _loc(file, knode.start_mark)
            elif not isinstance(key, str):
                errors.append(Diagnostic("error", _("a key must be a name, not the {name} `{key!r}`").format(name=type(key).__name__, key=key),
                                         _loc(file, knode.start_mark),
                                         [_("quote it if it is meant as a name: '{value}'").format(value=knode.value)], code="yaml-key"))
                continue
            kloc = _loc(file, knode.start_mark)
            if key in out:
                first = out.key_locs[key]
                errors.append(Diagnostic(
                    "error", _("duplicate key `{key}` (first given at line {line})").format(key=key, line=first.line), kloc,
                    [_("remove one of the two `{key}` entries").format(key=key)], code="duplicate-key"))
                continue
            out[key] = _convert(vnode, file, errors, lines)
            out.key_locs[key] = kloc
            out.val_locs[key] = _loc(file, vnode.start_mark)
        return out
    raise SpecError(_("unsupported YAML node {name}").format(name=type(node).__name__), loc)  # aliases resolved by compose


def _syntax_hints(text: str, line: int, problem: str) -> tuple[int, int, list[str], str]:
    """Targeted hints for the common YAML traps.  Returns (line, col, hints, message)."""
    lines = text.splitlines()
    hints: list[str] = []
    message = _("YAML syntax error: {problem}").format(problem=problem)
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    # Trap 1: a bare op followed by more keys: `- BatchNorm2d` then `name: bn1`.
    if "mapping values are not allowed" in problem or "could not find expected ':'" in problem:
        for back in range(line - 1, max(0, line - 4), -1):
            prev = lines[back - 1] if back - 1 < len(lines) else ""
            m = re.match(r"^(\s*)-\s+([A-Za-z_][\w.]*)\s*(#.*)?$", prev)
            if m:
                op = m.group(2)
                col = len(m.group(1)) + 3
                hints.append(_("a bare op followed by more keys needs a colon: write `- {op}:`").format(op=op))
                return back, col, hints, _("YAML syntax error: `{op}` is followed by more keys but has no colon").format(op=op)
    # Trap 2: an unquoted ${...} inside a flow collection.
    if "${" in here and ("{" in here.split("${")[0] or "[" in here.split("${")[0]):
        col = here.index("${") + 1
        hints.append(_("inside `{...}` or `[...]` an expression must be quoted: '${...}'"))
        return line, col, hints, message
    return line, 0, hints, message


def load_yaml(text: str, file: str):
    """Parse YAML text into YMap/YList/scalars; raise SpecErrors with positions."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml: ~10x faster, same marks
    try:
        count_values(text, file, loader)
        node = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        col = mark.column + 1 if mark else 1
        problem = e.problem or str(e)
        hline, hcol, hints, message = _syntax_hints(text, line, problem)
        if hline != line or hcol:
            line, col = hline, (hcol or col)
        raise SpecErrors([Diagnostic("error", message, Loc(file, line, col), hints,
                                     code="yaml-syntax")]) from None
    except yaml.YAMLError as e:  # pragma: no cover - defensive
        raise SpecErrors([Diagnostic("error", _("YAML error: {error}").format(error=e), Loc(file, 1, 1))]) from None
    if node is None:
        raise SpecErrors([Diagnostic("error", _("the file is empty"), Loc(file, 1, 1),
                                     [_("a spec needs at least `input:` and `layers:`")])])
    errors: list = []
    try:
        data = _convert(node, file, errors, text.splitlines())
    except RecursionError:
        raise SpecErrors([Diagnostic("error", _("the YAML nests too deeply"), Loc(file, 1, 1),
                                     [_("a spec nests a few levels deep; this one nests hundreds")], code="limit")]) from None
    return data, errors
