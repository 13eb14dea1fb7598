"""The build manifest across builds of different modes (coarse 10 km grid: seconds)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from api.build.layers import load_layers
from api.build.pipeline import build_all
from api.settings import Settings

REPO_PROVIDERS = "data/providers.geojson"


@pytest.fixture
def coarse(data_dir, tmp_path):
    providers = tmp_path / "providers.geojson"
    shutil.copy(REPO_PROVIDERS, providers)
    return Settings(
        data_dir=data_dir,
        build_dir=tmp_path / "build",
        providers=providers,
        grid_cell_m=10_000,
    )


def _modes(settings: Settings) -> list[str]:
    manifest = json.loads((settings.build_dir / "manifest.json").read_text())
    return manifest["modes"]


def test_building_a_mode_keeps_the_modes_built_before_while_they_are_fresh(coarse):
    build_all(coarse, modes=["walk"], scenarios=["baseline"])
    build_all(coarse, modes=["car"], scenarios=["baseline"])
    assert _modes(coarse) == ["car", "walk"]
    inputs = json.loads((coarse.build_dir / "manifest.json").read_text())["inputs"]
    # absolute, so a server started from another directory finds the same files
    assert all(Path(inputs[k]["path"]).is_absolute() for k in ("adm0", "providers", "population"))
    assert load_layers(coarse).modes == ["car", "walk"]

    # a provider change makes walk's labels stale: a car-only build must stop listing walk
    data = json.loads(coarse.providers.read_text())
    data["features"] = data["features"][1:]
    coarse.providers.write_text(json.dumps(data, ensure_ascii=False))
    build_all(coarse, modes=["car"], scenarios=["baseline"])
    assert _modes(coarse) == ["car"]
