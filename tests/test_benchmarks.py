"""The benchmark scripts stay runnable: each imports against today's modules (a renamed or
removed function breaks the import, not a run an hour later), and each names the peer or
the target it measures in its docstring."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

OURS = {"geo", "api", "web"}
BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if not p.name.startswith("_"))


def _imported_names(path: Path) -> list[tuple[str, str | None]]:
    """Every ``from geo/api/web... import name`` in the script, at any depth."""
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in OURS:
                out += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names if a.name.split(".")[0] in OURS]
    return out


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_orienter_name_a_benchmark_uses_exists(script):
    missing = []
    for module, name in _imported_names(script):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            missing.append(module)
            continue
        if name is not None and not hasattr(mod, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"{module}.{name}")
    assert not missing, f"{script.name} imports what no longer exists: {missing}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_benchmark_imports_and_runs_only_as_a_script(script, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(f"_bench_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)  # a module-level run or a broken import fails here
    assert (module.__doc__ or "").strip(), f"{script.name} says nothing of what it measures"
