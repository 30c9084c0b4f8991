"""Reports as JSON (its own module: `analyze --format json` need not import the table renderers)."""
from __future__ import annotations

import json


def render_json(report) -> str:
    return json.dumps(report, indent=2, default=str) + "\n"
