"""The speed profile setting reaches the build and its cache key (coarse 10 km grid)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from api.build.pipeline import build_all
from api.settings import Settings
from geo.store import load_graph

pytestmark = pytest.mark.integration


@pytest.fixture
def coarse(data_dir, tmp_path):
    providers = tmp_path / "providers.geojson"
    shutil.copy("data/providers.geojson", providers)
    return {
        "data_dir": data_dir,
        "build_dir": tmp_path / "build",
        "providers": providers,
        "grid_cell_m": 10_000,
    }


def _graph_step(report) -> str:
    return next(s["status"] for s in report.steps if s["step"] == "graph car-baseline")


def test_changing_the_profile_rebuilds_the_graph_and_is_recorded(coarse):
    default = Settings(**coarse)
    assert default.speed_profile is None  # the table's default: calibrated
    build_all(default, modes=["car"], scenarios=["baseline"])
    manifest = json.loads((default.build_dir / "manifest.json").read_text())
    assert manifest["inputs"]["speeds"]["profile"] == "calibrated"
    calibrated = load_graph(default.build_dir / "graphs" / "car-baseline")
    assert calibrated.description["speed_profile"] == "calibrated"

    table = Settings(**coarse, speed_profile="class_table")
    assert _graph_step(build_all(table, modes=["car"], scenarios=["baseline"])) == "built"
    manifest = json.loads((table.build_dir / "manifest.json").read_text())
    assert manifest["inputs"]["speeds"]["profile"] == "class_table"
    by_class = load_graph(table.build_dir / "graphs" / "car-baseline")
    # the corridors changed speed: the road edges' minutes differ, their lengths do not
    assert not np.allclose(by_class.minutes.data, calibrated.minutes.data)
    np.testing.assert_allclose(by_class.metres.data, calibrated.metres.data)
    # the same profile again is reused
    again = build_all(table, modes=["car"], scenarios=["baseline"])
    assert any(s["status"] == "reused" for s in again.steps)


def test_unknown_profile_stops_the_build_naming_the_allowed_ones(coarse):
    with pytest.raises(ValueError, match="allowed: calibrated, free_flow, class_table"):
        build_all(Settings(**coarse, speed_profile="fastest"), modes=["car"])
