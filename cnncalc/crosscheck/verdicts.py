"""The verdicts of a cross-check comparison."""
from __future__ import annotations

MATCH, MISMATCH, NOT_COVERED, INFO = "match", "mismatch", "not covered", "info"
