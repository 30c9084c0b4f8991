"""Design-review rules: a walk over the analysed layer graph that reports likely design mistakes.

Each rule has a stable ID (``CC1xx``), a short slug, a default severity (``info``, ``warning``
or ``error``) and a function that yields :class:`Finding` records.  A finding names the nodes it
concerns, says why it matters and, where a fix has a measurable effect, how many parameters,
MACs or bytes the fix saves.  Every rule is documented, with an example, in docs/review.md.

Only the analysis (``Analysis``: graph, per-layer numbers) is read; nothing here imports torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..i18n import N_, _, ngettext

SEVERITIES = ("info", "warning", "error")
PASS_THROUGH = ("Identity",)          # ops that change nothing between two layers


@dataclass
class Finding:
    id: str
    slug: str
    severity: str
    nodes: list
    message: str
    reason: str = ""
    fix: str = ""
    saving: dict = field(default_factory=dict)     # params / macs / bytes saved by the fix
    location: str | None = None

    def to_dict(self) -> dict:
        return {"id": self.id, "slug": self.slug, "severity": self.severity, "nodes": list(self.nodes),
                "location": self.location, "message": self.message, "reason": self.reason, "fix": self.fix,
                "saving": dict(self.saving)}


@dataclass
class Rule:
    id: str
    slug: str
    severity: str
    title: str
    fn: object


RULES: dict[str, Rule] = {}


def rule(rid, slug, severity, title):
    def deco(fn):
        if rid in RULES:
            raise RuntimeError(f"rule {rid} registered twice")
        RULES[rid] = Rule(rid, slug, severity, title, fn)
        return fn
    return deco


# --------------------------------------------------------------------------- context
class Ctx:
    """What the rules share: the graph, consumers, per-layer numbers, totals."""

    def __init__(self, analysis):
        self.analysis = analysis
        self.g = analysis.g
        self.nodes = analysis.g.nodes
        self.cons = analysis.g.consumers()
        self.L = analysis.layer
        self.tot = analysis.totals()
        self.itemsize = analysis.itemsize
        self.calls = {}
        for n in self.nodes:
            self.calls[n.module] = self.calls.get(n.module, 0) + 1

    def shared(self, n):
        """True if n's module is called more than once (`share:`): changing it changes every call."""
        return self.calls.get(n.module, 0) > 1

    def loc(self, n):
        return str(n.loc) if n.loc else None

    def fam(self, n):
        return getattr(n.kind, "family", None) if n.kind is not None else None

    def next_real(self, n):
        """The only consumer of n, looking through Identity; None if n feeds several nodes or is an output."""
        cur = n
        while True:
            cs = self.cons[cur.id]
            if len(cs) != 1 or self.is_output(cur):
                return None
            nxt = self.nodes[cs[0]]
            if nxt.op in PASS_THROUGH and len(nxt.inputs) == 1:
                cur = nxt
                continue
            return nxt

    def is_output(self, n):
        return any(nid == n.id for nid, _ in self.g.outputs)


def _geometry(n):
    """The node's sliding-window geometry, as its kind declares it (None without one)."""
    k = n.kind
    return k.geometry() if k is not None and hasattr(k, "geometry") else None


def is_conv(n):
    """A plain (not transposed, not data-dependent) convolution."""
    k = n.kind
    geo = _geometry(n)
    return getattr(k, "family", None) == "conv" and geo is not None and not geo.transposed \
        and k.rf().kind == "window"


def is_linear(n):
    return n.kind is not None and getattr(n.kind, "family", None) == "linear"


def is_weighted(n):
    return n.kind is not None and getattr(n.kind, "family", None) in ("conv", "linear")


def is_pool(n):
    k = n.kind
    return getattr(k, "family", None) == "pool" and _geometry(n) is not None


def _plural(n, word):
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _fmt_kernel(k):
    return "x".join(map(str, k))


# --------------------------------------------------------------------------- rules
@rule("CC101", "conv-bias-before-bn", "warning", "convolution bias right before BatchNorm")
def conv_bias_before_bn(c: Ctx):
    for n in c.nodes:
        if not (is_conv(n) or is_linear(n)) or not n.kind.a.get("bias") or c.shared(n):
            continue
        nxt = c.next_real(n)
        if nxt is None or not nxt.op.startswith("BatchNorm"):
            continue
        width = n.kind.a["out_channels"] if is_conv(n) else n.kind.a["out_features"]
        yield Finding(
            "CC101", "conv-bias-before-bn", "warning", [n.name, nxt.name],
            _("{op} '{node}' has a bias but feeds {next_op} '{next_node}'").format(
                op=n.op, node=n.name, next_op=nxt.op, next_node=nxt.name),
            _("BatchNorm subtracts the per-channel mean, so a constant per-channel bias before it cancels out: "
              "its {count} parameters are trained but have no effect (BatchNorm's own beta is the bias)").format(
                count=f"{width:,}"),
            _("set `bias: false` on the layer"),
            {"params": width, "bytes": width * c.itemsize}, c.loc(n))


def _conv_geom(n):
    geo = _geometry(n)
    return tuple(geo.extent(i) for i in range(geo.nd)), tuple(geo.stride)


@rule("CC102", "linear-linear", "warning", "two Linear layers with no nonlinearity between")
def linear_linear(c: Ctx):
    for n in c.nodes:
        if not is_linear(n):
            continue
        nxt = c.next_real(n)
        if nxt is None or not is_linear(nxt) or c.shared(n) or c.shared(nxt):
            continue
        a1, a2 = n.kind.a, nxt.kind.a
        bias = 1 if (a1["bias"] or a2["bias"]) else 0
        rows = n.kind.N * math.prod(n.kind.in_shape[:-1])
        cur_p = c.L[n.id]["module_params"] + c.L[nxt.id]["module_params"]
        cur_m = c.L[n.id]["macs"] + c.L[nxt.id]["macs"]
        new_p = a2["out_features"] * (a1["in_features"] + bias)
        new_m = rows * a1["in_features"] * a2["out_features"]
        yield _collapse_finding(c, "CC102", "linear-linear", n, nxt,
                                f"Linear({a1['in_features']} -> {a2['out_features']})", cur_p, cur_m, new_p, new_m,
                                _("the product of two weight matrices is one matrix: W2(W1 x + b1) + b2 = "
                                  "(W2 W1) x + (W2 b1 + b2)"))


@rule("CC103", "conv-conv", "warning", "two convolutions with no nonlinearity between")
def conv_conv(c: Ctx):
    for n in c.nodes:
        if not is_conv(n):
            continue
        nxt = c.next_real(n)
        if nxt is None or not is_conv(nxt) or nxt.kind.nd != n.kind.nd or c.shared(n) or c.shared(nxt):
            continue
        a1, a2 = n.kind.a, nxt.kind.a
        (k1, s1), (k2, s2) = _conv_geom(n), _conv_geom(nxt)
        k = tuple(x + (y - 1) * s for x, y, s in zip(k1, k2, s1))
        s = tuple(x * y for x, y in zip(s1, s2))
        cur_p = c.L[n.id]["module_params"] + c.L[nxt.id]["module_params"]
        cur_m = c.L[n.id]["macs"] + c.L[nxt.id]["macs"]
        stride = _(", stride {stride}").format(stride=_fmt_kernel(s)) if max(s) > 1 else ""
        what = _("{nd}D conv {cin} -> {cout} channels, kernel {kernel}{stride}").format(
            nd=n.kind.nd, cin=a1["in_channels"], cout=a2["out_channels"], kernel=_fmt_kernel(k), stride=stride)
        why = _("a convolution of a convolution is one convolution (kernel k1 + (k2 - 1)*s1 per axis; "
                "k1 + k2 - 1 at stride 1), exact away from the borders")
        if a1["groups"] == 1 and a2["groups"] == 1:
            bias = 1 if (a1["bias"] or a2["bias"]) else 0
            kv = math.prod(k)
            new_p = a2["out_channels"] * (a1["in_channels"] * kv + bias)
            new_m = nxt.kind.N * a2["out_channels"] * math.prod(nxt.kind.out_shape[1:]) * a1["in_channels"] * kv
        else:
            new_p = new_m = None
        yield _collapse_finding(c, "CC103", "conv-conv", n, nxt, what, cur_p, cur_m, new_p, new_m, why)


def _collapse_finding(c, rid, slug, n, nxt, what, cur_p, cur_m, new_p, new_m, why):
    pair = _("{op} '{node}' feeds {next_op} '{next_node}' with no nonlinearity between").format(
        op=n.op, node=n.name, next_op=nxt.op, next_node=nxt.name)
    if new_p is not None and new_p <= cur_p and new_m <= cur_m:
        return Finding(rid, slug, "warning", [n.name, nxt.name], pair,
                       _("{why}; the pair computes no more than one {what}, which is also cheaper "
                         "({new_params} params instead of {params}, {new_macs} MACs instead of {macs})").format(
                           why=why, what=what, new_params=f"{new_p:,}", params=f"{cur_p:,}", new_macs=f"{new_m:,}",
                           macs=f"{cur_m:,}"),
                       _("replace the pair by one {what}, or put a nonlinearity (and usually a norm) between "
                         "them").format(what=what),
                       {"params": cur_p - new_p, "macs": cur_m - new_m, "bytes": (cur_p - new_p) * c.itemsize},
                       c.loc(n))
    if new_p is not None:
        detail = _("; that conv would cost {new_params} params and {new_macs} MACs (the pair: {params} and {macs}), "
                   "so the pair is a cheaper low-rank factorisation of it").format(
            new_params=f"{new_p:,}", new_macs=f"{new_m:,}", params=f"{cur_p:,}", macs=f"{cur_m:,}")
    else:
        detail = ""
    return Finding(rid, slug, "info", [n.name, nxt.name], pair,
                   _("{why}: the pair is a linear map with no more expressive power than one {what}{detail}").format(
                       why=why, what=what, detail=detail),
                   _("put a nonlinearity between them if depth was the intent; keep the pair if the factorisation "
                     "is deliberate"), {}, c.loc(n))


@rule("CC104", "large-kernel", "info", "a large kernel replaceable by stacked 3x3 convolutions")
def large_kernel(c: Ctx):
    for n in c.nodes:
        if not is_conv(n) or n.kind.nd < 2 or (c.shared(n) and n.shared_call):
            continue              # a shared module is reported at its first call only
        a = n.kind.a
        geo = _geometry(n)
        ks, st = tuple(geo.kernel), tuple(geo.stride)
        if len(set(ks)) != 1 or len(set(st)) != 1 or max(geo.dilation) != 1:
            continue
        k, s = ks[0], st[0]
        if k < 5 or s > 2:
            continue   # a 3x3 with stride > 3 would skip pixels: no stack of 3x3 replaces it well
        # n3 3x3 convs, the first with the stride: receptive field 3 + (n3 - 1)*2*s >= k
        n3 = 1 + -(-(k - 3) // (2 * s))
        tap = 3 ** n.kind.nd
        cin, cout, g = a["in_channels"], a["out_channels"], a["groups"]
        b = 1 if a["bias"] else 0
        new_p = cout * (cin // g * tap + b) + (n3 - 1) * cout * (cout // g * tap + b)
        hw = n.kind.N * math.prod(n.kind.out_shape[1:])
        new_m = hw * cout * (cin // g) * tap + (n3 - 1) * hw * cout * (cout // g) * tap
        cur_p, cur_m = c.L[n.id]["module_params"], c.L[n.id]["macs"]
        if new_p >= cur_p:
            continue
        rf = 3 + (n3 - 1) * 2 * s
        yield Finding(
            "CC104", "large-kernel", "info", [n.name],
            _("{op} '{node}' has a {kernel} kernel; {count} stacked {small} convs cover a {rf} receptive field "
              "for fewer parameters").format(op=n.op, node=n.name, kernel=_fmt_kernel(ks), count=n3,
                                             small=_fmt_kernel((3,) * n.kind.nd), rf=_fmt_kernel((rf,) * n.kind.nd)),
            ngettext("as in VGG (Simonyan & Zisserman 2014): {count} 3x3 convs ({channels}{stride}) cost {new_params} "
                     "params and {new_macs} MACs instead of {params} and {macs} ({kk}C^2 against {count}*9C^2 for "
                     "C->C), and add {extra} nonlinearity",
                     "as in VGG (Simonyan & Zisserman 2014): {count} 3x3 convs ({channels}{stride}) cost {new_params} "
                     "params and {new_macs} MACs instead of {params} and {macs} ({kk}C^2 against {count}*9C^2 for "
                     "C->C), and add {extra} nonlinearities", n3 - 1).format(
                count=n3, channels=f"{cin}->{cout}" + "".join(f", {cout}->{cout}" for _i in range(n3 - 1)),
                stride=_(", stride {stride} on the first").format(stride=s) if s > 1 else "",
                new_params=f"{new_p:,}", new_macs=f"{new_m:,}", params=f"{cur_p:,}", macs=f"{cur_m:,}", kk=k * k,
                extra=n3 - 1),
            _("replace it by {count} 3x3 convs (padding 1) with a nonlinearity between each").format(count=n3),
            {"params": cur_p - new_p, "macs": cur_m - new_m, "bytes": (cur_p - new_p) * c.itemsize}, c.loc(n))


@rule("CC105", "fc-dominates-params", "warning", "one fully connected layer holds most of the parameters")
def fc_dominates(c: Ctx):
    total = c.tot["params"]
    if not total:
        return
    for n in c.nodes:
        if not is_linear(n) or n.shared_call:
            continue
        p = c.L[n.id]["module_params"]
        if p * 2 <= total:
            continue
        # trace the input back through flatten/dropout to a [C, *spatial] map
        src = n
        while src.inputs:
            prev = c.nodes[src.inputs[0][0]]
            if prev.is_input:
                src = prev
                break
            if prev.op in ("Flatten", "flatten", "reshape") or c.fam(prev) in ("dropout", "activation") or \
                    prev.op in PASS_THROUGH:
                src = prev
                continue
            src = prev
            break
        shape = src.out_shapes[0]
        a = n.kind.a
        fout, b = a["out_features"], (1 if a["bias"] else 0)
        if len(shape) < 2 or math.prod(shape[1:]) <= 1 or math.prod(shape) != a["in_features"]:
            continue              # not a flattened feature map (an MLP's layers are all fully connected)
        C = shape[0]
        new_p = fout * (C + b)
        saving = {"params": p - new_p, "macs": c.L[n.id]["macs"] - n.kind.N * C * fout,
                  "bytes": (p - new_p) * c.itemsize}
        fix = _("global-average-pool the {shape} map of '{source}' to {channels} features first "
                "(AdaptiveAvgPool2d(1) + Flatten): the layer shrinks to {formula} = {new_params} params; or reduce "
                "the channels with a 1x1 conv before flattening").format(
            shape="x".join(map(str, shape)), source=src.name, channels=C, formula=f"{C}*{fout} + {b * fout}",
            new_params=f"{new_p:,}")
        yield Finding(
            "CC105", "fc-dominates-params", "warning", [n.name],
            _("Linear '{node}' holds {params} of the {total} parameters ({share})").format(
                node=n.name, params=f"{p:,}", total=f"{total:,}", share=f"{100 * p / total:.1f}%"),
            _("a fully connected layer on a flattened feature map ties a weight to every position: most of the "
              "model's memory (and over-fitting capacity) sits in one layer that does little compute"),
            fix, saving, c.loc(n))


def _window_geom(n):
    """(k_eff, stride, left padding, dilation) per spatial axis of a conv or pooling node."""
    geo = _geometry(n)
    return tuple(geo.extent(i) for i in range(geo.nd)), tuple(geo.stride), tuple(geo.pad_lo), tuple(geo.dilation)


AXIS_WORDS = {1: (("L", "position"),), 2: (("H", "row"), ("W", "column")),
              3: (("D", "slice"), ("H", "row"), ("W", "column"))}
# how many of them were dropped, in words (the `row` of AXIS_WORDS is the key)
DROPPED = {"position": N_("{count} position"), "row": N_("{count} row"), "column": N_("{count} column"),
           "slice": N_("{count} slice")}
DROPPED_PLURAL = {"position": N_("{count} positions"), "row": N_("{count} rows"), "column": N_("{count} columns"),
                  "slice": N_("{count} slices")}


def _dropped(n, word):
    return _((DROPPED if n == 1 else DROPPED_PLURAL)[word]).format(count=f"{n:,}")


@rule("CC106", "stride-drops-input", "warning", "a stride that does not divide the padded input: pixels dropped")
def stride_drops(c: Ctx):
    for n in c.nodes:
        if not (is_conv(n) or is_pool(n)):
            continue
        ke, st, pl, _dil = _window_geom(n)
        if max(st) == 1:
            continue
        ins, outs = n.kind.in_shape[1:], n.kind.out_shape[1:]
        dropped = []
        for L, o, k, s, p in zip(ins, outs, ke, st, pl):
            end = (o - 1) * s - p + k         # one past the last input index any window reads
            # a window shorter than the stride leaves gaps everywhere (CC107), not only at the end
            dropped.append(max(0, L - end) if k >= s else 0)
        if not any(dropped):
            continue
        words = AXIS_WORDS.get(len(ins), tuple((f"axis{i}", "position") for i in range(len(ins))))
        parts = [f"{_dropped(d, w)} ({ax})" for d, (ax, w) in zip(dropped, words) if d]
        lost = math.prod(ins) - math.prod(L - d for L, d in zip(ins, dropped))
        arith = "; ".join(
            _("{axis}: {formula} = {value} is not a multiple of the stride {stride}").format(
                axis=ax, formula=f"({L} + 2*{p} - {k})", value=L + 2 * p - k, stride=s)
            for (ax, _w), L, k, s, p, d in zip(words, ins, ke, st, pl, dropped) if d)
        yield Finding(
            "CC106", "stride-drops-input", "warning", [n.name],
            _("{op} '{node}' never reads the last {parts} of its {shape} input").format(
                op=n.op, node=n.name, parts=", ".join(parts), shape="x".join(map(str, ins))),
            _("{arithmetic}: the windows stop before the end and the rest is silently dropped "
              "({lost} of {total} positions per channel)").format(arithmetic=arith, lost=f"{lost:,}",
                                                                  total=f"{math.prod(ins):,}"),
            _("adjust the padding or the input size so the stride divides (input + 2*padding - kernel)")
            + ("; " + _("or set `ceil_mode: true`") if is_pool(n) else ""), {}, c.loc(n))


def _covered(L, o, k, s, p, d):
    """Number of input indices (0..L-1) read by at least one window on one axis."""
    seen = set()
    for i in range(o):
        start = i * s - p
        for j in range(k):
            x = start + j * d
            if 0 <= x < L:
                seen.add(x)
    return len(seen)


@rule("CC107", "window-smaller-than-stride", "warning", "a pooling (or conv) window smaller than its stride")
def window_gaps(c: Ctx):
    for n in c.nodes:
        if not (is_pool(n) or is_conv(n)):
            continue
        ke, st, pl, dil = _window_geom(n)
        if all(k >= s for k, s in zip(ke, st)):
            continue
        ks = tuple(_geometry(n).kernel)
        ins, outs = n.kind.in_shape[1:], n.kind.out_shape[1:]
        cov = [_covered(L, o, k, s, p, d) for L, o, k, s, p, d in zip(ins, outs, ks, st, pl, dil)]
        total = math.prod(ins)
        unseen = total - math.prod(cov)
        head = _("{op} '{node}' has kernel {kernel} but stride {stride}: {unseen} of {total} input positions per "
                 "channel ({share}) are never seen").format(
            op=n.op, node=n.name, kernel=_fmt_kernel(ks), stride=_fmt_kernel(st), unseen=f"{unseen:,}",
            total=f"{total:,}", share=f"{100 * unseen / total:.0f}%")
        why = _("each window is shorter than the step between windows, so the positions in the gaps never reach "
                "any output (and get no gradient)")
        if is_pool(n):
            yield Finding("CC107", "window-smaller-than-stride", "warning", [n.name], head, why,
                          _("make the kernel at least as large as the stride (kernel_size >= stride)"), {}, c.loc(n))
        else:
            # ResNet's 1x1 stride-2 shortcut is the classic case; ResNet-D (He et al. 2019) fixes it
            yield Finding("CC107", "window-smaller-than-stride", "info", [n.name], head, why,
                          _("downsample with an average pooling (kernel = stride) before a stride-1 conv, as "
                            "ResNet-D does, or use a kernel at least as large as the stride"), {}, c.loc(n))


def final_rf(report):
    """The receptive field of the network's last spatial feature map.

    Returns (layer name, rf dict, input extent) or None: the last layer, among the ancestors of the
    first output, whose output still has a spatial extent (rank >= 2 and more than one position).
    Its rf may be global (squeeze-excitation gates make every later map global) or data dependent.
    """
    layers = report.get("layers") or []
    if not layers or not report.get("outputs") or not report.get("inputs"):
        return None
    by_name = {L["name"]: L for L in layers}
    out = report["outputs"][0].split(":")[0]
    anc, stack = set(), [out]
    while stack:
        x = stack.pop()
        if x in anc or x not in by_name:
            continue
        anc.add(x)
        stack.extend(i.split(":")[0] for i in by_name[x].get("inputs", []))
    for L in reversed(layers):
        shape = L.get("output_shape") or []
        if shape and isinstance(shape[0], list):
            shape = shape[0]
        if L["name"] not in anc or len(shape) < 2 or math.prod(shape[1:]) <= 1:
            continue
        rf = L.get("rf")
        if not rf or not rf.get("size"):
            return None
        src = next(iter(rf.get("per_input") or {}), None)
        ishape = report["inputs"].get(src) if src else None
        ishape = ishape or next(iter(report["inputs"].values()))
        extent = list(ishape[1:])
        if len(extent) != len(rf["size"]):
            return None
        return L["name"], rf, extent
    return None


@rule("CC108", "receptive-field", "info", "final receptive field smaller than the input, or far beyond it")
def receptive_field(c: Ctx):
    rep = {"layers": [{"name": n.name, "inputs": [c.nodes[i].name for i, _ in n.inputs], "rf": c.L[n.id].get("rf"),
                       "output_shape": list(n.out_shapes[0])} for n in c.nodes if not n.is_input],
           "outputs": [c.nodes[i].name for i, _ in c.g.outputs],
           "inputs": {c.nodes[i].name: list(c.nodes[i].out_shapes[0]) for i in c.g.inputs}}
    fr = final_rf(rep)
    if fr is None:
        return
    name, rf, extent = fr
    if rf.get("global") or rf.get("data_dependent"):
        return
    size = rf["size"]
    node = next(n for n in c.nodes if n.name == name)
    sz = "x".join(f"{x:g}" for x in size)
    ex = "x".join(map(str, extent))
    if any(s < e for s, e in zip(size, extent)):
        yield Finding(
            "CC108", "receptive-field", "info", [name],
            _("the last feature map ('{node}') has a {size} receptive field, smaller than the {input} input").format(
                node=name, size=sz, input=ex),
            _("no unit before the global pooling or flatten sees the whole image: features larger than "
              "{size} are only combined by the head").format(size=sz),
            _("add a stage or a downsampling step (or dilation) to grow the receptive field, or use a smaller input"),
            {}, c.loc(node))
    elif all(s > 4 * e for s, e in zip(size, extent)):
        yield Finding(
            "CC108", "receptive-field", "info", [name],
            _("the last feature map ('{node}') has a {size} receptive field, more than 4x the {input} input").format(
                node=name, size=sz, input=ex),
            _("most of each deep unit's receptive field lies in the zero padding: the last layers add cost "
              "without seeing more of the image"),
            _("drop layers of the last stages, or feed a larger input"), {}, c.loc(node))


def weighted_depth(c: Ctx):
    """The largest number of conv/linear layers on any path from an input."""
    depth = {}
    for n in c.nodes:
        d = max((depth.get(i, 0) for i, _ in n.inputs), default=0)
        depth[n.id] = d + (1 if is_weighted(n) else 0)
    return max(depth.values(), default=0)


@rule("CC109", "saturating-activation", "warning", "sigmoid or tanh activations in a deep network")
def saturating(c: Ctx):
    depth = weighted_depth(c)
    if depth <= 8:
        return
    hits = []
    for n in c.nodes:
        if n.op not in ("Sigmoid", "Tanh"):
            continue
        cons = [c.nodes[i] for i in c.cons[n.id]]
        if c.is_output(n) or any(x.op == "mul" or c.fam(x) == "loss" for x in cons):
            continue        # a gate (squeeze-excitation, attention) or the output non-linearity
        hits.append(n)
    if not hits:
        return
    ops = sorted({n.op for n in hits})
    yield Finding(
        "CC109", "saturating-activation", "warning", [n.name for n in hits],
        ngettext("{count} {ops} activation in a network {depth} weighted layers deep",
                 "{count} {ops} activations in a network {depth} weighted layers deep", len(hits)).format(
            count=len(hits), ops="/".join(ops), depth=depth),
        _("sigmoid and tanh saturate: their derivative is at most 1/4 (sigmoid) or 1 (tanh) and near 0 for "
          "large inputs, so gradients shrink layer after layer (the vanishing-gradient problem)"),
        _("use ReLU (or GELU/SiLU) between layers; keep sigmoid only for gates and outputs"), {}, c.loc(hits[0]))


@rule("CC110", "softmax-before-loss", "error", "softmax right before CrossEntropyLoss")
def softmax_loss(c: Ctx):
    for n in c.nodes:
        if n.op not in ("Softmax", "LogSoftmax"):
            continue
        nxt = c.next_real(n)
        if nxt is None or nxt.op not in ("CrossEntropyLoss", "NLLLoss"):
            continue
        if n.op == "LogSoftmax" and nxt.op == "NLLLoss":
            continue
        elems = n.kind.N * math.prod(n.out_shapes[0])
        flops = c.L[n.id]["flops"]
        if n.op == "Softmax":
            if nxt.op == "CrossEntropyLoss":
                reason = _("{loss} expects logits and applies log-softmax itself: on probabilities the loss is "
                           "computed on the wrong quantity, its gradients are squashed, and training stalls")
            else:
                reason = _("{loss} expects log-probabilities: on probabilities the loss is computed on the wrong "
                           "quantity, its gradients are squashed, and training stalls")
            reason = reason.format(loss=nxt.op)
            sev, fix = "error", (_("remove the Softmax (apply it only at inference)") if nxt.op == "CrossEntropyLoss"
                                 else _("use LogSoftmax before NLLLoss, or drop both for CrossEntropyLoss"))
        else:
            reason = _("CrossEntropyLoss applies log-softmax itself; log-softmax is idempotent, so the result is "
                       "right but the layer is wasted work")
            sev, fix = "warning", _("remove the LogSoftmax, or use NLLLoss instead of CrossEntropyLoss")
        yield Finding("CC110", "softmax-before-loss", sev, [n.name, nxt.name],
                      _("{op} '{node}' feeds {next_op} '{next_node}'").format(op=n.op, node=n.name, next_op=nxt.op,
                                                                             next_node=nxt.name), reason, fix,
                      {"bytes": elems * c.itemsize, **({"flops": flops} if flops else {})}, c.loc(n))


@rule("CC111", "dropout-before-bn", "warning", "dropout right before BatchNorm")
def dropout_bn(c: Ctx):
    for n in c.nodes:
        if c.fam(n) != "dropout":
            continue
        nxt = c.next_real(n)
        if nxt is None or not nxt.op.startswith("BatchNorm"):
            continue
        yield Finding(
            "CC111", "dropout-before-bn", "warning", [n.name, nxt.name],
            _("{op} '{node}' feeds {next_op} '{next_node}'").format(op=n.op, node=n.name, next_op=nxt.op,
                                                                   next_node=nxt.name),
            _("dropout changes the variance of its output between training and evaluation, so the running "
              "variance BatchNorm learns in training is wrong at test time (the 'variance shift' of Li et al., "
              "2019)"),
            _("move the dropout after the last BatchNorm (just before the classifier), or drop it"),
            {}, c.loc(n))


def _from_input(c, n):
    """True if n's input comes from a graph input through layers that keep the channels."""
    cur = n
    while cur.inputs:
        prev = c.nodes[cur.inputs[0][0]]
        if prev.is_input:
            return True
        if is_weighted(prev) or len(prev.inputs) != 1 or prev.out_shapes[0][:1] != prev.kind.in_shape[:1]:
            return False
        cur = prev
    return False


def _div8(x):
    return max(8, int(x + 4) // 8 * 8)


@rule("CC112", "channels-not-multiple-of-8", "info", "channel counts not multiples of 8 on heavy layers")
def channels_8(c: Ctx):
    total = c.tot["macs"]
    if not total:
        return
    heavy_after = {n.id: False for n in c.nodes}     # has a weighted layer downstream
    for n in reversed(c.nodes):
        heavy_after[n.id] = any(heavy_after[i] or is_weighted(c.nodes[i]) for i in c.cons[n.id])
    for n in c.nodes:
        if not is_weighted(n) or c.L[n.id]["macs"] * 20 <= total:
            continue
        a = n.kind.a
        if is_linear(n):
            pairs = [("in_features", a["in_features"]), ("out_features", a["out_features"])]
        else:
            pairs = [("in_channels", a["in_channels"]), ("out_channels", a["out_channels"])]
        if _from_input(c, n):
            pairs = pairs[1:]          # the input's channels are given, not chosen
        if not heavy_after[n.id]:
            pairs = pairs[:-1] if len(pairs) == 2 else []   # the output width (classes) is given too
        bad = [(k, v) for k, v in pairs if v % 8]
        if not bad:
            continue
        share = 100 * c.L[n.id]["macs"] / total
        yield Finding(
            "CC112", "channels-not-multiple-of-8", "info", [n.name],
            _("{op} '{node}' ({share} of the MACs) has {values}, not a multiple of 8").format(
                op=n.op, node=n.name, share=f"{share:.0f}%", values=_(" and ").join(f"{k}={v}" for k, v in bad)),
            _("tensor-core GEMM and convolution kernels (fp16/bf16, and TF32) run at full speed when channel counts "
              "are multiples of 8; other counts are padded or fall back to slower kernels"),
            _("round to {values} (make_divisible(v, 8))").format(values=", ".join(f"{k}={_div8(v)}" for k, v in bad)),
            {}, c.loc(n))


def _spatial_one(shape):
    return len(shape) >= 2 and all(x == 1 for x in shape[1:])


def _no_spatial(shape):
    return len(shape) <= 1 or all(x == 1 for x in shape[1:])


@rule("CC113", "early-spatial-collapse", "warning", "spatial size collapsed to 1x1 long before the head")
def early_collapse(c: Ctx):
    for n in c.nodes:
        if n.is_input or not n.inputs or not _spatial_one(n.out_shapes[0]):
            continue
        ins = c.nodes[n.inputs[0][0]].out_shapes[n.inputs[0][1]]
        if _no_spatial(ins):
            continue              # not the node where the collapse happens
        # weighted layers downstream while the tensors stay without spatial extent
        after, wasted, stack, seen = [], 0, list(c.cons[n.id]), set()
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            m = c.nodes[i]
            if not all(_no_spatial(s) for s in m.out_shapes):
                continue
            if is_weighted(m):
                after.append(m)
                if is_conv(m) and m.kind.in_shapes and _spatial_one(m.kind.in_shape):
                    taps = math.prod(_geometry(m).kernel)
                    a = m.kind.a
                    wasted += a["out_channels"] * (a["in_channels"] // a["groups"]) * (taps - 1)
            stack.extend(c.cons[i])
        if len(after) < 3:
            continue
        after.sort(key=lambda m: m.id)
        yield Finding(
            "CC113", "early-spatial-collapse", "warning", [n.name] + [m.name for m in after],
            _("{op} '{node}' reduces the map to {shape}, and {count} weighted layers still follow").format(
                op=n.op, node=n.name, shape="x".join(map(str, n.out_shapes[0][1:])), count=len(after)),
            _("after the collapse every convolution sees one pixel: kernels larger than 1x1 multiply padding "
              "zeros, and the layers act as a fully connected stack on a single position"),
            _("downsample less (drop a stride or a pooling) so the last stages keep a spatial map, or make "
              "the layers after the collapse 1x1/Linear"),
            ({"params": wasted, "bytes": wasted * c.itemsize} if wasted else {}), c.loc(n))


# --------------------------------------------------------------------------- entry point
def review(analysis, ignore=()) -> list[Finding]:
    """Run every rule not ignored; findings in graph order (then by rule ID)."""
    ign = {_rule_id(x) for x in ignore}
    c = Ctx(analysis)
    order = {n.name: n.id for n in c.nodes}
    out = []
    for rid, r in RULES.items():
        if rid in ign:
            continue
        out.extend(r.fn(c))
    out.sort(key=lambda f: (order.get(f.nodes[0], 0) if f.nodes else 0, f.id))
    return out


def _rule_id(x: str) -> str:
    """Accept `CC101`, `cc101`, or the slug `conv-bias-before-bn`."""
    x = x.strip()
    if x.upper() in RULES:
        return x.upper()
    for r in RULES.values():
        if r.slug == x.lower():
            return r.id
    return x.upper()


def unknown_ids(ids):
    return [x for x in ids if _rule_id(x) not in RULES]


def review_dict(analysis, findings, ignored=()) -> dict:
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITIES}
    from ..i18n import current
    return {"lang": current(), "model": analysis.g.name, "file": analysis.g.file, "findings": [f.to_dict() for f in findings],
            "counts": counts, "ignored": sorted(_rule_id(x) for x in ignored),
            "rules": {r.id: {"slug": r.slug, "severity": r.severity, "title": r.title} for r in RULES.values()}}
