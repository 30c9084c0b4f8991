"""Resource bounds on what a spec may ask for.

A spec is data from anywhere: without bounds, ``repeat: 1000000000``, ``${9**9**9}`` or a YAML
alias bomb would take minutes and gigabytes before failing.  Every bound below is far above what any
real network needs (the largest torchvision model has about 1,000 layers), so that a refusal answers
at once.  Each can be raised with an environment variable ``CNNCALC_MAX_<NAME>``, e.g.
``CNNCALC_MAX_NODES=200000 cnncalc analyze huge.yaml``.
"""
from __future__ import annotations

import os

from .i18n import N_, _

#: name -> (default, what it bounds)
DEFAULTS = {
    "file_bytes": (1024 * 1024, N_("size of a spec file in bytes")),
    "yaml_nodes": (200_000, N_("YAML values in a spec after resolving aliases")),
    "nodes": (50_000, N_("layers after expanding repeats and blocks")),
    "expr_chars": (2_000, N_("characters in one expression")),
    "expr_depth": (60, N_("nesting depth of one expression")),
    "int_bits": (1_024, N_("bits of an integer computed in an expression")),
    "seq_len": (10_000, N_("length of a string or list built by an expression")),
    "sweep": (1_000, N_("values in one sweep (e.g. memory --batch)")),
    "dim": (2**31 - 1, N_("size of one tensor dimension")),
    "elements": (2**48, N_("elements of one tensor, batch included")),
}


def env_name(name: str) -> str:
    return f"CNNCALC_MAX_{name.upper()}"


def get(name: str) -> int:
    default = DEFAULTS[name][0]
    raw = os.environ.get(env_name(name))
    if raw:
        try:
            v = int(raw.replace("_", ""))
            if v > 0:
                return v
        except ValueError:
            pass
    return default


def hint(name: str) -> str:
    """How to raise the bound, for an error's hint line."""
    return _("the bound on {what} is {bound}; if this is intended, raise it with the environment variable "
             "{variable}").format(what=_(DEFAULTS[name][1]), bound=f"{get(name):,}", variable=env_name(name))
