"""Speed profiles: selection, validation, meanings, and the per-segment speed path."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from geo.costgraph import build_cost_graph, densify_roads
from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS
from geo.errors import DataValidationError
from geo.grid import make_grid
from geo.roads import SOURCE_SPEED_COLUMN, read_road_segments, validate_roads
from geo.speeds import DEFAULT_SPEEDS_PATH, read_speed_table
from geo.trips import trip_between

TO_METRIC = Transformer.from_crs(GEOGRAPHIC_CRS, METRIC_CRS, always_xy=True)


def _table(tmp_path, profiles: str, head: str = "") -> str:
    """The default table with its profile section replaced by ``profiles``."""
    text = DEFAULT_SPEEDS_PATH.read_text(encoding="utf-8")
    start, end = text.index('default_profile = "calibrated"'), text.index("[season]")
    path = tmp_path / "speeds.toml"
    path.write_text(head + text[:start] + profiles + "\n" + text[end:], encoding="utf-8")
    return path


# --- selection ------------------------------------------------------------------------


def test_default_table_defaults_to_calibrated_and_offers_the_free_flow_alternatives():
    table = read_speed_table()
    assert table.profile.name == "calibrated"
    assert set(table.profiles) == {"calibrated", "free_flow", "class_table"}
    assert read_speed_table(profile="free_flow").source_speed_factor("car") == 1.0
    assert read_speed_table(profile="class_table").source_speed_factor("car") is None
    # walking and motorbikes keep their class speeds under every profile
    assert table.source_speed_factor("walk") is None


def test_unknown_profile_is_refused_naming_the_allowed_ones():
    with pytest.raises(ValueError, match=r"'fast'.*allowed: calibrated, free_flow, class_table"):
        read_speed_table(profile="fast")


def test_table_without_profiles_uses_class_speeds_only(tmp_path):
    path = _table(tmp_path, "")
    table = read_speed_table(path)
    assert table.profile.name == "class_table" and table.profiles == ("class_table",)
    assert table.source_speed_factor("car") is None
    assert "class" in table.time_meaning("en", season="dry")


def test_malformed_profiles_are_listed_in_one_error(tmp_path):
    path = _table(
        tmp_path,
        'default_profile = "nowhere"\n[profiles.x]\nlabel_fr = "x"\nlabel_en = "x"\n'
        'meaning_en = "x"\n[profiles.x.source_speed_factor]\ncar = -1\nboat = 2\n',
    )
    with pytest.raises(DataValidationError) as err:
        read_speed_table(path)
    text = str(err.value)
    for where in (
        "profiles.x.meaning_fr",
        "profiles.x.source_speed_factor.car",
        "profiles.x.source_speed_factor.boat",
        "default_profile",
    ):
        assert where in text


def test_time_meaning_is_given_in_both_languages_with_the_season():
    table = read_speed_table()
    fr = table.time_meaning("fr", season="dry")
    en = table.time_meaning("en", season="rainy")
    assert fr.startswith(table.profile.meaning_fr) and fr.endswith("saison sèche")
    assert en.startswith(table.profile.meaning_en) and "rainy season" in en
    assert "escort" in en  # the calibrated times exclude escorts and waits: say so
    with pytest.raises(ValueError, match="lang"):
        table.time_meaning("de", season="dry")
    with pytest.raises(ValueError, match="season"):
        table.time_meaning("fr", season="wet")


# --- per-piece speeds -------------------------------------------------------------------


def test_segment_speeds_use_the_source_speed_times_the_factor_where_known():
    classes = np.array(["unknown", "unknown", "track", "track"], dtype=object)
    paved = np.array([-1, -1, 0, -1], dtype=np.int8)
    source = np.array([80.0, np.nan, 40.0, np.nan])
    cal = read_speed_table()
    table = read_speed_table(profile="class_table")
    np.testing.assert_allclose(
        cal.segment_speeds_kph("car", classes, paved, source, "dry"), [80, 50, 40, 15]
    )
    np.testing.assert_allclose(
        table.segment_speeds_kph("car", classes, paved, source, "dry"), [50, 50, 15, 15]
    )
    # rainy season: unpaved pieces slow down from whichever speed they start (track: unpaved)
    f = cal.rainy_unpaved_factor
    np.testing.assert_allclose(
        cal.segment_speeds_kph("car", classes, paved, source, "rainy"), [80, 50, 40 * f, 15 * f]
    )
    # walking ignores the source's car speeds
    np.testing.assert_allclose(cal.segment_speeds_kph("walk", classes, paved, source, "dry"), 5)


def test_source_speed_column_is_checked(tmp_path):
    line = shapely.LineString([(0, 0), (0, 0.1)])
    roads = gpd.GeoDataFrame(
        {
            "u": [1, 2],
            "v": [2, 3],
            "road_class": "unknown",
            "paved": [None, None],
            "length_m": [11_000.0, 11_000.0],
            "source": "test",
            SOURCE_SPEED_COLUMN: [0.0, np.nan],
        },
        geometry=[line, shapely.LineString([(0, 0.1), (0, 0.2)])],
        crs=GEOGRAPHIC_CRS,
    )
    with pytest.raises(DataValidationError, match="speed_kph"):
        validate_roads(roads, source="test")
    roads[SOURCE_SPEED_COLUMN] = [60.0, np.nan]
    assert validate_roads(roads, source="test")[SOURCE_SPEED_COLUMN].isna().tolist() == [
        False,
        True,
    ]


# --- the whole path: Krantz file -> roads -> graph -> trip --------------------------------


@pytest.fixture
def krantz_file(tmp_path):
    """Two Krantz-style segments (lon/lat) in a GeoPackage: 60 km/h known, one unknown."""
    a, b, c = (-4.0, 14.0), (-4.0, 14.3), (-4.0, 14.6)
    edges = gpd.GeoDataFrame(
        {"from": [1, 2], "to": [2, 3], "speed_kmh_est": [60.0, np.nan]},
        geometry=[shapely.LineString([a, b]), shapely.LineString([b, c])],
        crs=GEOGRAPHIC_CRS,
    )
    nodes = gpd.GeoDataFrame(
        {"node": [1, 2, 3]}, geometry=shapely.points([a, b, c]), crs=GEOGRAPHIC_CRS
    )
    path = tmp_path / "segments.gpkg"
    edges.to_file(path, layer="edges")
    nodes.to_file(path, layer="nodes")
    return path, (a, b, c)


def test_krantz_speed_estimate_sets_the_minutes_of_each_segment(krantz_file, tmp_path):
    path, ends = krantz_file
    roads = read_road_segments(path)
    assert roads[SOURCE_SPEED_COLUMN].tolist()[0] == 60.0
    assert np.isnan(roads[SOURCE_SPEED_COLUMN].iloc[1])
    metric = roads.to_crs(METRIC_CRS)
    rv = densify_roads(metric, max_segment_m=500)
    grid = make_grid(shapely.box(*metric.total_bounds), crs=METRIC_CRS, cell_m=1000, buffer_m=3000)
    (ax, ay), (bx, by), (cx, cy) = (TO_METRIC.transform(*p) for p in ends)
    len1, len2 = roads["length_m"]
    half = _table(
        tmp_path,
        'default_profile = "half"\n[profiles.half]\nlabel_fr = "h"\nlabel_en = "h"\n'
        'meaning_fr = "h"\nmeaning_en = "h"\n[profiles.half.source_speed_factor]\ncar = 0.5\n',
    )
    expected = {
        # segment 1 at its OSRM 60 km/h (x factor), segment 2 (no estimate) at unknown 50 km/h
        "calibrated": (len1 / 60 + len2 / 50) * 60 / 1000,
        "class_table": (len1 + len2) / 50 * 60 / 1000,
        "half": (len1 / 30 + len2 / 50) * 60 / 1000,
    }
    for name, minutes in expected.items():
        table = read_speed_table(half if name == "half" else None, profile=name)
        graph = build_cost_graph(grid, rv, table, mode="car")
        assert graph.description["speed_profile"] == name
        trip = trip_between(graph, ax, ay, cx, cy)
        # the ends sit on road vertices: the legs cost nothing, the roads everything
        assert trip.minutes == pytest.approx(minutes, rel=1e-6)
        assert trip.road_minutes == pytest.approx(minutes, rel=1e-6)
        assert trip.distance_m == pytest.approx(len1 + len2, rel=1e-6)
        first = trip_between(graph, ax, ay, bx, by)
        assert first.minutes == pytest.approx(expected[name] - len2 / 50 * 60 / 1000, rel=1e-6)
