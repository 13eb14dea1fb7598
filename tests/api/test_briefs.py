"""Briefings on the real Mali data and the session car build: CLI, figures, web routes."""

from __future__ import annotations

import io
import json
import re
from html import unescape
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from api.cli import app
from api.http.app import create_app
from api.services.analysis import Analysis
from api.services.briefings import assemble_briefing
from api.services.regions import Region, RegionNotFoundError, resolve_region
from api.settings import Settings, get_settings
from geo.providers import read_providers
from web.briefing import THRESHOLDS_MIN, render_html

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
MOPTI_CERCLES = ("Bandiagara", "Bankass", "Djenne", "Douentza", "Koro", "Mopti", "Tenenkou")


def _directory() -> list[dict]:
    text = (REPO / "data" / "providers.geojson").read_text(encoding="utf-8")
    return [f["properties"] for f in json.loads(text)["features"]]


@pytest.fixture(scope="module")
def settings(car_settings) -> Settings:
    return car_settings()


@pytest.fixture(scope="module")
def analysis(settings) -> Analysis:
    return Analysis.load(settings)


@pytest.fixture(scope="module")
def env(data_dir, car_build):
    mp = pytest.MonkeyPatch()
    for key, value in {
        "ORIENTER_DATA_DIR": str(data_dir),
        "ORIENTER_BUILD_DIR": str(car_build),
        "ORIENTER_PROVIDERS": str(REPO / "data" / "providers.geojson"),
        "ORIENTER_BOUNDARIES_DIR": str(car_build / "no-user-boundaries"),
    }.items():
        mp.setenv(key, value)
    get_settings.cache_clear()
    yield
    mp.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def mopti_pdf(env, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("brief") / "mopti.pdf"
    result = CliRunner().invoke(app, ["brief", "--region", "ML05", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _pdf_text(path: Path) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


# ----------------------------------------------------------------------------- must show


def test_mopti_pdf_names_mopti_its_cercles_percentages_and_sources(mopti_pdf):
    pages, text = _pdf_text(mopti_pdf)
    assert 2 <= pages <= 4
    assert "région de Mopti" in text
    for cercle in MOPTI_CERCLES:
        assert cercle in text, cercle
    assert re.search(r"\d+,\d\s?%", text)  # French percentages
    assert "Sources des données" in text
    for source in ("WorldPop", "OCHA", "ACLED", "providers.geojson"):
        assert source in text, source
    # every data file is named whole on one line (no name split across lines)
    lines = text.splitlines()
    for name in ("mli_adm1_ocha_cod_2015.geojson", "worldpop2020_density_10arcmin_mli.tif"):
        assert any(name in line for line in lines), name
    assert "Limites" in text and "18 km" in text  # the population grid, from the raster
    assert "Temps : " in text and "saison sèche" in text  # what the times mean (issue 19)
    # accents survive the font: no replacement boxes, words intact
    for word in ("Accès", "Chiffres clés", "Évitement", "référence"):
        assert word in text, word


def test_no_confidential_provider_and_no_raw_event(mopti_pdf, analysis):
    _, text = _pdf_text(mopti_pdf)
    html = unescape(render_html(assemble_briefing(analysis, "ML05")))
    for record in _directory():
        if record["confidential"]:
            assert record["name"] not in text and record["name"] not in html
            assert record["id"] not in html
    # ACLED is named as a source, but no event column or note is ever printed
    for column in ("event_id_cnty", "sub_event_type", "actor1", "assoc_actor_1"):
        assert column not in html


# ----------------------------------------------------------------------------- figures


def _row(table, pcode: str):
    hit = table[table["pcode"] == pcode]
    assert len(hit) == 1
    return hit.iloc[0]


def test_every_figure_equals_the_coverage_table(analysis):
    data = assemble_briefing(analysis, "ML05")
    modes = list(analysis.choices["mode"])
    for service, by_mode in data.services:
        for mode in modes:
            if mode not in ("car", "walk"):
                continue
            row = _row(analysis.coverage(level="adm1", service=service, mode=mode).table, "ML05")
            fig = by_mode[mode]
            assert fig.population == row["population"]
            for m in THRESHOLDS_MIN:
                assert fig.beyond(m) == row["population"] - row[f"pop_within_{m}"]
                assert fig.share_beyond(m) == pytest.approx(1 - row[f"share_within_{m}"])
            assert fig.n_providers == row["n_providers"]
    for scenario_row in data.scenarios:
        row = _row(analysis.coverage(level="adm1", scenario=scenario_row.scenario).table, "ML05")
        assert scenario_row.figures.beyond(120) == row["population"] - row["pop_within_120"]
    adm2 = analysis.coverage(level="adm2").table
    assert {c.pcode for c in data.cercles} == set(adm2[adm2["pcode"].str.startswith("ML05")].pcode)
    for cercle in data.cercles:
        row = _row(adm2, cercle.pcode)
        assert cercle.beyond(120) == row["population"] - row["pop_within_120"]
        assert cercle.max_class == row["max_class"]
    beyond = [c.beyond(120) for c in data.communes]
    assert beyond == sorted(beyond, reverse=True)  # worst communes first


def _cells(html: str, scope: str) -> dict[str, str]:
    row = re.search(rf"<tr[^>]*{scope}[^>]*>(.*?)</tr>", html, re.S)
    assert row, scope
    return dict(re.findall(r'data-figure="([^"]+)">([^<]*)<', row.group(1)))


def _people(text: str) -> int:
    return int(re.sub(r"[\s\u202f\u00a0]", "", text))


def _percent(text: str) -> float:
    return float(text.replace("\u00a0", "").rstrip("%").replace(",", "."))


def test_printed_numbers_equal_the_api_coverage_answer(settings):
    """Parse the HTML briefing and compare with GET /api/v1/coverage for the same inputs."""
    from fastapi.testclient import TestClient

    with TestClient(create_app(settings)) as client:
        html = client.get("/regions/ML05/brief.html").text
        for service in ("one_stop_centre", "medical", "legal", "shelter"):
            api = client.get(
                "/api/v1/coverage", params={"level": "adm1", "service": service, "mode": "car"}
            )
            assert api.status_code == 200, api.text
            record = next(r for r in api.json()["units"] if r["pcode"] == "ML05")
            cells = _cells(html, f'data-service="{service}" data-mode="car"')
            for m in THRESHOLDS_MIN:
                # one counting rule: whole people beyond, and their share
                assert _people(cells[f"beyond-{m}"]) == record[f"pop_beyond_{m}"]
                assert _percent(cells[f"share-beyond-{m}"]) == pytest.approx(
                    round(100 * record[f"share_beyond_{m}"], 1)
                )
        avoid = client.get("/api/v1/coverage", params={"level": "adm1", "scenario": "avoid"})
        record = next(r for r in avoid.json()["units"] if r["pcode"] == "ML05")
        cells = _cells(html, 'data-scenario="avoid"')
        assert _people(cells["beyond-120"]) == record["pop_beyond_120"]


# ----------------------------------------------------------------------------- no provider


def test_region_without_any_provider_renders_and_says_so(analysis):
    # Kidal's one public record (a project-level entry) offers none of the services
    data = assemble_briefing(analysis, "Kidal")
    assert data.region_pcode == "ML08"
    html = unescape(render_html(data))
    assert "Aucun One-Stop Centre public n'est situé dans la région" in html
    for service, by_mode in data.services:
        assert by_mode["car"].n_providers == 0, service
        cells = html.split(f'data-service="{service}"', 1)[1].split("</tr>", 1)[0]
        assert "aucun" in cells
    # its people still get figures: the nearest centres are in other régions
    assert data.osc["car"].population > 0
    assert data.osc["car"].nearest_provider_name  # a public centre outside the région


# ----------------------------------------------------------------------------- CLI


def test_region_by_name_in_english_as_html(env, tmp_path):
    out = tmp_path / "segou.html"
    result = CliRunner().invoke(
        app, ["brief", "--region", "segou", "--lang", "en", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    html = unescape(out.read_text(encoding="utf-8"))
    assert "Access to survivor services: Ségou région" in html
    assert "data:image/png;base64," in html  # self-contained: maps inlined
    assert "<script" not in html


def test_cli_errors_name_the_option(env, tmp_path):
    runner = CliRunner()
    bad = runner.invoke(app, ["brief", "--region", "Atlantis", "--out", str(tmp_path / "a.pdf")])
    assert bad.exit_code == 1 and "--region" in bad.output and "ML05 Mopti" in bad.output
    missing = tmp_path / "nope" / "a.pdf"
    r = runner.invoke(app, ["brief", "--region", "ML05", "--out", str(missing)])
    assert r.exit_code == 1 and "--out" in r.output and "does not exist" in r.output
    # the command line itself wrong: a usage error (exit 2)
    r = runner.invoke(app, ["brief", "--region", "ML05", "--out", str(tmp_path / "a.docx")])
    assert r.exit_code == 2 and "--out" in r.output
    r = runner.invoke(app, ["brief", "--region", "ML05", "--lang", "de", "--out", "x.pdf"])
    assert r.exit_code == 2 and "--lang" in r.output
    r = runner.invoke(app, ["brief", "--region", "ML05"])
    assert r.exit_code == 2 and "--out" in r.output
    r = runner.invoke(app, ["brief", "--region", "ML05", "--all", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "give one" in r.output
    assert not list(tmp_path.glob("*.pdf")) and not list(tmp_path.glob(".*part"))


def test_resolve_region_is_accent_and_case_blind(analysis):
    regions = analysis.units("adm1")
    assert resolve_region(regions, "ml05") == Region("ML05", "Mopti", "Mopti")
    assert resolve_region(regions, "Ségou").pcode == "ML04"
    assert resolve_region(regions, "segou").display_name == "Ségou"
    assert resolve_region(regions, "Koulikoro").pcode == "ML02"  # the file spells Koulikouro
    with pytest.raises(RegionNotFoundError, match="known: ML01 Kayes"):
        resolve_region(regions, "Taoudénit")


def test_all_regions_into_a_directory(env, tmp_path):
    out = tmp_path / "briefings"
    result = CliRunner().invoke(app, ["brief", "--all", "--format", "html", "--out", str(out)])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 9 and all(f.endswith("-fr.html") for f in files)
    assert any("ML08-kidal" in f for f in files)


# ----------------------------------------------------------------------------- web


def test_web_routes(settings):
    from fastapi.testclient import TestClient

    with TestClient(create_app(settings)) as client:
        r = client.get("/regions/ML05/brief.pdf")
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        reader = PdfReader(io.BytesIO(r.content))
        assert 2 <= len(reader.pages) <= 4
        html = client.get("/regions/mopti/brief.html", headers={"Accept-Language": "en"})
        assert html.status_code == 200 and "Mopti région" in unescape(html.text)
        assert "img-src data:" in html.headers["content-security-policy"]
        missing = client.get("/regions/XX99/brief.pdf")
        assert missing.status_code == 404
        detail = missing.json()["detail"]
        assert detail["code"] == "region_not_found" and detail["parameter"] == "pcode"
        assert "XX99" not in detail["message"]  # never echoes the request


def test_mopti_providers_map_draws_public_providers_only(analysis):
    """The real directory (3 confidential records in Mopti) through the map builder."""
    from geo.crs import METRIC_CRS
    from web.static_maps import map_frame, providers_map

    regions = analysis.units("adm1").to_crs(METRIC_CRS)
    cercles = analysis.units("adm2").to_crs(METRIC_CRS)
    directory = read_providers(REPO / "data" / "providers.geojson")
    providers = directory[directory.geometry.notna()].to_crs(METRIC_CRS)
    confidential = set(providers.loc[providers["confidential"].astype(bool), "id"])
    in_mopti = providers["adm1_pcode"] == "ML05"
    assert confidential & set(providers.loc[in_mopti, "id"])  # the test means something
    frame = map_frame(
        regions[regions["pcode"] == "ML05"], cercles[cercles["pcode"].str.startswith("ML05")]
    )
    svg = providers_map(frame, providers, fmt="svg").decode()
    drawn = set()
    for gid in re.findall(r'id="providers-([^"]+)"', svg):
        drawn.update(gid.split("+"))
    assert drawn and not drawn & confidential
    assert {"osc-mopti", "pui-bankass"} <= drawn
