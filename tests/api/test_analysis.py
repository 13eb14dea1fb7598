"""api.services.analysis: the coverage figures shared by the CLI, API, pages and briefings."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

import api.services.analysis as analysis_module
from api.build.manifest import NotBuiltError
from api.choices import ChoiceError
from api.cli import app as cli
from api.services.analysis import Analysis, CoverageResult
from api.settings import Settings, get_settings

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _directory() -> list[dict]:
    text = (REPO / "data" / "providers.geojson").read_text(encoding="utf-8")
    return [f["properties"] for f in json.loads(text)["features"]]


CONFIDENTIAL = {p["id"] for p in _directory() if p["confidential"]}
PUBLIC_NAMES = {p["id"]: p["name"] for p in _directory() if not p["confidential"]}


@pytest.fixture(scope="module")
def settings(data_dir, car_build) -> Settings:
    return Settings(
        data_dir=data_dir,
        build_dir=car_build,
        boundaries_dir=car_build / "no-user-boundaries",
    )


@pytest.fixture(scope="module")
def analysis(settings) -> Analysis:
    return Analysis.load(settings)


def test_adm1_table_columns_and_sums(analysis):
    result = analysis.coverage(level="adm1")
    assert isinstance(result, CoverageResult)
    table = result.table
    assert len(table) == 9 and table["pcode"].is_unique
    for column in (
        "population",
        "pop_within_30",
        "pop_within_300",
        "share_within_120",
        "median_time_min",
        "p90_time_min",
        "nearest_provider_id",
        "nearest_provider_name",
        "n_providers",
    ):
        assert column in table, column
    assert table["population"].sum() == pytest.approx(result.meta["population_total"], abs=10)
    for row in table.to_dict("records"):
        shares = [row[f"share_within_{t}"] for t in (30, 60, 120, 300)]
        assert shares == sorted(shares) and shares[0] >= 0 and shares[-1] <= 1
    assert list(result.units["pcode"].astype(str)) == list(table["pcode"])
    meta = result.meta
    assert meta["population_source"].endswith(".tif")
    assert meta["built_at"] and meta["roads"] and meta["thresholds_min"] == [30, 60, 120, 300]
    assert (meta["level"], meta["service"], meta["mode"], meta["scenario"]) == (
        "adm1",
        "one_stop_centre",
        "car",
        "baseline",
    )


def test_figures_match_an_independent_count_of_the_raster(analysis, settings):
    """People within 2 h nationally: the table's sum equals the population of the grid
    cells whose built surface is at most 120 minutes."""
    table = analysis.coverage(level="adm3").table
    inputs = analysis.inputs
    path = settings.build_dir / "surfaces" / "all" / "one_stop_centre-car-baseline.tif"
    with rasterio.open(path) as src:
        minutes = src.read(1)[inputs.grid.active]
    expected = float(inputs.population[np.nan_to_num(minutes, nan=np.inf) <= 120].sum())
    assert table["pop_within_120"].sum() == pytest.approx(expected, rel=2e-3)


def test_the_cli_prints_the_same_figures(analysis, settings, cli_settings):
    cli_settings(settings)
    try:
        out = CliRunner().invoke(
            cli, ["coverage", "--level", "adm2", "--service", "medical", "--format", "json"]
        )
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    units = json.loads(out.stdout)["units"]
    table = analysis.coverage(level="adm2", service="medical").table
    assert [u["pcode"] for u in units] == list(table["pcode"])
    assert [u["pop_within_60"] for u in units] == table["pop_within_60"].tolist()
    assert [u["nearest_provider_id"] for u in units] == table["nearest_provider_id"].tolist()


@pytest.mark.parametrize(
    ("kwargs", "parameter", "allowed"),
    [
        ({"level": "adm9"}, "level", "adm1, adm2, adm3"),
        ({"service": "spa"}, "service", "one_stop_centre"),
        ({"mode": "plane"}, "mode", "car"),
        ({"scenario": "flood"}, "scenario", "baseline"),
    ],
)
def test_unknown_values_name_the_parameter_and_the_allowed_ones(
    analysis, kwargs, parameter, allowed
):
    with pytest.raises(ValueError, match=parameter) as caught:
        analysis.coverage(**kwargs)
    assert isinstance(caught.value, ChoiceError)
    assert caught.value.parameter == parameter and allowed in str(caught.value)


@pytest.mark.parametrize(
    "service", ["one_stop_centre", "medical", "psychosocial", "reintegration", "shelter"]
)
def test_confidential_providers_are_neither_named_nor_counted(analysis, service):
    result = analysis.coverage(level="adm3", service=service)
    table = result.table
    named = set(table["nearest_provider_id"].dropna())
    assert not named & CONFIDENTIAL and named <= set(PUBLIC_NAMES)
    for pid, name in zip(table["nearest_provider_id"], table["nearest_provider_name"], strict=True):
        assert (pid is None and name is None) or PUBLIC_NAMES[pid] == name
    text = json.dumps(result.records(), default=str)
    assert not any(pid in text for pid in CONFIDENTIAL)
    if service == "shelter":  # every shelter is confidential: no public figure rests on one
        assert table["pop_within_300"].sum() == 0
        assert table["nearest_provider_id"].isna().all() and (table["n_providers"] == 0).all()
        assert result.meta["providers_public"] == result.meta["providers"] == 0


def test_a_unit_nearest_to_a_confidential_centre_still_names_a_public_one(analysis):
    """The Police nationale One-Stop Centre in Bamako is confidential: units whose people
    are nearest to it get the nearest public centre, never an empty name that would
    point at it."""
    table = analysis.coverage(level="adm3", service="one_stop_centre").table
    reachable = table["population"] > 0
    assert table.loc[reachable, "nearest_provider_id"].notna().all()


def test_tables_are_cached_and_thread_safe(settings, monkeypatch):
    fresh = Analysis.load(settings)
    calls = []
    real = analysis_module.read_surface

    def counting(*args, **kwargs):
        calls.append(args[-1])
        return real(*args, **kwargs)

    monkeypatch.setattr(analysis_module, "read_surface", counting)
    results: list[CoverageResult] = []

    def run():
        results.append(fresh.coverage(level="adm2", service="legal"))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len(calls) == 2  # one surface, one allocation
    assert all(r.table.equals(results[0].table) for r in results)
    # a caller changing its copy does not change the cached table
    results[0].table.loc[:, "population"] = -1
    assert (fresh.coverage(level="adm2", service="legal").table["population"] >= 0).all()
    assert len(calls) == 2


def test_a_kept_table_never_waits_for_another_being_computed(settings, monkeypatch):
    """A page asking for a table already kept answers while a slow what-if or briefing
    computes another one (one lock per table, not one for the whole analysis)."""
    fresh = Analysis.load(settings)
    fresh.coverage(level="adm1", service="legal")  # kept
    started, release = threading.Event(), threading.Event()
    real = Analysis.table_from_surface

    def slow(self, level, *args, **kwargs):
        if level == "adm3":
            started.set()
            assert release.wait(timeout=120), "never released"
        return real(self, level, *args, **kwargs)

    monkeypatch.setattr(Analysis, "table_from_surface", slow)
    worker = threading.Thread(target=lambda: fresh.coverage(level="adm3", service="medical"))
    worker.start()
    try:
        assert started.wait(timeout=120), "the adm3 table did not start"
        answered: list[CoverageResult] = []
        reader = threading.Thread(
            target=lambda: answered.append(fresh.coverage(level="adm1", service="legal"))
        )
        reader.start()
        reader.join(timeout=60)  # a deadlock guard, not a timing: it waits on nothing
        assert answered, "the kept adm1 table waited for the adm3 one"
        assert fresh.cache_state()["tables"] >= 1  # health is not blocked either
    finally:
        release.set()
        worker.join(timeout=120)
    assert fresh.coverage_ready(level="adm3", service="medical", mode="car")


def test_underserved_and_national(analysis):
    ranked = analysis.underserved(level="adm1", threshold_min=90).table
    beyond = ranked["pop_beyond_90"].tolist()
    assert beyond == sorted(beyond, reverse=True) and ranked["rank_people"].iloc[0] == 1
    national = analysis.national()
    table = analysis.coverage(level="adm1").table
    assert national["population"] == pytest.approx(table["population"].sum(), abs=10)
    assert national["pop_within_120"] == pytest.approx(table["pop_within_120"].sum(), abs=10)
    assert 0 < national["share_within_60"] < national["share_within_300"] <= 1
    assert national["median_time_min"] is None or national["median_time_min"] > 0
    assert national["meta"]["population_source"].endswith(".tif")
    with pytest.raises(ValueError, match="threshold_min"):
        analysis.underserved(threshold_min=0)


def test_load_without_a_build_says_so(tmp_path, data_dir):
    with pytest.raises(NotBuiltError, match="orienter build"):
        Analysis.load(Settings(data_dir=data_dir, build_dir=tmp_path))
