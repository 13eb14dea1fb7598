"""Planning pages and siting endpoints: /regions/{pcode}, /planifier, /api/v1/site, /api/v1/whatif.

On the session's car build of the real data (``car_build``).  The what-if figures are
checked against an independent recomputation: a full multi-source Dijkstra from the
existing providers with and without the added centre, on the built graph.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _confidential() -> list[dict]:
    features = json.loads((REPO / "data" / "providers.geojson").read_text())["features"]
    return [f for f in features if f["properties"]["confidential"]]


@pytest.fixture(scope="module")
def client(data_dir, car_build):
    settings = Settings(
        data_dir=data_dir,
        build_dir=car_build,
        providers=REPO / "data" / "providers.geojson",
        boundaries_dir=car_build / "no-user-boundaries",
    )
    app = create_app(settings)
    from api.pages_planning import router  # TEMP until api/app.py includes it

    if "/api/v1/whatif" not in {getattr(r, "path", "") for r in app.routes}:
        app.include_router(router)
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def recompute(data_dir, car_build):
    """People within ``threshold`` of the one-stop centres, with extra points, by full Dijkstra."""
    from api.cli_coverage import load_inputs
    from geo.costgraph import attach_points
    from geo.crs import METRIC_CRS
    from geo.nearest import providers_offering
    from geo.store import load_graph
    from geo.traveltime import nearest_source_times

    settings = Settings(data_dir=data_dir, build_dir=car_build)
    inputs = load_inputs(settings)
    providers = gpd.read_parquet(car_build / "providers.parquet")
    metric = providers.to_crs(METRIC_CRS)
    graph, ids = attach_points(
        load_graph(car_build / "graphs" / "car-baseline.npz"),
        metric.geometry.x.to_numpy(),
        metric.geometry.y.to_numpy(),
        keep_isolated=True,
    )
    sources = ids[providers_offering(providers, "one_stop_centre")]
    n = inputs.grid.n_cells

    def within(points: list[tuple[float, float]], threshold: float = 120) -> float:
        g, src = graph, sources
        if points:
            where = gpd.GeoSeries(gpd.points_from_xy(*zip(*points, strict=True)), crs=4326)
            where = where.to_crs(METRIC_CRS)
            g, new = attach_points(graph, where.x.to_numpy(), where.y.to_numpy())
            src = np.append(sources, new)
        minutes, _ = nearest_source_times(g, src)
        return float(inputs.population[minutes[:n] <= threshold].sum())

    return within


# ----------------------------------------------------------------------------- JSON


def test_site_suggests_centres_whose_gain_the_what_if_confirms(client, recompute):
    r = client.get("/api/v1/site", params={"n": 3})
    assert r.status_code == 200, r.text
    meta, sites = r.json()["meta"], r.json()["sites"]
    assert meta["n_candidates"] > 50 and meta["population_source"].endswith(".tif")
    gains = [s["gain_population"] for s in sites]
    assert len(sites) == 3 and gains == sorted(gains, reverse=True) and gains[-1] > 0
    first = sites[0]
    added = client.get("/api/v1/whatif", params={"add": f"{first['lon']},{first['lat']}"})
    assert added.status_code == 200, added.text
    assert added.json()["meta"]["change"] == first["gain_population"]
    assert added.json()["meta"]["within_before"] == meta["covered_before"]


def test_what_if_add_at_an_underserved_place_equals_a_full_recomputation(client, recompute):
    douentza = (-2.95, 15.0)  # cercle seat in Mopti, far from any one-stop centre
    r = client.get("/api/v1/whatif", params={"add": "-2.95,15.0", "level": "adm2"})
    assert r.status_code == 200, r.text
    meta, units = r.json()["meta"], r.json()["units"]
    before, after = recompute([]), recompute([douentza])
    assert after - before > 10_000  # it is underserved: many people gain access
    assert meta["within_before"] == round(before)
    assert meta["within_after"] == round(after)
    assert meta["change"] == round(after) - round(before)
    # per cercle: only units that change, all gains, Douentza's own cercle among them
    assert units and all(u["change"] > 0 for u in units)
    assert sum(u["change"] for u in units) == pytest.approx(meta["change"], abs=len(units))
    assert "Douentza" in {u["name"] for u in units}
    assert all(u["within_after"] <= u["population"] for u in units)


def test_what_if_remove_never_raises_coverage(client):
    for pid in ("osc-gao", "osc-mopti", "osc-bamako-commune-v"):
        r = client.get("/api/v1/whatif", params={"remove": pid, "level": "adm1"})
        assert r.status_code == 200, r.text
        meta = r.json()["meta"]
        assert meta["within_after"] <= meta["within_before"]
        assert all(u["change"] <= 0 for u in r.json()["units"])
    gao = client.get("/api/v1/whatif", params={"remove": "osc-gao", "level": "adm1"}).json()
    assert gao["meta"]["change"] < 0 and "Gao" in {u["name"] for u in gao["units"]}


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"add": "-3.9,14.5", "service": "taxi"}, "service"),
        ({"add": "-3.9,14.5", "mode": "plane"}, "mode"),
        ({"add": "-3.9,14.5", "scenario": "war"}, "scenario"),
        ({"add": "-3.9,14.5", "threshold_min": 45}, "30, 60, 120, 300"),
        ({"add": "-3.9,14.5", "level": "adm9"}, "adm1, adm2, adm3"),
        ({"add": "abc"}, "lon,lat"),
        ({"add": "2.35,48.85"}, "hors du Mali"),
        ({"add": "14.5,-3.9"}, "inversées"),
        ({}, "add=lon,lat"),
        ({"add": "-3.9,14.5", "remove": "osc-gao"}, "add=lon,lat"),
        ({"remove": "no-such-provider"}, "osc-gao"),
    ],
)
def test_what_if_rejects_bad_parameters_by_name(client, params, needle):
    r = client.get("/api/v1/whatif", params=params)
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]


def test_bad_parameters_in_english_on_request(client):
    r = client.get(
        "/api/v1/whatif", params={"add": "2.35,48.85"}, headers={"Accept-Language": "en"}
    )
    assert r.status_code == 422 and "outside Mali" in r.json()["detail"]
    r = client.get("/api/v1/site", params={"mode": "plane", "lang": "en"})
    assert r.status_code == 422 and "allowed values: car" in r.json()["detail"]
    assert client.get("/api/v1/site", params={"n": 0}).status_code == 422


def test_confidential_providers_cannot_be_removed_nor_named(client):
    secret = _confidential()
    ids = [f["properties"]["id"] for f in secret]
    for f in secret:
        r = client.get("/api/v1/whatif", params={"remove": f["properties"]["id"]})
        unknown = client.get("/api/v1/whatif", params={"remove": "no-such-provider"})
        # the same refusal as an unknown id: nothing says the id exists
        assert r.status_code == 422 and r.json() == unknown.json()
    body = client.get("/api/v1/whatif", params={"remove": "x", "service": "shelter"}).text
    body += client.get("/api/v1/site", params={"service": "shelter"}).text
    assert not any(pid in body for pid in ids)
    assert not any(f["properties"]["name"] in body for f in secret)
