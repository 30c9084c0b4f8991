"""cnncalc in Chinese: the language setting, the message catalog, and what a student reads.

Numbers in the assertions are worked by hand in the comments; the Chinese terms are the course notes'
(../shared/course-notes/: 输出尺寸, 参数量, 乘加次数, 浮点运算次数, 感受野, 步幅, 填充, ...)."""
from __future__ import annotations

import gettext
import json
import re
import subprocess
import sys
from pathlib import Path

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
