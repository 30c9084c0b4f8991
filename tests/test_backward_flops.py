"""Backward work of conv and linear layers against FlopCounterMode's backward counts.

FlopCounterMode (torch 2.13/2.14) counts 2 FLOPs per MAC of convolution_backward (grad_input only
where autograd asks for it, grad_weight always) and of the two mm of a linear's backward, and
nothing else.  Its known fault: the weight gradient of a grouped convolution is counted `groups`
times.  The analysis under the `torch` convention (2 per MAC, conv/linear only, no bias) must equal
FCM's forward+backward total once that fault is taken out.
"""
import glob

import pytest

torch = pytest.importorskip("torch")

from conftest import EXAMPLES, SPECS  # noqa: E402
from cnncalc.api import analysis_for  # noqa: E402
from cnncalc.crosscheck.build import build_model, make_inputs  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

# small enough to run forward+backward quickly at a reduced input
CASES = sorted(glob.glob(str(EXAMPLES / "*.yaml"))) + [str(SPECS / f) for f in (
    "lenet.yaml", "resnet18.yaml", "mobilenet_v2.yaml", "shufflenet_v2_x1_0.yaml", "squeezenet1_1.yaml",
    "unet.yaml", "siamese.yaml", "audio1d.yaml", "deeplab_aspp.yaml")]
SMALL = {"resnet18.yaml": (3, 64, 64), "mobilenet_v2.yaml": (3, 64, 64), "shufflenet_v2_x1_0.yaml": (3, 64, 64),
         "squeezenet1_1.yaml": (3, 96, 96), "deeplab_aspp.yaml": (3, 64, 64), "unet.yaml": (1, 64, 64)}


def grouped_weight_grad_excess(a):
    """FLOPs FlopCounterMode adds wrongly: (groups - 1) x the weight-gradient FLOPs of each grouped conv."""
    extra = 0
    for n in a.g.nodes:
        k = n.kind
        if k is not None and k.family == "conv" and k.a.get("groups", 1) > 1:
            extra += (k.a["groups"] - 1) * 2 * k.mac_figure().value
    return extra


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.split("/")[-1])
@pytest.mark.parametrize("batch", [1, 2])
def test_backward_flops_match_flop_counter(path, batch):
    from torch.utils.flop_counter import FlopCounterMode
    name = path.split("/")[-1]
    shape = SMALL.get(name)
    a = analysis_for(path, batch=batch, convention="torch", input_shape=shape)
    assert not a.has_errors
    model = build_model(a.g)   # eval mode: BN on a 1x1 map at batch 1 could not train; conv/linear work is
    # the same in both modes, and the inputs need no gradient
    xs = make_inputs(a.g, batch)
    with FlopCounterMode(display=False) as fcm:
        out = model(*xs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        loss = sum(o.float().sum() for o in outs if o.requires_grad)
        loss.backward()
    measured = fcm.get_total_flops()
    t = a.totals()
    # torch convention: forward 2*MACs of conv/linear, backward 2*(grad_input + grad_weight MACs)
    assert t["flops"] + t["bwd_flops"] == measured - grouped_weight_grad_excess(a), (
        t["flops"], t["bwd_flops"], measured)


def test_first_layer_has_no_input_gradient():
    # conv 3->8 3x3 on 8x8 (pad 1): MACs 8*64*27 = 13,824. First layer: backward = grad_weight only.
    # second conv 8->8: 8*64*72 = 36,864 MACs: backward = grad_input + grad_weight = 2x its forward.
    text = ("cnncalc: 1\ninput: [3, 8, 8]\nlayers:\n  - Conv2d(3, 8, 3, padding=1, bias=False)\n"
            "  - Conv2d(8, 8, 3, padding=1, bias=False)\n")
    a = analysis_for("t.yaml", text=text, convention="torch")
    L = a.report()["layers"]
    assert L[0]["bwd_flops"] == 2 * 13824
    assert L[1]["bwd_flops"] == 2 * 2 * 36864
