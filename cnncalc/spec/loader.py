"""From a spec (YAML, version 1) to a layer graph.

Expansion and shape inference go together: `in_channels` is inferred from the
input, `${input.c}` reads the block input's shape, and every node's shapes are
known the moment it is created.  Errors are collected (like a compiler) with
their `file:line:col`; a node that fails poisons only what depends on it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import conventions as conventions_mod
from .. import expr as X
from ..core.dtypes import DTYPES  # noqa: F401  (the dtypes a spec may name; imported from here too)
from .. import limits
from ..core.expect_input import question_changes
from ..core.graph import Expect, Graph
from ..errors import Diagnostic, Loc, SpecError, SpecErrors, did_you_mean
from ..kinds import REGISTRY, KindError
from ..kinds.base import FOREIGN_OPS, MERGE_OPS, bind_args, check_types
from .callstr import CallError, VarRef, looks_like_call, parse_call, split_prefix
from .static_check import check_unreachable, unreachable_note
from .yamlload import YList, YMap, load_yaml
from ..i18n import _

RESERVED = ("name", "from", "repeat", "share", "when", "expect", "merge", "doc")
TOP_KEYS = ("cnncalc", "name", "input", "inputs", "batch", "dtype", "vars", "blocks", "layers", "outputs",
            "expect", "conventions")
EXPECT_KEYS = ("output", "params", "trainable_params", "buffers", "macs", "flops", "rf", "rf_stride",
               "rf_padding", "activations", "memory", "saved", "bwd_flops", "tol")
STRUCTURAL = ("Sequential", "parallel")


class OverLimit(Exception):
    """A resource bound was exceeded: stop expanding at once (not one error per remaining copy)."""

    def __init__(self, diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class Poison(Exception):
    """Raised when a node's input failed earlier: skip quietly (its error is already reported)."""


class PoisonedInput(Poison):
    """The node itself reads a failed node: its names and arguments are still checked (static_check)."""


@dataclass
class Value:
    refs: list                     # [(node id, output index)]; several for multi-output nodes
    node: str = ""                 # name for messages

    def single(self, what: str, loc):
        if len(self.refs) != 1:
            raise SpecError(_("`{what}` has {n_refs} outputs; pick one with `{what}:0` ... `{what}:{n_refs2}`").format(what=what, n_refs=len(self.refs), n_refs2=len(self.refs) - 1), loc)
        return self.refs[0]


@dataclass
class Scope:
    names: dict
    parent: "Scope | None"
    env: dict                       # variables for expressions
    prefix: str                     # path prefix of nodes created here
    module_prefix: str              # path prefix for module identities (differs inside a `share`)
    history: list = field(default_factory=list)   # values of the list being expanded (for from: -1)

    def lookup(self, name):
        s = self
        while s is not None:
            if name in s.names:
                return s.names[name]
            s = s.parent
        return None

    def all_names(self):
        out, s = [], self
        while s is not None:
            out += list(s.names)
            s = s.parent
        return out


def join(prefix, name):
    return f"{prefix}.{name}" if prefix else str(name)


def _one(t):
    """(1, 1) -> 1, (3, 1) -> [3, 1]: an argument as a user would write it."""
    t = tuple(t)
    return t[0] if len(set(t)) == 1 else list(t)


class Loader:
    def __init__(self, text: str, file: str, overrides: dict | None = None, batch: int | None = None,
                 input_override=None, convention: str | None = None, dtype: str | None = None):
        self.text = text
        self.file = file
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.overrides = overrides or {}
        self.batch_override = batch
        self.input_override = input_override
        self.convention_override = convention
        self.dtype_override = dtype
        self.recipes: dict = {}     # full path -> (item, scope, path) for `share`
        self.block_stack: list = []

    # ---------------------------------------------------------------- errors
    def err(self, message, loc, hints=(), node=None, code=None):
        self.errors.append(Diagnostic("error", message, loc, list(hints), node, code))

    def warn(self, message, loc, hints=(), node=None, code=None):
        self.warnings.append(Diagnostic("warning", message, loc, list(hints), node, code))

    # ---------------------------------------------------------------- top level
    def load(self) -> Graph:
        data, yerrs = load_yaml(self.text, self.file)
        self.errors += yerrs
        floc = Loc(self.file, 1, 1)
        if not isinstance(data, YMap):
            raise SpecErrors([Diagnostic("error", _("a spec is a mapping with at least `input:` and `layers:`"),
                                         getattr(data, "loc", floc))])
        for k in data:
            if k not in TOP_KEYS:
                self.err(_("unknown top-level key `{k}`").format(k=k), data.kloc(k), did_you_mean(k, TOP_KEYS))
        ver = data.get("cnncalc")
        if ver is None:
            self.warn(_("no format version: add `cnncalc: 1`"), floc)
        elif ver != 1:
            self.err(_("unsupported format version {ver!r}; this cnncalc reads version 1").format(ver=ver), data.vloc("cnncalc"))
        name = str(data.get("name") or Path(self.file).stem)
        g = Graph(name=name, file=self.file)
        self.graph = g
        # batch, dtype, conventions
        batch = data.get("batch", 1)
        if self.batch_override is not None:
            batch = self.batch_override
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            self.err(_("`batch` must be a positive integer, got {batch!r}").format(batch=batch), data.vloc("batch"))
            batch = 1
        g.batch = batch
        g.spec_batch = data.get("batch", 1) if isinstance(data.get("batch", 1), int) else 1
        g.question = question_changes(data, self.input_override, self.overrides, self.dtype_override,
                                      self.convention_override)
        dtype = self.dtype_override or data.get("dtype", "float32")
        if dtype not in DTYPES:
            self.err(_("unknown dtype `{dtype}`").format(dtype=dtype), data.vloc("dtype"), did_you_mean(str(dtype), DTYPES))
            dtype = "float32"
        g.dtype = dtype
        g.conventions = self._conventions(data)
        # vars (+ --set)
        env = {}
        vars_ = data.get("vars") or {}
        if not isinstance(vars_, YMap) and vars_:
            self.err(_("`vars` must be a mapping of names to values"), data.vloc("vars"))
            vars_ = {}
        for k, v in vars_.items():
            env[str(k)] = v
        for k, v in self.overrides.items():
            if k not in env:
                self.err(_("--set {k}: no such variable in `vars`").format(k=k), floc, did_you_mean(k, list(env)))
            env[k] = v
        for k in list(env):
            try:
                env[k] = self.subst(env[k], env, vars_.vloc(k) if isinstance(vars_, YMap) else floc)
            except SpecError as e:
                self.errors.append(e.diagnostic)
        # blocks
        blocks = data.get("blocks") or {}
        if blocks and not isinstance(blocks, YMap):
            self.err(_("`blocks` must be a mapping of block names to definitions"), data.vloc("blocks"))
            blocks = {}
        self.blocks = blocks
        for bname, bdef in blocks.items():
            if bname in REGISTRY:
                self.err(_("block `{bname}` has the name of an op").format(bname=bname), blocks.kloc(bname))
            if not isinstance(bdef, YMap) or "layers" not in bdef:
                self.err(_("block `{bname}` needs `layers:`").format(bname=bname), blocks.kloc(bname))
            else:
                for k in bdef:
                    if k not in ("params", "inputs", "layers", "outputs", "doc"):
                        self.err(_("unknown key `{k}` in block `{bname}`").format(k=k, bname=bname), bdef.kloc(k),
                                 did_you_mean(k, ("params", "inputs", "layers", "outputs", "doc")))
        # inputs
        top = Scope({}, None, env, "", "")
        ins = self._inputs(data)
        for iname, shape, loc in ins:
            n = g.add(name=iname, op="input", kind=None, inputs=[], out_shapes=[tuple(shape)], module=iname, loc=loc)
            g.inputs.append(n.id)
            top.names[iname] = Value([(n.id, 0)], iname)
        if ins:
            top.env = dict(env, input=X.ShapeView(ins[0][1]))
            if "input" not in top.names:
                top.names["input"] = top.names[ins[0][0]]
        layers = data.get("layers")
        last = None
        if not isinstance(layers, YList) or not layers:
            self.err(_("`layers` must be a non-empty list of nodes"), data.kloc("layers") if "layers" in data else floc)
        elif len(layers) > limits.get("nodes"):
            raise OverLimit(Diagnostic("error", _("`layers` lists {n_layers:,} nodes, more than {nodes:,}").format(n_layers=len(layers), nodes=limits.get('nodes')), data.kloc("layers"), [limits.hint("nodes")],
                                       code="limit"))
        elif ins:
            first = top.names[ins[0][0]]
            last = self.expand_list(layers, top, first)
        # outputs
        outs = data.get("outputs")
        if outs is not None:
            outs_l = outs if isinstance(outs, list) else [outs]
            for i, o in enumerate(outs_l):
                loc = outs.iloc(i) if isinstance(outs, YList) else data.vloc("outputs")
                try:
                    v = self.resolve_ref(o, top, loc)
                    g.outputs += v.refs
                except SpecError as e:
                    self.errors.append(e.diagnostic)
                except Poison:
                    pass
        elif last is not None:
            g.outputs = list(last.refs)
        # top-level expect
        if "expect" in data:
            self.add_expect("total", "", list(range(len(g.nodes))), g.outputs[0] if g.outputs else None,
                            data["expect"], data.vloc("expect"), top.env)
        return g

    def _conventions(self, data):
        name = self.convention_override
        c = data.get("conventions")
        try:
            if name:
                if name not in conventions_mod.PRESETS:
                    raise SpecError(_("unknown convention `{name}`").format(name=name), None,
                                    [_("presets: {PRESETS}").format(PRESETS=', '.join(conventions_mod.PRESETS))])
                return conventions_mod.PRESETS[name]
            if c is None:
                return conventions_mod.PRESETS["default"]
            if isinstance(c, str):
                if c not in conventions_mod.PRESETS:
                    raise SpecError(_("unknown convention preset `{c}`").format(c=c), data.vloc("conventions"),
                                    did_you_mean(c, conventions_mod.PRESETS) + [_("presets: {PRESETS}").format(PRESETS=', '.join(conventions_mod.PRESETS))])
                return conventions_mod.PRESETS[c]
            if isinstance(c, YMap):
                for k in c:
                    if k not in conventions_mod.SWITCHES:
                        raise SpecError(_("unknown conventions switch `{k}`").format(k=k), c.kloc(k),
                                        did_you_mean(k, conventions_mod.SWITCHES))
                if "preset" in c and c["preset"] not in conventions_mod.PRESETS:
                    raise SpecError(_("unknown convention preset `{preset}`").format(preset=c['preset']), c.vloc("preset"),
                                    did_you_mean(str(c["preset"]), conventions_mod.PRESETS))
                return conventions_mod.from_mapping(c)
            raise SpecError(_("`conventions` must be a preset name or a mapping"), data.vloc("conventions"))
        except SpecError as e:
            if e.loc is None:
                raise
            self.errors.append(e.diagnostic)
            return conventions_mod.PRESETS["default"]

    def _inputs(self, data):
        out = []
        floc = Loc(self.file, 1, 1)
        if self.input_override:
            ov = self.input_override
            if isinstance(ov, dict):
                items = list(ov.items())
                declared = [str(k) for k in data["inputs"]] if isinstance(data.get("inputs"), YMap) else ["input"]
                for k, _v in items:
                    if k not in declared:
                        self.err(_("--input {k}=...: the spec has no input named `{k}`").format(k=k), floc,
                                 [_("its inputs: {declared}").format(declared=', '.join(declared))] + did_you_mean(k, declared))
                items = [(k, v) for k, v in items if k in declared]
            else:
                items = [("input", ov)]
            if "inputs" in data and isinstance(data["inputs"], YMap) and not isinstance(ov, dict):
                items = [(str(k), ov) for k in data["inputs"]]
            return [(k, tuple(v), floc) for k, v in items]
        if "input" in data and "inputs" in data:
            self.err(_("give either `input` or `inputs`, not both"), data.kloc("inputs"))
        if "inputs" in data:
            m = data["inputs"]
            if not isinstance(m, YMap) or not m:
                self.err(_("`inputs` must map names to shapes: `inputs: {left: [1, 105, 105]}`"), data.vloc("inputs"))
                return []
            for k, v in m.items():
                s = self._shape(v, m.vloc(k), str(k))
                if s:
                    out.append((str(k), s, m.kloc(k)))
            return out
        if "input" in data:
            s = self._shape(data["input"], data.vloc("input"), "input")
            return [("input", s, data.kloc("input"))] if s else []
        self.err(_("the spec has no `input:` (the input shape without batch, e.g. [3, 224, 224])"), floc,
                 [_("add `input: [C, H, W]`, or `inputs: {name: shape}` for several inputs")])
        return []

    def _shape(self, v, loc, what):
        if isinstance(v, int) and not isinstance(v, bool):
            v = [v]
        if not isinstance(v, list) or not v or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0
                                                        for x in v):
            self.err(_("`{what}` must be a shape: a list of positive integers without the batch, got {v}").format(what=what, v=X._short(repr(v))), loc)
            return None
        if len(v) > 8 or max(v) > limits.get("dim"):
            self.err(_("`{what}`: {v} is not the shape of a real input (at most 8 dimensions of at most {dim:,})").format(what=what, v=X._short(repr(v)), dim=limits.get('dim')), loc, [limits.hint("dim")], code="limit")
            return None
        return tuple(v)

    # ---------------------------------------------------------------- expressions
    _VAR = re.compile(r"^\$([A-Za-z_]\w*)$")
    _EXPR = re.compile(r"^\$\{(.*)\}$", re.S)
    _INTERP = re.compile(r"\$\{([^}]*)\}|\$([A-Za-z_]\w*)")

    def subst(self, v, env, loc):
        """Substitute `$var` and `${expr}` in a value (recursively)."""
        if isinstance(v, VarRef):
            return self._var(v.name, env, loc)
        if isinstance(v, str):
            sloc = getattr(v, "loc", loc)
            m = self._VAR.match(v)
            if m:
                return self._var(m.group(1), env, sloc)
            m = self._EXPR.match(v)
            if m:
                return self._eval(m.group(1), env, sloc)
            if "$" in v:
                return self._INTERP.sub(lambda mm: str(self._eval(mm.group(1), env, sloc) if mm.group(1) is not None
                                                       else self._var(mm.group(2), env, sloc)), v)
            return v
        if isinstance(v, YList):
            out = YList(self.subst(x, env, v.iloc(i)) for i, x in enumerate(v))
            out.loc, out.locs = v.loc, v.locs
            return out
        if isinstance(v, list):
            return [self.subst(x, env, loc) for x in v]
        if isinstance(v, YMap):
            out = YMap((k, self.subst(x, env, v.vloc(k))) for k, x in v.items())
            out.loc, out.key_locs, out.val_locs = v.loc, v.key_locs, v.val_locs
            return out
        if isinstance(v, dict):
            return {k: self.subst(x, env, loc) for k, x in v.items()}
        return v

    def _var(self, name, env, loc):
        if name in env:
            return env[name]
        raise SpecError(_("unknown variable `{name}`").format(name=name), loc, did_you_mean(name, [k for k in env if k != "input"]),
                        code="unknown-variable")

    def _eval(self, text, env, loc):
        try:
            return X.evaluate(text, env)
        except X.ExprError as e:
            hints = []
            if e.name and e.candidates:
                hints = did_you_mean(e.name, [c for c in e.candidates if c != "input"])
            if isinstance(e, X.LimitError):
                hints.append(limits.hint(e.bound))
            raise SpecError(_("in `${{{text}}}`: {error}").format(text=X._short(text), error=e), loc, hints, code="expression") from None

    # ---------------------------------------------------------------- references
    def resolve_ref(self, ref, scope: Scope, loc) -> Value:
        if isinstance(ref, bool) or ref is None:
            raise SpecError(_("`from:` takes a node name, `name:k` or a negative index, got {ref!r}").format(ref=ref), loc)
        if isinstance(ref, int):
            if ref >= 0:
                raise SpecError(_("`from: {ref}`: positive indices are not allowed").format(ref=ref), loc,
                                [_("use a node name, or a negative index counted back (-1 is the previous node)")])
            if -ref > len(scope.history):
                raise SpecError(_("`from: {ref}` reaches before the start of this list").format(ref=ref), loc)
            v = scope.history[ref]
            if v is None:
                raise PoisonedInput()
            return v
        ref = str(ref)
        idx = None
        m = re.match(r"^(.*):(\d+)$", ref)
        if m:
            ref, idx = m.group(1), int(m.group(2))
        v = scope.lookup(ref)
        if v is None:
            known = [n for n in scope.all_names() if not n.isdigit()]
            raise SpecError(_("unknown reference `{ref}`").format(ref=ref), getattr(ref, "loc", loc),
                            did_you_mean(ref, known) or ([_("names here: {names}").format(names=', '.join(known[:12]))] if known else []),
                            code="unknown-reference")
        if v == "poison":
            raise PoisonedInput()
        if idx is not None:
            if idx >= len(v.refs):
                raise SpecError(_("`{ref}` has {n_refs} output(s); `{ref}:{idx}` does not exist").format(ref=ref, n_refs=len(v.refs), idx=idx), loc)
            return Value([v.refs[idx]], f"{ref}:{idx}")
        return v

    # ---------------------------------------------------------------- node forms
    def parse_item(self, item, loc):
        """-> dict(op, pos, kw, keys(YMap or {}), name, loc, arg_locs, call)"""
        if isinstance(item, str):
            text = str(item)
            name, rest = split_prefix(text)
            if looks_like_call(rest):
                try:
                    op, pos, kw = parse_call(rest)
                except CallError as e:
                    raise SpecError(str(e), loc) from None
                return dict(op=op, pos=pos, kw=kw, keys=YMap(), name=name, loc=loc, argsrc=None)
            if not re.match(r"^[A-Za-z_][\w]*$", rest):
                hints = [_("a node is an op name (`- ReLU`), a mapping (`- Conv2d: {...}`), or a call (`- Conv2d(3, "
                           "64, 3)`)")]
                if "(" in rest and ")" not in rest:
                    hints.insert(0, _("inside `[...]` YAML splits a call at its commas: quote it, `['Conv2d(3, 64, 3)']`"))
                raise SpecError(_("`{text}` is not an op name or a call").format(text=text), loc, hints)
            return dict(op=rest, pos=[], kw={}, keys=YMap(), name=name, loc=loc, argsrc=None)
        if isinstance(item, YMap):
            opkeys = [k for k in item if k not in RESERVED]
            if not opkeys:
                if "share" in item:
                    return dict(op="share", pos=[], kw={}, keys=item, name=None, loc=loc, argsrc=None)
                raise SpecError(_("a node needs an op key (`Conv2d: {...}`, a block name, `Sequential`, `parallel` or "
                                  "`share`)"), loc)
            if "share" in item:
                raise SpecError(_("`share` calls another node's module, so it cannot stand beside the op `{opkeys_0}`").format(opkeys_0=opkeys[0]), item.kloc("share"),
                                [_("write either `- share: other_node` or the op, not both")])
            if len(opkeys) > 1:
                raise SpecError(_("a node has one op key, this one has {n_opkeys}: {map}").format(n_opkeys=len(opkeys), map=', '.join(map(str, opkeys))), item.kloc(opkeys[1]),
                                [_("reserved keys beside the op: {RESERVED}").format(RESERVED=', '.join(RESERVED))] +
                                did_you_mean(str(opkeys[1]), RESERVED))
            key = opkeys[0]
            val = item[key]
            kloc = item.kloc(key)
            name = None
            ktext = str(key)
            pname, rest = split_prefix(ktext)
            if pname:
                name = pname
            if looks_like_call(rest):
                try:
                    op, pos, kw = parse_call(rest)
                except CallError as e:
                    raise SpecError(str(e), kloc) from None
                if val is not None:
                    raise SpecError(_("`{rest}` already has its arguments; it takes no value").format(rest=rest), item.vloc(key))
                return dict(op=op, pos=pos, kw=kw, keys=item, name=name, loc=kloc, argsrc=None)
            op = rest
            if op in STRUCTURAL:
                return dict(op=op, pos=[], kw={}, body=val, keys=item, name=name, loc=kloc, argsrc=val,
                            vloc=item.vloc(key))
            if val is None:
                pos, kw = [], {}
            elif isinstance(val, YMap):
                pos, kw = [], dict(val)
            elif isinstance(val, list):
                pos, kw = list(val), {}
            else:
                pos, kw = [val], {}
            return dict(op=op, pos=pos, kw=kw, keys=item, name=name, loc=kloc, argsrc=val, vloc=item.vloc(key))
        raise SpecError(_("a node must be an op name, a call or a mapping, got {item!r}").format(item=item), loc)

    def arg_loc(self, spec, arg, kind_cls=None):
        src = spec.get("argsrc")
        if isinstance(src, YMap) and arg in src:
            return src.vloc(arg)
        if isinstance(src, YList) and kind_cls is not None and arg is not None:
            names = [a.name for a in kind_cls.SIG]
            if arg in names and names.index(arg) < len(src):
                return src.iloc(names.index(arg))
        if src is not None and not isinstance(src, (YMap, YList)) and spec.get("vloc"):
            return spec["vloc"]
        return spec["loc"]

    # ---------------------------------------------------------------- expansion
    def expand_list(self, items, scope: Scope, input_val: Value | None):
        """Expand a list of nodes, each reading the previous one by default.  Returns the last value."""
        cur = input_val
        scope.history = []
        unreached = []   # runs of consecutive nodes that read a failed node: [[(loc, name), ...], ...]
        last = None      # the index of the last such node
        if not isinstance(items, list):
            items = [items]
        for i, item in enumerate(items):
            loc = items.iloc(i) if isinstance(items, YList) else scope_loc(items, self.file)
            try:
                cur = self.expand_item(item, i, scope, cur, loc)
            except SpecError as e:
                self.errors.append(e.diagnostic)
                cur = None
            except PoisonedInput:
                cur = None
                if last != i - 1:
                    unreached.append([])
                last = i
                unreached[-1].append((loc, join(scope.prefix, self._item_name(item, i))))
                check_unreachable(self, item, loc, scope.env, unreached[-1][-1][1])
            except Poison:
                cur = None
            scope.history.append(cur)
            if cur is None:
                nm = self._item_name(item, i)
                scope.names[nm] = "poison"
        for run in unreached:     # one note per run: a node between two runs was checked in full
            self.warnings.append(unreachable_note(run[0][0], len(run), run[0][1]))
        return cur

    def _item_name(self, item, i):
        if isinstance(item, YMap) and "name" in item:
            return str(item["name"])
        if isinstance(item, str):
            n, _ = split_prefix(str(item))
            if n:
                return n
        return str(i)

    def expand_item(self, item, index, scope: Scope, prev: Value | None, loc):
        spec = self.parse_item(item, loc)
        keys = spec["keys"]
        for k in keys:
            if k in RESERVED and k == "merge" and spec["op"] != "parallel":
                raise SpecError(_("`merge` goes with `parallel` only"), keys.kloc(k))
        name = spec["name"]
        if "name" in keys:
            name = str(keys["name"])
            if not re.match(r"^\w[\w\-]*$", name):   # \w: letters of any script, digits, _
                raise SpecError(_("`{name}` is not a valid node name (letters of any script, digits, _ and -; no dots)").format(name=name),
                                keys.vloc("name"))
        if name is None:
            name = str(index)
        if name in scope.names and not name.isdigit():
            raise SpecError(_("the name `{name}` is already used in this scope").format(name=name), keys.vloc("name") if "name" in keys
                            else spec["loc"], [_("names are unique in their scope (the body, or one block body)")])
        path = join(scope.prefix, name)
        mpath = join(scope.module_prefix, name)
        env = scope.env
        # inputs
        if "from" in keys:
            f = keys["from"]
            floc = keys.vloc("from")
            if isinstance(f, list):
                vals = []
                for j, r in enumerate(f):
                    r = self.subst(r, env, floc)
                    vals.append(self.resolve_ref(r, scope, f.iloc(j) if isinstance(f, YList) else floc))
            else:
                vals = [self.resolve_ref(self.subst(f, env, floc), scope, floc)]
        else:
            if prev is None:
                if scope.history and scope.history[-1] is None:
                    raise PoisonedInput()
                raise SpecError(_("this node has no input"), spec["loc"])
            vals = [prev]
        # when
        if "when" in keys:
            w = self.subst(keys["when"], env, keys.vloc("when"))
            if not isinstance(w, bool):
                raise SpecError(_("`when` must be true or false, got {w!r}").format(w=w), keys.vloc("when"))
            if not w:
                v = vals[0]
                scope.names[name] = v
                return v
        # repeat
        if "repeat" in keys and spec["op"] != "share":
            return self.expand_repeat(spec, keys, name, path, mpath, scope, vals, item)
        v = self.expand_op(spec, path, mpath, scope, vals, env, overrides=None)
        scope.names[name] = v
        self.recipes[path] = (item, spec, scope, path)
        if "expect" in keys:
            ids = self.graph.groups.get(path) or [v.refs[0][0]]
            self.add_expect("node" if len(ids) == 1 else "group", path, ids, v.refs[0] if v.refs else None,
                            keys["expect"], keys.vloc("expect"), env)
        return v

    def expand_repeat(self, spec, keys, name, path, mpath, scope, vals, item):
        r = self.subst(keys["repeat"], scope.env, keys.vloc("repeat"))
        first = {}
        if isinstance(r, dict):
            for k in r:
                if k not in ("n", "first"):
                    raise SpecError(_("unknown key `{k}` in `repeat`").format(k=k), r.kloc(k) if isinstance(r, YMap) else
                                    keys.vloc("repeat"), did_you_mean(str(k), ("n", "first")))
            n = r.get("n")
            first = r.get("first") or {}
        else:
            n = r
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise SpecError(_("`repeat` needs a positive count, got {n!r}").format(n=n), keys.vloc("repeat"))
        if len(self.graph.nodes) + n > limits.get("nodes"):
            raise OverLimit(Diagnostic("error", _("`repeat: {n:,}` would make more than {nodes:,} layers").format(n=n, nodes=limits.get('nodes')), keys.vloc("repeat"), [limits.hint("nodes")], code="limit"))
        start = len(self.graph.nodes)
        cur = vals
        v = None
        for k in range(n):
            env = dict(scope.env, i=k)
            v = self.expand_op(spec, join(path, k), join(mpath, k), scope, cur, env,
                               overrides=first if k == 0 else None, repeat_index=k)
            cur = [v]
        ids = list(range(start, len(self.graph.nodes)))
        self.graph.groups[path] = ids
        scope.names[name] = v
        self.recipes[path] = (item, spec, scope, path)
        if "expect" in keys:
            self.add_expect("group", path, ids, v.refs[0], keys["expect"], keys.vloc("expect"), scope.env)
        return v

    def expand_op(self, spec, path, mpath, scope: Scope, vals, env, overrides=None, repeat_index=None):
        op = spec["op"]
        keys = spec["keys"]
        start = len(self.graph.nodes)
        if repeat_index is not None:
            env = dict(env, i=repeat_index)
        if op == "share":
            v = self.expand_share(spec, keys, path, scope, vals)
        elif op == "Sequential":
            body = spec.get("body")
            if not isinstance(body, list):
                raise SpecError(_("`Sequential` takes a list of nodes"), spec["loc"])
            if len(vals) != 1:
                raise SpecError(_("`Sequential` takes one input"), spec["loc"])
            sub = Scope({}, scope, env, path, mpath)
            v = self.expand_list(body, sub, vals[0])
            if v is None:
                raise Poison()
        elif op == "parallel":
            v = self.expand_parallel(spec, keys, path, mpath, scope, vals, env)
        elif op in self.blocks:
            v = self.expand_block(spec, op, path, mpath, scope, vals, env, overrides)
        else:
            v = self.add_kind_node(spec, op, path, mpath, vals, env, overrides)
        if len(self.graph.nodes) - start > 1 or op in self.blocks or op in STRUCTURAL or op == "share":
            self.graph.groups[path] = list(range(start, len(self.graph.nodes)))
        return v

    def add_kind_node(self, spec, op, path, mpath, vals, env, overrides):
        cls = REGISTRY.get(op)
        loc = spec["loc"]
        if cls is None:
            hints = did_you_mean(op, list(REGISTRY) + list(self.blocks), foreign=FOREIGN_OPS)
            raise SpecError(_("unknown op `{op}`").format(op=op), loc, hints, code="unknown-op")
        refs = []
        for v in vals:
            refs += v.refs if cls.N_INPUTS[1] > 1 and len(vals) == 1 and len(v.refs) > 1 else [v.single(v.node, loc)]
        lo, hi = cls.N_INPUTS
        if not lo <= len(refs) <= hi:
            want = f"{lo}" if lo == hi else _("{lo} to {hi}").format(lo=lo, hi=hi)
            raise SpecError(_("`{op}` takes {want} input(s), got {n_refs}").format(op=op, want=want, n_refs=len(refs)), loc,
                            [_("list its inputs with `from: [a, b]`")] if len(refs) < lo else [])
        pos = [self.subst(x, env, self.arg_loc(spec, None)) for x in spec["pos"]]
        kw = {}
        for k, x in spec["kw"].items():
            kw[str(k)] = self.subst(x, env, self.arg_loc(spec, k))
        if overrides:
            for k, x in overrides.items():
                kw[str(k)] = self.subst(x, env, loc)
        in_shapes = [self.graph.shape(r) for r in refs]
        try:
            bound = bind_args(cls, op, pos, kw)
            cls.check_binding(op, pos, bound)
            args = check_types(cls, op, bound)
            kind = cls(op, args, in_shapes, self.graph.batch)     # (setup does check_args' checks, with the input)
            kind.params(), kind.terms(), kind.saved(), kind.rf()     # fail here, at the node, if at all
        except (TypeError, ValueError, ZeroDivisionError, IndexError, KeyError, AttributeError,
                OverflowError) as e:
            # a combination of arguments no specific check caught: still an error at the node, never a
            # traceback; the torch signature is the best hint
            names = ", ".join(a.name for a in cls.SIG if a.name not in ("device", "dtype"))
            raise SpecError(_("{op} '{node}': invalid arguments for this input {shape} ({error})").format(
                op=op, node=path, shape=list(in_shapes[0]) if in_shapes else "", error=f"{type(e).__name__}: {e}"),
                loc, [_("`{op}` takes: {names}").format(op=op, names=names)], node=path,
                code="invalid-arguments") from None
        except KindError as e:
            aloc = self.arg_loc(spec, e.arg, cls) if e.arg else loc
            if e.code in ("in-channels", "in-features", "num-features", "needs-flat", "linear-scalar"):
                aloc = loc
            if e.code in ("shape", "cat-mismatch") or len(refs) > 1:
                e.hints.append(_("its inputs: {inputs}").format(inputs=", ".join(
                    f"{self.graph.nodes[r[0]].name}{':' + str(r[1]) if len(self.graph.nodes[r[0]].out_shapes) > 1 else ''}"
                    f" {list(self.graph.shape(r))}" for r in refs)))
                for r in refs:   # which input changed its size, and why (as for a concatenation)
                    why = self.why_shrunk(r[0], r[0] + 1, None) if self.graph.shape(r) != self.graph.shape(refs[0]) \
                        or len(refs) == 2 and r == refs[0] and self.graph.shape(refs[0]) != self.graph.shape(refs[1]) \
                        else None
                    if why:
                        e.hints.append(why)
            raise SpecError(_("{op} '{node}': {message}").format(op=op, node=path, message=e), aloc, e.hints,
                            node=path, code=e.code) from None
        self.check_bounds(op, path, kind.out_shapes, loc)
        n = self.graph.add(name=path, op=op, kind=kind, inputs=refs, out_shapes=list(kind.out_shapes),
                           module=mpath, loc=loc)
        return Value([(n.id, k) for k in range(len(kind.out_shapes))], path)

    def check_bounds(self, op, path, shapes, loc):
        """No more layers than the bound; no empty, negative or impossibly large tensor in a report."""
        if len(self.graph.nodes) >= limits.get("nodes"):
            raise OverLimit(Diagnostic("error", _("the spec expands to more than {nodes:,} layers").format(nodes=limits.get('nodes')),
                                       loc, [limits.hint("nodes")], path, code="limit"))
        for s in shapes:
            if any(not isinstance(d, int) or isinstance(d, bool) for d in s):
                raise SpecError(_("{op} '{path}': output shape {s} is not made of integers").format(op=op, path=path, s=list(s)), loc, node=path,
                                code="shape")
            if any(d < 1 for d in s):
                raise SpecError(_("{op} '{path}': output shape {s} has an empty or negative dimension").format(op=op, path=path, s=list(s)), loc,
                                [_("torch refuses this layer on this input: check its arguments against the input size")], node=path, code="shape")
            if any(d > limits.get("dim") for d in s):
                raise SpecError(_("{op} '{path}': output shape has a dimension over {dim:,}").format(op=op, path=path, dim=limits.get('dim')), loc,
                                [limits.hint("dim")], node=path, code="limit")
            elems = self.graph.batch
            for d in s:
                elems *= d
            if elems > limits.get("elements"):
                raise SpecError(_("{op} '{path}': the output would hold {elems:.3g} elements").format(op=op, path=path, elems=elems), loc,
                                [limits.hint("elements")], node=path, code="limit")

    def expand_parallel(self, spec, keys, path, mpath, scope, vals, env):
        body = spec.get("body")
        merges = MERGE_OPS + ("none",)
        merge = keys.get("merge", MERGE_OPS[0])
        if merge not in merges:
            raise SpecError(_("`merge` must be {merges} or none, got {merge!r}").format(merges=', '.join(merges[:-1]), merge=merge), keys.vloc("merge"),
                            did_you_mean(str(merge), merges))
        if isinstance(body, YMap):
            branches = [(str(k), body[k], body.kloc(k)) for k in body]
        elif isinstance(body, YList):
            branches = [(str(i), b, body.iloc(i)) for i, b in enumerate(body)]
        else:
            raise SpecError(_("`parallel` takes a mapping of named branches or a list of branches"), spec["loc"])
        if len(vals) != 1:
            raise SpecError(_("`parallel` takes one input"), spec["loc"])
        if not branches:
            raise SpecError(_("`parallel` needs at least one branch"), spec["loc"])
        outs = []
        starts = []
        for bname, bbody, bloc in branches:
            sub = Scope({}, scope, env, join(path, bname), join(mpath, bname))
            starts.append(len(self.graph.nodes))
            if not isinstance(bbody, list):
                bb = YList([bbody])
                bb.loc, bb.locs = bloc, [bloc]
                bbody = bb
            v = self.expand_list(bbody, sub, vals[0])
            outs.append((bname, v, bloc))
        if any(v is None for _, v, _ in outs):
            raise Poison()
        if merge == "none":
            refs = []
            for _a, v, _b in outs:
                refs += v.refs
            return Value(refs, path)
        refs = [v.single(b, loc) for b, v, loc in outs]
        shapes = [self.graph.shape(r) for r in refs]
        if REGISTRY[merge].concatenates:
            self.check_cat(spec["loc"], path, [b for b, _, _ in outs], shapes, starts, 1)
        cls = REGISTRY[merge]
        try:
            kind = cls(merge, check_types(cls, merge, {}), shapes, self.graph.batch)
        except KindError as e:
            raise SpecError(_("{path}: {error}").format(path=path, error=e), spec["loc"], e.hints, node=path) from None
        n = self.graph.add(name=path, op=merge, kind=kind, inputs=refs, out_shapes=list(kind.out_shapes),
                           module=mpath, loc=spec["loc"])
        return Value([(n.id, 0)], path)

    def check_cat(self, loc, path, names, shapes, starts, dim):
        """Explain a concatenation whose inputs disagree outside the concatenated dim."""
        d = dim - 1
        if len({len(s) for s in shapes}) > 1:
            return
        others = [tuple(x for i, x in enumerate(s) if i != d) for s in shapes]
        counts = {}
        for o in others:
            counts[o] = counts.get(o, 0) + 1
        if len(counts) <= 1:
            return
        majority = max(counts, key=counts.get)
        bad = [i for i, o in enumerate(others) if o != majority]
        good = [names[i] for i, o in enumerate(others) if o == majority]
        parts, hints = [], []
        for i in bad:
            msp = tuple(majority[d:]) if d == 0 else majority
            parts.append(_("{branch} is {shape} but {others} are {want}").format(
                branch=names[i], shape=list(shapes[i]), others=", ".join(good), want="x".join(map(str, msp))))
            why = self.why_shrunk(starts[i], starts[i + 1] if i + 1 < len(starts) else len(self.graph.nodes), msp)
            if why:
                hints.append(why)
        raise SpecError(_("cat '{node}' (line {line}): branches disagree outside the concatenated dim "
                          "(dim {dim}): {details}").format(node=path, line=loc.line, dim=dim, details="; ".join(parts)),
                        loc, hints, node=path, code="cat-mismatch")

    def why_shrunk(self, a, b, want):
        """Find the node in [a, b) that changed the spatial size and name the true cause, read from the
        kind's window geometry: a stride divides the size; a kernel (or dilation) wider than the padding
        makes up for shrinks it."""
        for n in self.graph.nodes[a:b]:
            k = n.kind
            if k is None or not k.in_shapes:
                continue
            sin, sout = k.in_shapes[0][1:], n.out_shapes[0][1:]
            if sin == sout:
                continue
            size = f"{'x'.join(map(str, sin))} -> {'x'.join(map(str, sout))}"
            geo = k.geometry()
            if geo is None:
                return _("{name} ({op}) changes {size}").format(name=n.name, op=n.op, size=size)
            if geo.transposed:
                return _("{name}'s {op} (stride={stride}, kernel_size={kernel}, padding={padding}) changes "
                         "{size}").format(name=n.name, op=n.op, stride=_one(geo.stride), kernel=_one(geo.kernel),
                                          padding=_one(geo.pad_lo), size=size)
            keep = tuple((d * (kk - 1)) // 2 for kk, d in zip(geo.kernel, geo.dilation))
            if any(s > 1 for s in geo.stride):
                return _("{name}'s {op} has stride={stride}: it divides the size, {size}; with stride=1 (and "
                         "padding={keep}) it keeps {sin}").format(name=n.name, op=n.op, stride=_one(geo.stride),
                                                                  size=size, keep=_one(keep), sin='x'.join(map(str, sin)))
            args = (_("kernel_size={kernel}, dilation={dilation}, padding={padding}") if any(d > 1 for d in geo.dilation)
                    else _("kernel_size={kernel}, padding={padding}")).format(
                kernel=_one(geo.kernel), dilation=_one(geo.dilation), padding=_one(geo.pad_lo))
            return _("{name}'s {op} ({args}) shrinks {size}; padding={keep} keeps {sin}").format(
                name=n.name, op=n.op, args=args, size=size, keep=_one(keep), sin='x'.join(map(str, sin)))
        return None

    def expand_block(self, spec, bname, path, mpath, scope, vals, env, overrides):
        bdef = self.blocks[bname]
        loc = spec["loc"]
        if not isinstance(bdef, YMap) or "layers" not in bdef:
            raise Poison()
        if bname in self.block_stack:
            raise SpecError(_("block `{bname}` calls itself (recursion: {block_stack})").format(bname=bname, block_stack=' -> '.join(self.block_stack + [bname])),
                            loc)
        params = bdef.get("params") or YMap()
        if not isinstance(params, dict):
            raise SpecError(_("`params` of block `{bname}` must be a mapping").format(bname=bname), bdef.vloc("params"))
        # call arguments
        args = {}
        pnames = list(params)
        for i, x in enumerate(spec["pos"]):
            if i >= len(pnames):
                raise SpecError(_("block `{bname}` takes {n_pnames} parameter(s), got more").format(bname=bname, n_pnames=len(pnames)), loc)
            args[pnames[i]] = x
        for k, x in spec["kw"].items():
            if k not in params:
                raise SpecError(_("block `{bname}` has no parameter `{k}`").format(bname=bname, k=k), self.arg_loc(spec, k),
                                did_you_mean(str(k), pnames) + ([_("its parameters: {pnames}").format(pnames=', '.join(pnames))]
                                                               if pnames else [_("it takes no parameters")]),
                                code="unknown-parameter")
            args[str(k)] = x
        if overrides:
            for k, x in overrides.items():
                if k not in params:
                    raise SpecError(_("`first:` sets `{k}`, which block `{bname}` does not have").format(k=k, bname=bname), loc,
                                    did_you_mean(str(k), pnames))
                args[str(k)] = x
        benv = {k: v for k, v in scope.env.items() if k not in params}
        # top-level vars stay visible; block params shadow them
        for k in params:
            if k in args:
                benv[k] = self.subst(args[k], env, self.arg_loc(spec, k))
            elif params[k] == "required":
                raise SpecError(_("block `{bname}` needs parameter `{k}`").format(bname=bname, k=k), loc, [_("pass it: `{bname}: {{{k}: ...}}`").format(bname=bname, k=k)])
            else:
                benv[k] = self.subst(params[k], benv, params.vloc(k) if isinstance(params, YMap) else loc)
        if "i" in env:
            benv["i"] = env["i"]
        # inputs
        inames = bdef.get("inputs") or ["input"]
        if isinstance(inames, str):
            inames = [inames]
        if len(vals) == 1 and len(vals[0].refs) == len(inames) and len(inames) > 1:
            refs = vals[0].refs
        else:
            refs = [v.single(v.node, loc) for v in vals]
        if len(refs) != len(inames):
            raise SpecError(_("block `{bname}` takes {n_inames} input(s) ({map}), got {n_refs}").format(bname=bname, n_inames=len(inames), map=', '.join(map(str, inames)), n_refs=len(refs)), loc, [_("pass them with `from: [a, b]`")])
        names = {}
        for n_, r in zip(inames, refs):
            names[str(n_)] = Value([r], str(n_))
        names["input"] = Value([refs[0]], "input")
        benv["input"] = X.ShapeView(self.graph.shape(refs[0]))
        bscope = Scope(names, None, benv, path, mpath)
        self.block_stack.append(bname)
        try:
            last = self.expand_list(bdef["layers"], bscope, names["input"])
        finally:
            self.block_stack.pop()
        outs = bdef.get("outputs")
        if outs is None:
            if last is None:
                raise Poison()
            return Value(list(last.refs), path)
        outs = outs if isinstance(outs, list) else [outs]
        refs = []
        for i, o in enumerate(outs):
            oloc = outs.iloc(i) if isinstance(outs, YList) else bdef.vloc("outputs")
            refs += self.resolve_ref(o, bscope, oloc).refs
        return Value(refs, path)

    def expand_share(self, spec, keys, path, scope, vals):
        if not isinstance(keys, dict) or "share" not in keys:
            raise SpecError(_("`share` is a key beside a node, not an op: write `- share: other_node`"), spec["loc"],
                            code="unknown-op")
        target = keys["share"]
        tloc = keys.vloc("share")
        tgt = None
        s = scope
        while s is not None and tgt is None:
            cand = join(s.prefix, str(target))
            if cand in self.recipes:
                tgt = cand
            s = s.parent
        if tgt is None:
            known = [k.split(".")[-1] for k in self.recipes]
            raise SpecError(_("`share: {target}`: no module instance `{target}` here").format(target=target), tloc,
                            did_you_mean(str(target), known), code="unknown-reference")
        item, tspec, tscope, tpath = self.recipes[tgt]
        tkeys = tspec["keys"]
        if "repeat" in tkeys:
            raise SpecError(_("sharing a repeat group is not supported; share one of its copies"), tloc)
        # the original module identities: the target's own module path
        orig_mpath = next((n.module for n in self.graph.nodes if n.name == tgt), None)
        if orig_mpath is None:
            grp = self.graph.groups.get(tgt)
            orig_mpath = tgt if grp is None else self._group_module_prefix(tgt)
        before = len(self.graph.nodes)
        nerr = len(self.errors)
        hint = (_("`share: {target}` calls the module(s) of `{tgt}` again, which were built for their "
                  "first input; the shared call's input must have the same channels").format(target=target, tgt=tgt))
        try:
            v = self.expand_op(tspec, path, orig_mpath, tscope, vals, tscope.env)
        except (SpecError, Poison) as e:
            if isinstance(e, SpecError):
                e.diagnostic.hints.append(hint)
                e.diagnostic.loc = tloc
                raise
            for d in self.errors[nerr:]:
                d.message = _("in the shared call `{path}`: {message}").format(path=path, message=d.message)
                d.hints.append(hint)
                d.loc = tloc
            raise
        # parameters must be those of the original: same kinds and arguments
        orig = [n for n in self.graph.nodes[:before] if n.module == orig_mpath or
                n.module.startswith(orig_mpath + ".")]
        new = self.graph.nodes[before:]
        om = {n.module: n for n in orig}
        for n in new:
            o = om.get(n.module)
            if o is not None and o.kind is not None and n.kind is not None and o.kind.a != n.kind.a:
                diff = [k for k in n.kind.a if o.kind.a.get(k) != n.kind.a.get(k)]
                raise SpecError(_("`share: {target}` calls module {name} on an input of shape {in_shape}, but it was built "
                                  "for {in_shape2} ({diff})").format(target=target, name=o.name, in_shape=list(n.kind.in_shape), in_shape2=list(o.kind.in_shape), diff=', '.join(f'{k}={o.kind.a.get(k)} vs {n.kind.a.get(k)}' for k in diff)),
                                tloc, node=path)
        return v

    def _group_module_prefix(self, path):
        ids = self.graph.groups.get(path, [])
        if not ids:
            return path
        n = self.graph.nodes[ids[0]]
        rest = n.name[len(path):]
        return n.module[:len(n.module) - len(rest)] if rest and n.module.endswith(rest) else path

    # ---------------------------------------------------------------- expect
    def add_expect(self, scope_kind, name, ids, out_ref, items, loc, env):
        if not isinstance(items, YMap):
            self.err(_("`expect` must be a mapping like `{output: [6, 28, 28], params: 156}`"), loc)
            return
        ok = True
        for k in items:
            if k not in EXPECT_KEYS:
                self.err(_("unknown expect key `{k}`").format(k=k), items.kloc(k), did_you_mean(str(k), EXPECT_KEYS) +
                         [_("expect keys: {EXPECT_KEYS}").format(EXPECT_KEYS=', '.join(EXPECT_KEYS))], code="unknown-expect-key")
                ok = False
        if not ok:
            return
        try:
            items = self.subst(items, env, loc)
        except SpecError as e:
            self.errors.append(e.diagnostic)
            return
        if not self._expect_values_ok(items):
            return
        self.graph.expects.append(Expect(scope_kind, name, ids, out_ref, items, loc))

    def _expect_values_ok(self, items) -> bool:
        """Every expected number finite and not negative (a tolerance too): nothing to compare with otherwise."""
        import math
        from ..core.units import parse_number
        ok = True
        for k, v in items.items():
            if isinstance(v, (list, tuple)):
                continue
            try:
                if isinstance(v, float) and not math.isfinite(v):
                    raise ValueError(_("{value} is not a number to compare with").format(value=v))
                value, _unit = parse_number(v)
                if value < 0:
                    raise ValueError(_("{value} is negative").format(value=v))
            except (ValueError, TypeError, ArithmeticError) as e:
                self.err(_("expect `{k}`: {error}").format(k=k, error=e), items.vloc(k) if isinstance(items, YMap) else None,
                         [_("a tolerance is a relative one like `tol: 0.01`") if k == "tol" else
                          _("write a count like 61706, 61.7K or 1.81G, or bytes like 3.2KiB")], code="expect-value")
                ok = False
        return ok


def scope_loc(items, file):
    return getattr(items, "loc", Loc(file, 1, 1))


def load_spec(path: str, text: str | None = None, **kw):
    """Read and expand a spec.  Returns (graph, diagnostics); raises SpecErrors when nothing can be built."""
    if text is None:
        from .source import read_source
        text = read_source(path)
    elif len(text) > limits.get("file_bytes"):
        raise SpecErrors([Diagnostic("error", _("the spec is longer than {file_bytes:,} characters").format(file_bytes=limits.get('file_bytes')),
                                     Loc(str(path), 1, 1), [limits.hint("file_bytes")], code="limit")])
    ld = Loader(text, str(path), **kw)
    try:
        g = ld.load()
    except SpecErrors:
        raise
    except (SpecError, OverLimit) as e:
        raise SpecErrors(ld.errors + [e.diagnostic]) from None
    except RecursionError:
        raise SpecErrors(ld.errors + [Diagnostic("error", _("the spec nests too deeply"), Loc(str(path), 1, 1))]) from None
    return g, ld.errors, ld.warnings
