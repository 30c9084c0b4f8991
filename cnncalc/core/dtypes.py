"""Bytes per element of the dtypes a graph may be analysed in."""
from __future__ import annotations

DTYPES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
