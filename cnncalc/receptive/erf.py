"""The effective receptive field (Luo, Li, Urtasun & Zemel, "Understanding the Effective Receptive
Field in Deep Convolutional Neural Networks", NIPS 2016), measured at initialisation.

Method: build the spec's own torch model with torch's default initialisation (the builder of
``verify``, handed in by the caller, one model per seed), feed random normal inputs, back-propagate a gradient of 1 at one output unit (every
channel at that position, 0 everywhere else) and take the absolute input gradient, summed over the
input's channels.  The map is averaged over ``samples`` inputs for each of ``seeds`` models, then
normalised to a total mass of 1.  Everything is seeded: the same call gives the same map.

What it reports, per network input and axis: the mass-weighted centre (centroid) of the map's
marginal along that axis, and the radii around it holding 50% and 95% of the mass (the smallest
``rho`` with at least that share of the marginal within ``|x - centre| <= rho``), with the widths
(pixels within) beside the theoretical field of the unit (its exact window).  Luo et al. show that
the map is roughly Gaussian and that its radius grows as the square root of the depth while the
theoretical field grows linearly: the effective field is a shrinking part of the theoretical one.

Assumptions: eval mode (batch norm uses its initial running statistics: identity; dropout off); the
map describes the network at initialisation, not after training (training widens it, Luo et al.
sec. 4.3); with ``init="uniform"`` every weight is 1/fan_in and biases 0 instead (the closed-form
case: n stacked 2x2 windows give the binomial distribution B(n, 1/2) per axis, n stacked 3x3
windows the trinomial coefficients of (1 + x + x^2)^n / 3^n).
"""
from __future__ import annotations

from .window import unit_window


def radii(marginal, qs=(0.5, 0.95)):
    """centre, {q: (rho, width)} of a 1-D mass distribution (a list of non-negative floats)."""
    tot = float(sum(marginal))
    if tot <= 0:
        return None, {q: (None, None) for q in qs}
    m = [x / tot for x in marginal]
    c = round(sum(i * x for i, x in enumerate(m)), 9)      # float sums: 7.9999999999999991 is 8
    order = sorted(range(len(m)), key=lambda i: abs(i - c))
    out = {}
    for q in qs:
        acc, k = 0.0, 0
        while k < len(order):
            d = abs(order[k] - c)
            while k < len(order) and abs(order[k] - c) <= d + 1e-12:   # every pixel at this distance
                acc += m[order[k]]
                k += 1
            if acc >= q - 1e-9:
                break
        out[q] = (d, k)
    return c, out


def measure(graph, ref, unit, *, build, seeds=(0, 1, 2), samples=4, init="default", dtype="float32"):
    """The ERF of unit ``unit`` of ``ref``: {input name: map tensor} (see the module docstring).
    ``build``: the torch model builder (``cnncalc.crosscheck.build``)."""
    import torch
    build_model, make_inputs = build.build_model, build.make_inputs
    dt = getattr(torch, dtype)
    names = [graph.nodes[i].name for i in graph.inputs]
    acc = None
    for seed in seeds:
        model = build_model(graph, seed).to(dt).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        if model.unbuildable:
            raise RuntimeError("no torch builder for " + ", ".join(o for _, o in model.unbuildable))
        if init == "uniform":
            with torch.no_grad():
                for m in model._mods.values():
                    for name, p in m.named_parameters(recurse=True):
                        if name.endswith("bias") or p.dim() < 2:
                            p.fill_(0.0 if name.endswith("bias") else 1.0)
                        else:
                            p.fill_(1.0 / p[0].numel())
        model.capture, model.captured, model.stop_after = {ref[0]}, {}, ref[0]
        xs = tuple(x.requires_grad_(True) for x in make_inputs(graph, samples, 1000 + seed, dt, "cpu"))
        with torch.enable_grad():
            model(*xs)
            y = model.captured[ref[0]][ref[1]]
            sel = y[(slice(None), Ellipsis) + tuple(unit)] if unit else y
            torch.autograd.backward(sel.sum(), inputs=list(xs))
        maps = [x.grad.detach().abs().sum(dim=1).mean(dim=0).to(torch.float64) if x.grad is not None else None
                for x in xs]
        acc = maps if acc is None else [a if m is None else a + m for a, m in zip(acc, maps)]
        model.capture, model.captured, model.stop_after = set(), {}, None
    return {nm: (m / m.sum() if m is not None and float(m.sum()) > 0 else m) for nm, m in zip(names, acc)}


def erf_report(graph, ref, unit, *, build, seeds=(0, 1, 2), samples=4, init="default", dtype="float32"):
    """The JSON-serialisable ERF section, and the maps (for plotting)."""
    maps = measure(graph, ref, unit, build=build, seeds=seeds, samples=samples, init=init, dtype=dtype)
    w = unit_window(graph, ref, unit)
    out = {"node": graph.nodes[ref[0]].name, "output": ref[1], "unit": list(unit),
           "method": {"seeds": list(seeds), "samples": samples, "init": init, "dtype": dtype,
                      "reference": "Luo et al., NIPS 2016"}, "inputs": {}}
    for nm, m in maps.items():
        f = w.fields.get(nm)
        if m is None:
            out["inputs"][nm] = {"field": None, "status": "no gradient reaches this input"}
            continue
        axes = []
        for ax in range(m.dim()):
            other = tuple(d for d in range(m.dim()) if d != ax)
            marg = (m.sum(dim=other) if other else m).tolist()
            c, r = radii(marg)
            if c is None:
                axes = None
                break
            axes.append({"centre": round(c, 4), "radius_50": r[0.5][0], "width_50": r[0.5][1],
                         "radius_95": r[0.95][0], "width_95": r[0.95][1],
                         "theoretical": None if f is None else f[ax][1] - f[ax][0] + 1})
        if axes is None:
            out["inputs"][nm] = {"field": None if f is None else [list(x) for x in f],
                                 "status": "no gradient reached this input (every sample's path is cut, e.g. "
                                           "by ReLUs inactive at this unit): add --erf-samples or --erf-seeds"}
            continue
        inside = None
        if f is not None:
            idx = tuple(slice(lo, hi + 1) for lo, hi in f)
            inside = float(m[idx].sum())
        out["inputs"][nm] = {"field": None if f is None else [list(x) for x in f], "axes": axes,
                             "mass_in_field": None if inside is None else round(inside, 6),
                             "peak": [int(v) for v in _argmax(m)]}
    return out, maps


def _argmax(m):
    i = int(m.flatten().argmax())
    res = []
    for L in reversed(m.shape):
        res.append(i % L)
        i //= L
    return list(reversed(res))


def plot(report, maps, path):
    """A heatmap of each input's ERF map (PNG or SVG by the file's suffix), the theoretical field and
    the 50%/95% boxes drawn on it."""
    import matplotlib.pyplot as plt
    fig = figure(report, maps)
    fig.savefig(path)
    plt.close(fig)
    return path


def figure(report, maps):
    """The heatmap figure of ``plot`` (matplotlib), for a file or an HTML report."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    items = [(nm, m) for nm, m in maps.items() if m is not None and m.dim() in (1, 2)]
    fig, axs = plt.subplots(1, max(1, len(items)), figsize=(4.8 * max(1, len(items)), 4.4), squeeze=False)
    for ax, (nm, m) in zip(axs[0], items):
        info = report["inputs"][nm]
        img = m.numpy() if m.dim() == 2 else m.numpy()[None, :]
        im = ax.imshow(img, cmap="magma", interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.046, label="share of gradient mass")
        if m.dim() == 2 and info.get("field"):
            (h0, h1), (w0, w1) = info["field"]
            ax.add_patch(Rectangle((w0 - .5, h0 - .5), w1 - w0 + 1, h1 - h0 + 1, fill=False, ec="cyan", lw=1.2,
                                   label="theoretical field"))
            ch, cw = info["axes"][0]["centre"], info["axes"][1]["centre"]
            for q, col in (("50", "white"), ("95", "lime")):
                rh, rw = info["axes"][0][f"radius_{q}"], info["axes"][1][f"radius_{q}"]
                ax.add_patch(Rectangle((cw - rw - .5, ch - rh - .5), 2 * rw + 1, 2 * rh + 1, fill=False, ec=col,
                                       lw=1, ls="--", label=f"{q}% of the mass"))
            ax.legend(loc="lower right", fontsize=7)
        ax.set_title(f"ERF of {report['node']} {report['unit']} on {nm}", fontsize=9)
    fig.tight_layout()
    return fig



def section(graph, node=None, unit=None, *, build, seeds=3, samples=4):
    """The ERF section of ``analyze --erf`` and ``report --erf``, and its maps: unit ``unit`` (text,
    default the centre) of ``node`` ('name' or 'name:k'; default: the first graph output or final
    feature map with spatial units, as ``cnncalc rf`` without a node).  ValueError on a bad unit,
    KeyError on an unknown node."""
    from .probe import final_maps
    from .report import resolve
    from .window import parse_unit
    ref = resolve(graph, node) if node else None
    if ref is None:
        refs = final_maps(graph)
        ref = next((r for r in refs if len(graph.shape(r)) >= 2), refs[0] if refs else None)
    if ref is None:
        raise ValueError("the graph has no output with spatial units")
    u = parse_unit(unit, graph.shape(ref))
    return erf_report(graph, ref, u, build=build, seeds=tuple(range(seeds)), samples=samples)
