"""Conflict zones: kernel density, classes, summaries, scenario factors, route classes."""

from __future__ import annotations

import warnings
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import Point, box

from geo.boundaries import read_boundaries
from geo.conflict import clip_to_country, filter_events, read_conflict_events
from geo.costgraph import build_cost_graph
from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS
from geo.grid import Grid, make_grid
from geo.labels import nearest_labels
from geo.routes import rank_point, walk_route
from geo.speeds import read_speed_table
from geo.zones import (
    DEFAULT_EVENT_TYPES,
    SLOWED_DIVISORS,
    admin_summary,
    classes_along_path,
    conflict_surface,
    default_window,
    scenario_assumption,
    scenario_cell_factor,
    zone_at,
    zone_polygons,
)

CELL = 1000.0
TO_LONLAT = Transformer.from_crs(METRIC_CRS, GEOGRAPHIC_CRS, always_xy=True)
YEAR = (date(2020, 1, 1), date(2020, 12, 31))


def _grid(n: int = 200) -> Grid:
    return Grid(
        crs=METRIC_CRS,
        x0=0.0,
        y0=n * CELL,
        cell_m=CELL,
        nrows=n,
        ncols=n,
        active=np.ones((n, n), bool),
    )


def _events(xy_m: list[tuple[float, float]], fatalities=None) -> gpd.GeoDataFrame:
    lon, lat = TO_LONLAT.transform(*np.array(xy_m, dtype=float).T)
    n = len(xy_m)
    return gpd.GeoDataFrame(
        {
            "event_id": [str(i) for i in range(n)],
            "date": pd.to_datetime(["2020-06-01"] * n),
            "lat": lat,
            "lon": lon,
            "event_type": ["Battles"] * n,
            "sub_event_type": [""] * n,
            "fatalities": fatalities or [0] * n,
            "source": "test",
            "location": "",
            "admin1": "",
            "admin2": "",
        },
        geometry=[Point(x, y) for x, y in zip(lon, lat, strict=True)],
        crs=GEOGRAPHIC_CRS,
    )


def test_single_event_density_is_the_kernel_peak():
    grid = _grid()
    surface = conflict_surface(_events([(100_500, 100_500)]), grid, start=YEAR[0], end=YEAR[1])
    peak = surface.density.max()
    expected = 1 / (2 * np.pi * 20.0**2) * 1000 * (365.25 / 366)  # per 1,000 km² per year
    assert peak == pytest.approx(expected, rel=0.02)
    assert surface.density.sum() == pytest.approx(1000 * 365.25 / 366, rel=1e-3)  # mass kept
    assert (surface.zone == 0).all()  # one event a year is below "elevated"


def test_classes_follow_thresholds_and_fatality_weight():
    grid = _grid()
    cluster = [(100_500, 100_500)] * 15 + [(40_500, 40_500)] * 3
    surface = conflict_surface(_events(cluster), grid, start=YEAR[0], end=YEAR[1])
    node = grid.locate(
        np.array([100_500.0, 40_500.0, 180_500.0]), np.array([100_500.0, 40_500.0, 180_500.0])
    )
    assert surface.zone[node].tolist() == [2, 1, 0]
    weighted = conflict_surface(
        _events([(40_500, 40_500)], fatalities=[9]),
        grid,
        start=YEAR[0],
        end=YEAR[1],
        weight="fatalities",
    )
    single = conflict_surface(_events([(40_500, 40_500)]), grid, start=YEAR[0], end=YEAR[1])
    assert weighted.density.max() == pytest.approx(10 * single.density.max())


def test_empty_window_warns_and_gives_an_empty_layer():
    with pytest.warns(UserWarning, match="no conflict events"):
        surface = conflict_surface(
            _events([(1, 1)]).iloc[:0], _grid(50), start=YEAR[0], end=YEAR[1]
        )
    assert (surface.zone == 0).all() and surface.n_events == 0
    polys = zone_polygons(surface, _events([(1, 1)]).iloc[:0])
    assert polys["zone_class"].tolist() == ["low"] and polys["events"].tolist() == [0]


@pytest.mark.parametrize(
    "bad", [{"bandwidth_m": 0}, {"weight": "deaths"}, {"thresholds": (5.0, 1.0)}]
)
def test_bad_parameters(bad):
    with pytest.raises(ValueError):
        conflict_surface(_events([(1, 1)]), _grid(20), start=YEAR[0], end=YEAR[1], **bad)


def test_admin_summary_counts_and_shares():
    grid = _grid()
    events = _events([(30_500, 30_500)] * 20 + [(150_500, 150_500)], fatalities=[1] * 21)
    surface = conflict_surface(events, grid, start=YEAR[0], end=YEAR[1])
    west = box(0, 0, 100_000, 200_000)
    east = box(100_000, 0, 200_000, 200_000)
    units = gpd.GeoDataFrame(
        {"pcode": ["W", "E"], "name": ["west", "east"]}, geometry=[west, east], crs=METRIC_CRS
    ).to_crs(GEOGRAPHIC_CRS)
    table = admin_summary(surface, events, units).set_index("pcode")
    assert table.loc["W", "events"] == 20 and table.loc["E", "events"] == 1
    assert table.loc["W", "fatalities"] == 20
    shares = table[["share_low", "share_elevated", "share_high"]].sum(axis=1)
    np.testing.assert_allclose(shares, 1.0, atol=1e-3)
    assert table.loc["W", "max_class"] == "high" and table.loc["E", "max_class"] == "low"
    points = gpd.GeoSeries([Point(*TO_LONLAT.transform(30_500, 30_500))], crs=GEOGRAPHIC_CRS)
    assert zone_at(surface, points).tolist() == ["high"]


def test_scenario_factors_and_route_classes():
    grid = _grid(60)
    events = _events([(30_500, 30_500)] * 30)
    surface = conflict_surface(events, grid, start=YEAR[0], end=YEAR[1])
    high, elevated = surface.zone == 2, surface.zone == 1
    assert high.any() and elevated.any()
    slowed = scenario_cell_factor(surface, "slowed")
    avoid = scenario_cell_factor(surface, "avoid")
    assert (scenario_cell_factor(surface, "baseline") == 1).all()
    assert np.allclose(slowed[high], 1 / 12.5) and np.allclose(slowed[elevated], 1 / 2.5)
    assert (avoid[high] == 0).all() and np.allclose(avoid[elevated], 1 / 2.5)
    with pytest.raises(ValueError, match="allowed"):
        scenario_cell_factor(surface, "panic")
    speeds = read_speed_table()
    results = {}
    for scenario in ("baseline", "avoid"):
        graph = build_cost_graph(
            grid, None, speeds, mode="walk", cell_factor=scenario_cell_factor(surface, scenario)
        )
        labels = nearest_labels(graph, np.array([59_000.0]), np.array([30_500.0]))
        rank = rank_point(graph, [labels], 1_500.0, 30_500.0, k=1)
        walk = walk_route(graph, labels, int(rank.entry_node[0]), 0, keep_nodes=True)
        results[scenario] = (rank.minutes[0], *classes_along_path(graph, surface.zone, walk.nodes))
    base_min, base_worst, base_km = results["baseline"]
    avoid_min, avoid_worst, avoid_km = results["avoid"]
    assert base_worst == "high" and base_km["high"] > 0  # straight across the hotspot
    assert avoid_worst != "high" and avoid_km["high"] == 0  # rerouted around it
    assert avoid_min > base_min


@pytest.mark.integration
def test_mopti_centre_and_ansongo_menaka_rank_highest(data_dir):
    adm0 = read_boundaries(next((data_dir / "boundaries").glob("*adm0*.geojson")), level=0)
    adm2 = read_boundaries(next((data_dir / "boundaries").glob("*adm2*.geojson")), level=2)
    events = read_conflict_events(next((data_dir / "conflict").glob("*.csv")))
    inside, dropped = clip_to_country(events, adm0.union_all())
    assert dropped == 7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        window = filter_events(
            inside, start="2019-01-01", end="2020-12-31", event_types=list(DEFAULT_EVENT_TYPES)
        )
    grid = make_grid(
        adm0.to_crs(METRIC_CRS).union_all(), crs=METRIC_CRS, cell_m=1000, buffer_m=5000
    )
    surface = conflict_surface(window, grid, start=date(2019, 1, 1), end=date(2020, 12, 31))
    table = admin_summary(surface, window, adm2).set_index("name")
    hotspot = ["Koro", "Bandiagara", "Douentza", "Bankass", "Ansongo", "Menaka"]
    assert (table.loc[hotspot, "max_class"] == "high").all()
    top_share = table.sort_values("share_high", ascending=False).index[:6]
    assert {"Koro", "Bandiagara", "Bankass", "Douentza"} <= set(top_share)
    # checked against raw counts: the hotspot cercles also have the most events
    raw = window.groupby("admin2").size().sort_values(ascending=False)
    assert {"Koro", "Bandiagara", "Douentza", "Ansongo"} <= set(raw.index[:5])
    assert table.loc["Bamako", "max_class"] != "high"
    # every event of the window is counted in exactly one cercle
    assert table["events"].sum() == len(window)
    assert default_window(inside) == (date(2020, 1, 2), date(2020, 12, 31))


def test_every_scenario_says_what_it_assumes():
    assert scenario_assumption("baseline", "fr") is None
    slowed = scenario_assumption(
        "slowed", "fr", start="2020-01-01", end="2020-12-31", source="ACLED"
    )
    assert "12,5" in slowed and "2,5" in slowed and "2020-01-01" in slowed
    assert "2020-12-31" in slowed and "ACLED" in slowed
    avoid = scenario_assumption("avoid", "en", start="2020-01-01", end="2020-12-31")
    assert "closed" in avoid and "2.5" in avoid and "2020-12-31" in avoid
    assert f"{SLOWED_DIVISORS['high']:g}" in scenario_assumption("slowed", "en")
    with pytest.raises(ValueError, match="scenario"):
        scenario_assumption("flooded", "fr")
    with pytest.raises(ValueError, match="lang"):
        scenario_assumption("avoid", "de")
