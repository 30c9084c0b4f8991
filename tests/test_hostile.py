"""Hostile and careless input: every bad input fails fast, located, bounded, and nothing nonsensical passes.

A corpus is generated here (no large files in the repository), one case per attack or mistake,
grouped in the classes of the issue: resource bounds, arithmetic faults in expressions, YAML
features, unreadable files, other former tracebacks, nonsense that torch refuses, terminal
injection and code execution.  Each case runs the CLI in a subprocess, as a user would, under a
10-second timeout and a 1 GiB address-space limit, and must: exit with code 2, print no Python
traceback, name the `file:line:col` where the input has one, and answer in a few seconds (the
bounds answer at once; the margin is for a busy machine's interpreter start-up).

The expression evaluator and the YAML reader are also fuzzed in-process with hypothesis.
"""
from __future__ import annotations

import codecs
import os
import re
import resource
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import ROOT, SPECS

LIMIT_AS = 1 << 30
TIMEOUT = 10
SLOW_ANSWER = 8.0          # seconds: interpreter start-up on a loaded machine included

HEAD = "cnncalc: 1\ninput: [3, 16, 16]\n"


def spec(body: str, head: str = HEAD) -> str:
    return head + body


def layer(node: str) -> str:
    return spec("layers:\n" + node)


def bomb(levels: int, width: int, where: str) -> str:
    lines = ["cnncalc: 1", "input: [3, 16, 16]", "vars:", "  a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, levels + 1):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    if where == "layers":
        lines += ["layers:", f"  - ReLU: *a{levels}"]
    else:
        lines += ["layers:", "  - ReLU"]
    return "\n".join(lines) + "\n"


def _expr(e: str) -> str:
    """A spec whose Conv2d takes out_channels from the expression (quoted as YAML needs)."""
    q = e.replace("'", "''")
    return layer(f"  - Conv2d: {{out_channels: '${{{q}}}', kernel_size: 3}}\n")


def _var(e: str) -> str:
    """The expression in a var that nothing uses: it is still evaluated, and must be bounded."""
    q = e.replace("'", "''")
    return spec(f"vars:\n  unused: '${{{q}}}'\nlayers:\n  - ReLU\n")


# --------------------------------------------------------------------------- the corpus
# (case id, class, file contents or None, extra argv, location expected)
def corpus():
    C = []

    def add(cid, cls, text, args=(), loc=True, cmd="analyze"):
        C.append((cid, cls, text, tuple(args), loc, cmd))

    # 1. resource bounds
    for n in (10**6, 10**9, 10**18):
        add(f"repeat-{n}", "bounds", layer(f"  - ReLU:\n    repeat: {n}\n"))
    add("repeat-expr", "bounds", layer("  - ReLU:\n    repeat: '${10**12}'\n"))
    nested = ("blocks:\n  B1:\n    layers:\n      - ReLU:\n        repeat: 1000\n"
              "  B2:\n    layers:\n      - B1:\n        repeat: 1000\n"
              "layers:\n  - B2:\n    repeat: 1000\n")
    add("nested-repeats", "bounds", spec(nested))
    for e in ("9**9**9", "10**10**10", "2**(2**40)", "(10**1000)**1000", "7**77777", "2**-100000",
              "10**100000 // 3", "(2**4000) * (2**4000)", "1.5 ** 100000"):
        add(f"expr-big-{e}", "bounds", _var(e))
        add(f"expr-big-used-{e}", "bounds", _expr(e))
    add("expr-set-bomb", "bounds", spec("vars: {c: 4}\nlayers:\n  - Conv2d: {out_channels: $c, kernel_size: 3}\n"),
        ["--set", "c=${9**9**9}"])
    for e in ("'a' * 10**10", "[1] * 10**9", "[0] * 100000", "'ab' * 6000", "[[1] * 1000] * 1000"):
        add(f"expr-repeat-{e}", "bounds", _var(e))
    add("expr-long", "bounds", _var("1 + " * 3000 + "1"))
    add("expr-unary-minus", "bounds", _var("-" * 100000 + "1"))
    add("expr-parens", "bounds", _var("(" * 500 + "1" + ")" * 500))
    add("expr-nested-lists", "bounds", _var("[" * 150 + "1" + "]" * 150))
    for lv, w in ((9, 10), (20, 2), (5, 100)):
        add(f"alias-bomb-vars-{lv}x{w}", "bounds", bomb(lv, w, "vars"))
        add(f"alias-bomb-layers-{lv}x{w}", "bounds", bomb(lv, w, "layers"))
    add("yaml-recursive-alias", "bounds", spec("vars:\n  a: &a [1, *a]\nlayers:\n  - ReLU\n"))
    add("big-file", "bounds", spec("vars:\n  pad: '" + "x" * (2 * 1024 * 1024) + "'\nlayers:\n  - ReLU\n"))
    add("many-values", "bounds", spec("vars:\n  a: [" + "1," * 400000 + "1]\nlayers:\n  - ReLU\n"))
    add("many-layers", "bounds", spec("layers:\n" + "  - ReLU\n" * 60000))
    add("deep-yaml", "bounds", spec("vars:\n  a: " + "[" * 20000 + "]" * 20000 + "\nlayers:\n  - ReLU\n"))
    add("huge-int-literal", "bounds", layer("  - Conv2d: {out_channels: " + "9" * 5000 + ", kernel_size: 3}\n"))
    add("huge-channels", "bounds", layer("  - Conv2d: {out_channels: '${10**100}', kernel_size: 3}\n"))
    add("huge-input", "bounds", "cnncalc: 1\ninput: [3, 100000000000, 100000000000]\nlayers:\n  - ReLU\n")
    add("huge-elements", "bounds", "cnncalc: 1\ninput: [3000000, 3000000, 3000000]\nlayers:\n  - ReLU\n")
    add("split-into-ones", "bounds", "cnncalc: 1\ninput: [1000000000]\nlayers:\n  - split: {split_size_or_sections: 1, "
                                     "dim: 1}\n")
    add("chunk-many", "bounds", "cnncalc: 1\ninput: [1000000000]\nlayers:\n  - chunk: {chunks: 1000000000, dim: 1}\n")
    add("upsample-huge", "bounds", layer("  - Upsample: {scale_factor: 1000000000}\n"))
    add("batch-huge", "bounds", layer("  - ReLU\n"), ["--batch", str(10**15)])
    add("sweep-20000", "bounds", layer("  - ReLU\n"), ["--batch", ",".join(str(i) for i in range(1, 20001))],
        loc=False, cmd="memory")

    # 2. arithmetic faults in expressions
    for e in ("int(1e400)", "2.0 ** 10000", "'a' < 1", "5.0 / 0", "5 / 0", "5 // 0", "5 % 0", "0 ** -1",
              "0.0 ** -1", "int('x')", "max()", "min([])", "round(1e308 * 10)", "floor(1e400)", "ceil(-1e400)",
              "int(float('nan'))", "[1, 2][5]", "[1, 2]['a']", "1 + 'a'", "'a' - 1", "-'a'", "not_a_var + 1",
              "input.zz", "__import__('os')", "open('x')", "().__class__", "lambda: 1", "[x for x in [1]]",
              "{1: 2}", "{1, 2}", "f'{1}'", "(x := 1)", "1 if", "make_divisible(1, 0)", "abs('a')", "prod(1)",
              "1 @ 2", "1 << 1000000", "1 & 2", "~1", "b'x'", "...", "1j", "'a' in 'abc'", "3 is 3"):
        add(f"expr-fault-{e}", "expressions", _expr(e))

    # 3. YAML features
    tags = {
        "python-apply": "!!python/object/apply:os.system ['echo hi']",
        "python-name": "!!python/name:os.system",
        "python-module": "!!python/module:os",
        "binary": "!!binary aGVsbG8=",
        "custom": "!foo 3",
        "custom-map": "!Bar {a: 1}",
        "timestamp": "!!timestamp 2001-12-14",
        "set": "!!set {a, b}",
        "omap": "!!omap [a: 1]",
        "int-bad": "!!int x",
        "float-bad": "!!float abc",
        "bool-bad": "!!bool maybe",
        "null-bad": "!!null 3",
        "seq-on-map": "!!seq {a: 1}",
        "verbatim": "!<tag:example.com,2000:x> 3",
    }
    for k, v in tags.items():
        add(f"tag-{k}", "yaml", spec(f"name: {v}\nlayers:\n  - ReLU\n"))
        add(f"tag-in-args-{k}", "yaml", layer(f"  - Conv2d: {{out_channels: {v}, kernel_size: 3}}\n"))
    add("tag-str-honoured", "yaml", layer("  - Conv2d: {out_channels: !!str 4, kernel_size: 3}\n"))
    for key in ("1", "1.5", "true", "null", "[a, b]", "{a: 1}", "? [x]\n  "):
        add(f"key-{key.strip()}", "yaml", spec(f"{key}: foo\nlayers:\n  - ReLU\n"))
    add("key-int-in-args", "yaml", layer("  - Conv2d: {1: 4, kernel_size: 3}\n"))
    add("multi-doc", "yaml", spec("layers:\n  - ReLU\n---\nx: 1\n"))
    add("undefined-alias", "yaml", spec("layers:\n  - ReLU: *nope\n"))
    add("dup-anchor-key", "yaml", spec("layers:\n  - ReLU\nlayers:\n  - ReLU\n"))
    add("tab-indent", "yaml", spec("layers:\n\t- ReLU\n"))
    add("nul-byte", "yaml", spec("name: a\x00b\nlayers:\n  - ReLU\n"))
    add("bidi-and-escapes", "yaml", spec("layers:\n  - Conv2d\u202e: {}\n"))
    add("empty", "yaml", "")
    add("only-comment", "yaml", "# nothing\n")
    add("scalar-doc", "yaml", "42\n")
    add("list-doc", "yaml", "- a\n- b\n")

    # 4. files that cannot be read, and encodings
    add("latin1", "files", ("cnncalc: 1\nname: caf\xe9\ninput: [3, 8, 8]\nlayers:\n  - ReLU\n").encode("latin-1"))
    add("utf16-no-bom", "files", (HEAD + "layers:\n  - ReLU\n").encode("utf-16-le"))
    add("utf16-bom-broken", "files", codecs.BOM_UTF16_LE + (HEAD + "layers:\n  - ReLU:\n    from: [").encode("utf-16-le"))
    add("utf32-bom-broken", "files", codecs.BOM_UTF32_LE + (HEAD + "layers: [").encode("utf-32-le"))
    add("binary-junk", "files", bytes(range(256)) * 4)
    add("directory", "files", "<dir>", loc=False)
    add("fifo", "files", "<fifo>", loc=False)
    add("dev-zero", "files", "</dev/zero>", loc=False)
    add("dev-null", "files", "</dev/null>", loc=False)
    add("missing", "files", "<missing>", loc=False)
    add("yaml-colon-target", "files", "<spec:name>", loc=False)
    add("yml-colon-missing", "files", "<missing.yml:x>", loc=False)

    # 5. other former tracebacks
    add("int-top-key", "other", spec("1: foo\nlayers:\n  - ReLU\n"))
    add("expect-nan", "other", spec("expect: {params: .nan}\nlayers:\n  - ReLU\n"))
    add("expect-inf", "other", spec("expect: {macs: .inf}\nlayers:\n  - ReLU\n"))
    add("expect-tol-neg", "other", layer("  - ReLU\n    expect: {output: [3, 16, 16], tol: -5}\n"))
    add("expect-list-junk", "other", layer("  - ReLU\n    expect: {params: [1, 2]}\n"))
    add("parallel-empty", "other", layer("  - parallel: {}\n"))
    add("parallel-empty-list", "other", layer("  - parallel: []\n"))
    add("share-call", "other", layer("  - 'share(x)'\n"))
    add("share-itself", "other", layer("  - share: a\n    name: a\n"))
    add("share-beside-op", "other", layer("  - ReLU:\n    name: a\n    share: a\n"))
    for target in ("/", "<dir>", "/nonexistent/dir/out.json", "/dev/full", "/proc/version"):
        for cmd in ("analyze", "memory", "explain"):
            add(f"out-{cmd}-{target}", "other", layer("  - ReLU\n"), ["-o", target], loc=False, cmd=cmd)
    add("fit-1e300", "other", layer("  - ReLU\n"), ["--fit", "1e300GiB"], loc=False, cmd="memory")
    add("fit-1e30", "other", layer("  - ReLU\n"), ["--fit", "1e30GiB"], loc=False, cmd="memory")
    add("dataset-size-neg", "other", layer("  - ReLU\n"), ["--dataset-size", "-5"], loc=False)
    add("input-unknown-name", "other", layer("  - ReLU\n"), ["--input", "foo=1x28x28"], loc=True)
    add("set-unknown-var", "other", layer("  - ReLU\n"), ["--set", "nope=3"], loc=True)

    # 6. nonsense that torch refuses
    nonsense = {
        "upsample-negative-scale": "Upsample: {scale_factor: -2}",
        "upsample-zero-size": "Upsample: {size: 0}",
        "zeropad-negative": "ZeroPad2d: -20",
        "interpolate-negative-size": "interpolate: {size: [-4, 4]}",
        "conv-negative-padding": "Conv2d: {out_channels: 4, kernel_size: 3, padding: -1}",
        "conv-float-channels": "Conv2d: {out_channels: 4.0, kernel_size: 3}",
        "conv-zero-channels": "Conv2d: {out_channels: 0, kernel_size: 3}",
        "conv-zero-stride": "Conv2d: {out_channels: 4, kernel_size: 3, stride: 0}",
        "conv-reflect-too-wide": "Conv2d: {out_channels: 4, kernel_size: 3, padding: 20, padding_mode: reflect}",
        "conv-kernel-list-short": "Conv2d: {out_channels: 4, kernel_size: [3]}",
        "conv-same-strided": "Conv2d: {out_channels: 4, kernel_size: 3, stride: 2, padding: same}",
        "convT-output-padding": "ConvTranspose2d: {out_channels: 4, kernel_size: 3, stride: 2, output_padding: 2}",
        "reflection-too-wide": "ReflectionPad2d: 16",
        "hardtanh-min-max": "Hardtanh: {min_val: 2, max_val: 1}",
        "lrn-size-0": "LocalResponseNorm: 0",
        "lppool-norm-0": "LPPool2d: {norm_type: 0, kernel_size: 2}",
        "rrelu-lower-upper": "RReLU: {lower: 0.5, upper: 0.1}",
        "celu-alpha-0": "CELU: {alpha: 0}",
        "batchnorm-eps-neg": "BatchNorm2d: {eps: -1}",
        "groupnorm-0": "GroupNorm: {num_groups: 0}",
        "dropout-p": "Dropout: 1.5",
        "maxpool-kernel-0": "MaxPool2d: 0",
        "maxpool-pad-big": "MaxPool2d: {kernel_size: 3, padding: 2}",
        "avgpool-divisor-0": "AvgPool2d: {kernel_size: 2, divisor_override: 0}",
        "adaptive-negative": "AdaptiveAvgPool2d: -1",
        "adaptive-null": "AdaptiveAvgPool2d: null",
        "pixelshuffle-0": "PixelShuffle: 0",
        "channelshuffle-0": "ChannelShuffle: 0",
        "prelu-0": "PReLU: 0",
        "softmax-dim-9": "Softmax: {dim: 9}",
        "linear-float": "Linear: {out_features: 2.5}",
        "split-negative": "split: {split_size_or_sections: -1, dim: 1}",
        "chunk-zero": "chunk: {chunks: 0, dim: 1}",
        "unflatten-zero": "Unflatten: {dim: 1, unflattened_size: [0, 3]}",
        "upsample-align-nearest": "Upsample: {scale_factor: 2, align_corners: true}",
        "interpolate-antialias-nearest": "interpolate: {size: 4, antialias: true}",
    }
    for k, v in nonsense.items():
        add(f"nonsense-{k}", "nonsense", layer(f"  - {v}\n"))
    add("nonsense-add-three", "nonsense", layer("  - ReLU\n    name: a\n  - ReLU\n    name: b\n"
                                                "  - add\n    from: [input, a, b]\n".replace("  - add\n", "  - add:\n")))
    return C


CORPUS = corpus()
INJECTION = ('cnncalc: 1\nname: "[bold red]X[/] [link=http://x]y[/link] \\x1b]0;owned\\x07"\ninput: [3, 8, 8]\n'
             'layers:\n  - Conv2d: {out_channels: 4, kernel_size: 3}\n    name: "bad\\x1b[2Jname"\n')


def _limit():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))


def run_limited(args, cwd, limit=True, timeout=TIMEOUT):
    env = dict(os.environ, COLUMNS="100", PYTHONIOENCODING="utf-8", PYTHONPATH=str(ROOT))
    env.pop("CNNCALC_DEBUG", None)
    t0 = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, "-m", "cnncalc", *args], capture_output=True, timeout=timeout,
                           env=env, cwd=cwd, preexec_fn=_limit if limit else None)
    except subprocess.TimeoutExpired:
        return None, "", time.perf_counter() - t0
    out = (p.stdout + p.stderr).decode("utf-8", errors="replace")
    return p.returncode, out, time.perf_counter() - t0


def materialise(text, tmp_path):
    """Write one case's input; returns the path argument for the CLI."""
    if isinstance(text, str) and text.startswith("<") and text.endswith(">"):
        what = text[1:-1]
        if what == "dir":
            return str(tmp_path)
        if what == "fifo":
            p = tmp_path / "pipe.yaml"
            os.mkfifo(p)
            return str(p)
        if what == "missing":
            return str(tmp_path / "missing.yaml")
        if what == "spec:name":
            return str(SPECS / "lenet5.yaml") + ":conv1"
        if what.startswith("/"):
            return what
        return what
    p = tmp_path / "case.yaml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return str(p)


def check_case(case, tmp_path):
    cid, cls, text, extra, want_loc, cmd = case
    path = materialise(text, tmp_path)
    extra = tuple(str(tmp_path) if a == "<dir>" else a for a in extra)
    code, out, took = run_limited([cmd, path, *extra], tmp_path)
    problems = []
    if code is None:
        problems.append(f"hung: no answer in {TIMEOUT} s")
    else:
        if code != 2:
            problems.append(f"exit {code}, not 2")
        if "Traceback" in out or "Fatal Python error" in out or "MemoryError" in out:
            problems.append("a traceback or a crash")
        if "internal error" in out:
            problems.append("an internal error (a bug)")
        if want_loc and not re.search(r"\S+:\d+:\d+: error", out):
            problems.append("no file:line:col location")
        if took > SLOW_ANSWER:
            problems.append(f"took {took:.1f} s")
    return problems, out


@pytest.mark.slow
@pytest.mark.parametrize("case", CORPUS, ids=[c[0] for c in CORPUS])
def test_hostile_input_fails_fast_located_and_bounded(case, tmp_path):
    problems, out = check_case(case, tmp_path)
    assert not problems, f"{case[0]}: {'; '.join(problems)}\n{out[-1500:]}"


# one case of each class in the default (fast) run
QUICK = {}
for _c in CORPUS:
    QUICK.setdefault(_c[1], _c)


@pytest.mark.parametrize("case", list(QUICK.values()), ids=list(QUICK))
def test_one_hostile_input_per_class(case, tmp_path):
    problems, out = check_case(case, tmp_path)
    assert not problems, f"{case[0]}: {'; '.join(problems)}\n{out[-1500:]}"


def test_corpus_covers_every_class_with_many_inputs():
    counts = {}
    for c in CORPUS:
        counts[c[1]] = counts.get(c[1], 0) + 1
    assert set(counts) == {"bounds", "expressions", "yaml", "files", "other", "nonsense"}
    assert sum(counts.values()) >= 200, counts


@pytest.mark.parametrize("cmd", ["analyze", "explain", "memory", "review"])
def test_no_markup_or_control_bytes_from_a_spec_reach_the_terminal(cmd, tmp_path):
    p = tmp_path / "inj.yaml"
    p.write_text(INJECTION)
    code, out, _ = run_limited([cmd, str(p)], tmp_path)
    assert "\x1b" not in out and "\x07" not in out
    assert "Traceback" not in out
    # the node name with an escape byte is refused, shown with the byte written out
    assert "bad\\x1b[2Jname" in out and code == 2


def test_markup_in_a_model_name_is_shown_literally(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text('cnncalc: 1\nname: "[bold red]X[/] [link=http://x]y[/link]"\ninput: [3, 8, 8]\nlayers:\n  - ReLU\n')
    code, out, _ = run_limited(["analyze", str(p)], tmp_path)
    assert code == 0, out
    assert "[bold red]X[/] [link=http://x]y[/link]" in out


def test_an_unforeseen_error_is_reported_as_a_bug_with_exit_3(tmp_path):
    """The last-resort handler: provoke a fault inside the tool (not the input) through a broken
    renderer, and expect the short message, exit 3, and the traceback only under --debug."""
    code = ("import sys; sys.argv = ['cnncalc'] + sys.argv[1:]\n"
            "import cnncalc.render.table as R\n"
            "def boom(*a, **k):\n    raise KeyError('simulated fault')\n"
            "R.render_table = boom\n"
            "from cnncalc.cli.entry import main\nmain()\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("CNNCALC_DEBUG", None)
    spec_path = str(SPECS / "lenet5.yaml")
    p = subprocess.run([sys.executable, "-c", code, "analyze", spec_path], capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode == 3, p.stderr
    assert "bug in cnncalc" in p.stderr and "KeyError" in p.stderr and "--debug" in p.stderr
    assert "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-c", code, "analyze", spec_path, "--debug"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert "Traceback" in p.stderr or "simulated fault" in p.stderr
    assert p.returncode != 0


def test_module_target_says_it_runs_code(tmp_path):
    mod = tmp_path / "netmod.py"
    mod.write_text("X = 1\n")
    # (no address-space limit: importing torch maps more than 1 GiB)
    code, out, _ = run_limited(["explain", f"{mod}:X", "--input", "3x8x8"], tmp_path, limit=False, timeout=120)
    assert "running the Python file" in out and "only do this with code you trust" in out
    assert "Traceback" not in out


# --------------------------------------------------------------------------- in-process fuzzing
def _exprs():
    leaf = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from(["x", "input.c", "input.h", "'s'", "[1, 2]", "True", "None", "10**400",
                                      "1e308", "-0.0"]))
    ops = ["+", "-", "*", "/", "//", "%", "**", "<", "==", "and", "or", "if 1 else"]
    fns = ["min", "max", "int", "round", "ceil", "floor", "abs", "make_divisible", "prod", "nope"]
    return st.recursive(leaf.map(str), lambda ch: st.one_of(
        st.tuples(ch, st.sampled_from(ops), ch).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(fns), st.lists(ch, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.tuples(ch, ch).map(lambda t: f"[{t[0]}][{t[1]}]"),
        ch.map(lambda c: f"-{c}"), ch.map(lambda c: f"not {c}")), max_leaves=12)


@settings(max_examples=int(os.environ.get("CNNCALC_FUZZ", "400")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_exprs(), st.text(max_size=60)))
def test_the_expression_evaluator_answers_or_says_why(text):
    from cnncalc import expr as X
    env = {"x": 3, "input": X.ShapeView([3, 8, 8])}
    t0 = time.perf_counter()
    try:
        v = X.evaluate(text, env)
    except X.ExprError as e:
        assert str(e)
    else:
        assert v is None or isinstance(v, (int, float, str, bool, list)) or hasattr(v, "numerator")
        if isinstance(v, int) and not isinstance(v, bool):
            assert v.bit_length() <= 1024 + 64
    assert time.perf_counter() - t0 < 1.0


@settings(max_examples=int(os.environ.get("CNNCALC_FUZZ", "200")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300) | st.text(max_size=300))
def test_any_bytes_as_a_spec_give_a_result_or_located_errors(data, tmp_path_factory):
    from cnncalc.api import analysis_for
    from cnncalc.errors import SpecErrors
    from cnncalc.spec.source import read_source
    p = tmp_path_factory.mktemp("b") / "x.yaml"
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    try:
        text = read_source(str(p))
        a = analysis_for(str(p), text=text)
        a.report()
    except SpecErrors as e:
        assert all(d.loc is not None for d in e.diagnostics)


def test_the_code_note_is_said_once_when_the_model_is_rebuilt(tmp_path):
    """A module fx cannot trace is rebuilt for a real run (and again by nothing else): the note that its code
    runs is said once, not per build."""
    mod = tmp_path / "branchy.py"
    mod.write_text("import torch\nimport torch.nn as nn\n\n"
                   "class Net(nn.Module):\n"
                   "    def __init__(self):\n        super().__init__()\n        self.c = nn.Conv2d(3, 4, 3)\n\n"
                   "    def forward(self, x):\n"
                   "        return self.c(x) if x.sum() > -1e9 else x\n")
    code, out, _ = run_limited(["analyze", f"{mod}:Net", "--input", "3x8x8"], tmp_path, limit=False, timeout=120)
    assert code == 0, out[-2000:]
    assert "forward hooks" in out            # the hooks capture ran: the model was built twice
    assert out.count("only do this with code you trust") == 1
