"""The memory command's device option: which model produces the numbers, and the report's device part.

No torch here; the CLI calls ``resolve`` once, passes ``breakdown_fn(profile)`` wherever it computed a
breakdown, and ``annotate`` adds what the device model knows to the report.
"""
from __future__ import annotations

from functools import partial

from ..core import memory as M
from . import ProfileError, find_profile, load_profile

ANALYTICAL = "analytical"

DEVICE_ASSUMPTIONS = [
    "device model: the analytical walks plus the profile's terms: allocator rounding (512-byte blocks), "
    "cuBLAS workspaces (one per thread: forward and autograd's backward), convolution workspaces while a "
    "convolution runs (fitted rules), optimizer-step temporaries, autocast's 16-bit weight and input copies",
    "training step: SGD with zero_grad(set_to_none=False); Adam/AdamW/momentum with zero_grad() "
    "(gradients appear during backward); optimizer state present (the steady state after the first step)",
    "inference: in a process that has run a training step (both cuBLAS workspaces); "
    "inference_peak_fresh_process: a process that never ran backward",
    "a block's input stays alive until the block returns (eager PyTorch's frames)",
    "not counted in the peaks: the CUDA context and the caching allocator's reserved-but-unallocated "
    "memory (--fit leaves a reserve for them)",
]


def resolve(device: str | None, fit: str | None, reserve: str | None = None):
    """-> (profile or None, budget or None).  `--fit NAME` with a profile's name or file implies `--device NAME`
    and budgets the memory the driver reports for that card.  The budget is (bytes, label, reserve bytes,
    where the reserve comes from): `--reserve`, else the profile's measured `context_reserve_bytes`, else
    the documented estimate M.DEFAULT_RESERVE_BYTES."""
    profile = load_profile(device) if device else None
    if reserve is not None and not fit:
        raise M.MemoryError_("--reserve is what --fit leaves free: give --fit too")
    if not fit:
        return profile, None
    name = find_profile(fit)
    if name is None and fit.lower().endswith(".json"):
        name = fit          # a profile file (`cnncalc calibrate -o mycard.json`): its card, its reserve
    if name is not None:
        fp = load_profile(name)
        if profile is None:
            profile = fp
        nbytes, label = fp["total_bytes"], f"{fp['gpu']}, {fp['total_bytes'] // 2 ** 20:,} MiB"
    else:
        nbytes, label = M.parse_budget(fit)
    if reserve is not None:
        try:
            rbytes = M.parse_size(reserve, "--reserve")
        except ValueError as e:
            if isinstance(e, M.MemoryError_):
                raise
            raise M.MemoryError_(f"--reserve takes a size (512MiB, 1GiB, 0; any case: GB = 10^9 bytes, "
                                 f"GiB = 2^30), got `{reserve}`") from None
        source = "--reserve"
    elif profile is not None and profile.get("context_reserve_bytes") is not None:
        rbytes, source = int(profile["context_reserve_bytes"]), f"measured ({profile['name']} profile)"
    else:
        rbytes, source = M.DEFAULT_RESERVE_BYTES, M.DEFAULT_RESERVE_NOTE
    if rbytes >= nbytes:
        raise M.MemoryError_(f"the reserve ({rbytes:,} bytes) leaves nothing of the budget ({nbytes:,} bytes) "
                             "for the network; give a smaller --reserve")
    return profile, (nbytes, label, rbytes, source)


def breakdown_fn(profile):
    """A breakdown(a, optimizer, amp) for this profile (None: the analytical model)."""
    if profile is None:
        def analytical(a, optimizer=M.DEFAULT_OPTIMIZER, amp=False, dtype=None):
            out = M.breakdown(a, optimizer, amp, dtype)
            out["model"] = ANALYTICAL
            return out
        return analytical
    from .model import device_breakdown
    return partial(_device, profile=profile, fn=device_breakdown)


def _device(a, optimizer=M.DEFAULT_OPTIMIZER, amp=False, dtype=None, *, profile, fn):
    return fn(a, profile, optimizer, amp, dtype)


def annotate(report: dict, profile) -> dict:
    """Say which model produced the numbers; with a profile, its provenance, its per-layer workspaces
    (on the report's layer rows, for the first batch) and its assumptions."""
    report["memory_model"] = ANALYTICAL if profile is None else "device:" + profile["name"]
    if profile is None:
        return report
    report["device"] = {k: profile.get(k) for k in ("name", "gpu", "status", "total_bytes", "memory_source",
                                                     "context_reserve_bytes", "context_reserve_note",
                                                     "provenance", "extrapolated") if k in profile}
    first = None
    for r in report["runs"]:
        rows = r["memory"].pop("device_layers", None)
        if first is None:
            first = rows
    by_name = {x["name"]: x for x in first or []}
    for L in report.get("layers", []):
        d = by_name.get(L["name"])
        if d:
            L.update({k: d[k] for k in ("workspace_forward", "workspace_backward", "amp_cast_copy")})
    report["assumptions"] = [a for a in report.get("assumptions", []) if not a.startswith(("not counted",
                                                                                         "GPU peaks"))]
    report["assumptions"] += DEVICE_ASSUMPTIONS
    return report


__all__ = ["resolve", "breakdown_fn", "annotate", "ProfileError"]
