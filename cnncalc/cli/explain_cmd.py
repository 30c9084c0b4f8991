"""`cnncalc explain`: every number of a node (or a block, or the whole spec) as a formula."""
from __future__ import annotations

import sys
from enum import Enum
from typing import List, Optional

import typer

from . import common as C


class ExplainFmt(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


def register(app):
    @app.command(short_help="Every number of a node, block or spec as a formula.")
    def explain(spec: str = C.spec_argument(),
                nodes: Optional[List[str]] = typer.Argument(
                    None, metavar="NODE", show_default=False,
                    help="instance paths (layer1.0.conv1) or block/group names (layer1); none: the whole spec"),
                format: ExplainFmt = C.format_option(ExplainFmt.text), output: Optional[str] = C.output_option(),
                width: Optional[int] = C.width_option(),
                unicode: Optional[bool] = typer.Option(
                    None, "--unicode/--ascii",
                    help="floor/ceil as ⌊x⌋ ⌈x⌉ (default in a terminal) or as floor(x), ceil(x)"),
                batch: Optional[int] = C.batch_option(), input: Optional[List[str]] = C.input_option(),
                set: Optional[List[str]] = C.set_option(), dtype: Optional[C.Dtype] = C.dtype_option(),
                convention: Optional[C.Convention] = C.convention_option(),
                no_expect: bool = typer.Option(False, "--no-expect", help=C.NO_EXPECT_HELP)):
        """Every number of a node as formula, formula with values, and result; a block or the whole spec
        as sums of its parts, with the layers that dominate."""
        from ..render import explain as E

        a = C.load_analysis(spec, batch, input, set, convention, dtype, no_expect=no_expect)
        report_diags = [d.to_dict() for d in a.diagnostics if d.severity == "error"]
        if report_diags and format != ExplainFmt.json:
            C.no_result([d.to_dict() for d in a.diagnostics], "explanation")
        try:
            exps = E.explain(a, list(nodes or []))
        except E.UnknownNode as e:
            from ..errors import did_you_mean_text
            from ..i18n import _
            hints = []
            if e.candidates:
                hints.append(did_you_mean_text(e.candidates))
            hints.append(_("`cnncalc analyze {spec}` lists every layer; block and repeat names (layer1) "
                           "explain the group").format(spec=spec))
            C.print_diagnostics([{"severity": "error",
                                  "message": _("no node or group named `{name}` in {spec}").format(name=e.name, spec=spec),
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
            text = E.render_text(exps, unicode, C.width_for(width, output))
        C.write_output(text, output)
        C.print_diagnostics(report_diags)
        raise typer.Exit(C.EXIT_INVALID if report_diags else C.EXIT_OK)
