"""What a node can be checked for without its input: its op name and its arguments.

A node that reads the output of a node with an error gets no shapes: any shape error it showed
would follow from the first one (spec-format section 9: "independent errors are all collected").
Its op name and its argument names and types do not depend on what it reads, so they are still
checked, as a compiler goes on after the first error: three typos in three nodes are three errors in
one run. The loader says, in a note, which nodes were checked this way only.
"""
from __future__ import annotations

from ..errors import Diagnostic, SpecError, did_you_mean
from ..kinds import REGISTRY, KindError
from ..kinds.base import bind_args, check_types
from ..i18n import _, ngettext

STRUCTURAL = ("Sequential", "parallel")


def check_unreachable(loader, item, loc, env, path) -> int:
    """Record in ``loader.errors`` the op-name and argument errors of ``item`` (and of the nodes of a
    Sequential or parallel body); return how many nodes were looked at."""
    try:
        spec = loader.parse_item(item, loc)
        op = spec["op"]
        if op in STRUCTURAL:
            return 1 + sum(check_unreachable(loader, b, bloc, env, f"{path}.{name}")
                           for name, b, bloc in _body(spec.get("body"), spec["loc"]))
        if op == "share" or op in loader.blocks:
            return 1     # a block's own nodes are checked where its definition is first expanded
        cls = REGISTRY.get(op)
        if cls is None:
            raise SpecError(_("unknown op `{op}`").format(op=op), spec["loc"], did_you_mean(op, list(REGISTRY) + list(loader.blocks)),
                            code="unknown-op")
        pos = [loader.subst(x, env, loader.arg_loc(spec, None)) for x in spec["pos"]]
        kw = {str(k): loader.subst(x, env, loader.arg_loc(spec, k)) for k, x in spec["kw"].items()}
        try:
            cls.check_args(op, check_types(cls, op, bind_args(cls, op, pos, kw)))
        except KindError as e:
            raise SpecError(_("{op} '{node}': {message}").format(op=op, node=path, message=e), loader.arg_loc(spec, e.arg, cls) if e.arg else spec["loc"],
                            e.hints, node=path, code=e.code) from None
    except SpecError as e:
        loader.errors.append(e.diagnostic)
    except Exception:  # noqa: BLE001 - a best-effort check: whatever it cannot judge, it leaves alone
        pass
    return 1


def unreachable_note(loc, count: int, first: str) -> Diagnostic:
    if count == 1:
        text = _("`{first}` reads the output of a node with an error: its op name and arguments were checked, its "
                 "shapes were not (a shape error there would follow from the first one)").format(first=first)
    elif count == 2:
        text = _("`{first}` and the node after it read the output of a node with an error: their op names and "
                 "arguments were checked, their shapes were not (a shape error there would follow from the first "
                 "one)").format(first=first)
    else:
        text = ngettext("`{first}` and the {count} node after it read the output of a node with an error: their op "
                        "names and arguments were checked, their shapes were not (a shape error there would follow "
                        "from the first one)",
                        "`{first}` and the {count} nodes after it read the output of a node with an error: their op "
                        "names and arguments were checked, their shapes were not (a shape error there would follow "
                        "from the first one)", count - 1).format(first=first, count=count - 1)
    return Diagnostic("note", text, loc)


def _body(body, loc):
    if isinstance(body, dict):
        for k, b in body.items():
            for i, x in enumerate(b if isinstance(b, list) else [b]):
                yield f"{k}.{i}", x, _iloc(b, i, body.kloc(k) if hasattr(body, "kloc") else loc)
    elif isinstance(body, list):
        for i, x in enumerate(body):
            yield str(i), x, _iloc(body, i, loc)


def _iloc(lst, i, default):
    try:
        return lst.iloc(i)
    except (AttributeError, IndexError, TypeError):
        return default
