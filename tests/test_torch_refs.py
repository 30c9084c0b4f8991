"""Modelling checked against hand-written torch references (not the project's own model builder):
bytes saved for backward through torch.autograd.graph.saved_tensors_hooks, FLOPs by exact hand count."""
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from cnncalc.pipeline import analysis_for  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

INPUTS = {1: [3, 50], 2: [3, 10, 9], 3: [3, 6, 5, 7]}


def _torch_saved_bytes(model, x):
    """Bytes of every distinct tensor autograd saves, parameters excluded (as the analysis counts)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(seen.values())


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_padded_conv_saved_bytes_equal_torch(nd, mode):
    """Two padded convolutions: the first one's input (the data) needs no gradient, so a reflection or
    replication padding there keeps nothing for its own backward; the second one's input does."""
    C = [nn.Conv1d, nn.Conv2d, nn.Conv3d][nd - 1]
    torch.manual_seed(0)
    model = nn.Sequential(C(3, 4, 3, padding=1, padding_mode=mode), C(4, 5, 3, padding=1, padding_mode=mode))
    x = torch.randn(2, *INPUTS[nd])
    want = _torch_saved_bytes(model, x)
    spec = (f"cnncalc: 1\nname: t\ninput: {INPUTS[nd]}\nlayers:\n"
            f"  - Conv{nd}d: {{out_channels: 4, kernel_size: 3, padding: 1, padding_mode: {mode}}}\n"
            f"  - Conv{nd}d: {{out_channels: 5, kernel_size: 3, padding: 1, padding_mode: {mode}}}\n")
    a = analysis_for("<text>", text=spec, batch=2)
    assert not a.has_errors
    assert a.report()["totals"]["saved_bytes"] == want


def test_reflect_conv1d_first_layer_by_hand():
    # Conv1d(3->4, k=3, padding=1, reflect) on [2, 3, 50] as the first layer: autograd keeps only the
    # padded copy, 2*3*52 = 312 floats = 1,248 B (the input needs no gradient, so the padding saves nothing)
    torch.manual_seed(0)
    m = nn.Conv1d(3, 4, 3, padding=1, padding_mode="reflect")
    assert _torch_saved_bytes(m, torch.randn(2, 3, 50)) == 1248
    spec = "cnncalc: 1\nname: t\ninput: [3, 50]\nlayers:\n  - Conv1d: {out_channels: 4, kernel_size: 3, padding: 1, padding_mode: reflect}\n"
    assert analysis_for("<text>", text=spec, batch=2).report()["totals"]["saved_bytes"] == 1248


def _ones_window_sum(x_shape, k, s, p, ceil):
    """torch's own count of the input elements in the windows: average pooling of ones with the divisor
    set to 1 and the padding left out sums, per output, the elements its window holds."""
    import torch.nn.functional as F
    nd = len(x_shape) - 1
    ones = torch.ones(1, *x_shape)
    f = getattr(F, f"avg_pool{nd}d")
    kw = {"divisor_override": 1} if nd > 1 else {}
    if nd == 1:   # avg_pool1d has no divisor_override: the mean times the clipped count is the same sum
        cnt = F.avg_pool1d(ones, k, s, p, ceil_mode=ceil, count_include_pad=False)   # all ones -> 1.0
        n_out = cnt.numel()
        sizes = [len([i for i in range(o * s - p, o * s - p + k) if 0 <= i < x_shape[1]]) for o in range(n_out)]
        return x_shape[0] * sum(sizes), n_out
    out = f(ones, k, s, p, ceil_mode=ceil, count_include_pad=False, **kw)
    return int(out.sum().item()), out.numel()


@pytest.mark.parametrize("nd,shape,k,s,p", [
    (2, [1, 17, 11], 3, 2, 1),     # ceil_mode: a last window overhangs the right edge on both axes
    (2, [2, 9, 10], 3, 2, 0),
    (2, [1, 7, 7], 4, 3, 2),
    (1, [3, 20], 5, 3, 2),
    (3, [1, 6, 7, 5], 3, 2, 1),
])
def test_avgpool_without_padding_counts_the_elements_in_its_windows(nd, shape, k, s, p):
    want, n_out = _ones_window_sum(shape, k, s, p, True)
    spec = (f"cnncalc: 1\nname: t\ninput: {shape}\nlayers:\n  - AvgPool{nd}d: "
            f"{{kernel_size: {k}, stride: {s}, padding: {p}, ceil_mode: true, count_include_pad: false}}\n")
    a = analysis_for("<text>", text=spec, batch=1)
    assert not a.has_errors
    assert a.report()["totals"]["flops"] == want      # (elements - 1) adds + 1 divide per output
    assert want < n_out * k ** nd                      # the old count (K taps per output) was more


def test_avgpool_ceil_by_hand():
    # AvgPool2d(3, stride 2, padding 1, ceil_mode, count_include_pad=False) on [1, 9, 9]: per axis
    # out = ceil((9 + 2 - 3) / 2) + 1 = 5 windows [-1,2) [1,4) [3,6) [5,8) [7,10) -> clipped lengths
    # 2+3+3+3+2 = 13, so 13*13 = 169 elements in 25 windows (25*9 = 225 taps before)
    spec = ("cnncalc: 1\nname: t\ninput: [1, 9, 9]\nlayers:\n  - AvgPool2d: "
            "{kernel_size: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: false}\n")
    a = analysis_for("<text>", text=spec, batch=1)
    assert a.report()["totals"]["flops"] == 169
    assert _ones_window_sum([1, 9, 9], 3, 2, 1, True) == (169, 25)


@pytest.mark.parametrize("builder,shape", [("resnet18", "3x32x32"), ("mobilenet_v3_small", "3x32x32"),
                                           ("efficientnet_b0", "3x32x32"), ("swin_v2_t", "3x64x64"),
                                           ("maxvit_t", "3x224x224")])
def test_every_buffer_of_a_torchvision_model_is_counted(builder, shape):
    """swin_v2_t's relative_coords_table (read as an argument) and maxvit_t's relative_position_index
    (read through a view the trace folds into a constant) count as the module's own buffers do."""
    tv = pytest.importorskip("torchvision.models")
    from cnncalc.frontends.module_target import analysis_for_module
    torch.manual_seed(0)
    model = getattr(tv, builder)(weights=None)
    a = analysis_for_module("", model=model, inputs=[shape], batch=1)
    rep = a.report()
    assert rep["totals"]["buffers"] == sum(b.numel() for b in model.buffers())
    by = {}
    for b in model.buffers():
        k = str(b.dtype).replace("torch.", "")
        by[k] = by.get(k, 0) + b.numel() * b.element_size()
    assert rep["buffer_bytes_by_dtype"] == by
    assert "int64" in by      # BatchNorm's num_batches_tracked, or a relative position index


DATA_DEPENDENT_PY = '''
import torch.nn as nn


class Net(nn.Module):
    """Its work depends on its random weights and input data (a detector's does too): the conv runs
    once more for each of the two signs that come out positive."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        x = self.c(x)
        if x.sum() > 0:
            x = self.c(x)
        if self.c.weight.sum() > 0:
            x = self.c(x)
        return x
'''


def test_module_capture_is_reproducible_with_a_seed(tmp_path):
    import json

    from typer.testing import CliRunner

    from cnncalc.cli.main import app
    p = tmp_path / "ddnet.py"
    p.write_text(DATA_DEPENDENT_PY)
    run = CliRunner()

    def macs(seed):
        r = run.invoke(app, ["analyze", f"{p}:Net", "--input", "3x8x8", "--format", "json", "--seed", str(seed)])
        assert r.exit_code == 0, r.output
        rep = json.loads(r.stdout)
        assert rep["coverage"]["capture"] == "hooks"      # the branches defeat tracing: a real run
        return rep["totals"]["macs"]

    # one conv: 3*3*9 MACs per output * 3*8*8 outputs = 5,184; the data decide between 1 and 3 of them
    seen = {s: macs(s) for s in range(8)}
    assert set(seen.values()) <= {5184, 2 * 5184, 3 * 5184}
    assert len(set(seen.values())) > 1               # the work does depend on the seed ...
    for s in (0, 3):
        assert macs(s) == seen[s]                    # ... and the same seed gives the same numbers
    state = torch.random.get_rng_state()
    macs(1)
    assert torch.equal(torch.random.get_rng_state(), state)   # the caller's random state is left alone
