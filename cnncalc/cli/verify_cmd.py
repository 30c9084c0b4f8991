"""`cnncalc verify`: build the real torch model of a spec, run it and cross-check every number.

Module-level imports stay cheap (typer only): torch is imported when the command runs.
"""
from __future__ import annotations

from typing import List, Optional

import typer

from . import common as C



def register(app):
    @app.command(short_help="Run the real torch model and cross-check every number.")
    def verify(spec: str = C.spec_argument(),
               device: str = typer.Option("auto", "--device", metavar="auto|cpu|cuda[:N]",
                                          help="where the model runs (auto: cuda when available)"),
               batch: Optional[int] = C.batch_option(),
               seed: int = typer.Option(0, "--seed", metavar="N", help="random seed of the weights and inputs"),
               format: C.TableJson = C.format_option(C.TableJson.table), output: Optional[str] = C.output_option(),
               width: Optional[int] = C.width_option(),
               input: Optional[List[str]] = C.input_option(), set: Optional[List[str]] = C.set_option(),
               dtype: Optional[C.Dtype] = C.dtype_option(),
               convention: Optional[C.Convention] = C.convention_option(),
               layers: bool = typer.Option(False, "--layers", help="show every per-layer check, not only "
                                                                  "the mismatches and a summary"),
               no_probe: bool = typer.Option(False, "--no-probe", help="skip the receptive-field probe"),
               no_fvcore: bool = typer.Option(False, "--no-fvcore", help="skip fvcore (it traces with torch.jit)"),
               kwargs: Optional[str] = typer.Option(None, "--kwargs", metavar="JSON",
                                                    help="keyword arguments for MODULE:ATTR "
                                                         "(e.g. '{\"weights_backbone\": null}')")):
        """Run the real torch model and compare shapes, parameters, FLOPs (FlopCounterMode and fvcore),
        bytes saved for backward and the receptive field with the analysis.  Exit 1 on any mismatch.

        The counters are compared under their own conventions whatever --convention says; --convention
        sets the analysis's own figures shown beside them."""
        if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
            C.error(f"--device must be cpu, cuda or auto, got {device!r}")
        code = run_verify(spec, batch=batch, inputs=input, device=device, fmt=format.value, seed=seed, sets=set,
                          dtype=dtype, show_layers=layers, probe=not no_probe, fvcore=not no_fvcore,
                          convention=convention, output=output, width=width, kwargs=kwargs)
        raise typer.Exit(code)


def run_verify(spec, batch=None, inputs=None, device="auto", fmt="table", seed=0, sets=None, dtype=None,
               show_layers=False, probe=True, fvcore=True, convention=None, output=None, width=None,
               kwargs=None) -> int:
    """Verify ``spec``; write the result table (or JSON); return the exit code (0 clean, 1 mismatch, 2 error).
    A MODULE:ATTR target is also measured on the module itself (its capture seeded with ``seed``)."""
    a = C.load_analysis(spec, batch, inputs, sets, convention, dtype, kwargs=kwargs, seed=seed)
    if any(d.severity == "error" for d in a.diagnostics):
        C.no_result([d.to_dict() for d in a.diagnostics], "verification")

    def reload(convention=None, batch=None, _b=batch):
        return C.load_analysis(spec, batch or _b, inputs, sets, convention, dtype, kwargs=kwargs, seed=seed)

    from ..needs import MissingDependency, require_torch
    err = C.err_console()
    try:
        require_torch("`cnncalc verify`", also=("torchvision", "fvcore") if fvcore else ("torchvision",))
    except MissingDependency as e:
        err.print(f"error: {e}", markup=False)
        return C.EXIT_INVALID
    from ..crosscheck.checks import TooBig, verify_analysis
    try:
        if fmt == "json":
            result = verify_analysis(a, reload, path=spec, device=device, seed=seed, probe=probe, fvcore=fvcore)
        else:
            result = _with_progress(err, lambda cb: verify_analysis(a, reload, path=spec, device=device, seed=seed,
                                                                   progress=cb, probe=probe, fvcore=fvcore))
    except TooBig as e:
        err.print(f"error: {e}", markup=False)
        return C.EXIT_INVALID
    except ModuleNotFoundError as e:
        from ..needs import TORCH_INSTALL
        err.print(f"error: `cnncalc verify` needs {e.name}; install it with: {TORCH_INSTALL}", markup=False)
        return C.EXIT_INVALID
    if fmt == "json":
        import json
        C.write_output(json.dumps(result, indent=2, default=str) + "\n", output)
    else:
        from ..render.verify import render
        C.write_output(render(result, C.width_for(width, output), show_layers), output)
    return result["exit_code"]


def _with_progress(console, fn):
    """Run fn(callback) under a rich progress display of its phases (on stderr, transient)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    with Progress(SpinnerColumn(), TextColumn("[bold]verify[/] {task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as prog:
        task = prog.add_task("starting", total=None)

        def cb(name):
            prog.update(task, description=name)
        return fn(cb)
