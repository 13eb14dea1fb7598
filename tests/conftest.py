"""Shared fixtures: the real data directory for integration tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Apps made by the tests skip the start-up warm-up (its thread would outlive each test
# client and compete for the CPU); tests/api/test_warm_up.py turns it on explicitly.
os.environ.setdefault("ORIENTER_WARM_UP", "false")

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The Mali data directory named by ORIENTER_DATA_DIR (default ../shared/data).

    Skips when it is missing on a developer machine; fails under CI=true, where the
    integration tests are required.
    """
    path = Path(os.environ.get("ORIENTER_DATA_DIR", REPO.parent / "shared" / "data")).resolve()
    if not (path / "boundaries").is_dir():
        message = f"data directory not found at {path} (set ORIENTER_DATA_DIR)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def car_build(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Car layers (baseline, slowed and avoid scenarios) built once per test session.

    Built from the real data directory and the repository's provider directory into a
    temporary build directory; read-only for the tests that share it (copy it or build
    your own to test anything that writes).  About 80 s on a 2-core machine.

    ``ORIENTER_TEST_CAR_BUILD`` names an existing car build to reuse instead (developer
    machines; CI leaves it unset and builds from scratch).
    """
    from api.build.pipeline import build_all
    from api.settings import Settings

    reuse = os.environ.get("ORIENTER_TEST_CAR_BUILD")
    if reuse and os.environ.get("CI", "").lower() != "true":
        return Path(reuse).resolve()
    build_dir = tmp_path_factory.mktemp("car-build")
    settings = Settings(
        data_dir=data_dir, build_dir=build_dir, providers=REPO / "data" / "providers.geojson"
    )
    build_all(settings, modes=["car"])
    return build_dir


@pytest.fixture(scope="session")
def car_settings(data_dir: Path, car_build: Path):
    """Settings of the shared car build with the repository's provider directory and no
    user boundaries: ``car_settings()``, or ``car_settings(token)`` with one caseworker
    token, or other settings by keyword."""
    import hashlib

    from api.settings import Settings

    def make(token: str | None = None, **more):
        if token is not None:
            more["caseworker_token_hashes"] = [hashlib.sha256(token.encode()).hexdigest()]
        return Settings(
            data_dir=data_dir,
            build_dir=car_build,
            providers=REPO / "data" / "providers.geojson",
            boundaries_dir=car_build / "no-user-boundaries",
            **more,
        )

    return make


@pytest.fixture
def cli_settings(monkeypatch: pytest.MonkeyPatch):
    """Point the command line, which reads its settings from the environment, at a
    :class:`~api.settings.Settings`: ``cli_settings(settings)`` sets its data, build,
    provider and boundaries paths and its grid cell, with no caseworker token; the
    settings cache is cleared then and after the test."""
    from api.settings import get_settings

    def use(settings) -> None:
        for key, value in {
            "ORIENTER_DATA_DIR": settings.data_dir,
            "ORIENTER_BUILD_DIR": settings.build_dir,
            "ORIENTER_PROVIDERS": settings.providers,
            "ORIENTER_BOUNDARIES_DIR": settings.boundaries_dir,
            "ORIENTER_GRID_CELL_M": f"{settings.grid_cell_m:g}",
        }.items():
            monkeypatch.setenv(key, str(value))
        monkeypatch.delenv("ORIENTER_CASEWORKER_TOKEN", raising=False)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


#: Grid of the all-modes test build, metres (coarse: the three modes build in ~20 s).
MODES_BUILD_CELL_M = 5000


@pytest.fixture(scope="session")
def modes_build(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Settings of a build with every mode (walk, motorbike, car; baseline), once per session.

    A 5 km grid from the real data directory and the repository's provider directory,
    about 20 s on a 2-core machine.  ``ORIENTER_TEST_MODES_BUILD`` names an existing
    build with these modes to reuse instead (any grid: its manifest says which; developer
    machines only, CI builds from scratch).  Read-only for the tests that share it.
    """
    import json

    from api.build.pipeline import build_all
    from api.settings import Settings

    reuse = os.environ.get("ORIENTER_TEST_MODES_BUILD")
    if reuse and os.environ.get("CI", "").lower() != "true":
        build_dir = Path(reuse).resolve()
        manifest = json.loads((build_dir / "manifest.json").read_text(encoding="utf-8"))
        cell_m = float(manifest["parameters"]["cell_m"])
    else:
        build_dir, cell_m = tmp_path_factory.mktemp("modes-build"), MODES_BUILD_CELL_M
    settings = Settings(
        data_dir=data_dir,
        build_dir=build_dir,
        providers=REPO / "data" / "providers.geojson",
        boundaries_dir=build_dir / "no-user-boundaries",
        grid_cell_m=cell_m,
        warm_up=False,
    )
    if not reuse or os.environ.get("CI", "").lower() == "true":
        build_all(settings, modes=["walk", "motorbike", "car"], scenarios=["baseline"])
    return settings
