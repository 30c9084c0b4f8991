"""`cnncalc explain`: every number of a node (or a block, or the whole spec) as a formula."""
from __future__ import annotations

import sys
from enum import Enum
from typing import List, Optional

import typer


class ExplainFmt(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


def register(app):
    @app.command()
    def explain(spec: str = typer.Argument(..., help="a spec file (YAML)"),
                nodes: Optional[List[str]] = typer.Argument(
                    None, help="instance paths (layer1.0.conv1) or block/group names (layer1); none: the whole spec"),
                format: ExplainFmt = typer.Option(ExplainFmt.text, "--format", "-f", help="text, markdown or json"),
                unicode: Optional[bool] = typer.Option(
                    None, "--unicode/--ascii",
                    help="floor/ceil as ⌊x⌋ ⌈x⌉ (default in a terminal) or as floor(x), ceil(x)"),
                batch: Optional[int] = typer.Option(None, "--batch", "-b", help="batch size"),
                input: Optional[List[str]] = typer.Option(None, "--input", "-i",
                                                          help="input shape without batch, e.g. 3x299x299"),
                set: Optional[List[str]] = typer.Option(None, "--set", help="override a spec variable: name=value"),
                dtype: Optional[str] = typer.Option(None, "--dtype", help="float32, float16, bfloat16 or float64"),
                convention: Optional[str] = typer.Option(None, "--convention", "-c",
                                                         help="default, macs, paper, torch or fvcore"),
                output: Optional[str] = typer.Option(None, "--output", "-o", help="write to this file"),
                no_expect: bool = typer.Option(False, "--no-expect", help="do not check the spec's `expect:` values")):
        """Every number of a node as formula, formula with values, and result; a block or the whole spec
        as sums of its parts, with the layers that dominate."""
        from . import common as C
        from ..render import explain as E

        a = C.load_analysis(spec, batch, input, set, convention, dtype, no_expect=no_expect)
        try:
            exps = E.explain(a, list(nodes or []))
        except E.UnknownNode as e:
            hints = []
            if e.candidates:
                hints.append("did you mean " + " or ".join(f"`{c}`" for c in e.candidates) + "?")
            hints.append(f"`cnncalc analyze {spec}` lists every layer; block and repeat names (layer1) "
                         "explain the group")
            C.print_diagnostics([{"severity": "error", "message": f"no node or group named `{e.name}` in {spec}",
                                  "location": None, "hints": hints}])
            raise typer.Exit(C.EXIT_INVALID)
        if unicode is None:
            enc = (getattr(sys.stdout, "encoding", "") or "").lower()
            unicode = not output and sys.stdout.isatty() and "utf" in enc
        if format == ExplainFmt.json:
            import json
            text = json.dumps(E.to_json(exps), indent=2, default=str) + "\n"
        elif format == ExplainFmt.markdown:
            text = E.render_markdown(exps, unicode)
        else:
            text = E.render_text(exps, unicode)
        C.write_output(text, output)
        report_diags = [d.to_dict() for d in a.diagnostics if d.severity == "error"]
        C.print_diagnostics(report_diags)
        raise typer.Exit(C.EXIT_INVALID if report_diags else C.EXIT_OK)
