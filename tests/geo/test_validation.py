"""Validation references and arithmetic (geo.validation), on the shipped table and tiny rows."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.crs import GEOGRAPHIC_CRS
from geo.errors import DataFileError, DataValidationError
from geo.validation import (
    JOURNEY_COLUMNS,
    calibrate_source_speed_factor,
    pair_key,
    pair_medians,
    ratio_summary,
    read_observed_journeys,
    read_osrm_routes,
)

JOURNEYS = Path(__file__).resolve().parents[2] / "data" / "validation" / "observed_journeys.csv"


def test_shipped_journeys_cover_ten_town_pairs_both_seasons_with_sources():
    j = read_observed_journeys(JOURNEYS)
    pairs = set(pair_key(j["from_town"], j["to_town"]))
    assert len(pairs) >= 10
    assert {"dry", "rainy"} <= set(j["season"])
    assert (j["source_url"].str.startswith("http")).all()
    assert (j["source_title"].str.len() > 0).all() and (j["quote"].str.len() > 0).all()
    assert set(j["mode"]) == {"car/4x4", "bus"}
    # rows the source gave in days never calibrate
    assert not (j["from_days"] & j["use_for_calibration"]).any()
    assert j["from_days"].sum() >= 3
    row = j[(j["from_town"] == "Bamako") & (j["hours_min"] == 9)].iloc[0]
    assert row["reference_h"] == 9.5 and row["year"] == 2009


def test_bad_journey_rows_are_listed_together(tmp_path):
    j = pd.read_csv(JOURNEYS, dtype=str, keep_default_na=False).head(3)
    j.loc[0, "hours_min"] = "-2"
    j.loc[1, "season"] = "wet"
    j.loc[2, "hours_max"] = "1"
    j.loc[2, "use_for_calibration"] = "no"
    j.loc[2, "calibration_note"] = ""
    path = tmp_path / "j.csv"
    j.to_csv(path, index=False)
    with pytest.raises(DataValidationError) as err:
        read_observed_journeys(path)
    text = str(err.value)
    for field in ("hours_min", "season", "hours_max", "calibration_note"):
        assert field in text
    j.drop(columns=["quote"]).to_csv(path, index=False)
    with pytest.raises(DataFileError, match="quote"):
        read_observed_journeys(path)
    assert "quote" in JOURNEY_COLUMNS


def test_osrm_routes_keep_only_routes_with_both_ends_inside(tmp_path):
    nodes = gpd.GeoDataFrame(
        {"node": [1, 2, 3]}, geometry=shapely.points([(0, 0), (1, 0), (5, 5)]), crs=GEOGRAPHIC_CRS
    )
    edges = gpd.GeoDataFrame(
        {"from": [1, 2], "to": [2, 3], "route_km": [111.0, 600.0], "route_min": [90.0, 400.0]},
        geometry=[shapely.LineString([(0, 0), (1, 0)]), shapely.LineString([(1, 0), (5, 5)])],
        crs=GEOGRAPHIC_CRS,
    )
    path = tmp_path / "routes.gpkg"
    edges.to_file(path, layer="edges")
    nodes.to_file(path, layer="nodes")
    routes = read_osrm_routes(path, shapely.box(-1, -1, 2, 1))
    assert routes[["from_node", "to_node"]].values.tolist() == [[1, 2]]
    assert routes["osrm_distance_m"].iloc[0] == 111_000.0
    assert routes["osrm_minutes"].iloc[0] == 90.0
    assert (routes["to_lon"].iloc[0], routes["to_lat"].iloc[0]) == (1.0, 0.0)
    with pytest.raises(DataFileError, match="not found"):
        read_osrm_routes(tmp_path / "none.gpkg", shapely.box(0, 0, 1, 1))


def test_pairs_are_unordered_and_count_once():
    a = pd.Series(["Segou", "Bamako", "Bamako", "Mopti"])
    b = pd.Series(["Bamako", "Segou", "Segou", "Bamako"])
    key = pair_key(a, b)
    assert key.tolist() == ["Bamako–Segou"] * 3 + ["Bamako–Mopti"]
    med = pair_medians(pd.Series([1.0, 2.0, 9.0, 0.5]), key)
    assert med.to_dict() == {"Bamako–Mopti": 0.5, "Bamako–Segou": 2.0}
    s = ratio_summary([1.0, np.inf, 3.0, np.nan, 2.0])
    assert s["n"] == 3 and s["median"] == 2.0 and (s["min"], s["max"]) == (1.0, 3.0)
    assert ratio_summary([])["n"] == 0


def _rows(road, other, ref, pair):
    idx = pd.RangeIndex(len(road))
    return (
        pd.Series(road, idx, dtype=float),
        pd.Series(other, idx, dtype=float),
        pd.Series(ref, idx, dtype=float),
        pd.Series(pair, idx),
    )


def test_calibration_factor_makes_the_median_pair_ratio_one():
    # free-flow 20% faster than observed on every pair (ratio 0.8): roads must slow to 0.8
    cal = calibrate_source_speed_factor(
        *_rows([80, 160, 40], [0, 0, 0], [100, 200, 50], list("abc"))
    )
    assert cal.raw == pytest.approx(0.8) and cal.factor == pytest.approx(0.8)
    assert cal.leave_one_out == pytest.approx((0.8, 0.8)) and cal.n_pairs == 3
    # off-road minutes do not scale: (60 / f + 30) / 100 = 1 -> f = 60 / 70
    cal = calibrate_source_speed_factor(*_rows([60], [30], [100], ["a"]))
    assert cal.raw == pytest.approx(60 / 70) and cal.factor == pytest.approx(0.85)


def test_calibration_counts_each_pair_once_and_caps_at_free_flow():
    # pair a reported three times at ratio 0.5; pairs b and c at 1.2 and 1.3: median 1.2
    cal = calibrate_source_speed_factor(
        *_rows([50, 50, 50, 120, 130], [0] * 5, [100] * 5, list("aaabc"))
    )
    assert cal.raw == pytest.approx(1.2)
    assert cal.factor == 1.0  # never faster than free flow
    assert cal.leave_one_out == pytest.approx((0.85, 1.25))
    assert cal.pair_ratios.to_dict() == pytest.approx({"a": 0.5, "b": 1.2, "c": 1.3})
    assert calibrate_source_speed_factor(
        *_rows([120, 130], [0, 0], [100, 100], list("bc")), cap=2.0
    ).factor == pytest.approx(1.25)


def test_calibration_refuses_bad_input():
    with pytest.raises(ValueError, match="no journey"):
        calibrate_source_speed_factor(*_rows([], [], [], []))
    with pytest.raises(ValueError, match="reference_minutes"):
        calibrate_source_speed_factor(*_rows([10], [0], [0], ["a"]))
    road, other, ref, pair = _rows([10, 20], [0, 0], [10, 20], list("ab"))
    with pytest.raises(ValueError, match="other_minutes"):
        calibrate_source_speed_factor(road, other.iloc[:1], ref, pair)
