import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
EXAMPLES = SHARED / "examples"
SPECS = ROOT / "specs"


def run_cli(*args, timeout=120):
    """Run the CLI in a subprocess, as a user would."""
    env = dict(os.environ, COLUMNS="100", PYTHONIOENCODING="utf-8")
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
