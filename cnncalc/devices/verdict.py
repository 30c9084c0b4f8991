"""The memory verdict of `cnncalc verify --device cuda`: a real training step and an eval forward on the
local CUDA device, compared with the device model's estimate within a stated tolerance.

`compare` is pure (tested without a GPU); `measure_peaks` runs the model (torch imported inside).
"""
from __future__ import annotations

# |estimate / measured - 1| accepted: the bounds docs/memory.md states for the h200 profile on the
# measured networks at batch >= 32 (training 5%, inference 10%); at batch 1 the training bound is 7%.
TOLERANCE = {"training": 0.05, "training_batch1": 0.07, "inference": 0.10}


def local_profile(device_name: str | None):
    """The profile of the local card when there is one, else the measured h200 profile (extrapolated)."""
    from . import find_profile, load_profile
    name = find_profile(device_name) if device_name else None
    return load_profile(name or "h200"), name is not None


def measure_peaks(model, inputs, optimizer: str = "adam", amp: bool = False, steps: int = 3) -> dict:
    """max_memory_allocated of an eval forward under no_grad, and of the last of `steps` training steps
    (cross-entropy on the flattened output against random classes; SGD with zero_grad(set_to_none=False),
    the others with zero_grad()), as the device profiles were measured."""
    import gc

    import torch
    dev = inputs[0].device

    def clean():
        gc.collect()
        torch.cuda.synchronize(dev)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)

    model.eval()
    clean()
    with torch.no_grad():
        out = model(*inputs)
    torch.cuda.synchronize(dev)
    infer = torch.cuda.max_memory_allocated(dev)
    del out
    model.train()
    opts = {"sgd": lambda p: torch.optim.SGD(p, lr=1e-4),
            "momentum": lambda p: torch.optim.SGD(p, lr=1e-4, momentum=0.9),
            "adam": lambda p: torch.optim.Adam(p, lr=1e-4),
            "adamw": lambda p: torch.optim.AdamW(p, lr=1e-4),
            "adam-fused": lambda p: torch.optim.Adam(p, lr=1e-4, fused=True),
            "adamw-fused": lambda p: torch.optim.AdamW(p, lr=1e-4, fused=True)}
    opt = opts[optimizer](model.parameters())
    scaler = torch.amp.GradScaler("cuda") if amp else None
    target = None
    try:
        for step in range(steps):
            if step == steps - 1:
                clean()
            opt.zero_grad(set_to_none=optimizer != "sgd")
            with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                out = model(*inputs)
                out = (out[0] if isinstance(out, (tuple, list)) else out).flatten(1)
                if target is None:
                    target = torch.randint(0, out.shape[1], (out.shape[0],), device=dev)
                loss = torch.nn.functional.cross_entropy(out, target)
            (scaler.scale(loss) if amp else loss).backward()
            if amp:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            del loss, out
        torch.cuda.synchronize(dev)
        train = torch.cuda.max_memory_allocated(dev)
    finally:
        model.zero_grad(set_to_none=True)
        model.eval()
        del opt
        torch.cuda.empty_cache()
    return {"inference": infer, "training": train}


def compare(estimate: dict, measured: dict, batch: int) -> list[dict]:
    """One row per peak: estimate, measurement, ratio, tolerance and verdict (`match` / `mismatch`)."""
    rows = []
    for what, key in (("training", "training_peak"), ("inference", "inference_peak")):
        got = measured.get(what)
        want = estimate[key]
        tol = TOLERANCE["training_batch1" if what == "training" and batch == 1 else what]
        if not got:
            rows.append({"what": what, "estimate": want, "measured": None, "ratio": None, "tolerance": tol,
                         "verdict": "not covered"})
            continue
        ratio = want / got
        rows.append({"what": what, "estimate": want, "measured": got, "ratio": round(ratio, 4), "tolerance": tol,
                     "verdict": "match" if abs(ratio - 1) <= tol + 1e-9 else "mismatch"})
    return rows


def cuda_memory_check(res, a, model, inputs, optimizer: str = "adam"):
    """Run the step and the forward on the CUDA device and add the verdict rows to a verify result."""
    import torch
    from .model import device_breakdown
    profile, local = local_profile(torch.cuda.get_device_name(inputs[0].device))
    est = device_breakdown(a, profile, optimizer)
    try:
        measured = measure_peaks(model, inputs, optimizer)
    except (RuntimeError, ValueError) as e:
        res.notes.append(f"CUDA peak memory not measured: {type(e).__name__}: {str(e).splitlines()[0][:150]}")
        measured = {}
    src = f"device:{profile['name']}" + ("" if local else " (no profile for this card: the h200 one, extrapolated)")
    for r in compare(est, measured, a.g.batch):
        res.add(f"peak memory, {'training step (' + optimizer + ')' if r['what'] == 'training' else 'eval forward'}"
                " (CUDA)", "total", "", r["estimate"], r["measured"], r["verdict"],
                f"max_memory_allocated vs the {src} estimate; tolerance {100 * r['tolerance']:.0f}%"
                + (f"; ratio {r['ratio']:.3f}" if r["ratio"] else ""))
