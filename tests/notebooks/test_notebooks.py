"""The analysis notebooks: stored clean, and run top to bottom on the real data.

Each notebook ends with checks of its own figures (shares in [0, 1], population
preserved, a route rerouted around a high-conflict zone), so running it here fails
when a method breaks, not only when a cell raises.  The kernel is the Python running
the tests (a kernelspec installed into a temporary Jupyter path), and it reads the
session's car build through ``ORIENTER_BUILD_DIR`` so nothing is rebuilt.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

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
