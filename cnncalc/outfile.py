"""Writing a report to the path of ``-o``: every way that can fail is one clean error, exit 2.

A directory, a missing folder, a read-only file or a full device (``/dev/full``) each give
``error: cannot write PATH: reason`` on stderr and exit code 2, never a traceback.  The file is
written in one go after the report is complete, so nothing half-written is left when the analysis
itself fails.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager

EXIT_INVALID = 2


class OutputError(Exception):
    """The output path cannot be written."""


def _reason(path: str, e: OSError) -> str:
    if os.path.isdir(path):
        return "it is a directory; give a file name"
    return e.strerror or str(e)


def fail(path: str, e: OSError):
    """Print the error and exit 2 (through the CLI framework when there is one)."""
    from .safetext import clean
    msg = f"error: cannot write {clean(str(path))}: {clean(_reason(str(path), e))}"
    try:
        from rich.console import Console
        Console(stderr=True, highlight=False, soft_wrap=True).print(msg, markup=False)
    except ImportError:  # pragma: no cover - the CLI always has rich
        sys.stderr.write(msg + "\n")
    raise SystemExit(EXIT_INVALID)   # (a click command passes SystemExit through as its exit code)


@contextmanager
def open_output(path: str):
    """``with open_output(path) as f:`` - a text file for writing, or a clean error and exit 2."""
    try:
        f = open(path, "w", encoding="utf-8")
    except OSError as e:
        fail(path, e)
    try:
        with f:
            yield f
    except OSError as e:
        fail(path, e)


def write_text(path: str, text: str):
    with open_output(path) as f:
        f.write(text)
