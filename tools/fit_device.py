"""Regenerate a device profile (cnncalc/devices/NAME.json) from CUDA measurements.

    python tools/fit_device.py LAYERS.jsonl PEAKS.jsonl -o cnncalc/devices/h200.json [--base PROFILE]

LAYERS.jsonl: per-layer forward transients (what `cnncalc calibrate` writes as `layers`, or the H200
measurements the h200 profile was fitted on): a first line {"fixed": {...}} and then one line per
(model, batch, mode) with rows [module path, type, input shape, output shape, allocated before, peak
above that during the module, output bytes].  PEAKS.jsonl: whole training steps and eval forwards, one line
per (model, batch) with `infer.peak` and `sgd`/`adam`/`amp_adam` `after_step`.

What is fitted, and how (no model is special-cased; layers are matched to the zoo specs in specs/ by
their module path, and every feature is asked of the layer kind):

1. convolution forward workspaces: a layer's workspace is its peak above the allocation before it, less
   its output.  Convolutions are put in classes by grouping (dense, grouped, depthwise), kernel (1x1,
   up to 3x3, larger), stride (1 or more), thin input (< 16 channels) and
   widening (more output than input channels); each class with measured layers
   gets `ratio` = the median of workspace / output bytes over the rows at batch >= 32, and
   `floor_bytes` = the upper quartile of the workspaces at batch 1 (cuDNN's choice at batch 1 varies
   most; the upper quartile keeps small-batch estimates on the safe side).  Rules go from the most specific class to the
   grouping alone, so that a layer of an unseen class falls back on a coarser one.
2. the backward workspace factor: one number, the multiple of the forward rule used during the
   convolution's backward; chosen on the whole-step peaks (SGD and Adam, all batches) as the value in
   0, 0.25, ..., 3 with the smallest worst relative error of the training estimates (to 1%), then the smallest mean.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from cnncalc.api import analysis_for                      # noqa: E402
from cnncalc.devices import workspace as W                # noqa: E402

LEVELS = (("grouping", "kernel", "strided", "thin_input", "widens"), ("grouping", "kernel", "strided", "thin_input"), ("grouping", "kernel", "strided"),
          ("grouping", "kernel"), ("grouping",))


FLOOR_QUANTILE = 0.75


def _quantile(xs, q):
    xs = sorted(xs)
    return xs[round(q * (len(xs) - 1))]


def spec_path(model):
    return os.path.join(ROOT, "specs", f"{model}.yaml")


def conv_rows(layer_lines):
    """[(features, batch, workspace bytes, output bytes)] for every convolution measured in eval mode."""
    out = []
    kinds = {}
    for rec in layer_lines:
        if rec.get("mode") != "eval" or "layers" not in rec or not os.path.exists(spec_path(rec["model"])):
            continue
        if rec["model"] not in kinds:
            a = analysis_for(spec_path(rec["model"]), batch=1)
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
    errs = []
    cache = {}
    for rec in peaks:
        if not os.path.exists(spec_path(rec["model"])):
            continue
        for opt in ("sgd", "adam"):
            if opt not in rec:
                continue
            key = (rec["model"], rec["batch"])
            if key not in cache:
                cache[key] = analysis_for(spec_path(rec["model"]), batch=rec["batch"])
            est = device_breakdown(cache[key], profile, opt, False)["training_peak"]
            errs.append(abs(est / rec[opt]["after_step"] - 1))
    return max(errs), sum(errs) / len(errs)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("layers")
    ap.add_argument("peaks")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--base", help="an existing profile whose provenance and fixed terms are kept",
                    default=os.path.join(ROOT, "cnncalc", "devices", "h200.json"))
    args = ap.parse_args(argv)
    lines = [json.loads(x) for x in open(args.layers, encoding="utf-8") if x.strip()]
    peaks = [json.loads(x) for x in open(args.peaks, encoding="utf-8") if x.strip()]
    profile = json.load(open(args.base, encoding="utf-8"))
    fixed = next((x["fixed"] for x in lines if "fixed" in x), None)
    if fixed:
        profile["fixed_workspaces"][0]["bytes"] = fixed["after_matmul"] - 2 * 64 * 64 * 4   # less x and x @ x
    rows = conv_rows(lines)
    profile["conv_workspace"]["rules"] = fit_conv_rules(rows)
    best = None
    for i in range(13):
        profile["conv_workspace"]["backward_factor"] = i / 4
        worst, mean = training_errors(profile, peaks)
        print(f"backward factor {i / 4:.2f}: training error worst {100 * worst:.2f}%, mean {100 * mean:.2f}%",
              flush=True)
        key = (round(worst, 2), mean)
        if best is None or key < best[1]:
            best = (i / 4, key)
    profile["conv_workspace"]["backward_factor"] = best[0]
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(profile, f, indent=1)
        f.write("\n")
    print(f"{len(rows)} convolution rows, {len(profile['conv_workspace']['rules'])} rules, backward factor "
          f"{best[0]} -> {args.output}")


if __name__ == "__main__":
    main()
