"""A preset's total against its tool's, blind spots included: "match, <tool> blind to X"."""
from __future__ import annotations

from ..conventions import tally
from .verdicts import MATCH, MISMATCH


def _blind_work(a2, nodes, tool):
    """FLOPs (default FLOPs per MAC of the preset) of the work ``tool`` does not see, left out of the preset's
    figures: node id -> FLOPs, and the labels by node id."""
    from dataclasses import replace
    seeing = replace(a2.conventions, tool="")
    work, labels = {}, {}
    for n in nodes:
        lb = a2.costs.layers[n.id].blind
        if lb:
            work[n.id] = tally(n.kind.terms(), seeing).flops - a2.layer[n.id]["flops"]
            labels[n.id] = lb
    return work, labels


def blind_reason(tool, labels):
    """"match, FlopCounterMode blind to X, Y": the analysis less X and Y equals the tool."""
    labs = sorted({lb for ls in labels for lb in ls})
    return f"match, {tool} blind to " + ", ".join(labs) + " (the preset leaves that work out, as the tool does)"


def _tool_total(res, check, tool, tot, total, blind, labels, extra=""):
    """Compare a preset's total with its tool's: an exact match (worded "match, tool blind to X" when the
    preset left X out), or the tool counting the blind work after all (on another device), else a mismatch."""
    missed = sum(blind.values())
    if tot == total:
        why = blind_reason(tool, labels.values()) if blind else ""
        res.add(check, "total", "", tot, total, MATCH, "; ".join(x for x in (why, extra) if x))
    elif blind and tot + missed == total:
        res.add(check, "total", "", tot, total, MATCH,
                f"{tool} counted here what it does not count on the CPU under no_grad (" +
                ", ".join(sorted({lb for ls in labels.values() for lb in ls})) + f": {missed} FLOPs)"
                + (f"; {extra}" if extra else ""))
    else:
        res.add(check, "total", "", tot, total, MISMATCH, extra)
