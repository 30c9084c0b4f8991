"""Homework checking: mark answers, explain the right value, name the mistake (no torch imported).

- :func:`check_path` checks a spec's `expect:` answers, or a separate answers file;
- :mod:`.mistakes` is the catalogue of common mistakes, :mod:`.diagnose` finds the
  one (or the pair) that reproduces a wrong number, by recomputing from the layers'
  arguments (:mod:`.recompute`);
- :func:`layer_report` is the one-line calculator behind `cnncalc layer`.
"""
from .checker import check_analysis, check_path, exit_code, hide_answers
from .layer import layer_report, spec_text
from .mistakes import BY_ID, CATALOGUE

__all__ = ["check_path", "check_analysis", "exit_code", "hide_answers", "layer_report", "spec_text",
           "CATALOGUE", "BY_ID"]
