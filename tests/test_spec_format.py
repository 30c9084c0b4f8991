"""Spec-format constructs (spec-format.md), each checked against hand-derived numbers."""
import pytest

from conftest import analyse_text


def rep(text, **kw):
    a = analyse_text(text, **kw)
    return a.report()


def errors(text):
    from cnncalc.errors import SpecErrors
    try:
        r = rep(text)
    except SpecErrors as e:
        return [d.render() for d in e.diagnostics]
    return [d["location"] + ": " + d["message"] + " " + " ".join(d["hints"]) for d in r["diagnostics"]
            if d["severity"] == "error"]


def test_yaml12_numbers_and_booleans():
    r = rep("cnncalc: 1\ninput: [4, 8, 8]\nlayers:\n  - BatchNorm2d: {eps: 1e-5}\n")
    assert r["layers"][0]["params"] == 8
    e = errors("cnncalc: 1\ninput: [4, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3, bias: no}\n")
    assert any("bias` must be true or false" in x for x in e)


def test_repeat_first_and_names():
    text = """cnncalc: 1
input: [8, 32, 32]
blocks:
  B:
    params: {stride: 1}
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3, stride: $stride, padding: 1, bias: false}
        name: conv
layers:
  - B:
    repeat: {n: 3, first: {stride: 2}}
    name: stage
    expect: {output: [8, 16, 16], params: 1728}
"""
    r = rep(text)
    assert [L["name"] for L in r["layers"]] == ["stage.0.conv", "stage.1.conv", "stage.2.conv"]
    # 3 convs of 8*8*9 = 576 params each = 1,728; copy 0 has stride 2: 32 -> 16
    assert r["expect"][0]["verdict"] == "pass" and r["expect"][1]["verdict"] == "pass"


def test_parallel_merges_and_branch_names():
    text = """cnncalc: 1
input: [4, 8, 8]
layers:
  - parallel:
      a: ['Conv2d(4, 2, 1)']
      b: ['Conv2d(4, 3, 3, padding=1)']
    merge: cat
    name: p
  - parallel: [[ReLU], [Sigmoid]]
    merge: add
    name: q
"""
    r = rep(text)
    names = [L["name"] for L in r["layers"]]
    assert names == ["p.a.0", "p.b.0", "p", "q.0.0", "q.1.0", "q"]
    assert r["layers"][2]["output_shape"] == [5, 8, 8]
    assert r["layers"][-1]["output_shape"] == [5, 8, 8]
    # add of two 5x8x8 tensors: 320 adds
    assert r["layers"][-1]["flops"] == 320


def test_parallel_none_outputs_and_name_k():
    text = """cnncalc: 1
input: [4, 8, 8]
layers:
  - parallel: [['Conv2d(4, 2, 1)'], ['Conv2d(4, 6, 1)']]
    merge: none
    name: p
  - mul:
    from: [p:0, p:0]
  - Conv2d: {out_channels: 1, kernel_size: 1}
    from: p:1
"""
    r = rep(text)
    assert r["layers"][-1]["params"] == 6 + 1
    assert r["layers"][-2]["output_shape"] == [2, 8, 8]


def test_several_inputs_and_outputs_and_negative_from():
    text = """cnncalc: 1
inputs: {a: [3, 8, 8], b: [3, 8, 8]}
layers:
  - Conv2d(3, 4, 3, padding=1)
    \n""".replace("\n    \n", "\n")
    text = """cnncalc: 1
inputs: {a: [3, 8, 8], b: [3, 8, 8]}
layers:
  - Conv2d(3, 4, 3, padding=1)
  - Conv2d: [3, 4, 3, 1, 1]
    from: b
    name: cb
  - add:
    from: [-2, cb]
    name: s
  - Flatten:
    name: f
outputs: [s, f]
"""
    r = rep(text)
    assert r["inputs"] == {"a": [3, 8, 8], "b": [3, 8, 8]}
    assert r["outputs"] == ["s", "f"]
    assert r["layers"][2]["inputs"] == ["0", "cb"]


def test_block_several_inputs_outputs_and_required_param():
    text = """cnncalc: 1
input: [4, 8, 8]
blocks:
  Two:
    params: {c: required}
    inputs: [x, y]
    layers:
      - Conv2d: {out_channels: $c, kernel_size: 1}
        from: x
        name: cx
      - Conv2d: {out_channels: $c, kernel_size: 1}
        from: y
        name: cy
    outputs: [cx, cy]
layers:
  - ReLU:
    name: r
  - Two: {c: 2}
    from: [input, r]
    name: t
  - add:
    from: [t:0, t:1]
"""
    r = rep(text)
    assert r["layers"][-1]["output_shape"] == [2, 8, 8]
    assert r["totals"]["params"] == 2 * (4 * 2 + 2)
    e = errors(text.replace("Two: {c: 2}", "Two: {d: 2}"))
    assert any("no parameter `d`" in x for x in e)


def test_expressions_and_make_divisible():
    text = """cnncalc: 1
input: [3, 8, 8]
vars: {w: 0.75}
layers:
  - Conv2d: {out_channels: '${make_divisible(32 * w)}', kernel_size: 1}
  - Conv2d: {out_channels: '${input.c * 2 if input.h == 8 else 1}', kernel_size: 1}
"""
    r = rep(text)
    # make_divisible(24, 8) = 24; input.c = 3 (the network input) -> 6
    assert r["layers"][0]["output_shape"] == [24, 8, 8]
    assert r["layers"][1]["output_shape"] == [6, 8, 8]
    e = errors(text.replace("'${make_divisible(32 * w)}'", "'${__import__(\"os\")}'"))
    assert e


def test_unquoted_expression_in_flow_gets_hint():
    e = errors("cnncalc: 1\ninput: [3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: ${2 * 2}, kernel_size: 1}\n")
    assert any("quoted" in x for x in e), e


def test_expect_precision_and_units():
    text = "cnncalc: 1\ninput: [1, 28, 28]\nlayers:\n  - Conv2d(1, 6, 5, padding=2)\nexpect: {params: %s}\n"
    assert rep(text % "156")["expect"][0]["verdict"] == "pass"
    assert rep(text % "0.16K")["expect"][0]["verdict"] == "pass"      # 156 rounds to 0.16K
    assert rep(text % "0.15K")["expect"][0]["verdict"] == "fail"
    mem = "cnncalc: 1\ninput: [1, 28, 28]\nlayers:\n  - Conv2d(1, 6, 5, padding=2):\n    expect: {memory: %s}\n"
    # 6*28*28*4 bytes = 18,816 = 18.375 KiB
    assert rep(mem % "18.4KiB")["expect"][0]["verdict"] == "pass"
    assert rep(mem % "18.8KB")["expect"][0]["verdict"] == "pass"
    assert rep(mem % "18.4KB")["expect"][0]["verdict"] == "fail"
    d2l = "cnncalc: 1\ninput: [1, 28, 28]\nlayers:\n  - Conv2d(1, 6, 5, padding=2):\n    expect: {output: [1, 6, 28, 28]}\n"
    assert rep(d2l)["expect"][0]["verdict"] == "pass"


def test_unknown_expect_key_and_foreign_names():
    e = errors("cnncalc: 1\ninput: [3, 8, 8]\nlayers:\n  - ReLU\nexpect: {param: 1}\n")
    assert any("unknown expect key `param`" in x and "params" in x for x in e)
    e = errors("cnncalc: 1\ninput: [3, 8, 8]\nlayers:\n  - Conv2d: {filters: 4, kernel_size: 3}\n")
    assert any("out_channels" in x for x in e), e
    e = errors("cnncalc: 1\ninput: [3, 8, 8]\nlayers:\n  - Dense: 4\n")
    assert any("Linear" in x for x in e), e


def test_errors_are_collected():
    text = ("cnncalc: 1\ninput: [3, 8, 8]\nlayers:\n  - Conv2D: [4, 3]\n  - ReLU\n  - Conv2d: {out_channels: 4, "
            "kernal_size: 3}\n    from: input\n")
    e = errors(text)
    assert len(e) == 2, e


def test_share_block_instance():
    text = """cnncalc: 1
inputs: {a: [3, 8, 8], b: [3, 8, 8]}
blocks:
  T:
    layers: ['Conv2d(3, 4, 3)', ReLU]
layers:
  - T:
    from: a
    name: ta
  - share: ta
    from: b
    name: tb
  - add:
    from: [ta, tb]
"""
    r = rep(text)
    # one conv: 4*(27)+4 = 112 params counted once; MACs 4*6*6*27 = 3,888 twice
    assert r["totals"]["params"] == 112
    assert r["totals"]["macs"] == 2 * 3888
    e = errors(text.replace("b: [3, 8, 8]", "b: [1, 8, 8]"))
    assert e and "share" in e[0]


def test_recursion_is_an_error():
    text = "cnncalc: 1\ninput: [3, 8, 8]\nblocks:\n  R:\n    layers: [R]\nlayers: [R]\n"
    e = errors(text)
    assert any("calls itself" in x for x in e)


def test_add_shape_error_names_inputs_and_why():
    # a: 3x3 conv without padding: 8 -> (8 - 3)//1 + 1 = 6; b keeps 8 with padding 1
    text = ("cnncalc: 1\ninput: [3, 8, 8]\nlayers:\n  - Conv2d: [3, 4, 3]\n    name: a\n"
            "  - Conv2d: [3, 4, 3, 1, 1]\n    from: input\n    name: b\n  - add:\n    from: [a, b]\n")
    e = errors(text)
    assert len(e) == 1 and e[0].startswith("test.yaml:9:5")
    assert "a [4, 6, 6], b [4, 8, 8]" in e[0] and "shrinks 8x8 -> 6x6; padding=1 keeps 8x8" in e[0]


def test_node_names_may_be_written_in_any_script(tmp_path):
    # a course taught in Chinese names its layers in Chinese: 卷积1 is a valid name; a dot is not
    from cnncalc.pipeline import analysis_for
    text = ("cnncalc: 1\nname: 卷积网络\ninput: [3, 8, 8]\nlayers:\n"
            "  - Conv2d: {out_channels: 4, kernel_size: 3}\n    name: 卷积1\n"
            "  - ReLU:\n    name: 激活-1\n")
    a = analysis_for(tmp_path / "zh.yaml", text=text)
    assert not a.has_errors
    rep = a.report()
    names = [L["name"] for L in rep["layers"]]
    assert names == ["卷积1", "激活-1"]
    # 4 * (3*3*3 + 1) = 112 parameters, output 4 x 6 x 6
    assert rep["totals"]["params"] == 112 and rep["layers"][0]["output_shape"] == [4, 6, 6]
    bad = analysis_for(tmp_path / "dot.yaml", text=text.replace("激活-1", "激活.1"))
    assert bad.has_errors and "not a valid node name" in bad.diagnostics[0].message
