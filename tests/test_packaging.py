"""Reproducible installs: every third-party import is declared, the constraints file pins it."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
FIRST_PARTY = {"geo", "api", "web", "tests", "_results", "make_osm_extract"}
#: Which requirement lists the code of each folder may rely on.
SCOPES = {
    "geo": ("dependencies",),
    "api": ("dependencies",),
    "web": ("dependencies",),
    "tests": ("dependencies", "test"),
    "benchmarks": ("dependencies", "test", "bench"),
}


def _name(requirement: str) -> str:
    """Normalised distribution name of a requirement string (PEP 503)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def declared(lists: tuple[str, ...]) -> set[str]:
    project = PYPROJECT["project"]
    names = set()
    for which in lists:
        reqs = (
            project["dependencies"]
            if which == "dependencies"
            else project["optional-dependencies"][which]
        )
        names |= {_name(r) for r in reqs}
    return names


def imported_top_levels(folder: Path) -> dict[str, str]:
    """Top-level module name -> one file importing it, for every absolute import in folder."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(REPO)))
    return found


@pytest.mark.parametrize("folder", sorted(SCOPES))
def test_every_third_party_import_is_declared(folder: str) -> None:
    allowed = declared(SCOPES[folder])
    dists = packages_distributions()
    missing = []
    # a test module may import another test module of the suite (rootdir-relative)
    suite = {p.stem for p in (REPO / "tests").rglob("*.py")}
    for module, where in imported_top_levels(REPO / folder).items():
        if module in sys.stdlib_module_names or module in FIRST_PARTY or module in suite:
            continue
        # an extra that is not installed here (e.g. bench in CI): its import name is taken
        # as its distribution name (true of pandana and psutil)
        providers = {_name(d) for d in dists.get(module, [])} or {_name(module)}
        if not providers & allowed:
            missing.append(f"{module} ({where}) from {sorted(providers)}")
    assert not missing, f"not declared in pyproject.toml for {folder}/: {missing}"


def test_constraints_pin_every_declared_runtime_and_test_requirement() -> None:
    text = (REPO / "constraints.txt").read_text(encoding="utf-8")
    assert text.startswith("#") and "regenerate" in text.lower()
    pins = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version and re.fullmatch(r"[\w.+!-]+", version), f"not an exact pin: {line}"
            pins[_name(name)] = version
    needed = declared(("dependencies", "test"))
    assert needed <= set(pins), f"not pinned: {sorted(needed - set(pins))}"
    assert "orienter" not in pins  # the project itself is installed editable, not pinned


def test_ci_installs_against_the_constraints_file() -> None:
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"pip install[^\n]*-c constraints\.txt[^\n]*\.\[test[,\]]", script)
