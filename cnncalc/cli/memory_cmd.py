"""`cnncalc memory`: what one training step and inference need in memory, and what fits a device.

Only typer is imported at module level; the analysis and rich are imported inside the command.
"""
from __future__ import annotations

from enum import Enum
from typing import List, Optional

import typer


class Optim(str, Enum):
    sgd = "sgd"
    momentum = "momentum"
    adam = "adam"
    adamw = "adamw"


class MemFmt(str, Enum):
    table = "table"
    json = "json"


PARTS = (("weights", "weights", "blue"), ("gradients", "gradients", "magenta"),
         ("optimizer", "optimizer state", "yellow"), ("saved_activations", "saved activations", "green"),
         ("peak_transient", "peak transient", "red"))

ASSUMPTIONS = [
    "training peak = weights + gradients + optimizer state + saved activations + peak transient",
    "saved activations: every tensor autograd keeps for backward at the end of forward, deduplicated by "
    "storage, parameters excluded",
    "peak transient: the largest excess over them during the forward or backward walk (outputs, inputs, "
    "gradients of activations in flight)",
    "parameter gradients counted whole for the whole step (zero_grad(set_to_none=False))",
    "not counted: kernel workspaces (cuDNN, im2col), allocator rounding and fragmentation, the CUDA context",
    "GPU peaks are not yet measured against the CUDA allocator (see docs/memory.md)",
]


def parse_batches(text: str):
    from ..errors import UsageError
    out = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        try:
            b = int(part)
        except ValueError:
            raise UsageError(f"--batch takes a batch size or a comma-separated list like 1,8,32,128; "
                             f"`{part}` is not an integer") from None
        if b < 1:
            raise UsageError(f"--batch: a batch size must be at least 1, got {b}")
        out.append(b)
    if not out:
        raise UsageError("--batch is empty: write e.g. --batch 32 or --batch 1,8,32,128")
    return out


def register(app):
    @app.command()
    def memory(spec: str = typer.Argument(..., help="a spec file (YAML)"),
               batch: Optional[str] = typer.Option(None, "--batch", "-b",
                                                   help="batch size, or a sweep: 1,8,32,128 (default: the spec's)"),
               input: Optional[List[str]] = typer.Option(None, "--input", "-i",
                                                         help="input shape without batch, e.g. 3x299x299"),
               set: Optional[List[str]] = typer.Option(None, "--set", help="override a spec variable: name=value"),
               dtype: Optional[str] = typer.Option(None, "--dtype",
                                                   help="float32, float16, bfloat16 or float64 for everything"),
               amp: bool = typer.Option(False, "--amp", help="mixed precision: 16-bit activations (float16, or "
                                        "bfloat16 with --dtype bfloat16), float32 master weights, gradients "
                                        "and optimizer state, plus the 16-bit copy of conv/linear weights"),
               optimizer: Optim = typer.Option(Optim.adam, "--optimizer", "-O",
                                               help="optimizer state: sgd 0, momentum 1, adam/adamw 2 tensors "
                                                    "per parameter (4 and 8 bytes per fp32 parameter)"),
               fit: Optional[str] = typer.Option(None, "--fit", help="a memory size (24GiB, 16GB) or a device "
                                                 "(t4, v100-16gb, v100-32gb, a100-40gb, a100-80gb, h100, "
                                                 "rtx3090, rtx4090, l4): the largest batch that fits"),
               dataset_size: Optional[int] = typer.Option(None, "--dataset-size",
                                                          help="samples per epoch: FLOPs per epoch"),
               convention: Optional[str] = typer.Option(None, "--convention", "-c",
                                                        help="FLOP counting convention"),
               layers: bool = typer.Option(False, "--layers", help="also a per-layer table"),
               format: MemFmt = typer.Option(MemFmt.table, "--format", "-f", help="table or json"),
               output: Optional[str] = typer.Option(None, "--output", "-o", help="write the report to this file"),
               no_expect: bool = typer.Option(False, "--no-expect", help="do not check the spec's `expect:` values")):
        """Memory of training and inference (weights, gradients, optimizer state, activations), the largest
        batch that fits a device, and training FLOPs per step and per epoch."""
        from . import common as C
        from ..core import memory as M
        from ..errors import UsageError
        try:
            batches = parse_batches(batch) if batch is not None else [None]
            budget = M.parse_budget(fit) if fit else None
            if dtype is not None and dtype not in M.DTYPE_BYTES:
                raise UsageError(f"unknown dtype `{dtype}`: use " + ", ".join(M.DTYPE_BYTES))
            if dataset_size is not None and dataset_size < 1:
                raise UsageError("--dataset-size must be at least 1")
        except (UsageError, M.MemoryError_) as e:
            C.err_console().print(f"error: {e}", markup=False)
            raise typer.Exit(C.EXIT_INVALID)

        def load(b):
            return C.load_analysis(spec, b, input, set, convention, dtype, no_expect=no_expect)

        first = load(batches[0])
        diags = [d.to_dict() for d in first.diagnostics]
        if first.has_errors:
            C.print_diagnostics(diags)
            raise typer.Exit(C.EXIT_INVALID)
        opt = optimizer.value
        report = build_report(first, load, batches, opt, amp, budget, dataset_size)
        report["diagnostics"] = diags
        if format == MemFmt.json:
            import json
            C.write_output(json.dumps(report, indent=2) + "\n", output)
        else:
            if output:
                from rich.console import Console
                with open(output, "w", encoding="utf-8") as f:
                    render(report, Console(file=f, width=100, highlight=False), layers)
            else:
                render(report, C.console(), layers)
        C.print_diagnostics(diags)
        raise typer.Exit(C.EXIT_OK)

    return memory


def build_report(first, load, batches, optimizer, amp, budget, dataset_size):
    """The JSON-serialisable report of the memory command (no printing)."""
    from ..core import memory as M
    runs = []
    for b in batches:
        a = first if (b is None or b == first.g.batch) else load(b)
        runs.append({"batch": a.g.batch, "memory": M.breakdown(a, optimizer, amp),
                     "flops": M.train_flops(a, dataset_size)})
    bd = runs[0]["memory"]
    out = {
        "schema_version": 1,
        "model": first.g.name,
        "file": first.g.file,
        "dtype": first.g.dtype,
        "amp": amp,
        "precision": bd["precision"],
        "optimizer": {"name": optimizer, "state_tensors": M.OPTIMIZERS[optimizer][0],
                      "bytes_per_param": bd["bytes_per_param"]["optimizer"], "note": M.OPTIMIZERS[optimizer][1]},
        "bytes_per_param": bd["bytes_per_param"],
        "runs": runs,
        "layers": M.layer_rows(first if batches[0] is None or batches[0] == first.g.batch else load(batches[0])),
        "assumptions": ASSUMPTIONS,
    }
    if len(runs) > 1:
        out["sweep_linear"] = _linearity(runs)
    if budget is not None:
        nbytes, label = budget
        fit = {"budget_bytes": nbytes, "budget": label}
        for mode, key in (("training", "training_peak"), ("inference", "inference_peak")):
            cache = {}

            def peak(b, key=key, cache=cache):
                if b not in cache:
                    cache[b] = M.breakdown(load(b), optimizer, amp)[key]
                return cache[b]

            best, calls, seen = M.largest_batch(peak, nbytes)
            fit[mode] = {"batch": best, "peak_bytes": seen.get(best) if best else None,
                         "next_peak_bytes": seen.get(best + 1) if best else seen.get(1),
                         "analyses": calls}
        out["fit"] = fit
    return out


def _linearity(runs):
    """Each part as fixed + per_sample * batch, fitted on the first two batches and checked on the rest."""
    res = {}
    b0, b1 = runs[0]["batch"], runs[1]["batch"]
    for key in ("weights", "gradients", "optimizer", "saved_activations", "peak_transient",
                "training_peak", "inference_peak"):
        v0, v1 = runs[0]["memory"][key], runs[1]["memory"][key]
        if b1 == b0:
            continue
        slope = (v1 - v0) / (b1 - b0)
        fixed = v0 - slope * b0
        ok = all(abs(fixed + slope * r["batch"] - r["memory"][key]) <= 1e-6 * max(1, r["memory"][key])
                 for r in runs)
        res[key] = {"per_sample": slope, "fixed": fixed, "linear": ok}
    return res


def _bar(parts, total, width, scale=None):
    from rich.text import Text
    scale = scale or total or 1
    t = Text()
    used = 0
    acc = 0
    for value, color in parts:
        acc += value
        n = round(acc / scale * width) - used
        if n > 0:
            t.append("█" * n, style=color)
            used += n
    if used < width:
        t.append("·" * (width - used), style="dim")
    return t


def render(report, con, layers=False):
    from rich.table import Table
    from rich.text import Text
    from ..core.units import human
    runs = report["runs"]
    opt = report["optimizer"]
    con.print(Text(f"{report['model']}: {report['precision']}, optimizer {opt['name']} "
                   f"({opt['bytes_per_param']} bytes of state per parameter)", style="bold"))
    if len(runs) == 1:
        m = runs[0]["memory"]
        total = m["training_peak"]
        t = Table(title=f"training step, batch {m['batch']}", title_justify="left")
        t.add_column("part")
        t.add_column("bytes", justify="right")
        t.add_column("share", justify="right")
        t.add_column("", no_wrap=True)
        for key, label, color in PARTS:
            v = m[key]
            t.add_row(Text(label, style=color), human(v, binary=True), f"{100 * v / total:.1f}%" if total else "-",
                      _bar([(v, color)], v, 30, total))
        t.add_row(Text("training peak", style="bold"), Text(human(total, binary=True), style="bold"), "100%",
                  _bar([(m[k], c) for k, _, c in PARTS], total, 30))
        t.add_row("inference peak", human(m["inference_peak"], binary=True),
                  f"{100 * m['inference_peak'] / total:.1f}%" if total else "-", "")
        con.print(t)
        where = f"during {m['training_peak_phase']}" + (f" at {m['training_peak_at']}" if m["training_peak_at"]
                                                        else "")
        con.print(f"training peak {where}; inference peak at {m['inference_peak_at'] or 'the input'}")
    else:
        top = max(r["memory"]["training_peak"] for r in runs)
        t = Table(title="batch sweep", title_justify="left")
        t.add_column("batch", justify="right")
        for key, label, color in PARTS:
            t.add_column(Text(label, style=color), justify="right")
        t.add_column("training peak", justify="right")
        t.add_column("inference", justify="right")
        t.add_column("", no_wrap=True)
        for r in runs:
            m = r["memory"]
            t.add_row(str(r["batch"]), *[human(m[k], binary=True) for k, _, _ in PARTS],
                      human(m["training_peak"], binary=True), human(m["inference_peak"], binary=True),
                      _bar([(m[k], c) for k, _, c in PARTS], m["training_peak"], 30, top))
        con.print(t)
        lin = report.get("sweep_linear", {})
        if "training_peak" in lin:
            L = lin["training_peak"]
            con.print(f"training peak ≈ {human(L['fixed'], binary=True)} + {human(L['per_sample'], binary=True)} "
                      f"per sample" + ("" if L["linear"] else " (not exactly linear in the batch)"))
    f = runs[0]["flops"]
    line = (f"training FLOPs per step (batch {runs[0]['batch']}): {human(f['step'])} = forward {human(f['forward'])}"
            f" + backward {human(f['backward'])} (input gradients {human(f['backward_input'])}, weight gradients "
            f"{human(f['backward_weight'])})")
    con.print(line)
    if "epoch" in f:
        con.print(f"per epoch of {f['dataset_size']:,} samples ({f['steps_per_epoch']:,} steps): "
                  f"{human(f['epoch'])} FLOPs")
    if "fit" in report:
        fit = report["fit"]
        for mode in ("training", "inference"):
            r = fit[mode]
            if r["batch"]:
                con.print(f"largest {mode} batch that fits {fit['budget']} ({human(fit['budget_bytes'], binary=True)}):"
                          f" [bold]{r['batch']}[/] (peak {human(r['peak_bytes'], binary=True)}; "
                          f"{r['batch'] + 1} needs {human(r['next_peak_bytes'], binary=True)})")
            else:
                con.print(f"{mode}: even batch 1 does not fit {fit['budget']} "
                          f"(needs {human(r['next_peak_bytes'], binary=True)})")
    if layers:
        lt = Table(title="per layer (first batch)", title_justify="left")
        for c in ("layer", "op", "output", "saved", "bwd input FLOPs", "bwd weight FLOPs"):
            lt.add_column(c, justify="left" if c in ("layer", "op") else "right")
        for L in report["layers"]:
            lt.add_row(L["name"], L["op"], human(L["output_bytes"], binary=True), human(L["saved_bytes"], binary=True),
                       human(L["bwd_input_flops"]) if L["needs_input_grad"] else "-", human(L["bwd_weight_flops"]))
        con.print(lt)
    con.print("[dim]model: docs/memory.md; kernel workspaces and allocator overhead not counted[/]")
