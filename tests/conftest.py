import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
EXAMPLES = SHARED / "examples"
SPECS = ROOT / "specs"


LANG_VARS = ("CNNCALC_LANG", "LC_ALL", "LC_MESSAGES", "LANG")


def run_cli(*args, timeout=120, env=None):
    """Run the CLI in a subprocess, as a user would.  It speaks English unless `env` sets a language
    (CNNCALC_LANG, LC_ALL, LC_MESSAGES, LANG): the machine's own locale does not leak into the tests."""
    base = {k: v for k, v in os.environ.items() if k not in LANG_VARS}
    env = dict(base, COLUMNS="100", PYTHONIOENCODING="utf-8", **(env or {}))
    return subprocess.run([sys.executable, "-m", "cnncalc", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture
def cli():
    return run_cli


def analyse_text(text, **kw):
    from cnncalc.api import analysis_for
    return analysis_for("test.yaml", text=text, **kw)


@pytest.fixture(scope="module")
def torch_one_thread():
    """Small models run faster on one thread (no OpenMP hand-offs), above all on a busy CI machine."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
