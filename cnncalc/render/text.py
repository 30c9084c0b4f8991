"""Former name of :mod:`cnncalc.render.table` (the analysis report's renderers)."""
from .table import *  # noqa: F401,F403
from .table import collapse, render_csv, render_json, render_markdown  # noqa: F401
