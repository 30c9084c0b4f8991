"""Regenerate a device profile (cnncalc/devices/NAME.json) from CUDA measurements.

    python tools/fit_device.py LAYERS.jsonl PEAKS.jsonl -o cnncalc/devices/h200.json [--base PROFILE]

The h200 profile was made with the H200 measurements (per-layer forward transients and whole training
steps of torchvision models; docs/memory.md, Device profiles):

    python tools/fit_device.py h200-layer-transients.jsonl h200-training-peaks.jsonl -o cnncalc/devices/h200.json

LAYERS.jsonl: a first line {"fixed": {...}} (the cuBLAS workspace seen at the first matrix multiply) and one
line per (model, batch, mode) with rows [module path, type, input shape, output shape, allocated before,
peak above that during the module, output bytes]; PEAKS.jsonl: one line per (model, batch) with
`infer.peak` and `sgd`/`adam`/`amp_adam` `after_step`.  `cnncalc calibrate` writes both (and runs this
fit itself).  How the terms are fitted: cnncalc/devices/fit.py.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from cnncalc.devices.fit import fit_profile          # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("layers")
    ap.add_argument("peaks")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--base", help="the profile whose provenance and other terms are kept",
                    default=os.path.join(ROOT, "cnncalc", "devices", "h200.json"))
    args = ap.parse_args(argv)
    lines = [json.loads(x) for x in open(args.layers, encoding="utf-8") if x.strip()]
    peaks = [json.loads(x) for x in open(args.peaks, encoding="utf-8") if x.strip()]
    base = json.load(open(args.base, encoding="utf-8"))
    profile = fit_profile(lines, peaks, base, log=lambda s: print(s, flush=True))
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(profile, f, indent=1)
        f.write("\n")
    print("->", args.output)


if __name__ == "__main__":
    main()
