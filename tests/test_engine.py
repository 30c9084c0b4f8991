"""One engine: every number computed once, by passes over the graph, and read by everything else.

- the layer explanation and the analysis give the same FLOPs (they share one tally);
- the homework recomputation is the analysis' passes run again (its baseline equals the analysis,
  and branches merge per axis as the receptive-field pass merges them);
- an Analysis is read-only once built;
- a kind defined in this file, and nowhere else, works in analyze, explain, memory and verify.
"""
from __future__ import annotations

import pytest

from conftest import analyse_text
from cnncalc.homework.layer import layer_report
from cnncalc.homework.recompute import Recomputed
from cnncalc.conventions import PRESETS, tally
from cnncalc.core import memory as M
from cnncalc.kinds import REGISTRY
from cnncalc.kinds.base import Arg, Figure, Kind, Saved, Term, register


# ------------------------------------------------------------------ one tally
def _section(report, key):
    return next(s for s in report["sections"] if s["key"] == key)


def test_adaptive_avg_pool_under_fvcore_value_and_explanation_agree():
    # fvcore's adaptive_avg_pool2d handler counts one FLOP per input element: 8*6*6 = 288
    rep = layer_report("AdaptiveAvgPool2d(2)", (8, 6, 6), convention="fvcore")
    sec = _section(rep, "flops")
    assert sec["value"] == 288
    counted = [ln for ln in sec["lines"] if "FLOP" in ln and "each" in ln]
    assert len(counted) == 1 and counted[0].split("   (")[0].endswith("= 288")
    assert not any(ln.startswith("FLOPs = 0") for ln in sec["lines"])


def test_adaptive_avg_pool_fvcore_figure_is_fvcores():
    torch = pytest.importorskip("torch")
    fvcore_nn = pytest.importorskip("fvcore.nn")
    import logging
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    m = torch.nn.AdaptiveAvgPool2d(2).eval()
    measured = fvcore_nn.FlopCountAnalysis(m, torch.zeros(1, 8, 6, 6))
    measured.unsupported_ops_warnings(False)
    measured.uncalled_modules_warnings(False)
    rep = layer_report("AdaptiveAvgPool2d(2)", (8, 6, 6), convention="fvcore")
    assert _section(rep, "flops")["value"] == measured.total() == 288


def test_tally_counts_an_alternative_accounting_only_where_its_convention_prices_it():
    f = Figure(10, "", {}, "x")
    terms = [Term(("adaptive_avg_pool",), 12, f), Term(("adaptive_avg_pool2d_in",), 36, f, alt=True)]
    d = tally(terms, PRESETS["default"])       # default: 1 per window element, the alternative unpriced
    assert (d.macs, d.flops, d.excluded) == (0, 12, ())
    fv = tally(terms, PRESETS["fvcore"])       # fvcore: 1 per input element, the window count excluded
    assert (fv.macs, fv.flops, fv.excluded) == (0, 36, ("adaptive_avg_pool",))
    mac = tally([Term(("conv",), 100, f), Term(("bias",), 10, f)], PRESETS["paper"])
    assert (mac.macs, mac.flops, mac.excluded) == (100, 100, ("bias",))


# ------------------------------------------------------------------ homework = the same passes
MERGE = """cnncalc: 1
input: [1, 8, 8]
layers:
  - parallel:
      tall: [{Conv2d: {out_channels: 1, kernel_size: [5, 1], stride: [1, 2]}}]
      wide: [{Conv2d: {out_channels: 1, kernel_size: [1, 5], stride: [2, 1]}}]
    merge: add
"""


def test_homework_merges_receptive_field_jumps_per_axis():
    # tall: H 8-5+1 = 4 rows at jump 1, W (8-1)//2+1 = 4 columns at jump 2 -> jumps (1, 2)
    # wide: H (8-1)//2+1 = 4 rows at jump 2, W 8-5+1 = 4 columns at jump 1 -> jumps (2, 1)
    # the union's jump, per axis: (max(1, 2), max(2, 1)) = (2, 2); a max of the tuples would say (2, 1)
    a = analyse_text(MERGE)
    merge = a.g.nodes[-1]
    assert "rf-not-aligned" in [d.code for d in a.diagnostics]
    assert a.group_values([merge.id], (merge.id, 0))["rf_stride"] == [2, 2]
    base = Recomputed(a, (), None).aggregate([merge.id], (merge.id, 0))
    assert base["rf_stride"] == [2, 2]


@pytest.mark.parametrize("text", [MERGE, """cnncalc: 1
input: [3, 32, 32]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
  - BatchNorm2d
  - ReLU
  - MaxPool2d: 2
  - Dropout: 0.5
  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, groups: 2}
  - AdaptiveAvgPool2d: 1
  - Flatten
  - Linear: 10
"""])
def test_homework_baseline_is_the_analysis(text):
    a = analyse_text(text)
    base = Recomputed(a, (), None)
    for n in a.g.nodes:
        if n.is_input:
            continue
        want = a.group_values([n.id], (n.id, 0))
        got = base.aggregate([n.id], (n.id, 0))
        assert {k: got[k] for k in want} == want, n.name
    ids = [n.id for n in a.g.nodes]
    tot = base.aggregate(ids, None)
    t = a.totals()
    assert (tot["params"], tot["macs"], tot["flops"], tot["saved"]) == \
        (t["params"], t["macs"], t["flops"], t["saved_bytes"])


def test_an_analysis_is_read_only():
    a = analyse_text(MERGE)
    with pytest.raises(AttributeError):
        a.errors = []
    with pytest.raises(TypeError):
        a.layer[1]["macs"] = 0


# ------------------------------------------------------------------ a kind defined only here
class _ChannelScaleModule:
    """Built lazily (torch imported inside): y = x * w, one learned weight per channel."""

    @staticmethod
    def build(c):
        import torch

        class ChannelScale(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.weight = torch.nn.Parameter(torch.ones(c, 1, 1))

            def forward(self, x):
                return x * self.weight
        return ChannelScale()


class ScaleKind(Kind):
    """Per-channel scaling: y[n, c, h, w] = x[n, c, h, w] * w[c]."""

    SIG = (Arg("channels", 1, "int"),)
    family = "test"
    doc = "per-channel scale (registered by tests/test_engine.py only)"

    def setup(self):
        self.out_shapes = [self.in_shape]

    def params(self):
        c = self.in_shape[0]
        return Figure(c, "C", {"C": c}, "params")

    def terms(self):
        v = self.N * self.numel_in()
        return [Term(("elementwise",), v, Figure(v, "N*numel", {"N": self.N, "numel": self.numel_in()},
                                                 "multiplies"))]

    def saved(self):
        # mul saves both operands for backward; the weight is a parameter (not activation memory)
        return [Saved("input", self.numel_in(), alias="input")]

    def torch_module(self):
        return _ChannelScaleModule.build(self.in_shape[0])


SCALE_SPEC = """cnncalc: 1
input: [4, 6, 6]
batch: 2
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
  - TestOnlyScale
  - ReLU
"""


@pytest.fixture
def scale_kind():
    register("TestOnlyScale")(ScaleKind)
    try:
        yield ScaleKind
    finally:
        del REGISTRY["TestOnlyScale"]


def test_a_kind_defined_in_a_test_works_in_analyze_explain_and_memory(scale_kind):
    a = analyse_text(SCALE_SPEC)
    rep = a.report()
    layer = next(L for L in rep["layers"] if L["op"] == "TestOnlyScale")
    assert layer["params"] == 4                         # one weight per channel
    assert layer["flops"] == 2 * 4 * 6 * 6              # N*C*H*W multiplies = 288
    assert layer["output_shape"] == [4, 6, 6]
    # its input (the conv's output, 2*4*6*6*4 bytes = 1152) is saved for backward, once
    assert layer["saved_bytes"] == 2 * 4 * 6 * 6 * 4
    assert layer["rf"]["size"] == [3, 3]                # identity step after a 3x3 conv
    from cnncalc.render.explain import explain, render_text
    text = render_text(explain(a, [layer["name"]]))
    assert "N*numel" in text and "288" in text
    b = M.breakdown(a, "sgd")
    # weights: conv (4*(4*9) + 4) = 148 params + 4 scale weights = 152, float32
    assert b["weights"] == 152 * 4 and b["gradients"] == 152 * 4


def test_a_kind_defined_in_a_test_verifies(scale_kind):
    pytest.importorskip("torch")
    from cnncalc.crosscheck.checks import verify
    res = verify("test.yaml", text=SCALE_SPEC, probe=True, fvcore=False, device="cpu")
    bad = [c for c in res["checks"] if c["verdict"] == "mismatch"]
    assert bad == []
    name = next(n.name for n in analyse_text(SCALE_SPEC).g.nodes if n.op == "TestOnlyScale")
    mine = {c["check"]: c for c in res["checks"] if c["name"] == name}
    # shapes from forward hooks, parameters from module.parameters(), saved bytes from autograd's hooks
    for check, want in (("output shape", "[2, 4, 6, 6]"), ("parameters", 4), ("saved for backward", 1152)):
        assert mine[check]["verdict"] == "match", check
        assert mine[check]["measured"] == want, check


# ------------------------------------------------------------------ what a kind declares
def _sample_kinds():
    from kind_samples import SAMPLES, spec_text
    for op, sample in sorted(SAMPLES.items()):
        if sample is None:
            continue
        a = analyse_text(spec_text(*sample))
        if any(d.severity == "error" for d in a.diagnostics):
            continue
        yield op, a.g.nodes[-1].kind


def test_a_kinds_geometry_is_its_receptive_field_step():
    # two declarations of one kind agree: the window geometry (read by mistakes, review rules and
    # the probe) and the receptive-field step: k_eff = D*(K-1) + 1, s = S, left padding = P_lo
    seen = 0
    for op, kind in _sample_kinds():
        geo = kind.geometry()
        if geo is None or geo.transposed:
            continue
        step = kind.rf()
        if step.kind == "global":
            continue
        seen += 1
        assert tuple(step.k) == tuple(d * (k - 1) + 1 for k, d in zip(geo.kernel, geo.dilation)), op
        assert tuple(step.s) == tuple(geo.stride), op
        assert tuple(step.p) == tuple(geo.pad_lo), op
    assert seen >= 12      # conv, max/avg/LP pooling in 1, 2 and 3 dimensions


def test_every_kind_answers_the_traits_the_engine_asks():
    for op, kind in _sample_kinds():
        assert isinstance(kind.eval_identity, bool) and isinstance(kind.copies_border, bool), op
        assert kind.grad_passes_through(kind.in_shapes[0]) in (True, False), op
        assert kind.linearised() is None or callable(kind.linearised()), op
        for sv in kind.saved():
            assert isinstance(sv.batched, bool), op
