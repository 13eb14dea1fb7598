"""`orienter roads export`: the road graph as GraphML or GeoPackage."""

from __future__ import annotations

from pathlib import Path

import osmnx as ox
import pyogrio
import pytest
from typer.testing import CliRunner

from api.cli import app
from api.settings import get_settings
from geo.osm import read_osm_roads
from geo.roads import read_road_segments

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "osm" / "junctions.osm"


def _run(*args: str) -> tuple[int, str]:
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["roads", "export", *args])
    finally:
        get_settings.cache_clear()
    return result.exit_code, " ".join(result.output.split())


def test_export_osm_file_as_graphml_and_gpkg(tmp_path: Path) -> None:
    roads = read_osm_roads(FIXTURE)
    n_edges = 2 * len(roads) - int((roads["u"] == roads["v"]).sum())
    code, out = _run("--roads", str(FIXTURE), "--out", str(tmp_path / "g.graphml"))
    assert code == 0, out
    assert f"{n_edges} edges" in out and "travel_time = car" in out
    graph = ox.load_graphml(tmp_path / "g.graphml")
    assert graph.number_of_edges() == n_edges
    assert all(d["travel_time"] > 0 for _, _, d in graph.edges(data=True))

    code, out = _run(
        "--roads", str(FIXTURE), "--out", str(tmp_path / "g.gpkg"), "--format", "gpkg",
        "--mode", "walk", "--season", "rainy",
    )  # fmt: skip
    assert code == 0, out
    assert "travel_time = walk, rainy season" in out
    assert [str(n) for n in pyogrio.list_layers(tmp_path / "g.gpkg")[:, 0]] == ["nodes", "edges"]


def test_export_arguments_are_checked_before_any_work(tmp_path: Path) -> None:
    code, out = _run("--roads", str(FIXTURE), "--out", str(tmp_path / "g.shp"))
    assert code == 2 and "--format must be graphml or gpkg" in out
    code, out = _run("--roads", str(FIXTURE), "--out", str(tmp_path / "g.gpkg"), "--mode", "jet")
    assert code == 2 and "--mode" in out and "walk" in out
    code, out = _run("--roads", str(tmp_path / "none.osm"), "--out", str(tmp_path / "g.gpkg"))
    assert code == 1 and "not found" in out
    code, out = _run("--roads", str(FIXTURE), "--out", str(tmp_path / "no" / "g.gpkg"))
    assert code == 1 and "does not exist" in out
    assert not list(tmp_path.iterdir())


@pytest.mark.integration
def test_export_the_road_data_the_build_uses(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORIENTER_DATA_DIR", str(data_dir))
    code, out = _run("--out", str(tmp_path / "mali.graphml"))
    assert code == 0, out
    segments = next((data_dir / "roads").glob("*road_segments*.gpkg"))
    roads = read_road_segments(segments)
    graph = ox.load_graphml(tmp_path / "mali.graphml")
    assert graph.number_of_edges() == 2 * len(roads) - int((roads["u"] == roads["v"]).sum())
    loops = roads["u"] == roads["v"]
    total_m = sum(d["length"] for _, _, d in graph.edges(data=True))
    assert total_m == pytest.approx(
        2 * roads["length_m"].sum() - roads.loc[loops, "length_m"].sum()
    )
    assert graph.graph["travel_time_mode"] == "car"
