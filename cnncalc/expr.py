"""A small, safe expression language (no ``eval``).

Used for ``${...}`` in specs and for the formulas behind every number.  Python's
``ast`` parses; this module walks the tree and allows only literals, names,
arithmetic, comparisons, boolean logic, conditional expressions, list indexing,
a handful of functions and the shape attributes of ``input``.  ``/`` is exact
(fractions), so ``floor((224 + 2*3 - 7) / 2) + 1`` never suffers rounding.
"""
from __future__ import annotations

import ast
import math
import operator
from fractions import Fraction

from .i18n import _
from . import limits


class ExprError(Exception):
    def __init__(self, message: str, name: str | None = None, candidates=()):
        super().__init__(message)
        self.name = name
        self.candidates = list(candidates)


def make_divisible(v, d=8, min_value=None):
    """MobileNet's channel rounding (torchvision.models._utils._make_divisible)."""
    if min_value is None:
        min_value = d
    new_v = max(min_value, int(v + d / 2) // d * d)
    if new_v < 0.9 * v:
        new_v += d
    return new_v


def _ceil(x):
    return math.ceil(x)


def _floor(x):
    return math.floor(x)


def _round(x, n=None):
    return round(x) if n is None else round(float(x), n)


FUNCTIONS = {
    "min": min,
    "max": max,
    "round": _round,
    "int": lambda x: int(x),
    "ceil": _ceil,
    "floor": _floor,
    "make_divisible": make_divisible,
    "abs": abs,
    "prod": math.prod,
}

def _bits(v) -> int:
    if isinstance(v, bool):
        return 1
    if isinstance(v, int):
        return v.bit_length()
    if isinstance(v, Fraction):
        return max(v.numerator.bit_length(), v.denominator.bit_length())
    return 0


def _size(v) -> int:
    """Items in a string or list, nested lists counted whole (a list of a list repeated is no cheaper)."""
    if isinstance(v, str):
        return len(v)
    if isinstance(v, (list, tuple)):
        return len(v) + sum(_size(x) for x in v if isinstance(x, (list, tuple)))
    return 0


def _too_big_int(what: str):
    raise LimitError(f"{what}: the result would have more than {limits.get('int_bits'):,} bits", "int_bits")


def _mul(a, b):
    bound = limits.get("int_bits")
    if _bits(a) + _bits(b) > bound:
        _too_big_int("multiplication")
    if isinstance(a, (str, list, tuple)) or isinstance(b, (str, list, tuple)):
        seq, n = (a, b) if isinstance(a, (str, list, tuple)) else (b, a)
        if isinstance(n, int) and max(_size(seq), 1) * max(n, 0) > limits.get("seq_len"):
            raise LimitError(f"repetition: the result would hold {_size(seq) * n:,} items", "seq_len")
    return operator.mul(a, b)


def _add(a, b):
    if _size(a) + _size(b) > limits.get("seq_len"):
        raise LimitError(f"concatenation: the result would hold {_size(a) + _size(b):,} items", "seq_len")
    return operator.add(a, b)


def _pow(a, b):
    bound = limits.get("int_bits")
    if isinstance(b, (int, Fraction)) and not isinstance(b, bool) and isinstance(a, (int, Fraction)) \
            and abs(a) > 1 and _bits(a) * abs(b) > bound + _bits(a):
        _too_big_int("power")
    if isinstance(b, (int, Fraction)) and isinstance(a, (int, Fraction)) and b < 0 and a == 0:
        raise ExprError(_("zero to a negative power"))
    return operator.pow(a, b)


_BIN = {
    ast.Add: _add,
    ast.Sub: operator.sub,
    ast.Mult: _mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _pow,
}
_CMP = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


class ShapeView:
    """What ``input`` means inside an expression: a tensor shape without batch."""

    ATTRS = ("c", "h", "w", "l", "d", "shape", "f")

    def __init__(self, shape):
        self.shape = list(shape)

    def attr(self, name: str):
        s = self.shape
        if name == "shape":
            return list(s)
        if name == "c":
            return s[0]
        if name == "f":
            return s[-1]
        spatial = s[1:]
        if name == "l" and len(spatial) == 1:
            return spatial[0]
        if name == "h" and len(spatial) >= 2:
            return spatial[-2]
        if name == "w" and len(spatial) >= 2:
            return spatial[-1]
        if name == "d" and len(spatial) == 3:
            return spatial[0]
        raise ExprError(_("`input.{name}` is not defined for an input of shape {shape}").format(name=name, shape=s))


class LimitError(ExprError):
    """An expression asked for more than a bound allows (see :mod:`cnncalc.limits`)."""

    def __init__(self, message: str, bound: str):
        super().__init__(message)
        self.bound = bound


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 3] + "..."


def parse(text: str) -> ast.expr:
    if len(text) > limits.get("expr_chars"):
        raise LimitError(f"the expression `{_short(text)}` is {len(text):,} characters long", "expr_chars")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        raise ExprError(_("cannot parse expression `{text}`: {problem}").format(text=_short(text), problem=e.msg)) from None
    except (MemoryError, RecursionError):
        raise LimitError(f"the expression `{_short(text)}` nests too deeply", "expr_depth") from None
    _check_depth(tree, text)
    return tree


def _check_depth(tree, text):
    """Refuse deep nesting before the recursive evaluator meets it (iteratively: no recursion here)."""
    bound = limits.get("expr_depth")
    stack = [(tree, 1)]
    while stack:
        node, d = stack.pop()
        if d > bound:
            raise LimitError(f"the expression `{_short(text)}` nests more than {bound} levels deep", "expr_depth")
        stack.extend((c, d + 1) for c in ast.iter_child_nodes(node))


def _norm(v):
    if isinstance(v, Fraction) and v.denominator == 1:
        return int(v)
    return v


def evaluate(node: ast.expr | str, env: dict, exact: bool = False):
    """Evaluate a parsed expression against ``env`` (name -> value)."""
    if isinstance(node, str):
        node = parse(node)
    try:
        v = _eval(node, env)
    except ExprError:
        raise
    except ZeroDivisionError:
        raise ExprError(_("division by zero")) from None
    except OverflowError as e:
        raise ExprError(f"the result is too large for a number ({e})") from None
    except (TypeError, ValueError) as e:
        raise ExprError(f"cannot compute this: {e}") from None
    except (MemoryError, RecursionError):
        raise LimitError("the expression needs too much memory or nests too deeply", "expr_depth") from None
    if isinstance(v, Fraction):
        if v.denominator == 1:
            return int(v)
        return v if exact else float(v)
    return v


def _eval(n, env):
    if isinstance(n, ast.Constant):
        if isinstance(n.value, (int, float, str, bool)) or n.value is None:
            return n.value
        raise ExprError(_("unsupported literal {value!r}").format(value=n.value))
    if isinstance(n, ast.Name):
        if n.id in env:
            return env[n.id]
        if n.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[n.id]
        raise ExprError(_("unknown variable `{name}`").format(name=n.id), n.id, list(env))
    if isinstance(n, ast.Attribute):
        base = n.value
        if isinstance(base, ast.Name) and isinstance(env.get(base.id), ShapeView):
            if n.attr not in ShapeView.ATTRS:
                raise ExprError(_("`{name}` has no attribute `{attr}`").format(name=base.id, attr=n.attr), n.attr, ShapeView.ATTRS)
            return env[base.id].attr(n.attr)
        raise ExprError(_("attribute access is only allowed on `input` (input.c, input.h, ...)"))
    if isinstance(n, ast.BinOp):
        a, b = _eval(n.left, env), _eval(n.right, env)
        if isinstance(n.op, ast.Div):
            if isinstance(a, (int, Fraction)) and isinstance(b, (int, Fraction)) and not isinstance(a, bool):
                if b == 0:
                    raise ExprError(_("division by zero"))
                if _bits(a) + _bits(b) > limits.get("int_bits"):
                    _too_big_int("division")
                return Fraction(a) / Fraction(b)
            if isinstance(b, (int, float, Fraction)) and b == 0:
                raise ExprError(_("division by zero"))
            return a / b
        op = _BIN.get(type(n.op))
        if op is None:
            raise ExprError(_("operator {op} is not allowed").format(op=type(n.op).__name__))
        if isinstance(n.op, (ast.FloorDiv, ast.Mod)) and _bits(a) + _bits(b) > limits.get("int_bits"):
            _too_big_int("division")
        try:
            return _norm(op(a, b))
        except ZeroDivisionError:
            raise ExprError(_("division by zero")) from None
        except TypeError as e:
            raise ExprError(str(e)) from None
        except OverflowError:
            raise ExprError(f"`{_short(ast.unparse(n))}` is too large for a floating-point number") from None
    if isinstance(n, ast.UnaryOp):
        v = _eval(n.operand, env)
        if isinstance(n.op, ast.USub):
            return -v
        if isinstance(n.op, ast.UAdd):
            return +v
        if isinstance(n.op, ast.Not):
            return not v
        raise ExprError(_("unsupported unary operator"))
    if isinstance(n, ast.BoolOp):
        if isinstance(n.op, ast.And):
            v = True
            for x in n.values:
                v = _eval(x, env)
                if not v:
                    return v
            return v
        v = False
        for x in n.values:
            v = _eval(x, env)
            if v:
                return v
        return v
    if isinstance(n, ast.Compare):
        left = _eval(n.left, env)
        for op, right_n in zip(n.ops, n.comparators):
            right = _eval(right_n, env)
            f = _CMP.get(type(op))
            if f is None:
                raise ExprError(_("unsupported comparison"))
            if not f(left, right):
                return False
            left = right
        return True
    if isinstance(n, ast.IfExp):
        return _eval(n.body, env) if _eval(n.test, env) else _eval(n.orelse, env)
    if isinstance(n, ast.Call):
        if not isinstance(n.func, ast.Name) or n.func.id not in FUNCTIONS:
            name = n.func.id if isinstance(n.func, ast.Name) else "?"
            raise ExprError(_("unknown function `{name}`").format(name=name), name, list(FUNCTIONS))
        args = [_eval(a, env) for a in n.args]
        kwargs = {k.arg: _eval(k.value, env) for k in n.keywords}
        try:
            return _norm(FUNCTIONS[n.func.id](*args, **kwargs))
        except (TypeError, ValueError, OverflowError, ZeroDivisionError) as e:
            raise ExprError(f"{n.func.id}(): {e}") from None
    if isinstance(n, (ast.List, ast.Tuple)):
        return [_eval(x, env) for x in n.elts]
    if isinstance(n, ast.Subscript):
        seq = _eval(n.value, env)
        idx = _eval(n.slice, env)
        try:
            return seq[idx]
        except (IndexError, TypeError, KeyError) as e:
            raise ExprError(f"bad index: {e}") from None
    raise ExprError(_("`{code}` is not allowed in an expression").format(code=ast.unparse(n)))


class _Subst(ast.NodeTransformer):
    def __init__(self, env):
        self.env = env

    def visit_Name(self, node):
        if node.id in self.env:
            v = self.env[node.id]
            if isinstance(v, bool):
                v = int(v)
            if isinstance(v, Fraction):
                return ast.copy_location(ast.parse(f"({v.numerator}/{v.denominator})", mode="eval").body, node)
            if isinstance(v, (int, float)) and v < 0:
                return ast.copy_location(ast.UnaryOp(ast.USub(), ast.Constant(-v)), node)
            return ast.copy_location(ast.Constant(v), node)
        return node


def substitute(formula: str, env: dict) -> str:
    """The formula with every bound name replaced by its value."""
    tree = parse(formula)
    tree = _Subst(env).visit(tree)
    return ast.unparse(tree)
