"""Fitting a device profile on CUDA measurements (no torch here): used by `cnncalc calibrate` and
tools/fit_device.py.

What is fitted, and how (no model is special-cased; layers are matched to the zoo specs in specs/ by
their module path, and every feature is asked of the layer kind):

1. convolution forward workspaces: a layer's workspace is its peak above the allocation before it, less
   its output.  Convolutions are put in classes by grouping (dense, grouped, depthwise), kernel (1x1,
   up to 3x3, larger), stride (1 or more), thin input (< 16 channels) and widening (more output than
   input channels); each class with measured layers gets `ratio` = the median of workspace / output
   bytes over the rows at batch >= 32, and `floor_bytes` = the upper quartile of the workspaces at
   batch 1 (cuDNN's choice varies most at batch 1; the upper quartile keeps small-batch estimates on
   the safe side).  Rules go from the most specific class to the grouping alone, so that a layer of an
   unseen class falls back on a coarser one.
2. the backward workspace factor: one number, the multiple of the forward rule used during the
   convolution's backward; chosen on the whole-step peaks (SGD and Adam, all batches) as the value in
   0, 0.25, ..., 3 with the smallest worst relative error of the training estimates (to 1%), then
   the smallest mean.
"""
from __future__ import annotations

import json
import os
import statistics

from ..pipeline import analysis_for
from . import workspace as W

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LEVELS = (("grouping", "kernel", "strided", "thin_input", "widens"), ("grouping", "kernel", "strided", "thin_input"),
          ("grouping", "kernel", "strided"), ("grouping", "kernel"), ("grouping",))


FLOOR_QUANTILE = 0.75


def _quantile(xs, q):
    xs = sorted(xs)
    return xs[round(q * (len(xs) - 1))]


def spec_path(model, rec=None):
    """The spec a measurement record was taken on: its own `spec`, else the zoo spec of its model."""
    if rec and rec.get("spec"):
        return rec["spec"]
    return os.path.join(ROOT, "specs", f"{model}.yaml")


def conv_rows(layer_lines):
    """[(features, batch, workspace bytes, output bytes)] for every convolution measured in eval mode."""
    out = []
    kinds = {}
    for rec in layer_lines:
        if rec.get("mode") != "eval" or "layers" not in rec or not os.path.exists(spec_path(rec["model"], rec)):
            continue
        if rec["model"] not in kinds:
            a = analysis_for(spec_path(rec["model"], rec), batch=1)
            kinds[rec["model"]] = {n.name: n.kind for n in a.g.nodes if not n.is_input}
        for name, _typ, _ish, _osh, _before, peak, nbytes in rec["layers"]:
            k = kinds[rec["model"]].get(name)
            if k is None or k.family != "conv" or not nbytes:
                continue
            out.append((W.conv_class(k), rec["batch"], max(0, peak - nbytes), nbytes))
    return out


def fit_conv_rules(rows):
    rules = []
    for level in LEVELS:
        groups = {}
        for f, b, ws, nb in rows:
            groups.setdefault(tuple(f[k] for k in level), []).append((b, ws, nb))
        for key, xs in sorted(groups.items(), key=lambda kv: str(kv[0])):
            big = [ws / nb for b, ws, nb in xs if b >= 32]
            small = [ws for b, ws, nb in xs if b == 1]
            if not big:
                continue
            rules.append({"match": dict(zip(level, key)), "ratio": round(statistics.median(big), 3),
                          "floor_bytes": int(_quantile(small, FLOOR_QUANTILE)) if small else 0,
                          "layers_measured": len(xs)})
    return rules


def training_errors(profile, peaks):
    """(worst, mean) |estimate / measured - 1| of the SGD and Adam steps, with this profile."""
    from cnncalc.devices.model import device_breakdown
    errs = [0.0]
    cache = {}
    for rec in peaks:
        if "model" not in rec or not os.path.exists(spec_path(rec["model"], rec)):
            continue
        for opt in ("sgd", "adam"):
            if opt not in rec:
                continue
            key = (rec["model"], rec["batch"])
            if key not in cache:
                cache[key] = analysis_for(spec_path(rec["model"], rec), batch=rec["batch"])
            est = device_breakdown(cache[key], profile, opt, False)["training_peak"]
            errs.append(abs(est / rec[opt]["after_step"] - 1))
    return max(errs), sum(errs) / max(1, len(errs) - 1)


def fit_profile(layer_lines, peaks, base: dict, log=print) -> dict:
    """A copy of `base` with the terms fitted on these measurements."""
    profile = json.loads(json.dumps(base))
    fixed = next((x["fixed"] for x in layer_lines if "fixed" in x), None)
    if fixed:
        profile["fixed_workspaces"][0]["bytes"] = fixed["after_matmul"] - 2 * 64 * 64 * 4   # less x and x @ x
        if fixed.get("after_backward_matmul") is not None and len(profile["fixed_workspaces"]) > 1:
            profile["fixed_workspaces"][1]["bytes"] = fixed["after_backward_matmul"]
    rows = conv_rows(layer_lines)
    if rows:
        profile["conv_workspace"]["rules"] = fit_conv_rules(rows)
    best = None
    for i in range(13):
        profile["conv_workspace"]["backward_factor"] = i / 4
        worst, mean = training_errors(profile, peaks)
        log(f"backward factor {i / 4:.2f}: training error worst {100 * worst:.2f}%, mean {100 * mean:.2f}%")
        key = (round(worst, 2), mean)
        if best is None or key < best[1]:
            best = (i / 4, key)
    profile["conv_workspace"]["backward_factor"] = best[0]
    log(f"{len(rows)} convolution rows, {len(profile['conv_workspace']['rules'])} rules, backward factor {best[0]}")
    return profile


def fit_reserve(steps):
    """The reserve `--fit` leaves, from whole-step records with the allocator's and the driver's counts
    (`cnncalc calibrate`): the CUDA context (driver-used bytes less the allocator's reserved bytes, at the
    end of a step, the largest seen: nothing else may run on the card while calibrating) plus the
    allocator's slack (max reserved less max allocated within the step, the largest over all steps),
    rounded up to a MiB.  None when no record has the counts.

    {"bytes", "context_bytes", "slack_bytes", "note"}"""
    ctx, slack = [], []
    for rec in steps:
        for v in ("sgd", "adam", "amp_adam"):
            r = rec.get(v) or {}
            if not {"driver_used", "reserved_now", "max_reserved", "after_step"} <= set(r):
                continue
            ctx.append(r["driver_used"] - r["reserved_now"])
            slack.append(r["max_reserved"] - r["after_step"])
    if not ctx:
        return None
    mib = 2 ** 20
    context, sl = max(ctx), max(slack)
    total = -(-(context + sl) // mib) * mib
    return {"bytes": total, "context_bytes": context, "slack_bytes": sl,
            "note": f"measured by cnncalc calibrate on {len(ctx)} training steps: CUDA context {context:,} B "
                    f"(driver-used less the allocator's reserved bytes, the largest) + allocator slack {sl:,} B "
                    f"(max reserved less max allocated in a step, the largest), rounded up to a MiB"}
