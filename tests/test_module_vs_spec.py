"""Issue 7's check: for every torchvision classifier of the zoo, analysing the module
(torchvision.models:NAME through the torch.fx front end) gives exactly the numbers of the zoo spec,
in total and per layer wherever both name a layer the same, with no opaque node."""
import importlib.util

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from conftest import SPECS  # noqa: E402
from cnncalc.api import analysis_for  # noqa: E402

_spec = importlib.util.spec_from_file_location("zoo_reference", SPECS / "tools" / "reference.py")
REF = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(REF)

TOTALS = ("params", "buffers", "macs", "flops", "bwd_flops", "saved_bytes", "activation_bytes")
PER_LAYER = ("params", "macs", "flops", "bwd_flops", "output_shape")


@pytest.mark.parametrize("stem", sorted(REF.TORCHVISION))
def test_module_analysis_equals_spec(stem):
    from cnncalc.frontends.module_target import analysis_for_module
    builder, kwargs, shape = REF.TORCHVISION[stem]
    with torch.device("meta"):
        model = torchvision.models.get_model(builder, weights=None, **kwargs).eval()
    mod = analysis_for_module(None, model=model, inputs=["x".join(map(str, shape))])
    spec = analysis_for(SPECS / f"{stem}.yaml")
    rm, rs = mod.report(), spec.report()
    assert not [L["name"] for L in rm["layers"] if L.get("status", "exact") != "exact"], "opaque nodes"
    tm, ts = rm["totals"], rs["totals"]
    for k in TOTALS:
        if k == "activation_bytes":
            continue   # torchvision's in-place ReLUs allocate nothing; a spec's plain ReLU does
        assert tm[k] == ts[k], (k, tm[k], ts[k])
    lm = {L["name"]: L for L in rm["layers"]}
    ls = {L["name"]: L for L in rs["layers"]}
    common = set(lm) & set(ls)
    assert len(common) >= 18
    diff = {n: k for n in common for k in PER_LAYER if lm[n][k] != ls[n][k]}
    assert not diff, diff
