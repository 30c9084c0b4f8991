"""Every independent error in one run (spec-format section 9): a later node's op name and arguments
are checked even when it reads a node with an error; only its shapes, which would follow from the
first error, are not, and a note says so."""
from conftest import run_cli

FIVE = """\
cnncalc: 1
input: [3, 32, 32]
layers:
  - Conv2D: {out_channels: 16, kernel_size: 3, padding: 1}
  - Relu
  - Conv2d: {filters: 32, kernel_size: 3, padding: 1}
  - Maxpool2d: {kernel_size: 2}
  - Sequential:
      - Conv2d: {out_channels: 32, kernel_size: 3, strides: 2}
      - ReLU
  - Flatten
  - Linear: {out_features: 10}
"""


def test_five_independent_mistakes_give_five_errors(tmp_path):
    p = tmp_path / "five.yaml"
    p.write_text(FIVE)
    r = run_cli("analyze", p, "--format", "json")
    assert r.returncode == 2
    errors = [line for line in r.stderr.splitlines() if ": error: " in line]
    assert [e.split(": error: ")[0] for e in errors] == [
        f"{p}:4:5", f"{p}:5:5", f"{p}:6:23", f"{p}:7:5", f"{p}:9:61"], r.stderr   # at the value: 9:61 is `2`
    assert "unknown op `Conv2D`" in errors[0] and "unknown op `Relu`" in errors[1]
    assert "no argument `filters`" in errors[2] and "unknown op `Maxpool2d`" in errors[3]
    assert "no argument `strides`" in errors[4]
    assert "did you mean `out_channels`?" in r.stderr and "did you mean `stride`?" in r.stderr
    # the nodes after the first error were checked for names only, and the note says so
    assert f"{p}:5:5: note: `1` and the 5 nodes after it read the output of a node with an error" in r.stderr


def test_a_shape_error_is_not_repeated_downstream(tmp_path):
    # two independent shape errors in two branches; the node after the first merge is a consequence
    p = tmp_path / "branches.yaml"
    p.write_text("""\
cnncalc: 1
input: [3, 32, 32]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
    name: stem
  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
    name: a1
  - add:
    from: [a1, stem]
  - Conv2d: {out_channels: 8, kernel_size: 4}
  - Conv2d: {out_channels: 8, kernel_size: 5}
    from: stem
    name: b1
  - cat:
    from: [b1, stem]
""")
    r = run_cli("analyze", p, "--format", "json")
    assert r.returncode == 2
    errors = [line for line in r.stderr.splitlines() if ": error: " in line]
    # a1: (32 + 2 - 3)//2 + 1 = 16 against stem's 32; b1: 32 - 5 + 1 = 28 against 32
    assert len(errors) == 2 and "[8, 16, 16] and [8, 32, 32]" in errors[0] and "cat" in errors[1], r.stderr
    assert f"{p}:10:5: note: `3` reads the output of a node with an error" in r.stderr
