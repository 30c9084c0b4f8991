"""The JSON Schema of specs: generated from the registry, shipped current, accepts every shipped spec,
and rejects what cnncalc rejects (for what a schema can see: names, types, structure)."""
import json
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")

from cnncalc import schema  # noqa: E402
from cnncalc.spec.yamlload import load_yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted([*ROOT.glob("specs/*.yaml"), *ROOT.glob("examples/*.yaml"), *ROOT.glob("examples/homework/*.yaml"),
                *ROOT.glob("docs/examples/*.yaml")])
SPECS = [p for p in SPECS if not p.name.endswith("-answers.yaml")]
VALIDATOR = jsonschema.Draft7Validator(schema.generate())


def _errors(text, name="t.yaml"):
    data, *_ = load_yaml(text, name)
    return list(VALIDATOR.iter_errors(data))


def test_schema_is_a_valid_draft7_schema():
    jsonschema.Draft7Validator.check_schema(schema.generate())


def test_shipped_schema_is_current():
    assert json.loads(schema.shipped()) == schema.generate(), \
        f"cnncalc/spec.schema.json is stale: regenerate it with `{schema.REGENERATE}`"


def test_schema_command_prints_it():
    from typer.testing import CliRunner

    from cnncalc.cli.main import app
    r = CliRunner().invoke(app, ["schema"])
    assert r.exit_code == 0
    assert json.loads(r.output) == schema.generate()


def test_every_op_and_argument_is_in_the_schema():
    from cnncalc.kinds import REGISTRY
    s = schema.generate()
    forms = s["definitions"]["node"]["anyOf"]
    by_op = {f["required"][0]: f for f in forms if f.get("required")}
    for op, cls in REGISTRY.items():
        kw = by_op[op]["properties"][op]["anyOf"][0]["properties"]
        assert set(kw) == {a.name for a in cls.SIG} - {"device", "dtype"}, op


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_specs_are_valid(path):
    errs = _errors(path.read_text(encoding="utf-8"), str(path))
    assert not errs, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errs]


def test_there_are_many_shipped_specs():
    assert len(SPECS) >= 40


HEAD = "cnncalc: 1\ninput: [3, 32, 32]\n"
INVALID = {
    "unknown top-level key": HEAD + "layers:\n  - ReLU\nlayer_count: 3\n",
    "unknown argument": HEAD + "layers:\n  - Conv2d: {filters: 16, kernel_size: 3}\n",
    "YAML 1.2 `no` is not false": HEAD + "layers:\n  - Conv2d: {out_channels: 16, kernel_size: 3, bias: no}\n",
    "a string where an integer goes": HEAD + "layers:\n  - Conv2d: {out_channels: sixteen, kernel_size: 3}\n",
    "too many positional arguments": HEAD + "layers:\n  - Flatten\n  - Linear: [3072, 10, true, 1, 2, 3]\n",
    "unknown dtype": HEAD + "dtype: float8\nlayers:\n  - ReLU\n",
    "unknown expect key": HEAD + "layers:\n  - ReLU\nexpect: {parms: 10}\n",
    "unknown convention preset": HEAD + "conventions: flops\nlayers:\n  - ReLU\n",
    "unknown conventions switch": HEAD + "conventions: {flops_per_macs: 2}\nlayers:\n  - ReLU\n",
    "unknown merge": HEAD + "layers:\n  - parallel: [[ReLU], [Sigmoid]]\n    merge: concat\n",
    "positive index in from": HEAD + "layers:\n  - ReLU\n  - Sigmoid:\n    from: 0\n",
    "dotted node name": HEAD + "layers:\n  - ReLU:\n    name: a.b\n",
    "no layers": HEAD,
    "another format version": "cnncalc: 2\ninput: [3, 32, 32]\nlayers:\n  - ReLU\n",
    "unknown key in a block": HEAD + "blocks:\n  B:\n    layer: [ReLU]\nlayers:\n  - B\n",
}


@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_specs_rejected_by_schema_and_cnncalc(name):
    text = INVALID[name]
    assert _errors(text), f"the schema accepts: {name}"
    from cnncalc.errors import SpecErrors
    from cnncalc.api import analyze_path
    try:
        rep = analyze_path("t.yaml", text=text)
    except SpecErrors:
        return
    assert [d for d in rep["diagnostics"] if d["severity"] == "error"], f"cnncalc accepts: {name}"
