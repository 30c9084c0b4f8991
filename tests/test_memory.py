"""Memory and training cost (cnncalc/core/memory.py, `cnncalc memory`).

Expected values are derived by hand (arithmetic in the comments) or measured by running torch on the
CPU: bytes saved for backward through torch.autograd.graph.saved_tensors_hooks, and live bytes through
the CPU allocator events of torch.profiler.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnncalc.api import analysis_for
from cnncalc.core import memory as M

# conv -> relu -> pool, input 3x8x8
CRP = """
cnncalc: 1
input: [3, 8, 8]
layers:
  - Conv2d: {in_channels: 3, out_channels: 4, kernel_size: 3, padding: 1}
  - ReLU
  - MaxPool2d: 2
"""

# conv -> BN -> ReLU: BatchNorm's saved statistics do not grow with the batch
CBR = """
cnncalc: 1
input: [3, 8, 8]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1, bias: false}
  - BatchNorm2d
  - ReLU
"""

LIN = """
cnncalc: 1
input: [100]
layers:
  - Linear: {in_features: 100, out_features: 10}
"""

# a residual net with BN, pooling, a view and a small head (parameters small next to activations)
RES = """
cnncalc: 1
input: [3, 16, 16]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
    name: c1
  - ReLU
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
  - BatchNorm2d
  - add:
    from: [-1, c1]
  - ReLU
  - MaxPool2d: 2
  - AdaptiveAvgPool2d: 1
  - Flatten
  - Linear: {out_features: 10}
"""

# a pooling before the first parameter: torch records nothing for it
POOL_FIRST = """
cnncalc: 1
input: [3, 8, 8]
layers:
  - MaxPool2d: 2
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
  - ReLU
"""


def A(text, batch, **kw):
    return analysis_for("t.yaml", text=text, batch=batch, **kw)


# ----------------------------------------------------------------------------- hand-derived tables
def test_conv_relu_pool_batch2_by_hand():
    a = A(CRP, 2)
    b = M.breakdown(a, "adam")
    # tensors (batch 2, fp32):  input 2*3*8*8*4 = 1536; conv out 2*4*8*8*4 = 2048; relu out 2048;
    # pool out 2*4*4*4*4 = 512; pool indices (int64) 2*4*4*4*8 = 1024
    # params (3*3*3 + 1)*4 = 112 -> 448 bytes
    assert b["params"] == 112
    assert b["weights"] == 448
    # inference: input held (1536); conv: +2048 = 3584; relu: +2048 = 5632 (peak), conv out freed;
    # pool: 1536 + 2048 + 512 = 4096
    assert b["inference_activation_peak"] == 5632
    assert b["inference_peak"] == 448 + 5632
    # saved for backward: conv saves its input 1536, relu its output 2048, pool its input (= relu out,
    # shared) and indices 1024  ->  4608
    assert b["saved_activations"] == 1536 + 2048 + 1024
    # backward walk, after forward 1536 + 2048 + 1024 + 512 (output) = 5120 live:
    #   pool backward: + output grad 512 + new relu-out grad 2048 = 7680; indices freed -> 4096
    #   relu backward: 4096 + relu-out grad 2048 + new conv-out grad 2048 = 8192  <- peak
    #   conv backward: no input gradient (the input needs none); 1536 + 512 + conv-out grad 2048
    #   + its new weight/bias gradient 448 = 4544
    assert b["backward_activation_peak"] == 8192
    assert b["forward_activation_peak"] == 5632
    assert b["peak_transient"] == 8192 - 4608
    # adam: 2 fp32 states = 8 bytes/param -> 896; grads 448
    assert b["gradients"] == 448 and b["optimizer"] == 896
    assert b["training_peak"] == 448 + 448 + 896 + 8192
    assert M.breakdown(a, "sgd")["training_peak"] == 448 + 448 + 0 + 8192
    assert M.breakdown(a, "momentum")["training_peak"] == 448 + 448 + 448 + 8192
    # the parts add up to the peak
    assert b["training_peak"] == sum(b[k] for k in ("weights", "gradients", "optimizer", "saved_activations",
                                                    "peak_transient"))


def test_output_bytes_per_layer_by_hand():
    rows = {r["op"]: r for r in M.layer_rows(A(CRP, 2))}
    assert rows["Conv2d"]["output_bytes"] == 2 * 4 * 8 * 8 * 4
    assert rows["MaxPool2d"]["output_bytes"] == 2 * 4 * 4 * 4 * 4
    # conv: its input; relu: its output; pool: only its indices (its input is relu's output)
    assert rows["Conv2d"]["saved_bytes"] == 1536
    assert rows["ReLU"]["saved_bytes"] == 2048
    assert rows["MaxPool2d"]["saved_bytes"] == 1024


def test_backward_split_by_hand():
    text = CRP.replace("  - MaxPool2d: 2\n", "  - Conv2d: {out_channels: 2, kernel_size: 3, padding: 1, bias: false}\n")
    rows = M.layer_rows(A(text, 2))
    c1, c2 = rows[0], rows[2]
    # first conv: no input gradient; weight gradient = forward MACs 2*4*(8*8)*3*(3*3) = 13824 -> 27648 FLOPs,
    # bias gradient 2*4*8*8 = 512 adds
    assert c1["needs_input_grad"] is False
    assert c1["bwd_input_flops"] == 0
    assert c1["bwd_weight_flops"] == 2 * 13824 + 512
    # second conv: MACs 2*2*(8*8)*4*(3*3) = 9216: input gradient 9216 MACs and weight gradient 9216 MACs
    assert c2["bwd_input_macs"] == 9216 and c2["bwd_weight_macs"] == 9216
    assert c2["bwd_input_flops"] == 2 * 9216 and c2["bwd_weight_flops"] == 2 * 9216


def test_linear_optimizers_dtypes_amp_and_epoch():
    a = A(LIN, 4)
    # params 100*10 + 10 = 1010
    assert M.breakdown(a, "sgd")["optimizer"] == 0
    assert M.breakdown(a, "momentum")["optimizer"] == 1010 * 4
    assert M.breakdown(a, "adam")["optimizer"] == 1010 * 8
    assert M.breakdown(a, "adamw")["optimizer"] == 1010 * 8
    h = M.breakdown(A(LIN, 4, dtype="float16"), "adam")
    # pure fp16: weights, grads and the two Adam states at 2 bytes
    assert (h["weights"], h["gradients"], h["optimizer"]) == (2020, 2020, 4040)
    assert h["saved_activations"] == 4 * 100 * 2      # the linear saves its input, 4*100 fp16 values
    amp = M.breakdown(a, "adam", amp=True)
    # AMP: fp32 master weights 4040 + fp16 copy of the linear weight 2020; fp32 grads and Adam states
    assert (amp["weights"], amp["gradients"], amp["optimizer"]) == (4040 + 2020, 4040, 8080)
    assert amp["saved_activations"] == 4 * 100 * 2
    assert amp["bytes_per_param"] == {"weights": 4, "gradients": 4, "optimizer": 8, "amp_cast_copy": 2}
    f = M.train_flops(a, dataset_size=10)
    # forward 2*100*10 + 10 (bias) = 2010 per sample; backward (first layer: weight gradient only)
    # 2*100*10 + 10 (bias gradient) = 2010 per sample; step at batch 4: 4*4020 = 16080
    assert f["forward"] == 4 * 2010 and f["backward"] == 4 * 2010 and f["step"] == 16080
    assert f["backward_input"] == 0
    # 10 samples at batch 4: 3 steps, 10*4020 = 40200 FLOPs (the last batch is short)
    assert f["steps_per_epoch"] == 3 and f["epoch"] == 40200


def test_batch_sweep_is_affine_in_batch():
    # per sample: input 3*64*4 = 768 (saved by conv), conv out 8*64*4 = 2048 (saved by BN),
    # relu out 2048 (relu saves its output)  -> 4864; BN's save_mean + save_invstd 2*8*4 = 64 fixed
    for B in (1, 8, 32, 128):
        assert M.breakdown(A(CBR, B))["saved_activations"] == 64 + 4864 * B
    rep = _cli_json(["memory", "-", "--batch", "1,8,32,128"], CBR)
    assert [r["batch"] for r in rep["runs"]] == [1, 8, 32, 128]
    saved = [r["memory"]["saved_activations"] for r in rep["runs"]]
    assert saved == [64 + 4864 * b for b in (1, 8, 32, 128)]
    assert rep["sweep_linear"]["saved_activations"] == {"per_sample": 4864, "fixed": 64, "linear": True}
    assert all(v["linear"] for v in rep["sweep_linear"].values())
    # weights, gradients, optimizer state do not grow
    assert len({r["memory"]["weights"] for r in rep["runs"]}) == 1


def test_fit_tiny_budget_by_hand():
    # conv-relu-pool: training peak = 448 + 448 + 896 (adam) + 4096*B   (8192 at B=2, every term ~ B)
    #                 inference peak = 448 + 2816*B                    (5632 at B=2)
    for B in (1, 3, 7):
        b = M.breakdown(A(CRP, B))
        assert b["training_peak"] == 1792 + 4096 * B
        assert b["inference_peak"] == 448 + 2816 * B
    budget = 1792 + 4096 * 5          # = 22272: training fits 5 exactly; inference (22272-448)/2816 = 7.75
    rep = _cli_json(["memory", "-", "--fit", str(budget), "--reserve", "0"], CRP)
    assert rep["fit"]["training"]["batch"] == 5
    assert rep["fit"]["inference"]["batch"] == 7
    assert rep["fit"]["training"]["peak_bytes"] == budget
    assert rep["fit"]["training"]["margin_bytes"] == 0
    assert rep["fit"]["inference"]["margin_bytes"] == budget - (448 + 2816 * 7)     # 22272 - 20160 = 2112
    rep = _cli_json(["memory", "-", "--fit", str(budget - 1), "--reserve", "0"], CRP)
    assert rep["fit"]["training"]["batch"] == 4
    rep = _cli_json(["memory", "-", "--fit", "1000", "--reserve", "0"], CRP)    # 1792 + 4096 > 1000
    assert rep["fit"]["training"]["batch"] == 0


def test_fit_leaves_the_reserve_by_hand():
    # the same conv-relu-pool; --fit 22272 with a 4096-byte reserve leaves 18176 for the peak:
    # training 1792 + 4096*4 = 18176 fits exactly (margin 0), 5 needs 22272 > 18176;
    # inference 448 + 2816*6 = 17344 (margin 832), 7 needs 20160 > 18176
    rep = _cli_json(["memory", "-", "--fit", "22272", "--reserve", "4KiB"], CRP)
    f = rep["fit"]
    assert (f["budget_bytes"], f["reserve_bytes"], f["usable_bytes"]) == (22272, 4096, 18176)
    assert f["reserve_source"] == "--reserve"
    assert (f["training"]["batch"], f["training"]["margin_bytes"]) == (4, 0)
    assert (f["inference"]["batch"], f["inference"]["margin_bytes"]) == (6, 832)
    for mode in ("training", "inference"):      # never a batch whose peak + reserve exceeds the budget
        assert f[mode]["peak_bytes"] + 4096 <= 22272 < f[mode]["next_peak_bytes"] + 4096
    # the default reserve: 1 GiB, documented as an estimate. --fit 2GiB leaves 2**30 = 1073741824:
    # training (1073741824 - 1792) // 4096 = 262143: peak 1792 + 4096*262143 = 1073739520, margin 2304
    rep = _cli_json(["memory", "-", "--fit", "2gib"], CRP)
    f = rep["fit"]
    assert f["reserve_bytes"] == M.DEFAULT_RESERVE_BYTES == 2 ** 30
    assert f["reserve_source"].startswith("estimate, not measured")
    assert (f["training"]["batch"], f["training"]["peak_bytes"], f["training"]["margin_bytes"]) == \
        (262143, 1073739520, 2304)
    # a reserve as large as the budget is refused
    import os
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        spec = os.path.join(d, "crp.yaml")
        with open(spec, "w") as fh:
            fh.write(CRP)
        r = _run(["memory", spec, "--fit", "1GiB"])
        assert r.returncode == 2 and "leaves nothing" in r.stderr
        r = _run(["memory", spec, "--reserve", "1GiB"])
        assert r.returncode == 2 and "give --fit too" in r.stderr


def test_sizes_are_case_insensitive():
    # GB/G are decimal (10**9), GiB binary (2**30), in any case
    for text, want in (("24gb", 24 * 10 ** 9), ("24GB", 24 * 10 ** 9), ("24 Gb", 24 * 10 ** 9), ("24g", 24 * 10 ** 9),
                       ("24GiB", 24 * 2 ** 30), ("24gib", 24 * 2 ** 30), ("24GIB", 24 * 2 ** 30),
                       ("1.5gib", 3 * 2 ** 29), ("512mib", 512 * 2 ** 20), ("8e9", 8 * 10 ** 9), ("100", 100),
                       ("2KB", 2000), ("2kib", 2048), ("1tb", 10 ** 12)):
        assert M.parse_size(text) == want, text
        assert M.parse_budget(text)[0] == want, text
    for bad in ("24gbb", "24 bananas", "gb", ""):
        with pytest.raises(ValueError):
            M.parse_size(bad)


def test_peak_and_needs_never_print_alike(tmp_path):
    # a budget between two peaks 4096 bytes apart at ~1 GiB: 3 digits would print both as 1GiB
    p = tmp_path / "crp.yaml"
    p.write_text(CRP)
    r = _run(["memory", str(p), "--fit", "2GiB", "--width", "400"])
    line = next(x for x in r.stdout.splitlines() if x.startswith("largest training batch"))
    import re
    peak = re.search(r"peak (\S+) \+ reserve", line).group(1)
    needs = re.search(r"needs (\S+) of", line).group(1)
    assert peak != needs, line


def test_largest_batch_search_when_not_linear():
    # a made-up convex peak: the straight-line guess overshoots and the search must still be exact
    best, _, _ = M.largest_batch(lambda b: b * b, 1000)
    assert best == 31                 # 31*31 = 961 <= 1000 < 32*32 = 1024
    best, _, _ = M.largest_batch(lambda b: 10 * b + (b // 7) * 50, 2000)
    assert best == max(b for b in range(1, 400) if 10 * b + (b // 7) * 50 <= 2000)


def test_devices():
    assert M.parse_budget("a100-80gb")[0] == 80 * 2 ** 30
    assert M.parse_budget("NVIDIA A100 80GB")[0] == 80 * 2 ** 30
    assert M.parse_budget("RTX 4090")[0] == 24 * 2 ** 30
    assert M.parse_budget("rtx3090")[0] == 24 * 2 ** 30
    assert M.parse_budget("T4")[0] == 16 * 2 ** 30
    assert M.parse_budget("v100-32gb")[0] == 32 * 2 ** 30
    assert M.parse_budget("h100")[0] == 80 * 2 ** 30
    assert M.parse_budget("l4")[0] == 24 * 2 ** 30
    assert M.parse_budget("24GiB")[0] == 24 * 2 ** 30
    assert M.parse_budget("16GB")[0] == 16 * 10 ** 9
    with pytest.raises(M.MemoryError_, match="a100-40gb or a100-80gb"):
        M.parse_budget("a100")
    with pytest.raises(M.MemoryError_, match="known"):
        M.parse_budget("tpu-v9")


# ----------------------------------------------------------------------------- the report and the CLI
def test_analyze_report_memory_object():
    from cnncalc.api import analyze_path
    r = analyze_path("t.yaml", text=CRP, batch=2)
    t, m = r["totals"], r["memory"]
    assert t["inference_peak_bytes"] == 448 + 5632
    assert t["training_peak_bytes"] == 1792 + 8192
    assert m["optimizer_name"] == "adam" and m["bytes_per_param"]["optimizer"] == 8
    assert m["training_peak"] == sum(m[k] for k in ("weights", "gradients", "optimizer", "saved_activations",
                                                    "peak_transient"))
    for L in r["layers"]:
        assert L["bwd_input_flops"] + L["bwd_weight_flops"] == L["bwd_flops"]
    # per sample: (4020-free) the step FLOPs over the batch
    assert t["train_flops_per_sample"] * 2 == t["train_step_flops"]


def test_cli_table_and_errors(tmp_path):
    p = tmp_path / "crp.yaml"
    p.write_text(CRP)
    r = _run(["memory", str(p), "--batch", "1,4", "--fit", "t4", "--layers"])
    assert r.returncode == 0, r.stderr
    assert "batch sweep" in r.stdout and "largest training batch" in r.stdout
    for bad, msg in ((["--fit", "a100"], "a100-40gb or a100-80gb"), (["--batch", "2,x"], "not an integer"),
                     (["--fit", "lots"], "neither a size"), (["--optimizer", "adamx"], "adamx")):
        r = _run(["memory", str(p)] + bad)
        assert r.returncode == 2
        assert msg in r.stdout + r.stderr
        assert "Traceback" not in r.stderr


def test_memory_cli_does_not_import_torch(tmp_path):
    p = tmp_path / "crp.yaml"
    p.write_text(CRP)
    code = ("import sys\nfrom cnncalc.cli.main import app\n"
            "try:\n    app([" + ", ".join(repr(x) for x in ["memory", str(p), "-b", "1,2", "--fit", "h100",
                                                              "--amp", "-f", "json"]) + "])\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print('TORCH', 'torch' in sys.modules, file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "TORCH False" in r.stderr, r.stderr


# ----------------------------------------------------------------------------- measured with torch (CPU)
def _torch_models():
    import torch
    import torch.nn as nn

    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 8, 3, padding=1)
            self.c2 = nn.Conv2d(8, 8, 3, padding=1)
            self.bn = nn.BatchNorm2d(8)
            self.fc = nn.Linear(8, 10)

        def forward(self, x):           # rebinding `h` frees each tensor after its last use
            a = self.c1(x)
            h = torch.relu(a)
            h = self.c2(h)
            h = self.bn(h)
            h = h + a
            del a
            h = torch.relu(h)
            h = nn.functional.max_pool2d(h, 2)
            h = nn.functional.adaptive_avg_pool2d(h, 1)
            return self.fc(h.flatten(1))

    return {
        "crp": (CRP, (3, 8, 8), lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))),
        "cbr": (CBR, (3, 8, 8), lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                                                      nn.ReLU())),
        "res": (RES, (3, 16, 16), Res),
        "pool_first": (POOL_FIRST, (3, 8, 8), lambda: nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(3, 4, 3, padding=1),
                                                                    nn.ReLU())),
    }


def _measure_saved(model, x):
    """Bytes autograd saves: saved_tensors_hooks, deduplicated by storage, parameters and buffers excluded."""
    import torch
    skip = {t.untyped_storage().data_ptr() for t in list(model.parameters()) + list(model.buffers())}
    storages = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in skip:
            storages[s.data_ptr()] = s.nbytes()
        return t.detach()   # not `t`: a saved output would hold its own graph in a cycle gc cannot see

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = model(x)
    total = sum(storages.values())
    del y
    return total


@pytest.mark.parametrize("name", ["crp", "cbr", "res", "pool_first"])
def test_saved_bytes_match_torch(name):
    torch = pytest.importorskip("torch")
    text, shape, build = _torch_models()[name]
    torch.manual_seed(0)
    model = build().train()
    for B in (2, 5):
        measured = _measure_saved(model, torch.randn(B, *shape))
        assert M.breakdown(A(text, B))["saved_activations"] == measured, (name, B)


def _peak_delta(fn):
    """Peak of CPU bytes allocated while fn runs, above what was allocated before (torch.profiler events:
    an op's own allocations counted at its start, its frees at its end)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    points = []
    for e in prof.events():
        u = e.self_cpu_memory_usage
        if u > 0:
            points.append((e.time_range.start, u))
        elif u < 0:
            points.append((e.time_range.end, u))
    points.sort()
    cur = peak = 0
    for _, u in points:
        cur += u
        peak = max(peak, cur)
    return peak


@pytest.mark.parametrize("name", ["crp", "res"])
def test_peaks_against_cpu_allocator(name):
    torch = pytest.importorskip("torch")
    text, shape, build = _torch_models()[name]
    torch.manual_seed(0)
    model = build()
    for B in (4, 16):
        x = torch.randn(B, *shape)
        b = M.breakdown(A(text, B), "sgd")
        held = x.numel() * 4                               # the input, allocated before measuring
        model.eval()
        with torch.no_grad():
            inf = _peak_delta(lambda: model(x)) + held
        # inference: equal up to small kernel scratch (BatchNorm's 2*C floats in eval)
        assert b["inference_activation_peak"] <= inf <= b["inference_activation_peak"] * 1.01 + 128, (name, B)
        model.train()
        y0 = model(x)
        seed = torch.ones_like(y0)                         # the output's gradient, allocated before measuring
        del y0
        for p in model.parameters():
            p.grad = None

        def step():
            model(x).backward(seed)

        seed_bytes = seed.numel() * 4
        tr = _peak_delta(step) + held + seed_bytes
        # training: parameter gradients appear during backward (set_to_none): the activation peak is a lower
        # bound, activations + all gradients (the model's figure) an upper bound.  Here the caller holds
        # the output gradient `seed` through the whole backward, where the model frees it after the last
        # layer's backward (as when a loss inside the graph produced it): allow those bytes too.
        act = max(b["forward_activation_peak"], b["backward_activation_peak"])
        assert act <= tr <= act + b["gradients"] + seed_bytes + 128, (name, B, act, tr, b["gradients"])


@pytest.mark.parametrize("name", ["lenet", "inception", "shuffle", "se_dense", "resnet18", "siamese"])
def test_examples_against_torch_cpu(name):
    """The example specs, built by the cross-check's builder when it is there (it frees each value after
    its last use, as the model assumes): saved bytes equal, inference peak equal up to kernel scratch,
    training peak between the activation peak and activations + parameter gradients (+ the output
    gradient the test holds)."""
    torch = pytest.importorskip("torch")
    build = pytest.importorskip("cnncalc.crosscheck.build")
    from pathlib import Path
    path = Path(__file__).resolve().parents[1].parent / "shared" / "examples" / f"{name}.yaml"
    if not path.exists():
        pytest.skip(f"{path} not found")
    a = analysis_for(path, batch=2)
    model = build.build_model(a.g)
    xs = build.make_inputs(a.g, 2)
    b = M.breakdown(a, "sgd")
    held = sum(x.numel() * x.element_size() for x in xs)
    model.eval()
    with torch.no_grad():
        inf = _peak_delta(lambda: model(*xs)) + held
    assert b["inference_activation_peak"] <= inf <= b["inference_activation_peak"] * 1.01 + 1024
    model.train()
    if len(xs) == 1:
        assert _measure_saved(model, xs[0]) == b["saved_activations"]
    out = model(*xs)
    outs = out if isinstance(out, tuple) else (out,)
    seeds = [torch.ones_like(o) for o in outs]
    del out, outs
    for p in model.parameters():
        p.grad = None

    def step():
        o = model(*xs)
        torch.autograd.backward(list(o) if isinstance(o, tuple) else [o], seeds)

    seed_bytes = sum(s.numel() * 4 for s in seeds)
    tr = _peak_delta(step) + held + seed_bytes
    act = max(b["forward_activation_peak"], b["backward_activation_peak"])
    # BatchNorm's CPU backward takes one input-sized scratch tensor: allowed as kernel workspace
    assert act <= tr <= act + b["gradients"] + seed_bytes + 1024, (act, tr)


# ----------------------------------------------------------------------------- helpers
def _run(args, stdin=None):
    return subprocess.run([sys.executable, "-m", "cnncalc"] + args, capture_output=True, text=True, input=stdin,
                          timeout=60)


def _cli_json(args, text):
    """Run the CLI on a spec written to a temporary file; '-' in args is replaced by its path."""
    import os
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "spec.yaml")
        with open(p, "w") as f:
            f.write(text)
        r = _run([p if x == "-" else x for x in args] + ["--format", "json"])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)
