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


KERAS = """\
cnncalc: 1
input: [3, 32, 32]
layers:
  - Conv2d: {filters: 32, kernel_size: 3, padding: same}
  - Conv2d: {out_channels: 32, kernel_size: 3, strides: 2}
  - Conv2d: {out_channels: 64, kernel_size: 3, stride: 2, padding: same}
  - Flatten
  - Dense: {units: 10}
"""


def _col(text, line, word):
    return text.splitlines()[line - 1].index(word) + 1


def test_a_keras_style_spec_gives_its_four_errors_in_one_run(tmp_path):
    # (each at the offending value) `filters`, `strides`, padding='same' with a stride (torch refuses it whatever the input: checked
    # even on a node whose input has an error), and `Dense`
    p = tmp_path / "keras.yaml"
    p.write_text(KERAS)
    r = run_cli("analyze", p)
    assert r.returncode == 2 and r.stdout == ""
    errors = [line for line in r.stderr.splitlines() if ": error: " in line]
    assert [e.split(": error: ")[0] for e in errors] == [
        f"{p}:4:{_col(KERAS, 4, '32,')}", f"{p}:5:{_col(KERAS, 5, '2}')}",
        f"{p}:6:{_col(KERAS, 6, 'same')}", f"{p}:8:5"], r.stderr
    assert "no argument `filters`" in errors[0] and "no argument `strides`" in errors[1]
    assert "padding='same' is not supported for strided convolutions" in errors[2]
    assert "unknown op `Dense`" in errors[3]
    assert "the spec has 4 errors" in r.stderr


BLOCKS = """\
cnncalc: 1
input: [3, 32, 32]
blocks:
  bad:
    inputs: [x]
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3, strides: 1}
        from: x
        name: a
      - Conv2d: {out_channels: 8, kernel_size: 40}
        from: x
        name: b
      - add:
        from: [a, b]
      - Relu
  good:
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 33}
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
    name: stem
  - bad
  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: same}
  - good:
    from: stem
  - ReLU
  - Linear: {out_feature: 10}
"""


def test_errors_after_a_broken_node_inside_blocks(tmp_path):
    # inside `bad`: `a` has a bad argument; `b` reads the block's input, not `a`, so its own shape error
    # (kernel 40 > 32) is found; `add` and `Relu` follow from `a`: the op-name typo `Relu` is still found,
    # their shapes are not checked.  After the block: the conv reading it keeps its argument error;
    # `good` reads `stem`, so its shape error (33 > 32) is its own; ReLU and Linear follow from `good`.
    p = tmp_path / "blocks.yaml"
    p.write_text(BLOCKS)
    r = run_cli("analyze", p, "--format", "json")
    assert r.returncode == 2
    errors = [line for line in r.stderr.splitlines() if ": error: " in line]
    where = [e.split(": error: ")[0] for e in errors]
    assert where == [f"{p}:7:{_col(BLOCKS, 7, '1}')}", f"{p}:10:{_col(BLOCKS, 10, '40')}", f"{p}:15:9",
                     f"{p}:23:{_col(BLOCKS, 23, 'same')}", f"{p}:18:{_col(BLOCKS, 18, '33')}",
                     f"{p}:27:{_col(BLOCKS, 27, '10}')}"], r.stderr
    assert "no argument `strides`" in errors[0]
    assert "the kernel spans 40" in errors[1] and "unknown op `Relu`" in errors[2]
    assert "padding='same'" in errors[3] and "the kernel spans 33" in errors[4]
    assert "no argument `out_feature`" in errors[5]
    notes = [line for line in r.stderr.splitlines() if ": note: " in line]
    # the consequences say so: inside the block (`add` and `Relu`), after it (the conv), after `good`
    assert any(f"{p}:13:9: note: `1.2` and the node after it read the output of a node with an error" in n
               for n in notes), r.stderr
    assert any("`2` reads the output of a node with an error" in n for n in notes), r.stderr
    assert any("`4` and the node after it read the output of a node with an error" in n for n in notes), r.stderr


def test_argument_values_are_checked_after_a_failed_node(tmp_path):
    # after the first node's typo, each later convolution's arguments are wrong whatever its input:
    # 16 % 3 != 0; a zero kernel; no output channels; 9 % 2 != 0 (in_channels given)
    p = tmp_path / "values.yaml"
    p.write_text("cnncalc: 1\ninput: [3, 32, 32]\nlayers:\n"
                 "  - Conv2d: {out_channel: 16, kernel_size: 3}\n"
                 "  - Conv2d: {out_channels: 16, kernel_size: 3, groups: 3}\n"
                 "  - Conv2d: {out_channels: 16, kernel_size: 0}\n"
                 "  - ConvTranspose2d: {out_channels: 0, kernel_size: 2}\n"
                 "  - Conv2d: {in_channels: 9, out_channels: 16, kernel_size: 3, groups: 2}\n")
    r = run_cli("analyze", p)
    errors = [line.split(": error: ")[1] for line in r.stderr.splitlines() if ": error: " in line]
    assert r.returncode == 2 and len(errors) == 5, r.stderr
    assert "no argument `out_channel`" in errors[0]
    assert errors[1:] == ["Conv2d '1': groups=3 must divide out_channels=16",
                          "Conv2d '2': kernel_size, stride and dilation must be positive",
                          "ConvTranspose2d '3': `out_channels` must be positive",
                          "Conv2d '4': groups=2 must divide in_channels=9 and out_channels=16"]


def test_pooling_argument_values_are_checked_after_a_failed_node(tmp_path):
    # torch refuses padding 2 > 2/2 and a zero stride whatever the input; the last two pools are fine
    p = tmp_path / "pools.yaml"
    p.write_text("cnncalc: 1\ninput: [3, 32, 32]\nlayers:\n"
                 "  - Conv2d: {out_channel: 16, kernel_size: 3}\n"
                 "  - MaxPool2d: {kernel_size: 2, padding: 2}\n"
                 "  - AvgPool2d: {kernel_size: 3, stride: 0}\n"
                 "  - MaxPool2d: 2\n"
                 "  - LPPool2d: {norm_type: 2, kernel_size: 2}\n")
    r = run_cli("analyze", p)
    errors = [line.split(": error: ")[1] for line in r.stderr.splitlines() if ": error: " in line]
    assert r.returncode == 2 and len(errors) == 3, r.stderr
    assert errors[1:] == ["MaxPool2d '1': padding (2) must be at most half the kernel size (2), as torch requires",
                          "AvgPool2d '2': `stride` must be positive, got [0, 0] (as in torch)"]
