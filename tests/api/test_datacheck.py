"""`orienter data check`: every dataset found and loaded, or reported missing/broken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.datasets import DATASETS, find_dataset
from api.settings import get_settings


@pytest.fixture
def use_data_dir(monkeypatch, tmp_path):
    """Point the settings at a data directory (and an empty repository boundaries dir)."""

    def use(path: Path) -> None:
        monkeypatch.setenv("ORIENTER_DATA_DIR", str(path))
        monkeypatch.setenv("ORIENTER_BOUNDARIES_DIR", str(tmp_path / "no-repo-boundaries"))
        get_settings.cache_clear()

    get_settings.cache_clear()
    yield use
    get_settings.cache_clear()


def _linked_copy(src: Path, dst: Path, *, skip: set[str] = frozenset()) -> Path:
    """``dst`` laid out like ``src``, every file a symlink to the shared one (nothing copied)."""
    for folder in sorted(p for p in src.iterdir() if p.is_dir()):
        (dst / folder.name).mkdir(parents=True)
        for f in sorted(folder.iterdir()):
            if f.is_file() and f.name not in skip:
                (dst / folder.name / f.name).symlink_to(f)
    return dst


def _run(*args: str):
    return CliRunner().invoke(app, ["data", "check", *args])


def _report(result) -> dict:
    return json.loads(result.stdout)


@pytest.mark.integration
def test_check_on_the_shared_data(data_dir, use_data_dir):
    use_data_dir(data_dir)
    result = _run("--json")
    assert result.exit_code == 0, result.output
    report = _report(result)
    assert report["ok"] is True and report["failures"] == []
    by_key = {d["key"]: d for d in report["datasets"]}
    assert set(by_key) == set(DATASETS)
    rows = {k: by_key[k]["rows"] for k in by_key}
    assert rows["adm1"] == 9
    assert rows["adm2"] == 50
    assert rows["adm3"] == 701
    assert rows["settlements"] == 18_769
    assert rows["roads_segments"] == 355
    assert rows["roads_intercity"] == 240
    assert rows["conflict"] == 4_447
    assert rows["facilities_who"] > 1_000
    for key, d in by_key.items():
        if d["required"]:
            assert d["status"] == "ok", (key, d["problems"])
    assert (
        by_key["adm1"]["date"] == "2015-04-08" and by_key["adm1"]["date_source"] == "validOn field"
    )
    assert by_key["settlements"]["date"] == "2015-04-24"
    assert by_key["conflict"]["date"] == "2010-01-21..2020-12-31"
    assert by_key["conflict"]["licence"] == DATASETS["conflict"].licence
    raster = by_key["population_raster"]
    assert raster["shape"] == [92, 101] and raster["total_population"] > 1_000_000
    assert by_key["roads_osm"]["status"] == "missing (optional)"
    assert report["roads"]["build_uses"] == "roads_segments"
    assert {"roads_segments", "roads_intercity"} <= set(report["roads"]["loaded"])
    assert by_key["facilities_who"]["warnings"]  # captured loader warnings


@pytest.mark.integration
def test_table_output_and_no_acled_rows(data_dir, use_data_dir):
    use_data_dir(data_dir)
    result = _run()
    assert result.exit_code == 0, result.output
    assert "Every required dataset is present and loads." in result.output
    assert "roads_segments" in result.output
    # counts only: no ACLED event ids or notes appear
    assert "MLI" not in result.output.replace("mli_", "")


@pytest.mark.integration
def test_missing_required_file_fails_and_reports_everything(data_dir, use_data_dir, tmp_path):
    root = _linked_copy(
        data_dir, tmp_path / "data", skip={"mli_populated_places_ocha_cod_2015.geojson"}
    )
    use_data_dir(root)
    result = _run("--json")
    assert result.exit_code == 1, result.output
    report = _report(result)
    by_key = {d["key"]: d for d in report["datasets"]}
    assert set(by_key) == set(DATASETS)
    assert report["failures"] == ["settlements"]
    missing = by_key["settlements"]
    assert missing["status"] == "missing" and missing["found"] is False
    assert str(root / "settlements") in missing["problems"][0]
    assert by_key["adm3"]["status"] == "ok" and by_key["conflict"]["rows"] == 4_447

    table = _run()
    assert table.exit_code == 1
    assert "settlements" in table.output and str(root / "settlements") in table.output
    assert "Error:" in table.output


@pytest.mark.integration
def test_corrupt_required_file_fails_naming_file_and_problem(data_dir, use_data_dir, tmp_path):
    root = _linked_copy(data_dir, tmp_path / "data")
    broken = root / "boundaries" / "mli_adm2_broken.geojson"
    broken.write_text(
        '{"type": "FeatureCollection", "features": [ {"type": "Feat', encoding="utf-8"
    )
    use_data_dir(root)
    assert find_dataset(get_settings(), "adm2") == broken  # the broken file is the one used

    result = _run()
    assert result.exit_code == 1, result.output
    assert str(broken) in result.output
    assert "cannot be read as a vector layer" in result.output
    for key in DATASETS:
        assert key in result.output

    report = _report(_run("--json"))
    by_key = {d["key"]: d for d in report["datasets"]}
    assert report["failures"] == ["adm2"]
    assert by_key["adm2"]["status"] == "error" and by_key["adm2"]["file"] == broken.name
    assert any(str(broken) in p and "cannot be read" in p for p in by_key["adm2"]["problems"])
    others = [d for k, d in by_key.items() if k != "adm2" and d["required"]]
    assert all(d["status"] == "ok" for d in others)


def test_empty_data_dir_reports_every_dataset(use_data_dir, tmp_path):
    use_data_dir(tmp_path / "empty")
    result = _run("--json")
    assert result.exit_code == 1
    report = _report(result)
    assert {d["key"] for d in report["datasets"]} == set(DATASETS)
    for d in report["datasets"]:
        assert d["status"] == ("missing" if d["required"] else "missing (optional)")
    assert any(f.startswith("roads") for f in report["failures"])
    assert report["roads"]["loaded"] == []


def test_no_road_layer_loading_fails(use_data_dir, tmp_path):
    roads = tmp_path / "data" / "roads"
    roads.mkdir(parents=True)
    (roads / "x_road_segments_y.gpkg").write_bytes(b"not a geopackage")
    use_data_dir(tmp_path / "data")
    report = _report(_run("--json"))
    by_key = {d["key"]: d for d in report["datasets"]}
    assert by_key["roads_segments"]["status"] == "error"
    assert "x_road_segments_y.gpkg" in by_key["roads_segments"]["problems"][0]
    assert report["roads"]["build_uses"] == "roads_segments"
    assert report["roads"]["problem"]


@pytest.mark.integration
def test_broken_road_layer_the_build_would_use_fails(data_dir, use_data_dir, tmp_path):
    root = _linked_copy(data_dir, tmp_path / "data")
    (root / "roads" / "mali-latest.osm.pbf").write_bytes(b"not a pbf")  # preferred by the build
    use_data_dir(root)
    result = _run("--json")
    assert result.exit_code == 1, result.output
    report = _report(result)
    assert report["roads"]["build_uses"] == "roads_osm"
    assert "roads_segments" in report["roads"]["loaded"]  # another layer loads ...
    assert any("the layer the build uses" in f for f in report["failures"])  # ... still fails
