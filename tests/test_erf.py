"""Effective receptive field (Luo et al., 2016): closed-form cases with uniform weights, invariants
at torch's default initialisation, and the command with its heatmap."""
from __future__ import annotations

import json
import math

import pytest

from conftest import analyse_text, run_cli
from cnncalc.crosscheck import build as B
from cnncalc.receptive.erf import erf_report as _erf_report, radii
from cnncalc.receptive.report import resolve


def erf_report(*a, **kw):
    return _erf_report(*a, build=B, **kw)


def stack(n, k, pad, size):
    layers = "".join(f"  - Conv2d: {{out_channels: 1, kernel_size: {k}, padding: {pad}, bias: false}}\n"
                     for _ in range(n))
    return analyse_text(f"cnncalc: 1\ninput: [1, {size}, {size}]\nlayers:\n{layers}")


def test_radii_by_hand():
    # B(4, 1/2) = [1, 4, 6, 4, 1]/16 around centre 2: within 0: 6/16 = 37.5%; within 1: 14/16 = 87.5%
    # (>= 50%: rho_50 = 1, 3 pixels); within 2: 16/16 (>= 95%: rho_95 = 2, 5 pixels)
    c, r = radii([1, 4, 6, 4, 1])
    assert c == 2 and r[0.5] == (1, 3) and r[0.95] == (2, 5)
    # an even spread [1, 1] has its centre between the pixels: both at distance 1/2
    c, r = radii([0, 1, 1, 0])
    assert c == 1.5 and r[0.5] == (0.5, 2)


def test_binomial_for_stacked_2x2_uniform_windows(torch_one_thread):
    """n stacked 2x2 windows with equal weights: the gradient of one unit over the input is the
    n-fold convolution of [1/2, 1/2] per axis: the binomial distribution B(n, 1/2)."""
    n = 4
    a = stack(n, 2, 0, 12)                                   # 12 -> 8
    ref = resolve(a.g, str(n - 1))
    rep, maps = erf_report(a.g, ref, (4, 4), seeds=(0,), samples=1, init="uniform", dtype="float64")
    m = maps["input"]
    # unit (4, 4) reads [4, 4 + n] per axis; weights C(n, i) * C(n, j) / 4^n
    for i in range(12):
        for j in range(12):
            want = math.comb(n, i - 4) * math.comb(n, j - 4) / 4 ** n if 4 <= i <= 8 and 4 <= j <= 8 else 0
            assert float(m[i, j]) == pytest.approx(want, abs=1e-12), (i, j)
    ax = rep["inputs"]["input"]["axes"][0]
    # by hand (test_radii_by_hand): centre 4 + 2 = 6, rho_50 = 1 (3 px), rho_95 = 2 (5 px); theory 5
    assert ax["centre"] == 6 and (ax["radius_50"], ax["width_50"]) == (1, 3)
    assert (ax["radius_95"], ax["width_95"], ax["theoretical"]) == (2, 5, 5)
    assert rep["inputs"]["input"]["mass_in_field"] == pytest.approx(1.0)


def test_trinomial_for_stacked_3x3_uniform_windows(torch_one_thread):
    """n stacked 3x3 windows with equal weights: per axis the coefficients of (1 + x + x^2)^n / 3^n."""
    n = 3
    a = stack(n, 3, 1, 16)
    rep, maps = erf_report(a.g, resolve(a.g, str(n - 1)), (8, 8), seeds=(0,), samples=1, init="uniform",
                           dtype="float64")
    # (1 + x + x^2)^3 = 1 + 3x + 6x^2 + 7x^3 + 6x^4 + 3x^5 + x^6 (by hand), on pixels 5..11
    tri = [1, 3, 6, 7, 6, 3, 1]
    marg = maps["input"].sum(dim=1).tolist()
    assert marg == pytest.approx([0] * 5 + [t / 27 for t in tri] + [0] * 4, abs=1e-12)
    ax = rep["inputs"]["input"]["axes"][1]
    # around 8: within 0: 7/27 = 26%; within 1: 19/27 = 70% -> rho_50 = 1; within 2: 25/27 = 92.6% < 95%;
    # within 3: 27/27 -> rho_95 = 3, the whole theoretical field of 7
    assert ax["centre"] == 8 and (ax["radius_50"], ax["radius_95"]) == (1, 3)
    assert ax["width_95"] == ax["theoretical"] == 7


def test_default_init_is_deterministic_and_smaller_than_the_theoretical_field(torch_one_thread):
    layers = "  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}\n  - ReLU\n" * 8
    a = analyse_text(f"cnncalc: 1\ninput: [2, 40, 40]\nlayers:\n{layers}")
    ref = resolve(a.g, "15")
    r1, m1 = erf_report(a.g, ref, (20, 20), seeds=(0, 1), samples=2)
    r2, m2 = erf_report(a.g, ref, (20, 20), seeds=(0, 1), samples=2)
    assert bool((m1["input"] == m2["input"]).all()) and r1 == r2
    info = r1["inputs"]["input"]
    # 8 3x3 convs: theoretical 17 (unit 20 reads [12, 28]); all the gradient lies inside it
    assert info["field"] == [[12, 28], [12, 28]] and info["mass_in_field"] == pytest.approx(1.0)
    for ax in info["axes"]:
        assert ax["theoretical"] == 17 and ax["width_95"] < 17 and ax["width_50"] < ax["width_95"]


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_rf_command_erf_and_heatmap(tmp_path, suffix, torch_one_thread):
    from typer.testing import CliRunner
    from cnncalc.cli.main import app
    path = tmp_path / f"erf.{suffix}"
    spec = tmp_path / "s.yaml"
    spec.write_text("cnncalc: 1\ninput: [1, 24, 24]\nlayers:\n"
                    + "  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}\n  - ReLU\n" * 3)
    r = CliRunner().invoke(app, ["rf", str(spec), "5", "--erf", "--erf-seeds", "2", "--erf-samples", "2",
                                 "--plot", str(path), "--format", "json"])
    assert r.exit_code == 0, r.output
    e = json.loads(r.stdout)["erf"]
    assert e["node"] == "5" and e["unit"] == [12, 12] and e["method"]["seeds"] == [0, 1]
    assert e["inputs"]["input"]["field"] == [[9, 15], [9, 15]]          # 3 3x3 convs: 12 -+ 3
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == "png" else b"<svg" in data[:2000]
    r = run_cli("rf", spec, "--plot", path)
    assert r.returncode == 2 and "add --erf" in r.stderr


# ------------------------------------------------------------------ analyze --erf, report --erf
ERF_SPEC = ("cnncalc: 1\ninput: [1, 24, 24]\nlayers:\n"
            + "  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}\n  - ReLU\n" * 3)


def test_analyze_erf_section_is_the_rf_commands(tmp_path, torch_one_thread):
    """`analyze --format json --erf --erf-unit 4,7` holds the ERF of that unit of the last map, the same
    numbers as the library call with the default seeds (0, 1, 2) and 4 inputs each."""
    from typer.testing import CliRunner
    from cnncalc.cli.main import app
    spec = tmp_path / "s.yaml"
    spec.write_text(ERF_SPEC)
    r = CliRunner().invoke(app, ["analyze", str(spec), "--format", "json", "--erf", "--erf-unit", "4,7"])
    assert r.exit_code == 0, r.output
    e = json.loads(r.stdout)["erf"]
    # 3 3x3 convs, padding 1: unit (4, 7) reads [4 - 3, 4 + 3] x [7 - 3, 7 + 3] = [1, 7] x [4, 10]
    assert e["node"] == "5" and e["unit"] == [4, 7]
    assert e["inputs"]["input"]["field"] == [[1, 7], [4, 10]]
    a = analyse_text(ERF_SPEC)
    want, _ = erf_report(a.g, resolve(a.g, "5"), (4, 7), seeds=(0, 1, 2), samples=4)
    assert e == json.loads(json.dumps(want))
    r = CliRunner().invoke(app, ["analyze", str(spec), "--erf"])
    assert r.exit_code == 2 and "--format json" in r.output
    # another node: `3` is the second ReLU (two 3x3 convs): its centre unit (12, 12) reads 12 -+ 2
    r = CliRunner().invoke(app, ["analyze", str(spec), "--format", "json", "--erf", "--erf-node", "3"])
    assert r.exit_code == 0, r.output
    e = json.loads(r.stdout)["erf"]
    assert e["node"] == "3" and e["unit"] == [12, 12] and e["inputs"]["input"]["field"] == [[10, 14], [10, 14]]
    r = CliRunner().invoke(app, ["analyze", str(spec), "--format", "json", "--erf", "--erf-node", "nope"])
    assert r.exit_code == 2 and "no node `nope`" in r.output


def test_analyze_imports_torch_only_with_erf(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(ERF_SPEC)
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom cnncalc.cli.main import app\n"
            "r = CliRunner().invoke(app, ['analyze', %r, '--format', 'json'] + sys.argv[1:])\n"
            "assert r.exit_code == 0, r.output\nprint('torch' in sys.modules)\n") % str(spec)
    import subprocess
    import sys
    run = [subprocess.run([sys.executable, "-c", code, *extra], capture_output=True, text=True, timeout=120)
           for extra in ([], ["--erf"])]
    assert [p.stdout.strip() for p in run] == ["False", "True"], [p.stderr[-500:] for p in run]


def test_report_erf_heatmap(tmp_path, torch_one_thread):
    spec = tmp_path / "s.yaml"
    spec.write_text(ERF_SPEC)
    out = tmp_path / "r.html"
    r = run_cli("report", spec, "--erf", "--erf-unit", "0,0", "-o", out)
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    # the heatmap is an inline SVG in the plots section, titled with the unit
    i = html.index('<figure id="plot-erf">')
    assert "<svg" in html[i:i + 400] and "effective receptive field of 5 unit [0, 0]" in html
    plain = tmp_path / "p.html"
    assert run_cli("report", spec, "-o", plain).returncode == 0
    assert 'id="plot-erf"' not in plain.read_text()
