"""Former home of the HTML and Markdown report renderers, now :mod:`cnncalc.render.html`."""
from ..render.html import render_html, render_markdown, summary_rows  # noqa: F401
