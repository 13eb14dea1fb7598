"""On the real Mali car build: the nearest answer from the labels equals a full Dijkstra.

A fixed, seeded set of points: random points in Mali, points beside co-located providers,
points inside closed high-conflict cells, under the baseline and the ``avoid`` scenario
(where some providers are cut off).  The reference (``method="dijkstra"``) runs
``scipy.sparse.csgraph.dijkstra`` from the point on the whole graph and measures its own
paths; the fast answer reads the label sets and walks them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from pyproj import Transformer

from api.build.layers import PUBLIC_FIELDS, answer_nearest, load_layers
from api.settings import Settings
from geo.crs import GEOGRAPHIC_CRS
from geo.layers import Layer
from geo.nearest import CLOSED_ORIGIN, CUT_OFF, nearest_answer

pytestmark = pytest.mark.integration
ROUNDED = {"travel_time_min", "distance_km", "baseline_travel_time_min", "straight_km"}


@pytest.fixture(scope="module")
def layers(car_build, data_dir):
    return load_layers(Settings(data_dir=data_dir, build_dir=car_build))


def _points(layers) -> list[tuple[float, float]]:
    graph = layers.graphs[("car", "baseline")]
    back = Transformer.from_crs(graph.grid.crs, GEOGRAPHIC_CRS, always_xy=True)
    rng = np.random.default_rng(2026)
    points = []
    # random points in Mali (on the grid)
    while len(points) < 4:
        lon, lat = rng.uniform(-11.5, 4.0), rng.uniform(10.5, 24.5)
        x, y = Transformer.from_crs(GEOGRAPHIC_CRS, graph.grid.crs, always_xy=True).transform(
            lon, lat
        )
        if graph.grid.locate(np.array([x]), np.array([y]))[0] >= 0:
            points.append((lon, lat))
    # 150 m from a place that several providers share
    table = layers.table(True)
    xy = np.round(np.column_stack([table.lon, table.lat]), 7)
    _, first, counts = np.unique(xy, axis=0, return_index=True, return_counts=True)
    for j in first[counts > 1][:2]:
        points.append((float(table.lon[j]) + 0.0014, float(table.lat[j])))
    # inside high-conflict cells (closed under 'avoid')
    high = np.flatnonzero(layers.zone == 2)
    for cell in rng.choice(high, 2, replace=False):
        points.append(tuple(back.transform(graph.node_x[cell], graph.node_y[cell])))
    return points


def _same_rounded(a, b, key: str) -> bool:
    """Equal, or one 0.1 step apart (float32 matrix vs float64 Dijkstra at a .x5 boundary)."""
    if a is None or b is None:
        return a is b
    return abs(a - b) <= (0.1 + 1e-9 if key in ROUNDED or key == "km" else 0)


def _assert_same_answer(fast: dict, ref: dict) -> None:
    assert fast["query"] == ref["query"]
    assert [r["id"] for r in fast["results"]] == [r["id"] for r in ref["results"]]
    for got, want in zip(fast["results"], ref["results"], strict=True):
        assert set(got) == set(want)
        for key in got:
            if key in ROUNDED:
                assert _same_rounded(got[key], want[key], key), (key, got[key], want[key])
            elif key == "route_conflict" and got[key] is not None:
                assert got[key]["worst_class"] == want[key]["worst_class"]
                for name, km in got[key]["km_by_class"].items():
                    assert _same_rounded(km, want[key]["km_by_class"][name], "km")
            else:
                assert got[key] == want[key], key


def test_fast_answer_equals_a_full_dijkstra_on_mali(layers):
    seen = {"closed_origin": 0, "cut_off": 0, "reachable": 0, "twins": 0}
    for i, (lon, lat) in enumerate(_points(layers)):
        everyone = bool(i % 2)
        for scenario in ("baseline", "avoid"):
            layer = layers.layers[("car", scenario)]
            for service in (None, "shelter", "reintegration"):
                sets = layer.visible(service, caseworker=everyone)
                kw = dict(k=5, node_class=layer.node_class)
                table = layers.table(everyone)
                fast = nearest_answer(layer.graph, sets, table, lon, lat, **kw)
                ref = nearest_answer(layer.graph, sets, table, lon, lat, method="dijkstra", **kw)
                np.testing.assert_array_equal(fast.ids, ref.ids)
                both = np.isfinite(ref.minutes)
                np.testing.assert_array_equal(np.isfinite(fast.minutes), both)
                np.testing.assert_allclose(
                    fast.minutes[both], ref.minutes[both], rtol=1e-6, atol=1e-6
                )
                # equal-time paths may differ in length; on this data they do not
                np.testing.assert_allclose(fast.metres[both], ref.metres[both], rtol=1e-6)
                reasons = [r["unreachable_reason"] for r in fast.records]
                seen["closed_origin"] += reasons.count(CLOSED_ORIGIN)
                seen["cut_off"] += reasons.count(CUT_OFF)
                seen["reachable"] += reasons.count(None)
                xy = {(r["lon"], r["lat"]) for r in fast.records}
                seen["twins"] += int(len(xy) < len(fast.records))
        # the whole answer, scenario effect and baseline times included
        answers = [
            answer_nearest(
                layers,
                lon=lon,
                lat=lat,
                service="medical" if i % 3 else None,
                mode="car",
                scenario="avoid",
                k=5,
                include_confidential=everyone,
                method=method,
            )
            for method in ("labels", "dijkstra")
        ]
        _assert_same_answer(*answers)
        for r in answers[0]["results"]:
            assert set(r) <= set(PUBLIC_FIELDS) and "scenario_effect" in r
    assert all(v > 0 for v in seen.values()), seen


def test_public_answers_never_name_a_confidential_provider(layers):
    secret = set(layers.confidential["id"])
    assert secret and not secret & set(layers.providers["id"])
    for lon, lat in _points(layers)[:6]:
        for service in (None, "shelter", "psychosocial"):
            answer = answer_nearest(
                layers, lon=lon, lat=lat, service=service, mode="car", scenario="slowed", k=5
            )
            assert not secret & {r["id"] for r in answer["results"]}
            assert answer["query"]["includes_confidential"] is False
    marked = answer_nearest(
        layers, lon=lon, lat=lat, service="shelter", mode="car", k=2, include_confidential=True
    )
    assert marked["query"]["includes_confidential"] is True
    assert {r["id"] for r in marked["results"]} <= secret


def test_the_build_keeps_route_summaries_and_answers_are_the_same_without(layers):
    """Every label set of the build carries route summaries made with its conflict zones
    (bound to the layer's node classes); answers with them equal answers walked the whole
    way, for every audience, scenario and service."""
    for layer in layers.layers.values():
        for labels in layer.sets.values():
            assert labels.summary is not None and labels.summary.node_class is layer.node_class
    whole = dataclasses.replace(
        layers,
        layers={
            key: Layer(
                layer.graph,
                {name: dataclasses.replace(s, summary=None) for name, s in layer.sets.items()},
                layer.node_class,
            )
            for key, layer in layers.layers.items()
        },
    )
    rng = np.random.default_rng(7)
    compared = 0
    for i in range(40):
        lon, lat = float(rng.uniform(-11.5, 4.0)), float(rng.uniform(10.5, 24.5))
        query = dict(
            lon=lon,
            lat=lat,
            service=(None, "medical", "legal", "shelter")[i % 4],
            mode="car",
            scenario=("baseline", "slowed", "avoid")[i % 3],
            k=5,
            include_confidential=bool(i % 2),
        )
        try:
            fast = answer_nearest(layers, **query)
        except ValueError:  # off the grid
            continue
        _assert_same_answer(fast, answer_nearest(whole, **query))
        compared += bool(fast["results"])
    assert compared >= 20
