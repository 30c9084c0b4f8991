"""`cnncalc review`, `compare`, `plot` and `report`.

Every rule has a spec that triggers it and one that does not (tests/review_specs/ccNNN_yes.yaml,
ccNNN_no.yaml); the numbers asserted are derived by hand in the comments.  The golden Markdown
report (tests/review_specs/golden_net.md) is regenerated only with CNNCALC_REGEN_GOLDEN=1.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RS = Path(__file__).resolve().parent / "review_specs"
SPECS = ROOT / "specs"


def run(*args, timeout=120):
    env = dict(os.environ, COLUMNS="100", PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "cnncalc", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def findings(name, **kw):
    from cnncalc.api import analysis_for
    from cnncalc.review import review
    a = analysis_for(RS / name, **kw)
    assert not a.has_errors, [d.message for d in a.diagnostics]
    return review(a)


def by_id(fs, rid):
    return [f for f in fs if f.id == rid]


# --------------------------------------------------------------------------- every rule: yes and no
RULE_SPECS = [(f"CC{n}", f"cc{n}_yes.yaml", f"cc{n}_no.yaml") for n in range(101, 114)]


@pytest.mark.parametrize("rid,yes,no", RULE_SPECS)
def test_rule_triggers_and_stays_quiet(rid, yes, no):
    assert by_id(findings(yes), rid), f"{rid} should trigger on {yes}"
    assert not by_id(findings(no), rid), f"{rid} should stay quiet on {no}"


def test_every_rule_has_specs_and_docs():
    from cnncalc.review.rules import RULES
    docs = (ROOT / "docs" / "review.md").read_text()
    assert sorted(RULES) == [r for r, _, _ in RULE_SPECS]
    for rid, r in RULES.items():
        assert f"{rid} {r.slug}" in docs, f"{rid} is not documented in docs/review.md"
        assert r.severity in ("info", "warning", "error")


def test_cc101_saving_is_c_out():
    (f,) = by_id(findings("cc101_yes.yaml"), "CC101")
    assert f.nodes == ["conv", "1"] and f.severity == "warning"
    assert f.saving["params"] == 16            # the bias of a 16-channel conv
    assert f.saving["bytes"] == 16 * 4         # float32


def test_cc102_collapse_saving():
    (f,) = by_id(findings("cc102_yes.yaml"), "CC102")
    # now: (64+1)*32 + (32+1)*10 = 2080 + 330 = 2410 params; merged Linear(64->10): (64+1)*10 = 650
    assert f.saving["params"] == 2410 - 650 == 1760
    # MACs: 64*32 + 32*10 = 2368; merged 64*10 = 640
    assert f.saving["macs"] == 2368 - 640
    assert f.severity == "warning" and f.nodes == ["fc1", "fc2"]


def test_cc103_conv_pair():
    fs = by_id(findings("cc103_yes.yaml"), "CC103")
    wide = next(f for f in fs if f.nodes == ["wide", "narrow"])
    # now: 8*64*9 + 64*8 = 4608 + 512 = 5120 params; merged 3x3 8->8 conv: 8*8*9 = 576
    assert wide.severity == "warning"
    assert wide.saving["params"] == 5120 - 576
    assert wide.saving["macs"] == (5120 - 576) * 16 * 16     # stride 1, padding keeps 16x16
    pair = next(f for f in fs if f.nodes == ["a", "b"])
    # two 3x3 convs = one (3+3-1) = 5x5 conv; 8*8*25 = 1600 > 2*8*8*9 = 1152: a factorisation, info only
    assert pair.severity == "info" and not pair.saving
    assert "kernel 5x5" in pair.reason and "1,600 params" in pair.reason


def test_cc104_stacked_3x3():
    (f,) = by_id(findings("cc104_yes.yaml"), "CC104")
    # 5x5 C->C: 25*C^2 = 25*32*32 = 25,600 params; two 3x3: 2*9*C^2 = 18,432
    assert f.saving["params"] == 25600 - 18432
    assert f.saving["macs"] == (25600 - 18432) * 16 * 16
    assert "2 stacked 3x3" in f.message


def test_cc105_fc_share_and_gap_saving():
    (f,) = by_id(findings("cc105_yes.yaml"), "CC105")
    # conv (3*9 + 1)*16 = 448; fc (16*8*8 + 1)*10 = 10,250; total 10,698
    assert "10,250 of the 10,698" in f.message
    # after global average pooling the fc is (16 + 1)*10 = 170 params
    assert f.saving["params"] == 10250 - 170


def test_cc106_dropped_rows():
    fs = by_id(findings("cc106_yes.yaml"), "CC106")
    conv, pool = fs
    # 3x3/2 on 32 without padding: 15 outputs, the last window ends at 14*2 + 3 = 31: row and column 31 lost
    assert conv.nodes == ["conv"] and "1 row (H), 1 column (W)" in conv.message
    assert "63 of 1,024" in conv.reason       # 32*32 - 31*31
    # 2x2/2 on 15: 7 outputs end at 14: 15*15 - 14*14 = 29 positions lost
    assert pool.nodes == ["pool"] and "29 of 225" in pool.reason


def test_cc107_unseen_pixels():
    (f,) = by_id(findings("cc107_yes.yaml"), "CC107")
    # 1x1 windows every 2 pixels on 8x8: 4x4 = 16 seen, 48 never seen
    assert "48 of 64" in f.message and f.severity == "warning"


def test_cc107_strided_1x1_conv_is_info():
    from cnncalc.api import analysis_for
    from cnncalc.review import review
    a = analysis_for("t.yaml", text="cnncalc: 1\ninput: [4, 8, 8]\nlayers:\n"
                                    "  - Conv2d: {out_channels: 8, kernel_size: 1, stride: 2}\n")
    (f,) = by_id(review(a), "CC107")
    assert f.severity == "info" and "48 of 64" in f.message


def test_cc108_small_and_far():
    (f,) = by_id(findings("cc108_yes.yaml"), "CC108")
    assert f.nodes == ["last"] and "3x3" in f.message and "smaller" in f.message
    (g,) = by_id(findings("cc108_far.yaml"), "CC108")
    # 1 + 3 * 8*(3-1) = 49 > 4*8
    assert "49x49" in g.message and "more than 4x" in g.message


def test_cc109_deep_tanh():
    (f,) = by_id(findings("cc109_yes.yaml"), "CC109")
    assert len(f.nodes) == 8 and "9 weighted layers" in f.message


def test_cc110_softmax_ce_is_error():
    (f,) = by_id(findings("cc110_yes.yaml"), "CC110")
    assert f.severity == "error" and f.nodes == ["sm", "loss"]


def test_cc111_nodes():
    (f,) = by_id(findings("cc111_yes.yaml"), "CC111")
    assert f.nodes == ["drop", "bn"]


def test_cc112_heavy_layers_only():
    fs = by_id(findings("cc112_yes.yaml"), "CC112")
    # MACs: c1 20*32*32*27 = 552,960 (13%); c2 20*32*32*180 = 3,686,400 (87%)
    assert [f.nodes for f in fs] == [["c1"], ["c2"]]
    assert "out_channels=20" in fs[0].message and "out_channels=24" in fs[0].fix
    assert "in_channels=20" in fs[1].message and "out_channels" not in fs[1].message   # the output width is given


def test_cc113_collapse():
    (f,) = by_id(findings("cc113_yes.yaml"), "CC113")
    assert f.nodes[0] == "collapse" and len(f.nodes) == 5     # 3 convs + the Linear follow
    # each 3x3 conv on a 1x1 map uses 1 tap of 9: 8*8*(9-1) = 512 wasted params, three convs
    assert f.saving["params"] == 3 * 512


def test_zoo_resnet50_findings():
    """ResNet-50: the 1x1 stride-2 shortcuts see 1/4 of the pixels (the ResNet-D observation)."""
    from cnncalc.api import analysis_for
    from cnncalc.review import review
    path = SPECS / "resnet50.yaml"
    if not path.exists():
        pytest.skip("specs/resnet50.yaml not present")
    fs = review(analysis_for(path))
    assert sorted(f.nodes[0] for f in fs if f.id == "CC107") == [
        "layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"]
    assert not [f for f in fs if f.severity in ("warning", "error")]


# --------------------------------------------------------------------------- the command
def test_review_cli_formats_ignore_strict():
    r = run("review", RS / "cc101_yes.yaml", "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [f["id"] for f in data["findings"]] == ["CC101", "CC108"]
    assert data["counts"] == {"info": 1, "warning": 1, "error": 0}
    r = run("review", RS / "cc101_yes.yaml", "--strict")
    assert r.returncode == 1 and "CC101" in r.stdout
    r = run("review", RS / "cc101_yes.yaml", "--strict", "--ignore", "CC101", "--format", "markdown")
    assert r.returncode == 0 and "CC101" not in r.stdout.split("ignored")[0] and "CC108" in r.stdout
    r = run("review", RS / "cc101_yes.yaml", "--strict", "--ignore", "conv-bias-before-bn")
    assert r.returncode == 0          # only the info finding is left
    r = run("review", RS / "cc101_yes.yaml", "--ignore", "CC999")
    assert r.returncode == 2 and "unknown rule CC999" in r.stderr and "Traceback" not in r.stderr


def test_review_invalid_spec_exits_2(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("cnncalc: 1\ninput: [3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 9}\n")
    r = run("review", p)
    assert r.returncode == 2 and "bad.yaml:4" in r.stderr and "Traceback" not in r.stderr


def test_no_torch_import():
    code = ("import sys; from cnncalc.cli.main import app\n"
            "for args in (['review', %r], ['report', %r, '-f', 'markdown'], ['compare', %r, %r]):\n"
            "    try:\n        app(args)\n    except SystemExit:\n        pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\nprint('ok')\n"
            % (str(RS / "cc101_yes.yaml"), str(RS / "golden_net.yaml"), str(RS / "cmp_5x5.yaml"),
               str(RS / "cmp_3x3x2.yaml")))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


# --------------------------------------------------------------------------- compare
def _compare(*names, batch=None):
    from cnncalc.api import analyze_path
    from cnncalc.review.compare import compare
    return compare([analyze_path(n, batch=batch) for n in names])


def _row(cmp, key):
    return next(r for r in cmp["rows"] if r["metric"] == key)


def test_compare_5x5_vs_two_3x3():
    cmp = _compare(RS / "cmp_5x5.yaml", RS / "cmp_3x3x2.yaml")
    # params: 32*32*25 = 25,600 against 2*32*32*9 = 18,432 -> 0.72
    assert _row(cmp, "params")["values"] == [25600, 18432]
    assert _row(cmp, "params")["ratios"][1] == pytest.approx(0.72)
    # MACs: the same per output position, 16*16 positions
    assert _row(cmp, "macs")["values"] == [25600 * 256, 18432 * 256]
    assert _row(cmp, "macs")["ratios"][1] == pytest.approx(0.72)
    # both see 5x5
    assert _row(cmp, "rf")["values"] == [5, 5] and _row(cmp, "rf")["ratios"][1] == 1
    # outputs allocated: one 32x16x16 float32 map (32 KiB) against three (conv, ReLU, conv)
    assert _row(cmp, "activation_bytes")["values"] == [32 * 256 * 4, 3 * 32 * 256 * 4]
    assert _row(cmp, "activation_bytes")["ratios"][1] == 3
    (st,) = cmp["stages"]
    assert st["stage"] == "block" and st["params"]["values"] == [25600, 18432]


def test_compare_standard_vs_separable_and_batch():
    cmp = _compare(RS / "cmp_standard.yaml", RS / "cmp_separable.yaml", batch=4)
    # standard 3x3 32->64: 64*32*9 = 18,432; depthwise 32*9 = 288 + pointwise 64*32 = 2,048 -> 2,336
    assert _row(cmp, "params")["values"] == [18432, 2336]
    assert _row(cmp, "params")["ratios"][1] == pytest.approx(2336 / 18432)   # = 1/64 + 1/9
    # MACs scale with the batch: 4 * 256 positions
    assert _row(cmp, "macs")["values"] == [18432 * 256 * 4, 2336 * 256 * 4]


def test_compare_cli_vgg16_resnet50():
    vgg, rn = SPECS / "vgg16.yaml", SPECS / "resnet50.yaml"
    if not (vgg.exists() and rn.exists()):
        pytest.skip("specs/vgg16.yaml or specs/resnet50.yaml not present")
    r = run("compare", vgg, rn, "--format", "json")
    assert r.returncode == 0, r.stderr
    cmp = json.loads(r.stdout)
    # torchvision: VGG-16 138,357,544 params, ResNet-50 25,557,032
    assert _row(cmp, "params")["values"] == [138357544, 25557032]
    assert _row(cmp, "params")["ratios"][1] == pytest.approx(25557032 / 138357544)
    # receptive fields of the last feature maps: 212 (VGG-16) and 427 (ResNet-50), Araujo et al. 2019
    assert _row(cmp, "rf")["values"] == [212, 427]
    r = run("compare", vgg, rn)
    assert r.returncode == 0 and "x0.185" in r.stdout


# --------------------------------------------------------------------------- reports
class _Parse(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []
        self.tables = {}
        self._table = None
        self.findings = 0
        self.attrs_seen = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.attrs_seen.append((tag, a))
        if tag == "table":
            self._table = a.get("class")
            self.tables[self._table] = 0
        elif tag == "tr" and self._table:
            self.tables[self._table] += 1
            if a.get("class") == "finding":
                self.findings += 1

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None


@pytest.fixture(scope="module")
def html_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "golden.html"
    r = run("report", RS / "golden_net.yaml", "--format", "html", "-o", out)
    assert r.returncode == 0, r.stderr
    return out


def test_html_report_structure(html_report):
    text = html_report.read_text()
    p = _Parse()
    p.feed(text)
    # the per-layer table: a header row + 9 layers (conv1, bn1, ReLU, pool, conv2, ReLU, pool, Flatten, fc)
    assert p.tables["layers"] == 1 + 9
    # findings: CC101 (conv1's bias before bn1), CC105 (fc holds 7,850 of 9,098 params), CC108 (rf 10 < 28)
    assert p.findings == 3 and "CC101" in text and "CC105" in text and "CC108" in text
    assert p.tags.count("svg") >= 3
    assert p.tags.count("details") >= 1 or "Layer graph" in text
    # self-contained: nothing fetched from elsewhere
    for tag, a in p.attrs_seen:
        assert tag not in ("script", "link", "img", "iframe"), tag
        for k, v in a.items():
            if k in ("src", "href") and v:
                assert not v.startswith(("http:", "https:", "//")), (tag, k, v)
    # numbers by hand: params 80 + 16 + 1,152 + 7,850 = 9,098; MACs 56,448 + 225,792 + 7,840 = 290,080
    assert "9,098" in text and "290,080" in text


def test_html_report_blocks_collapse(tmp_path):
    out = tmp_path / "b.html"
    r = run("report", RS / "cmp_3x3x2.yaml", "-o", out)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert '<details class="block"><summary><b>block</b>' in text and "3 layers" in text


def _browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(_browser() is None, reason="no chromium/chromium-browser on PATH: the headless rendering "
                                               "check needs a browser; the HTML structure is checked above")
def test_html_renders_headless(html_report, tmp_path):
    png = tmp_path / "shot.png"
    subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={png}",
                    "--window-size=1200,2000", html_report.resolve().as_uri()], capture_output=True, timeout=120)
    assert png.exists()
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000


def _golden_text():
    """The Markdown report of golden_net.yaml, rendered as `cnncalc report -f markdown` does, with the two
    parts other modules own and still change masked: totals.training_peak_bytes and the diagnostics."""
    from cnncalc.api import analysis_for
    from cnncalc.cli.review_cmd import run_review
    from cnncalc.render import html as H
    from cnncalc.reports import forward_memory
    from cnncalc.review.rules import final_rf
    a = analysis_for(RS / "golden_net.yaml")
    rep = a.report()
    rep["totals"].pop("training_peak_bytes", None)
    rep["diagnostics"] = []
    return H.render_markdown(rep, run_review(a, ()), forward_memory(a), final_rf(rep))


def test_golden_markdown():
    """Byte for byte.  CNNCALC_REGEN_GOLDEN=1 rewrites the golden file (review the diff: its numbers are
    checked by hand in test_golden_numbers)."""
    golden = RS / "golden_net.md"
    text = _golden_text()
    if os.environ.get("CNNCALC_REGEN_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text()


def test_report_markdown_cli():
    r = run("report", RS / "golden_net.yaml", "--format", "markdown")
    assert r.returncode == 0, r.stderr
    golden = (RS / "golden_net.md").read_text()
    # the command's output is the golden text plus what the masked parts add
    for section in ("## Summary", "## Review findings", "## Layers"):
        assert section in r.stdout
    table = golden[golden.index("## Layers"):].split("\n\n")[1]
    assert table in r.stdout


def test_golden_numbers():
    text = (RS / "golden_net.md").read_text()
    assert "| parameters | 9,098 (trainable 9,098" in text          # 80 + 16 + 1,152 + 7,850
    assert "| MACs | 290,080" in text                             # 8*28*28*9 + 16*14*14*72 + 784*10
    # outputs allocated: 3*(8*28*28*4) + 8*14*14*4 + 2*(16*14*14*4) + 16*7*7*4 + 10*4 (Flatten is a view)
    assert f"| activation memory | {3 * 25088 + 6272 + 2 * 12544 + 3136 + 40:,} B" in text
    # peak live: conv1's and bn1's outputs (the input died after conv1): 2 * 8*28*28*4
    assert f"| peak live activations (inference) | {2 * 25088:,} B" in text
    # receptive field: 3, +1 (pool), +2*2 (conv2 at stride 2), +1*2 (pool) = 10
    assert "| receptive field (last feature map) | 10 at 6" in text
    assert "8 params, 32B" in text and "7,680 params" in text   # bias of 8 channels; 7,850 - (16+1)*10


def test_markdown_plots_as_links(tmp_path):
    out = tmp_path / "r.md"
    r = run("report", RS / "golden_net.yaml", "-f", "markdown", "-o", out, "--plots", tmp_path / "plots")
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    for key in ("macs", "memory", "rf"):
        assert f"(plots/{key}.svg)" in text
        assert (tmp_path / "plots" / f"{key}.svg").read_text().lstrip().startswith("<?xml")


def test_plot_command(tmp_path):
    png = tmp_path / "m.png"
    r = run("plot", RS / "golden_net.yaml", "--what", "memory", "-o", png)
    assert r.returncode == 0, r.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000
    svg = tmp_path / "rf.svg"
    assert run("plot", RS / "golden_net.yaml", "--what", "rf", "-o", svg).returncode == 0
    assert "<svg" in svg.read_text()
    r = run("plot", RS / "golden_net.yaml", "--what", "rf", "-o", tmp_path / "x.gif")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_forward_memory_walk():
    from cnncalc.api import analysis_for
    from cnncalc.reports import forward_memory
    walk = forward_memory(analysis_for(RS / "golden_net.yaml", batch=2))
    assert [w["name"] for w in walk][:2] == ["conv1", "bn1"]
    # at conv1: the input 1*28*28*4 and conv1's output 8*28*28*4, batch 2
    assert walk[0]["live_bytes"] == 2 * (3136 + 25088)
    assert max(w["live_bytes"] for w in walk) == 2 * 2 * 25088
