"""The light install: `pip install cnncalc` (no torch) runs every analytical command; the commands that
need torch say what to install, with exit code 2.  Builds a fresh virtual environment from a copy of
the checkout, resolving typer, rich, pyyaml and matplotlib from the package index pip is set up with."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _copy(tmp):
    src = tmp / "src"
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", ".pytest_cache",
                                    ".hypothesis", "out")
    for item in ("pyproject.toml", "README.md", "cnncalc"):
        p = ROOT / item
        if p.is_dir():
            shutil.copytree(p, src / item, ignore=ignore)
        else:
            (src / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, src / item)
    return src


@pytest.fixture(scope="module")
def light_venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("light")
    venv = tmp / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    p = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(_copy(tmp))], env=env,
                       capture_output=True, text=True, timeout=900)
    if p.returncode:
        pytest.fail(f"pip install failed:\n{p.stdout}\n{p.stderr}")
    return venv, env


def _run(light_venv, *args, cwd=ROOT):
    venv, env = light_venv
    return subprocess.run([str(venv / "bin" / "cnncalc"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_light_install_has_no_torch(light_venv):
    venv, env = light_venv
    code = ("import importlib.util as u; print([m for m in ('torch', 'torchvision', 'fvcore') "
            "if u.find_spec(m)])")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], env=env, capture_output=True, text=True,
                         cwd="/", check=True).stdout.strip()
    assert out == "[]"


@pytest.mark.parametrize("args, needle", [
    # ResNet-18: torchvision's published 11,689,512 parameters and 1.81 GFLOPS (1,814,073,344 MACs)
    (["analyze", "specs/resnet18.yaml", "--format", "json"], '"macs": 1814073344'),
    # conv1: 64 * 3*7*7 = 9,408 parameters
    (["explain", "specs/resnet18.yaml", "conv1"], "9,408"),
    # float32 weights: (11,689,512 params + 9,620 BN buffer values) * 4 bytes = 46,796,528
    (["memory", "specs/resnet18.yaml", "-b", "8", "--format", "json"], "46796528"),
    (["check", "examples/homework/lenet.yaml"], "61,706"),
    (["review", "specs/resnet18.yaml"], "resnet18.yaml"),
    (["schema"], '"title":"cnncalc network spec, version 1"'),
    # the Chinese catalog is package data: 6*(1*5*5 + 1) = 156 parameters of LeNet's conv1, in Chinese
    (["check", "examples/homework/lenet.yaml", "--lang", "zh"], "正确     conv1 params = 156"),
])
def test_analytical_commands_run(light_venv, args, needle):
    p = _run(light_venv, *args)
    assert p.returncode == 0, p.stdout + p.stderr
    assert needle in p.stdout, p.stdout[-2000:]


def test_report_writes_html(light_venv, tmp_path):
    out = tmp_path / "r.html"
    p = _run(light_venv, "report", "specs/resnet18.yaml", "--format", "html", "-o", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "<html" in out.read_text().lower() and "11,689,512" in out.read_text()


@pytest.mark.parametrize("args", [["verify", "specs/lenet.yaml"], ["analyze", "specs/lenet.yaml", "--verify"],
                                  ["analyze", "torchvision.models:resnet18", "--input", "3x224x224"]])
def test_torch_commands_say_what_to_install(light_venv, args):
    p = _run(light_venv, *args)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "pip install 'cnncalc[torch]'" in p.stderr
    assert "Traceback" not in p.stderr
