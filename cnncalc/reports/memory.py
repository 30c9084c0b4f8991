"""The report of `cnncalc memory`: breakdown of a training step and of inference, a batch sweep with
its linear fit, and the largest batch that fits a memory budget.  Plain data; nothing prints."""
from __future__ import annotations

ASSUMPTIONS = [
    "training peak = weights + gradients + optimizer state + saved activations + peak transient",
    "saved activations: every tensor autograd keeps for backward at the end of forward, deduplicated by "
    "storage, parameters excluded",
    "peak transient: the largest excess over them during the forward or backward walk (outputs, inputs, "
    "gradients of activations in flight)",
    "parameter gradients counted whole for the whole step (zero_grad(set_to_none=False))",
    "not counted: kernel workspaces (cuDNN, im2col), allocator rounding and fragmentation, the CUDA context",
    "GPU peaks are not yet measured against the CUDA allocator (see docs/memory.md)",
]


def memory_report(first, load, batches, optimizer, amp, budget, dataset_size, profile=None):
    """The JSON-serialisable report.  `first` is the analysis at `batches[0]` (None: the spec's batch);
    `load(b)` analyses the same question at batch b; `profile` a device profile (``devices``) whose
    runtime terms are added, or None for the analytical model alone."""
    from ..core import memory as M
    from ..devices import report as DR
    breakdown = DR.breakdown_fn(profile)
    runs = []
    for b in batches:
        a = first if (b is None or b == first.g.batch) else load(b)
        runs.append({"batch": a.g.batch, "memory": breakdown(a, optimizer, amp),
                     "flops": M.train_flops(a, dataset_size)})
    bd = runs[0]["memory"]
    out = {
        "schema_version": 1,
        "model": first.g.name,
        "file": first.g.file,
        "dtype": first.g.dtype,
        "amp": amp,
        "precision": bd["precision"],
        "optimizer": {"name": optimizer, "state_tensors": M.OPTIMIZERS[optimizer][0],
                      "bytes_per_param": bd["bytes_per_param"]["optimizer"], "note": M.OPTIMIZERS[optimizer][1]},
        "bytes_per_param": bd["bytes_per_param"],
        "runs": runs,
        "layers": M.layer_rows(first if batches[0] is None or batches[0] == first.g.batch else load(batches[0])),
        "assumptions": ASSUMPTIONS,
    }
    if len(runs) > 1:
        out["sweep_linear"] = linearity(runs)
    if budget is not None:
        nbytes, label, reserve, source = budget
        usable = nbytes - reserve        # what the peak may take: the card less the context and slack
        fit = {"budget_bytes": nbytes, "budget": label, "reserve_bytes": reserve, "reserve_source": source,
               "usable_bytes": usable}
        for mode, key in (("training", "training_peak"), ("inference", "inference_peak")):
            cache = {}

            def peak(b, key=key, cache=cache):
                if b not in cache:
                    cache[b] = breakdown(load(b), optimizer, amp)[key]
                return cache[b]

            best, calls, seen = M.largest_batch(peak, usable)
            fit[mode] = {"batch": best, "peak_bytes": seen.get(best) if best else None,
                         "next_peak_bytes": seen.get(best + 1) if best else seen.get(1),
                         "margin_bytes": usable - seen[best] if best else None,
                         "analyses": calls}
        out["fit"] = fit
    return DR.annotate(out, profile)


def linearity(runs):
    """Each part as fixed + per_sample * batch, fitted on the first two batches and checked on the rest."""
    res = {}
    b0, b1 = runs[0]["batch"], runs[1]["batch"]
    for key in ("weights", "gradients", "optimizer", "saved_activations", "peak_transient",
                "training_peak", "inference_peak"):
        v0, v1 = runs[0]["memory"][key], runs[1]["memory"][key]
        if b1 == b0:
            continue
        slope = (v1 - v0) / (b1 - b0)
        fixed = v0 - slope * b0
        ok = all(abs(fixed + slope * r["batch"] - r["memory"][key]) <= 1e-6 * max(1, r["memory"][key])
                 for r in runs)
        res[key] = {"per_sample": slope, "fixed": fixed, "linear": ok}
    return res
