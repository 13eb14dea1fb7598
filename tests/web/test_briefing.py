"""Static maps and the briefing builder on tiny fixtures built in code (no data directory)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from html import unescape

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine
from pypdf import PdfReader

from geo.crs import METRIC_CRS
from web.briefing import (
    BriefingData,
    Figures,
    MapImage,
    ProviderRow,
    ScenarioRow,
    SourceRow,
    format_duration,
    render_html,
    render_pdf,
)
from web.static_maps import conflict_map, map_frame, providers_map, travel_time_map

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture()
def frame():
    """A 200 x 120 km région of two cercles, with a neighbour, in the metric CRS."""
    region = gpd.GeoDataFrame(
        {"pcode": ["XX01"], "name": ["Régionà"]},
        geometry=[shapely.box(0, 0, 200_000, 120_000)],
        crs=METRIC_CRS,
    )
    cercles = gpd.GeoDataFrame(
        {"pcode": ["XX0101", "XX0102"], "name": ["Cercle Ouest", "Cercle Est"]},
        geometry=[shapely.box(0, 0, 100_000, 120_000), shapely.box(100_000, 0, 200_000, 120_000)],
        crs=METRIC_CRS,
    )
    neighbour = gpd.GeoDataFrame(
        {"pcode": ["XX02"], "name": ["Voisine"]},
        geometry=[shapely.box(200_000, 0, 300_000, 120_000)],
        crs=METRIC_CRS,
    )
    return map_frame(region, cercles, neighbour)


def _providers() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": ["osc-exact", "ngo-town", "shelter-secret"],
            "name": ["Centre public", "ONG en ville", "Maison sûre"],
            "type": ["one_stop_centre", "ngo", "ngo"],
            "location_precision": ["facility", "locality", "locality"],
            "confidential": [False, False, True],
        },
        geometry=shapely.points([(50_000, 60_000), (150_000, 30_000), (120_000, 90_000)]),
        crs=METRIC_CRS,
    )


# ----------------------------------------------------------------------------- static maps


def test_map_frame_pads_to_a_printable_shape(frame):
    xmin, ymin, xmax, ymax = frame.bounds
    assert xmin < 0 and ymin < 0 and xmax > 200_000 and ymax > 120_000  # région inside
    assert 0.62 <= frame.aspect <= 1.05


def test_map_frame_rejects_geographic_crs_and_mismatch():
    region = gpd.GeoDataFrame(
        {"name": ["r"]}, geometry=[shapely.box(-5, 14, -3, 16)], crs="EPSG:4326"
    )
    with pytest.raises(ValueError, match="projected metric CRS"):
        map_frame(region, region)
    metric = region.to_crs(METRIC_CRS)
    with pytest.raises(Exception, match="CRS differ"):
        map_frame(metric, region)


def test_providers_map_never_draws_a_confidential_provider(frame):
    svg = providers_map(frame, _providers(), numbers={"osc-exact": 1, "ngo-town": 2}, fmt="svg")
    text = svg.decode("utf-8")
    assert 'id="providers-osc-exact"' in text
    assert 'id="providers-ngo-town"' in text
    assert "shelter-secret" not in text and "Maison sûre" not in text
    # the legend explains the open circle of an approximate location, in French
    assert "lieu approximatif" in text
    # a scale bar is drawn (a round length, a quarter of the view or less)
    assert re.search(r">(50|20|10) km</text>", text)


def test_providers_map_png_at_print_resolution(frame):
    png = providers_map(frame, _providers(), dpi=200)
    assert png[:8] == PNG_MAGIC
    width = int.from_bytes(png[16:20], "big")
    assert width >= 7.0 * 200 * 0.95  # 7 inches wide at 200 dpi (tight bbox trims a little)


def test_providers_map_without_providers_says_so(frame):
    svg = providers_map(frame, _providers().iloc[2:], fmt="svg", lang="en").decode()
    assert "No public provider in the région" in svg


def test_travel_time_map_bands_and_unreachable(frame):
    minutes = np.array([[10.0, 45.0, 90.0], [200.0, 400.0, np.inf], [np.nan, 20.0, 30.0]])
    transform = Affine(100_000.0, 0, -50_000.0, 0, -60_000.0, 180_000.0)
    svg = travel_time_map(frame, minutes, transform, providers=_providers(), fmt="svg").decode()
    for label in ("moins de 30 min", "30 min – 1 h", "1 – 2 h", "2 – 5 h", "plus de 5 h"):
        assert label in svg
    assert "inaccessible" in svg  # the inf cell has its own legend entry
    assert "shelter-secret" not in svg
    with pytest.raises(ValueError, match="2-D"):
        travel_time_map(frame, minutes.ravel(), transform)


def test_conflict_map_with_and_without_zones(frame):
    zones = gpd.GeoDataFrame(
        {"zone_class": ["elevated", "high"], "events": [3, 9]},
        geometry=[shapely.box(0, 0, 150_000, 100_000), shapely.box(20_000, 20_000, 60_000, 60_000)],
        crs=METRIC_CRS,
    )
    svg = conflict_map(frame, zones, thresholds=(1.0, 5.0), fmt="svg").decode()
    assert "élevé" in svg and "fort" in svg and "≥ 5" in svg
    empty = conflict_map(frame, None, fmt="svg").decode()
    assert "Pas de couche de zones de conflit" in empty


def test_map_options_are_validated(frame):
    with pytest.raises(ValueError, match="fmt"):
        providers_map(frame, _providers(), fmt="jpg")
    with pytest.raises(ValueError, match="dpi"):
        providers_map(frame, _providers(), dpi=5)


# ----------------------------------------------------------------------------- formatting


def test_french_and_english_durations():
    assert format_duration(47) == "47\u00a0min"
    assert format_duration(287) == "4\u00a0h\u00a047"
    assert format_duration(float("inf"), "fr") == "inaccessible"
    assert format_duration(float("inf"), "en") == "unreachable"


# ----------------------------------------------------------------------------- document


def _tiny_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 6), "white").save(buf, format="PNG")
    return buf.getvalue()


def _figures(label: str, population: float, within: dict[int, float], **kw) -> Figures:
    shares = {m: within[m] / population for m in within}
    return Figures(label=label, population=population, within=within, share_within=shares, **kw)


def _data(**changes) -> BriefingData:
    osc = _figures(
        "Régionà",
        1000.0,
        {30: 100.0, 60: 250.0, 120: 600.0, 300: 900.0},
        median_time_min=95.0,
        n_providers=1,
        nearest_provider_name="Centre public",
    )
    worse = _figures("Régionà", 1000.0, {30: 50.0, 60: 200.0, 120: 450.0, 300: 880.0})
    legal = _figures("Régionà", 1000.0, {30: 0.0, 60: 0.0, 120: 10.0, 300: 300.0}, n_providers=0)
    cercle = _figures(
        "Cercle Ouest",
        600.0,
        {30: 50, 60: 100, 120: 200, 300: 550},
        pcode="XX0101",
        max_class="high",
    )
    values = dict(
        lang="fr",
        region_pcode="XX01",
        region_name="Régionà",
        generated_at=datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
        version="9.9.9",
        population=1000.0,
        population_source="pop.tif",
        modes=["car"],
        osc={"car": osc},
        services=[("one_stop_centre", {"car": osc}), ("legal", {"car": legal})],
        scenarios=[ScenarioRow("baseline", osc, osc), ScenarioRow("avoid", worse, osc)],
        cercles=[cercle],
        communes=[cercle],
        communes_total=1,
        providers=[
            ProviderRow(
                1,
                "osc-exact",
                "Centre public",
                "one_stop_centre",
                ["medical", "legal"],
                "Ville",
                "Hôpital régional",
                "80 00 00 00",
                None,
                "facility",
                "reported",
                "2023",
            )
        ],
        national_lines=[],
        maps=[MapImage("providers", "Carte 1", "Légende", _tiny_png())],
        sources=[SourceRow("Population", "pop.tif", "2020", "CC BY 4.0")],
        limitations=["Grille de 18 km."],
        built_at="2026-11-27T23:43:10",
    )
    values.update(changes)
    return BriefingData(**values)


def _cell(html: str, figure: str, scope: str) -> str:
    """Text of the first ``data-figure`` cell inside the row matching ``scope``."""
    row = re.search(rf"<tr[^>]*{scope}[^>]*>(.*?)</tr>", html, re.S)
    assert row, scope
    cell = re.search(rf'data-figure="{figure}">([^<]*)<', row.group(1))
    assert cell, (scope, figure)
    return cell.group(1)


def test_html_prints_the_figures_it_was_given():
    data = _data()
    html = render_html(data)
    assert "Régionà" in html and "XX01" in html
    # people beyond 2 h = population - within: 1000 - 600
    assert _cell(html, "beyond-120", 'data-service="one_stop_centre"') == "400"
    assert _cell(html, "share-beyond-120", 'data-service="one_stop_centre"') == "40,0\u00a0%"
    assert _cell(html, "beyond-300", 'data-service="legal"') == "700"
    # scenario change: avoid 550 beyond 2 h vs 400
    assert _cell(html, "change-120", 'data-scenario="avoid"') == "+150"
    assert "aucun" in html  # no legal provider in the région
    assert "1 h 35" in html.replace("\u00a0", " ")  # median 95 min
    assert "80 00 00 00" in html and "Hôpital régional" in html
    assert "28 novembre 2026" in html and "9.9.9" in html


def test_html_says_when_a_part_is_missing():
    html = unescape(render_html(_data(scenarios=[], scenarios_missing=True, providers=[])))
    assert "Les scénarios d'insécurité n'ont pas été calculés" in html
    assert 'id="no-provider"' in html
    assert "Aucun prestataire public n'est répertorié dans la région de Régionà" in html


def test_lead_sentence_without_a_median():
    unreachable = _figures(
        "Régionà", 1000.0, {30: 0.0, 60: 0.0, 120: 100.0, 300: 200.0}, median_time_min=np.inf
    )
    html = unescape(render_html(_data(osc={"car": unreachable})))
    assert "plus de la moitié des habitants ne peut en atteindre aucun" in html
    assert "moins de inaccessible" not in html


def test_english_on_request():
    html = render_html(_data(lang="en"))
    assert "Access to survivor services" in html
    assert _cell(html, "share-beyond-120", 'data-service="one_stop_centre"') == "40.0%"
    assert "Chiffres clés" not in html


def test_pdf_is_a4_and_keeps_french_accents():
    pdf = render_pdf(render_html(_data()))
    reader = PdfReader(io.BytesIO(pdf))
    assert 1 <= len(reader.pages) <= 4
    box = reader.pages[0].mediabox
    assert abs(float(box.width) - 595.3) < 2 and abs(float(box.height) - 841.9) < 2
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Accès aux services de prise en charge" in text
    for word in ("Régionà", "Référence", "Évitement", "Hôpital régional", "40,0"):
        assert word in text


def test_render_rejects_bad_input():
    with pytest.raises(TypeError):
        render_html({"lang": "fr"})
    with pytest.raises(ValueError, match="lang"):
        render_html(_data(lang="de"))
