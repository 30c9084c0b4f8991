"""`cnncalc rf`: the exact receptive window of an output unit beside the analytic envelope, the rules
on its path explained, and optionally the gradient probe and the effective receptive field."""
from __future__ import annotations

from typing import List, Optional

import typer

from . import common as C


def register(app):
    @app.command(short_help="Receptive field of a unit: exact window, envelope, probe, effective field.")
    def rf(spec: str = C.spec_argument(),
           node: Optional[str] = typer.Argument(None, metavar="[NODE]", help="a node (name, or name:k for its k-th output); "
                                                           "none: every graph output and final feature map"),
           unit: Optional[str] = typer.Option(None, "--unit", "-u", metavar="I[,J...]", help="the output unit, one index per spatial "
                                                                         "axis (e.g. 32,32; -1 is the last); "
                                                                         "default: the centre"),
           format: C.TableJson = C.format_option(C.TableJson.table),
           erf: bool = typer.Option(False, "--erf", help="also measure the effective receptive field at "
                                                         "initialisation (runs torch)"),
           plot: Optional[str] = typer.Option(None, "--plot", metavar="FILE", help="with --erf: write the ERF heatmap to this "
                                                                   "file (.png or .svg)"),
           seeds: int = typer.Option(3, "--erf-seeds", metavar="N", help="with --erf: models (seeds 0..n-1) to average over"),
           samples: int = typer.Option(4, "--erf-samples", metavar="N", help="with --erf: random inputs per model"),
           probe: bool = typer.Option(False, "--probe", help="also measure the windows of the centre, corner and "
                                                             "random units by input gradients (runs torch)"),
           input: Optional[List[str]] = C.input_option(), set: Optional[List[str]] = C.set_option(),
           output: Optional[str] = C.output_option(), width: Optional[int] = C.width_option()):
        """Receptive field of one unit: the input interval it reads per axis (exact, clipped to the input),
        the (size, stride, padding) envelope, and the rules on its path."""
        from ..receptive import report as R

        a = C.load_analysis(spec, None, input, set, None, None)
        if any(d.severity == "error" for d in a.diagnostics):
            C.print_diagnostics([d.to_dict() for d in a.diagnostics if d.severity == "error"])
            raise typer.Exit(C.EXIT_INVALID)
        try:
            rep = R.report(a, node, unit)
        except (KeyError, ValueError) as e:
            msg = e.args[0] if e.args else str(e)
            C.print_diagnostics([{"severity": "error", "message": msg, "location": None,
                                  "hints": [f"`cnncalc analyze {spec}` lists every layer and its output shape"]}])
            raise typer.Exit(C.EXIT_INVALID)
        if plot and not erf:
            C.print_diagnostics([{"severity": "error", "message": "--plot draws the effective receptive field: "
                                  "add --erf", "location": None, "hints": []}])
            raise typer.Exit(C.EXIT_INVALID)
        if probe:
            from ..receptive.probe import probe as run_probe, probe_units
            refs = [R.resolve(a.g, f"{t['node']}:{t['output']}") for t in rep["targets"]]
            units = {r: [("requested", tuple(t["unit"]))] + probe_units(a.g.shape(r))
                     for r, t in zip(refs, rep["targets"])}
            from ..crosscheck import build as B
            res = run_probe(a.g, refs, units=units, build=B)
            rep["probe"] = [r.json() for r in res]
        if erf:
            from ..receptive.erf import erf_report, plot as draw
            t = next((t for t in rep["targets"] if len(t["unit"]) == len(t["shape"]) - 1 and t["unit"]),
                     rep["targets"][0])
            ref = R.resolve(a.g, f"{t['node']}:{t['output']}")
            from ..crosscheck import build as B
            e, maps = erf_report(a.g, ref, tuple(t["unit"]), build=B, seeds=tuple(range(seeds)), samples=samples)
            if plot:
                e["plot"] = draw(e, maps, plot)
            rep["erf"] = e
        from ..render import rf_windows as V
        if format == C.TableJson.json:
            import json
            C.write_output(json.dumps(rep, indent=2) + "\n", output)
        else:
            C.write_output(V.render_table(rep, C.width_for(width, output)), output)
        bad = any(r["verdict"] == "mismatch" for r in rep.get("probe", []))
        raise typer.Exit(C.EXIT_EXPECT if bad else C.EXIT_OK)
