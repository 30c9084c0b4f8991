"""Any op with any arguments on any input: a located error or a result, never a traceback.

Random call strings (every registered op, random positional and keyword values of the wrong types
and sizes, random input shapes) go through the whole analysis and report.  A kind that lets a
TypeError, ZeroDivisionError or IndexError escape fails this test."""
from hypothesis import HealthCheck, given, settings, strategies as st

from cnncalc.api import analysis_for
from cnncalc.errors import SpecErrors
from cnncalc.kinds import REGISTRY

OPS = sorted(REGISTRY)
ATOMS = st.one_of(st.integers(-3, 9), st.sampled_from([0.5, 1e-5, -1.0, 2.0]), st.booleans(),
                  st.sampled_from(["'same'", "'valid'", "'nearest'", "'bilinear'", "'zeros'", "None", "'x'"]),
                  st.lists(st.integers(-1, 5), min_size=0, max_size=4).map(lambda v: str(v)))


@st.composite
def call(draw):
    op = draw(st.sampled_from(OPS))
    cls = REGISTRY[op]
    names = [a.name for a in cls.SIG if a.name not in ("device", "dtype")]
    pos = draw(st.lists(ATOMS, max_size=4))
    kw = {}
    if names:
        for n in draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
            kw[n] = draw(ATOMS)
    args = [str(p) for p in pos] + [f"{k}={v}" for k, v in kw.items()]
    return f"{op}({', '.join(args)})"


SHAPES = st.lists(st.integers(1, 12), min_size=1, max_size=4)


@settings(max_examples=int(__import__("os").environ.get("CNNCALC_FUZZ", "400")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call(), SHAPES, st.integers(1, 3))
def test_any_call_gives_a_result_or_a_located_error(node, shape, batch):
    text = f"cnncalc: 1\ninput: {shape}\nlayers:\n  - \"{node}\"\n"
    try:
        a = analysis_for("fuzz.yaml", text=text, batch=batch)
        rep = a.report()
    except SpecErrors as e:
        assert all(d.loc is not None for d in e.diagnostics)
        return
    for d in rep["diagnostics"]:
        if d["severity"] == "error":
            assert d["location"] and d["location"].startswith("fuzz.yaml:")
