"""Compare the analysis with the real model: one ``Check`` per compared number.

``verify(...)`` runs every phase and returns a plain, JSON-serialisable result::

    {"model", "file", "device", "batch", "seed", "dtype", "checks": [...], "summary": {...},
     "timings": {...}, "exit_code": 0|1}

Each check: ``{"check", "scope" ("total"|"layer"|"module"|"info"), "name", "analytical", "measured",
"verdict" ("match"|"mismatch"|"not covered"|"info"), "reason"}``.
"""
from __future__ import annotations

import math
import time
from fractions import Fraction
from dataclasses import asdict, dataclass, field

from ..conventions import tally
from .tool_totals import _blind_work, _tool_total, blind_reason
from .verdicts import INFO, MATCH, MISMATCH, NOT_COVERED  # noqa: F401  (re-exported)

# Families whose work FlopCounterMode counts (aten convolution, mm/addmm/bmm, attention).
FCM_FAMILIES = ("conv", "linear")
FCM_REASON = "FlopCounterMode counts only convolution, matmul and attention"
FVCORE_REASON = "fvcore does not count this op by default"


@dataclass
class Check:
    check: str
    scope: str
    name: str
    analytical: object
    measured: object
    verdict: str
    reason: str = ""


@dataclass
class Result:
    model: str
    file: str
    device: str
    batch: int
    seed: int
    dtype: str
    checks: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def add(self, check, scope, name, analytical, measured, verdict=None, reason=""):
        if verdict is None:
            verdict = MATCH if analytical == measured else MISMATCH
        self.checks.append(Check(check, scope, name, analytical, measured, verdict, reason))

    def summary(self):
        s = {MATCH: 0, MISMATCH: 0, NOT_COVERED: 0, INFO: 0}
        for c in self.checks:
            s[c.verdict] += 1
        return {"match": s[MATCH], "mismatch": s[MISMATCH], "not_covered": s[NOT_COVERED], "info": s[INFO]}

    def to_dict(self):
        summ = self.summary()
        return {"model": self.model, "file": self.file, "device": self.device, "batch": self.batch,
                "seed": self.seed, "dtype": self.dtype, "summary": summ,
                "checks": [asdict(c) for c in self.checks], "timings": {k: round(v, 3) for k, v in self.timings.items()},
                "notes": list(self.notes), "exit_code": 1 if summ["mismatch"] else 0}


class _Phases:
    """Times phases and reports them to an optional progress callback(name)."""

    def __init__(self, result, progress):
        self.r = result
        self.progress = progress

    def __call__(self, name):
        return _Phase(self, name)


class _Phase:
    def __init__(self, owner, name):
        self.o, self.name = owner, name

    def __enter__(self):
        if self.o.progress:
            self.o.progress(self.name)
        self.t = time.perf_counter()

    def __exit__(self, *exc):
        self.o.r.timings[self.name] = time.perf_counter() - self.t
        return False


# ---------------------------------------------------------------------------------------------------
def estimate_bytes(analysis) -> int:
    """Memory the verification needs, from the analysis: every activation kept once in the forward
    (the interpreter frees values after their last use, but training keeps what autograd saves),
    the saved tensors, the parameters with their gradients, and the receptive-field probe (batch 1,
    float64 at worst)."""
    t = analysis.totals()
    B = max(1, analysis.g.batch)
    act = t["activation_bytes"]
    per_sample = act // B
    probe = 2 * (per_sample * 8 // max(1, analysis.itemsize))
    return int(act + t["saved_bytes"] + 3 * t["param_bytes"] + probe)


def available_bytes(device: str) -> int | None:
    if device.startswith("cuda"):
        import torch
        free, _total = torch.cuda.mem_get_info()
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class TooBig(Exception):
    pass


def resolve_device(device: str) -> str:
    if device in ("auto", None):
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            raise TooBig("--device cuda was asked for but CUDA is not available here; use --device cpu")
    return device


# ---------------------------------------------------------------------------------------------------
def verify(path, *, batch=None, input_shape=None, overrides=None, dtype=None, device="auto", seed=0,
           text=None, progress=None, check_memory=True, probe=True, fvcore=True) -> dict:
    """Analyse the spec at ``path`` and cross-check it against the real torch model."""
    from ..pipeline import analysis_for
    kw = dict(batch=batch, input_shape=input_shape, overrides=overrides, dtype=dtype, text=text)
    analysis = analysis_for(path, **kw)
    if getattr(analysis, "has_errors", False):
        from ..errors import SpecErrors
        raise SpecErrors([d for d in analysis.diagnostics if d.severity == "error"])

    def reload(convention=None, batch=None):
        return analysis_for(path, **dict(kw, convention=convention, batch=batch or kw["batch"]))
    return verify_analysis(analysis, reload, path=path, device=device, seed=seed, progress=progress,
                           check_memory=check_memory, probe=probe, fvcore=fvcore)


def verify_analysis(analysis, reload, *, path="", device="auto", seed=0, progress=None, check_memory=True, probe=True,
                    fvcore=True) -> dict:
    """Cross-check analysis ``a``; ``reload(convention=..., batch=...)`` re-analyses the same network
    under another counting convention or batch (the FLOP counters' conventions)."""
    g = analysis.g
    device = resolve_device(device)
    res = Result(g.name, str(path), device, g.batch, seed, g.dtype)
    phase = _Phases(res, progress)
    if check_memory:
        need = estimate_bytes(analysis)
        have = available_bytes(device)
        if have is not None and need > 0.8 * have:
            t = analysis.totals()
            per = max(1, (t["activation_bytes"] + t["saved_bytes"]) // max(1, g.batch))
            fit = max(0, int(0.8 * have - (need - per * g.batch)) // per)
            raise TooBig(f"verifying {g.name} at batch {g.batch} needs about {_gib(need)}, more than 80% of the "
                         f"{_gib(have)} {device} memory available; " +
                         (f"try --batch {min(fit, g.batch - 1)}" if fit >= 1 else "try a smaller input (--input)"))
    with phase("import torch"):
        import torch
        from . import build  # noqa: F401  (imported here so its cost is timed with torch's)
    _refuse_foreign_modes()
    threads = torch.get_num_threads()
    if analysis.totals()["macs"] < 2e8:
        torch.set_num_threads(1)    # small models: OpenMP hand-offs cost more than they give
    memo = {}

    def cached(convention=None, batch=None):     # a module target re-captures: once per convention
        key = (convention, batch)
        if key not in memo:
            memo[key] = reload(convention=convention, batch=batch)
        return memo[key]
    try:
        return _run(analysis, cached, res, phase, device, seed, probe, fvcore)
    finally:
        torch.set_num_threads(threads)


def _run(analysis, reload, res, phase, device, seed, probe, fvcore):
    from .build import build_model, make_inputs, torch_dtype
    from .module_checks import check_module, is_module_analysis
    g = analysis.g
    own = False
    if is_module_analysis(analysis):     # a MODULE:ATTR target: measure the user's own module first
        own = check_module(res, analysis, reload, phase, seed, fvcore)
    with phase("build model"):
        model = build_model(g, seed)
        dt = torch_dtype(g.dtype)
        model.to(device=device, dtype=dt)
        inputs = make_inputs(g, g.batch, seed, dt, device)
    if model.unbuildable:
        ops = sorted({op for _, op in model.unbuildable})
        what = (f"{len(model.unbuildable)} node(s) have no torch builder (ops: {', '.join(ops)}; first: "
                f"{model.unbuildable[0][0]})")
        if own:
            res.notes.append(f"the graph rebuilt from the analysis cannot run: {what}; compared on the module "
                             "itself only")
            if probe:
                res.add("receptive field", "layer", "", None, None, NOT_COVERED,
                        f"the probe runs a graph rebuilt from the analysis, and {what}")
        else:
            res.add("torch model", "total", "", None, None, NOT_COVERED, what + ": nothing can be run and compared")
        return res.to_dict()
    report = analysis.report()
    nodes = [n for n in g.nodes if not n.is_input]

    with phase("forward: shapes, FlopCounterMode"):
        from .measure import measure_fcm
        try:
            fcm_nodes = {}
            fcm_total, fcm_per = measure_fcm(model, inputs, fcm_nodes)
        except Exception as e:  # the real model does not run: report it, stop there
            res.add("forward pass", "total", "", "runs", f"{type(e).__name__}: {str(e).splitlines()[0][:200]}",
                    MISMATCH, "the torch model built from the spec fails")
            return res.to_dict()
        _check_shapes(res, g, nodes, model.shapes)
    with phase("parameters"):
        _check_params(res, analysis, report, nodes, model)
    _check_fcm(res, reload, g, model, fcm_total, fcm_per, fcm_nodes)
    if fvcore:
        with phase("FLOPs: fvcore"):
            _check_fvcore(res, reload, g, model, inputs)
    with phase("saved for backward"):
        _check_saved(res, analysis, reload, model, inputs, device, seed)
    if device.startswith("cuda"):
        with phase("CUDA peak memory"):
            from ..devices.verdict import cuda_memory_check
            cuda_memory_check(res, analysis, model, inputs)
    if probe:
        with phase("receptive field probe"):
            _check_rf(res, g, seed)
    return res.to_dict()


def _check_rf(res, g, seed):
    """The exact window of the centre, every corner and 3 random units of every graph output (and of
    the final feature maps a global output reads), against the support of the input gradients of the
    positive linear twin (cnncalc/receptive/probe.py).  Not covered: windows through data-dependent
    sampling (deformable convolution)."""
    from ..receptive.envelope import envelope
    from ..receptive.probe import inside, probe as run_probe
    from . import build
    many = len(g.inputs) > 1
    env = envelope(g)
    refs = {}
    for n in g.nodes:
        for k in range(max(1, len(n.out_shapes))):
            refs[(n.name, k)] = (n.id, k)
    for r in run_probe(g, build=build, seed=seed):
        ref = refs[(r.node, r.output)]
        for src, e in env.get(ref, {}).items():
            if r.verdict == NOT_COVERED or e.glob or e.data or len(e.r) != len(r.unit) or r.got.get(src) is None \
                    or r.bounded or any(g.nodes[i].kind.copies_border or _fractional(g.nodes[i]) for i in r.path):
                # padding that copies pixels reads outside the zero-padding field; after a fractional
                # step (upsampling, transposed conv) the envelope is a continuous approximation
                continue
            # the analysis's (size, stride, padding) field of this unit, clipped to the input: it must hold
            # what the unit reads (it is the whole window on integer paths, a hull on fractional ones)
            L = g.shape((g.inputs[[g.nodes[i].name for i in g.inputs].index(src)], 0))[1:]
            box = tuple((max(0, math.floor(e.start[a] + r.unit[a] * e.j[a])),
                         min(L[a] - 1, math.ceil(e.start[a] + r.unit[a] * e.j[a] + e.r[a] - 1)))
                        for a in range(len(r.unit)))
            got = r.got[src]
            holds = all(b[0] <= lo and hi <= b[1] for b, (lo, hi) in zip(box, got))
            out = f"{r.node}:{r.output}" if r.output else r.node
            res.add("receptive field (analysis field holds the measured window)", "layer",
                    f"{out} unit {list(r.unit)} ({r.label})" + (f", input {src}" if many else ""),
                    _box_text(box), _box_text(got), MATCH if holds else MISMATCH,
                    f"size {[_num(x) for x in e.r]}, stride {[_num(x) for x in e.j]}, padding "
                    f"{[_num(x) for x in e.padding]}" + ("" if holds else ": the measured window leaves it"))
        out = f"{r.node}:{r.output}" if r.output else r.node
        for src, want in r.want.items():
            if many and want is None and r.got.get(src) is None:
                continue              # this input is not on the unit's path: nothing to compare
            who = f"{out} unit {list(r.unit)} ({r.label})" + (f", input {src}" if many else "")
            got = r.got.get(src) if r.verdict != NOT_COVERED else None
            verdict = r.verdict if r.verdict == NOT_COVERED else \
                MATCH if got == want or (r.bounded and inside({src: got}, {src: want})) else MISMATCH
            note = r.note + ("; " if r.note and r.dtype == "float64" else "") + \
                ("measured in float64 (float32 lost a tail)" if r.dtype == "float64" else "")
            res.add("receptive field (gradient support)", "layer", who, _box_text(want),
                    None if verdict == NOT_COVERED else _box_text(got), verdict, note)


def _fractional(n):
    """A node whose receptive-field step has a fractional kernel, stride or padding."""
    if n.is_input:
        return False
    st = n.kind.rf()
    return any(Fraction(x).denominator != 1 for x in tuple(st.k) + tuple(st.s) + tuple(st.p))


def _num(x):
    x = Fraction(x)
    return int(x) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def _box_text(box):
    if box is None:
        return "none"
    return " x ".join(f"[{lo}, {hi}]" for lo, hi in box)


def _refuse_foreign_modes():
    """Measurements under someone else's dispatch mode (a FlopCounterMode left open) would be wrong."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack
    stack = _get_current_dispatch_mode_stack()
    if stack:
        raise RuntimeError("cannot verify inside an active torch dispatch mode ("
                           + ", ".join(type(m).__name__ for m in stack) + "): a FlopCounterMode or similar was "
                           "entered and not exited; its counts and module hooks would corrupt the measurements")


def _gib(b):
    return f"{b / 2**30:.1f} GiB" if b >= 2**30 else f"{b / 2**20:.0f} MiB"


# ---------------------------------------------------------------------------------------------------
def _check_shapes(res, g, nodes, shapes):
    def with_batch(n, s):
        k = n.kind
        if getattr(k, "family", "") == "loss" and k.args.get("reduction", "mean") != "none":
            return tuple(s)           # a reduced loss is a scalar: no batch dim
        return (g.batch,) + tuple(s)

    ok = 0
    for n in nodes:
        want = [with_batch(n, s) for s in n.out_shapes]
        got = shapes.get(n.id)
        if got is not None and len(got) > len(want):
            got = got[:len(want)]
        if got == want:
            ok += 1
            res.add("output shape", "layer", n.name, _shape_text(want), _shape_text(got), MATCH)
        else:
            res.add("output shape", "layer", n.name, _shape_text(want), _shape_text(got) if got else None, MISMATCH)
    outs = [with_batch(g.nodes[r[0]], g.shape(r)) for r in g.outputs]
    got = [shapes.get(nid, [None] * (k + 1))[k] for nid, k in g.outputs]
    res.add("model output shape", "total", "", _shape_text(outs), _shape_text(got))


def _shape_text(shapes):
    if shapes is None:
        return None
    return " ".join("[" + ", ".join(map(str, s)) + "]" if s is not None else "?" for s in shapes)


def _check_params(res, analysis, report, nodes, model):
    from .measure import measure_params
    m = measure_params(model)
    t = report["totals"]
    res.add("parameters", "total", "", t["params"], m["params"])
    res.add("trainable parameters", "total", "", t["trainable_params"], m["trainable_params"])
    res.add("buffers", "total", "", t["buffers"], m["buffers"])
    seen = set()
    for n in nodes:
        if n.module in seen or n.module not in m["per_module"]:
            continue
        seen.add(n.module)
        p, b = m["per_module"][n.module]
        L = analysis.layer[n.id]
        res.add("parameters", "module", n.module, L["module_params"], p)
        ab = n.kind.buffers().value
        if ab or b:
            res.add("buffers", "module", n.module, ab, b)


def _module_sums(a2, nodes):
    """Analytical FLOPs per module path (calls of a shared module summed)."""
    per = {}
    for n in nodes:
        per[n.module] = per.get(n.module, 0) + a2.layer[n.id]["flops"]
    return per


def _counter_gaps(a2, nodes, counter, per_node):
    """Nodes whose kind says ``counter`` may miss some of its work (a fused kernel), and where the count
    measured for the node is exactly the analysis less that work: node id -> (FLOPs missed, reason)."""
    gaps = {}
    for n in nodes:
        for terms, reason in n.kind.counter_gaps(counter):
            missed = tally(terms, a2.conventions).flops
            if missed and n.id in per_node and per_node[n.id] == a2.layer[n.id]["flops"] - missed:
                gaps[n.id] = (missed, reason)
                break
    return gaps


def _per_module(res, check, a2, nodes, model, per, labels, tool):
    """Per torch module of the rebuilt model: (first node, its nodes, analysed FLOPs, the tool's, blind-spot labels).
    A tensor function has no module the tool can attribute work to: reported as not covered here."""
    ana = _module_sums(a2, nodes)
    members = {}
    for n in nodes:
        members.setdefault(n.module, []).append(n)
    for module, ms in members.items():
        n, an = ms[0], ana[module]
        qual = model._paths.get(module)
        if qual is None:
            if an:
                res.add(check, "module", module, an, None, NOT_COVERED,
                        f"tensor function: {tool} attributes it to no module (counted in the total)")
            continue
        yield n, ms, an, per.get(qual, 0), [labels[m.id] for m in ms if m.id in labels]


def _check_fcm(res, reload, g, model, total, per, per_node=None):
    a2 = reload(convention="torch")
    tot = a2.totals()["flops"]
    nodes = [n for n in a2.g.nodes if not n.is_input]
    blind, labels = _blind_work(a2, nodes, "FlopCounterMode")
    gaps = _counter_gaps(a2, nodes, "FlopCounterMode", per_node or {})
    missed = sum(m for m, _ in gaps.values())
    if gaps and tot != total and tot - missed == total and not blind:
        res.add("FLOPs (torch convention) vs FlopCounterMode", "total", "", tot, total, NOT_COVERED,
                f"FlopCounterMode did not see {missed} FLOPs of " + ", ".join(sorted({a2.g.nodes[i].name for i in gaps}))
                + " (" + "; ".join(sorted({r for _, r in gaps.values()})) + "); the rest matches")
    else:
        _tool_total(res, "FLOPs (torch convention) vs FlopCounterMode", "FlopCounterMode", tot, total, blind, labels)
    check = "FLOPs (torch) per module"
    for n, members, an, got, ls in _per_module(res, check, a2, nodes, model, per, labels, "FlopCounterMode"):
        if ls and an == got:
            res.add(check, "module", n.module, an, got, MATCH, blind_reason("FlopCounterMode", ls))
        elif getattr(n.kind, "family", "") not in FCM_FAMILIES and an == 0 and got == 0:
            res.add(check, "module", n.module, an, got, NOT_COVERED, FCM_REASON)
        elif an != got and all(m.id in gaps for m in members) and an - sum(gaps[m.id][0] for m in members) == got:
            res.add(check, "module", n.module, an, got, NOT_COVERED,
                    "FlopCounterMode did not see " + "; ".join(sorted({gaps[m.id][1] for m in members})))
        elif n.kind.torch_counter_gap and an == 0 and got == 0:
            res.add(check, "module", n.module, an, got, NOT_COVERED, n.kind.torch_counter_gap)
        else:
            res.add(check, "module", n.module, an, got)
    res.notes.append("FlopCounterMode in torch 2.13/2.14 counts the weight gradient of a grouped convolution "
                     "`groups` times; only backward counts are affected, and only forward counts are compared here")


def _check_fvcore(res, reload, g, model, inputs):
    from .measure import measure_fvcore
    a2 = reload(convention="fvcore")
    try:
        total, per, unsupported = measure_fvcore(model, inputs)
    except Exception as e:   # fvcore traces with torch.jit: some graphs cannot be traced
        res.add("FLOPs (fvcore convention) vs fvcore", "total", "", a2.totals()["flops"], None, NOT_COVERED,
                f"fvcore could not trace the model ({type(e).__name__}: {str(e).splitlines()[0][:120]})")
        return
    tot = a2.totals()["flops"]
    nodes = [n for n in a2.g.nodes if not n.is_input]
    skipped = ("fvcore skipped: " + ", ".join(sorted(unsupported))) if unsupported else ""
    blind, labels = _blind_work(a2, nodes, "fvcore")
    # fvcore gives no per-node counts: a kind's declared gap is accepted when it explains the total exactly
    gaps = {n.id: g[0] for n in nodes if (g := n.kind.counter_gaps("fvcore"))}
    missed = sum(sum(t.count * c for t in terms if (c := a2.conv.cost(t.rules)) is not None)
                 for terms, _ in gaps.values())
    if gaps and tot != total and tot - missed == total:
        res.add("FLOPs (fvcore convention) vs fvcore", "total", "", tot, total, NOT_COVERED,
                f"fvcore did not count {missed} FLOPs of " + ", ".join(sorted(a2.g.nodes[i].name for i in gaps))
                + " (" + "; ".join(sorted({r for _, r in gaps.values()})) + "); the rest matches"
                + (f"; {skipped}" if skipped else ""))
    else:
        _tool_total(res, "FLOPs (fvcore convention) vs fvcore", "fvcore", tot, total, blind, labels, skipped)
    check = "FLOPs (fvcore) per module"
    for n, _members, an, got, ls in _per_module(res, check, a2, nodes, model, per, labels, "fvcore"):
        if ls and an == got:
            res.add(check, "module", n.module, an, got, MATCH, blind_reason("fvcore", ls))
        elif an == 0 and got == 0:
            res.add(check, "module", n.module, an, got, NOT_COVERED, FVCORE_REASON)
        else:
            res.add(check, "module", n.module, an, got)


def _check_saved(res, analysis, reload, model, inputs, device, seed):
    from .measure import measure_saved
    try:
        try:
            total, per, items = measure_saved(model, inputs)
        except ValueError as e:
            if "more than 1 value per channel" not in str(e):
                raise
            # batch norm cannot train on one value per channel (batch 1 after a global pool):
            # measure, and compare with an analysis, at batch 2
            from .build import make_inputs, torch_dtype
            analysis = reload(batch=2)
            inputs = make_inputs(analysis.g, 2, seed, torch_dtype(analysis.g.dtype), device)
            total, per, items = measure_saved(model, inputs)
            res.notes.append("bytes saved for backward were measured and analysed at batch 2: batch norm "
                             "cannot train on one value per channel at batch 1")
    except (RuntimeError, NotImplementedError, ValueError) as e:
        res.add("bytes saved for backward", "total", "", analysis.totals()["saved_bytes"], None, NOT_COVERED,
                f"torch cannot run a training forward of this model here ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:150]})")
        return
    report = analysis.report()
    by_name = {L["name"]: L for L in report["layers"]}
    nodes = [n for n in analysis.g.nodes if not n.is_input]
    t = report["totals"]["saved_bytes"]
    exact = device == "cpu"
    why = "" if exact else "on CUDA, cuDNN may save different workspaces: shown, compared on CPU only"
    gap = {n.id: n.kind.saved_gap() for n in nodes if n.kind.saved_gap()}
    off = sum(per.get(i, 0) - by_name[analysis.g.nodes[i].name]["saved_bytes"] for i in gap)
    if exact and gap and t != total and t + off == total:
        res.add("bytes saved for backward", "total", "", t, total, NOT_COVERED,
                "the rest matches; " + "; ".join(sorted(set(gap.values()))))
    else:
        res.add("bytes saved for backward", "total", "", t, total, None if exact else (MATCH if t == total else INFO),
                why)
    for n in nodes:
        want = by_name[n.name]["saved_bytes"]
        got = per.get(n.id, 0)
        v = None if exact else (MATCH if want == got else INFO)
        detail = ""
        if want != got and n.id in items:
            detail = "torch saved " + ", ".join(f"{list(s)} {d}" for s, d, _ in items[n.id])
        elif want != got and got == 0 and not _needs_grad(analysis, n):
            detail = NO_GRAD_REASON
        if exact and want != got and n.kind.saved_gap():
            v, detail = NOT_COVERED, n.kind.saved_gap()
        res.add("saved for backward", "layer", n.name, want, got, v, detail or why)


NO_GRAD_REASON = ("torch saves nothing here: the layer has no parameters and reads only network inputs, "
                  "which do not require grad, so autograd records nothing")


def _needs_grad(analysis, n):
    """Does autograd record this node in training (a parameter, or an input that requires grad)?
    The analysis's gradient-flow pass says (``core.passes.gradients``)."""
    return analysis.flow.in_autograd[n.id]
