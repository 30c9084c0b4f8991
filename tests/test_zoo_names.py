"""Zoo specs and their torchvision models line up node for node.

For every spec of specs/ with a torchvision counterpart, the node ids of the spec's report equal the
ids that the PyTorch-module front end (torch.fx) gives the torchvision model: the same ids in the same
(topological) order, each with the same op and the same module instance (a module called again, as
torchvision's one `self.relu` in a ResNet block, is `relu`, `relu_1`, `relu_2` of module `relu`), and
reading the same nodes. So `explain`, `compare` and `verify` can name a node of one by the id of the
other. The per-node numbers of the two are compared in test_module_vs_spec.py.
"""
import importlib.util
import subprocess
import sys

import pytest

from conftest import ROOT, SPECS

_spec = importlib.util.spec_from_file_location("zoo_reference", SPECS / "tools" / "reference.py")
REF = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(REF)

# the largest ones are checked only in the slow run; the rest cover every block design of the zoo
SLOW = {"resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2", "vgg13", "vgg13_bn", "vgg19", "vgg19_bn"}
STEMS = [pytest.param(s, marks=pytest.mark.slow) if s in SLOW else s for s in sorted(REF.TORCHVISION)]

# Commutative merges whose operands a spec may list in another order than torch's forward():
# `when:` keeps the first operand, so MobileNet v2's `x + self.conv(x)` is written `from: [conv, input]`.
COMMUTATIVE = {"add", "mul"}


def _densenet_inputs(layer):
    # torchvision's _DenseLayer concatenates every earlier feature map of its block at once; the spec
    # carries them as one growing tensor (the previous layer's cat) plus the newest conv2 output
    return layer["inputs"][-1:] if layer["op"] == "cat" else layer["inputs"]


INPUTS = {"densenet121": _densenet_inputs}


def _layers(stem):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    from cnncalc.api import analysis_for
    from cnncalc.frontends.module_target import analysis_for_module

    builder, kwargs, shape = REF.TORCHVISION[stem]
    with torch.device("meta"):
        model = torchvision.models.get_model(builder, weights=None, **kwargs).eval()
    mod = analysis_for_module(None, model=model, inputs=["x".join(map(str, shape))]).report()["layers"]
    spec = analysis_for(SPECS / f"{stem}.yaml").report()["layers"]
    return mod, spec


@pytest.mark.parametrize("stem", STEMS)
def test_spec_node_ids_are_the_module_front_ends(stem):
    mod, spec = _layers(stem)
    ids_m, ids_s = [L["name"] for L in mod], [L["name"] for L in spec]
    only_m = [n for n in ids_m if n not in set(ids_s)]
    only_s = [n for n in ids_s if n not in set(ids_m)]
    assert not only_m and not only_s, f"only in torchvision: {only_m[:6]}; only in the spec: {only_s[:6]}"
    assert ids_s == ids_m                                      # same order: both are topological
    assert len(set(ids_s)) == len(ids_s)
    worked = [L["name"] for L in spec if L["params"] or L["macs"] or L["flops"]]
    assert len(worked) > len(spec) / 2                         # the ids that carry numbers are among them
    fields = {n: [] for n in ids_s}
    keep = INPUTS.get(stem, lambda L: L["inputs"])
    for m, s in zip(mod, spec):
        for k in ("op", "module"):
            if m[k] != s[k]:
                fields[s["name"]].append((k, m[k], s[k]))
        mi, si = keep(m), keep(s)
        if s["op"] in COMMUTATIVE:
            mi, si = sorted(mi), sorted(si)
        if mi != si:
            fields[s["name"]].append(("inputs", mi, si))
    diff = {n: d for n, d in fields.items() if d}
    assert not diff, dict(list(diff.items())[:6])


def test_resnet_shares_its_relu_as_torchvision_does():
    """torchvision's Bottleneck calls one ReLU module three times (resnet.py: `self.relu`); the spec's
    calls have fx's ids, one module, and no parameters of their own (a ReLU has none)."""
    _, spec = _layers("resnet50")
    by = {L["name"]: L for L in spec}
    calls = [by[f"layer1.0.{n}"] for n in ("relu", "relu_1", "relu_2")]
    assert {L["module"] for L in calls} == {"layer1.0.relu"}
    assert [L["inputs"] for L in calls] == [["layer1.0.bn1"], ["layer1.0.bn2"], ["layer1.0.add"]]
    assert by["layer1.0.add"]["inputs"] == ["layer1.0.bn3", "layer1.0.downsample.1"]


def test_explain_names_a_torchvision_node_in_the_spec():
    # the id from `cnncalc analyze torchvision.models:resnet50` works on the spec, with no torch import
    r = subprocess.run([sys.executable, "-m", "cnncalc", "explain", str(SPECS / "resnet50.yaml"),
                        "layer1.0.relu_1"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "layer1.0.relu_1 (ReLU)" in r.stdout and "layer1.0.relu" in r.stdout
    assert "[64, 56, 56]" in r.stdout                      # conv2 of layer1.0 keeps 64x56x56
