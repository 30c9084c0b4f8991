"""The memory report (`cnncalc memory`) as text of a given width; reads only the report."""
from __future__ import annotations

from ..i18n import N_, _
from .layout import Col, cells, table, wrap
from .numbers import human

PARTS = (("weights", N_("weights")), ("gradients", N_("gradients")), ("optimizer", N_("optimizer state")),
         ("saved_activations", N_("saved activations")), ("peak_transient", N_("peak transient")))
SHORT = {"optimizer state": N_("optim. state"), "saved activations": N_("saved activ."), "peak transient": N_("transient"),
         "training peak": N_("train peak"), "inference peak": N_("infer. peak")}
MODES = {"training": N_("training"), "inference": N_("inference")}
PHASES = {"forward": N_("forward"), "backward": N_("backward"), "optimizer": N_("the optimizer step")}
BAR_FULL, BAR_EMPTY = "█", "·"


def _distinct(*values):
    """The byte counts with as many digits as it takes to tell them apart (16GiB, 16GiB -> 15.98GiB,
    16.06GiB)."""
    for digits in range(3, 8):
        texts = [human(v, binary=True, digits=digits) for v in values]
        if len(set(texts)) == len(set(values)):
            return texts
    return [f"{v:,}B" for v in values]


def _bar(value, scale, width):
    n = round(value / scale * width) if scale else 0
    return BAR_FULL * n + BAR_EMPTY * (width - n)


def _with_bar(cols, rows, width, values, scale, sep=2):
    """The table, with a bar column when at least 10 columns are left beside it."""
    lines = table(cols, rows, width, sep=sep)
    if lines is None:
        return None
    room = width - max(cells(x) for x in lines) - sep
    if room < 10:
        return lines
    bw = min(30, room)
    return table(cols + [Col("")], [r + [_bar(v, scale, bw)] for r, v in zip(rows, values)], width, sep=sep)


def _parts(m):
    """The parts of a breakdown: the device model's adds the library workspaces."""
    return PARTS + ((("workspace", N_("library workspace")),) if "workspace" in m else ())


def _single(m, width):
    total = m["training_peak"]

    def share(v):
        return f"{100 * v / total:.1f}%" if total else "-"
    parts = _parts(m)
    rows = [[_(label), human(m[key], binary=True), share(m[key])] for key, label in parts]
    rows += [[_("training peak"), human(total, binary=True), "100%"],
             [_("inference peak"), human(m["inference_peak"], binary=True), share(m["inference_peak"])]]
    values = [m[k] for k, _label in parts] + [total, 0]
    cols = [Col(_("part"), wrap=True), Col(_("bytes"), right=True), Col(_("share"), right=True)]
    lines = _with_bar(cols, rows, width, values, total)
    return [_("training step, batch {batch}").format(batch=m["batch"])] + lines


def _sweep(runs, width):
    top = max(r["memory"]["training_peak"] for r in runs)
    parts = _parts(runs[0]["memory"])
    keys = [k for k, _label in parts] + ["training_peak", "inference_peak"]
    labels = [label for _k, label in parts] + ["training peak", "inference peak"]
    rows = [[str(r["batch"])] + [human(r["memory"][k], binary=True) for k in keys] for r in runs]
    values = [r["memory"]["training_peak"] for r in runs]
    for heads, sep in (([_(x) for x in labels], 2), ([_(x) for x in labels], 1), ([_(SHORT.get(x, x)) for x in labels], 1)):
        cols = [Col(_("batch"), right=True)] + [Col(h, right=True) for h in heads]
        lines = _with_bar(cols, rows, width, values, top, sep=sep)
        if lines is not None:
            return [_("batch sweep")] + lines
    # too many figures side by side: one row per part, one column per batch
    cols = [Col(_("batch"), wrap=True)] + [Col(str(r["batch"]), right=True) for r in runs]
    trows = [[_(label)] + [human(r["memory"][k], binary=True) for r in runs] for k, label in zip(keys, labels)]
    lines = table(cols, trows, width, sep=1)
    if lines is None:   # more batches than fit side by side: one block per batch
        lines = []
        for r in runs:
            lines += [_("batch {batch}").format(batch=r["batch"])] + [
                f"  {_(label)}: {human(r['memory'][k], binary=True)}" for k, label in zip(keys, labels)]
    return [_("batch sweep (one column per batch)")] + lines


def _peak_at(phase, at):
    name = _(PHASES.get(phase, phase))
    if phase == "optimizer" or not at:
        return name
    return _("{phase} at {node}").format(phase=name, node=at)


def _where(runs, width):
    """Per batch: at which node and phase each peak happens (it can move as the batch grows)."""
    cols = [Col(_("batch"), right=True), Col(_("training peak during"), wrap=True, floor=12),
            Col(_("inference peak at"), wrap=True, floor=12)]
    rows = [[str(r["batch"]), _peak_at(r["memory"]["training_peak_phase"], r["memory"]["training_peak_at"]),
             r["memory"]["inference_peak_at"] or _("the input")] for r in runs]
    lines = table(cols, rows, width, sep=2)
    if lines is None:
        lines = [_("batch {batch}: training peak during {training}; inference peak at {inference}").format(
            batch=b, training=t, inference=i) for b, t, i in rows]
    return [_("where the peaks happen")] + lines


def render(report, width: int = 100, layers: bool = False) -> str:
    runs = report["runs"]
    opt = report["optimizer"]
    out = [_("{model}: {precision}, optimizer {optimizer} ({bytes} bytes of state per parameter)").format(
        model=report["model"], precision=report["precision"], optimizer=opt["name"], bytes=opt["bytes_per_param"])]
    if len(runs) == 1:
        m = runs[0]["memory"]
        out += _single(m, width)
        where = _("during {phase}").format(phase=_(PHASES.get(m["training_peak_phase"], m["training_peak_phase"]))) + (
            " " + _("at {node}").format(node=m["training_peak_at"]) if m["training_peak_at"] else "")
        out.append(_("training peak {where}; inference peak at {node}").format(
            where=where, node=m["inference_peak_at"] or _("the input")))
        if "workspace" in m:
            out.append(_("memory model {model}: at the training peak the library workspaces hold {workspace} "
                         "(cuBLAS {cublas}); inference in a fresh process: {fresh}").format(
                model=m["model"], workspace=human(m["workspace"], binary=True),
                cublas=human(m["fixed_workspace"], binary=True),
                fresh=human(m["inference_peak_fresh_process"], binary=True)))
    else:
        out += _sweep(runs, width)
        out += _where(runs, width)
        lin = report.get("sweep_linear", {})
        if "training_peak" in lin:
            L = lin["training_peak"]
            out.append((_("training peak ≈ {fixed} + {per_sample} per sample") if L["linear"] else
                        _("training peak ≈ {fixed} + {per_sample} per sample (not exactly linear in the batch)"))
                       .format(fixed=human(L["fixed"], binary=True), per_sample=human(L["per_sample"], binary=True)))
    f = runs[0]["flops"]
    out.append(_("training FLOPs per step (batch {batch}): {step} = forward {forward} + backward {backward} "
                 "(input gradients {input}, weight gradients {weight})").format(
        batch=runs[0]["batch"], step=human(f["step"]), forward=human(f["forward"]), backward=human(f["backward"]),
        input=human(f["backward_input"]), weight=human(f["backward_weight"])))
    if "epoch" in f:
        out.append(_("per epoch of {samples} samples ({steps} steps): {flops} FLOPs").format(
            samples=f"{f['dataset_size']:,}", steps=f"{f['steps_per_epoch']:,}", flops=human(f["epoch"])))
    if "fit" in report:
        fit = report["fit"]
        reserve = human(fit["reserve_bytes"], binary=True)
        source = _("estimated, not measured") if fit["reserve_source"].startswith("estimate") else fit["reserve_source"]
        out.append(_("--fit {budget}: {total} less a {reserve} reserve for the CUDA context and allocator slack "
                     "({source}; docs/memory.md) leaves {usable} for the peak").format(
            budget=fit["budget"], total=human(fit["budget_bytes"], binary=True, digits=4), reserve=reserve,
            source=source, usable=human(fit["usable_bytes"], binary=True, digits=4)))
        for mode in ("training", "inference"):
            r = fit[mode]
            what = _(MODES[mode])
            if r["batch"] and r["next_peak_bytes"] is None:   # the search stopped at its bound
                out.append(_("largest {mode} batch that fits: at least {batch} (the search stops there; "
                             "peak {peak})").format(mode=what, batch=f"{r['batch']:,}",
                                                    peak=human(r["peak_bytes"], binary=True)))
            elif r["batch"]:
                peak, nxt, usable = _distinct(r["peak_bytes"], r["next_peak_bytes"], fit["usable_bytes"])
                out.append(_("largest {mode} batch that fits: {batch} (peak {peak} + reserve {reserve}, margin "
                             "{margin}; {next} needs {next_peak} of the {usable})").format(
                    mode=what, batch=f"{r['batch']:,}", peak=peak, reserve=reserve,
                    margin=human(r["margin_bytes"], binary=True), next=f"{r['batch'] + 1:,}", next_peak=nxt,
                    usable=usable))
            else:
                out.append(_("{mode}: even batch 1 does not fit (needs {needs} + reserve {reserve})").format(
                    mode=what, needs=human(r["next_peak_bytes"], binary=True), reserve=reserve))
    if layers:
        ws = "device" in report
        cols = [Col("layer", wrap=True, floor=10), Col("op", wrap=True, floor=6), Col("output", right=True),
                Col("saved", right=True), Col("bwd input FLOPs", right=True), Col("bwd weight FLOPs", right=True)]
        cols += [Col("workspace fwd", right=True), Col("workspace bwd", right=True)] if ws else []
        rows = [[L["name"], L["op"], human(L["output_bytes"], binary=True), human(L["saved_bytes"], binary=True),
                 human(L["bwd_input_flops"]) if L["needs_input_grad"] else "-", human(L["bwd_weight_flops"])]
                + ([human(L.get("workspace_forward"), binary=True), human(L.get("workspace_backward"), binary=True)]
                   if ws else [])
                for L in report["layers"]]
        out += ["", "per layer (first batch)"] + (table(cols, rows, width, sep=1) or
                                                   table(cols, rows, 10 ** 6, sep=1))
    if "device" in report:
        d = report["device"]
        out.append((_("model: device:{name} ({status}; docs/memory.md, Device profiles); the CUDA context is not "
                      "in the peaks") if "fit" in report else
                    _("model: device:{name} ({status}; docs/memory.md, Device profiles); the CUDA context is not "
                      "in the peaks (--fit leaves a reserve for it)")).format(name=d["name"], status=d["status"]))
    else:
        out.append(_("model: docs/memory.md; kernel workspaces and allocator overhead not counted"))
    return wrap("\n".join(out), width) + "\n"
