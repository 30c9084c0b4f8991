"""Answers files: a student's answers to a spec, keyed by node name.

```yaml
cnncalc-answers: 1          # optional format version
spec: lenet.yaml            # optional: the spec these answer (informational)
student: Ada Lovelace       # optional: shown in the report
answers:
  "0": {output: [6, 28, 28], params: 156}    # unnamed nodes go by their index, as in nn.Sequential
  conv2: {output: [16, 10, 10], params: 2416}
  layer1: {params: 147968}                  # a repeat group or block call: its aggregate
  total: {params: 61706, macs: 416520}      # the whole network
```

Each answer mapping takes the same keys as a spec's `expect:` (output, params,
trainable_params, buffers, macs, flops, rf, rf_stride, rf_padding, activations,
memory, saved, bwd_flops, tol) and the same number forms (`61.7K`, `3.06MiB`).
"""
from __future__ import annotations

from ..core.graph import Expect
from ..errors import Diagnostic, Loc, SpecErrors, did_you_mean
from ..spec.loader import EXPECT_KEYS
from ..spec.yamlload import YMap, load_yaml

TOP_KEYS = ("cnncalc-answers", "spec", "student", "answers")
TOTAL = "total"


def read_answers(path: str, text: str | None = None):
    """Parse an answers file: -> (YMap of node -> YMap of answers, meta dict).  Raises SpecErrors."""
    if text is None:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise SpecErrors([Diagnostic("error", f"no such answers file: {path}", None)]) from None
        except (OSError, UnicodeDecodeError) as e:
            raise SpecErrors([Diagnostic("error", f"cannot read {path}: {e}", None)]) from None
    if not text.strip():
        raise SpecErrors([Diagnostic("error", "the answers file is empty", Loc(path, 1, 1),
                                     ["an answers file looks like:  answers: {conv1: {output: [6, 28, 28], "
                                      "params: 156}, total: {params: 61706}}"])])
    data, errs = load_yaml(text, path)
    if errs:
        raise SpecErrors(errs)
    floc = Loc(path, 1, 1)
    example = ["an answers file looks like:  answers: {conv1: {output: [6, 28, 28], params: 156}, "
               "total: {params: 61706}}"]
    if not isinstance(data, YMap):
        raise SpecErrors([Diagnostic("error", "an answers file is a mapping with an `answers:` key",
                                     getattr(data, "loc", floc), example)])
    errors = []
    for k in data:
        if k not in TOP_KEYS:
            errors.append(Diagnostic("error", f"unknown key `{k}` in an answers file", data.kloc(k),
                                     did_you_mean(str(k), TOP_KEYS) + [f"keys: {', '.join(TOP_KEYS)}"]))
    ver = data.get("cnncalc-answers", 1)
    if ver != 1:
        errors.append(Diagnostic("error", f"unsupported answers format version {ver!r}; this cnncalc reads 1",
                                 data.vloc("cnncalc-answers")))
    ans = data.get("answers")
    if ans is None:
        errors.append(Diagnostic("error", "the answers file has no `answers:` mapping", floc, example))
    elif not isinstance(ans, YMap):
        errors.append(Diagnostic("error", "`answers` must map node names to answers", data.vloc("answers"),
                                 example))
    if errors:
        raise SpecErrors(errors)
    meta = {"student": data.get("student"), "spec": data.get("spec")}
    return ans, meta


def answer_expects(graph, answers: YMap, path: str):
    """Turn an answers mapping into the graph's Expect objects.  Raises SpecErrors for bad names/keys."""
    nodes = {n.name: n for n in graph.nodes if not n.is_input}
    errors = []
    out = []
    for name, items in answers.items():
        sname = str(name)
        loc = answers.kloc(name)
        if not isinstance(items, YMap):
            errors.append(Diagnostic("error", f"the answers for `{sname}` must be a mapping like "
                                              "`{output: [6, 28, 28], params: 156}`", answers.vloc(name)))
            continue
        bad = [k for k in items if k not in EXPECT_KEYS]
        for k in bad:
            errors.append(Diagnostic("error", f"unknown answer key `{k}`", items.kloc(k),
                                     did_you_mean(str(k), EXPECT_KEYS) + [f"answer keys: {', '.join(EXPECT_KEYS)}"],
                                     code="unknown-expect-key"))
        if bad:
            continue
        if sname == TOTAL:
            out.append(Expect("total", "", list(range(len(graph.nodes))),
                              graph.outputs[0] if graph.outputs else None, items, loc))
        elif sname in nodes:
            n = nodes[sname]
            out.append(Expect("node", sname, [n.id], (n.id, 0), items, loc))
        elif sname in graph.groups and graph.groups[sname]:
            ids = list(graph.groups[sname])
            out.append(Expect("group", sname, ids, (ids[-1], 0), items, loc))
        else:
            cands = list(nodes) + list(graph.groups) + [TOTAL]
            hints = did_you_mean(sname, cands)
            hints.append("answers are keyed by node name (unnamed nodes by their index: `0`, `features.3`), "
                         "a repeat group or block call, or `total`")
            errors.append(Diagnostic("error", f"no node named `{sname}` in the spec", loc, hints,
                                     code="unknown-node"))
    if errors:
        raise SpecErrors(errors)
    return out
