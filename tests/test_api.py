"""The Python API (cnncalc.analyze, memory, explain, check, verify), against figures derived by hand,
published, or measured by torch."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import cnncalc

ROOT = Path(__file__).resolve().parents[1]
RESNET50 = str(ROOT / "specs" / "resnet50.yaml")
# one 3x3 conv, 3 -> 16, padding 1, on 3x32x32: params (3*9 + 1)*16 = 448; MACs 16*32*32*27 = 442,368
TINY = {"cnncalc": 1, "name": "tiny", "input": [3, 32, 32],
        "layers": [{"Conv2d": {"out_channels": 16, "kernel_size": 3, "padding": 1}}, "ReLU"]}


def test_resnet50_spec_macs_are_torchvisions():
    # torchvision's resnet50 docs: 4.09 GFLOPS (conv + linear multiply-accumulates) = 4,089,184,256;
    # 25,557,032 parameters (sum(p.numel()) of the torch model)
    r = cnncalc.analyze(RESNET50)
    assert r.totals["macs"] == 4089184256
    assert r.totals["params"] == 25557032


@pytest.mark.parametrize("source", [TINY, json.dumps(TINY) + "\n", "yaml"], ids=["dict", "json text", "yaml text"])
def test_sources(source):
    if source == "yaml":
        source = ("cnncalc: 1\nname: tiny\ninput: [3, 32, 32]\nlayers:\n"
                  "  - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}\n  - ReLU\n")
    r = cnncalc.analyze(source)
    assert r.totals["params"] == 448
    assert r.totals["macs"] == 442368


def test_path_objects_and_missing_files(tmp_path):
    assert cnncalc.analyze(Path(RESNET50)).totals["macs"] == 4089184256
    with pytest.raises(FileNotFoundError):
        cnncalc.analyze(str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize("shape", ["3x64x64", [3, 64, 64], (3, 64, 64)])
def test_input_forms(shape):
    # 16*64*64 outputs * 27 taps = 1,769,472
    assert cnncalc.analyze(TINY, input=shape).totals["macs"] == 1769472


def test_bad_input_shape_is_a_value_error():
    with pytest.raises(ValueError):
        cnncalc.analyze(TINY, input="3xbig")
    with pytest.raises(ValueError):
        cnncalc.analyze(TINY, input=[3, 0, 4])


def test_old_entry_point_takes_a_shape_string():
    # api.analysis_for(input_shape="3x64x64") used to fail with a TypeError
    from cnncalc.api import analysis_for, analyze_path
    assert analysis_for(RESNET50, input_shape="3x64x64").totals()["params"] == 25557032
    assert analyze_path(RESNET50, input_shape=[3, 64, 64])["layers"][0]["output_shape"] == [64, 32, 32]


def test_batch_dtype_convention_sets():
    r = cnncalc.analyze(TINY, batch=4, dtype="float16", convention="paper")
    assert r.totals["macs"] == 4 * 442368
    assert r.totals["flops"] == 4 * 442368          # paper: one FLOP per MAC, nothing else
    # conv output 4*16*32*32 elements * 2 bytes
    assert r.layers[0].output_bytes == 4 * 16 * 32 * 32 * 2
    spec = "cnncalc: 1\ninput: [3, 8, 8]\nvars: {c: 4}\nlayers:\n  - Conv2d: {out_channels: $c, kernel_size: 1}\n"
    # (3 + 1) * c
    assert cnncalc.analyze(spec).totals["params"] == 16
    assert cnncalc.analyze(spec, sets={"c": 10}).totals["params"] == 40


def test_report_object():
    r = cnncalc.analyze(TINY)
    conv = r.layers[0]
    assert (conv.name, conv.op, conv.output_shape, conv.params) == ("0", "Conv2d", [16, 32, 32], 448)
    assert r.layer("1").op == "ReLU"
    with pytest.raises(KeyError):
        r.layer("2")
    with pytest.raises(AttributeError):
        conv.no_such_key
    d = r.to_dict()
    assert json.loads(r.to_json()) == d
    assert d["totals"] == r.totals and d["model"] == "tiny"
    text = str(r)
    assert "Conv2d" in text and "16x32x32" in text and "442,368" in text
    html = r._repr_html_()
    assert "<table>" in html and "<td>448</td>" in html and "tiny" in html
    assert "448 params" in repr(r)


def test_rich_printing():
    import io

    from rich.console import Console
    buf = io.StringIO()
    Console(file=buf, width=100).print(cnncalc.analyze(TINY))
    assert "16x32x32" in buf.getvalue()


def test_spec_error_carries_every_diagnostic():
    # two independent errors: an unknown top-level key and an unknown dtype, each at its position
    text = "cnncalc: 1\ninput: [3, 8, 8]\ndtype: float8\nlayerz: 1\nlayers:\n  - ReLU\n"
    with pytest.raises(cnncalc.SpecError) as e:
        cnncalc.analyze(text)
    errs = [d for d in e.value.diagnostics if d.severity == "error"]
    where = sorted(str(d.loc) for d in errs)
    assert where == ["<text>:3:8", "<text>:4:1"], [d.render() for d in errs]
    assert "float8" in str(e.value) and "layerz" in str(e.value)
    assert isinstance(e.value, ValueError)


def test_unknown_op_raises():
    # analyze_path returns a report with the error in its diagnostics; analyze raises
    with pytest.raises(cnncalc.SpecError) as e:
        cnncalc.analyze("cnncalc: 1\ninput: [3, 8, 8]\nlayers:\n  - Conv2D: {out_channels: 4, kernel_size: 1}\n")
    d = e.value.diagnostics[0]
    assert (d.loc.line, d.loc.col) == (4, 5) and "Conv2d" in d.hints[0]


def test_memory():
    m = cnncalc.memory(RESNET50, batch=2, optimizer="sgd")
    # float32 weights: 25,557,032 params + 53,173 BN buffers (2*C + 1 per BN), 4 bytes each
    assert m["params"] == 25557032
    assert m["weights"] == (25557032 + 53173) * 4
    assert m["gradients"] == 25557032 * 4
    assert m["optimizer"] == 0     # plain SGD keeps no state
    assert cnncalc.memory(cnncalc.analyze(RESNET50))["params"] == 25557032


def test_explain():
    text = cnncalc.explain(cnncalc.analyze(RESNET50), "conv1")
    # conv1: 7x7 stride 2 padding 3 on 224: floor((224 + 6 - 6 - 1)/2) + 1 = 112; params 64*3*49 = 9,408
    assert "= 112" in text and "9,408" in text
    with pytest.raises(KeyError):
        cnncalc.explain(cnncalc.analyze(RESNET50), "conv9")


def test_check():
    c = cnncalc.check(str(ROOT / "examples/homework/lenet.yaml"),
                      str(ROOT / "examples/homework/lenet-answers.yaml"))
    # the student wrote 150 for conv1's params (bias forgotten: 6*25 = 150, the answer 6*26 = 156)
    wrong = {(x["node"], x["key"]): x for x in c["checks"] if x["verdict"] == "wrong"}
    assert ("conv1", "params") in wrong
    assert c["summary"]["answers"] == c["summary"]["correct"] + c["summary"]["wrong"]


def test_check_and_verify_stay_functions_once_every_package_is_imported():
    # the homework checker and the cross-check live in packages of other names, so importing them
    # never hides the API's functions
    import cnncalc.crosscheck.checks  # noqa: F401
    import cnncalc.homework.checker  # noqa: F401
    from cnncalc import api
    assert cnncalc.check is api.check and cnncalc.verify is api.verify


def test_version():
    import tomllib
    want = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert cnncalc.__version__ == want


def test_import_is_light():
    code = ("import sys, cnncalc; heavy = [m for m in ('torch', 'rich', 'yaml', 'typer', 'matplotlib') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}).stdout.strip()
    assert out == "[]"
    code = "import sys, cnncalc; cnncalc.analyze('specs/lenet.yaml'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}).stdout.strip()
    assert out == "False"


def test_missing_torch_says_what_to_install(monkeypatch):
    from typer.testing import CliRunner

    from cnncalc import needs
    from cnncalc.cli.main import app
    monkeypatch.setattr(needs, "missing", lambda *mods: [m for m in mods if m in ("torch", "torchvision")])
    with pytest.raises(needs.MissingDependency, match=r"pip install 'cnncalc\[torch\]'"):
        cnncalc.verify(RESNET50)
    with pytest.raises(cnncalc.SpecError, match=r"pip install 'cnncalc\[torch\]'"):
        cnncalc.analyze("torchvision.models:resnet18", input="3x224x224")
    for args in (["verify", "specs/lenet.yaml"], ["analyze", "specs/lenet.yaml", "--verify"],
                 ["analyze", "torchvision.models:resnet18", "--input", "3x224x224"],
                 ["export", "torchvision.models:resnet18", "--input", "3x224x224"]):
        monkeypatch.chdir(ROOT)
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert "pip install 'cnncalc[torch]'" in r.output, (args, r.output)
        assert "Traceback" not in r.output


@pytest.mark.slow
def test_module_input_and_verify():
    torchvision = pytest.importorskip("torchvision")
    r = cnncalc.analyze(torchvision.models.resnet50(), input=(3, 224, 224))
    assert r.totals["macs"] == 4089184256
    assert r.totals["params"] == 25557032
    v = cnncalc.verify(str(ROOT / "specs/lenet.yaml"))
    assert v["summary"]["mismatch"] == 0 and v["summary"]["match"] > 0
