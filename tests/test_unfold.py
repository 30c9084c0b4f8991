"""Unfold (nn.Unfold / F.unfold, im2col): shapes, parameters, work, bytes and saved tensors against real
torch; `verify` on a spec that uses it; torch's refusals as errors at file:line:col; the module front end's
mapping of F.unfold (RAFT's upsample_flow) and nn.Unfold."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from conftest import analyse_text, run_cli  # noqa: E402
from kind_samples import spec_text  # noqa: E402
from cnncalc.frontends.module_target import analysis_for_module  # noqa: E402

# (keyword arguments, per-sample input shape)
COMBOS = [
    ({"kernel_size": 3, "padding": 1}, [2, 8, 8]),                       # RAFT's call: same-size grid
    ({"kernel_size": 2, "stride": 2}, [3, 8, 6]),                        # non-overlapping blocks
    ({"kernel_size": [2, 3], "dilation": [2, 1], "padding": [0, 1], "stride": [1, 2]}, [3, 7, 6]),
    ({"kernel_size": 3, "dilation": 2, "padding": 2, "stride": 3}, [1, 9, 10]),
    ({"kernel_size": [1, 4], "stride": [3, 1]}, [4, 5, 4]),              # a window as wide as the input
]


def _node(kw):
    def lit(v):
        return "[" + ", ".join(map(str, v)) + "]" if isinstance(v, list) else str(v)
    return "Unfold(" + ", ".join(f"{k}={lit(v)}" for k, v in kw.items()) + ")"


@pytest.mark.parametrize("kw,shape", COMBOS)
def test_shape_bytes_and_saved_equal_torch(kw, shape):
    a = analyse_text(spec_text(_node(kw), [shape]), batch=2)
    assert not [d for d in a.diagnostics if d.severity == "error"]
    nid = a.g.nodes[-1].id
    x = torch.rand(2, *shape, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        y = F.unfold(x, **kw)
    assert list(a.g.nodes[-1].out_shapes[0]) == list(y.shape[1:])
    # L by hand for the third combo: H_out = floor((7 + 0 - 2*(2-1) - 1)/1) + 1 = 5,
    # W_out = floor((6 + 2 - 1*(3-1) - 1)/2) + 1 = 3: L = 15, rows 3*2*3 = 18
    if kw.get("dilation") == [2, 1]:
        assert y.shape[1:] == (18, 15)
    L = a.layer[nid]
    assert L["params"] == 0 and L["buffers"] == 0 and sum(p.numel() for p in nn.Unfold(**kw).parameters()) == 0
    assert L["macs"] == 0 and L["flops"] == 0 and L["bwd_flops"] == 0
    assert L["output_bytes"] == y.numel() * y.element_size()            # a new tensor, float32
    assert y.data_ptr() != x.data_ptr() and y.is_contiguous()
    assert saved == [] and L["saved_bytes"] == 0                         # Im2ColBackward keeps sizes only


def test_counters_see_no_work():
    """FlopCounterMode and fvcore count nothing for aten::im2col; every preset gives 0 as well."""
    from torch.utils.flop_counter import FlopCounterMode
    fvcore_nn = pytest.importorskip("fvcore.nn")
    m = nn.Unfold(3, padding=1)
    x = torch.rand(1, 2, 8, 8)
    fc = FlopCounterMode(display=False)
    with fc:
        m(x)
    f = fvcore_nn.FlopCountAnalysis(m, x)
    f.unsupported_ops_warnings(False)
    assert fc.get_total_flops() == 0 and f.total() == 0
    for conv in ("default", "macs", "paper", "torch", "fvcore"):
        a = analyse_text(spec_text("Unfold(3, padding=1)", [[2, 8, 8]]), convention=conv)
        assert a.totals()["flops"] == 0, conv


def test_receptive_field_is_global_and_index_exact():
    """The L axis flattens the grid: the step is global; the exact window of column l is its block."""
    from cnncalc.receptive.window import unit_window
    a = analyse_text(spec_text("Unfold(3, padding=1, stride=2, dilation=[1, 2])", [[1, 9, 10]]))
    n = a.g.nodes[-1]
    assert n.kind.rf().kind == "global"
    # H_out = floor((9 + 2 - 2 - 1)/2) + 1 = 5, W_out = floor((10 + 2 - 4 - 1)/2) + 1 = 4
    assert n.out_shapes[0] == (9, 20)
    # column l = 6 is block (1, 2): rows 1*2 - 1 + {0, 1, 2} = 1..3, columns 2*2 - 1 + {0, 2, 4} = 3..7
    w = unit_window(a.g, (n.id, 0), (6,))
    assert list(w.fields.values()) == [((1, 3), (3, 7))]
    # torch: the gradient of that column reaches exactly those rows and columns
    x = torch.zeros(1, 1, 9, 10, requires_grad=True)
    F.unfold(x, 3, dilation=(1, 2), padding=1, stride=2)[0, :, 6].sum().backward()
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    assert (rows.min().item(), rows.max().item(), cols.min().item(), cols.max().item()) == (1, 3, 3, 7)


def test_verify_spec_with_unfold(tmp_path):
    p = tmp_path / "u.yaml"
    p.write_text("cnncalc: 1\ninput: [3, 12, 12]\nlayers:\n  - Conv2d(3, 4, 3, padding=1)\n  - ReLU\n"
                 "  - Unfold([3, 2], dilation=[1, 2], padding=1, stride=[2, 1])\n")
    r = run_cli("verify", p, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ", 0 mismatch," in r.stdout and "match" in r.stdout


@pytest.mark.parametrize("call,shape,want", [
    ("0", [3, 8, 8], "`kernel_size` must be positive"),
    ("3, stride=0", [3, 8, 8], "`stride` must be positive"),
    ("3, dilation=[1, 0]", [3, 8, 8], "`dilation` must be positive"),
    ("3, padding=-1", [3, 8, 8], "`padding` must not be negative"),
    ("9, stride=2", [3, 8, 8], "no block fits"),          # floor((8 - 9)/2) + 1 = 0 blocks
    ("3, dilation=4", [3, 8, 8], "no block fits"),        # span 4*(3-1) + 1 = 9 > 8
    ("[3]", [3, 8, 8], "a list of 2 ints"),               # torch: no one-element broadcast
    ("[3, 3, 3]", [3, 8, 8], "a list of 2 ints"),
    ("3", [3, 8, 8, 8], "needs a [C, H, W] input"),       # a 5-D batch
])
def test_torch_refusals_are_errors_at_the_node(tmp_path, call, shape, want):
    with pytest.raises((RuntimeError, TypeError)):        # torch refuses the same call
        eval(f"lambda x: F.unfold(x, {call})")(torch.rand(2, *shape))
    p = tmp_path / "bad.yaml"
    p.write_text(f"cnncalc: 1\ninput: {shape}\nlayers:\n  - Unfold({call})\n")
    r = run_cli("analyze", p)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{p}:4:5: error" in r.stderr and want in r.stderr, r.stderr


class Upsampler(nn.Module):
    """RAFT's upsample_flow: F.unfold of a scaled flow, then the convex combination; and nn.Unfold."""

    def __init__(self):
        super().__init__()
        self.unfold = nn.Unfold((2, 3), stride=(2, 1))

    def forward(self, flow):
        up = F.unfold(4 * flow, kernel_size=3, padding=1)
        return up, self.unfold(flow)


def test_module_front_end_maps_f_unfold_and_nn_unfold():
    m = Upsampler()
    a = analysis_for_module("t:Upsampler", inputs=["2x6x8"], model=m)
    r = a.report()
    ops = [L["op"] for L in r["layers"]]
    assert ops.count("Unfold") == 2 and not a.info["opaque"], ops
    up, un = m(torch.rand(1, 2, 6, 8))
    got = sorted(tuple(L["output_shape"]) for L in r["layers"] if L["op"] == "Unfold")
    # F.unfold(3, padding=1): 2*3*3 = 18 rows, 6*8 = 48 columns; nn.Unfold((2, 3), stride=(2, 1)): 2*2*3 = 12
    # rows, (floor((6 - 2)/2) + 1) * (floor((8 - 3)/1) + 1) = 3*6 = 18 columns
    assert got == sorted([tuple(up.shape[1:]), tuple(un.shape[1:])]) == [(12, 18), (18, 48)]
