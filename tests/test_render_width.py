"""Tables and text at 80 and 120 columns: every line fits, no figure is cut, and every figure shown
is the JSON report's.  Golden files (tests/golden/*.txt) hold the exact text of the small spec;
CNNCALC_REGEN_GOLDEN=1 rewrites them (review the diff)."""
from __future__ import annotations

import json
import os
import re
import time

import pytest

from cnncalc.core.units import match_number
from tests.conftest import ROOT, run_cli

GOLDEN = ROOT / "tests" / "golden"
SPEC = "tests/golden/wide_names.yaml"            # relative: the CLI runs in the repository root
ANSWERS = "tests/golden/wide_names_answers.yaml"
RESNET50 = ROOT / "specs" / "resnet50.yaml"
WIDTHS = (80, 120)


def _out(*args, width=None, env_columns=None):
    """stdout of the CLI at --width `width` (or with COLUMNS=env_columns and no --width, piped)."""
    extra = ["--width", str(width)] if width else []
    if env_columns:
        import subprocess
        import sys
        env = dict(os.environ, COLUMNS=str(env_columns), PYTHONIOENCODING="utf-8")
        r = subprocess.run([sys.executable, "-m", "cnncalc", *map(str, args)], capture_output=True, text=True,
                           env=env, cwd=ROOT, timeout=300)
    else:
        r = run_cli(*args, *extra, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    return r.stdout


def _json(*args):
    r = run_cli(*args, "--format", "json", timeout=300)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def _fits(text, width):
    assert "…" not in text
    long = [line for line in text.splitlines() if len(line) > width]
    assert not long, long


def _golden(name, text):
    path = GOLDEN / name
    if os.environ.get("CNNCALC_REGEN_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def _table(lines):
    """The rows of the first table in `lines`: each a list of cells (continuation lines merged into
    the cells of the row above), cut at the spans of the rule under the header."""
    k = next(i for i, x in enumerate(lines) if x.strip() and set(x) <= {"-", " "} and x.count("-") > 10)
    spans = [m.span() for m in re.finditer(r"-+", lines[k])]
    heads = [" ".join(x[a:b].strip() for x in lines[:k] if x[a:b].strip()).strip() for a, b in spans]
    rows = []
    for line in lines[k + 1:]:
        if not line.strip():
            break
        cells = [line[a:b].strip() if a < len(line) else "" for a, b in spans]
        gaps = "".join(line[b:a2] for (_, b), (a2, _) in zip(spans, spans[1:]))
        if gaps.strip():       # not a row of this table (text below it)
            break
        if rows and not any(cells[i] for i in range(len(cells)) if i not in (0, 1)) and cells[0] + cells[1]:
            rows[-1] = [p + c for p, c in zip(rows[-1], cells)]   # a wrapped name
            continue
        rows.append(cells)
    return heads, rows


def _same(cell, value):
    """A cell shows the value: '-' for zero, else the value to the precision written."""
    if cell == "-":
        return not value
    return match_number(cell, value)


# ----------------------------------------------------------------------------- analyze
def _check_analyze(text, rep, width):
    _fits(text, width)
    lines = text.splitlines()
    heads, rows = _table(lines[2:])
    assert heads[:3] == ["layer", "op", "output"]
    assert len(rows) == len(rep["layers"])
    idx = {h: i for i, h in enumerate(heads)}
    for row, L in zip(rows, rep["layers"]):
        assert row[0] == L["name"]
        assert row[2].replace(" ", "") == "x".join(map(str, L["output_shape"]))
        for col, key in (("params", "params"), ("MACs", "macs"), ("FLOPs", "flops"), ("memory", "output_bytes")):
            assert _same(row[idx[col]], L[key]), (L["name"], col, row[idx[col]], L[key])
    flat = " ".join(text.split())
    T = rep["totals"]
    for label, key in (("params", "params"), ("MACs", "macs"), ("FLOPs", "flops")):
        m = re.search(rf"\b{label} ([\d,]+)", flat)
        assert m and int(m.group(1).replace(",", "")) == T[key], label


@pytest.mark.parametrize("width", WIDTHS)
def test_analyze_golden(width):
    text = _out("analyze", SPEC, width=width)
    _check_analyze(text, _json("analyze", SPEC), width)
    _golden(f"analyze_{width}.txt", text)


def test_analyze_follows_columns_when_piped():
    text = _out("analyze", SPEC, env_columns=80)
    assert text == (GOLDEN / "analyze_80.txt").read_text(encoding="utf-8")


def test_analyze_resnet50_at_80():
    text = _out("analyze", RESNET50, width=80)
    _check_analyze(text, _json("analyze", RESNET50), 80)


# ----------------------------------------------------------------------------- memory (sweep)
@pytest.mark.parametrize("width", WIDTHS)
def test_memory_sweep_resnet50(width):
    args = ("memory", RESNET50, "-b", "1,16,64,256")
    text = _out(*args, width=width)
    rep = _json(*args)
    _fits(text, width)
    lines = text.splitlines()
    heads, rows = _table(lines[lines.index("batch sweep") + 1:])
    keys = ("weights", "gradients", "optimizer", "saved_activations", "peak_transient", "training_peak",
            "inference_peak")
    assert [int(r[0]) for r in rows] == [r["batch"] for r in rep["runs"]] == [1, 16, 64, 256]
    for row, run in zip(rows, rep["runs"]):
        for cell, key in zip(row[1:], keys):
            assert _same(cell, run["memory"][key]), (run["batch"], key, cell, run["memory"][key])
        if len(row) > len(keys) + 1:       # the bar
            assert set(row[-1]) <= {"█", "·"}
    # where each batch's peaks happen: the JSON's phase and node, names wrapped, never cut
    heads, rows = _table(lines[lines.index("where the peaks happen") + 1:])
    assert [int(r[0]) for r in rows] == [1, 16, 64, 256]
    for row, run in zip(rows, rep["runs"]):
        m = run["memory"]
        want = "optimizer step" if m["training_peak_phase"] == "optimizer" else \
            f"{m['training_peak_phase']} at {m['training_peak_at']}"
        assert row[1].replace(" ", "") == want.replace(" ", "") and row[2] == m["inference_peak_at"], (row, m)


# ----------------------------------------------------------------------------- explain
def _values(obj):
    if isinstance(obj, dict):
        if "value" in obj and isinstance(obj["value"], int) and not isinstance(obj["value"], bool):
            yield obj["value"]
        for v in obj.values():
            yield from _values(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _values(v)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("target", ["", "stem_of_the_network.convolution_with_a_long_name"])
def test_explain_golden(width, target):
    args = ("explain", SPEC, *([target] if target else []), "--ascii")
    text = _out(*args, width=width)
    _fits(text, width)
    rep = _json(*args[:-1])
    for v in set(_values(rep)):
        # each figure stands whole on one line (never split by the wrapping)
        assert re.search(rf"(?<![\d,]){re.escape(f'{v:,}')}(?![\d,])", text), v
    _golden(f"explain{'_node' if target else ''}_{width}.txt", text)


# ----------------------------------------------------------------------------- check
@pytest.mark.parametrize("width", WIDTHS)
def test_check_golden(width):
    text = _out("check", SPEC, "--answers", ANSWERS, width=width)
    _fits(text, width)
    rep = _json("check", SPEC, "--answers", ANSWERS)
    for c in rep["checks"]:
        for key in ("given", "answer"):
            v = c.get(key)
            shown = f"{v:,}" if isinstance(v, int) else "[" + ", ".join(map(str, v)) + "]" if v else None
            if shown:
                assert any(shown in line for line in text.splitlines()), (c["node"], key, shown)
    _golden(f"check_{width}.txt", text)


# ----------------------------------------------------------------------------- verify (runs torch)
@pytest.mark.slow
def test_verify_widths(tmp_path):
    args = ("verify", SPEC, "-i", "3x64x64", "--no-fvcore", "--no-probe")
    res = _json(*args)
    shown = {str(c[k]) for c in res["checks"] for k in ("analytical", "measured") if c[k] is not None}
    from cnncalc.render.verify import render
    for width in WIDTHS:
        text = render(res, width)
        _fits(text, width)
        heads, rows = _table(text.splitlines()[2:])
        assert heads[:2] == ["check", "layer / module"]
        for r in rows:
            for cell in r[2:4]:
                if cell:
                    v = cell.replace(",", "")
                    assert v in shown or cell in shown, cell
        totals = [c for c in res["checks"] if c["scope"] == "total" and isinstance(c["analytical"], int)]
        for c in totals:
            assert f"{c['analytical']:,}" in text and f"{c['measured']:,}" in text


# ----------------------------------------------------------------------------- exit 2
def test_invalid_spec_prints_no_table(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("cnncalc: 1\ninput: [3, 32, 32]\nlayers:\n  - Conv2d: {out_channels: 8, kernel_size: 3}\n"
                 "  - Linear: {out_features: 10}\n")
    from typer.testing import CliRunner
    from cnncalc.cli.main import app
    for cmd in (("analyze",), ("analyze", "-f", "csv"), ("analyze", "-f", "markdown"), ("memory",),
                ("explain",), ("review",)):
        r = CliRunner().invoke(app, [*cmd, str(p)])
        assert r.exit_code == 2, (cmd, r.stderr)
        assert r.stdout == "", (cmd, r.stdout)
        assert "no " in r.stderr and "error" in r.stderr
    # JSON keeps the partial report, with its diagnostics
    r = run_cli("analyze", p, "-f", "json")
    assert r.returncode == 2 and json.loads(r.stdout)["diagnostics"]


# ----------------------------------------------------------------------------- long tables
@pytest.mark.slow
def test_long_table_is_linear_and_suggests_depth():
    import sys
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_analyze import generated_spec
    from cnncalc.api import analysis_for
    from cnncalc.render.table import render_json, render_table
    t = time.perf_counter()
    rep = analysis_for("gen.yaml", text=generated_spec(10000)).report()
    t_analysis = time.perf_counter() - t
    t = time.perf_counter()
    render_json(rep)
    t_json = time.perf_counter() - t
    t = time.perf_counter()
    text = render_table(rep, 80)
    t_table = time.perf_counter() - t
    # the table path (analysis + table) costs at most twice the JSON path (analysis + JSON)
    assert t_analysis + t_table <= 2 * (t_analysis + t_json), (t_analysis, t_table, t_json)
    assert re.search(r"\(10,0\d\d rows: --depth 1 or --depth 2 shows blocks", text), text[-2000:]
    _fits(text, 80)


# ----------------------------------------------------------------------------- the layout itself
def test_layout_wraps_names_never_figures():
    from cnncalc.render.layout import Col, table, wrap
    cols = [Col("layer", wrap=True, floor=6), Col("MACs", right=True)]
    rows = [["layer1.0.downsample.0", "118,013,952"]]
    # 6 + 2 + 11 = 19 columns: the name wraps after its dots, the figure stays whole
    lines = table(cols, rows, 19)
    assert lines == ["layer          MACs", "------  -----------", "layer1  118,013,952", ".0.", "downsa", "mple.0"]
    assert "".join(x[:6].strip() for x in lines[2:]) == "layer1.0.downsample.0"
    # the figures alone need 11 columns: below that the table refuses (the caller picks another form)
    assert table([Col("MACs", right=True)], [["118,013,952"]], 10) is None
    # prose: the figure and the [list] stay whole, the formula breaks before its `=`
    text = wrap("  MACs = N*C*H*W*K = 1*64*112*112*49 = 118,013,952 [6, 28, 28]", 40)
    assert text.splitlines() == ["  MACs = N*C*H*W*K = 1*64*112*112*49", "      = 118,013,952 [6, 28, 28]"]
