"""Every example in README.md and docs/ runs, and says what the text says it says.

- each `cnncalc ...` command in a ```sh or ```console block runs with the exit code the text gives
  (`# exit N` on the command line; 0 otherwise), and in a ```console block every figure of four or
  more digits quoted in the shown output appears in the real output;
- each ```yaml block that is a whole spec (a top-level `layers:`) analyses without errors, every
  `expect` passing;
- each ```python block runs (``>>>`` blocks as doctests);
- no link or path in README.md, specs/README.md or docs/ leaves the repository, and every one names a
  file that exists;
- docs/ops.md is what `cnncalc/reference.py` generates from the kind registry.

Commands that import torch (verify, module targets, export) are run in a subprocess and marked slow.
"""
from __future__ import annotations

import doctest
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "specs" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
FIGURE = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?![\d,])|(?<![\w.,])\d{4,}(?![\w,])"
                    # a figure with decimals or a unit: 2.51GiB, 9.12KiB, 25.6M, 0.903, 74.3%, 384MiB, 15.5G
                    r"|(?<![\w.,])\d[\d,]*\.\d+(?:[KMGTP]i?B|[KMGTP]|%|B)?(?![\w.])"
                    r"|(?<![\w.,])\d[\d,]*(?:[KMGTP]i?B|[KMGTP])(?![\w.])"
                    r"|(?<=\(x)\d[\d,]*(?:\.\d+)?(?![\w.])")     # a ratio: (x0.185)
# `<!-- output of: cnncalc ARGS -->` on the line before a fenced block or a Markdown table ties what it
# quotes to the command that prints it (the test runs the command and checks every figure); a quoted
# output that cannot be reproduced (timings, the memory of one machine) says so with
# `<!-- not checked: REASON -->`.
MARKER = re.compile(r"^<!-- (output of|not checked): (.+?) -->\n", re.M)


def _blocks(langs):
    out = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m.group(1) in langs:
                line = text[:m.start()].count("\n") + 1
                out.append((page, line, m.group(1), m.group(2)))
    return out


def _rel(page, line):
    return f"{page.relative_to(ROOT)}:{line}"


# --- commands ----------------------------------------------------------------------------------------

_CMD = re.compile(r"^(?:\$ )?(?:.*&& )?(?:\.venv/bin/)?cnncalc (.+)$")


def _commands():
    cases = []
    for page, line, lang, body in _blocks({"sh", "console"}):
        lines = body.splitlines()
        i = 0
        while i < len(lines):
            raw = lines[i]
            i += 1
            if lang == "console" and not raw.startswith("$ "):
                continue
            m = _CMD.match(raw)
            if not m:
                continue
            shown = []
            if lang == "console":
                while i < len(lines) and not lines[i].startswith("$ "):
                    shown.append(lines[i])
                    i += 1
            words = shlex.split(m.group(1), comments=True)
            comment = m.group(1)[len(" ".join(shlex.split(m.group(1), comments=False))):]
            code = re.search(r"#\s*exit (\d)", raw)
            cases.append(pytest.param(words, int(code.group(1)) if code else 0, "\n".join(shown),
                                      id=f"{_rel(page, line)} cnncalc {' '.join(words)}"[:150],
                                      marks=[pytest.mark.slow] if _needs_torch(words) else []))
            del comment
    return cases


def _needs_torch(words):
    if words[0] in ("verify", "export") or {"--verify", "--erf", "--probe"} & set(words):
        return True
    target = next((w for w in words[1:] if not w.startswith("-")), "")
    return ":" in target and not (ROOT / target).exists()


def _redirect_outputs(words, tmp):
    """-o FILE / --output FILE / --plots DIR / --plot FILE are written under tmp, not into the repository."""
    out = list(words)
    for i, w in enumerate(out[:-1]):
        if w in ("-o", "--output", "--plots", "--plot"):
            out[i + 1] = str(tmp / Path(out[i + 1]).name)
    return out


def _run(words, tmp):
    words = _redirect_outputs(words, tmp)
    if _needs_torch(words):
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   COLUMNS="100")
        p = subprocess.run([sys.executable, "-m", "cnncalc", *words], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
        return p.returncode, p.stdout + p.stderr
    from typer.testing import CliRunner

    from cnncalc.cli.main import app
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        r = CliRunner().invoke(app, words)
    finally:
        os.chdir(old)
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.output


@pytest.mark.parametrize("words, code, shown", _commands())
def test_documented_command(words, code, shown, tmp_path):
    rc, out = _run(words, tmp_path)
    assert rc == code, f"exit {rc}, the text says {code}\n{out}"
    flat = re.sub(r"\s+", " ", out)
    missing = [f for f in FIGURE.findall(shown) if f not in flat]
    assert not missing, f"figures quoted in the text but not printed: {missing}\n{out}"


def _quoted(page, text, end):
    """The fenced block or Markdown table that starts at `end` (just after a marker)."""
    m = FENCE.match(text, end)
    if m:
        return m.group(2)
    lines = []
    for line in text[end:].splitlines():
        if not line.startswith("|"):
            break
        lines.append(line)
    assert lines, f"{page}: a marker is followed by neither a fenced block nor a table"
    return "\n".join(lines)


def _marked():
    cases = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in MARKER.finditer(text):
            if m.group(1) != "output of":
                continue
            line = text[:m.start()].count("\n") + 1
            words = shlex.split(m.group(2))
            assert words[0] == "cnncalc", f"{_rel(page, line)}: the marker names a cnncalc command"
            cases.append(pytest.param(words[1:], _quoted(page, text, m.end()), id=f"{_rel(page, line)}",
                                      marks=[pytest.mark.slow] if _needs_torch(words[1:]) else []))
    return cases


@pytest.mark.parametrize("words, shown", _marked())
def test_marked_output_is_what_the_command_prints(words, shown, tmp_path):
    rc, out = _run(words, tmp_path)
    assert rc in (0, 1), out
    flat = re.sub(r"\s+", " ", out)
    figures = FIGURE.findall(shown)
    assert figures, "a marked block quotes no figure"
    missing = [f for f in figures if f not in flat]
    assert not missing, f"figures quoted in the text but not printed: {missing}\n{out}"


def test_every_quoted_command_output_is_checked():
    """A block that shows `$ cnncalc ...` with its output is a ```console block (its figures are
    checked), or is marked: `output of` (checked) or `not checked` with the reason."""
    loose = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m.group(1) == "console" or not re.search(r"^\$ (?:time )?cnncalc ", m.group(2), re.M):
                continue
            before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            if not MARKER.match(before + "\n"):
                loose.append(_rel(page, text[:m.start()].count("\n") + 1))
    assert not loose, f"quoted command output neither checked nor marked `not checked`: {loose}"


def test_marked_blocks_exist():
    assert len(_marked()) >= 1


# --- specs --------------------------------------------------------------------------------------------

def _specs():
    return [pytest.param(body, _rel(page, line), id=_rel(page, line))
            for page, line, _, body in _blocks({"yaml"}) if re.search(r"^layers:", body, re.M)]


@pytest.mark.parametrize("text, where", _specs())
def test_documented_spec(text, where):
    from cnncalc.api import analyze_path
    rep = analyze_path(where, text=text)
    errors = [d for d in rep["diagnostics"] if d["severity"] == "error"]
    assert not errors, errors
    failed = [e for e in rep["expect"] if e["verdict"] != "pass"]
    assert not failed, failed


def test_there_are_examples():
    # the page of the format alone has a dozen whole specs; the README has its LeNet
    assert len(_specs()) >= 15
    assert len(_commands()) >= 20


# --- python -------------------------------------------------------------------------------------------

def _python_pages():
    """One case per page with python blocks: its blocks without torch (fast), and, when it has some,
    all its blocks (slow)."""
    pages = {}
    for page, line, _, body in _blocks({"python", "pycon"}):
        pages.setdefault(page, []).append((line, body))
    out = []
    for page, blocks in pages.items():
        light = [b for b in blocks if "torch" not in b[1]]
        out.append(pytest.param(page, light, id=f"{page.relative_to(ROOT)} without torch"))
        if len(light) < len(blocks):
            out.append(pytest.param(page, blocks, id=f"{page.relative_to(ROOT)} all", marks=[pytest.mark.slow]))
    return out


@pytest.mark.parametrize("page, blocks", _python_pages())
def test_documented_python(page, blocks, monkeypatch):
    monkeypatch.chdir(ROOT)
    globs: dict = {"__name__": "__docs__"}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for line, body in blocks:
        if ">>>" in body:
            test = parser.get_doctest(body, globs, f"{page.name}:{line}", str(page), line)
            runner.run(test, clear_globs=False)
            globs.update(test.globs)      # (a DocTest works on a copy)
        else:
            exec(compile(body, f"{page}:{line}", "exec"), globs)
    res = runner.summarize(verbose=False)
    assert res.attempted > 0
    assert res.failed == 0, f"{res.failed} of {res.attempted} examples in {page.name} failed (see above)"


# --- links and paths ----------------------------------------------------------------------------------

_LINK = re.compile(r"\]\(([^)\s]+)\)")
_PATH = re.compile(r"`((?:\.\./)*(?:[\w.-]+/)+[\w.-]+\.(?:yaml|yml|md|py|json|png|csv))`")


def _links():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in _LINK.finditer(text):
            yield page, text[:m.start()].count("\n") + 1, m.group(1), "link"
        for m in _PATH.finditer(text):
            yield page, text[:m.start()].count("\n") + 1, m.group(1), "path"


OTHER_PACKAGES = ("torch", "torchvision", "fvcore")


def test_no_link_or_path_leaves_the_repository():
    bad = []
    for page, line, target, what in _links():
        if re.match(r"^(https?|mailto):", target) or target.startswith("#"):
            continue
        target = target.split("#")[0]
        if what == "path" and (target.split("/")[0] in OTHER_PACKAGES or "NNN" in target):
            continue   # a file of another package (fvcore/nn/jit_handles.py), or a pattern
        if what == "link":
            cands = [(page.parent / target).resolve()]
        else:   # a path in backticks: relative to the repository, or to the page
            cands = [(ROOT / target).resolve(), (page.parent / target).resolve()]
        inside = [c for c in cands if c.is_relative_to(ROOT)]
        if not inside or not any(c.exists() for c in inside):
            bad.append(f"{_rel(page, line)}: {target}")
    for page in PAGES:
        if "../shared" in page.read_text(encoding="utf-8"):
            bad.append(f"{page.relative_to(ROOT)}: mentions ../shared")
    assert not bad, "links or paths that leave the repository or name no file:\n" + "\n".join(bad)


# --- the generated op reference ------------------------------------------------------------------------

def test_op_reference_is_current():
    from cnncalc import reference
    current = (ROOT / "docs" / "ops.md").read_text(encoding="utf-8")
    assert current == reference.generate(), \
        f"docs/ops.md is stale: regenerate it with `{reference.REGENERATE}`"


def test_op_reference_covers_every_op_with_a_worked_example():
    from cnncalc import reference
    from cnncalc.kinds import REGISTRY
    text = reference.generate()
    for op in REGISTRY:
        assert f"### `{op}`" in text
        assert reference.example_kind(op) is not None, f"{op} has no worked example in cnncalc/reference.py"
    # one figure checked by hand: Conv2d(4, 6, 3, stride=2, padding=1, groups=2) on 4x10x9:
    # H = (10 + 2 - 2 - 1)//2 + 1 = 5, W = (9 + 2 - 2 - 1)//2 + 1 = 5; params 6*(4/2*9 + 1) = 114
    assert "on [4, 10, 9] gives [6, 5, 5]" in text
    assert "`C_out*(C_in/G*K_h*K_w + bias)` = 114" in text


def test_every_limit_is_documented_with_its_value():
    # the Limits table of docs/spec-format.md against cnncalc.limits.DEFAULTS: a bound changed in
    # one place and not the other fails here
    from cnncalc.limits import DEFAULTS, env_name
    text = (ROOT / "docs" / "spec-format.md").read_text(encoding="utf-8")
    for name, (default, what) in DEFAULTS.items():
        line = next((ln for ln in text.splitlines() if ln.startswith(f"| {what} |")), None)
        assert line is not None, f"no Limits row for {name} ({what})"
        assert f"| {default:,} |" in line and f"`{env_name(name)}`" in line, line
