"""The package's import graph: no cycles between modules, no library code importing the CLI.

Every import statement of every module of ``cnncalc`` is read with ``ast`` (those inside functions
too: a lazy import is still a dependency, and a cycle through one only hides until it bites).
An edge from a module to one of its own ancestor packages is not a dependency (Python imports a
package before its modules anyway).
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "cnncalc"


@lru_cache(maxsize=None)
def _modules():
    mods = {}
    for p in ROOT.rglob("*.py"):
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


@lru_cache(maxsize=None)
def _graph():
    return _edges(_modules())


def _edges(mods):
    edges = {m: set() for m in mods}
    for name, path in mods.items():
        pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                found = []
                for alias in node.names:          # `from . import build` names a module
                    sub = f"{target}.{alias.name}"
                    if sub in mods:
                        found.append(sub)
                if not found and target in mods:
                    found.append(target)
            elif isinstance(node, ast.Import):
                found = [a.name for a in node.names if a.name in mods]
            else:
                continue
            for t in found:
                if t != name and not name.startswith(t + "."):
                    edges[name].add(t)
    return edges


def _cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_is_read():
    # the reader must see real edges, or the tests below could not fail
    edges = _graph()
    assert "cnncalc.core.analyze" in edges
    assert "cnncalc.core.passes.receptive" in edges["cnncalc.core.analyze"]
    assert "cnncalc.crosscheck.checks" in edges["cnncalc.crosscheck"]          # a lazy import inside a function


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("layer", ["core", "kinds", "spec", "crosscheck", "frontends", "homework", "review", "render"])
def test_library_code_does_not_import_the_cli(layer):
    edges = _graph()
    bad = sorted(f"{m} -> {t}" for m, ts in edges.items() if m.startswith(f"cnncalc.{layer}")
                 for t in ts if t == "cnncalc.cli" or t.startswith("cnncalc.cli."))
    assert bad == []


def test_library_modules_outside_packages_do_not_import_the_cli():
    edges = _graph()
    top = [m for m in edges if m.count(".") == 1 and not m.startswith("cnncalc.cli") and m != "cnncalc.__main__"]
    bad = sorted(f"{m} -> {t}" for m in top for t in edges[m] if t.startswith("cnncalc.cli"))
    assert bad == []


def test_no_cycles_between_packages():
    # spec reads into core's graph; core must not reach back into spec (nor any package into one
    # that reaches back into it)
    pk = {}
    for m, ts in _graph().items():
        a = ".".join(m.split(".")[:2])
        pk.setdefault(a, set())
        for t in ts:
            b = ".".join(t.split(".")[:2])
            pk.setdefault(b, set())
            if a != b:
                pk[a].add(b)
    assert "cnncalc.core" in pk["cnncalc.spec"]
    assert _cycles(pk) == []


def test_the_engine_names_no_kind():
    # core/, crosscheck/, spec/, the conventions and the errors ask a kind (its geometry, traits, saved
    # tensors); they never test for one by name.  Every string constant of those modules is read.
    # Module kinds only: the tensor functions' lowercase names (mean, add, relu) are also rule names
    # and argument values (reduction="mean").
    from cnncalc.kinds import REGISTRY
    from cnncalc.kinds.base import FOREIGN_OPS
    names = {n for n in set(REGISTRY) | set(FOREIGN_OPS) if n[:1].isupper()}
    prefixes = tuple({n.rstrip("123d") for n in REGISTRY if n[0].isupper()} - {""})
    hits = []
    for mod, path in _modules().items():
        rel = mod.split(".")[1] if "." in mod else ""
        if rel not in ("core", "crosscheck", "spec", "conventions", "errors"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                v = node.value
                if v in names or (v[:1].isupper() and v.startswith(prefixes) and " " not in v):
                    hits.append(f"{mod}:{node.lineno}: {v!r}")
    assert hits == []
