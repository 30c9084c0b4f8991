"""Plots of one analysis report (matplotlib, Agg backend; imported inside the functions only).

- ``costs``:  MACs and parameters per layer (bars, in forward order)
- ``memory``: activation memory over the forward walk (live tensors with last-use freeing, and the
              bytes saved for backward, accumulated)
- ``rf``:     receptive-field growth with depth

Each ``plot_*`` returns a matplotlib Figure; ``to_svg`` turns one into an inline ``<svg>`` string
(deterministic: no date, fixed ids), ``save`` writes it as .png, .svg or .pdf.
"""
from __future__ import annotations

import io
import re

from ..i18n import N_

WHAT = ("macs", "memory", "rf")

# CJK text (Han, kana, hangul, fullwidth forms, CJK punctuation): DejaVu Sans, matplotlib's default, has none
_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0002fa1f]")
# families that cover Chinese, most common first (Linux distributions, macOS, Windows)
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Noto Sans CJK KR", "Noto Sans SC",
                "Noto Serif CJK SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei",
                "WenQuanYi Micro Hei", "Droid Sans Fallback", "AR PL UMing CN", "AR PL UKai CN", "PingFang SC",
                "Hiragino Sans GB", "Heiti SC", "STHeiti", "Microsoft YaHei", "SimHei", "SimSun", "Arial Unicode MS")
FONT_HINT = N_("note: no CJK font found, so the plot's Chinese text may show as empty boxes: install one "
             "(Debian/Ubuntu: apt install fonts-noto-cjk; Fedora: dnf install google-noto-sans-cjk-fonts) "
             "and cnncalc uses it")
_font = {}


def _mpl():
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "cnncalc"      # stable ids in the SVG
    matplotlib.rcParams["svg.fonttype"] = "none"         # text stays text: smaller, searchable
    from matplotlib.figure import Figure
    return Figure


def needs_cjk(text: str) -> bool:
    return bool(_CJK.search(text or ""))


def cjk_font():
    """The family name of an installed font with Chinese glyphs (matplotlib's font list), or None."""
    if "name" in _font:
        return _font["name"]
    _mpl()
    from matplotlib import font_manager
    fonts = font_manager.fontManager.ttflist
    names = {f.name for f in fonts}
    found = next((n for n in CJK_FAMILIES if n in names), None)
    if found is None:      # any other font that has the glyphs (a family this list does not know)
        import matplotlib
        from matplotlib.ft2font import FT2Font
        own = matplotlib.get_data_path()        # matplotlib's own fonts have no CJK (LastResort: boxes only)
        probe = [ord(c) for c in "中文卷积"]
        for f in fonts:
            if str(f.fname).startswith(own) or f.name.startswith("Last Resort"):
                continue
            try:
                cmap = FT2Font(f.fname).get_charmap()
            except Exception:  # noqa: BLE001 - an unreadable font file is no candidate
                continue
            if all(c in cmap for c in probe):
                found = f.name
                break
    _font["name"] = found
    return found


def fit_fonts(fig) -> list[str]:
    """Give the figure's texts a CJK font when they need one; returns the notes for the reader (the hint
    to install a font, once per process, when none is installed)."""
    from matplotlib.text import Text
    texts = [t for t in fig.findobj(Text) if needs_cjk(t.get_text())]
    if not texts:
        return []
    name = cjk_font()
    if name:
        for t in fig.findobj(Text):
            t.set_fontfamily([name, "DejaVu Sans"])
        return []
    if _font.get("noted"):
        return []
    _font["noted"] = True
    return [FONT_HINT]


class _quiet_glyphs:
    """matplotlib warns (with its source path) for each glyph a font lacks: the note of fit_fonts says it
    once instead."""
    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from (current )?font", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"Matplotlib currently does not support", category=UserWarning)
        return self

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


def _finish(fig):
    """Fonts for the figure's text (a CJK one where needed), then the layout, without glyph warnings."""
    fig.cnncalc_notes = fit_fonts(fig)
    with _quiet_glyphs():
        fig.tight_layout()
    return fig


def _rf_size(rf):
    if not rf or not rf.get("size"):
        return None
    return max(float(x) for x in rf["size"])


# --------------------------------------------------------------------------- figures
def plot_costs(report):
    Figure = _mpl()
    # layers with multiply-accumulates (conv, linear); norms' few parameters would only add empty bars
    rows = [L for L in report["layers"] if L.get("macs")] or [L for L in report["layers"] if L.get("params")]
    fig = Figure(figsize=(10, 5.2))
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    x = list(range(len(rows)))
    ax1.bar(x, [L.get("macs") or 0 for L in rows], color="#4c72b0")
    ax1.set_ylabel("MACs")
    ax1.set_title(f"{report['model']}: MACs and parameters per layer (batch {report['batch']})")
    ax2.bar(x, [L.get("params") or 0 for L in rows], color="#dd8452")
    ax2.set_ylabel("parameters")
    if len(rows) <= 60:
        ax2.set_xticks(x)
        ax2.set_xticklabels([L["name"] for L in rows], rotation=90, fontsize=6)
    else:
        ax2.set_xlabel("weighted layer (forward order)")
    for ax in (ax1, ax2):
        ax.grid(axis="y", alpha=0.3)
    return _finish(fig)


def plot_memory(report, walk):
    Figure = _mpl()
    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    x = list(range(len(walk)))
    mib = 2 ** 20
    live = [w["live_bytes"] / mib for w in walk]
    ax.plot(x, live, label="live activations (inference: freed after last use)", color="#4c72b0")
    ax.plot(x, [w["saved_bytes"] / mib for w in walk], label="saved for backward (training, accumulated)",
            color="#c44e52")
    if walk:
        i = max(x, key=lambda j: live[j])
        ax.annotate(f"peak {live[i]:.3g} MiB at {walk[i]['name']}", (i, live[i]), textcoords="offset points",
                    xytext=(5, 5), fontsize=8)
    ax.set_xlabel("layer (forward order)")
    ax.set_ylabel("MiB")
    ax.set_title(f"{report['model']}: activation memory over the forward pass (batch {report['batch']}, "
                 f"{report['dtype']})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _finish(fig)


def plot_rf(report):
    Figure = _mpl()
    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    xs, ys, gx, gy = [], [], [], []
    extent = None
    ins = report.get("inputs") or {}
    if ins:
        shape = next(iter(ins.values()))
        if len(shape) >= 2:
            extent = max(shape[1:])
    for i, L in enumerate(report["layers"]):
        rf = L.get("rf")
        s = _rf_size(rf)
        if s is None:
            continue
        if rf.get("global"):
            gx.append(i)
            gy.append(s)
        else:
            xs.append(i)
            ys.append(s)
    ax.step(xs, ys, where="post", color="#55a868", label="receptive field (largest axis)")
    if gx:
        ax.scatter(gx, gy, marker="x", color="#8172b3", label="global (sees the whole input)")
    if extent:
        ax.axhline(extent, ls="--", color="gray", lw=1, label=f"input size {extent}")
    vals = ys + gy + ([extent] if extent else [])
    if vals and min(vals) > 0 and max(vals) / min(vals) > 50:
        ax.set_yscale("log")
    ax.set_xlabel("layer (forward order)")
    ax.set_ylabel("pixels")
    ax.set_title(f"{report['model']}: receptive-field growth with depth")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _finish(fig)


def figure_for(what, report, walk=None):
    """The plot `what` of a report; the memory plot needs the forward walk (reports.forward_memory)."""
    if what == "macs":
        return plot_costs(report)
    if what == "memory":
        return plot_memory(report, walk)
    if what == "rf":
        return plot_rf(report)
    raise ValueError(f"unknown plot `{what}`: choose one of {', '.join(WHAT)}")


# --------------------------------------------------------------------------- output
def to_svg(fig, prefix="") -> str:
    """The figure as an inline <svg> element; ``prefix`` makes its ids unique within a page."""
    buf = io.StringIO()
    if not hasattr(fig, "cnncalc_notes"):
        fit_fonts(fig)    # an SVG keeps its text as text: the browser draws it with its own fonts
    with _quiet_glyphs():
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    if prefix:
        text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', text)
        text = text.replace("url(#", f"url(#{prefix}-").replace('xlink:href="#', f'xlink:href="#{prefix}-')
        text = text.replace(' href="#', f' href="#{prefix}-')
    return text


def save(fig, path) -> list[str]:
    """Write the figure; returns notes for the reader (how to install a CJK font, when its text needs one)."""
    fmt = str(path).rsplit(".", 1)[-1].lower()
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"cannot write `{path}`: use a .png, .svg or .pdf file name")
    meta = {"Date": None} if fmt == "svg" else {}
    notes = fig.cnncalc_notes if hasattr(fig, "cnncalc_notes") else fit_fonts(fig)
    with _quiet_glyphs():
        fig.savefig(str(path), format=fmt, dpi=120 if fmt == "png" else None, metadata=meta or None)
    return notes if fmt != "svg" else []
