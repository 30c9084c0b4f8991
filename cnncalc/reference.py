"""The per-op reference (docs/ops.md), generated from the kind registry so that it cannot drift.

Every registered op gets: its torch signature (defaults, what may be left out and inferred), the
number of inputs, a worked example (the op applied to a small input, analysed by the kind itself),
its shape rule, its parameter rule, and its work terms with the FLOPs per unit under every
convention preset.  ``python -m cnncalc.reference docs/ops.md`` rewrites the page; a test fails
when the page differs from what this module generates.

No torch is imported here.
"""
from __future__ import annotations

import sys

from .conventions import MAC_RULES, PRESETS, RULE_DOC
from .kinds import REGISTRY
from .kinds.base import REQUIRED, bind_args, check_types

REGENERATE = "python -m cnncalc.reference docs/ops.md"

# One small example per op: (the node as a call string, the input shapes without batch).
EXAMPLES: dict[str, tuple[str, list]] = {}


def _examples():
    e = EXAMPLES
    for nd, shp in ((1, [4, 12]), (2, [4, 10, 9]), (3, [4, 6, 7, 5])):
        e[f"Conv{nd}d"] = (f"Conv{nd}d(4, 6, 3, stride=2, padding=1, groups=2)", [shp])
        e[f"LazyConv{nd}d"] = (f"LazyConv{nd}d(6, 3, padding=2, dilation=2, bias=False)", [shp])
        e[f"ConvTranspose{nd}d"] = (f"ConvTranspose{nd}d(4, 6, 3, stride=2, padding=1, output_padding=1)", [shp])
        e[f"LazyConvTranspose{nd}d"] = (f"LazyConvTranspose{nd}d(4, 2, stride=2, groups=2)", [shp])
        e[f"BatchNorm{nd}d"] = (f"BatchNorm{nd}d(4)", [shp if nd > 1 else [4, 12]])
        e[f"LazyBatchNorm{nd}d"] = (f"LazyBatchNorm{nd}d()", [shp])
        e[f"InstanceNorm{nd}d"] = (f"InstanceNorm{nd}d(4, affine=True)", [shp])
        e[f"MaxPool{nd}d"] = (f"MaxPool{nd}d(3, stride=2, padding=1, ceil_mode=True)", [shp])
        e[f"AvgPool{nd}d"] = (f"AvgPool{nd}d(2, ceil_mode=True, count_include_pad=False)", [shp])
        e[f"AdaptiveAvgPool{nd}d"] = (f"AdaptiveAvgPool{nd}d(3)", [shp])
        e[f"AdaptiveMaxPool{nd}d"] = (f"AdaptiveMaxPool{nd}d(2)", [shp])
        e[f"ZeroPad{nd}d"] = (f"ZeroPad{nd}d({list(range(1, 2 * nd + 1))})", [shp])
        e[f"ConstantPad{nd}d"] = (f"ConstantPad{nd}d(1, 0.5)", [shp])
        e[f"ReflectionPad{nd}d"] = (f"ReflectionPad{nd}d(2)", [shp])
        e[f"ReplicationPad{nd}d"] = (f"ReplicationPad{nd}d(1)", [shp])
        e[f"Dropout{nd}d"] = (f"Dropout{nd}d(0.3)", [shp])
    e["LPPool1d"] = ("LPPool1d(2, 3, stride=2)", [[4, 12]])
    e["LPPool2d"] = ("LPPool2d(2, 2)", [[4, 10, 9]])
    e["DeformConv2d"] = ("DeformConv2d(4, 6, 3, padding=1)", [[4, 10, 9], [18, 10, 9]])
    e["Linear"] = ("Linear(12, 5)", [[12]])
    e["LazyLinear"] = ("LazyLinear(5, bias=False)", [[3, 12]])
    e["GroupNorm"] = ("GroupNorm(2, 4)", [[4, 10, 9]])
    e["LayerNorm"] = ("LayerNorm([10, 9])", [[4, 10, 9]])
    e["LocalResponseNorm"] = ("LocalResponseNorm(3)", [[4, 10, 9]])
    for a in ("ReLU", "ReLU6", "LeakyReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid",
              "Tanh", "Hardswish", "Hardsigmoid", "Hardtanh", "Softplus"):
        e[a] = (f"{a}()", [[4, 10, 9]])
    e["PReLU"] = ("PReLU(4)", [[4, 10, 9]])
    e["Softmax"] = ("Softmax(dim=1)", [[4, 10, 9]])
    e["LogSoftmax"] = ("LogSoftmax(dim=1)", [[10]])
    e["Dropout"] = ("Dropout(0.2)", [[4, 10, 9]])
    e["AlphaDropout"] = ("AlphaDropout(0.2)", [[4, 10, 9]])
    e["Flatten"] = ("Flatten()", [[4, 10, 9]])
    e["Unflatten"] = ("Unflatten(1, [2, 6])", [[12]])
    e["Identity"] = ("Identity()", [[4, 10, 9]])
    e["Upsample"] = ("Upsample(scale_factor=2, mode='bilinear')", [[4, 10, 9]])
    e["interpolate"] = ("interpolate(size=[5, 7], mode='nearest')", [[4, 10, 9]])
    e["PixelShuffle"] = ("PixelShuffle(2)", [[8, 5, 4]])
    e["PixelUnshuffle"] = ("PixelUnshuffle(2)", [[2, 10, 8]])
    e["ChannelShuffle"] = ("ChannelShuffle(2)", [[4, 10, 9]])
    for loss in ("CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "BCEWithLogitsLoss",
                 "BCELoss"):
        e[loss] = (f"{loss}()", [[10]])
    for b in ("add", "sub", "mul", "div"):
        e[b] = (f"{b}()", [[4, 10, 9], [4, 1, 1]])
    e["abs"] = ("abs()", [[4, 10, 9]])
    e["cat"] = ("cat()", [[4, 10, 9], [3, 10, 9]])
    e["stack"] = ("stack(dim=1)", [[4, 10, 9], [4, 10, 9]])
    e["chunk"] = ("chunk(2, dim=1)", [[4, 10, 9]])
    e["split"] = ("split([1, 3], dim=1)", [[4, 10, 9]])
    e["flatten"] = ("flatten(start_dim=1)", [[4, 10, 9]])
    e["reshape"] = ("reshape([2, 2, 90])", [[4, 10, 9]])
    e["permute"] = ("permute([0, 2, 3, 1])", [[4, 10, 9]])
    e["mean"] = ("mean(dim=[2, 3], keepdim=True)", [[4, 10, 9]])
    e["amax"] = ("amax(dim=1)", [[4, 10, 9]])


_examples()

FAMILY_TITLES = {
    "conv": "Convolutions", "linear": "Linear layers", "norm": "Normalisation", "pool": "Pooling",
    "pad": "Padding", "activation": "Activations", "dropout": "Dropout", "shape": "Shape and resampling",
    "upsample": "Upsampling", "loss": "Losses", "tensor": "Tensor functions",
}


def example_kind(op: str):
    """The kind instance of `op`'s example (batch 1), or None when the op has no example."""
    from .spec.callstr import parse_call
    ex = EXAMPLES.get(op) or getattr(REGISTRY[op], "example", None)
    if not ex:
        return None
    text, shapes = ex
    _, pos, kw = parse_call(text)
    cls = REGISTRY[op]
    args = check_types(cls, op, bind_args(cls, op, pos, kw))
    return cls(op, args, [tuple(s) for s in shapes], 1)


def _default(arg) -> str:
    if arg.default is REQUIRED:
        return "inferred from the input" if arg.infer else "**required**"
    return f"`{_yaml(arg.default)}`"


def _yaml(v) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(_yaml(x) for x in v) + "]"
    if isinstance(v, str):
        return v
    return repr(v)


_TYPES = {"int": "integer", "float": "number", "bool": "true/false", "str": "string",
          "ints": "integer or list of integers", "optint": "integer or null", "shape": "list of integers",
          "size": "integer or list of integers", "any": "see torch"}


def _cost(conv, rules) -> str:
    c = conv.cost(rules)
    if c is None:
        return "not counted"
    if rules[0] in MAC_RULES:
        return f"{c:g} per MAC"
    return f"{c:g}"


def op_section(op: str) -> list[str]:
    cls = REGISTRY[op]
    out = [f"### `{op}`", ""]
    lo, hi = cls.N_INPUTS
    ins = (f"{lo} input" if lo == 1 else f"{lo} inputs") if lo == hi else f"{lo} to {hi} inputs"
    what = "a `torch.nn` module" if cls.has_module else "a tensor function"
    out.append(f"{cls.doc or op}. {what.capitalize()}; {ins}."
               + (" Its output is a view of its input (no new memory)." if cls.view else ""))
    out.append("")
    sig = [a for a in cls.SIG if a.name not in ("device", "dtype")]
    if sig:
        out += ["| argument | default | type |", "| --- | --- | --- |"]
        for a in sig:
            t = _TYPES.get(a.type, a.type)
            if a.choices:
                t = "one of " + ", ".join(f"`{c}`" for c in a.choices)
            out.append(f"| `{a.name}` | {_default(a)} | {t} |")
        out.append("")
    else:
        out += ["No arguments.", ""]
    try:
        k = example_kind(op)
    except Exception as e:  # noqa: BLE001  (a broken example is reported in the page, and by a test)
        out += [f"Example: could not be analysed ({type(e).__name__}: {e}).", ""]
        return out
    if k is None:
        out += ["(No worked example yet.)", ""]
        return out
    text, shapes = EXAMPLES.get(op) or cls.example
    ins = ", ".join(str(list(s)) for s in shapes)
    outs = ", ".join(str(list(s)) for s in k.out_shapes)
    out.append(f"Example: `- {text}` on {ins} gives {outs} (batch 1).")
    out.append("")
    rules = []
    for f in k.shape_figures():
        rules.append(f"- shape: `{f.name} = {f.formula}`" + (f" ({f.note})" if f.note else ""))
    p = k.params()
    if p.formula:
        rules.append(f"- parameters: `{p.formula}` = {p.value:,}")
    else:
        rules.append(f"- parameters: {p.value:,}")
    b = k.buffers()
    if b.value:
        rules.append(f"- buffers: `{b.formula}` = {b.value:,}")
    out += rules
    out.append("")
    terms = k.terms()
    if terms:
        names = list(PRESETS)
        out += ["| work term | count in the example | " + " | ".join(f"`{n}`" for n in names) + " |",
                "| --- | --- |" + " --- |" * len(names)]
        for t in terms:
            rule = t.rules[0]
            doc = RULE_DOC.get(rule, "")
            label = f"`{rule}`" + (f": {doc}" if doc else "") + (" (alternative accounting)" if t.alt else "")
            count = f"`{t.figure.formula}` = {t.count:,}" if t.figure.formula else f"{t.count:,}"
            out.append(f"| {label} | {count} | " + " | ".join(_cost(PRESETS[n], t.rules) for n in names) + " |")
        out.append("")
    else:
        out += ["No work: it moves or views data only.", ""]
    return out


def generate() -> str:
    lines = [
        "<!-- GENERATED by cnncalc/reference.py from the kind registry: do not edit by hand. -->",
        f"<!-- Regenerate with: {REGENERATE} -->",
        "",
        "# Op reference",
        "",
        "Every op a spec may use, generated from the layer kinds themselves, so this page and the tool",
        "cannot disagree. For each op: its arguments in torch's positional order, with torch's defaults",
        "(\"inferred from the input\": may be left out, and is checked against the input when given);",
        "a worked example analysed by the kind; its shape and parameter rules; and its work terms with",
        "the FLOPs each unit costs under every convention preset (`docs/conventions.md`). A MAC term",
        "also counts toward `macs` wherever it is counted. How to write nodes, wiring, blocks and",
        "expressions is in [spec-format.md](spec-format.md).",
        "",
    ]
    by_family: dict[str, list[str]] = {}
    for op in REGISTRY:
        by_family.setdefault(REGISTRY[op].family, []).append(op)
    lines += ["| family | ops |", "| --- | --- |"]
    for fam in sorted(by_family, key=lambda f: list(FAMILY_TITLES).index(f) if f in FAMILY_TITLES else 99):
        ops = sorted(by_family[fam], key=str.lower)
        lines.append(f"| {FAMILY_TITLES.get(fam, fam)} | " + ", ".join(f"`{o}`" for o in ops) + " |")
    lines.append("")
    for fam in sorted(by_family, key=lambda f: list(FAMILY_TITLES).index(f) if f in FAMILY_TITLES else 99):
        lines += [f"## {FAMILY_TITLES.get(fam, fam)}", ""]
        for op in sorted(by_family[fam], key=str.lower):
            lines += op_section(op)
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    text = generate()
    if argv:
        with open(argv[0], "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
