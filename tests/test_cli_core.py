"""The analyze command as a user meets it: JSON schema, formats, options, no torch, no tracebacks."""
import csv
import io
import json
import subprocess
import sys

from conftest import EXAMPLES, ROOT, run_cli

REQUIRED_TOTALS = ("params", "trainable_params", "buffers", "macs", "flops", "activation_bytes")
REQUIRED_LAYER = ("name", "op", "inputs", "output_shape", "params", "macs", "flops", "output_bytes")


def test_json_schema():
    r = run_cli("analyze", EXAMPLES / "lenet.yaml", "--format", "json", "--batch", "4")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    for k in ("schema_version", "model", "inputs", "batch", "dtype", "conventions", "totals", "layers", "expect",
              "diagnostics"):
        assert k in rep
    assert rep["schema_version"] == 1 and rep["model"] == "LeNet-5" and rep["batch"] == 4
    assert rep["inputs"] == {"input": [1, 28, 28]}
    for k in REQUIRED_TOTALS:
        assert k in rep["totals"]
    for L in rep["layers"]:
        for k in REQUIRED_LAYER:
            assert k in L
    # first conv output at batch 4: 4*6*28*28 floats * 4 bytes = 75,264
    assert rep["layers"][0]["output_bytes"] == 4 * 6 * 28 * 28 * 4
    assert rep["totals"]["macs"] == 4 * 416520
    assert all(e["verdict"] == "pass" for e in rep["expect"])


def test_input_override_and_dtype():
    r = run_cli("analyze", EXAMPLES / "resnet18.yaml", "--input", "3x112x112", "--dtype", "float16", "--format",
                "json")
    rep = json.loads(r.stdout)
    assert rep["inputs"]["input"] == [3, 112, 112]
    fc = rep["layers"][-1]
    assert fc["output_bytes"] == 1000 * 2
    # expects written for 224 no longer hold: skipped, naming the input they assume, and exit 0
    assert r.returncode == 0
    assert {e["message"] for e in rep["expect"] if e["verdict"] == "skipped"} == {
        "expected for input [3, 224, 224], dtype float32; analysed at [3, 112, 112], dtype float16"}


def test_set_variable(tmp_path):
    p = tmp_path / "v.yaml"
    p.write_text("cnncalc: 1\ninput: [3, 8, 8]\nvars: {c: 4}\nlayers:\n  - Conv2d: {out_channels: $c, kernel_size: 1}\n")
    rep = json.loads(run_cli("analyze", p, "--set", "c=10", "--format", "json").stdout)
    assert rep["layers"][0]["output_shape"] == [10, 8, 8]
    assert rep["totals"]["params"] == 10 * 3 + 10


def test_csv_and_markdown_and_output(tmp_path):
    r = run_cli("analyze", EXAMPLES / "lenet.yaml", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows[0]["name"] == "0" and int(rows[0]["params"]) == 156
    md = run_cli("analyze", EXAMPLES / "lenet.yaml", "--format", "markdown").stdout
    assert "| layer | op |" in md and "61,706" in md
    out = tmp_path / "t.txt"
    r = run_cli("analyze", EXAMPLES / "resnet18.yaml", "--output", out)
    assert r.returncode == 0 and "11,689,512" in out.read_text()


def test_depth_collapses_blocks():
    rep = json.loads(run_cli("analyze", EXAMPLES / "resnet18.yaml", "--format", "json").stdout)
    r = run_cli("analyze", EXAMPLES / "resnet18.yaml", "--depth", "1", "--format", "csv")
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(r.stdout))}
    assert set(rows) >= {"layer1", "layer2", "layer3", "layer4", "fc"}
    # layer1 params from the spec's own expect (= torchvision's layer1): 147,968
    assert int(rows["layer1"]["params"]) == 147968
    assert sum(int(x["macs"]) for x in rows.values()) == rep["totals"]["macs"]


def test_table_fits_100_columns():
    r = run_cli("analyze", EXAMPLES / "resnet18.yaml")
    assert r.returncode == 0
    assert max(len(l) for l in r.stdout.splitlines()) <= 100


def test_analyze_never_imports_torch():
    code = ("import sys\nfrom cnncalc.cli.main import app\n"
            "try:\n    app(['analyze', %r, '--format', 'json'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\nprint('ok')\n") % str(EXAMPLES / "resnet18.yaml")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr


def test_missing_file_and_bad_option():
    r = run_cli("analyze", "no/such/spec.yaml")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "no such file" in r.stderr
    r = run_cli("analyze", EXAMPLES / "lenet.yaml", "--input", "3xfoo")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_python_m_and_version_warning(tmp_path):
    p = tmp_path / "nov.yaml"
    p.write_text("input: [3, 8, 8]\nlayers: [ReLU]\n")
    r = run_cli("analyze", p)
    assert r.returncode == 0 and "cnncalc: 1" in r.stderr
    p.write_text("cnncalc: 2\ninput: [3, 8, 8]\nlayers: [ReLU]\n")
    assert run_cli("analyze", p).returncode == 2


def test_hints_name_the_true_cause(tmp_path):
    # a stride, not the kernel and padding, halves 32x32 to 16x16: (32 + 2*1 - 3)//2 + 1 = 16
    p = tmp_path / "stride.yaml"
    p.write_text("cnncalc: 1\ninput: [3, 32, 32]\nlayers:\n"
                 "  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}\n    name: a\n"
                 "  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1}\n    name: b\n"
                 "  - add:\n    from: [a, b]\n")
    r = run_cli("analyze", str(p))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "stride=2" in r.stderr and "32x32 -> 16x16" in r.stderr and "padding=1) shrinks" not in r.stderr
    # without the stride, a 5x5 kernel with padding 1 shrinks 32 -> 32 + 2 - 5 + 1 = 30; padding 2 keeps 32
    p.write_text(p.read_text().replace("kernel_size: 3, stride: 2, padding: 1", "kernel_size: 5, padding: 1"))
    r = run_cli("analyze", str(p))
    assert "(kernel_size=5, padding=1) shrinks 32x32 -> 30x30; padding=2 keeps 32x32" in r.stderr
    # a leading 1 looks like a batch; a shape without channels is not a Conv1d input
    r = run_cli("analyze", str(ROOT / "specs" / "resnet18.yaml"), "-i", "1x3x224x224")
    assert r.returncode == 2 and "includes the batch" in r.stderr and "write 3x224x224" in r.stderr
    assert "Conv3d" not in r.stderr
    r = run_cli("analyze", str(ROOT / "specs" / "resnet18.yaml"), "-i", "299x299")
    assert r.returncode == 2 and "no channel dimension" in r.stderr and "Conv1d" not in r.stderr
