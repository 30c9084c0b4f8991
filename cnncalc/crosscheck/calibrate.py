"""`cnncalc calibrate`: measure the local CUDA device and write a device profile.

The same measurements the h200 profile was fitted on, run on the local card through cnncalc's own
torch builder (the spec's graph, run node by node): the fixed cuBLAS workspaces, every layer's
forward transient (allocated before it, its peak above that, its output), and whole steps (eval forward;
the third training step with SGD, Adam and float16 autocast + GradScaler + Adam) with
``torch.cuda.max_memory_allocated``.  The profile is then fitted (fit.py) and written with its
provenance.  torch is imported inside the functions.
"""
from __future__ import annotations

import datetime
import gc
import json
import os
import time

DEFAULT_SPECS = ("alexnet", "vgg16", "googlenet", "resnet18", "resnet50", "resnext50_32x4d", "squeezenet1_1",
                 "mobilenet_v2", "shufflenet_v2_x1_0", "efficientnet_b0")


class CalibrateError(RuntimeError):
    """No device to calibrate, or nothing could be measured; the message says why."""


def require_cuda():
    import torch
    if not torch.cuda.is_available():
        raise CalibrateError("calibrate measures a CUDA device, and torch sees none here "
                             f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); run it on "
                             "the machine with the GPU, or pass an existing profile to --device")
    return torch


def _sync(torch):
    torch.cuda.synchronize()


def _clean(torch):
    gc.collect()
    _sync(torch)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


def measure_fixed(torch) -> dict:
    """Bytes the libraries keep after their first use: cuBLAS on this thread, and on autograd's thread."""
    A = torch.cuda.memory_allocated
    a0 = A()
    x = torch.randn(64, 64, device="cuda")
    y = x @ x
    _sync(torch)
    a1 = A()
    w = torch.randn(64, 64, device="cuda", requires_grad=True)
    _sync(torch)
    a2 = A()
    (x @ w).sum().backward()
    _sync(torch)
    after_bwd = A() - a2 - w.grad.untyped_storage().nbytes()
    c = torch.nn.Conv2d(3, 8, 3).cuda()
    a3 = A()
    z = c(torch.randn(1, 3, 16, 16, device="cuda"))
    _sync(torch)
    a4 = A()
    del x, y, w, c, z
    return {"after_matmul": a1 - a0, "after_backward_matmul": max(0, after_bwd), "after_conv": a4 - a3,
            "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
            "tf32_cudnn": torch.backends.cudnn.allow_tf32, "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}


def _build(spec, batch):
    from ..pipeline import analysis_for
    from .build import build_model, make_inputs
    a = analysis_for(spec, batch=batch)
    if a.has_errors:
        raise CalibrateError(f"{spec}: the spec has errors; `cnncalc analyze {spec}` shows them")
    model = build_model(a.g)
    return a, model, make_inputs


def measure_layers(torch, spec, name, batch) -> dict:
    """Every leaf module's forward transient in eval mode under no_grad (rows as tools/fit_device.py reads)."""
    a, model, make_inputs = _build(spec, batch)
    model = model.cuda().eval()
    xs = make_inputs(a.g, batch, device="cuda")
    rows, start = [], {}

    def nbytes(o):
        if torch.is_tensor(o):
            return o.untyped_storage().nbytes()
        return sum(nbytes(t) for t in o) if isinstance(o, (tuple, list)) else 0

    def shape(o):
        if torch.is_tensor(o):
            return list(o.shape)
        return [shape(t) for t in o] if isinstance(o, (tuple, list)) else None

    def pre(mod, inp):
        _sync(torch)
        start[id(mod)] = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()

    def post(mod, inp, out):
        _sync(torch)
        before = start.pop(id(mod), 0)
        rows.append([mod._cnncalc_name, type(mod).__name__, shape(inp[0]) if inp else None, shape(out), before,
                     torch.cuda.max_memory_allocated() - before, nbytes(out)])

    hooks = []
    for key, mod in model._mods.items():
        mod._cnncalc_name = key
        hooks += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
    _clean(torch)
    try:
        with torch.no_grad():
            model(*xs)
        _sync(torch)
    finally:
        for h in hooks:
            h.remove()
    return {"model": name, "spec": os.path.abspath(spec), "batch": batch, "mode": "eval", "layers": rows}


def measure_steps(torch, spec, name, batch) -> dict:
    """Eval forward peak and the third training step's peaks (SGD, Adam, AMP Adam), as the h200 profile's."""
    rec = {"model": name, "spec": os.path.abspath(spec), "batch": batch}
    a, model, make_inputs = _build(spec, batch)
    model = model.cuda().eval()
    xs = make_inputs(a.g, batch, device="cuda")
    _clean(torch)
    with torch.no_grad():
        y = model(*xs)
    _sync(torch)
    rec["infer"] = {"peak": torch.cuda.max_memory_allocated()}
    del model, y
    for variant in ("sgd", "adam", "amp_adam"):
        a, model, _ = _build(spec, batch)
        model = model.cuda().train()
        t = None
        amp = variant == "amp_adam"
        opt = (torch.optim.SGD(model.parameters(), lr=1e-4) if variant == "sgd"
               else torch.optim.Adam(model.parameters(), lr=1e-4))
        scaler = torch.amp.GradScaler("cuda") if amp else None
        r = {}
        for step in range(3):
            if step == 2:
                _clean(torch)
                r["start"] = torch.cuda.memory_allocated()
            opt.zero_grad(set_to_none=variant != "sgd")
            with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                out = model(*xs)
                out = out[0] if isinstance(out, (tuple, list)) else out
                out = out.flatten(1)
                if t is None:
                    t = torch.randint(0, out.shape[1], (batch,), device="cuda")
                loss = torch.nn.functional.cross_entropy(out, t)
            (scaler.scale(loss) if amp else loss).backward()
            _sync(torch)
            if step == 2:
                r["after_backward"] = torch.cuda.max_memory_allocated()
            if amp:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            _sync(torch)
            if step == 2:
                r["after_step"] = torch.cuda.max_memory_allocated()
                # what the process holds beyond the allocated peak: the allocator's reserved segments and,
                # from the driver's count, the CUDA context (fit.fit_reserve)
                free, total = torch.cuda.mem_get_info()
                r["max_reserved"] = torch.cuda.max_memory_reserved()
                r["reserved_now"] = torch.cuda.memory_reserved()
                r["driver_used"] = total - free
            del loss, out
        rec[variant] = r
        del model, opt, scaler, t
        _clean(torch)
    return rec


def calibrate(specs=None, batches=(1, 32, 128), base="h200", deadline_s=1800.0, log=print) -> dict:
    """Measure, fit and return the profile (and the raw measurements under `measurements`)."""
    torch = require_cuda()
    from ..devices import load_profile
    from ..devices.fit import ROOT, fit_profile
    torch.backends.cudnn.benchmark = False
    end = time.time() + deadline_s
    specs = list(specs or [os.path.join(ROOT, "specs", f"{n}.yaml") for n in DEFAULT_SPECS])
    fixed = measure_fixed(torch)
    layers, peaks = [{"fixed": fixed}], []
    for spec in specs:
        name = os.path.splitext(os.path.basename(spec))[0]
        for b in batches:
            if time.time() > end:
                log("deadline reached: fitting on what was measured")
                break
            try:
                layers.append(measure_layers(torch, spec, name, b))
                _clean(torch)
                peaks.append(measure_steps(torch, spec, name, b))
            except torch.cuda.OutOfMemoryError:
                log(f"{name} batch {b}: out of memory, skipped")
            _clean(torch)
            log(f"{name} batch {b}: measured")
    if not peaks:
        raise CalibrateError("nothing could be measured (every run ran out of memory or time)")
    props = torch.cuda.get_device_properties(0)
    profile = fit_profile(layers, peaks, load_profile(base), log=log)
    profile.pop("extrapolated", None)
    profile.pop("aliases", None)
    free, total = torch.cuda.mem_get_info()
    profile.update({
        "name": props.name.lower().replace("nvidia", "").strip().replace(" ", "-"),
        "gpu": props.name, "status": "measured", "total_bytes": total,
        "memory_source": f"{total // 2 ** 20:,} MiB: torch.cuda.mem_get_info() on this card",
        "provenance": {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
                       "cuda": torch.version.cuda,
                       "tf32": {"cudnn": torch.backends.cudnn.allow_tf32,
                                "matmul": torch.backends.cuda.matmul.allow_tf32},
                       "cudnn_benchmark": False, "date": datetime.date.today().isoformat(),
                       "measured": "cnncalc calibrate: per-layer eval forward transients and whole steps "
                                   f"(eval forward; third SGD, Adam and AMP Adam training step) of {len(specs)} "
                                   f"specs at batches {', '.join(map(str, batches))}, through cnncalc's torch "
                                   "builder",
                       "fitted_with": "cnncalc/devices/fit.py"},
    })
    from ..devices.fit import fit_reserve
    reserve = fit_reserve(peaks)
    if reserve is not None:
        profile["context_reserve_bytes"] = reserve["bytes"]
        profile["context_reserve_note"] = reserve["note"]
    profile["measurements"] = {"layers": layers, "steps": peaks}
    return profile


def write_profile(profile: dict, path: str):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(profile, f, indent=1)
        f.write("\n")
