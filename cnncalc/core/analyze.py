"""The analysis of one graph: the passes run once, in order, and their frozen results.

  gradients   which nodes autograd records (passes/gradients.py)
  costs       params/buffers per module (shared modules once), MACs/FLOPs per call (passes/costs.py)
  layout      strides of every tensor; which reshapes torch must copy (passes/layout.py)
  storage     output bytes, saved-for-backward bytes, deduplicated by storage (passes/storage.py)
  receptive   receptive field per axis, in the coordinates of each network input (passes/receptive.py)
  memory      training and inference peaks (memory.py)
  expects     the spec's expected answers, checked (passes/expects.py)

``Analysis`` holds the results and is read-only once built: nothing sets attributes on it.  The
JSON report is assembled by ``report.py``.
"""
from __future__ import annotations

from types import MappingProxyType

from . import memory as M
from .facts import run_passes
from .passes.expects import check_expects, group_values, totals
from .passes.receptive import receptive
from .report import build_report
from .expect_input import settle


class FrozenError(AttributeError):
    """An attempt to change an analysis after it was built."""


class Analysis:
    """All numbers for one graph under one convention.  ``report()`` gives the JSON form.

    Attributes: ``g`` (the graph), ``conventions``, ``itemsize``, the passes' results ``flow``,
    ``costs``, ``layout``, ``store``, ``saved``, ``rf``, then ``memory`` (the default breakdown, None with
    errors), ``diagnostics``, ``errors``, ``expect_results``, ``excluded`` and ``layer`` (per node id,
    a read-only merged view for readers of per-layer numbers)."""

    def __init__(self, graph, diagnostics=(), warnings=()):
        facts = run_passes(graph)
        errors = [d for d in diagnostics if d.severity == "error"]
        has_errors = bool(errors)
        rf = receptive(graph, has_errors)
        memory = None if has_errors else M.breakdown(facts)
        tot = totals(facts, memory)
        expect_results, expect_diags = check_expects(
            graph, tot, lambda ids, ref: group_values(facts, rf.state, ids, ref), has_errors)
        # another --input/--set/--dtype/--convention: failures skipped; --no-expect: all skipped
        expect_results = settle(expect_results, graph.question, graph.no_expect)
        set_ = object.__setattr__
        set_(self, "g", graph)
        set_(self, "conventions", graph.conventions)
        set_(self, "itemsize", facts.itemsize)
        set_(self, "flow", facts.flow)
        set_(self, "costs", facts.costs)
        set_(self, "layout", facts.layout)
        set_(self, "store", facts.store)
        set_(self, "saved", facts.saved)
        set_(self, "rf", rf)
        set_(self, "memory", memory)
        set_(self, "has_errors", has_errors)
        set_(self, "errors", tuple(errors))
        set_(self, "excluded", facts.costs.excluded)
        set_(self, "expect_results", tuple(MappingProxyType(r) for r in expect_results))
        set_(self, "_totals", MappingProxyType(tot))
        set_(self, "layer", MappingProxyType({nid: MappingProxyType(self._layer_view(nid))
                                              for nid in facts.costs.layers}))
        diags = list(diagnostics) + list(warnings) + list(rf.diagnostics) + expect_diags
        diags += self.extra_diagnostics()
        set_(self, "diagnostics", tuple(diags))
        set_(self, "_frozen", True)

    def __setattr__(self, name, value):
        if getattr(self, "_frozen", False):
            raise FrozenError(f"an Analysis is read-only once built (tried to set `{name}`)")
        object.__setattr__(self, name, value)

    def extra_diagnostics(self) -> list:
        """Diagnostics a subclass adds once the numbers are known (the module front end's checks)."""
        return []

    def _layer_view(self, nid):
        c = self.costs.layers[nid]
        m = self.saved.layers[nid]
        return {"params": c.params, "module_params": c.module_params, "buffers": c.buffers, "macs": c.macs,
                "flops": c.flops, "bwd_macs": c.bwd_macs, "bwd_flops": c.bwd_flops,
                "needs_input_grad": c.needs_input_grad, "in_autograd": c.in_autograd,
                "output_bytes": m.output_bytes, "alloc_bytes": m.alloc_bytes, "saved_bytes": m.saved_bytes,
                "saved_items": [it.to_dict() for it in m.saved_items], "rf": self.rf.layers.get(nid)}

    # ------------------------------------------------------------------ read-only views
    @property
    def conv(self):
        """Deprecated name of ``conventions``."""
        return self.conventions

    @property
    def storage(self):
        return self.store.of

    @property
    def storage_size(self):
        return self.store.size

    @property
    def total_saved(self):
        return self.saved.total

    @property
    def rf_state(self):
        return self.rf.state

    @property
    def rf_trace(self):
        return self.rf.trace

    def rf_figures(self, nid):
        """The receptive-field recurrence of one node as Figures, per network input and axis:
        [(input name, axis name, [Figure, ...]), ...].  Read by `cnncalc explain`."""
        return self.rf.figures(self.g, nid)

    def totals(self) -> dict:
        return dict(self._totals)

    def group_values(self, ids, out_ref=None) -> dict:
        """Aggregate over nodes: params once per module, work summed."""
        return group_values(self, self.rf.state, ids, out_ref)

    def report(self) -> dict:
        return build_report(self)
