"""LSTM and GRU: shapes, parameters, MACs/FLOPs, saved tensors, presets, module mapping.

Expected values: torch's own modules (``parameters()``, output shapes, FlopCounterMode, saved_tensors_hooks)
run here, and hand arithmetic in the comments."""
import pytest

from conftest import analyse_text
from kind_samples import spec_text

torch = pytest.importorskip("torch")
nn = torch.nn

N, L, I = 2, 4, 5
CONFIGS = [
    ("LSTM", 7, dict()),
    ("LSTM", 7, dict(num_layers=2, bidirectional=True, proj_size=3)),
    ("LSTM", 7, dict(num_layers=2, bidirectional=True, bias=False)),
    ("LSTM", 6, dict(num_layers=3, proj_size=2)),
    ("GRU", 7, dict()),
    ("GRU", 7, dict(num_layers=2, bidirectional=True, bias=False)),
    ("GRU", 4, dict(num_layers=3, bidirectional=True)),
]


def _node(op, H, kw):
    return f"{op}({I}, {H}" + "".join(f", {k}={v}" for k, v in dict(kw, batch_first=True).items()) + ")"


def _saved_bytes(m, x):
    params = {p.untyped_storage().data_ptr() for p in m.parameters()}
    seen = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            seen.setdefault(s.data_ptr(), s.nbytes())
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        m(x)
    return sum(seen.values())


def _fcm(fn):
    from torch.utils.flop_counter import FlopCounterMode
    f = FlopCounterMode(display=False)
    with torch.no_grad(), f:
        fn()
    return f.get_total_flops()


@pytest.mark.parametrize("op,H,kw", CONFIGS, ids=[_node(*c) for c in CONFIGS])
def test_against_torch(op, H, kw):
    text = spec_text(_node(op, H, kw), [[L, I]])
    rep = analyse_text(text, batch=N, dtype="float64").report()
    layer = rep["layers"][-1]
    m = getattr(nn, op)(I, H, batch_first=True, **kw).double()
    x = torch.randn(N, L, I, dtype=torch.float64)
    y = m(x)[0]
    assert layer["params"] == sum(p.numel() for p in m.parameters())
    assert layer["output_shape"] == list(y.shape[1:])
    # float64 runs torch's composite path: FlopCounterMode sees every gate product (2 FLOPs per MAC)
    assert 2 * layer["macs"] == _fcm(lambda: m(x))
    # composite path: what autograd keeps, float64
    assert layer["saved_bytes"] == _saved_bytes(m, x)
    # the torch preset reproduces FlopCounterMode as verify runs it (float32, CPU, no_grad): the oneDNN LSTM
    # kernel (no projection) is invisible to it
    m32 = getattr(nn, op)(I, H, batch_first=True, **kw)
    torch_preset = analyse_text(text, batch=N, convention="torch").report()
    assert torch_preset["totals"]["flops"] == _fcm(lambda: m32(x.float()))


def test_by_hand():
    # LSTM(5, 7, 2 layers, bidirectional, proj 3), N=2, L=4: G=4, H=7, R=3, D=2
    # params: ih 2*28*(5 + 1*2*3) = 616, hh 2*2*28*3 = 336, biases 2*2*2*28 = 224, proj 2*2*3*7 = 84 -> 1,260
    # MACs: ih N*L*616 = 8*616 = 4,928, hh 8*336 = 2,688, proj 8*84 = 672 -> 8,288
    rep = analyse_text(spec_text(_node("LSTM", 7, dict(num_layers=2, bidirectional=True, proj_size=3)), [[L, I]]),
                       batch=N).report()
    layer = rep["layers"][-1]
    assert layer["params"] == 1260 and layer["macs"] == 8288 and layer["output_shape"] == [4, 6]
    # FLOPs: 2*8,288 + biases 8*2*2*(2*28) = 1,792 + elementwise 8*2*2*8*7 = 1,792 + sigmoid 3 FLOPs * 8*2*2*3*7
    # = 2,016 + tanh 5 FLOPs * 8*2*2*2*7 = 2,240
    assert layer["flops"] == 2 * 8288 + 1792 + 1792 + 2016 + 2240


def test_fvcore_preset_is_blind_to_recurrent_layers():
    pytest.importorskip("fvcore")
    from cnncalc.crosscheck.measure import measure_fvcore

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(I, 8)
            self.rnn = nn.GRU(8, 6, batch_first=True)

        def forward(self, x):
            return self.rnn(self.fc(x))[0]
    text = ("cnncalc: 1\ninput: [4, 5]\nlayers:\n  - Linear: {out_features: 8}\n"
            "  - GRU: {hidden_size: 6, batch_first: true}\n")
    rep = analyse_text(text, batch=N, convention="fvcore").report()
    total, _, unsupported = measure_fvcore(Net().eval(), [torch.randn(N, L, I)])
    assert rep["totals"]["flops"] == total == N * L * I * 8       # the Linear only: 2*4*5*8 = 320
    assert "aten::gru" in unsupported
    assert list(rep["conventions"]["tool_blind_to"]) == ["recurrent layers (aten::lstm, aten::gru)"]


def test_module_mapping_crnn_head():
    """A CRNN-style head: a conv feature map read column by column into a bidirectional LSTM."""
    from cnncalc.frontends.module_target import analysis_for_module

    class CRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 8, 3, padding=1)
            self.rnn = nn.LSTM(8 * 4, 16, num_layers=2, bidirectional=True, batch_first=True)
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            f = self.conv(x)                       # [N, 8, 4, W]
            seq = f.flatten(1, 2).permute(0, 2, 1)  # [N, W, 32]
            out, _ = self.rnn(seq)
            return self.fc(out)
    m = CRNN().eval()
    a = analysis_for_module(None, inputs=["1x4x12"], batch=2, model=m)
    rep = a.report()
    assert rep["coverage"]["opaque_nodes"] == 0
    rnn = [L for L in rep["layers"] if L["name"] == "rnn"][0]
    assert rnn["op"] == "LSTM" and rnn["output_shape"] == [12, 32]
    assert rnn["params"] == sum(p.numel() for p in m.rnn.parameters())
    assert rep["totals"]["params"] == sum(p.numel() for p in m.parameters())


def test_seq_first_module_is_opaque_with_a_reason():
    from cnncalc.frontends.module_target import analysis_for_module

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(5, 6)

        def forward(self, x):
            return self.rnn(x)[0]
    a = analysis_for_module(None, inputs=["4x5"], batch=3, model=Net().eval())
    msgs = [d.message for d in a.diagnostics if d.code == "opaque-node"]
    assert msgs and "batch_first=False" in msgs[0]


def test_verify_crnn_head(tmp_path):
    """`cnncalc verify` on a spec with a float32 bidirectional LSTM (oneDNN kernel on the CPU: its workspace is
    "not covered", named) and a GRU: no mismatch; both FLOP presets match their tools, naming the blind spots."""
    import json
    import os
    import subprocess
    import sys

    from conftest import ROOT
    p = tmp_path / "crnn.yaml"
    p.write_text("cnncalc: 1\ninput: [7, 6]\nbatch: 2\nlayers:\n  - Linear: {out_features: 8}\n"
                 "  - LSTM: {hidden_size: 5, bidirectional: true, batch_first: true}\n"
                 "  - GRU: {hidden_size: 4, batch_first: true}\n  - Linear: {out_features: 3}\n")
    r = subprocess.run([sys.executable, "-m", "cnncalc", "verify", str(p), "--format", "json"], capture_output=True,
                       text=True, cwd=ROOT, env=dict(os.environ))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    res = json.loads(r.stdout)
    tot = {c["check"]: c for c in res["checks"] if c["scope"] == "total"}
    assert tot["FLOPs (torch convention) vs FlopCounterMode"]["verdict"] == "match"
    assert "oneDNN" in tot["FLOPs (torch convention) vs FlopCounterMode"]["reason"]
    assert "aten::lstm" in tot["FLOPs (fvcore convention) vs fvcore"]["reason"]
    saved = tot["bytes saved for backward"]
    assert saved["verdict"] == "not covered" and "oneDNN" in saved["reason"]
    gru = [c for c in res["checks"] if c["check"] == "saved for backward" and c["name"] == "2"]
    assert gru and gru[0]["verdict"] == "match"
