"""Design review, model comparison and self-contained reports (HTML/Markdown with plots).

rules.py    the review rules (CC1xx) over an analysed graph
compare.py  totals and per-stage numbers of several specs side by side
plots.py    matplotlib figures (imported inside functions, Agg backend)
html.py     the report renderers: one self-contained HTML file, or Markdown
"""
from .rules import RULES, Finding, review, review_dict

__all__ = ["RULES", "Finding", "review", "review_dict"]
