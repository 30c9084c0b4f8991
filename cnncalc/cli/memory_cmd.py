"""`cnncalc memory`: what one training step and inference need in memory, and what fits a device.

Only typer is imported at module level; the analysis is imported inside the command.
"""
from __future__ import annotations

from enum import Enum
from typing import List, Optional

import typer

from . import common as C


class Optim(str, Enum):
    sgd = "sgd"
    momentum = "momentum"
    adam = "adam"
    adamw = "adamw"
    adam_fused = "adam-fused"
    adamw_fused = "adamw-fused"



def parse_batches(text: str):
    from .. import limits
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
        if len(out) > limits.get("sweep"):
            raise UsageError(f"--batch: more than {limits.get('sweep'):,} values in one sweep; "
                             + limits.hint("sweep"))
    if not out:
        raise UsageError("--batch is empty: write e.g. --batch 32 or --batch 1,8,32,128")
    return out


def register(app):
    @app.command(short_help="Memory of a training step and of inference; what fits a device.")
    def memory(spec: str = C.spec_argument(),
               batch: Optional[str] = typer.Option(None, "--batch", "-b", metavar="N[,N...]",
                                                   help="batch size, or a sweep: 1,8,32,128 (default: the spec's)"),
               input: Optional[List[str]] = C.input_option(), set: Optional[List[str]] = C.set_option(),
               dtype: Optional[C.Dtype] = C.dtype_option("bytes per element of everything"),
               convention: Optional[C.Convention] = C.convention_option(),
               amp: bool = typer.Option(False, "--amp", help="mixed precision: 16-bit activations (float16, or "
                                        "bfloat16 with --dtype bfloat16), float32 master weights, gradients "
                                        "and optimizer state, plus the 16-bit copy of conv/linear weights"),
               optimizer: Optim = typer.Option(Optim.adam, "--optimizer", "-O",
                                               help="optimizer state: sgd 0, momentum 1, adam/adamw 2 tensors "
                                                    "per parameter (4 and 8 bytes per fp32 parameter); "
                                                    "-fused: torch's fused=True step"),
               fused: bool = typer.Option(False, "--fused", help="the optimizer's fused implementation "
                                          "(fused=True: no step temporaries; same as -O adam-fused)"),
               fit: Optional[str] = typer.Option(None, "--fit", metavar="SIZE|DEVICE",
                                                 help="a memory size (24GiB, 16GB) or a device "
                                                 "(t4, v100-16gb, v100-32gb, a100-40gb, a100-80gb, h100, "
                                                 "rtx3090, rtx4090, l4) or a profile file written by "
                                                 "`calibrate`: the largest batch that fits; a device "
                                                 "with a profile implies --device"),
               reserve: Optional[str] = typer.Option(None, "--reserve", metavar="SIZE",
                                                     help="what --fit leaves free for the CUDA context and "
                                                     "the allocator's slack (default 1GiB, an estimate: "
                                                     "docs/memory.md); sizes in any case, GB = 10^9 bytes, "
                                                     "GiB = 2^30"),
               device: Optional[str] = typer.Option(None, "--device", metavar="DEVICE|FILE",
                                                    help="a device profile (h200, h100, "
                                                    "a100-80gb, a100-40gb, l4, t4, rtx4090) or a profile file "
                                                    "from `cnncalc calibrate`: add what the CUDA runtime "
                                                    "allocates (docs/memory.md, Device profiles)"),
               dataset_size: Optional[int] = typer.Option(None, "--dataset-size", metavar="N",
                                                          help="samples per epoch: FLOPs per epoch"),
               layers: bool = typer.Option(False, "--layers", help="also a per-layer table"),
               format: C.TableJson = C.format_option(C.TableJson.table), output: Optional[str] = C.output_option(),
               width: Optional[int] = C.width_option(),
               no_expect: bool = typer.Option(False, "--no-expect", help=C.NO_EXPECT_HELP)):
        """Memory of training and inference (weights, gradients, optimizer state, activations), the largest
        batch that fits a device, and training FLOPs per step and per epoch."""
        from ..core import memory as M
        from ..devices import report as DR
        from ..errors import UsageError
        from ..reports.memory import memory_report
        opt = M.FUSED.get(optimizer.value, optimizer.value) if fused else optimizer.value
        try:
            batches = parse_batches(batch) if batch is not None else [None]
            profile, budget = DR.resolve(device, fit, reserve)
            if dataset_size is not None and dataset_size < 1:
                raise UsageError("--dataset-size must be at least 1")
        except (UsageError, M.MemoryError_, DR.ProfileError) as e:
            C.error(str(e))

        def load(b):
            return C.load_analysis(spec, b, input, set, convention, dtype, no_expect=no_expect)

        first = load(batches[0])
        diags = [d.to_dict() for d in first.diagnostics]
        if first.has_errors:
            C.no_result(diags, "memory report")
        report = memory_report(first, load, batches, opt, amp, budget, dataset_size, profile)
        report["diagnostics"] = diags
        if format == C.TableJson.json:
            import json
            C.write_output(json.dumps(report, indent=2) + "\n", output)
        else:
            from ..render.memory import render
            C.write_output(render(report, C.width_for(width, output), layers), output)
        C.print_diagnostics(diags)
        raise typer.Exit(C.EXIT_OK)

    return memory
