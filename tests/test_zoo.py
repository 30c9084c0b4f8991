"""The zoo (specs/*.yaml) against the real PyTorch models.

For every spec with a torchvision counterpart (and the specs whose torch equivalent is written out in
specs/tools/reference.py), the torchvision model is built with ``weights=None`` and compared with
``cnncalc.api.analyze_path``:

* total parameters: ``sum(p.numel() for p in model.parameters())``;
* per-module parameters: every leaf module with parameters, by module path, against the report's
  layer of the same name (the spec node names are torchvision's module paths);
* the output shape of the final layer;
* conv + linear MACs at batch 1: ``torch.utils.flop_counter.FlopCounterMode`` counts 2 FLOPs per
  multiply-accumulate of conv and matmul only, so its forward total / 2 is exactly the conv+linear
  MACs (none of these models has a grouped transposed conv or attention, where FCM is off;
  torchvision's DeformConv2d, which FCM does not see, is added back from the reference script).

Every spec's own `expect:`s must pass as well, and every spec in specs/ must have a torch model here.

The models are built on the ``meta`` device: parameters get shapes but no storage and no random
init, and FlopCounterMode counts a meta forward exactly as a real one (shapes are all it needs), so
the whole file runs in seconds. ``test_meta_device_counts_like_cpu`` checks that claim on a real
CPU forward of one model.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from cnncalc.api import analyze_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


def _load_reference():
    spec = importlib.util.spec_from_file_location("zoo_reference", SPECS / "tools" / "reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


REF = _load_reference()

TORCHVISION = sorted(REF.TORCHVISION)  # spec stem -> (builder, kwargs, input shape)
CUSTOM = sorted(REF.CUSTOM)            # spec stem -> (torch model builder, input shape)


def _build(stem: str, device: str = "meta"):
    with torch.device(device):
        if stem in REF.TORCHVISION:
            builder, kwargs, shape = REF.TORCHVISION[stem]
            model = torchvision.models.get_model(builder, weights=None, **kwargs)
        else:
            fn, shape = REF.CUSTOM[stem]
            model = fn()
    return model.eval(), shape


@functools.lru_cache(maxsize=None)
def torch_figures(stem: str) -> dict:
    """Params, per-module params, conv+linear MACs and output shape of the real model, batch 1."""
    model, shape = _build(stem)
    per_module = {}
    for name, mod in model.named_modules():
        n = sum(p.numel() for p in mod.parameters(recurse=False))
        if n:
            per_module[name] = n
    shapes = shape if isinstance(shape[0], tuple) else (shape,)  # several inputs: a tuple of shapes
    with torch.no_grad(), FlopCounterMode(display=False) as fcm:
        y = model(*[torch.zeros(1, *s, device="meta") for s in shapes])
    if isinstance(y, tuple):  # several outputs: the spec's last layer is the last one
        y = y[-1]
    flops = fcm.get_total_flops()
    assert flops % 2 == 0
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "per_module": per_module,
        # DeformConv2d is a torchvision custom op that FlopCounterMode does not count
        "macs": flops // 2 + REF.UNCOUNTED_MACS.get(stem, 0),
        "output_shape": list(y.shape[1:]),
    }


@functools.lru_cache(maxsize=None)
def report(stem: str) -> dict:
    return analyze_path(SPECS / f"{stem}.yaml")


ALL = TORCHVISION + CUSTOM


def test_every_spec_has_a_torch_model():
    stems = {p.stem for p in SPECS.glob("*.yaml")}
    assert stems == set(ALL), f"specs without a torch model: {sorted(stems - set(ALL))}"


@pytest.mark.parametrize("stem", ALL)
def test_spec_expects_pass(stem):
    failed = [e for e in report(stem)["expect"] if e["verdict"] != "pass"]
    assert report(stem)["expect"] and not failed, failed[:5]


@pytest.mark.parametrize("stem", ALL)
def test_total_params(stem):
    assert report(stem)["totals"]["params"] == torch_figures(stem)["params"]


@pytest.mark.parametrize("stem", ALL)
def test_per_module_params(stem):
    ours = {}
    for layer in report(stem)["layers"]:
        if layer["params"] and layer["module"] == layer["name"]:  # a shared call repeats its module
            ours[layer["name"]] = layer["params"]
    theirs = torch_figures(stem)["per_module"]
    missing = sorted(set(theirs) - set(ours))
    extra = sorted(set(ours) - set(theirs))
    assert not missing and not extra, f"modules only in torch: {missing[:8]}; only in the spec: {extra[:8]}"
    wrong = {k: (ours[k], theirs[k]) for k in theirs if ours[k] != theirs[k]}
    assert not wrong, f"params (spec, torch) differ: {dict(list(wrong.items())[:8])}"


@pytest.mark.parametrize("stem", ALL)
def test_output_shape(stem):
    assert report(stem)["layers"][-1]["output_shape"] == torch_figures(stem)["output_shape"]


@pytest.mark.parametrize("stem", ALL)
def test_conv_linear_macs(stem):
    assert report(stem)["totals"]["macs"] == torch_figures(stem)["macs"]


@pytest.mark.parametrize("stem", TORCHVISION)
def test_published_figures(stem):
    """torchvision's own metadata: num_params (except inception_v3's, which counts AuxLogits) and
    GFLOPS rounded to 3 decimals, which are conv+linear GMACs."""
    from torchvision.models import get_model_weights

    meta = get_model_weights(REF.TORCHVISION[stem][0]).DEFAULT.meta
    totals = report(stem)["totals"]
    if stem != "inception_v3":
        assert totals["params"] == meta["num_params"]
    assert round(totals["macs"] / 1e9, 3) == pytest.approx(meta["_ops"], abs=1e-9)


def test_meta_device_counts_like_cpu():
    model, shape = _build("squeezenet1_1", device="cpu")
    with torch.no_grad(), FlopCounterMode(display=False) as fcm:
        y = model(torch.zeros(1, *shape))
    assert fcm.get_total_flops() // 2 == torch_figures("squeezenet1_1")["macs"]
    assert list(y.shape[1:]) == torch_figures("squeezenet1_1")["output_shape"]
