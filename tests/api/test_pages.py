"""The HTML pages ``/`` and ``/trouver`` (TestClient on the session car build).

What a user relies on: French by default and English on the FR/EN switch (which the
next pages remember), nothing loaded from another site, a tight CSP, labelled fields,
national figures equal to the coverage computation, and no confidential provider in
any page or page data.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.http.app import create_app
from api.services.analysis import Analysis
from api.settings import Settings
from web.i18n import LOCALES

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PAGES = ("/", "/trouver")
TILES = "https://tile.openstreetmap.org/"


class _Collector(HTMLParser):
    """Tags with their attributes, and the text of inline scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline: list[tuple[str, dict[str, str | None], str]] = []
        self._open: tuple[str, dict] | None = None

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag in ("script", "style"):
            self._open = (tag, found)

    def handle_data(self, data):
        if self._open is not None and data.strip():
            self.inline.append((*self._open, data))

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._open = None


def _parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    return collector


def _confidential() -> list[dict]:
    text = (REPO / "data" / "providers.geojson").read_text(encoding="utf-8")
    return [
        f["properties"] for f in json.loads(text)["features"] if f["properties"]["confidential"]
    ]


@pytest.fixture(scope="module")
def settings(car_settings) -> Settings:
    return car_settings()


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(autouse=True)
def _no_language_cookie_between_tests(request):
    yield
    if "client" in request.fixturenames:
        request.getfixturevalue("client").cookies.clear()


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_french_by_default(client, path):
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-language"] == "fr"
    assert '<html lang="fr">' in r.text
    assert "Trouver un service" in r.text  # the navigation, in French
    assert "Find a service" not in r.text


@pytest.mark.parametrize("path", PAGES)
def test_english_on_the_switch_and_remembered_by_cookie(client, path):
    try:
        r = client.get(path, params={"lang": "en"})
        assert r.status_code == 200
        assert '<html lang="en">' in r.text
        assert "Find a service" in r.text and "Trouver un service" not in r.text
        assert "lang=en" in r.headers["set-cookie"]
        # the next page, without ?lang, stays in English (cookie); ?lang=fr switches back
        assert '<html lang="en">' in client.get("/trouver" if path == "/" else "/").text
        assert '<html lang="fr">' in client.get(path, params={"lang": "fr"}).text
        assert '<html lang="fr">' in client.get(path).text
    finally:
        client.cookies.clear()


def test_the_switch_links_keep_the_page(client):
    html = client.get("/trouver").text
    assert 'href="/trouver?lang=en"' in html
    assert 'href="/trouver?lang=fr"' in html


def test_unknown_language_falls_back_to_french(client):
    r = client.get("/", params={"lang": "de"})
    assert '<html lang="fr">' in r.text
    assert "set-cookie" not in r.headers


def test_every_page_key_is_translated():
    fr = json.loads((LOCALES / "fr" / "pages.json").read_text(encoding="utf-8"))
    en = json.loads((LOCALES / "en" / "pages.json").read_text(encoding="utf-8"))
    assert sorted(fr) == sorted(en)
    assert all(en[k].strip() for k in en)


@pytest.mark.parametrize("path", PAGES)
def test_pages_load_nothing_from_another_site(client, path):
    r = client.get(path)
    page = _parse(r.text)
    urls = [
        value
        for tag, attrs in page.tags
        for name, value in attrs.items()
        if (tag, name) in {("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src")}
    ]
    assert urls, "the page should load its own scripts and styles"
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        assert client.get(url).status_code == 200, url  # every asset is served by the app
    # scripts: files only; the one inline block is JSON data (not executed)
    for tag, attrs, _text in page.inline:
        assert tag == "script" and attrs.get("type") == "application/json", (tag, attrs)
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self';" in csp and "unsafe" not in csp


def test_every_form_field_has_a_label(client):
    for path in PAGES:
        page = _parse(client.get(path).text)
        labelled = {attrs.get("for") for tag, attrs in page.tags if tag == "label"}
        fields = [
            attrs
            for tag, attrs in page.tags
            if tag in ("input", "select", "textarea") and attrs.get("type") != "hidden"
        ]
        assert fields
        for attrs in fields:
            assert attrs.get("id") in labelled or attrs.get("aria-label"), (path, attrs)


def test_finder_has_an_aria_combobox_and_the_built_choices(client):
    page = _parse(client.get("/trouver").text)
    place = next(attrs for tag, attrs in page.tags if attrs.get("id") == "place")
    assert place["role"] == "combobox"
    assert place["aria-controls"] == "place-list"
    assert place["aria-autocomplete"] == "list"
    values = {
        attrs.get("value") for tag, attrs in page.tags if tag == "option" and "value" in attrs
    }
    # the car build: one mode, three scenarios; every service
    assert {"car", "baseline", "slowed", "avoid", "one_stop_centre", "legal"} <= values
    assert "walk" not in values


@pytest.mark.parametrize(
    ("lang", "label"),
    [("fr", "Ne pas imprimer le lieu de départ"), ("en", "Do not print the starting place")],
)
def test_finder_offers_to_leave_the_starting_place_off_the_sheet(client, lang, label):
    html = client.get("/trouver", params={"lang": lang}).text
    page = _parse(html)
    box = next(attrs for tag, attrs in page.tags if attrs.get("id") == "sheet-no-place")
    assert box["type"] == "checkbox" and "checked" not in box
    assert "name" not in box  # the choice is never sent anywhere
    assert label in html
    # the sheet has a line for the place; its intro no longer says the place is absent
    assert any(attrs.get("id") == "referral-place" for tag, attrs in page.tags)
    assert "ni sur son lieu de départ" not in html and "nor where they start" not in html


def test_overview_figures_are_the_computed_ones(client, settings):
    national = Analysis.load(settings).national(service="one_stop_centre", mode="car")
    html = client.get("/").text
    total = national["population"]
    for minutes in (60, 120, 300):
        beyond = total - national[f"pop_within_{minutes}"]
        assert f"{beyond:,}".replace(",", "\u202f") in html, minutes
    directory = json.loads((REPO / "data" / "providers.geojson").read_text(encoding="utf-8"))
    public = [f for f in directory["features"] if not f["properties"]["confidential"]]
    assert f"<dd>{len(public)}<small>" in html
    # and why the maps and briefings show fewer: the located ones that operate
    located = [f for f in public if f["geometry"]]
    active = [f for f in located if f["properties"]["status"] in ("operating", "reported")]
    unplaced, inactive = len(public) - len(located), len(located) - len(active)
    assert len(active) < len(public) and unplaced >= 2  # the national lines
    assert f"{len(active)} situés et en activité" in html
    assert f"{unplaced} sans lieu (lignes nationales), {inactive} historiques" in html
    english = client.get("/", params={"lang": "en"}).text
    beyond_2h = total - national["pop_within_120"]
    assert f"{beyond_2h:,}" in english


def test_coverage_data_for_the_map(client, settings):
    r = client.get("/carte/couverture.geojson", params={"service": "legal", "scenario": "avoid"})
    assert r.status_code == 200
    features = r.json()["features"]
    assert len(features) == 9  # the régions
    table = (
        Analysis.load(settings)
        .coverage(level="adm1", service="legal", mode="car", scenario="avoid")
        .table.set_index("pcode")
    )
    for f in features:
        p = f["properties"]
        assert 0 <= p["share_within_60"] <= p["share_within_120"] <= p["share_within_300"] <= 1
        assert p["share_within_120"] == pytest.approx(table.loc[p["pcode"], "share_within_120"])
    bad = client.get("/carte/couverture.geojson", params={"service": "nope"})
    assert bad.status_code == 422 and bad.json()["detail"]["parameter"] == "service"
    assert "nope" not in bad.text  # an error never repeats the input


def test_boundaries_base_map(client):
    r = client.get("/carte/limites/adm1.geojson")
    assert r.status_code == 200
    assert len(r.json()["features"]) == 9
    assert client.get("/carte/limites/adm9.geojson").status_code == 404


def test_no_confidential_provider_in_any_page_or_page_data(client):
    secret = _confidential()
    assert secret
    bodies = {
        path: client.get(path, params={"lang": lang}).text
        for path in PAGES
        for lang in ("fr", "en")
    }
    for service in ("one_stop_centre", "shelter", "psychosocial"):
        url = f"/carte/couverture.geojson?service={service}"
        bodies[url] = client.get(url).text
    # what the overview map loads for each service filter
    for query in ("type=one_stop_centre", "service=shelter", "service=psychosocial"):
        url = f"/api/v1/providers?{query}"
        r = client.get(url)
        assert r.status_code == 200
        bodies[url] = json.dumps([f["properties"]["id"] for f in r.json()["features"]])
    for where, body in bodies.items():
        for p in secret:
            assert p["id"] not in body, (where, p["id"])
            if not where.startswith("/api/"):  # a public record's notes may name a partner
                assert p["name"] not in body, (where, p["name"])


def test_page_scripts_keep_no_query_in_the_browser(client):
    for name in ("common.js", "overview.js", "trouver.js"):
        r = client.get(f"/static/js/{name}")
        assert r.status_code == 200
        assert r.headers["content-security-policy"] == "default-src 'self'; frame-ancestors 'none'"
        code = re.sub(r"/\*.*?\*/|//[^\n]*", "", r.text, flags=re.S)  # without comments
        assert "localStorage" not in code and "document.cookie" not in code, name
        assert "http://" not in code and "https://" not in code.replace(TILES, ""), name


def test_pages_still_open_before_anything_is_built(data_dir, tmp_path):
    settings = Settings(
        data_dir=data_dir, build_dir=tmp_path, providers=REPO / "data" / "providers.geojson"
    )
    with TestClient(create_app(settings)) as c:
        overview = c.get("/")
        assert overview.status_code == 200
        assert "Les chiffres de couverture ne sont pas disponibles" in overview.text
        assert c.get("/trouver").status_code == 200
        assert c.get("/carte/couverture.geojson").status_code == 503
