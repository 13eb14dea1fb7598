"""The house plan, checked: module and function sizes, import direction, no import cycle.

Read from the source files (``ast``), nothing is imported.  docs/architecture.md draws
the plan these tests enforce.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("geo", "api", "web")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 100

# Files other branches own while this plan lands; they are split when those branches
# merge, and each exemption is then removed (the test fails on an exemption that no
# longer hides anything, so none outlives its reason).
EXEMPT_MODULES: set[str] = set()
EXEMPT_FUNCTIONS: set[str] = set()

# What each part may import (prefix -> allowed prefixes), see docs/architecture.md.
# ``api.<module>`` files directly under api/ belong to the base layer unless listed.
LAYERS: dict[str, tuple[str, ...]] = {
    "geo": ("geo",),
    "web": ("geo", "web"),
    "api.base": ("geo", "web", "api.base"),
    "api.build": ("geo", "api.base", "api.build"),
    "api.services": ("geo", "web", "api.base", "api.build", "api.services"),
    "api.cli": ("geo", "web", "api.base", "api.build", "api.services", "api.cli"),
    "api.http": ("geo", "web", "api.base", "api.build", "api.services", "api.http"),
}
# Modules of api/ that sit at its top, and their layer (none since every branch merged).
API_TOP: dict[str, str] = {}
# The edges from one edge to another: `orienter serve` starts the app (one process, or
# forked workers).
ALLOWED_EDGES = {("api.cli.serve", "api.http.app"), ("api.cli.serve", "api.http.prefork")}


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(p for p in parts if p != "__init__")
            yield name, path


def _layer(module: str) -> str:
    if module in API_TOP:
        return API_TOP[module]
    parts = module.split(".")
    if parts[0] != "api":
        return parts[0]
    if len(parts) > 2 or (len(parts) == 2 and parts[1] in ("build", "services", "cli", "http")):
        return f"api.{parts[1]}"
    return "api.base"


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """Modules of the three packages ``path`` imports, anywhere (function level too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            # ``from pkg import mod`` depends on pkg.mod; ``from mod import name`` on mod
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        for name in names:
            if name in known:
                found.add(name)
    found.discard(module)
    return found


def _graph() -> dict[str, set[str]]:
    modules = dict(_modules())
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def test_modules_and_functions_stay_small():
    too_long: list[str] = []
    used: set[str] = set()
    for _, path in _modules():
        rel = path.relative_to(REPO).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > MAX_MODULE_LINES:
            if rel in EXEMPT_MODULES:
                used.add(rel)
            else:
                too_long.append(f"{rel}: {lines} lines (> {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                key = f"{rel}:{node.name}"
                if length > MAX_FUNCTION_LINES:
                    if key in EXEMPT_FUNCTIONS:
                        used.add(key)
                    else:
                        too_long.append(f"{key} line {node.lineno}: {length} lines")
    assert not too_long, "split these:\n" + "\n".join(too_long)
    stale = sorted((EXEMPT_MODULES | EXEMPT_FUNCTIONS) - used)
    assert not stale, f"exemptions that no longer hide anything, remove them: {stale}"


def test_each_part_imports_only_what_it_may():
    wrong = []
    for module, imported in _graph().items():
        allowed = LAYERS[_layer(module)]
        for target in sorted(imported):
            if (module, target) in ALLOWED_EDGES:
                continue
            if _layer(target) not in allowed:
                wrong.append(f"{module} ({_layer(module)}) imports {target} ({_layer(target)})")
    assert not wrong, "\n".join(wrong)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_not_even_inside_a_function():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_hidden_cycle():
    graph = {"geo.coverage": {"geo.demand"}, "geo.demand": {"geo.coverage"}, "geo.grid": set()}
    assert _cycles(graph) == [["geo.coverage", "geo.demand"]]


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("api.settings", "api.base"),
        ("api.build.pipeline", "api.build"),
        ("api.http.routes.nearest", "api.http"),
        ("api.cli", "api.cli"),
        ("api.cli.data", "api.cli"),
        ("geo.units", "geo"),
    ],
)
def test_layers_of_modules(module, layer):
    assert _layer(module) == layer
