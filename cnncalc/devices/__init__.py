"""Device profiles: what the CUDA runtime adds to the analytical memory model, as data files
(``NAME.json`` beside this file) and pure functions of an analysis (no torch imported here).

``load_profile("h200")`` or ``load_profile("path/to/profile.json")`` returns the profile dict; a profile
with ``"extends": "h200"`` takes every term it does not set from that profile (the devices measured by
nobody yet reuse the H200's kernel model with their own memory size).
"""
from __future__ import annotations

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


class ProfileError(ValueError):
    """A device name or profile file that cannot be used; the message says what is accepted."""


def profile_names() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(HERE) if f.endswith(".json"))


def _normal(name: str) -> str:
    return name.strip().lower().replace("nvidia", "").replace("geforce", "").replace(" ", "").replace(
        "_", "").replace("-", "")


def find_profile(name: str):
    """The profile name for `h200`, `A100 80GB`, `rtx-4090` ...; None when there is none."""
    want = _normal(name)
    for n in profile_names():
        p = _read(os.path.join(HERE, n + ".json"))
        if want in {_normal(n)} | {_normal(x) for x in p.get("aliases", [])}:
            return n
    return None


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise ProfileError(f"cannot read device profile {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ProfileError(f"{path}:{e.lineno}:{e.colno}: not a JSON device profile: {e.msg}") from None


REQUIRED = ("name", "total_bytes", "allocator", "fixed_workspaces", "optimizer_temporaries", "amp",
            "conv_workspace")


def load_profile(name_or_file: str) -> dict:
    """A profile by device name or from a JSON file (as `cnncalc calibrate` writes)."""
    if name_or_file.endswith(".json") or os.sep in name_or_file or os.path.exists(name_or_file):
        p, where = _read(name_or_file), name_or_file
        p.setdefault("name", os.path.splitext(os.path.basename(name_or_file))[0])
    else:
        n = find_profile(name_or_file)
        if n is None:
            from ..errors import suggest
            s = suggest(name_or_file.lower(), profile_names())
            raise ProfileError(f"no device profile `{name_or_file}`"
                               + (f"; did you mean {' or '.join(s)}?" if s else "")
                               + " (known: " + ", ".join(profile_names()) + "; or a profile file written by "
                               "`cnncalc calibrate`)")
        p, where = _read(os.path.join(HERE, n + ".json")), n
    seen = set()
    while "extends" in p:
        base_name = p.pop("extends")
        if base_name in seen:
            raise ProfileError(f"{where}: `extends` loops through {base_name}")
        seen.add(base_name)
        base = _read(os.path.join(HERE, base_name + ".json"))
        merged = dict(base)
        merged.pop("aliases", None)
        merged.update(p)
        p = merged
    missing = [k for k in REQUIRED if k not in p]
    if missing:
        raise ProfileError(f"{where}: device profile lacks " + ", ".join(missing))
    return p
