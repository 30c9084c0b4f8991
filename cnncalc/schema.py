"""A JSON Schema of the spec format, generated from the kind registry and the loader's key lists.

Editors use it for completion and checking (a first line
``# yaml-language-server: $schema=cnncalc.schema.json``); ``cnncalc schema`` prints it, and the
package ships it as ``cnncalc/spec.schema.json`` (a test fails when that file is stale:
regenerate it with ``python -m cnncalc.schema cnncalc/spec.schema.json``).

The schema checks structure and names: top-level keys, node forms, reserved keys, every op's
argument names and their types, ``expect`` keys, conventions, dtypes. It cannot know the names a
spec defines itself (blocks, nodes, variables), so a mapping whose key is no registered op is
accepted as a block call, and shapes, expressions and references are left to cnncalc, which
checks them all with a position and a hint.

No torch is imported here.
"""
from __future__ import annotations

import json
import sys
from importlib import resources

from . import conventions as conv
from .kinds import REGISTRY
from .kinds.base import REQUIRED

SCHEMA_ID = "https://cnncalc.invalid/spec-v1.schema.json"
REGENERATE = "python -m cnncalc.schema cnncalc/spec.schema.json"

# the loader's own lists (kept in cnncalc/spec/loader.py, read here so they cannot differ)
from .spec.loader import DTYPES, EXPECT_KEYS, RESERVED, TOP_KEYS  # noqa: E402

STRUCTURAL = ("Sequential", "parallel", "share")
EXPR = {"type": "string", "pattern": r"^\s*\$", "description": "a variable ($name) or an expression (${...})"}
INT = {"anyOf": [{"type": "integer"}, EXPR]}
NUMBER = {"anyOf": [{"type": "number"}, EXPR]}
BOOL = {"anyOf": [{"type": "boolean"}, EXPR]}
INTS = {"anyOf": [{"type": "integer"}, EXPR, {"type": "array", "items": INT}]}


def _arg_schema(arg) -> dict:
    t = arg.type
    if t == "int":
        s = dict(INT)
    elif t == "float":
        s = dict(NUMBER)
    elif t == "bool":
        s = dict(BOOL)
    elif t == "str":
        s = {"anyOf": [{"enum": list(arg.choices)} if arg.choices else {"type": "string"}, EXPR]}
    elif t == "optint":
        s = {"anyOf": [{"type": "integer"}, {"type": "null"}, EXPR]}
    elif t in ("ints", "size", "shape"):
        s = dict(INTS)
    else:
        s = {}
    if arg.default is REQUIRED:
        s["description"] = "inferred from the input when left out" if arg.infer else "required"
    else:
        s["default"] = list(arg.default) if isinstance(arg.default, tuple) else arg.default
    return s


def _op_args(op: str) -> dict:
    cls = REGISTRY[op]
    sig = [a for a in cls.SIG if a.name not in ("device", "dtype")]
    kw = {"type": "object", "properties": {a.name: _arg_schema(a) for a in sig}, "additionalProperties": False}
    return {
        "description": f"{cls.doc or op} (see docs/ops.md)",
        "anyOf": [
            kw,
            {"type": "array", "maxItems": len(sig), "description": "positional arguments, in torch's order: "
                                                                   + ", ".join(a.name for a in sig)},
            {"type": ["integer", "number", "string", "boolean"], "description": "one positional argument"},
            {"type": "null", "description": "no arguments"},
        ],
    }


def _reserved_refs() -> dict:
    return {k: {"$ref": f"#/definitions/reserved_{k}"} for k in RESERVED}


def _reserved() -> dict:
    ref = {"anyOf": [{"type": "string"}, {"type": "integer", "maximum": -1}]}
    props = {
        # letters of any script: the class is written by exclusion, since `\w` is ASCII in editors' regexes
        "name": {"type": "string", "pattern": r"^[^\s.:$@#,\[\]{}()'\"`!?*&|<>=+/\\%^~;]+$",
                 "description": "the node's name (letters of any script, digits, _ and -; no dots)"},
        "from": {"anyOf": [ref, {"type": "array", "items": ref}],
                 "description": "input(s): a name, name:k, a negative index, or a list of them"},
        "repeat": {"anyOf": [{"type": "integer", "minimum": 1}, EXPR,
                             {"type": "object", "properties": {"n": INT, "first": {"type": "object"}},
                              "required": ["n"], "additionalProperties": False}],
                   "description": "n copies in sequence, named name.0 ... name.{n-1}"},
        "share": {"type": "string", "description": "call the module instance of this node again"},
        "when": {"anyOf": [{"type": "boolean"}, {"type": "string"}],
                 "description": "when false, the node is the identity of its first input"},
        "expect": {"$ref": "#/definitions/expect"},
        "merge": {"enum": ["cat", "add", "mul", "none"], "description": "how a `parallel` merges its branches"},
        "doc": {"type": "string"},
    }
    assert set(props) == set(RESERVED), "the schema's reserved keys differ from the loader's"
    return props


def _expect() -> dict:
    num = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^\s*[0-9.]+\s*[A-Za-z]*\s*$"}]}
    shape = {"type": "array", "items": INT}
    props = {k: num for k in EXPECT_KEYS}
    props["output"] = shape
    props["rf"] = {"anyOf": [num, shape]}
    props["rf_stride"] = {"anyOf": [num, shape]}
    props["rf_padding"] = {"anyOf": [num, shape]}
    props["tol"] = {"type": "number", "description": "relative tolerance"}
    return {"type": "object", "properties": props, "additionalProperties": False,
            "description": "expected figures, checked on every run"}


def generate() -> dict:
    reserved = _reserved_refs()
    ops = sorted(REGISTRY)
    node_forms = []
    for op in ops:
        node_forms.append({"type": "object", "required": [op],
                           "properties": {op: _op_args(op), **reserved}, "additionalProperties": False})
    node_forms.append({"type": "object", "required": ["Sequential"], "additionalProperties": False,
                       "properties": {"Sequential": {"$ref": "#/definitions/layers"}, **reserved}})
    branches = {"$ref": "#/definitions/layers"}
    node_forms.append({"type": "object", "required": ["parallel"], "additionalProperties": False,
                       "properties": {"parallel": {"anyOf": [{"type": "array", "items": branches},
                                                             {"type": "object", "additionalProperties": branches}]},
                                      **reserved}})
    node_forms.append({"type": "object", "required": ["share"], "additionalProperties": False,
                       "properties": reserved})
    # a block call, or a call string as the key: any key that is neither an op nor reserved
    node_forms.append({"type": "object", "minProperties": 1,
                       "propertyNames": {"not": {"enum": ops + ["Sequential", "parallel"]}},
                       "properties": {**reserved, "share": False}})
    node = {"anyOf": [{"type": "string", "description": "a bare op or block name, or a call string"},
                      *node_forms]}
    shape = {"type": "array", "items": INT, "minItems": 1}
    conventions = {"anyOf": [
        {"enum": list(conv.PRESETS)},
        {"type": "object", "additionalProperties": False,
         "properties": {"preset": {"enum": list(conv.PRESETS)}, "flops_per_mac": {"type": "integer"},
                        "only_macs": {"type": "boolean"}, "bytes_per_element": {"type": "integer"},
                        "costs": {"type": "object", "additionalProperties": {"type": ["number", "null"]}}}},
    ]}
    assert set(conventions["anyOf"][1]["properties"]) == set(conv.SWITCHES)
    top = {
        "cnncalc": {"const": 1, "description": "the format version"},
        "name": {"type": "string"},
        "input": {**shape, "description": "the input's shape, batch excluded: [C, H, W]"},
        "inputs": {"type": "object", "additionalProperties": shape, "minProperties": 1},
        "batch": INT,
        "dtype": {"enum": list(DTYPES)},
        "vars": {"type": "object"},
        "blocks": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["layers"], "additionalProperties": False,
            "properties": {"params": {"type": "object"}, "inputs": {"type": "array", "items": {"type": "string"}},
                           "layers": {"$ref": "#/definitions/layers"},
                           "outputs": {"type": "array", "items": {"type": "string"}}, "doc": {"type": "string"}}}},
        "layers": {"$ref": "#/definitions/layers"},
        "outputs": {"type": "array", "items": {"type": "string"}},
        "expect": {"$ref": "#/definitions/expect"},
        "conventions": conventions,
    }
    assert set(top) == set(TOP_KEYS), "the schema's top-level keys differ from the loader's"
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "cnncalc network spec, version 1",
        "description": "A network described the way a PyTorch user thinks of it; see docs/spec-format.md.",
        "type": "object",
        "required": ["layers"],
        "anyOf": [{"required": ["input"]}, {"required": ["inputs"]}],
        "properties": top,
        "additionalProperties": False,
        "definitions": {
            "layers": {"type": "array", "items": {"$ref": "#/definitions/node"}},
            "node": node,
            "expect": _expect(),
            **{f"reserved_{k}": v for k, v in _reserved().items()},
        },
    }


def dumps() -> str:
    return json.dumps(generate(), separators=(",", ":")) + "\n"


def shipped() -> str:
    """The schema file shipped in the package."""
    return resources.files(__package__).joinpath("spec.schema.json").read_text(encoding="utf-8")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    text = dumps()
    if argv:
        with open(argv[0], "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
