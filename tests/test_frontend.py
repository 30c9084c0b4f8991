"""The PyTorch-module front end (`cnncalc analyze MODULE:ATTR`, `cnncalc export`).

Expected values are independent of our formulas: parameter counts from ``sum(p.numel())``, MACs
from ``torch.utils.flop_counter.FlopCounterMode`` (which counts 2 FLOPs per multiply-accumulate of
conv and matmul, and nothing else), shapes and names from the real module, and hand arithmetic
written in comments.  Models are built on the meta device, so no weights are initialised and no
arithmetic is done: the whole file runs in a few seconds.
"""
import json
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from conftest import EXAMPLES, ROOT  # noqa: E402

from cnncalc.api import analysis_for  # noqa: E402
from cnncalc.errors import UsageError  # noqa: E402
from cnncalc.frontends.export import export_spec  # noqa: E402
from cnncalc.frontends.module_target import analysis_for_module  # noqa: E402


def torch_counts(model, *shapes):
    """(sum of parameter numels, FlopCounterMode FLOPs) of the real module on meta inputs."""
    from torch.utils.flop_counter import FlopCounterMode
    fc = FlopCounterMode(display=False)
    dev = next(model.parameters()).device
    with fc, torch.no_grad():
        model.eval()(*[torch.zeros((1,) + s, device=dev) if dev.type != "meta" else
                       torch.empty((1,) + s, device="meta") for s in shapes])
    return sum(p.numel() for p in model.parameters()), fc.get_total_flops()


def roundtrip(a):
    """Export, re-analyse the written spec, and check every total and every layer agrees."""
    text = export_spec(a, "test")
    b = analysis_for("exported.yaml", text=text, batch=a.g.batch)
    assert not [d for d in b.diagnostics if d.severity == "error"]
    assert b.totals() == a.totals()
    ra, rb = a.report(), b.report()
    assert [(L["name"], L["op"], L["output_shape"], L["params"], L["macs"], L["flops"], L["saved_bytes"])
            for L in ra["layers"]] == \
           [(L["name"], L["op"], L["output_shape"], L["params"], L["macs"], L["flops"], L["saved_bytes"])
            for L in rb["layers"]]
    assert all(e["verdict"] == "pass" for e in rb["expect"]) and rb["expect"]
    return text


# ----------------------------------------------------------------------------- torchvision
ZOO = [
    ("resnet18", {}), ("resnet50", {}), ("mobilenet_v2", {}), ("vgg11", {}),
    ("googlenet", {"aux_logits": False, "init_weights": False}), ("densenet121", {}), ("squeezenet1_0", {}),
    ("shufflenet_v2_x1_0", {}), ("efficientnet_b0", {}),
]


@pytest.mark.parametrize("name,kw", ZOO, ids=[z[0] for z in ZOO])
def test_torchvision_zoo(name, kw):
    with torch.device("meta"):
        m = getattr(torchvision.models, name)(weights=None, **kw)
    params, flops = torch_counts(m, (3, 224, 224))
    a = analysis_for_module(f"torchvision.models:{name}", inputs=["3x224x224"], model=m)
    r = a.report()
    assert r["coverage"]["capture"] == "fx"
    assert r["coverage"]["opaque_nodes"] == 0
    assert all(L["status"] == "exact" and L["op"] != "opaque" for L in r["layers"])
    assert r["totals"]["params"] == params
    assert flops % 2 == 0 and r["totals"]["macs"] == flops // 2
    # every leaf module holding parameters is a node named by its module path, of its own type
    by = {L["name"]: L for L in r["layers"]}
    leaves = {p: mod for p, mod in m.named_modules() if not list(mod.children()) and
              any(True for _ in mod.parameters(recurse=False))}
    assert set(leaves) <= set(by)
    for p, mod in leaves.items():
        assert by[p]["op"] == type(mod).__name__ and by[p]["params"] == sum(x.numel() for x in mod.parameters())
    if name == "shufflenet_v2_x1_0":
        # torchvision's channel_shuffle (view, transpose, contiguous, view) is one ChannelShuffle node;
        # 3 stages of 4, 8 and 4 units, one shuffle per unit: 16
        ops = [L["op"] for L in r["layers"]]
        assert ops.count("ChannelShuffle") == 16 and "permute" not in ops and "reshape" not in ops
    roundtrip(a)


def test_export_recovers_blocks_and_repeats():
    with torch.device("meta"):
        m = torchvision.models.resnet18(weights=None)
    a = analysis_for_module("x:resnet18", inputs=["3x224x224"], model=m)
    text = roundtrip(a)
    # layer1's two BasicBlocks are equal (64 -> 64, stride 1): one block called with repeat: 2;
    # the first block of layer2..4 has a downsample branch: a second block structure
    assert "blocks:\n  BasicBlock:\n" in text and "  BasicBlock_2:\n" in text
    assert "    name: layer1\n    repeat: 2\n" in text
    # the nested and flat forms give the same numbers too
    for kw in ({"blocks": False}, {"flat": True}):
        t = export_spec(a, **kw)
        assert "blocks:" not in t
        b = analysis_for("x.yaml", text=t)
        assert b.totals() == a.totals()
    assert "layer1_0_conv1" in export_spec(a, flat=True)


@pytest.mark.parametrize("name", ["resnet18", "shufflenet_v2_x1_0"])
def test_hooks_capture_gives_the_fx_graph(name):
    """The fallback capture (a real run with hooks) and fx give the same layers and numbers."""
    m = getattr(torchvision.models, name)(weights=None).eval()
    fx = analysis_for_module("x", inputs=["3x64x64"], model=m, method="fx").report()
    hk = analysis_for_module("x", inputs=["3x64x64"], model=m, method="hooks").report()
    assert fx["coverage"]["capture"] == "fx" and hk["coverage"]["capture"] == "hooks"
    key = ("name", "op", "module", "inputs", "output_shape", "params", "macs", "flops", "saved_bytes")
    assert [[L[k] for k in key] for L in hk["layers"]] == [[L[k] for k in key] for L in fx["layers"]]
    assert hk["totals"] == fx["totals"]


def test_torchvision_published_param_counts():
    # torchvision's documented parameter counts (weights metadata "num_params")
    for name, want in (("resnet50", 25557032), ("mobilenet_v2", 3504872), ("efficientnet_b0", 5288548)):
        with torch.device("meta"):
            m = getattr(torchvision.models, name)(weights=None)
        a = analysis_for_module(f"torchvision.models:{name}", inputs=["3x224x224"], model=m)
        assert a.totals()["params"] == want


def test_resnet18_matches_the_spec_example_layer_by_layer():
    with torch.device("meta"):
        m = torchvision.models.resnet18(weights=None)
    mod = {L["name"]: L for L in analysis_for_module("x:resnet18", inputs=["3x224x224"], model=m).report()["layers"]}
    spec = {L["name"]: L for L in analysis_for(EXAMPLES / "resnet18.yaml").report()["layers"]}
    # the example leaves its stem and pooling unnamed (index names); the module's are attribute names
    for idx, attr in (("0", "conv1"), ("1", "bn1"), ("2", "relu"), ("3", "maxpool"), ("8", "avgpool")):
        spec[attr] = spec.pop(idx)
    common = set(mod) & set(spec)
    # stem 4 + 8 blocks x (conv1, bn1, conv2, bn2) + 3 downsample x (conv, bn) + avgpool + fc = 4 + 32 + 6 + 2
    assert len(common) == 44, sorted(common)
    for n in ("conv1", "layer1.0.conv1", "layer2.0.downsample.0", "layer4.1.bn2", "fc"):
        assert n in common
    for n in common:
        for k in ("op", "output_shape", "params", "macs", "flops", "bwd_flops", "saved_bytes", "rf"):
            assert mod[n][k] == spec[n][k], (n, k, mod[n][k], spec[n][k])


def test_fvcore_convention_matches_fvcore_on_the_captured_module():
    fvcore_nn = pytest.importorskip("fvcore.nn")
    m = torchvision.models.resnet18(weights=None).eval()
    f = fvcore_nn.FlopCountAnalysis(m, torch.zeros(1, 3, 64, 64))
    f.unsupported_ops_warnings(False)
    f.uncalled_modules_warnings(False)
    a = analysis_for_module("x:resnet18", inputs=["3x64x64"], model=m, convention="fvcore")
    assert a.totals()["flops"] == f.total()


def test_module_target_string_builds_it_and_kwargs_env(monkeypatch):
    monkeypatch.setenv("CNNCALC_KWARGS", '{"num_classes": 10}')
    a = analysis_for_module("torchvision.models:resnet18", inputs=["3x224x224"])
    # resnet18 has 11,689,512 parameters with a 512x1000 fc; with 10 classes the fc is 512*10 + 10:
    # 11,689,512 - (512*1000 + 1000) + (512*10 + 10) = 11,181,642
    assert a.totals()["params"] == 11689512 - 513000 + 5130 == 11181642
    assert a.g.nodes[-1].out_shapes == [(10,)]


# ----------------------------------------------------------------------------- hand-written modules
class FunctionalNet(nn.Module):
    """Only functional calls, weights as bare Parameters."""

    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(8, 3, 3, 3))
        self.b1 = nn.Parameter(torch.zeros(8))
        self.w2 = nn.Parameter(torch.randn(8, 3, 5, 5))
        self.fw = nn.Parameter(torch.randn(10, 16))
        self.fb = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        y = F.conv2d(x, self.w1, self.b1, padding=1)
        z = F.conv2d(x, self.w2, stride=1, padding=2)
        s = torch.relu(y) + z
        c = torch.cat([s, z], 1)
        c = F.max_pool2d(c, 2)
        c = F.adaptive_avg_pool2d(c, 1)
        c = torch.flatten(c, 1)
        return F.linear(c, self.fw, self.fb)


def test_functional_only_net():
    m = FunctionalNet()
    a = analysis_for_module("t:FunctionalNet", inputs=["3x16x16"], model=m)
    r = a.report()
    assert [L["op"] for L in r["layers"]] == ["Conv2d", "Conv2d", "ReLU", "add", "cat", "MaxPool2d",
                                              "AdaptiveAvgPool2d", "flatten", "Linear"]
    # params: 8*3*3*3 + 8 = 224; 8*3*5*5 = 600; 10*16 + 10 = 170; total 994
    assert r["totals"]["params"] == 224 + 600 + 170 == sum(p.numel() for p in m.parameters())
    # MACs: 8*16*16*27 = 55,296; 8*16*16*75 = 153,600; 16*10 = 160
    assert r["totals"]["macs"] == 55296 + 153600 + 160
    assert r["totals"]["macs"] * 2 == torch_counts(m, (3, 16, 16))[1]
    cat = next(L for L in r["layers"] if L["op"] == "cat")
    assert cat["output_shape"] == [16, 16, 16] and cat["inputs"] == ["add", "conv2d_1"]
    # add: 8*16*16 = 2,048 additions; relu: 2,048 (default convention: 1 per element)
    add = next(L for L in r["layers"] if L["op"] == "add")
    assert add["flops"] == 2048
    roundtrip(a)


class Siamese(nn.Module):
    def __init__(self):
        super().__init__()
        self.tower = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                   nn.Linear(8 * 13 * 13, 32))
        self.head = nn.Linear(32, 1)

    def forward(self, left, right):
        a = self.tower(left)
        b = self.tower(right)
        return torch.sigmoid(self.head(torch.abs(a - b)))


def test_siamese_shared_tower():
    m = Siamese()
    a = analysis_for_module("t:Siamese", inputs=["left=1x28x28", "right=1x28x28"], model=m)
    r = a.report()
    assert r["inputs"] == {"left": [1, 28, 28], "right": [1, 28, 28]}
    # params once: conv 8*(9+1) = 80, linear 32*(1352+1) = 43,296, head 33 -> 43,409
    assert r["totals"]["params"] == 80 + 43296 + 33 == sum(p.numel() for p in m.parameters())
    # MACs twice: conv 8*26*26*9 = 48,672 and linear 1352*32 = 43,264 per call; head 32
    assert r["totals"]["macs"] == 2 * (48672 + 43264) + 32
    assert r["totals"]["macs"] * 2 == torch_counts(m, (1, 28, 28), (1, 28, 28))[1]
    by = {L["name"]: L for L in r["layers"]}
    assert by["tower_1.0"]["module"] == "tower.0" and by["tower_1.0"]["params"] == 0
    assert by["tower.0"]["params"] == 80 and by["tower_1.0"]["macs"] == by["tower.0"]["macs"] == 48672
    text = roundtrip(a)
    assert "share: tower.0" in text


class ShapeBranch(nn.Module):
    """Control flow on a shape: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.big = nn.Conv2d(3, 8, 3, stride=2)
        self.small = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        if x.shape[-1] > 32:
            x = self.big(x)
        else:
            x = self.small(x)
        return F.relu(x)


def test_control_flow_falls_back_to_hooks():
    m = ShapeBranch()
    a = analysis_for_module("t:ShapeBranch", inputs=["3x64x64"], model=m)
    r = a.report()
    assert r["coverage"]["capture"] == "hooks"
    assert any(d["code"] == "capture-hooks" and "torch.fx" in d["message"] for d in r["diagnostics"])
    assert [L["name"] for L in r["layers"]] == ["big", "relu"]
    # big: 8*(3*9) + 8 = 224 params; output 31x31 (floor((64-3)/2)+1); MACs 8*31*31*27 = 207,576
    assert r["totals"]["params"] == 224 and r["totals"]["macs"] == 207576
    assert r["totals"]["macs"] * 2 == torch_counts(m, (3, 64, 64))[1]
    # `small` never ran: its 224 parameters are reported missing, not silently dropped
    assert any(d["code"] == "unused-params" for d in r["diagnostics"])
    roundtrip(a)
    # the other branch on a smaller input
    b = analysis_for_module("t:ShapeBranch", inputs=["3x16x16"], model=m)
    assert [L["name"] for L in b.report()["layers"]] == ["small", "relu"]


class ValueBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3)
        self.b = nn.Conv2d(3, 8, 5)

    def forward(self, x):
        if x.abs().mean() >= 0:    # always true, but depends on the values
            return self.a(x)
        return self.b(x)


def test_value_dependent_branch_and_opaque_reductions():
    a = analysis_for_module("t:ValueBranch", inputs=["3x16x16"], model=ValueBranch())
    r = a.report()
    assert r["coverage"]["capture"] == "hooks"
    ops = [L["op"] for L in r["layers"]]
    assert ops[-1] == "Conv2d" and r["layers"][-1]["name"] == "a"
    # x.mean() over everything (the batch too) is no kind of ours: opaque, with a diagnostic naming it
    assert "opaque" in ops
    assert any(d["code"] == "opaque-node" and d["node"] == "mean" for d in r["diagnostics"])
    with pytest.raises(UsageError, match="opaque"):
        export_spec(a)


class CustomOp(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.proj = nn.Parameter(torch.randn(4, 16))

    def forward(self, x):
        x = F.relu(self.conv(x))
        return torch.einsum("bchw,dc->bdhw", x, self.proj)


def test_custom_op_is_an_opaque_node_with_measured_numbers():
    m = CustomOp()
    a = analysis_for_module("t:CustomOp", inputs=["3x8x8"], model=m)
    r = a.report()
    op = r["layers"][-1]
    assert op["op"] == "opaque" and op["status"] == "measured, not analytic"
    assert op["output_shape"] == [4, 8, 8]
    # its parameter (4x16 = 64) comes from the module; its MACs from FlopCounterMode: 4*16*8*8 = 4,096
    assert op["params"] == 64 and op["macs"] == 4096
    assert any(d["code"] == "opaque-node" and "einsum" in d["message"] for d in r["diagnostics"])
    # conv 16*(27+1) = 448 params; MACs 16*8*8*27 = 27,648
    assert r["totals"]["params"] == 448 + 64 == sum(p.numel() for p in m.parameters())
    assert r["totals"]["macs"] == 27648 + 4096 == torch_counts(m, (3, 8, 8))[1] // 2
    cov = r["coverage"]
    assert cov["opaque_nodes"] == 1 and cov["analytic_macs_fraction"] == pytest.approx(27648 / (27648 + 4096))
    assert cov["analytic_params_fraction"] == pytest.approx(448 / 512)
    with pytest.raises(UsageError, match="einsum"):
        export_spec(a)


class ScalarNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 1, bias=False)

    def forward(self, x):
        y = self.conv(x)
        return y * 0.5 + 1


def test_scalar_operands_are_counted():
    a = analysis_for_module("t:ScalarNet", inputs=["2x5x5"], model=ScalarNet())
    r = a.report()
    assert [L["op"] for L in r["layers"]] == ["Conv2d", "scalar_mul", "scalar_add"]
    # each: one operation per element of the 4x5x5 output = 100
    assert [L["flops"] for L in r["layers"][1:]] == [100, 100]
    assert r["coverage"]["opaque_nodes"] == 0


class WithArg(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3)

    def forward(self, x, scale: int = 2):
        return F.interpolate(self.c(x), scale_factor=scale)


def test_edge_cases_lazy_modules_default_arguments_identity():
    # a LazyLinear is materialised by a first call before the capture: 72 = 2*6*6 inputs, 5*(72+1) = 365
    seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(5))
    a = analysis_for_module("t:seq", inputs=["1x8x8"], model=seq)
    assert a.totals()["params"] == 2 * 10 + 5 * 73 == sum(p.numel() for p in seq.parameters())
    assert a.report()["coverage"] == dict(a.report()["coverage"], capture="fx", opaque_nodes=0)
    # a non-tensor forward argument keeps its default; interpolate x2: 6x6 -> 12x12
    b = analysis_for_module("t:WithArg", inputs=["3x8x8"], model=WithArg())
    assert b.report()["coverage"]["capture"] == "fx"
    assert b.report()["layers"][-1]["output_shape"] == [4, 12, 12]
    roundtrip(b)

    class Ident(nn.Module):
        def forward(self, x):
            return x
    c = analysis_for_module("t:Ident", inputs=["3x8x8"], model=Ident())
    assert c.totals()["params"] == 0 and c.report()["layers"] == []
    with pytest.raises(UsageError, match="nothing to export"):
        export_spec(c)


class ParamScale(nn.Module):
    """Layer scale and a learned bias map: elementwise ops with parameters."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1, bias=False)
        self.gamma = nn.Parameter(torch.ones(4, 1, 1))
        self.pos = nn.Parameter(torch.zeros(1, 4, 5, 5))

    def forward(self, x):
        y = self.conv(x) * self.gamma
        return self.pos + y


def test_parameter_operands_are_analytic():
    m = ParamScale()
    r = analysis_for_module("t:ParamScale", inputs=["3x5x5"], model=m).report()
    assert [L["op"] for L in r["layers"]] == ["Conv2d", "LayerScale", "param_add"]   # gamma: one per channel
    # conv 4*3 = 12, gamma 4, pos 4*5*5 = 100
    assert [L["params"] for L in r["layers"]] == [12, 4, 100]
    assert r["totals"]["params"] == sum(p.numel() for p in m.parameters()) == 116
    # one operation per output element: 4*5*5 = 100 each
    assert [L["flops"] for L in r["layers"][1:]] == [100, 100]
    assert r["coverage"]["opaque_nodes"] == 0


# ----------------------------------------------------------------------------- command line
NET_PY = """
import torch, torch.nn as nn, torch.nn.functional as F

class Net(nn.Module):
    def __init__(self, width=6):
        super().__init__()
        self.c1 = nn.Conv2d(3, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.c2 = nn.Conv2d(width, width, 3, padding=1)
        self.fc = nn.Linear(width, 5)

    def forward(self, x):
        x = F.relu(self.bn(self.c1(x)))
        x = x + self.c2(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))

def make():
    return Net(4)
"""


@pytest.fixture
def net_py(tmp_path):
    p = tmp_path / "net.py"
    p.write_text(textwrap.dedent(NET_PY))
    return p


def test_cli_analyze_and_export_a_py_file(net_py, tmp_path):
    from typer.testing import CliRunner
    from cnncalc.cli.main import app
    run = CliRunner()
    r = run.invoke(app, ["analyze", f"{net_py}:Net", "--input", "3x8x8", "--format", "json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    # c1 6*(27+1) = 168, bn 12, c2 6*(54+1) = 330, fc 5*(6+1) = 35 -> 545
    assert rep["totals"]["params"] == 168 + 12 + 330 + 35
    assert [L["name"] for L in rep["layers"]] == ["c1", "bn", "relu", "c2", "add", "adaptive_avg_pool2d",
                                                  "flatten", "fc"]
    # each layer points at the line of forward that called it
    line = 1 + textwrap.dedent(NET_PY).splitlines().index("        x = x + self.c2(x)")
    by = {L["name"]: L for L in rep["layers"]}
    assert by["c2"]["location"] == by["add"]["location"] == f"{net_py}:{line}:1"
    # a factory function
    r = run.invoke(app, ["analyze", f"{net_py}:make", "--input", "3x8x8", "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["totals"]["params"] == 4 * 28 + 8 + 4 * 37 + 5 * 5
    out = tmp_path / "net.yaml"
    r = run.invoke(app, ["export", f"{net_py}:Net", "--input", "3x8x8", "-o", str(out)])
    assert r.exit_code == 0, r.output
    r2 = run.invoke(app, ["analyze", str(out), "--format", "json"])
    assert r2.exit_code == 0, r2.output
    rep2 = json.loads(r2.stdout)
    assert rep2["totals"] == rep["totals"]
    assert all(e["verdict"] == "pass" for e in rep2["expect"])
    assert [L["name"] for L in rep2["layers"]] == [L["name"] for L in rep["layers"]]


def test_cli_errors_are_messages_not_tracebacks(net_py):
    from typer.testing import CliRunner
    from cnncalc.cli.main import app
    run = CliRunner()
    cases = [
        (["analyze", "torchvision.models:resnet999", "--input", "3x224x224"], "no attribute"),
        (["analyze", f"{net_py}:Net"], "--input"),
        (["analyze", "no_such_module_xyz:Net", "--input", "3x8x8"], "cannot import"),
        (["analyze", f"{net_py}:Net", "--input", "3x8"], "failed"),
        (["export", "t_missing.py:Net", "--input", "3x8x8"], "no such file"),
    ]
    for args, msg in cases:
        r = run.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert msg in r.output, (args, r.output)
        assert "Traceback" not in r.output


def test_help_says_loading_runs_code_and_cli_imports_no_torch():
    code = ("import sys; import cnncalc.cli.main, cnncalc.frontends, cnncalc.cli.export_cmd; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
    from typer.testing import CliRunner
    from cnncalc.cli.main import app
    r = CliRunner().invoke(app, ["export", "--help"])
    assert "RUNS ITS CODE" in r.output
