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

from api.http.app import create_app
from api.settings import Settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TOKEN = "planning-test-caseworker-token"


def _confidential() -> list[dict]:
    features = json.loads((REPO / "data" / "providers.geojson").read_text())["features"]
    return [f for f in features if f["properties"]["confidential"]]


def _public_points() -> set[tuple[float, float]]:
    """Points of public records: a confidential record located at its town may share one."""
    features = json.loads((REPO / "data" / "providers.geojson").read_text())["features"]
    return {
        tuple(f["geometry"]["coordinates"])
        for f in features
        if f["geometry"] and not f["properties"]["confidential"]
    }


@pytest.fixture(scope="module")
def client(car_settings):
    settings = car_settings(TOKEN)
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def recompute(data_dir, car_build):
    """People within ``threshold`` of the public one-stop centres, with extra points: one
    scipy Dijkstra per provider from the nodes it enters the graph at (no label set)."""
    from scipy.sparse.csgraph import dijkstra

    from api.services.inputs import load_inputs
    from geo.costgraph import point_entries
    from geo.crs import METRIC_CRS
    from geo.nearest import providers_offering
    from geo.store import load_graph

    settings = Settings(data_dir=data_dir, build_dir=car_build)
    inputs = load_inputs(settings)
    providers = gpd.read_parquet(car_build / "providers.parquet")
    osc = providers[providers_offering(providers, "one_stop_centre")].to_crs(METRIC_CRS)
    graph = load_graph(car_build / "graphs" / "car-baseline")
    n = inputs.grid.n_cells

    def times_from(x: float, y: float) -> np.ndarray:
        nodes, leg, _ = point_entries(graph, x, y)
        dist = dijkstra(graph.minutes, indices=nodes)[:, :n]
        return (dist + leg[:, None]).min(axis=0)

    existing = np.min([times_from(p.x, p.y) for p in osc.geometry], axis=0)

    def within(points: list[tuple[float, float]], threshold: float = 120) -> float:
        minutes = existing
        if points:
            where = gpd.GeoSeries(gpd.points_from_xy(*zip(*points, strict=True)), crs=4326)
            where = where.to_crs(METRIC_CRS)
            extra = [times_from(p.x, p.y) for p in where]
            minutes = np.min([existing, *extra], axis=0)
        return float(inputs.population[minutes <= threshold].sum())

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
    ("params", "parameter", "needle"),
    [
        ({"add": "-3.9,14.5", "service": "taxi"}, "service", "one_stop_centre, medical"),
        ({"add": "-3.9,14.5", "mode": "plane"}, "mode", "car"),
        ({"add": "-3.9,14.5", "scenario": "war"}, "scenario", "baseline"),
        ({"add": "-3.9,14.5", "threshold_min": 45}, "threshold_min", "30, 60, 120, 300"),
        ({"add": "-3.9,14.5", "level": "adm9"}, "level", "adm1, adm2, adm3"),
        ({"add": "abc"}, "add", "lon,lat"),
        ({"add": "2.35,48.85"}, "add", "hors du Mali"),
        ({"add": "14.5,-3.9"}, "add", "inversées"),
        ({}, "add", "add=lon,lat"),
        ({"add": "-3.9,14.5", "remove": "osc-gao"}, "add", "add=lon,lat"),
        ({"remove": "no-such-provider"}, "remove", "osc-gao"),
        ({"add": "-3.9,14.5", "threshold_min": 5000}, "threshold_min", ""),
    ],
)
def test_what_if_rejects_bad_parameters_by_name(client, params, parameter, needle):
    r = client.get("/api/v1/whatif", params=params)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["parameter"] == parameter and needle in detail["message"]
    assert "48.85" not in r.text  # the query's coordinates are not repeated


def test_bad_parameters_in_english_on_request(client):
    r = client.get(
        "/api/v1/whatif", params={"add": "2.35,48.85"}, headers={"Accept-Language": "en"}
    )
    assert r.status_code == 422 and "outside Mali" in r.json()["detail"]["message"]
    r = client.get("/api/v1/site", params={"mode": "plane", "lang": "en"})
    assert r.status_code == 422 and "allowed values: car" in r.json()["detail"]["message"]
    assert r.json()["detail"]["parameter"] == "mode" and r.json()["detail"]["allowed"] == ["car"]
    r = client.get("/api/v1/site", params={"n": 0})
    assert r.status_code == 422 and r.json()["detail"]["parameter"] == "n"


def test_confidential_providers_cannot_be_removed_nor_named(client):
    secret = _confidential()
    ids = [f["properties"]["id"] for f in secret]
    for f in secret:
        r = client.get("/api/v1/whatif", params={"remove": f["properties"]["id"]})
        unknown = client.get("/api/v1/whatif", params={"remove": "no-such-provider"})
        # the same refusal as an unknown id: nothing says the id exists
        assert r.status_code == 422 and r.json() == unknown.json()
    auth = {"Authorization": f"Bearer {TOKEN}"}  # shelter planning needs a token at all
    body = client.get(
        "/api/v1/whatif", params={"remove": "x", "service": "shelter"}, headers=auth
    ).text
    site = client.get("/api/v1/site", params={"service": "shelter", "n": 1}, headers=auth)
    added = client.get(
        "/api/v1/whatif", params={"add": "-3.9,14.5", "service": "shelter"}, headers=auth
    )
    # every shelter is confidential: none is counted, none is named
    assert site.json()["meta"]["existing_providers"] == 0
    assert added.json()["meta"]["existing_providers"] == 0
    body += site.text + added.text
    assert not any(pid in body for pid in ids)
    assert not any(f["properties"]["name"] in body for f in secret)


# ----------------------------------------------------------------------------- pages


def _share_text(share_beyond: float) -> str:
    """How the pages print a share beyond a threshold (French)."""
    return f"{100 * share_beyond:.1f}".replace(".", ",") + "\u00a0%"


def test_region_page_names_mopti_its_cercles_and_the_analysis_figures(client):
    r = client.get("/regions/ML05")
    assert r.status_code == 200, r.text
    page = r.text
    assert r.headers["content-language"] == "fr" and '<html lang="fr">' in page
    assert "<h1>Mopti" in page
    analysis = client.app.state.analysis
    adm2 = analysis.units("adm2")
    cercles = adm2.loc[adm2["parent_pcode"] == "ML05", "name"].tolist()
    assert len(cercles) == 8 and all(name in page for name in cercles)
    # every figure of the key-figures table is the analysis's own, as printed
    for service in ("one_stop_centre", "medical", "legal", "shelter"):
        table = analysis.coverage(level="adm1", service=service, mode="car").table
        row = table[table["pcode"] == "ML05"].iloc[0]
        for t in (60, 120, 300):
            # one counting rule: whole people beyond, and their share
            assert _share_text(row[f"share_beyond_{t}"]) in page, (service, t)
            beyond = f"{int(row[f'pop_beyond_{t}']):,}"
            assert beyond.replace(",", "\u202f") in page, (service, t)
    # the underserved cercles, in the analysis's order
    ranked = analysis.underserved(level="adm2", threshold_min=120).table
    order = [n for n in ranked["name"] if n in cercles]
    section = page[page.index('id="cercles-heading"') : page.index('id="communes-heading"')]
    positions = [section.index(f'<th scope="row">{n}</th>') for n in order]
    assert positions == sorted(positions)
    assert "/regions/ML05/brief.pdf" in page


def test_region_page_and_map_list_no_confidential_provider(client):
    page = client.get("/regions/ML05").text
    carte = client.get("/regions/ML05/carte")
    assert carte.status_code == 200 and "leaflet" in carte.text.lower()
    for f in _confidential():
        p = f["properties"]
        for text in (page, carte.text):
            assert p["id"] not in text and p["name"] not in text
        if f["geometry"] and tuple(f["geometry"]["coordinates"]) not in _public_points():
            lon, lat = f["geometry"]["coordinates"]
            assert f"{lat:.3f}" not in carte.text or f"{lon:.3f}" not in carte.text
    # the public providers of Mopti are listed
    assert "One Stop Center Mopti" in page and "Première Urgence Internationale" in page


def test_region_by_name_redirects_and_unknown_pcode_is_404(client):
    r = client.get("/regions/mopti", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/regions/ML05"
    bad = client.get("/regions/ML05", params={"threshold_min": "abc"})
    assert bad.status_code == 422 and "threshold_min" in bad.text
    r = client.get("/regions/ML99")
    # the page lists the régions, and does not repeat what was asked
    assert r.status_code == 404 and "ML99" not in r.text and 'href="/regions/ML05"' in r.text
    assert client.get("/regions/ML99/carte").status_code == 404


def test_plan_page_ranks_and_offers_public_providers_only(client):
    r = client.get("/planifier")
    assert r.status_code == 200 and r.headers["content-language"] == "fr"
    page = r.text
    assert "Cercles les plus mal desservis" in page
    # the what-if script's messages, as data the script reads (not escaped text)
    assert '<script type="application/json" id="planning-messages">{"js_' in page
    ranked = client.app.state.analysis.underserved(level="adm2", threshold_min=120).table
    assert ranked["name"].iloc[0] in page
    assert 'value="osc-gao"' in page and "/static/js/planifier.js" in page
    assert not any(f["properties"]["id"] in page for f in _confidential())
    r = client.get("/planifier", params={"level": "adm1", "threshold_min": 300, "lang": "en"})
    assert r.status_code == 200 and r.headers["content-language"] == "en"
    assert "Most underserved régions" in r.text and 'href="/regions/ML08?lang=en"' in r.text
    client.cookies.clear()  # ?lang=en set the language cookie
    bad = client.get("/planifier", params={"mode": "plane"})
    assert bad.status_code == 422 and "mode" in bad.text and "valeurs permises : car" in bad.text


def test_region_page_in_english(client):
    r = client.get("/regions/ML05", params={"lang": "en"})
    assert r.status_code == 200 and '<html lang="en">' in r.text
    assert "Key figures" in r.text and "Chiffres clés" not in r.text
    client.cookies.clear()


@pytest.mark.parametrize("path", ["/api/v1/whatif", "/api/v1/site"])
def test_planning_shelters_needs_a_caseworker_token(client, path):
    # each route's own parameters: an unknown one is refused before anything else
    params = {"service": "shelter", "add": "-2.95,15.0", "n": 1}
    params.pop("add" if path.endswith("site") else "n")
    refused = client.get(path, params=params)
    assert refused.status_code == 403
    assert refused.json()["detail"]["parameter"] == "service"
    assert "confidentiel" in refused.json()["detail"]["message"]
    wrong = client.get(path, params=params, headers={"Authorization": "Bearer guess"})
    assert wrong.status_code == 403
    allowed = client.get(path, params=params, headers={"Authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 200, allowed.text


def test_plan_page_limits_the_ranking_to_a_region_and_offers_its_files(client):
    """/planifier?region=ML05: only Mopti's cercles, all of them, and CSV/HXL/XLSX links
    to the API's file of the same choices, which answer with that file."""
    import html
    import re

    page = client.get("/planifier", params={"level": "adm2", "region": "ML05"})
    assert page.status_code == 200, page.text
    body = page.text
    mopti = client.get("/api/v1/coverage", params={"level": "adm2", "region": "ML05"}).json()
    ranking = body.split('id="ranking-heading"')[1].split("</table>")[0]
    parents = re.findall(r'<span class="muted">([^<]+)</span>', ranking)
    assert parents and set(parents) == {"Mopti"}
    assert len(parents) == len(mopti["units"]) > 1  # all of them, not a national top 25
    links = [html.unescape(h) for h in re.findall(r'href="(/api/v1/coverage\?[^"]+)"', body)]
    assert {re.search(r"format=(\w+)", h).group(1) for h in links} == {"csv", "hxl", "xlsx"}
    for href in links:
        assert "region=ML05" in href and "level=adm2" in href and "threshold_min=120" in href
        got = client.get(href)
        assert got.status_code == 200, (href, got.text[:200])
        if "format=csv" in href:
            assert got.content.startswith(b"\xef\xbb\xbf") and b";" in got.content[:400]
    assert 'value="ML05" selected' in body
    wrong = client.get("/planifier", params={"region": "Atlantis"})
    assert wrong.status_code == 422 and "Atlantis" not in wrong.text


def test_region_page_offers_its_cercles_and_communes_as_files(client):
    import html
    import re

    body = client.get("/regions/ML05").text
    links = [html.unescape(h) for h in re.findall(r'href="(/api/v1/coverage\?[^"]+)"', body)]
    assert len(links) == 6  # cercles and communes, three formats each
    assert all("region=ML05" in h and "lang=fr" in h for h in links)
    assert {re.search(r"level=(\w+)", h).group(1) for h in links} == {"adm2", "adm3"}
    xlsx = client.get(next(h for h in links if "format=xlsx" in h))
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_region_page_dates_the_directory_by_its_own_records(client):
    """Kidal's and Mopti's pages date their providers by their own newest record."""
    directory = json.loads((REPO / "data" / "providers.geojson").read_text(encoding="utf-8"))
    for code in ("ML05", "ML08"):
        dates = [
            str(f["properties"]["source_date"])
            for f in directory["features"]
            if f["properties"]["adm1_pcode"] == code
            and not f["properties"]["confidential"]
            and str(f["properties"]["source_date"] or "")[:1].isdigit()
        ]
        page = client.get(f"/regions/{code}").text
        if dates:
            assert f"source la plus récente des prestataires de la région : {max(dates)}" in page
        else:
            assert "aucun prestataire public daté dans la région" in page
