"""The analysis notebooks: stored clean, importing only the public Python API, and run top
to bottom on the real data.

Each notebook ends with checks of its own figures (shares in [0, 1], population
preserved, a route rerouted around a high-conflict zone), so running it here fails
when a method breaks, not only when a cell raises.  The kernel is the Python running
the tests (a kernelspec installed into a temporary Jupyter path), and it reads the
session's car build through ``ORIENTER_BUILD_DIR`` and ``ORIENTER_DATA_DIR`` (the
paths of its parameter cell) so nothing is rebuilt.

The public API is what ``geo`` and ``api.services`` export (their ``__all__``): a
notebook importing anything else of Orienter (``api.http``, ``api.services.analysis``,
``geo.crs``...) fails here.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import nbformat
import pytest

import api.services
import geo

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ["01_zones_mal_desservies.ipynb", "02_scenarios_insecurite.ipynb"]
KERNEL = "orienter-tests"


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def test_every_notebook_is_listed_here() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stored_without_outputs(name: str) -> None:
    nb = _read(name)
    nbformat.validate(nb)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{name}: cells {dirty} hold outputs or execution counts; clear them before "
        "committing (Jupyter: Edit > Clear All Outputs; or the command in notebooks/README.md)"
    )
    assert "widgets" not in nb.metadata


#: The public Python API: module -> the names it exports.
PUBLIC = {"geo": set(geo.__all__), "api.services": set(api.services.__all__)}
OURS = ("geo", "api", "web")


def _code(name: str) -> str:
    """The code cells of a notebook as one module (IPython magics and shell lines dropped)."""
    cells = [cell.source for cell in _read(name).cells if cell.cell_type == "code"]
    lines = "\n".join(cells).splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))


def outside_public_api(source: str) -> list[str]:
    """What ``source`` imports or reaches of Orienter beyond the public API."""
    found: list[str] = []
    bound: dict[str, str] = {}  # local name -> public module it stands for
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in OURS:
                    continue
                if alias.name not in PUBLIC:
                    found.append(f"import {alias.name}")
                elif alias.asname or "." not in alias.name:
                    bound[alias.asname or alias.name] = alias.name
                else:  # ``import api.services`` binds ``api``: reached as api.services.<name>
                    bound["api"] = "api"
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or module.split(".")[0] not in OURS:
                continue
            if module not in PUBLIC:
                found.append(f"from {module} import ...")
                continue
            found += [
                f"from {module} import {a.name}" for a in node.names if a.name not in PUBLIC[module]
            ]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = bound.get(node.value.id)
            if module == "api":
                continue  # checked one level down
            if module is not None and node.attr not in PUBLIC[module]:
                found.append(f"{module}.{node.attr}")
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and isinstance(node.value.value, ast.Name)
            and bound.get(node.value.value.id) == "api"
        ):
            module = f"api.{node.value.attr}"
            if module not in PUBLIC or node.attr not in PUBLIC[module]:
                found.append(f"{module}.{node.attr}")
    return found


@pytest.mark.parametrize("name", NAMES)
def test_notebook_imports_only_the_public_api(name: str) -> None:
    assert outside_public_api(_code(name)) == []
    # and it uses it: the build is opened through api.services
    assert "from api.services import" in _code(name)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_asks_public_answers_only(name: str) -> None:
    """A notebook's outputs are public outputs: no call asks for confidential providers."""
    for node in ast.walk(ast.parse(_code(name))):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                assert keyword.arg != "caseworker" or (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ), f"{name} line {node.lineno} passes caseworker"


@pytest.mark.parametrize(
    ("source", "reported"),
    [
        ("from api.services.analysis import Analysis", "from api.services.analysis import ..."),
        ("from api.http.app import create_app", "from api.http.app import ..."),
        ("import api.build.layers", "import api.build.layers"),
        ("from geo.crs import METRIC_CRS", "from geo.crs import ..."),
        ("from geo import read_conflict_events", "from geo import read_conflict_events"),
        ("import geo\ngeo.zones.zone_at", "geo.zones"),
        ("import api.services\napi.services.planning.site", "api.services.planning"),
        ("import web.maps", "import web.maps"),
        ("from api import settings", "from api import ..."),
    ],
)
def test_the_import_check_sees_a_private_import(source: str, reported: str) -> None:
    assert reported in outside_public_api(source)


def test_the_import_check_passes_the_public_api() -> None:
    source = (
        "import os\nimport numpy as np\nfrom geo import METRIC_CRS, public_mask\n"
        "import geo\ngeo.coverage_table\nfrom api.services import open_build, coverage\n"
        "import api.services as services\nservices.nearest\n"
        "import api.services\napi.services.what_if"
    )
    assert outside_public_api(source) == []


@pytest.mark.parametrize("name", NAMES)
def test_notebook_reads_no_raw_conflict_events(name: str) -> None:
    """The ACLED file is restricted: notebooks use the build's aggregates only."""
    source = "\n".join(cell.source for cell in _read(name).cells if cell.cell_type == "code")
    for forbidden in ("read_conflict_events", "RESTRICTED", "acled", "filter_events"):
        assert forbidden.lower() not in source.lower(), f"{name} uses {forbidden}"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_has_a_parameter_cell_and_ends_with_checks(name: str) -> None:
    code = [cell for cell in _read(name).cells if cell.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert "assert " in code[-1].source


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kernelspec running this very interpreter (the venv's), whatever is on PATH."""
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("jupyter")
    install(kernel_name=KERNEL, prefix=str(prefix))
    return prefix / "share" / "jupyter"


@pytest.mark.integration
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(
    name: str,
    data_dir: Path,
    car_build: Path,
    kernel_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nbclient import NotebookClient

    spec = json.loads((kernel_path / "kernels" / KERNEL / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    monkeypatch.setenv("ORIENTER_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ORIENTER_BUILD_DIR", str(car_build))
    monkeypatch.setenv("ORIENTER_NOTEBOOK_FIGURES", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    stored = (NOTEBOOKS / name).read_bytes()
    nb = _read(name)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert not errors
    # the maps were drawn and saved
    assert list(tmp_path.glob("*.png")), "the notebook saved no figure"
    # the executed copy is kept with the test's files, never written over the stored one
    nbformat.write(nb, tmp_path / name)
    assert (NOTEBOOKS / name).read_bytes() == stored
