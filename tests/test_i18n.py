"""cnncalc in Chinese: the language setting, the message catalog, and what a student reads.

Numbers in the assertions are worked by hand in the comments; the Chinese terms are the course notes'
(../shared/course-notes/: 输出尺寸, 参数量, 乘加次数, 浮点运算次数, 感受野, 步幅, 填充, ...)."""
from __future__ import annotations

import gettext
import json
import re
import subprocess
import sys

import pytest

from cnncalc import i18n
from tests.conftest import ROOT, run_cli

PO = ROOT / "cnncalc" / "locale" / "zh" / "LC_MESSAGES" / "cnncalc.po"
MO = PO.with_suffix(".mo")
PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z_0-9]*\}")

LENET = "examples/lenet.yaml"
HW_LENET = "examples/homework/lenet.yaml"
HW_LENET_ANSWERS = "examples/homework/lenet-answers.yaml"
CONV = "Conv2d(3, 64, kernel_size=7, stride=2, padding=3)"


# ----------------------------------------------------------------------------- the setting
@pytest.mark.parametrize("env,lang", [
    ({}, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "zh_TW"}, "zh"),
    ({"LANG": "zh"}, "zh"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "C"}, "en"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),      # LC_ALL first, as POSIX
    ({"LC_ALL": "", "LC_MESSAGES": "zh_CN.UTF-8", "LANG": "C"}, "zh"),   # an empty variable is unset
    ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"CNNCALC_LANG": "en", "LC_ALL": "zh_CN.UTF-8"}, "en"),          # CNNCALC_LANG before the locale
    ({"CNNCALC_LANG": "zh", "LANG": "en_US.UTF-8"}, "zh"),
])
def test_language_from_the_environment(env, lang):
    assert i18n.from_environment(env) == lang


def test_set_language_and_back():
    before = i18n.current()
    with i18n.language("zh"):
        assert i18n.current() == "zh"
        assert i18n._("output shape").startswith("输出尺寸")
    assert i18n.current() == before
    with pytest.raises(ValueError):
        i18n.set_language("fr")


def test_english_reads_no_catalog():
    """English is the msgids themselves: start-up reads no catalog file (and no torch)."""
    code = ("import sys, cnncalc.i18n as I, cnncalc.render.explain, cnncalc.render.homework;"
            "I.set_language('en'); I._('output shape');"
            "assert not I._catalogs, I._catalogs; assert 'torch' not in sys.modules; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


# ----------------------------------------------------------------------------- the catalog
def _extracted():
    """Every message marked in the code (_(), N_(), ngettext()), as Babel extracts them."""
    from babel.messages.extract import extract_from_dir
    out = {}
    for fname, _lineno, message, _comments, _ctx in extract_from_dir(
            str(ROOT / "cnncalc"), method_map=[("**.py", "python")], keywords={"_": None, "N_": None,
                                                                               "ngettext": (1, 2), "gettext": None}):
        key = message if isinstance(message, str) else message[0]
        if key:
            out.setdefault(key, (message, fname))
    return out


def _po():
    from babel.messages.pofile import read_po
    with open(PO, "rb") as f:
        return read_po(f, locale="zh")


def test_every_message_has_a_chinese_entry():
    cat = _po()
    missing, fuzzy, bad = [], [], []
    for key, (message, fname) in sorted(_extracted().items()):
        m = cat.get(key)
        if m is None:
            missing.append(f"{fname}: {key!r}")
            continue
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if not all(strings):
            missing.append(f"{fname}: {key!r}")
        if m.fuzzy:
            fuzzy.append(key)
        ids = message if isinstance(message, tuple) else (message,)
        want = set(PLACEHOLDER.findall(ids[0]))
        for s in strings:
            if s and set(PLACEHOLDER.findall(s)) != want:
                bad.append(f"{key!r}: {s!r}")
    hint = "  (run tools/i18n.sh, translate the new entries, then tools/i18n.sh compile)"
    assert not missing, "messages without a Chinese entry:\n  " + "\n  ".join(missing) + "\n" + hint
    assert not fuzzy, f"fuzzy entries: {fuzzy}"
    assert not bad, "translations whose {placeholders} differ from the message's:\n  " + "\n  ".join(bad)


def test_the_shipped_mo_matches_the_po():
    """The compiled catalog cnncalc reads is the .po's current text (tools/i18n.sh compile)."""
    with open(MO, "rb") as f:
        mo = gettext.GNUTranslations(f)._catalog
    want = {}
    for m in _po():
        if not m.id or not m.string or m.fuzzy:
            continue
        if isinstance(m.id, tuple):
            for i, s in enumerate(m.string):
                if s:
                    want[(m.id[0], i)] = s
        else:
            want[m.id] = m.string
    got = {k: v for k, v in mo.items() if k != ""}
    stale = sorted(str(k) for k in set(want) ^ set(got)) + sorted(str(k) for k in set(want) & set(got)
                                                                   if want[k] != got[k])
    assert not stale, f"cnncalc.mo is stale (run tools/i18n.sh compile): {stale[:5]}"


def test_the_catalog_is_package_data():
    text = (ROOT / "pyproject.toml").read_text()
    assert "locale/*/LC_MESSAGES/*.mo" in text


# ----------------------------------------------------------------------------- what a student reads
def _zh(*args, how="option"):
    if how == "option":
        return run_cli(*args, "--lang", "zh")
    if how == "LANG":
        return run_cli(*args, env={"LANG": "zh_CN.UTF-8"})
    return run_cli(*args, env={"CNNCALC_LANG": "zh", "LANG": "en_US.UTF-8"})


@pytest.mark.parametrize("how", ["option", "LANG", "CNNCALC_LANG"])
def test_explain_in_chinese(how):
    # node 3 of LeNet: LazyConv2d(16, 5) on 6x14x14, no padding, stride 1
    r = _zh("explain", LENET, "3", how=how)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for term in ("输出尺寸 (output shape)", "参数量 (parameters)", "乘加次数 (MACs)", "浮点运算次数 (FLOPs)",
                 "反向传播 (backward)", "感受野 (receptive field)", "显存 (memory)"):
        assert term in out, term
    assert "output shape" not in out.replace("(output shape)", "")      # the English only in parentheses
    # H_out = floor((14 + 2*0 - 1*(5-1) - 1)/1) + 1 = 10
    assert "floor((14 + 2*0 - 1*(5-1) - 1) / 1) + 1 = 10" in out
    # params = 16*(6*5*5 + 1) = 2,416;  MACs = 16*10*10*6*5*5 = 240,000;  FLOPs = 2*240,000 + 1,600 = 481,600
    assert "= 2,416" in out and "= 240,000" in out and "= 481,600" in out


def test_explain_formulas_are_the_same_in_both_languages():
    en = run_cli("explain", LENET, "3").stdout
    zh = _zh("explain", LENET, "3").stdout
    formulas = lambda t: [ln.split("   (")[0].strip() for ln in t.splitlines() if " = " in ln and "*" in ln]
    assert formulas(en) and formulas(en) == formulas(zh)


@pytest.mark.parametrize("how", ["option", "LANG"])
def test_check_in_chinese(how):
    r = _zh("check", HW_LENET, "--answers", HW_LENET_ANSWERS, how=how)
    assert r.returncode == 1, r.stderr           # three wrong answers
    out = r.stdout
    # 7 answers, 3 wrong (conv1 params, conv1 flops, conv2 output): lenet-answers.yaml's comments
    assert "共 7 个答案，4 个正确，3 个错误" in out
    # conv1 params: 6*(1*5*5 + 1) = 156; the student's 150 = 6*5*5 forgets the 6 biases
    assert re.search(r"错误\s+conv1 params: 你的答案是 150，正确答案是 156", out)
    assert "诊断：漏算了偏置 (bias)：这样得到 150" in out
    # conv1 flops: 117,600 = 6*28*28*25 MACs; FLOPs = 2*117,600 + 6*28*28 = 239,904
    assert "正确答案是 239,904" in out and "乘加次数 (MACs)" in out
    # conv2: (14 - 5)/1 + 1 = 10, the student kept conv1's padding 2: (14 + 4 - 5) + 1 = 14
    assert "正确答案是 [16, 10, 10]" in out and "沿用了前一层的填充" in out
    assert re.search(r"正确\s+pool1 output = \[6, 14, 14\]", out)


@pytest.mark.parametrize("how", ["option", "LANG"])
def test_layer_in_chinese(how):
    r = _zh("layer", CONV, "-i", "3x224x224", how=how)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    # H_out = floor((224 + 2*3 - 1*(7-1) - 1)/2) + 1 = floor(223/2) + 1 = 112
    assert "输出尺寸 (output shape): [64, 112, 112]" in out
    # params = 64*(3*7*7 + 1) = 9,472;  MACs = 64*112*112*3*7*7 = 118,013,952
    assert "参数量 (parameters): 9,472" in out
    assert "乘加次数 (MACs): 118,013,952" in out
    # FLOPs = 2*118,013,952 + 64*112*112 = 236,830,720
    assert "浮点运算次数 (FLOPs): 236,830,720" in out
    assert "步幅 (stride) 2x2" in out and "批大小 (batch) 1" in out


@pytest.mark.parametrize("env", [{}, {"LANG": "en_US.UTF-8"}, {"LANG": "C"}, {"LC_ALL": "C", "LANG": "zh_CN.UTF-8"},
                                 {"CNNCALC_LANG": "en", "LANG": "zh_CN.UTF-8"}])
def test_english_stays_the_default(env):
    r = run_cli("layer", CONV, "-i", "3x224x224", env=env)
    assert r.returncode == 0, r.stderr
    assert "output shape: [64, 112, 112]" in r.stdout
    assert not re.search(r"[\u4e00-\u9fff]", r.stdout)


def test_lang_option_beats_the_environment():
    r = run_cli("layer", CONV, "-i", "3x224x224", "--lang", "en", env={"CNNCALC_LANG": "zh", "LANG": "zh_CN.UTF-8"})
    assert "output shape: [64, 112, 112]" in r.stdout


def test_json_keys_do_not_change_and_prose_carries_lang():
    args = ("check", HW_LENET, "--answers", HW_LENET_ANSWERS, "--format", "json")
    en, zh = json.loads(run_cli(*args).stdout), json.loads(_zh(*args).stdout)

    def keys(x, path=""):
        if isinstance(x, dict):
            return {path + "." + k for k in x} | set().union(*(keys(v, path + "." + k) for k, v in x.items()))
        if isinstance(x, list):
            return set().union(*(keys(v, path + "[]") for v in x)) if x else set()
        return set()
    assert keys(en) == keys(zh)
    assert en["lang"] == "en" and zh["lang"] == "zh"
    assert [c["verdict"] for c in en["checks"]] == [c["verdict"] for c in zh["checks"]]   # identifiers stay
    assert [c["answer"] for c in en["checks"]] == [c["answer"] for c in zh["checks"]]
    ex = json.loads(_zh("explain", LENET, "3", "--format", "json").stdout)
    assert ex[0]["lang"] == "zh" and ex[0]["sections"][1]["title"].startswith("输出尺寸")
    lay = json.loads(_zh("layer", CONV, "-i", "3x224x224", "--format", "json").stdout)
    assert lay["lang"] == "zh" and lay["sections"][1]["value"] == 9472


def test_every_command_takes_lang():
    from tests.test_cli_options import COMMANDS
    for name in COMMANDS:
        r = run_cli(name, "-h")
        assert "--lang" in r.stdout, name


# ----------------------------------------------------------------------------- errors and hints
@pytest.mark.parametrize("text,expect", [
    # unknown op (with the closest names as the hint)
    ("  - Conv2dd: [8, 3]\n", ["错误: 未知算子 (op) `Conv2dd`", "提示：你是不是想写 `Conv2d`"]),
    # unknown argument
    ("  - Conv2d: {out_channels: 8, kernel_size: 3, strid: 2}\n",
     ["错误: Conv2d '0'：`Conv2d` 没有参数 `strid`（未知参数）", "提示：你是不是想写 `stride`？"]),
    # shape mismatch: in_channels 4 on a 3-channel input
    ("  - Conv2d: {in_channels: 4, out_channels: 8, kernel_size: 3}\n",
     ["给出了 `in_channels=4`，但输入有 3 个通道（输入形状 [3, 32, 32]）：形状不匹配", "提示：写 in_channels: 3"]),
    # a kernel larger than the padded input: 32 -> 3x3 stride 1 -> 30 ... -> a 31x31 kernel on 30 + 0 = 30
    ("  - LazyConv2d: [8, 3]\n  - LazyConv2d: [8, 31]\n",
     ["卷积核覆盖 31（膨胀 1 * (卷积核 31 - 1) + 1），但填充后的输入只有 30 + 0 = 30"]),
])
def test_errors_in_chinese(tmp_path, text, expect):
    spec = tmp_path / "bad.yaml"
    spec.write_text("cnncalc: 1\nname: t\ninput: [3, 32, 32]\nlayers:\n" + text + "vars: {width: 8}\n")
    r = run_cli("analyze", spec, env={"LANG": "zh_CN.UTF-8"})
    assert r.returncode == 2
    assert re.search(re.escape(str(spec)) + r":\d+:\d+: 错误: ", r.stderr) and "Traceback" not in r.stderr
    for e in expect:
        assert e in r.stderr, r.stderr
    assert "没有输出表格：规格文件有" in r.stderr


# A broken spec, its error in Chinese (the course's terms, the same numbers) and in English (unchanged).
# Each spec's input is [3, 32, 32]; the numbers are worked by hand.
BROKEN = [
    # a 40-wide kernel with padding 2 on 32: the padded input is 32 + 2 * 2 = 36 < 1 * (40 - 1) + 1 = 40
    ("  - Conv2d: {out_channels: 8, kernel_size: 40, padding: 2}\n", "5:44",
     ["卷积核覆盖 40（膨胀 1 * (卷积核 40 - 1) + 1），但填充后的输入只有 32 + 4 = 36", "提示：请用更小的卷积核、更多的填充或更大的输入"],
     ["H: the kernel spans 40 (dilation 1 * (kernel 40 - 1) + 1) but the padded input is only 32 + 4 = 36",
      "hint: use a smaller kernel, more padding, or a larger input"]),
    # groups=2 does not divide the 3 input channels (3 % 2 = 1)
    ("  - Conv2d: {in_channels: 3, out_channels: 8, kernel_size: 3, groups: 2}\n", "5:71",
     ["分组数 groups=2 必须整除 in_channels=3 和 out_channels=8（分组卷积）"],
     ["groups=2 must divide in_channels=3 and out_channels=8"]),
    # a stride of 0
    ("  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 0}\n", "5:5",
     ["stride（步幅）", "都必须为正数"], ["kernel_size, stride and dilation must be positive"]),
    # Linear on the 4-D [N, 3, 32, 32]: flattened it would be 3 * 32 * 32 = 3072 features
    ("  - Linear: {in_features: 3072, out_features: 10}\n", "5:5",
     ["`Linear` 需要展平的输入，但收到 [3, 32, 32]", "提示：在它前面插入 `- Flatten`（nn.Flatten：[C, H, W] -> [3072]）"],
     ["`Linear` needs a flat input but got [3, 32, 32]",
      "hint: insert `- Flatten` before it (nn.Flatten: [C, H, W] -> [3072])"]),
    # `pad` takes (before, after) pairs: three numbers are not pairs
    ("  - pad: {pad: [1, 2, 3]}\n", "5:16",
     ["`pad` 必须是偶数个整数", "收到 (1, 2, 3)"],
     ["`pad` must be an even number of ints (before, after, ...) from the last dim, got (1, 2, 3)"]),
    # max pooling pads at most half its window: padding 2 > 2 // 2 = 1
    ("  - MaxPool2d: {kernel_size: 2, padding: 2}\n", "5:42",
     ["填充 (padding)（2）最多只能是窗口大小（2）的一半"],
     ["padding (2) must be at most half the kernel size (2), as torch requires"]),
    # an unknown argument, with the closest name as the hint
    ("  - MaxPool2d: {kernel_size: 2, strde: 2}\n", "5:40",     # the argument's value, column 40
     ["`MaxPool2d` 没有参数 `strde`（未知参数）", "提示：你是不是想写 `stride`？"],
     ["`MaxPool2d` has no argument `strde`", "hint: did you mean `stride`?"]),
    # the spec's own structure: a reference to no node, a key given twice
    ("  - Conv2d: {out_channels: 8, kernel_size: 3}\n    from: nope\n", "6:11",
     ["未知引用 `nope`", "提示：这里的名字：input"], ["unknown reference `nope`", "hint: names here: input"]),
    ("  - ReLU:\n    inplace: true\n    inplace: false\n", "7:5",
     ["重复的键 `inplace`（第一次出现在第 6 行）", "提示：删掉两个 `inplace` 中的一个"],
     ["duplicate key `inplace` (first given at line 6)", "hint: remove one of the two `inplace` entries"]),
    # an expression with a misspelt variable: the expression evaluator's message, the closest name as the hint
    ("  - Conv2d: {out_channels: '${widht}', kernel_size: 3}\n", "5:28",
     ["未知变量 `widht`", "提示：你是不是想写 `width`？"],
     ["unknown variable `widht`", "hint: did you mean `width`?"]),
]


@pytest.mark.parametrize("text,where,zh,en", BROKEN)
def test_kind_and_spec_errors_in_both_languages(tmp_path, text, where, zh, en):
    spec = tmp_path / "bad.yaml"
    spec.write_text("cnncalc: 1\nname: t\ninput: [3, 32, 32]\nlayers:\n" + text + "vars: {width: 8}\n")
    r = run_cli("analyze", spec, "--lang", "zh")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"{spec}:{where}: 错误: " in r.stderr, r.stderr
    for e in zh:
        assert e in r.stderr, r.stderr
    r = run_cli("analyze", spec)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"{spec}:{where}: error: " in r.stderr, r.stderr
    for e in en:
        assert e in r.stderr, r.stderr
    assert not re.search(r"[\u4e00-\u9fff]", r.stderr), r.stderr     # English stays all English


def test_bad_input_shape_in_chinese():
    # LeNet's first conv needs [C, H, W]; [3, 2] has no channel dimension
    r = _zh("analyze", LENET, "-i", "3x2")
    assert r.returncode == 2
    assert "`Conv2d` 需要 [C, H, W] 形状的输入，收到的是 [3, 2]（输入形状不对）" in r.stderr
    assert "提示：[3, 2] 没有通道维：请先写通道数，例如 3x3x2" in r.stderr
    r = _zh("layer", CONV, "-i", "3xa")
    assert r.returncode == 2 and "错误：无法读取形状 `3xa`" in r.stderr


def test_error_json_keeps_english_identifiers():
    r = run_cli("analyze", LENET, "-i", "3x2", "--format", "json", "--lang", "zh")
    rep = json.loads(r.stdout)
    d = rep["diagnostics"][0]
    assert rep["lang"] == "zh" and d["severity"] == "error" and "输入形状不对" in d["message"]


# ----------------------------------------------------------------------------- tables and reports
ZH_NAMES = ROOT / "tests" / "data" / "zh_names.yaml"


def _cells(line):
    """The line as display cells: a wide (CJK) character fills two, the second marked None."""
    import unicodedata
    out = []
    for ch in line:
        out.append(ch)
        if unicodedata.east_asian_width(ch) in ("W", "F"):
            out.append(None)
    return out


def _check_alignment(lines, right_from, n_rows):
    """Every row's columns line up with the rule under the header, counted in display cells."""
    rule = next(i for i, ln in enumerate(lines) if re.fullmatch(r" *-+( +-+)+", ln))   # the table's rule
    spans, start = [], None
    for i, ch in enumerate(lines[rule] + " "):
        if ch == "-" and start is None:
            start = i
        elif ch != "-" and start is not None:
            spans.append((start, i))
            start = None
    rows = lines[rule + 1:rule + 1 + n_rows]
    assert len(rows) == n_rows
    for ln in [lines[rule - 1]] + rows:
        c = _cells(ln) + [" "] * 200
        for k, (a, b) in enumerate(spans):
            if k + 1 < len(spans):
                assert all(x == " " for x in c[b:spans[k + 1][0]]), (ln, k)   # the gap is blank
            if k >= right_from:
                assert c[b - 1] != " ", (ln, k)          # figures end at the column's end (None: a wide character's half)
            else:
                assert c[a] not in (" ", None), (ln, k)                       # names start at its start
    return rows


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_cjk_names_align_by_display_width(lang):
    r = run_cli("analyze", ZH_NAMES, "--lang", lang)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("中文网络")
    rows = _check_alignment(lines, right_from=3, n_rows=6)     # layer, op, output | params, MACs, FLOPs, memory, RF
    assert [x.split()[0] for x in rows] == ["卷积1", "激活1", "池化1", "卷积2", "展平", "全连接"]
    # 卷积1: 16*(3*3*3 + 1) = 448 params; 全连接: 10*(32*16*16 + 1) = 81,930 -> 81.9K
    assert rows[0].split()[3] == "448" and rows[5].split()[3] == "81.9K"
    if lang == "zh":
        assert lines[2].split()[:4] == ["层", "算子", "输出", "参数量"]


def test_display_width():
    from cnncalc.render.layout import cells, ljust, rjust
    assert cells("卷积1") == 5 and cells("conv1") == 5 and cells("ｘ") == 2 and cells("é") == 1
    assert cells(ljust("卷积", 6)) == 6 and rjust("卷积", 6) == "  卷积"


def test_wrap_keeps_closing_punctuation_with_its_figure():
    from cnncalc.render.layout import cells, wrap
    # 30 columns: "可用 14GiB）" must not leave "）" alone at the start of a line
    text = "能放下的最大训练批大小：169（峰值 13.96GiB，可用 14GiB）"
    lines = wrap(text, 30).splitlines()
    assert all(cells(x) <= 30 for x in lines), lines
    assert not any(x.lstrip().startswith(("）", "，", "。")) for x in lines[1:]), lines
    assert "".join(x.strip() for x in lines).replace(" ", "") == text.replace(" ", "")


def test_explain_group_table_aligns_in_chinese():
    r = _zh("explain", ZH_NAMES)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    part = lines.index("各部分")
    rows = _check_alignment(lines[part:], right_from=1, n_rows=6)
    assert rows[0].split()[:2] == ["卷积1", "448"]
    # 卷积2: 32*(16*3*3 + 1) = 4,640; 全连接: 10*(32*16*16 + 1) = 81,930; with 卷积1's 448: 87,018
    assert "params = 卷积1 + 卷积2 + 全连接 = 448 + 4,640 + 81,930 = 87,018   (3 个部分贡献为 0)" in r.stdout


def test_analyze_totals_and_memory_in_chinese():
    r = _zh("analyze", LENET, how="LANG")
    assert r.returncode == 0
    # LeNet's 61,706 parameters (d2l 7.6): 156 + 2,416 + 48,120 + 10,164 + 850
    assert "参数量 61,706（可训练 61,706，缓冲区 0）" in r.stdout
    assert "乘加次数 (MACs) 416,520" in r.stdout and "预期值 (expect)：7 个中 7 个通过" in r.stdout
    r = _zh("memory", LENET)
    assert r.returncode == 0 and "训练一步，批大小 (batch) 1" in r.stdout and "优化器状态" in r.stdout
    assert re.search(r"权重\s+241KiB", r.stdout)      # 61,706 * 4 bytes = 246,824 B = 241 KiB


def test_review_in_chinese():
    r = _zh("review", LENET)
    # fc1 holds 48,120 of the 61,706 parameters: 48,120 / 61,706 = 78.0%
    assert "Linear '7' 占了 61,706 个参数中的 48,120 个（78.0%）" in r.stdout
    assert "原因：" in r.stdout and "改法：" in r.stdout
    rv = json.loads(_zh("review", LENET, "--format", "json").stdout)
    assert rv["lang"] == "zh" and {f["severity"] for f in rv["findings"]} <= {"info", "warning", "error"}


def test_html_report_declares_utf8_and_shows_chinese(tmp_path):
    out = tmp_path / "r.html"
    r = _zh("report", ZH_NAMES, "-o", out)
    assert r.returncode == 0, r.stderr
    html = out.read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in html and '<html lang="zh-CN">' in html
    assert "<h1>中文网络</h1>" in html and "卷积1" in html
    assert "Warning" not in r.stderr and ".py" not in r.stderr


@pytest.mark.slow
def test_verify_verdicts_in_chinese():
    r = _zh("verify", ZH_NAMES, "--width", "220")     # wide: every check name on one line
    assert r.returncode == 0, r.stderr
    assert re.search(r"所有比较的数都一致：\d+ 个一致，0 个不一致", r.stdout)
    # the checks' names too (the JSON keeps them in English: they are its keys)
    for name in ("模型输出形状", "可训练参数", "为反向传播保存的字节数", "感受野（梯度支撑集）"):
        assert name in r.stdout, name
    assert "model output shape" not in r.stdout and "trainable parameters" not in r.stdout


# ----------------------------------------------------------------------------- plots with Chinese text
def _plot_font():
    from cnncalc.render import plots
    return plots.cjk_font()


def test_plot_without_a_cjk_font_warns_nothing_and_says_once(monkeypatch, tmp_path):
    """Whether or not this machine has a CJK font: with none found, no Python warning, one note."""
    import warnings
    from cnncalc.api import analysis_for
    from cnncalc.render import plots
    monkeypatch.setattr(plots, "_font", {"name": None})
    rep = analysis_for(str(ZH_NAMES)).report()
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for what, path in (("macs", "a.png"), ("rf", "b.pdf")):
            notes += plots.save(plots.figure_for(what, rep), tmp_path / path)
    assert [str(w.message) for w in caught] == []
    assert notes == [plots.FONT_HINT]                         # once, not once per plot
    assert "fonts-noto-cjk" in plots.FONT_HINT


def test_plot_cli_note_is_one_clean_line(tmp_path):
    if _plot_font():
        pytest.skip(f"a CJK font ({_plot_font()}) is installed: the no-font note is not printed here "
                    "(the in-process test above covers that path)")
    r = run_cli("plot", ZH_NAMES, "-o", tmp_path / "p.png", env={"PYTHONWARNINGS": "always"})
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 2 and "fonts-noto-cjk" in lines[0] and lines[1].startswith("wrote "), r.stderr
    assert "Warning" not in r.stderr and ".py" not in r.stderr
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_plot_with_a_cjk_font(tmp_path):
    name = _plot_font()
    if not name:
        pytest.skip("no CJK font installed (matplotlib's font list has none with Chinese glyphs): install the "
                    "distribution's package, e.g. fonts-noto-cjk, to run this test")
    r = run_cli("plot", ZH_NAMES, "-o", tmp_path / "p.png", env={"PYTHONWARNINGS": "always"})
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [f"wrote {tmp_path / 'p.png'}"], r.stderr


def test_lang_option_does_not_outlive_its_command():
    from typer.testing import CliRunner
    from cnncalc.cli.main import app
    before = i18n.chosen()
    r = CliRunner().invoke(app, ["layer", CONV, "-i", "3x224x224", "--lang", "zh"])
    assert r.exit_code == 0 and "参数量 (parameters): 9,472" in r.output
    assert i18n.chosen() == before
    r = CliRunner().invoke(app, ["layer", CONV, "-i", "3x", "--lang", "zh"])     # an error path too
    assert r.exit_code == 2 and i18n.chosen() == before


# ----------------------------------------------------------------------------- the Chinese exercises
HW_ZH = ROOT / "examples" / "homework" / "zh"
ZH_DIR = "examples/homework/zh"


def _unwrap(text):
    """Lines wrapped at the width joined again (a CJK line breaks between characters, without a space)."""
    return re.sub(r"\n {4,}", "", text)
EXERCISES = {   # spec -> its number of answers, each worked by hand in the spec's comments
    "output-size": 4, "params-bias": 7, "flops": 5, "receptive-field": 7, "bottleneck": 5,
    "depthwise-separable": 8,
}


def test_the_exercise_set_is_complete():
    assert sorted(p.stem for p in HW_ZH.glob("*.yaml") if not p.stem.endswith("-answers")) == sorted(EXERCISES)


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_chinese_exercise_checks(name):
    r = _zh("check", f"{ZH_DIR}/{name}.yaml")
    assert r.returncode == 0, r.stdout + r.stderr
    n = EXERCISES[name]
    assert f"共 {n} 个答案，{n} 个正确，0 个错误" in _unwrap(r.stdout)
    assert r.stderr == ""


# each student's answers file: the wrong answers and the mistake each one reproduces exactly
ANSWERS = {
    "output-size": [("不同核高宽 output", "[1, 8, 8]", "忽略了填充 (padding)"),            # (8-5)+1 = 4, (8-3)+1 = 6
                    ("高宽步幅不同 output", "[1, 2, 2]", "用了向上取整而不是向下取整")],     # ceil(5/3)+1 = 3, ceil(5/4)+1 = 3
    "params-bias": [("有偏置卷积 params", "1,792", "漏算了偏置 (bias)"),                    # 64*27 = 1,728
                    ("无偏置卷积 params", "1,728", "这一层没有偏置，却算上了偏置"),           # 64*28 = 1,792
                    ("批归一化 params", "128", "把 BN 的滑动统计量算成了参数")],              # 4*64 = 256
    "flops": [("卷积1 flops", "901,120", "问的是浮点运算次数 (FLOPs)，给的却是乘加次数 (MACs)")],                        # 442,368 = the MACs
    "receptive-field": [("卷积2 rf", "5", "把感受野算成了卷积核大小之和"),                     # 3 + 3 = 6
                        ("卷积4 rf", "12", "计算感受野时忽略了步幅")],                        # 8 + 2*1 = 10
    "depthwise-separable": [("可分离.深度卷积 params", "288", "忽略了分组 (groups)")],          # 32*32*9 = 9,216
}


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_chinese_exercise_answers_are_diagnosed(name):
    r = _zh("check", f"{ZH_DIR}/{name}.yaml", "--answers", f"{ZH_DIR}/{name}-answers.yaml")
    assert r.returncode == 1, r.stderr
    out = _unwrap(r.stdout)
    wrong = ANSWERS[name]
    assert f"{len(wrong)} 个错误" in out
    for where, answer, mistake in wrong:
        block = out.split(f"错误     {where}: ", 1)[1].split("\n正确", 1)[0]
        assert f"正确答案是 {answer}" in block, block
        assert "诊断：" + mistake in block, block


def test_rf_windows_in_chinese():
    # LeNet (conv1 padding 2): conv 5x5 r = 5, j = 1; pool 2x2 r = 5 + 1*1 = 6, j = 2; conv 5x5 r = 6 + 4*2 = 14;
    # pool 2x2 r = 14 + 1*2 = 16, j = 4; p = 2.  Unit 2 reads [2*4 - 2, 2*4 - 2 + 16 - 1] = [6, 21] on each axis
    r = _zh("rf", LENET, "--unit", "2,2", "--width", "120")
    assert r.returncode == 0, r.stderr
    assert "感受野 (receptive field) 窗口：" in r.stdout and "精确窗口" in r.stdout and "最后的特征图" in r.stdout
    assert "[6, 21] x [6, 21]" in r.stdout and "16x16 / 4x4 / 2x2" in r.stdout


def test_rf_rules_in_chinese():
    # U-Net's up1.up: a 2x2 transposed convolution with stride 2 halves the jump: 16 -> 16/2 = 8; the envelope
    # grows by D*(K-1)/S*j_in = 1*1/2*16 = 8
    r = _zh("rf", "specs/unet.yaml", "up1.up", "--unit", "3,3", "--width", "400")
    assert r.returncode == 0, r.stderr
    assert "单元 [3, 3] 路径上的规则" in r.stdout
    assert "跳距乘以 1/S（16 -> 8），包络增大 D*(K-1)/S*j_in = 8" in r.stdout


def test_compare_in_chinese():
    # ResNet-18 against ResNet-50: 11,689,512 and 25,557,032 parameters (torchvision's counts): ratio 2.19
    r = _zh("compare", "specs/resnet18.yaml", "specs/resnet50.yaml", "--width", "120")
    assert r.returncode == 0, r.stderr
    assert "比较（与第一个的比值）" in r.stdout and "训练峰值显存" in r.stdout
    line = next(x for x in r.stdout.splitlines() if x.startswith("参数量"))
    assert "11.7M" in line and "25.6M (x2.19)" in line
