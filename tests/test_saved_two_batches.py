"""Bytes saved for backward equal torch's saved_tensors_hooks exactly, per layer and in total, for
every spec in the repo and in ../shared/examples, at two batch sizes, 2 and 3 (through the verify machinery)."""
import glob
import os

import pytest

torch = pytest.importorskip("torch")

from conftest import EXAMPLES, SPECS  # noqa: E402
from cnncalc.api import analysis_for  # noqa: E402
from cnncalc.crosscheck.build import build_model, make_inputs  # noqa: E402
from cnncalc.crosscheck.measure import measure_saved  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

PATHS = sorted(glob.glob(str(EXAMPLES / "*.yaml"))) + sorted(glob.glob(str(SPECS / "*.yaml")))
# ImageNet-sized specs at a reduced input keep the run short; the rules do not depend on the size
REDUCED = {3: (3, 64, 64)}
KEEP = {"inception_v3.yaml": (3, 96, 96), "mobilenet_v1.yaml": None, "c3d.yaml": None, "audio1d.yaml": None, "unet.yaml": (1, 64, 64)}


def _input(path, a):
    name = os.path.basename(path)
    if name in KEEP:
        return KEEP[name]
    if a.totals()["macs"] < 50e6 or len(a.g.inputs) != 1:
        return None
    shape = a.g.nodes[a.g.inputs[0]].out_shapes[0]
    return REDUCED.get(shape[0]) if len(shape) == 3 else None


@pytest.mark.parametrize("path", PATHS, ids=lambda p: os.path.basename(p))
def test_saved_bytes_exact_at_two_batches(path):
    base = analysis_for(path)
    shape = _input(path, base)
    for batch in (2, 3):   # (batch 1 cannot train BatchNorm after global pooling: one value per channel)
        a = analysis_for(path, batch=batch, input_shape=shape)
        if a.has_errors:
            pytest.skip(f"{os.path.basename(path)} does not analyse at {shape}")
        model = build_model(a.g)
        total, per, _ = measure_saved(model, make_inputs(a.g, batch))
        rep = a.report()
        assert rep["totals"]["saved_bytes"] == total, (batch, rep["totals"]["saved_bytes"], total)
        ours = {n.id: a.layer[n.id]["saved_bytes"] for n in a.g.nodes if not n.is_input}
        diff = {a.g.nodes[i].name: (ours.get(i, 0), per.get(i, 0)) for i in set(ours) | set(per)
                if ours.get(i, 0) != per.get(i, 0)}
        assert not diff, (batch, diff)
