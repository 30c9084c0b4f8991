"""The `cnncalc` program: the fast path for `analyze` (fastpath.py), else the typer command line.

An exception nobody foresaw is a bug in cnncalc: it gets a short message that says so and where to
report it, exit code 3, and its traceback only with --debug or CNNCALC_DEBUG=1."""
from __future__ import annotations

import sys

EXIT_BUG = 3


def _where_to_report() -> str:
    """The project's issue tracker, from the installed package's metadata (Project-URL)."""
    try:
        from importlib.metadata import metadata
        for entry in metadata("cnncalc").get_all("Project-URL") or []:
            label, _, url = entry.partition(",")
            if label.strip().lower() in ("issues", "bug tracker", "bugs", "tracker"):
                return url.strip()
    except Exception:  # noqa: BLE001 - not installed, or no metadata: fall back to words
        pass
    return "the cnncalc issue tracker"


def _run():
    from .fastpath import try_run
    from . import common as C
    code = C.run_until_pipe_closes(lambda: try_run(sys.argv[1:]))
    if code is None:
        from .main import app
        C.run_until_pipe_closes(app)     # `cnncalc analyze x.yaml | head -1` ends quietly, exit 0
    else:
        sys.exit(code)


def main():
    import os
    debug = "--debug" in sys.argv[1:] or os.environ.get("CNNCALC_DEBUG", "") not in ("", "0")
    if "--debug" in sys.argv[1:]:
        sys.argv = [a for a in sys.argv if a != "--debug"]
    try:
        _run()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - the last resort, by design
        if debug:
            raise
        from ..safetext import clean
        what = "ran out of memory" if isinstance(e, MemoryError) else f"{type(e).__name__}: {clean(e)}"
        sys.stderr.write(
            f"cnncalc: internal error ({clean(what)[:300]})\n"
            "  this is a bug in cnncalc, not a problem with your input; please report it at\n"
            f"  {_where_to_report()} with the command line and the spec.\n"
            "  Run again with --debug (or CNNCALC_DEBUG=1) to see the traceback.\n")
        sys.exit(EXIT_BUG)
