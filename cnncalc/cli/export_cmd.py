"""`cnncalc export MODULE:ATTR --input 3x224x224 -o model.yaml`: a PyTorch module written as a spec."""
from __future__ import annotations

from typing import List, Optional

import typer

from . import common as C


def register(app):
    @app.command(short_help="Write a PyTorch module as a spec (YAML).")
    def export(target: str = typer.Argument(..., metavar="MODULE:ATTR", show_default=False, help="MODULE:ATTR: an importable module path or a .py file, and "
                                                      "the nn.Module class, factory function or instance in it. "
                                                      "Loading a Python file RUNS ITS CODE."),
               input: Optional[List[str]] = C.input_option(),
               kwargs: Optional[str] = typer.Option(None, "--kwargs", metavar="JSON",
                                                    help="JSON keyword arguments for the class or factory, "
                                                         "e.g. '{\"num_classes\": 10}'"),
               batch: Optional[int] = C.batch_option("batch size written to the spec"),
               flat: bool = typer.Option(False, "--flat", help="one flat list of layers instead of nested "
                                                               "Sequential nodes named like the modules"),
               blocks: bool = typer.Option(True, "--blocks/--no-blocks",
                                           help="write module classes that repeat as `blocks:` (with `repeat:`)"),
               output: Optional[str] = C.output_option("write the spec to this file")):
        """Write a PyTorch module as a cnncalc spec (YAML) that analyses to exactly the same numbers.

        The module is imported and run on the meta device (torch.fx), or once on a random input when
        it cannot be traced.  Loading a .py file runs its code: only export files you trust.
        """
        from ..errors import UsageError
        try:
            from ..frontends.export import export_spec
            from ..frontends.module_target import analysis_for_module
            a = analysis_for_module(target, batch=batch, inputs=input, kwargs=kwargs)
            title = f"exported by cnncalc from {target} (--input {' --input '.join(input or [])})"
            text = export_spec(a, title, flat=True if flat else None, blocks=blocks)
        except UsageError as e:
            C.error(str(e))
        C.print_diagnostics([d for d in a.diagnostics if d.severity != "note"])
        C.write_output(text, output)
        if output:
            t = a.totals()
            C.err_console().print(f"wrote {output}: {len(a.layer)} layers, {t['params']:,} params, "
                                  f"{t['macs']:,} MACs (checked by re-analysing the written spec)", markup=False)
        raise typer.Exit(C.EXIT_OK)
