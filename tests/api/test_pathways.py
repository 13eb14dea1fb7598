"""Referral pathways (circuits de référencement): ``orienter pathway`` and ``/circuits``.

On the all-modes build of the session (walk, motorbike, car): the Bandiagara pathway is
one or two A4 pages naming the cercle, every sector, the 72 h window and the national
lines; no confidential record is named anywhere; every time equals the answer of
``GET /api/v1/nearest`` from the same settlement (or of ``GET /api/v1/route`` for a
provider beyond a mode's top k); ``--all --level adm2`` writes the 50 cercles.
"""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from typer.testing import CliRunner

from api.cli import app as cli
from api.http.app import create_app
from web.briefing import format_duration

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SECTORS_FR = (
    "Santé / prise en charge clinique",
    "Soutien psychosocial",
    "Juridique / justice",
    "Sécurité / police",
    "Hébergement / mise à l'abri",
    "Réinsertion socio-économique",
)
SERVICE_OF = {
    "health": "medical",
    "psychosocial": "psychosocial",
    "legal": "legal",
    "reintegration": "reintegration",
}


def _confidential() -> list[dict]:
    features = json.loads((REPO / "data" / "providers.geojson").read_text(encoding="utf-8"))
    return [f["properties"] for f in features["features"] if f["properties"]["confidential"]]


@pytest.fixture
def env(modes_build, cli_settings):
    cli_settings(modes_build)
    return modes_build


@pytest.fixture(scope="module")
def client(modes_build):
    with TestClient(create_app(modes_build)) as c:
        yield c


def _pdf_text(path: Path) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


class _Rows(HTMLParser):
    """Per sector, the provider rows of a pathway: id and minutes per mode (data-*)."""

    def __init__(self) -> None:
        super().__init__()
        self.sectors: dict[str, list[dict]] = {}
        self.settlement: str | None = None
        self._sector: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "tbody" and "data-sector" in a:
            self._sector = a["data-sector"]
            self.sectors[self._sector] = []
        elif tag == "tr" and "data-provider" in a and self._sector:
            self.sectors[self._sector].append({"id": a["data-provider"], "minutes": {}})
        elif tag == "td" and "data-mode" in a and self._sector:
            value = a["data-minutes"]
            self.sectors[self._sector][-1]["minutes"][a["data-mode"]] = (
                float(value) if value else None
            )
        elif tag == "p" and "data-settlement" in a:
            self.settlement = a["data-settlement"]


def test_bandiagara_pdf_names_every_sector_the_window_and_the_lines(env, tmp_path):
    out = tmp_path / "bandiagara.pdf"
    result = CliRunner().invoke(cli, ["pathway", "--area", "ML0502", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Bandiagara (ML0502)" in result.output
    pages, text = _pdf_text(out)
    assert 1 <= pages <= 2
    flat = " ".join(text.split())
    assert "cercle de Bandiagara" in flat and "ML0502" in flat
    for sector in SECTORS_FR:
        assert sector in flat, sector
    assert "72 h" in flat and "120 h" in flat and "PEP" in flat
    assert "80333" in flat and "80 00 11 32" in flat  # the national lines and their caveat
    assert "non confirmé en service depuis 2017" in flat
    assert "Jamais nommé ni localisé" in flat  # the shelter line
    assert "Consentement" in flat and "Confidentialité" in flat and "Sécurité :" in flat
    for record in _confidential():
        assert record["name"] not in text and record["id"] not in text


def test_every_time_equals_the_nearest_answer_from_the_same_settlement(env, client, tmp_path):
    out = tmp_path / "bandiagara.html"
    result = CliRunner().invoke(cli, ["pathway", "--area", "ML0502", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = _Rows()
    rows.feed(out.read_text(encoding="utf-8"))
    assert rows.settlement, "the pathway names the settlement its times start from"
    _, pdf_text = _pdf_text_of(client)
    compared = 0
    for sector, service in SERVICE_OF.items():
        listed = rows.sectors[sector]
        assert listed, sector
        for mode in ("car", "motorbike", "walk"):
            params = {"place": rows.settlement, "service": service, "mode": mode, "k": 5}
            answer = client.get("/api/v1/nearest", params=params).json()
            api = {r["id"]: r["travel_time_min"] for r in answer["results"]}
            if mode == "car":  # the ranking mode: the pathway lists the answer's first ones
                reachable = [r["id"] for r in answer["results"] if r["travel_time_min"] is not None]
                assert [r["id"] for r in listed] == reachable[: len(listed)]
            for row in listed:
                shown = row["minutes"][mode]
                if row["id"] in api:
                    assert shown == api[row["id"]], (sector, mode, row["id"])
                else:  # beyond this mode's top k: the route to the provider
                    route = client.get(
                        "/api/v1/route",
                        params={"from": rows.settlement, "to": row["id"], "mode": mode},
                    ).json()
                    assert abs(shown - route["travel_time_min"]) <= 0.1, (sector, mode, row)
                compared += 1
                assert format_duration(shown, "fr") in pdf_text
    assert compared >= 12


def _pdf_text_of(client) -> tuple[int, str]:
    response = client.get("/circuits/ML0502.pdf", params={"lang": "fr"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    return len(reader.pages), "\n".join(p.extract_text() for p in reader.pages)


def test_a_sector_without_provider_within_5_h_says_so(env, tmp_path):
    out = tmp_path / "kidal.html"
    result = CliRunner().invoke(cli, ["pathway", "--area", "Kidal", "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "Aucun prestataire de ce secteur à moins de 5 h" in html
    # the security sector has no police post near: it points to the national lines
    assert "appeler les numéros verts de la Police nationale" in html


def test_a_commune_in_english_and_the_2023_frame(env, tmp_path):
    out = tmp_path / "kati.html"
    args = ["pathway", "--area", "ML0205", "--lang", "en", "--frame", "2023", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "Koulikoro région (2023 frame)" in html and "approximate" in html
    commune = tmp_path / "commune.html"
    result = CliRunner().invoke(cli, ["pathway", "--area", "ML050201", "--out", str(commune)])
    assert result.exit_code == 0, result.output
    text = commune.read_text(encoding="utf-8")
    assert "commune de Bandiagara" in text and "cercle de Bandiagara" in text


def test_bad_area_and_options_are_named(env, tmp_path):
    result = CliRunner().invoke(
        cli, ["pathway", "--area", "Nowhere", "--out", str(tmp_path / "x.pdf")]
    )
    assert result.exit_code == 1 and "--area" in result.output
    result = CliRunner().invoke(cli, ["pathway", "--out", str(tmp_path / "x.pdf")])
    assert result.exit_code == 2 and "--area" in result.output
    result = CliRunner().invoke(
        cli, ["pathway", "--all", "--level", "adm1", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "--level" in result.output
    assert not (tmp_path / "x.pdf").exists()


def test_all_cercles_write_50_sheets_of_one_or_two_pages(env, tmp_path):
    out = tmp_path / "circuits"
    result = CliRunner().invoke(cli, ["pathway", "--all", "--level", "adm2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("orienter-circuit-ML*-fr.pdf"))
    assert len(files) == 50
    assert any("ML0502-bandiagara" in f.name for f in files)
    for path in files:
        pages, _ = _pdf_text(path)
        assert 1 <= pages <= 2, path.name


def test_the_page_answers_in_french_and_english(client):
    fr = client.get("/circuits/ML0502", params={"lang": "fr"})
    assert fr.status_code == 200 and "Content-Security-Policy" in fr.headers
    for sector in SECTORS_FR:
        assert sector.replace("'", "&#39;") in fr.text
    assert 'href="/circuits/ML0502.pdf?lang=fr"' in fr.text
    en = client.get("/circuits/ML0502", params={"lang": "en"})
    assert "Referral pathway: cercle of Bandiagara" in en.text
    assert "Health / clinical care" in en.text and "within the clinical windows" in en.text
    moved = client.get("/circuits/bandiagara", follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"] == "/circuits/ML0502"
    missing = client.get("/circuits/ML9999", params={"lang": "fr"})
    assert missing.status_code == 404 and "Aucun cercle ni commune" in missing.text
    assert client.get("/circuits/ML9999.pdf").json()["detail"]["code"] == "area_not_found"
    index = client.get("/circuits")
    assert index.status_code == 200 and index.text.count('href="/circuits/ML') == 50


def test_the_region_page_and_the_finder_link_to_the_pathways(client):
    region = client.get("/regions/ML05")
    assert 'href="/circuits/ML0502"' in region.text
    finder = client.get("/trouver")
    assert 'href="/circuits"' in finder.text and 'id="circuit-link"' in finder.text


def test_no_pathway_names_a_confidential_record(client):
    """Bamako, Mopti, Douentza and Kati hold confidential records: none is named."""
    secret = [r for r in _confidential()]
    for pcode in ("ML0901", "ML0501", "ML0506", "ML0205"):
        page = client.get(f"/circuits/{pcode}", params={"lang": "fr"}).text
        for record in secret:
            assert record["id"] not in page
            assert record["name"] not in page
        assert re.search(r'data-sector="shelter"', page)
        shelter = page.split('data-sector="shelter"')[1].split("</tbody>")[0]
        assert "data-provider" not in shelter
