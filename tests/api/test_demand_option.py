"""Demand model and census calibration in api.services.analysis and `orienter coverage --demand`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from api.services.analysis import Analysis
from api.settings import Settings, get_settings

pytestmark = pytest.mark.integration


def _settings(data_dir, car_build, **kw) -> Settings:
    return Settings(
        data_dir=data_dir,
        build_dir=car_build,
        boundaries_dir=car_build / "no-user-boundaries",
        **kw,
    )


def test_settlement_demand_keeps_the_units_and_the_total(data_dir, car_build):
    grid = Analysis.load(_settings(data_dir, car_build)).coverage(level="adm3")
    sett = Analysis.load(_settings(data_dir, car_build, demand="settlements"))
    for level, n in (("adm1", 9), ("adm3", 701)):
        table = sett.coverage(level=level).table
        assert len(table) == n and table["pcode"].is_unique
        assert (table["population"] > 0).all()  # every unit holds some settlement
        shares = table[[f"share_within_{t}" for t in (30, 60, 120, 300)]].to_numpy()
        assert ((shares >= 0) & (shares <= 1)).all() and (shares[:, 1:] >= shares[:, :-1]).all()
    table = sett.coverage(level="adm3").table
    assert table["population"].sum() == pytest.approx(grid.table["population"].sum(), rel=0.01)
    meta = sett.coverage(level="adm1").meta
    assert meta["demand"] == "settlements" and meta["calibrated"] is False
    assert meta["population_source"].endswith(".tif")
    assert grid.meta["demand"] == "grid"
    national = sett.national()
    assert national["meta"]["demand"] == "settlements"
    # Bamako district is smaller than one 18 km raster cell: on its settlements it gets
    # more of its city's people than the grid's cell centres give it
    adm1 = {r["pcode"]: r["population"] for r in sett.coverage(level="adm1").records()}
    grid1 = {
        r["pcode"]: r["population"]
        for r in Analysis.load(_settings(data_dir, car_build)).coverage(level="adm1").records()
    }
    assert adm1["ML09"] > 1.2 * grid1["ML09"]


def test_census_calibration_gives_each_region_the_table_total(data_dir, car_build, tmp_path):
    census = data_dir / "population" / "mli_adm1_pop_census_1998_2009.csv"
    with pytest.warns(UserWarning, match="population columns"):
        analysis = Analysis.load(
            _settings(data_dir, car_build, demand="settlements", population_table=census)
        )
        result = analysis.coverage(level="adm1")
    table = result.table.set_index("pcode")
    assert table.loc["ML09", "population"] == pytest.approx(1_809_106, abs=1)
    assert table.loc["ML02", "population"] == pytest.approx(2_418_305, abs=1)
    assert table["population"].sum() == pytest.approx(14_517_176, abs=10)
    assert result.meta["calibrated"] is True
    assert result.meta["population_table"] == census.name
    # the cercles add up to the calibrated régions
    adm2 = analysis.coverage(level="adm2").table
    assert adm2["population"].sum() == pytest.approx(14_517_176, abs=60)


def test_cli_demand_option_and_a_bad_census_row(data_dir, car_build, tmp_path, monkeypatch):
    monkeypatch.setenv("ORIENTER_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ORIENTER_BUILD_DIR", str(car_build))
    monkeypatch.setenv("ORIENTER_BOUNDARIES_DIR", str(car_build / "no-user-boundaries"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(cli, ["coverage", "--demand", "settlements", "--format", "json"])
        assert out.exit_code == 0, out.output
        meta = json.loads(out.stdout)["meta"]
        assert (meta["demand"], meta["population_table"], meta["calibrated"]) == (
            "settlements",
            None,
            False,
        )
        bad = runner.invoke(cli, ["coverage", "--demand", "dots"])
        assert bad.exit_code == 2 and "'--demand'" in bad.output
        assert "'dots' is not one of 'grid', 'settlements'" in bad.output
        table = tmp_path / "census.csv"
        table.write_text("admin1Pcod,admin1Name,pop\nML01,Kayes,10\nML99,Atlantis,5\n")
        monkeypatch.setenv("ORIENTER_POPULATION_TABLE", str(table))
        get_settings.cache_clear()
        wrong = runner.invoke(cli, ["coverage", "--format", "json"])
        assert wrong.exit_code == 1
        assert "row 3" in wrong.output and "ML99" in wrong.output and "Atlantis" in wrong.output
    finally:
        get_settings.cache_clear()
