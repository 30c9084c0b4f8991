"""Name the mistake that reproduces a wrong answer.

For a wrong answer, recompute the quantity under every mistake of the catalogue
(first made at the layer the answer is about only, then at every layer, so that
a wrong shape flows on into the layers after it), and keep those that give the
student's number, at the precision it was written with.  When no single mistake
explains it, try every pair; when nothing does, say so.
"""
from __future__ import annotations

from itertools import combinations

from ..conventions import tally
from ..core.passes.expects import check_value
from ..i18n import _
from .mistakes import CATALOGUE, ShapeMistake
from .recompute import Recomputed


class Diagnoser:
    def __init__(self, analysis, catalogue=None):
        self.analysis = analysis
        self.catalogue = list(catalogue or CATALOGUE)
        self._cache = {}
        self.base = self.recompute((), None)

    def recompute(self, combo, where):
        combo = tuple(m for m in combo if not m.answer_level)     # those act on the written answer only
        key = (tuple(m.id for m in combo), None if where is None else frozenset(where))
        rc = self._cache.get(key)
        if rc is None:
            rc = self._cache[key] = Recomputed(self.analysis, combo, where)
        return rc

    # ------------------------------------------------------------------ one answer
    def diagnose(self, expect, key, want, actual, tol=None):
        """-> dict: status ("explained", "unexplained", "unavailable"), candidates, message."""
        g = self.analysis.g
        ids = list(range(len(g.nodes))) if expect.scope == "total" else list(expect.node_ids)
        out_ref = expect.output
        base = self.base.aggregate(ids, out_ref)
        if base is None or key not in base or not _same(base[key], actual):
            return {"status": "unavailable", "candidates": [],
                    "message": _("no diagnosis: this quantity is not covered by the mistake catalogue")}
        scopes = [("layer", set(ids)), ("network", None)] if expect.scope != "total" else [("network", None)]
        batch = g.batch

        def value(combo, where):
            answer_level = [m for m in combo if m.answer_level]
            rc = self.recompute(combo, where)
            vals = rc.aggregate(ids, out_ref)
            if vals is None or key not in vals:
                return None, rc
            v = vals[key]
            for m in answer_level:
                v = m.answer(key, v, want)
                if v is None:
                    return None, rc
            return v, rc

        def matches(v):
            if v is None:
                return False
            try:
                return bool(check_value(key, want, v, batch, tol))
            except (ValueError, TypeError):
                return False

        found = []
        changing = {}
        for scope, where in scopes:
            movers = []
            for m in self.catalogue:
                v, rc = value((m,), where)
                if v is None or _same(v, base[key]):
                    continue
                movers.append(m)
                if matches(v):
                    found.append(_candidate((m,), scope, v, rc, ids, out_ref, key))
            changing[scope] = movers
            if found:
                return _result(found)
        for scope, where in scopes:
            movers = changing[scope]
            for m1, m2 in combinations(movers, 2):
                if m1.answer_level and m2.answer_level:
                    continue
                if _overrides_shape(m1) and _overrides_shape(m2):
                    continue
                if m1.rf_mode and m2.rf_mode:
                    continue
                v, rc = value((m1, m2), where)
                if matches(v):
                    found.append(_candidate((m1, m2), scope, v, rc, ids, out_ref, key))
            if found:
                return _result(found)
        return {"status": "unexplained", "candidates": [],
                "message": _("no common mistake (nor any pair of them) in the catalogue gives this number")}


def _overrides_shape(m):
    return isinstance(m, ShapeMistake)


def _same(a, b):
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return list(a) == list(b) if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) else False
    try:
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
    except (TypeError, ValueError):
        return a == b


def _candidate(combo, scope, v, rc, ids, out_ref, key):
    nid = None
    if key in ("output", "activations", "memory") and out_ref is not None:
        nid = out_ref[0]
    elif len(ids) == 1:
        nid = ids[0]
    figs = _alt_figures(rc, nid, key, v) if nid is not None else []
    return {"mistakes": [{"id": m.id, "title": _(m.title), "why": _(m.why)} for m in combo],
            "scope": scope, "value": v, "figures": figs}


def _alt_figures(rc, nid, key, v):
    """The wrong computation, rendered from the rebuilt kind (or the mistake's own formula).

    Shown only when the rendering reproduces the wrong value (a mistake that changes a
    value after the fact, like MACs given for FLOPs, has no formula of its own)."""
    from .explain import output_lines, work_lines
    kind = rc.kinds.get(nid)
    if kind is None:
        return []
    try:
        if key == "output":
            if list(kind.out_shape) != list(v):
                return []
            if rc.figures.get(nid, {}).get("output"):
                return [f.render() for f in rc.figures[nid]["output"]]
            return [ln for ln in output_lines(kind) if not ln.startswith(("C_out", "output ="))]
        if key in ("params", "trainable_params"):
            f = kind.params()
            return [f.render()] if f.value == v and f.formula else []
        if key in ("macs", "flops"):
            lines = work_lines(kind, rc.conventions, key)
            val = rc.vals.get(nid) or {}
            plain = tally(kind.terms(), rc.conventions).macs if key == "macs" else 0
            if key == "macs" and plain == v:
                return lines
            if key == "flops" and val.get("flops") == v and _plain_flops(kind, rc) == v:
                return lines
    except Exception:  # noqa: BLE001 - a rendering problem must not hide the diagnosis
        return []
    return []


def _plain_flops(kind, rc):
    return tally(kind.terms(), rc.conventions).flops


def _result(found):
    # most specific first: single mistakes before pairs, this layer before the whole network
    return {"status": "explained", "candidates": found,
            "message": _("; or ").join(" + ".join(m["title"] for m in c["mistakes"]) for c in found)}
