"""The `fvcore` and `torch` presets reproduce their tools' totals, blind spots included, and name them;
`verify` says "match, <tool> blind to X" where the truth and the tool differ exactly by X.

Expected values: fvcore's FlopCountAnalysis and torch's FlopCounterMode run on modules written here in
plain torch (not our builders), and hand arithmetic in the comments."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, analyse_text

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")
nn = torch.nn

SAME = """cnncalc: 1
input: [3, 16, 16]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: same}
    name: c1
  - ReLU
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
    name: c2
"""

ATTN = """cnncalc: 1
input: [6, 16]
layers:
  - Linear: {out_features: 16}
    name: proj
  - MultiheadAttention: {num_heads: 4, batch_first: true}
    name: attn
"""


class SameNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding="same")
        self.r = nn.ReLU()
        self.c2 = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x):
        return self.c2(self.r(self.c1(x)))


class AttnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 16)
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, x):
        y = self.proj(x)
        return self.attn(y, y, y, need_weights=False)[0]


def _fvcore(m, x):
    from cnncalc.crosscheck.measure import measure_fvcore
    return measure_fvcore(m.eval(), [x])


def _fcm(m, x):
    from torch.utils.flop_counter import FlopCounterMode
    f = FlopCounterMode(display=False)
    with torch.no_grad(), f:
        m.eval()(x)
    return f.get_total_flops()


@pytest.mark.parametrize("text,net,shape,label", [
    (SAME, SameNet, (2, 3, 16, 16), "padding='same'"),
    (ATTN, AttnNet, (2, 6, 16), "attention products"),
])
def test_presets_equal_their_tools(text, net, shape, label):
    torch.manual_seed(0)
    m, x = net(), torch.randn(*shape)
    fv, _, unsupported = _fvcore(m, x)
    rep = analyse_text(text, batch=2, convention="fvcore").report()
    assert rep["totals"]["flops"] == fv
    blind = rep["conventions"]["tool_blind_to"]
    assert any(label in k for k in blind), blind
    rep_t = analyse_text(text, batch=2, convention="torch").report()
    assert rep_t["totals"]["flops"] == _fcm(m, x)
    default = analyse_text(text, batch=2).report()
    assert default["totals"]["macs"] > rep["totals"]["macs"]     # the default convention stays the truth


def test_same_conv_by_hand():
    # c1: 2*8*16*16*3*9 = 110,592 MACs, invisible to fvcore (aten::_convolution_mode);
    # c2: 2*4*16*16*8*9 = 147,456 MACs, counted (fvcore: 1 FLOP per MAC, no bias)
    rep = analyse_text(SAME, batch=2, convention="fvcore").report()
    assert rep["totals"]["flops"] == 147456
    assert rep["conventions"]["tool_blind_to"] == {
        "padding='same'/'valid' convolutions (aten::_convolution_mode)": ["c1"]}
    assert analyse_text(SAME, batch=2).report()["totals"]["macs"] == 110592 + 147456


def test_attention_by_hand():
    # batch 2, L=6, E=16, H=4: proj 2*6*16*16 = 3,072 MACs; attention projections 4*3,072 = 12,288;
    # QK^T and AV 2*(2*6*6*16) = 2,304 MACs.  fvcore: 3,072 + 12,288 (no scaled_dot_product_attention).
    # FlopCounterMode (CPU, eval, no_grad): the fast path hides the whole attention: 2*3,072 = 6,144.
    fv = analyse_text(ATTN, batch=2, convention="fvcore").report()
    assert fv["totals"]["flops"] == 3072 + 12288
    tr = analyse_text(ATTN, batch=2, convention="torch").report()
    assert tr["totals"]["flops"] == 6144
    assert list(tr["conventions"]["tool_blind_to"]) == [
        "nn.MultiheadAttention's fused fast path (eval, no_grad, batch_first)"]


@pytest.mark.parametrize("text,words", [(SAME, ["fvcore blind to", "padding='same'"]),
                                        (ATTN, ["fvcore blind to", "FlopCounterMode blind to", "attention"])])
def test_verify_match_blind_to(tmp_path, text, words):
    p = tmp_path / "t.yaml"
    p.write_text(text)
    r = subprocess.run([sys.executable, "-m", "cnncalc", "verify", str(p), "--format", "json", "--no-probe"],
                       capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, COLUMNS="120"))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    res = json.loads(r.stdout)
    tot = [c for c in res["checks"] if c["scope"] == "total" and "FLOPs" in c["check"]]
    assert tot and all(c["verdict"] == "match" for c in tot), tot
    reasons = " ".join(c["reason"] for c in tot)
    for w in words:
        assert w in reasons, (w, reasons)


def test_table_lists_the_blind_spots(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text(SAME)
    r = subprocess.run([sys.executable, "-m", "cnncalc", "analyze", str(p), "--convention", "fvcore"],
                       capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, COLUMNS="200"))
    assert r.returncode == 0
    assert "fvcore does not count: padding='same'/'valid' convolutions" in r.stdout
