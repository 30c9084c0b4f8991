"""`cnncalc schema`: the JSON Schema of the spec format, for editors (completion and checking)."""
from __future__ import annotations

from typing import Optional

import typer


def register(app):
    @app.command()
    def schema(output: Optional[str] = typer.Option(None, "--output", "-o", help="write the schema to this file")):
        """Print the JSON Schema of the spec format (generated from the op registry).  Point an editor at
        it with a first line `# yaml-language-server: $schema=cnncalc.schema.json`."""
        from ..schema import dumps
        from . import common as C
        C.write_output(dumps(), output)
