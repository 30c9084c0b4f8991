"""Exact receptive windows (cnncalc.receptive): hand arithmetic on classic and held-out cases, the
envelope with spatial offsets, and the gradient-support probe on every zoo spec and output.

A unit's exact window is, per spatial axis, the first and last input index it reads (clipped to the
input); docs/receptive-field.md, "Exact windows".  The probe builds the spec's torch model as a
positive linear twin and reads the support of input gradients (cnncalc/receptive/probe.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import SPECS as ZOO, analyse_text, run_cli
from cnncalc.api import analysis_for
from cnncalc.crosscheck import build as B
from cnncalc.kinds import index_sets as I
from cnncalc.receptive.envelope import envelope
from cnncalc.receptive.report import resolve
from cnncalc.receptive.window import parse_unit, unit_window

HERE = Path(__file__).parent / "specs"


def field(a, node, unit, src="input"):
    return [list(x) for x in unit_window(a.g, resolve(a.g, node), unit).fields[src]]


def spec(layers, inp="[1, 16, 16]"):
    return f"cnncalc: 1\ninput: {inp}\nlayers:\n{layers}"


# ------------------------------------------------------------------ index arithmetic, by hand
def test_index_sets():
    # conv K=3, S=2, P=1 on L=8: output 0 reads {-1, 0, 1} -> {0, 1}; output 3 reads {5, 6, 7}
    assert I.bounds(I.taps(1 << 0, 2, [-1, 0, 1], 8)) == (0, 1)
    assert I.bounds(I.taps(1 << 3, 2, [-1, 0, 1], 8)) == (5, 7)
    # dilation 3, K=3, P=0: output 1 reads {1, 4, 7}: bounds (1, 7) with 4 holes
    m = I.taps(1 << 1, 1, [0, 3, 6], 10)
    assert sorted(I.bits(m)) == [1, 4, 7]
    # transposed K=3, S=2, P=1: o reads i = (o + 1 - t)/2: o=4 -> {2} (t=1); o=5 -> {3 (t=0), 2 (t=2)}
    assert sorted(I.bits(I.transposed(1 << 4, 2, 1, 3, 1, 8))) == [2]
    assert sorted(I.bits(I.transposed(1 << 5, 2, 1, 3, 1, 8))) == [2, 3]
    # adaptive 10 -> 4: [floor(10i/4), ceil(10(i+1)/4) - 1]: [0,2] [2,4] [5,7] [7,9]
    assert [I.bounds(I.adaptive(1 << i, 10, 4)) for i in range(4)] == [(0, 2), (2, 4), (5, 7), (7, 9)]
    # circular padding 1, K=3 on L=9: output 0 reads {8, 0, 1}
    assert sorted(I.bits(I.taps_mode(1, 1, [-1, 0, 1], 9, "circular"))) == [0, 1, 8]
    assert sorted(I.bits(I.taps_mode(1, 1, [-1, 0, 1], 9, "replicate"))) == [0, 1]
    assert list(I.runs(0b1110011)) == [(0, 1), (4, 6)]


def test_interpolation_index_formulas():
    # bilinear x2, align_corners=False: x = max(0, (o + 1/2)/2 - 1/2)
    # o=0: x=0 -> {0} (the neighbour has weight 0); o=1: x=1/4 -> {0, 1}; o=3: x=5/4 -> {1, 2}
    # o=11 (L_in=6): x = 21/4 -> i0 = 5, i1 = min(6, 5) = 5 -> {5}
    def lin(o):
        return sorted(I.bits(I.interpolate(1 << o, 6, 12, "bilinear", False, 2)))
    assert lin(0) == [0] and lin(1) == [0, 1] and lin(3) == [1, 2] and lin(11) == [5]
    # align_corners=True, 5 -> 9: x = o*4/8 = o/2: even o one pixel, odd o two
    assert sorted(I.bits(I.interpolate(1 << 4, 5, 9, "linear", True))) == [2]
    assert sorted(I.bits(I.interpolate(1 << 5, 5, 9, "linear", True))) == [2, 3]
    # nearest x2: floor(o/2); nearest downsampling x1/2 (scale 2): floor(2*o): {0, 2} for o in {0, 1}
    assert sorted(I.bits(I.interpolate(0b11, 8, 4, "nearest"))) == [0, 2]
    # 'nearest-exact' 4 -> 3: floor((o + 1/2)*4/3): o=0 -> 0, o=1 -> 2, o=2 -> 3
    assert [sorted(I.bits(I.interpolate(1 << o, 4, 3, "nearest-exact"))) for o in range(3)] == [[0], [2], [3]]
    # bicubic x2: x = (o + 1/2)/2 - 1/2; o=0: x=-1/4, taps -2..1 clamped -> {0, 1}; o=2: x=3/4 -> {-1..2} -> {0,1,2}
    assert sorted(I.bits(I.interpolate(1, 6, 12, "bicubic", False, 2))) == [0, 1]
    assert sorted(I.bits(I.interpolate(1 << 2, 6, 12, "bicubic", False, 2))) == [0, 1, 2]
    # bicubic, align_corners, 5 -> 9: o=2 -> x = 1 exactly: only the centre tap
    assert sorted(I.bits(I.interpolate(1 << 2, 5, 9, "bicubic", True))) == [1]


# ------------------------------------------------------------------ classic cases, by hand
def test_vgg16_pool5_interior_unit_is_the_published_field():
    # Araujo et al. (Distill 2019): vgg_16 pool5 r=212, j=32, p=90; unit (3, 3) of the 7x7 map reads
    # [3*32 - 90, 3*32 - 90 + 211] = [6, 217]: inside the 224 input, so nothing is clipped
    a = analysis_for(HERE / "vgg16_tfslim.yaml")
    assert field(a, "conv5.pool", (3, 3)) == [[6, 217], [6, 217]]
    # corner unit (0, 0): [-90, 121] clipped to [0, 121]
    assert field(a, "conv5.pool", (0, 0)) == [[0, 121], [0, 121]]


def test_two_3x3_convs_centre_and_corner():
    a = analyse_text(spec("  - Conv2d: {out_channels: 2, kernel_size: 3, padding: 1}\n" * 2, "[1, 32, 32]"))
    # r = 5, p = 2: unit 16 reads [14, 18]; unit 0 reads [-2, 2] -> [0, 2]; unit 31 [29, 33] -> [29, 31]
    assert field(a, "1", (16, 16)) == [[14, 18], [14, 18]]
    assert field(a, "1", (0, 31)) == [[0, 2], [29, 31]]


def test_dilated_stack_keeps_its_holes():
    # DeepLab-like: 3x3 dilation 2 (padding 2), then 3x3 dilation 4 (padding 4), on 16.
    # unit 1 of the second reads rows {1-4, 1, 1+4} -> {1, 5} of the first (row -3 is padding);
    # rows 1 and 5 read {-1, 1, 3} and {3, 5, 7} -> {1, 3, 5, 7}: window [1, 7].
    # (An interval walk would take rows 1..5 of the first map, and row 2 reads row 0: [0, 7].)
    a = analyse_text(spec("""
  - Conv2d: {out_channels: 2, kernel_size: 3, padding: 2, dilation: 2}
  - Conv2d: {out_channels: 2, kernel_size: 3, padding: 4, dilation: 4}
"""))
    w = unit_window(a.g, resolve(a.g, "1"), (1, 8))
    assert [list(x) for x in w.fields["input"]] == [[1, 7], [2, 14]]
    # rows 2, 4, 6 inside [1, 7] are not read; columns: 8 -> {4, 8, 12} -> {2, 4, ..., 14}: [2, 14], 6 holes
    assert w.holes()["input"] == [3, 6]


def test_adaptive_pool_uneven_windows_per_unit():
    a = analyse_text(spec("  - AdaptiveAvgPool2d: {output_size: [4, 3]}\n", "[1, 10, 7]"))
    # H 10 -> 4: [floor(10i/4), ceil(10(i+1)/4) - 1] = [0,2] [2,4] [5,7] [7,9]
    # W 7 -> 3: [floor(7i/3), ceil(7(i+1)/3) - 1] = [0,2] [2,4] [4,6]
    assert field(a, "0", (2, 1)) == [[5, 7], [2, 4]]
    assert field(a, "0", (3, 2)) == [[7, 9], [4, 6]]


def test_strided_layer_leaves_the_last_row_unread_even_through_a_global_step():
    a = analysis_for(HERE / "rf_pads.yaml")
    # s2: 2x2 stride 2 on 9 -> 4 outputs reading [0, 7]; the Linear after it reads all 4: row 8 unread
    fc = resolve(a.g, "fc")
    assert [list(x) for x in unit_window(a.g, fc, ()).fields["input"]] == [[0, 7], [0, 7]]
    assert envelope(a.g)[fc]["input"].glob     # the envelope says "global", the window says what is read


# ------------------------------------------------------------------ held-out specs, by hand
def test_heldout_decoder_transposed_conv_and_spatial_cat():
    a = analysis_for(HERE / "rf_decoder.yaml")
    # down: 3x3 stride 2 padding 1: unit d reads [2d - 1, 2d + 1]
    # up (K=3, S=2, P=1): output o reads down units (o + 1 - t)/2, t = 0, 1, 2, whole numbers only:
    #   o=4 -> {2} -> [3, 5];  o=5 -> {3, 2} -> [3, 7];  o=0 -> {0} -> [-1, 1] -> [0, 1]
    #   o=15 -> (16 - t)/2: t=0 -> 8 (outside the 8 rows), t=2 -> 7 -> [13, 15] (15 + 1 clipped)
    assert field(a, "up", (4, 5)) == [[3, 5], [3, 7]]
    assert field(a, "up", (0, 15)) == [[0, 1], [13, 15]]
    # near: nearest x2: o reads down floor(o/2): o=5 -> 2 -> [3, 5]
    assert field(a, "near", (5, 5)) == [[3, 5], [3, 5]]
    # side = cat([up, near], W): columns 0..15 are up's, 16..31 near's (offset 16)
    # head (1x1) unit (8, 16): near unit (8, 0): down (4, 0): rows [7, 9], columns [-1, 1] -> [0, 1]
    assert field(a, "head", (8, 16)) == [[7, 9], [0, 1]]
    # unit (8, 15): up unit (8, 15): rows o=8 -> {4} -> [7, 9]; columns [13, 15]
    assert field(a, "head", (8, 15)) == [[7, 9], [13, 15]]
    # unit (9, 31): near (9, 15): down (4, 7): [7, 9] x [13, 15]
    assert field(a, "head", (9, 31)) == [[7, 9], [13, 15]]


def test_heldout_upsampling_modes():
    a = analysis_for(HERE / "rf_upsample.yaml")
    # pool: 2x2 average: pool unit q reads [2q, 2q + 1]
    # bil_ac: 6 -> 11 with align_corners: x = o*5/10 = o/2: o=4 -> {2} -> [4, 5]; o=5 -> {2, 3} -> [4, 7];
    # o=10 -> {5} -> [10, 11]
    assert field(a, "bil_ac", (4, 5)) == [[4, 5], [4, 7]]
    assert field(a, "bil_ac", (10, 0)) == [[10, 11], [0, 1]]
    # cub: x = (o + 1/2)/2 - 1/2: o=6 -> 11/4: taps 1..4 -> [2, 9]; o=0 -> -1/4: taps -2..1 -> {0, 1} -> [0, 3]
    assert field(a, "cub", (6, 0)) == [[2, 9], [0, 3]]
    # bil: o=6 -> x = 11/4 -> {2, 3} -> [4, 7]; o=11 -> x = 21/4 -> {5} -> [10, 11]; o=0 -> {0} -> [0, 1]
    assert field(a, "bil", (6, 11)) == [[4, 7], [10, 11]]
    assert field(a, "bil", (0, 0)) == [[0, 1], [0, 1]]


def test_heldout_padding_modes_crop_and_tiles():
    a = analysis_for(HERE / "rf_pads.yaml")
    # circular 3x3, padding 1, on 9: unit 0 reads {8, 0, 1}: bounding box [0, 8] with 6 holes
    w = unit_window(a.g, resolve(a.g, "circ"), (0, 4))
    assert [list(x) for x in w.fields["input"]] == [[0, 8], [3, 5]] and w.holes()["input"] == [6, 0]
    # reflection padding 2 then a 5x5 conv: unit 0 reads padded 0..4 = input -2..2 -> reflected {2, 1, 0, 1, 2}
    assert field(a, "refl", (0, 4)) == [[0, 2], [2, 6]]
    # ZeroPad2d([-2, -1, -2, -1]) crops 2 rows/columns first: unit (0, 5) reads input (2, 7)
    assert field(a, "crop", (0, 5)) == [[2, 2], [7, 7]]
    # tiles: rows 0..3 and 4..8 convolved apart (3x3, padding 1) and put back: unit 4 is the bottom
    # tile's row 0: it reads rows 4, 5 (not row 3: the tile's padding); unit 3 reads rows 2, 3
    assert field(a, "tiles", (4, 4)) == [[4, 5], [3, 5]]
    assert field(a, "tiles", (3, 4)) == [[2, 3], [3, 5]]


def test_envelope_offsets_of_spatial_cat_and_split():
    a = analysis_for(HERE / "rf_pads.yaml")
    env = envelope(a.g)
    # split output 1 starts at row 4: its unit u is input unit u + 4: start 0 + 4*1 = 4 (padding -4)
    assert env[resolve(a.g, "halves:1")]["input"].padding == (-4, 0)
    # top and bottom: r = 3, p = 1 (bottom's rows shifted by 4); cat puts bottom back at offset 4:
    # start 4 - 1 - 4*1 = -1 = top's: aligned, the envelope of an unsplit 3x3 conv
    notes = []
    e = envelope(a.g, notes)[resolve(a.g, "tiles")]["input"]
    assert (e.r, e.j, e.padding) == ((3, 3), (1, 1), (1, 1)) and not notes
    # rf_decoder: up: down (r 3, j 2, p 1) then K=3, S=2, P=1 transposed: k_eff = 2/2 + 1 = 2, s = 1/2,
    # P_eff = (2 - 1)/2 = 1/2: r = 3 + 1*2 = 5, j = 1, p = 1 + 1/2*2 = 2.  near: r 3, j 1, p 1.
    # side: near sits at column offset 16: start -1 - 16 = -17; union with up's [-2, 2]:
    # start -17, end max(-2 + 5, -17 + 3) = 3: r = 20, p = 17 along W, and a note (not aligned)
    b = analysis_for(HERE / "rf_decoder.yaml")
    notes = []
    env = envelope(b.g, notes)
    up = env[resolve(b.g, "up")]["input"]
    assert (up.r, up.j, up.padding) == ((5, 5), (1, 1), (2, 2))
    side = env[resolve(b.g, "side")]["input"]
    assert side.r == (5, 20) and side.padding == (2, 17)
    # centres of unit 0 along W: up's -2 + (5 - 1)/2 = 0, near's -17 + (3 - 1)/2 = -16
    assert len(notes) == 1 and notes[0].startswith("side (cat):") and "(0, -16), (0, 0)" in notes[0]


def test_analysis_fields_through_spatial_cat_and_split():
    """The analysis pass is the walk the envelope reads: its per-layer fields (analyze's `rf`) and its
    review notes carry the offsets of a spatial split and concatenation."""
    a = analysis_for(HERE / "rf_pads.yaml")
    lay = {r["name"]: r["rf"] for r in a.report()["layers"]}
    # bottom: a 3x3 conv (padding 1) on rows 4..8 of the input: unit 0 reads rows 4 - 1 = 3 .. 5, so
    # start 3 (padding -3), centre 3 + (3 - 1)/2 = 4; along W nothing moves: padding 1, centre 0
    assert (lay["bottom"]["size"], lay["bottom"]["padding"], lay["bottom"]["center"]) == ([3, 3], [-3, 1], [4, 0])
    # halves (output 0, offset 0) is the input itself: r 1, p 0
    assert (lay["halves"]["size"], lay["halves"]["padding"]) == ([1, 1], [0, 0])
    # tiles: bottom back at row offset 4: start 3 - 4*1 = -1 = top's: r 3, p 1, aligned (no warning)
    assert (lay["tiles"]["size"], lay["tiles"]["padding"]) == ([3, 3], [1, 1])
    assert not [d for d in a.diagnostics if d.code == "rf-not-aligned"]
    b = analysis_for(HERE / "rf_decoder.yaml")
    lay = {r["name"]: r["rf"] for r in b.report()["layers"]}
    # side: up r 5, p 2 on both axes; near r 3, p 1, moved 16 columns: start -1 - 16 = -17.
    # W: start min(-2, -17) = -17, end max(-2 + 5, -17 + 3) = 3: r 20, p 17, centre -17 + 19/2 = -7.5
    assert (lay["side"]["size"], lay["side"]["padding"], lay["side"]["center"]) == ([5, 20], [2, 17], [0, -7.5])
    # head (1x1) keeps side's field: the review note reads 5x20, not the 5x5 of the parts
    assert lay["head"]["size"] == [5, 20]
    codes = {d.code: d.message for d in b.diagnostics}
    assert "rf-not-aligned" in codes and "sees 5x20 of the 16x16 input" in codes["rf-smaller-than-input"]


def test_spatial_cat_of_a_one_column_part_is_not_a_broadcast():
    """A concatenation along W of a 1-column map with a 15-column one: no input is broadcast (that rule
    is for elementwise merges, e.g. [C, 1, 1] * [C, H, W]), so the field stays local."""
    a = analyse_text(spec("""  - Conv2d: {out_channels: 1, kernel_size: [3, 16], padding: [1, 0]}
    name: one
  - Conv2d: {out_channels: 1, kernel_size: [3, 2], padding: [1, 0]}
    from: input
    name: rest
  - cat: {dim: 3}
    from: [one, rest]
    name: both
"""))
    rf = {r["name"]: r["rf"] for r in a.report()["layers"]}["both"]
    # one: r (3, 16), start (-1, 0); rest: r (3, 2), start (-1, 0), at column offset 1: start 0 - 1*1 = -1.
    # W: start min(0, -1) = -1, end max(0 + 16, -1 + 2) = 16: r 17, p 1; H: r 3, p 1; not global
    assert (rf["size"], rf["padding"], rf["global"]) == ([3, 17], [1, 1], False)
    # output unit 0 is one's unit 0 (columns 0..15): inside the field [-1, 15] clipped to [0, 15]
    assert field(a, "both", (8, 0)) == [[7, 9], [0, 15]]


def test_batch_cat_is_not_a_spatial_cat():
    """The module front end's cat and split along dim 0 (``batch_cat``, ``batch_split``) move samples,
    not positions: no offset, whatever the sizes along the batch."""
    import torch
    import torch.nn as nn
    from cnncalc.api import _analysis

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 1, 3, padding=1)
            self.d = nn.Conv2d(1, 1, 5, padding=2)

        def forward(self, x):
            y = torch.cat([self.c(x), self.d(x)], dim=0)
            a, b = torch.split(y, x.shape[0], dim=0)
            return self.c(a + b)

    a = _analysis(M(), input=(1, 16, 16))
    lay = {r["name"]: (r["op"], r["rf"]["size"], r["rf"]["padding"]) for r in a.report()["layers"]}
    # c: 3x3 p 1, d: 5x5 p 2, both centred on unit 0: their union r 5, p 2; unshifted through the batch
    # cat and split; c again: r 5 + (3 - 1)*1 = 7, p 2 + 1*1 = 3
    assert lay["cat"] == ("batch_cat", [5, 5], [2, 2]) and lay["split"] == ("batch_split", [5, 5], [2, 2])
    assert lay["c_1"][1:] == ([7, 7], [3, 3])
    assert not [d for d in a.diagnostics if d.code == "rf-not-aligned"]


def test_parse_unit():
    assert parse_unit("3,-1", (2, 8, 8)) == (3, 7) and parse_unit(None, (2, 8, 9)) == (4, 4)
    for bad in ("1", "8,0", "a,b"):
        with pytest.raises(ValueError):
            parse_unit(bad, (2, 8, 8))


# ------------------------------------------------------------------ the command
def test_rf_cli_json_and_errors():
    r = run_cli("rf", HERE / "rf_decoder.yaml", "head", "--unit", "8,16", "--format", "json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    t = d["targets"][0]
    assert t["node"] == "head" and t["unit"] == [8, 16] and t["inputs"]["input"]["field"] == [[7, 9], [0, 1]]
    # the unit reads the nearest-upsampled half only: its path has the cat offset and the upsampling
    assert any(x.startswith("side (cat along W)") and "near fills 16..31, p += 16*j = 16" in x for x in t["rules"])
    assert any(x.startswith("near (Upsample nearest") for x in t["rules"])
    assert not any(x.startswith("up (") for x in t["rules"])
    r = run_cli("rf", HERE / "rf_decoder.yaml", "head", "--unit", "8,15", "--format", "json")
    rules = json.loads(r.stdout)["targets"][0]["rules"]
    # transposed conv after down (j = 2): the jump becomes 2/2 = 1; K=3 is not a multiple of S=2
    assert any(x.startswith("up (ConvTranspose2d, K=3, S=2, P=1, D=1, H and W)") and "(2 -> 1)" in x
               and "2 or 1 taps" in x for x in rules)
    # every graph output when NODE is omitted (U-Net: the segmentation output itself)
    r = run_cli("rf", ZOO / "unet.yaml", "--format", "json")
    d = json.loads(r.stdout)
    assert [t["node"] for t in d["targets"]] == ["outc"]
    assert d["targets"][0]["inputs"]["input"]["field"] == [[0, 127], [0, 127]]
    r = run_cli("rf", ZOO / "unet.yaml", "up1.upx")
    assert r.returncode == 2 and "no node `up1.upx`" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("rf", ZOO / "unet.yaml", "outc", "--unit", "200,1")
    assert r.returncode == 2 and "outside an axis of size 128" in r.stderr


def test_rf_command_does_not_import_torch():
    import subprocess
    import sys
    code = ("import sys; from typer.testing import CliRunner; from cnncalc.cli.main import app; "
            f"r = CliRunner().invoke(app, ['rf', r'{ZOO / 'deeplab_aspp.yaml'}', '--format', 'json']); "
            "assert r.exit_code == 0, r.output; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.stdout.strip() == "False", out.stderr


# ------------------------------------------------------------------ the probe
def _probe(path, targets=None, **kw):
    from cnncalc.receptive.probe import probe
    a = analysis_for(path, **kw)
    refs = [resolve(a.g, t) for t in targets] if targets else None
    return a, probe(a.g, refs, build=B)


def _assert_all_match(res, allow_not_covered=False):
    bad = [(r.node, r.unit, r.want, r.got, r.note) for r in res
           if r.verdict != "match" and not (allow_not_covered and r.verdict == "not covered")]
    assert not bad, bad


@pytest.mark.parametrize("name", ["rf_decoder.yaml", "rf_upsample.yaml", "rf_pads.yaml"])
def test_probe_heldout(name, torch_one_thread):
    a, res = _probe(HERE / name)
    _assert_all_match(res)
    # every graph output is probed: centre, corners and 3 random units each (fewer on tiny maps)
    assert {(r.node, r.output) for r in res} >= {(a.g.nodes[i].name, k) for i, k in a.g.outputs}


def test_probe_heldout_every_node(torch_one_thread):
    """Every node of the held-out specs, not only the outputs (transposed conv, upsampling, tiles)."""
    for name in ("rf_decoder.yaml", "rf_upsample.yaml", "rf_pads.yaml"):
        a = analysis_for(HERE / name)
        refs = [(n.id, k) for n in a.g.nodes if not n.is_input for k in range(len(n.out_shapes))]
        from cnncalc.receptive.probe import probe
        _assert_all_match(probe(a.g, refs, n_random=1, build=B))


# A representative fast subset (U-Net and DeepLab at a reduced input, so that the suite stays fast; the
# slow test below runs them at their own size)
FAST = [("lenet.yaml", None), ("lenet5.yaml", None), ("audio1d.yaml", None), ("nin.yaml", (1, 96, 96)),
        ("unet.yaml", (1, 32, 32)), ("deeplab_aspp.yaml", (3, 48, 48)), ("triplet.yaml", None)]


@pytest.mark.parametrize("name,shape", FAST, ids=[f for f, _ in FAST])
def test_probe_zoo_fast(name, shape, torch_one_thread):
    a, res = _probe(ZOO / name, input_shape=shape)
    _assert_all_match(res)
    nodes = {r.node for r in res}
    assert {a.g.nodes[i].name for i, _ in a.g.outputs} <= nodes
    if name == "deeplab_aspp.yaml":
        # the image-pooling branch makes the ASPP concatenation global: every branch is a final map
        assert {"aspp.convs.b1x1.2", "aspp.convs.atrous1.2", "aspp.convs.atrous2.2",
                "aspp.convs.atrous3.2", "upsample"} <= nodes


def test_probe_deformable_not_covered(torch_one_thread):
    a, res = _probe(ZOO / "deformable.yaml")
    assert res and all(r.verdict == "not covered" and "deformable" in r.note for r in res)


SLOW = sorted(p.name for p in ZOO.glob("*.yaml") if p.name not in {f for f, _ in FAST} | {"deformable.yaml"})
# float64 models of the ImageNet classifiers at 224x224 take minutes on a CPU: the heaviest run at a
# smaller input (the same graph and the same index arithmetic; their borders matter more there)
SMALLER = {"c3d.yaml": (3, 16, 64, 64), "inception_v3.yaml": (3, 139, 139)}
SMALLER.update({n: (3, 96, 96) for n in SLOW if n.startswith(("vgg", "resnet1", "densenet", "wide", "se_",
                                                               "resnext", "resnet5", "resnet3", "efficient",
                                                               "mobilenet_v2", "alexnet"))})


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW + ["unet.yaml", "deeplab_aspp.yaml"])
def test_probe_zoo_every_output(name, torch_one_thread):
    a, res = _probe(ZOO / name, input_shape=SMALLER.get(name))
    _assert_all_match(res)
    assert {a.g.nodes[i].name for i, _ in a.g.outputs} <= {r.node for r in res}


@pytest.mark.slow
def test_probe_inception_branches(torch_one_thread):
    a = analysis_for(ZOO / "inception_v3.yaml", input_shape=(3, 139, 139))
    cats = [n for n in a.g.nodes if n.op == "cat" and n.name.startswith(("Mixed_5b", "Mixed_6a", "Mixed_6e"))]
    refs = [r for n in cats for r in n.inputs]
    from cnncalc.receptive.probe import probe
    res = probe(a.g, refs, n_random=1, build=B)
    _assert_all_match(res)
    assert len({(r.node, r.output) for r in res}) == len(set(refs)) >= 10


def test_rf_command_probe(torch_one_thread):
    """`cnncalc rf SPEC NODE --unit ... --probe`: the requested unit, the centre, the corners and random
    units, each measured by input gradients and equal to its exact window (exit 0)."""
    from typer.testing import CliRunner
    from cnncalc.cli.main import app
    r = CliRunner().invoke(app, ["rf", str(ZOO / "unet.yaml"), "outc", "--unit", "0,5", "--probe", "-i", "1x32x32",
                                 "--format", "json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    labels = [p["label"] for p in rep["probe"]]
    assert labels[0] == "requested" and rep["probe"][0]["unit"] == [0, 5]
    assert {"centre", "corner"} <= set(labels) and all(p["verdict"] == "match" for p in rep["probe"])
    # the probe's measurement is the exact window the report gives for the requested unit
    assert rep["probe"][0]["measured"]["input"] == rep["targets"][0]["inputs"]["input"]["field"]


def test_explain_figures_of_a_spatial_cat_use_the_shifted_parts():
    b = analysis_for(HERE / "rf_decoder.yaml")
    figs = {ax: {f.name: f for f in fs} for _src, ax, fs in b.rf_figures(resolve(b.g, "side")[0])}
    # W: up p_0 = 2, r_0 = 5; near p 1 moved by 16 columns: p_1 = 1 + 16*1 = 17, r_1 = 3;
    # p_out = max(2, 17) = 17, r_out = max(5 - 2, 3 - 17) + 17 = 20; H is unmoved: p_out = max(2, 1) = 2
    w = figs["W"]
    assert w["p_out"].bindings == {"p_0": 2, "p_1": 17} and w["p_out"].value == 17 and w["r_out"].value == 20
    assert figs["H"]["p_out"].value == 2 and figs["H"]["r_out"].value == 5
