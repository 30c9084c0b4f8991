"""`cnncalc verify`: build the real torch model of a spec, run it and cross-check every number.

Module-level imports stay cheap (typer only): torch is imported when the command runs.
"""
from __future__ import annotations

from typing import List, Optional

import typer

from . import common as C

_VERDICT_STYLE = {"match": "green", "mismatch": "bold red", "not covered": "yellow", "info": "cyan"}


def register(app):
    @app.command()
    def verify(spec: str = typer.Argument(..., help="a spec file (YAML)"),
               device: str = typer.Option("auto", "--device", help="cpu, cuda or auto (cuda when available)"),
               batch: Optional[int] = typer.Option(None, "--batch", "-b", help="batch size (default: the spec's)"),
               seed: int = typer.Option(0, "--seed", help="random seed of the weights and inputs"),
               format: str = typer.Option("table", "--format", "-f", help="table or json"),
               input: Optional[List[str]] = typer.Option(None, "--input", "-i",
                                                         help="input shape without batch, e.g. 3x64x64"),
               set: Optional[List[str]] = typer.Option(None, "--set", help="override a spec variable: name=value"),
               dtype: Optional[str] = typer.Option(None, "--dtype", help="float32, float16, bfloat16, float64"),
               layers: bool = typer.Option(False, "--layers", help="show every per-layer check, not only "
                                                                  "the mismatches and a summary"),
               no_probe: bool = typer.Option(False, "--no-probe", help="skip the receptive-field probe"),
               no_fvcore: bool = typer.Option(False, "--no-fvcore", help="skip fvcore (it traces with torch.jit)")):
        """Run the real torch model and compare shapes, parameters, FLOPs (FlopCounterMode and fvcore),
        bytes saved for backward and the receptive field with the analysis.  Exit 1 on any mismatch."""
        if format not in ("table", "json"):
            C.err_console().print(f"error: --format must be table or json, got {format!r}", markup=False)
            raise typer.Exit(C.EXIT_INVALID)
        if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
            C.err_console().print(f"error: --device must be cpu, cuda or auto, got {device!r}", markup=False)
            raise typer.Exit(C.EXIT_INVALID)
        code = run_verify(spec, batch=batch, inputs=input, device=device, fmt=format, seed=seed, sets=set,
                          dtype=dtype, show_layers=layers, probe=not no_probe, fvcore=not no_fvcore)
        raise typer.Exit(code)


def run_verify(spec, batch=None, inputs=None, device="auto", fmt="table", seed=0, sets=None, dtype=None,
               show_layers=False, probe=True, fvcore=True) -> int:
    """Verify ``spec``; print the result table (or JSON); return the exit code (0 clean, 1 mismatch, 2 error)."""
    a = C.load_analysis(spec, batch, inputs, sets, None, dtype)
    if any(d.severity == "error" for d in a.diagnostics):
        C.print_diagnostics([d.to_dict() for d in a.diagnostics])
        return C.EXIT_INVALID

    def reload(convention=None, batch=None, _b=batch):
        return C.load_analysis(spec, batch or _b, inputs, sets, convention, dtype)

    from ..needs import MissingDependency, require_torch
    err = C.err_console()
    try:
        require_torch("`cnncalc verify`", also=("torchvision", "fvcore") if fvcore else ("torchvision",))
    except MissingDependency as e:
        err.print(f"error: {e}", markup=False)
        return C.EXIT_INVALID
    from ..verify.checks import TooBig, verify_analysis
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
        C.write_output(json.dumps(result, indent=2, default=str) + "\n", None)
    else:
        render_result(result, C.console(), show_layers)
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


def render_result(result, console, show_layers=False):
    """The result table: totals, a summary per per-layer check, every mismatch, not-covered reasons."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=f"cnncalc verify: {escape(result['model'])} (batch {result['batch']}, {result['dtype']}, "
                    f"{result['device']}, seed {result['seed']})", title_justify="left")
    for col, kw in (("check", {}), ("layer / module", {"overflow": "fold"}), ("analytical", {"justify": "right"}),
                    ("measured", {"justify": "right"}), ("verdict", {}), ("note", {"overflow": "fold"})):
        t.add_column(col, **kw)

    def row(c):
        st = _VERDICT_STYLE.get(c["verdict"], "")
        t.add_row(escape(c["check"]), escape(c["name"] or "(total)"), escape(_fmt(c["analytical"])),
                  escape(_fmt(c["measured"])), f"[{st}]{c['verdict']}[/]", escape(c["reason"] or ""))

    checks = result["checks"]
    for c in checks:
        if c["scope"] in ("total", "info"):
            row(c)
    groups = {}
    for c in checks:
        if c["scope"] in ("layer", "module"):
            groups.setdefault(c["check"], []).append(c)
    for name, cs in groups.items():
        n_match = sum(c["verdict"] == "match" for c in cs)
        bad = [c for c in cs if c["verdict"] == "mismatch"]
        nc = {}
        for c in cs:
            if c["verdict"] == "not covered":
                nc.setdefault(c["reason"], []).append(c)
        if show_layers:
            for c in cs:
                row(c)
            continue
        compared = n_match + len(bad)
        if compared:
            verdict = "match" if not bad else "mismatch"
            st = _VERDICT_STYLE[verdict]
            t.add_row(escape(name), f"{compared} compared", "", "",
                      f"[{st}]{verdict}[/]", f"{n_match}/{compared} equal")
        for c in bad:
            row(c)
        for reason, items in nc.items():
            names = ", ".join(c["name"] for c in items[:3]) + (f", ... ({len(items)} in all)" if len(items) > 3 else "")
            t.add_row(escape(name), escape(names), "", "", f"[{_VERDICT_STYLE['not covered']}]not covered[/]",
                      escape(reason))
    console.print(t)
    s = result["summary"]
    for note in result.get("notes", []):
        console.print(f"note: {escape(note)}", highlight=False)
    tm = result.get("timings", {})
    if tm:
        console.print("time: " + ", ".join(f"{k} {v:.2f}s" for k, v in tm.items()), highlight=False)
    verdict = "[bold red]MISMATCH[/]" if s["mismatch"] else (
        "[green]all compared numbers match[/]" if s["match"] else "[yellow]nothing could be compared[/]")
    console.print(f"{verdict}: {s['match']} match, {s['mismatch']} mismatch, {s['not_covered']} not covered")


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.6g}"
    return str(v)
