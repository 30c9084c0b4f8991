"""`verify MODULE:ATTR` measures the user's own module; quantized modules are refused.

Expected values come from the real module (``parameters()``, forward hooks, FlopCounterMode, fvcore,
saved_tensors_hooks run here in the test) or hand arithmetic in comments."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
nn = torch.nn

from conftest import ROOT  # noqa: E402

from cnncalc.errors import UsageError  # noqa: E402
from cnncalc.frontends.module_target import analysis_for_module  # noqa: E402

NET = textwrap.dedent('''
    import torch
    import torch.nn as nn

    class Scale(nn.Module):
        """A layer scale: a parameter times the input (a node without a torch builder of ours)."""
        def __init__(self, c):
            super().__init__()
            self.gamma = nn.Parameter(torch.full((c, 1, 1), 0.5))

        def forward(self, x):
            return self.gamma * x

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding="same")
            self.bn = nn.BatchNorm2d(8)
            self.scale = Scale(8)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            x = self.scale(torch.relu(self.bn(self.conv(x))))
            return self.fc(torch.flatten(self.pool(x), 1))
''')


def _run(args, cwd):
    return subprocess.run([sys.executable, "-m", "cnncalc", *args], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="120"))


def test_verify_module_compares_on_the_module_itself(tmp_path):
    (tmp_path / "net.py").write_text(NET)
    r = _run(["verify", "net.py:Net", "--input", "3x10x10", "--batch", "2", "--format", "json"], tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(r.stdout)
    own = {(c["check"], c["scope"], c["name"]): c for c in res["checks"] if c["check"].endswith("(own module)")}
    # parameters by hand: conv 8*3*9 + 8 = 224, bn 16, gamma 8, fc 8*4 + 4 = 36 -> 284; buffers: bn 8+8+1 = 17
    assert own[("parameters (own module)", "total", "")]["measured"] == 284
    assert own[("buffers (own module)", "total", "")]["measured"] == 17
    # FlopCounterMode on the module: conv 2*(2*8*10*10*27) = 86,400, fc 2*(2*8*4) = 128
    fcm = own[("FLOPs (torch convention) vs FlopCounterMode (own module)", "total", "")]
    assert fcm["measured"] == 86400 + 128 and fcm["verdict"] == "match"
    # fvcore skips the padding='same' conv (aten::_convolution_mode): the preset does too, and says so
    fv = own[("FLOPs (fvcore convention) vs fvcore (own module)", "total", "")]
    assert fv["verdict"] == "match" and "fvcore blind to padding='same'" in fv["reason"]
    shapes = [c for k, c in own.items() if k[0] == "output shape (own module)"]
    assert {c["name"] for c in shapes} >= {"conv", "bn", "fc", "scale.mul"}
    assert all(c["verdict"] == "match" for c in shapes)
    saved = own[("bytes saved for backward (own module)", "total", "")]
    assert saved["verdict"] == "match" and saved["measured"] > 0
    assert not [c for c in res["checks"] if c["verdict"] == "mismatch"]
    assert "nothing could be compared" not in r.stdout


def test_own_module_measurements_are_the_torch_ones():
    """The figures verify reports as measured are torch's own, recomputed here."""
    from cnncalc.crosscheck.checks import verify_analysis
    from torch.utils.flop_counter import FlopCounterMode
    ns = {}
    exec(NET, ns)
    m = ns["Net"]().eval()
    a = analysis_for_module(None, inputs=["3x10x10"], batch=2, model=m)
    res = verify_analysis(a, lambda convention=None, batch=None: analysis_for_module(
        None, inputs=["3x10x10"], batch=2, model=m, convention=convention), device="cpu", probe=False)
    own = {(c["check"], c["name"]): c["measured"] for c in res["checks"] if c["scope"] != "layer"}
    assert own[("parameters (own module)", "")] == sum(p.numel() for p in m.parameters())
    fcm = FlopCounterMode(display=False)
    with torch.no_grad(), fcm:
        m(torch.randn(2, 3, 10, 10))
    assert own[("FLOPs (torch convention) vs FlopCounterMode (own module)", "")] == fcm.get_total_flops()


def test_refuses_a_dynamically_quantized_module():
    m = torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), dtype=torch.qint8)
    with pytest.raises(UsageError) as e:
        analysis_for_module(None, inputs=["4"], model=m)
    assert "quantized" in str(e.value) and "Linear" in str(e.value) and "quantize=False" in str(e.value)


QNET = textwrap.dedent('''
    import torch
    import torch.nn as nn

    class QNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            q = torch.quantize_per_tensor(self.conv(x), 0.1, 0, torch.quint8)
            return q.dequantize()
''')


def test_refuses_quantized_operators_with_exit_2(tmp_path):
    (tmp_path / "q.py").write_text(QNET)
    r = _run(["analyze", "q.py:QNet", "--input", "3x8x8"], tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "quantize_per_tensor" in r.stderr and "hint" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_refuses_torchvision_quantized_resnet18():
    r = _run(["analyze", "torchvision.models.quantization:resnet18", "--kwargs", '{"quantize": true}',
              "--input", "3x32x32"], ROOT)
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    assert "ConvReLU2d" in r.stderr and "quantize=False" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------------------------ data-dependent work
DDNET = textwrap.dedent('''
    import torch
    import torch.nn as nn

    class Keep(nn.Module):
        """A backbone conv, then the positive outputs only (how many depends on the values), then a linear."""
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.fc = nn.Linear(1, 2)

        def forward(self, x):
            y = self.conv(x)
            kept = y[y > 0]
            return self.conv(x), self.fc(kept.unsqueeze(1))
''')


@pytest.mark.slow
def test_data_dependent_nodes_are_named(tmp_path):
    (tmp_path / "dd.py").write_text(DDNET)
    r = _run(["analyze", "dd.py:Keep", "--input", "1x6x6", "--format", "json", "--seed", "5"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads(r.stdout)
    dd = rep["data_dependent"]
    assert list(dd["sources"]) == ["getitem"] and "boolean mask" in dd["sources"]["getitem"]
    flagged = {L["name"] for L in rep["layers"] if L.get("data_dependent")}
    assert "getitem" in flagged and "fc" in flagged and "conv" not in flagged
    # the same seed gives the same input, so the same number of kept elements and the same figures
    r2 = _run(["analyze", "dd.py:Keep", "--input", "1x6x6", "--format", "json", "--seed", "5"], tmp_path)
    assert json.loads(r2.stdout)["layers"] == rep["layers"]
    # what torch keeps for that seed: the positive outputs of the conv on the same weights and input
    t = _run(["analyze", "dd.py:Keep", "--input", "1x6x6", "--seed", "5"], tmp_path)
    assert "data-dependent" in t.stdout + t.stderr


@pytest.mark.slow
def test_faster_rcnn_is_reproducible_and_names_its_data_dependent_nodes():
    """fasterrcnn_resnet50_fpn (no weights, images resized to 64): two runs with the same seed give the same
    numbers; NMS and RoIAlign are named as the sources of data-dependent work; the backbone is not."""
    kw = '{"weights": null, "weights_backbone": null, "min_size": 64, "max_size": 64}'
    args = ["analyze", "torchvision.models.detection:fasterrcnn_resnet50_fpn", "--kwargs", kw, "--input", "3x64x64",
            "--seed", "7", "--format", "json"]
    a, b = (_run(args, ROOT) for _ in range(2))
    assert a.returncode == 0 and b.returncode == 0, a.stderr[-2000:]
    ra, rb = json.loads(a.stdout), json.loads(b.stdout)
    assert ra["totals"] == rb["totals"] and ra["layers"] == rb["layers"]
    src = ra["data_dependent"]["sources"]
    assert any(n.endswith(".nms") or ".nms_" in n for n in src)
    assert any("roi_align" in n for n in src)
    flagged = {L["name"] for L in ra["layers"] if L.get("data_dependent")}
    assert "backbone.body.conv1" not in flagged
    assert any(n.startswith("roi_heads.box_head") for n in flagged)


@pytest.mark.slow
@pytest.mark.parametrize("target,args", [
    ("torchvision.models:convnext_tiny", ["--input", "3x32x32"]),
    ("torchvision.models.detection:fasterrcnn_resnet50_fpn",
     ["--kwargs", '{"weights": null, "weights_backbone": null, "min_size": 64, "max_size": 64}', "--input", "3x64x64"]),
])
def test_torchvision_verify_compares_on_the_module(target, args):
    """Models that once ended in "nothing could be compared": parameters, buffers, both FLOP counters and
    every output shape are now compared on the module itself and agree."""
    r = _run(["verify", target, *args, "--format", "json", "--no-probe"], ROOT)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    res = json.loads(r.stdout)
    checks = {(c["check"], c["scope"], c["name"]): c for c in res["checks"]}
    for name in ("parameters (own module)", "buffers (own module)",
                 "FLOPs (torch convention) vs FlopCounterMode (own module)",
                 "FLOPs (fvcore convention) vs fvcore (own module)"):
        c = checks[(name, "total", "")]
        assert c["verdict"] == "match", c
    shapes = [c for c in res["checks"] if c["check"] == "output shape (own module)"]
    assert len(shapes) > 50 and all(c["verdict"] == "match" for c in shapes)
    assert res["summary"]["match"] > 100
    if "detection" in target:
        assert any("data-dependent" in n for n in res["notes"])


@pytest.mark.parametrize("op", ["Dropout", "Dropout2d", "AlphaDropout"])
def test_dropout_p0_saves_nothing(op):
    """p = 0 in training: torch returns the input itself and autograd keeps nothing (measured here)."""
    from conftest import analyse_text
    m = getattr(nn, op)(0.0).train()
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    n = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: n.append(t.numel()) or t, lambda t: t):
        y = m(x)
    assert y is x and not n
    rep = analyse_text(f"cnncalc: 1\ninput: [4, 5, 5]\nlayers:\n  - Conv2d: {{out_channels: 4, kernel_size: 1}}\n"
                       f"  - {op}: {{p: 0.0}}\n", batch=2).report()
    assert rep["layers"][-1]["saved_bytes"] == 0
    with_p = analyse_text(f"cnncalc: 1\ninput: [4, 5, 5]\nlayers:\n  - Conv2d: {{out_channels: 4, kernel_size: 1}}\n"
                          f"  - {op}: {{p: 0.5}}\n", batch=2).report()
    assert with_p["layers"][-1]["saved_bytes"] > 0
