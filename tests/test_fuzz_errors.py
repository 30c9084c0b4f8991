"""No input, however malformed, produces a traceback: a few hundred mutated specs."""
import random

from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import EXAMPLES
from cnncalc.errors import SpecErrors
from cnncalc.api import analysis_for

SOURCES = [p.read_text() for p in sorted(EXAMPLES.glob("*.yaml"))]
TOKENS = ["", " ", ":", "-", "[", "]", "{", "}", "${", "}", "$x", "0", "-1", "1e9", "no", "null", "'", '"', "\n",
          "  ", "Conv2d", "from: nope", "repeat: 0", "share: x", "when: 1", "expect: {macs: 1}", "name: input",
          "kernel_size", "groups: 7", "stride: 0", "padding: same", "cat", "parallel:", "Linear: 0", "dim: 0"]


@st.composite
def mutated(draw):
    text = draw(st.sampled_from(SOURCES))
    rnd = random.Random(draw(st.integers(0, 2**32)))
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = rnd.randrange(len(lines))
        op = rnd.choice(["delete", "dup", "insert", "replace", "truncate"])
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "insert":
            j = rnd.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:j] + rnd.choice(TOKENS) + lines[i][j:]
        elif op == "replace":
            words = lines[i].split(" ")
            k = rnd.randrange(len(words))
            words[k] = rnd.choice(TOKENS)
            lines[i] = " ".join(words)
        else:
            lines[i] = lines[i][: rnd.randrange(len(lines[i]) + 1)]
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_specs_never_crash(text):
    try:
        a = analysis_for("fuzz.yaml", text=text)
        a.report()
    except SpecErrors as e:
        assert e.diagnostics and all(d.severity == "error" for d in e.diagnostics)
