"""`cnncalc calibrate`: measure the local CUDA device and write a profile for `memory --device FILE`."""
from __future__ import annotations

from typing import List, Optional

import typer


def register(app):
    @app.command(short_help="Measure this CUDA device and write a memory profile (needs a GPU).")
    def calibrate(output: str = typer.Option(..., "--output", "-o", metavar="FILE", help="the profile file to write (JSON)"),
                  spec: Optional[List[str]] = typer.Option(None, "--spec", metavar="SPEC", help="spec files to measure "
                                                           "(repeatable; default: ten zoo networks)"),
                  batch: str = typer.Option("1,32,128", "--batch", "-b", metavar="N[,N...]", help="batch sizes to measure"),
                  base: str = typer.Option("h200", "--base", metavar="DEVICE", help="the profile whose other terms are kept"),
                  deadline: float = typer.Option(1800.0, "--deadline", metavar="SECONDS", help="stop measuring after this many "
                                                 "seconds and fit on what was measured")):
        """Measure this machine's CUDA device (per-layer workspaces, whole training steps) and write a device
        profile that `cnncalc memory --device FILE` accepts.  Needs a GPU."""
        from . import common as C
        from ..devices import ProfileError
        from ..crosscheck.calibrate import CalibrateError, calibrate as run, write_profile
        from .memory_cmd import parse_batches
        from ..errors import UsageError
        try:
            batches = parse_batches(batch)
            prof = run(spec, batches, base, deadline, log=lambda s: C.err_console().print(s, markup=False))
        except (CalibrateError, ProfileError, UsageError) as e:
            C.err_console().print(f"error: {e}", markup=False)
            raise typer.Exit(C.EXIT_INVALID)
        write_profile(prof, output)
        C.err_console().print(f"wrote {output}: use it with cnncalc memory SPEC --device {output}", markup=False)
        raise typer.Exit(C.EXIT_OK)

    return calibrate
