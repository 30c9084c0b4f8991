"""`cnncalc schema`: the JSON Schema of the spec format, for editors (completion and checking)."""
from __future__ import annotations

from typing import Optional


def register(app):
    from . import common as C

    @app.command(short_help="The JSON Schema of the spec format, for editors.")
    def schema(output: Optional[str] = C.output_option()):
        """Print the JSON Schema of the spec format (generated from the op registry).  Point an editor at
        it with a first line `# yaml-language-server: $schema=cnncalc.schema.json`."""
        from ..schema import dumps
        C.write_output(dumps(), output)
