"""Every kind's torch builder, built and run: output shapes and sum(p.numel()) equal the analysis."""
import pytest

torch = pytest.importorskip("torch")

from conftest import analyse_text
from kind_samples import SAMPLES, spec_text
from cnncalc.kinds import REGISTRY


def test_every_kind_has_a_sample():
    assert set(REGISTRY) == set(SAMPLES), set(REGISTRY) ^ set(SAMPLES)


@pytest.mark.parametrize("op", sorted(k for k, v in SAMPLES.items() if v))
def test_builder_matches_analysis(op):
    node, shapes = SAMPLES[op]
    a = analyse_text(spec_text(node, shapes), batch=2)
    errs = [d.render() for d in a.diagnostics if d.severity == "error"]
    assert not errs, errs
    n = a.g.nodes[-1]
    assert n.op == op
    k = n.kind
    torch.manual_seed(0)
    xs = [torch.rand(2, *s) for s in shapes]
    mod = k.torch_module()
    with torch.no_grad():
        if mod is not None:
            mod.eval()
            if hasattr(mod, "has_uninitialized_params") and mod.has_uninitialized_params():
                pytest.fail("lazy module left uninitialised: the builder must give concrete sizes")
            out = k.torch_call(mod, xs) if hasattr(k, "torch_call") and getattr(type(k), "torch_call", None) \
                and k.family == "loss" else mod(*xs)
        else:
            out = k.torch_call(None, xs)
    outs = out if isinstance(out, (list, tuple)) else [out]
    got = [tuple(o.shape[1:]) for o in outs]
    assert got == [tuple(s) for s in n.out_shapes]
    if mod is not None:
        assert sum(p.numel() for p in mod.parameters()) == k.params().value
        assert sum(b.numel() for b in mod.buffers()) == k.buffers().value


def test_deformconv_builder():
    tv = pytest.importorskip("torchvision")
    text = ("cnncalc: 1\ninput: [4, 9, 9]\nlayers:\n  - Conv2d: {out_channels: 18, kernel_size: 3, padding: 1}\n"
            "    name: off\n  - DeformConv2d: {out_channels: 6, kernel_size: 3, padding: 1}\n    from: [input, off]\n")
    a = analyse_text(text)
    k = a.g.nodes[-1].kind
    mod = k.torch_module()
    out = mod(torch.rand(1, 4, 9, 9), torch.rand(1, 18, 9, 9))
    assert tuple(out.shape[1:]) == a.g.nodes[-1].out_shapes[0]
    assert sum(p.numel() for p in mod.parameters()) == 6 * 4 * 9 + 6


def test_signatures_match_torch():
    """Positional order and defaults of every module kind equal torch's own signature."""
    import inspect
    import torch.nn as nn
    for op, cls in REGISTRY.items():
        if not cls.has_module or op in ("DeformConv2d", "relative_position_bias", "ShiftedWindowAttention",
                                                        "ShiftedWindowAttentionV2", "ShiftedWindowAttention3d",
                                                        "StochasticDepth", "LayerScale", "MultiscaleAttention",
                                                        "MViTPool", "MViTPositionalEncoding"):   # not torch.nn classes
            continue
        tcls = getattr(nn, op)
        # nn.LSTM/nn.GRU take (*args, **kwargs) and pass them to RNNBase(mode, ...); GRU refuses proj_size
        init = nn.RNNBase.__init__ if op in ("LSTM", "GRU") else tcls.__init__
        params = [p for p in inspect.signature(init).parameters.values()
                  if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                  and not (init is nn.RNNBase.__init__ and p.name == "mode")
                  and not (op == "GRU" and p.name == "proj_size")]
        ours = [a.name for a in cls.SIG]
        theirs = [p.name for p in params]
        assert ours == theirs[:len(ours)], (op, ours, theirs)
        for a, p in zip(cls.SIG, params):
            if p.default is not inspect.Parameter.empty and not isinstance(p.default, float):
                assert a.default == p.default or (a.default is None and p.default is None), (op, a.name)
