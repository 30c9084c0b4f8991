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

WHAT = ("macs", "memory", "rf")


def _mpl():
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "cnncalc"      # stable ids in the SVG
    matplotlib.rcParams["svg.fonttype"] = "none"         # text stays text: smaller, searchable
    from matplotlib.figure import Figure
    return Figure


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
    fig.tight_layout()
    return fig


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
    fig.tight_layout()
    return fig


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
    fig.tight_layout()
    return fig


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
    import re
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    if prefix:
        text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', text)
        text = text.replace("url(#", f"url(#{prefix}-").replace('xlink:href="#', f'xlink:href="#{prefix}-')
        text = text.replace(' href="#', f' href="#{prefix}-')
    return text


def save(fig, path):
    fmt = str(path).rsplit(".", 1)[-1].lower()
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"cannot write `{path}`: use a .png, .svg or .pdf file name")
    meta = {"Date": None} if fmt == "svg" else {}
    fig.savefig(str(path), format=fmt, dpi=120 if fmt == "png" else None, metadata=meta or None)
