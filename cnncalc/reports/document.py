"""The document of `cnncalc report`: summary, review findings, plots and the per-layer table, as
one self-contained HTML file or as Markdown (plots then written as SVG files beside it)."""
from __future__ import annotations

import os


def document(a, fmt="html", ignore=None, plots_dir=None, output=None, extra_figs=()) -> str:
    """The HTML or Markdown report of analysis `a`.  With `plots_dir` (Markdown), the plots are
    written there and linked relative to `output` (or the working folder).  `extra_figs`: more plots,
    (key, title, a function making the matplotlib figure), e.g. the effective receptive field's heatmap."""
    from ..render import html as H
    from ..render import plots as P
    from ..review.rules import final_rf
    from . import forward_memory, review_report
    rep = a.report()
    rv = review_report(a, ignore)
    walk = forward_memory(a)
    rf_info = final_rf(rep)
    figs = (("macs", "MACs and parameters per layer", lambda: P.plot_costs(rep)),
            ("memory", "activation memory over the forward pass", lambda: P.plot_memory(rep, walk)),
            ("rf", "receptive-field growth with depth", lambda: P.plot_rf(rep))) + tuple(extra_figs)
    if fmt == "html":
        svgs = {key: (title, P.to_svg(make(), prefix=key)) for key, title, make in figs}
        return H.render_html(rep, rv, svgs, walk, rf_info)
    links = None
    if plots_dir:
        os.makedirs(plots_dir, exist_ok=True)
        base = os.path.dirname(os.path.abspath(output)) if output else os.getcwd()
        links = []
        for key, title, make in figs:
            path = os.path.join(plots_dir, f"{key}.svg")
            P.save(make(), path)
            links.append((title, os.path.relpath(os.path.abspath(path), base)))
    return H.render_markdown(rep, rv, walk, rf_info, links)
