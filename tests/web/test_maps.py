"""Map builders on rendered HTML: what a person (or a leak) would see in the file."""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Point, box

from geo.providers import public_providers, read_providers
from web.assets import ASSETS, asset_path, asset_url
from web.maps import add_providers, build_map, map_html, new_map, uncertainty_from_units
from web.maps_layers import travel_time_image
from web.maps_style import TIME_COLOURS

REPO = Path(__file__).resolve().parents[2]
PROVIDERS = REPO / "data" / "providers.geojson"
ARTIFACTS = REPO / "test-artifacts" / "maps"  # screenshots to look at (git-ignored)


def _boundaries() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"pcode": ["ML01", "ML02"], "name": ["Kayes", "Koulikoro"]},
        geometry=[box(-12.0, 12.0, -9.0, 15.0), box(-9.0, 11.5, -6.0, 15.5)],
        crs=4326,
    )


def _provider(pid: str, name: str, lon: float, lat: float, precision: str, **extra):
    record = {
        "id": pid,
        "name": name,
        "type": "ngo",
        "services": ["psychosocial"],
        "confidential": False,
        "location_precision": precision,
        "source": ["https://example.org/item"],
        "source_date": "2021",
        "status": "reported",
        "geometry": Point(lon, lat),
    }
    record.update(extra)
    return record


def _providers(*records) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(list(records), geometry="geometry", crs=4326)


def _variants(text: str) -> set[str]:
    """The ways a string can appear in rendered HTML/JS."""
    return {text, escape(text), escape(text, quote=False), json.dumps(text)[1:-1]}


def _coords(lon: float, lat: float) -> set[str]:
    return {f"{round(lat, d)}, {round(lon, d)}" for d in (3, 4, 5)} | {
        f"{round(lon, d)}, {round(lat, d)}" for d in (3, 4, 5)
    }


# ----------------------------------------------------------------------- confidentiality


@pytest.fixture(scope="module")
def directory() -> gpd.GeoDataFrame:
    return read_providers(PROVIDERS)


@pytest.fixture(scope="module")
def public_html(directory) -> str:
    m = build_map(boundaries=_boundaries(), providers=directory)
    return map_html(m, standalone=True)


def test_confidential_provider_never_on_a_public_map(directory, public_html):
    confidential = directory[~directory.index.isin(public_providers(directory).index)]
    assert len(confidential) >= 9  # shelters, safe houses and a confidential centre
    public = public_providers(directory)
    public_points = {(round(g.x, 4), round(g.y, 4)) for g in public.geometry if g is not None}
    checked_points = 0
    for _, row in confidential.iterrows():
        for form in _variants(str(row["name"])):
            assert form not in public_html, f"confidential name {row['name']!r} on the map"
        assert str(row["id"]) not in public_html
        geom = row.geometry
        if geom is None or (round(geom.x, 4), round(geom.y, 4)) in public_points:
            continue  # a public record sits at the same town point
        checked_points += 1
        for form in _coords(geom.x, geom.y):
            assert form not in public_html, f"coordinates of {row['id']} on the map"
    assert checked_points >= 2
    # every public, located provider is there (so the check above is not vacuous)
    for name in public[public.geometry.notna()]["name"]:
        assert any(form in public_html for form in _variants(str(name))), name


def test_builder_drops_confidential_even_when_the_caller_forgets(directory):
    m = new_map()
    add_providers(m, directory)  # not filtered by the caller
    html = m.get_root().render()
    shown = new_map()
    add_providers(shown, directory, include_confidential=True)
    caseworker_html = shown.get_root().render()
    names = directory[directory["confidential"].astype(bool)]["name"].astype(str)
    assert any(json.dumps(n)[1:-1] in caseworker_html for n in names)  # the check can fail
    for name in names:
        assert not any(form in html for form in _variants(name)), name


# ----------------------------------------------------------------------- approximate


def _marker_coords(html: str) -> list[tuple[float, float]]:
    return [
        (float(a), float(b))
        for a, b in re.findall(r"L\.marker\(\s*\[([-\d.]+),\s*([-\d.]+)\]", html)
    ]


def _circle_options(html: str, kind: str) -> list[tuple[tuple[float, float], dict]]:
    found = []
    pattern = rf"L\.{kind}\(\s*\[([-\d.]+),\s*([-\d.]+)\],\s*(\{{.*?\}})\s*\)"
    for a, b, options in re.findall(pattern, html, flags=re.S):
        found.append(((float(a), float(b)), json.loads(options)))
    return found


def test_approximate_location_is_a_dashed_circle_never_a_pin():
    providers = _providers(
        _provider("site-a", "Clinique Alpha", -8.0, 12.6, "facility"),
        _provider("town-b", "Association Beta", -6.25, 13.5, "locality"),
        _provider("cercle-c", "Réseau Gamma", -10.5, 14.2, "cercle", type="network"),
    )
    m = build_map(boundaries=_boundaries(), providers=providers)
    html = map_html(m, standalone=True)
    assert _marker_coords(html) == [(12.6, -8.0)]
    circles = _circle_options(html, "circle")
    rings = _circle_options(html, "circleMarker")
    assert {c for c, _ in circles} == {(13.5, -6.25), (14.2, -10.5)}
    assert {c for c, _ in rings} == {(13.5, -6.25), (14.2, -10.5)}
    for _, options in circles + rings:
        assert options.get("dashArray"), options
    radius = {c: o["radius"] for c, o in circles}
    assert radius[(13.5, -6.25)] == 5000  # a town point: 5 km
    assert radius[(14.2, -10.5)] > radius[(13.5, -6.25)]
    assert html.count("Localisation approximative") >= 2  # both popups say so


def test_uncertainty_radius_comes_from_the_unit_area():
    providers = _providers(
        _provider("c1", "Commune One", -8.0, 12.6, "commune", adm3_pcode="ML090101"),
        _provider("l1", "Town One", -8.0, 12.6, "locality"),
    )
    # a 0.1° x 0.1° commune near 12.6° N: about 10.9 km x 11.1 km
    units = gpd.GeoDataFrame(
        {"pcode": ["ML090101"]}, geometry=[box(-8.05, 12.55, -7.95, 12.65)], crs=4326
    )
    radius = uncertainty_from_units(providers, {3: units})
    assert radius.iloc[0] == pytest.approx(np.sqrt(10.87e3 * 11.06e3 / np.pi), rel=0.02)
    assert np.isnan(radius.iloc[1])


# ----------------------------------------------------------------------- language


def test_french_by_default_english_on_request():
    providers = _providers(_provider("town-b", "Association Beta", -6.25, 13.5, "locality"))
    fr = map_html(build_map(boundaries=_boundaries(), providers=providers), standalone=True)
    en = map_html(
        build_map(boundaries=_boundaries(), providers=providers, lang="en"), standalone=True
    )
    assert '<html lang="fr">' in fr and '<html lang="en">' in en
    for french, english in [
        ("Limites administratives", "Administrative boundaries"),
        ("Prestataires (localisation approximative)", "Providers (approximate location)"),
        ("Localisation approximative", "Approximate location"),
        ("psychosocial", "psychosocial"),
        ("Plein écran", "Full screen"),
    ]:
        assert json.dumps(french)[1:-1] in fr or french in fr, french
        assert json.dumps(english)[1:-1] in en or english in en, english
    assert "Limites administratives" not in en
    with pytest.raises(ValueError, match="lang"):
        build_map(boundaries=_boundaries(), lang="de")


def test_coverage_tooltips_and_legend_in_french_number_format():
    units = _boundaries()
    units["population"] = [1234567.0, 0.0]
    units["share_within_120"] = [0.456, np.nan]
    html = map_html(
        build_map(boundaries=_boundaries(), coverage=units, threshold_min=120), standalone=True
    )
    assert "1\u202f234\u202f567" in html or "1\\u202f234\\u202f567" in html
    assert "46\u00a0%" in html or "46\\u00a0%" in html
    assert "pas de population" in html
    assert "Part de la population \\u00e0 moins de 2 h" in html or (
        "Part de la population à moins de 2 h" in html
    )


# ----------------------------------------------------------------------- offline assets


def test_standalone_html_loads_nothing_from_the_network(public_html):
    assert not re.search(r"<script[^>]+src=", public_html)
    assert not re.search(r"<link[^>]+stylesheet", public_html)
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", public_html)
    for banned in ("jquery", "bootstrap", "font-awesome", "fontawesome", "awesome-markers"):
        assert banned not in public_html.lower(), banned
    assert "L.markerClusterGroup" in public_html  # the plugin code is inlined
    assert "L.control.fullscreen" in public_html


def test_served_html_links_the_vendored_files():
    html = map_html(
        build_map(
            boundaries=_boundaries(),
            providers=_providers(_provider("site-a", "Clinique Alpha", -8.0, 12.6, "facility")),
        )
    )
    for asset in ASSETS:
        assert asset_path(asset).is_file(), asset.path
        assert asset_url(asset) in html, asset.path
    assert not re.search(r"""(?:src|href)=["']https?:""", html.split("<body>")[0])


# ----------------------------------------------------------------------- travel time


def test_travel_time_image_is_reprojected_and_classed(tmp_path):
    # a 40 x 40 km UTM 30N raster: west half 20 min, east half 400 min, one unreachable
    values = np.full((4, 4), 20.0, dtype="float32")
    values[:, 2:] = 400.0
    values[0, 0] = np.inf
    values[3, 3] = np.nan
    path = tmp_path / "surface.tif"
    transform = from_origin(400_000, 1_500_000, 10_000, 10_000)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=4,
        height=4,
        count=1,
        dtype="float32",
        crs="EPSG:32630",
        transform=transform,
        nodata=np.nan,
    ) as dst:
        dst.write(values, 1)
    png, bounds = travel_time_image(path, resolution_m=1000)
    (south, west), (north, east) = bounds
    # UTM 30N (400 km E, 1460–1500 km N) is about 3.9° W, 13.2–13.6° N
    assert -4.0 < west < -3.9 and -3.6 < east < -3.5
    assert 13.1 < south < 13.3 and 13.5 < north < 13.6
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(png))
    assert image.mode == "P"
    idx = np.asarray(image)
    h, w = idx.shape
    palette = image.getpalette()

    def colour(i: int) -> str:
        return "#{:02X}{:02X}{:02X}".format(*palette[3 * i : 3 * i + 3])

    assert colour(idx[h // 2, w // 4]) == TIME_COLOURS[0]  # < 30 min
    assert colour(idx[h // 2, 3 * w // 4]) == TIME_COLOURS[4]  # > 5 h
    assert colour(idx[2, 2]) == TIME_COLOURS[5]  # unreachable corner
    assert idx[h - 3, w - 3] == 0  # NaN: transparent
    with pytest.raises(FileNotFoundError, match="does not exist"):
        travel_time_image(tmp_path / "missing.tif")


# ----------------------------------------------------------------------- browser


def _open_first_popup(page) -> str:
    """Click the first provider marker once the map has settled; the popup's text.

    The map zooms to its bounds as it opens (an animated zoom): a click that lands while
    it runs can be dropped, as a user's would be, so a second click is allowed (a slow CI
    machine once missed the popup within 5 s)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.wait_for_function("!document.querySelector('.leaflet-zoom-anim')")
    popup = page.locator(".leaflet-popup-content")
    for _attempt in range(3):
        page.locator(".orienter-marker").first.click()
        try:
            popup.wait_for(state="attached", timeout=5000)
        except PlaywrightTimeout:
            continue
        return popup.inner_text()
    raise AssertionError("no popup after three clicks on the first marker")


def test_standalone_map_renders_offline_in_chromium(tmp_path, public_html, chromium):
    # the session's browser (tests/web/conftest.py): one Playwright per process
    path = tmp_path / "map.html"
    path.write_text(public_html, encoding="utf-8")
    outside: list[str] = []
    errors: list[str] = []
    context = chromium.new_context(viewport={"width": 900, "height": 700})
    try:
        page = context.new_page()

        def route(r):
            url = r.request.url
            if url.startswith(("file:", "data:")):
                r.continue_()
            else:
                outside.append(url)
                r.abort()

        page.route("**/*", route)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_selector(".leaflet-overlay-pane path")
        boundaries = page.locator(".leaflet-orienter-base-pane path").count()
        circles = page.locator("path[stroke-dasharray]").count()
        markers = page.locator(".leaflet-marker-icon").count()
        popup = _open_first_popup(page)
        page.wait_for_timeout(500)  # popup fade-in
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "standalone-map-offline.png"))
        legend_open = page.evaluate("document.querySelector('.orienter-legend details').open")
        layers_open = page.locator(".leaflet-control-layers-expanded").count()
        page.set_viewport_size({"width": 360, "height": 640})  # a phone
        page.reload()
        page.wait_for_selector(".leaflet-overlay-pane path")
        phone_legend_open = page.evaluate("document.querySelector('.orienter-legend details').open")
        phone_layers_open = page.locator(".leaflet-control-layers-expanded").count()
        page.screenshot(path=str(ARTIFACTS / "standalone-map-phone.png"))
    finally:
        context.close()
    # on a phone the legend and the layer list start folded, so the map shows
    assert legend_open and not phone_legend_open
    assert layers_open == 1 and phone_layers_open == 0
    assert errors == []
    assert outside == []
    assert boundaries == 2
    assert circles > 0 and markers > 0
    assert "Type" in popup and "Source" in popup


def test_provider_text_is_escaped():
    evil = '<img src=x onerror="alert(1)">'
    providers = _providers(
        _provider("site-a", evil, -8.0, 12.6, "facility", phone=evil),
        _provider("town-b", evil, -6.25, 13.5, "locality", notes=evil),
    )
    html = map_html(build_map(boundaries=_boundaries(), providers=providers), standalone=True)
    assert "<img src=x" not in html
    assert json.dumps(evil)[1:-1] not in html  # not even as a raw JS string
    assert "&lt;img src=x" in html


def test_standalone_refuses_a_vendor_file_it_cannot_inline():
    from web.assets import inline_assets

    page = '<script src="/static/vendor/leaflet/leaflet.js"></script>'
    assert "<script src" not in inline_assets(page)
    with pytest.raises(ValueError, match="not inlined"):
        inline_assets(page + '<script src="/static/vendor/unknown/x.js"></script>')
