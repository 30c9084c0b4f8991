"""Benchmark: whole-process time and peak memory of `cnncalc analyze`, and analysis alone on a huge graph.

    python bench/bench_analyze.py            # prints a table; figures are recorded in docs/performance.md

Not a test: timings depend on the machine.
"""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# As a user runs it: byte-code caches written and used (some shells set PYTHONDONTWRITEBYTECODE,
# which makes every run compile the package from source again).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def whole_process(args, runs=7):
    times = []
    peak = 0
    subprocess.run([sys.executable, "-m", "cnncalc", *args], capture_output=True, cwd=ROOT, env=ENV)  # warm-up
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "cnncalc", *args], capture_output=True, cwd=ROOT, env=ENV)
        times.append(time.perf_counter() - t)
        peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        if p.returncode not in (0, 1):
            raise SystemExit(p.stderr.decode())
    return statistics.median(times), peak / 1024


FVCORE = ("import torch, torchvision\n"
          "from fvcore.nn import FlopCountAnalysis\n"
          "m = torchvision.models.resnet50().eval()\n"
          "a = FlopCountAnalysis(m, torch.randn(1, 3, 224, 224))\n"
          "a.unsupported_ops_warnings(False); a.uncalled_modules_warnings(False)\n"
          "print(a.total())\n")


def fvcore_process(runs=5):
    """fvcore asked the same question (what does ResNet-50 cost at 3x224x224?), whole process."""
    times = []
    for _ in range(runs + 1):      # the first run is a warm-up (page cache, byte code), not counted
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", FVCORE], capture_output=True, cwd=ROOT, env=ENV)
        times.append(time.perf_counter() - t)
        if p.returncode:
            return None, p.stderr.decode().strip().splitlines()[-1:]
    return statistics.median(times[1:]), int(p.stdout.decode().split()[-1])


def generated_spec(n_layers: int) -> str:
    """A plain chain of conv/BN/ReLU triples with a residual add every 6 layers."""
    lines = ["cnncalc: 1", "name: chain", "input: [16, 32, 32]", "layers:"]
    count = 0
    i = 0
    while count < n_layers:
        lines += [f"  - Conv2d: {{out_channels: 16, kernel_size: 3, padding: 1, bias: false}}",
                  f"    name: c{i}", f"  - BatchNorm2d", f"  - ReLU:", f"    name: r{i}"]
        count += 3
        if i % 2 == 1:
            lines += [f"  - add:", f"    from: [r{i}, r{i - 1}]"]
            count += 1
        i += 1
    return "\n".join(lines) + "\n"


def analysis_only(n_layers: int, runs=3):
    from cnncalc.api import analysis_for
    text = generated_spec(n_layers)
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        a = analysis_for("gen.yaml", text=text)
        a.report()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), len(a.g.nodes) - 1


def main():
    spec = ROOT / "specs" / "resnet50.yaml"
    if not spec.exists():
        spec = ROOT.parent / "shared" / "examples" / "resnet18.yaml"
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    t, m = whole_process(["--help"])
    print(f"{'cnncalc --help (start-up)':48s} median {t:.3f} s  peak RSS {m:.0f} MiB")
    t, m = whole_process(["analyze", str(spec), "--format", "json"], runs=15)
    print(f"{'cnncalc analyze ' + spec.name + ' --format json':48s} median {t:.3f} s  peak RSS {m:.0f} MiB")
    t2, m = whole_process(["analyze", str(spec)])
    print(f"{'cnncalc analyze ' + spec.name + ' (table)':48s} median {t2:.3f} s  peak RSS {m:.0f} MiB")
    # last: the peak RSS printed is the maximum over all children so far, and torch would mask the others
    if spec.name == "resnet50.yaml":
        tf, macs = fvcore_process()
        if tf is None:
            print(f"fvcore not measured: {macs}")
        else:
            print(f"{'fvcore FlopCountAnalysis, torchvision resnet50':48s} median {tf:.3f} s  "
                  f"({macs:,} MACs; ratio fvcore / cnncalc JSON: {tf / t:.0f}x, target >= 25x)")
    for n in (1000, 2500, 5000, 10000):
        t, nodes = analysis_only(n)
        print(f"analysis alone, generated spec of {nodes:6d} layers      median {t:.3f} s  "
              f"({t / nodes * 1e6:.0f} us/layer)")
    specs = sorted((ROOT / "specs").glob("*.yaml"))
    if specs:
        worst = max(((whole_process(["analyze", str(s), "--format", "json"], runs=3)[0], s.name) for s in specs))
        print(f"slowest shipped spec, whole process: {worst[1]} {worst[0]:.3f} s")


if __name__ == "__main__":
    main()
