"""Medical care within the clinical windows: PEP within 72 h, emergency contraception
within 120 h, on foot and by motorbike, in the coverage tables, the CLI and the API.

The figures are checked against an independent count: numpy over the built surface
rasters and the population placed on the same grid, nothing of the coverage code.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli
from api.http.app import create_app
from api.services.analysis import Analysis
from api.settings import get_settings

pytestmark = pytest.mark.integration
WINDOWS_MIN = {"pep": 72 * 60, "ec": 120 * 60}


@pytest.fixture(scope="module")
def analysis(modes_build) -> Analysis:
    return Analysis.load(modes_build)


def _independent_within(settings, analysis: Analysis, mode: str, minutes_max: float) -> float:
    """People whose cell is within ``minutes_max`` of medical care: the surface raster
    read with rasterio, the population put back on the raster's grid, numpy only."""
    path = settings.build_dir / "surfaces" / "public" / f"medical-{mode}-baseline.tif"
    with rasterio.open(path) as src:
        band = src.read(1).astype(np.float64)
    grid = analysis.inputs.grid
    people = np.zeros(band.shape, dtype=np.float64)
    people[grid.active] = analysis.inputs.population
    assert band.shape == people.shape
    reached = np.isfinite(band) & (band <= minutes_max)
    return float(people[reached].sum())


@pytest.mark.parametrize("mode", ["walk", "motorbike"])
@pytest.mark.parametrize("level", ["adm1", "adm2"])
def test_people_within_the_windows_equal_an_independent_count(modes_build, analysis, mode, level):
    table = analysis.coverage(level=level, service="medical", mode=mode).table
    for window, minutes in WINDOWS_MIN.items():
        counted = float(table[f"pop_within_{minutes}"].sum())
        expected = _independent_within(modes_build, analysis, mode, minutes)
        # each row is rounded to one person
        assert abs(counted - expected) <= len(table), (window, counted, expected)
        shares = table[f"share_within_{minutes}"].dropna()
        assert ((shares >= 0) & (shares <= 1)).all()
    # the windows sit beside 1, 2 and 5 h, and people within 5 h are within 72 h
    assert (table["pop_within_300"] <= table["pop_within_4320"]).all()
    assert (table["pop_within_4320"] <= table["pop_within_7200"]).all()


def test_the_surfaces_are_not_capped_below_the_windows(modes_build, analysis):
    """On foot, some of Mali lies beyond 120 h of medical care: the surfaces hold times
    above both windows, so a window count is a count, not the edge of a cap."""
    path = modes_build.build_dir / "surfaces" / "public" / "medical-walk-baseline.tif"
    with rasterio.open(path) as src:
        band = src.read(1)
    finite = band[np.isfinite(band)]
    assert finite.max() > WINDOWS_MIN["ec"]
    national = analysis.national(service="medical", mode="walk")
    assert national["pop_within_4320"] < national["population"]
    assert national["share_within_4320"] <= national["share_within_7200"] <= 1


def test_only_medical_tables_carry_the_windows(analysis):
    legal = analysis.coverage(level="adm1", service="legal", mode="walk").table
    assert "pop_within_4320" not in legal.columns
    medical = analysis.coverage(level="adm1", service="medical", mode="walk")
    assert medical.meta["thresholds_min"][-2:] == [4320.0, 7200.0]


def test_cli_window_reports_medical_care_within_72_h(modes_build, analysis, cli_settings):
    cli_settings(modes_build)
    try:
        result = CliRunner().invoke(
            cli, ["coverage", "--window", "pep", "--mode", "walk", "--format", "json"]
        )
        assert result.exit_code == 0, result.output
        answer = json.loads(result.output)
        assert answer["meta"]["service"] == "medical" and answer["meta"]["window_min"] == 4320
        table = analysis.coverage(level="adm1", service="medical", mode="walk").table
        by_pcode = {u["pcode"]: u for u in answer["units"]}
        for row in table.itertuples():
            assert by_pcode[row.pcode]["pop_within_4320"] == row.pop_within_4320
        # the window is the ranking's threshold
        ranked = CliRunner().invoke(
            cli,
            ["coverage", "--window", "ec", "--mode", "walk", "--underserved", "--format", "json"],
        )
        assert ranked.exit_code == 0, ranked.output
        assert "pop_beyond_7200" in json.loads(ranked.output)["units"][0]
        table_text = CliRunner().invoke(cli, ["coverage", "--window", "pep", "--mode", "walk"])
        assert table_text.exit_code == 0 and "72 h" in table_text.output
        wrong = CliRunner().invoke(cli, ["coverage", "--window", "pep", "--service", "legal"])
        assert wrong.exit_code == 2 and "--window" in wrong.output
    finally:
        get_settings.cache_clear()


def test_api_medical_coverage_carries_the_windows(modes_build):
    with TestClient(create_app(modes_build)) as client:
        answer = client.get(
            "/api/v1/coverage", params={"service": "medical", "mode": "motorbike"}
        ).json()
    assert answer["meta"]["thresholds_min"][-2:] == [4320, 7200]
    unit = answer["units"][0]
    assert unit["pop_within_300"] <= unit["pop_within_4320"] <= unit["pop_within_7200"]
