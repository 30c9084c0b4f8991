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
