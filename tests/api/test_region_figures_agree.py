"""Every figure of one région is the same number in the PDF briefing, the région page,
the command line and the API: Gao (ML07), in English, as the advocate reads it.

The figures: the région's people and, for One-Stop Centres by car, the people beyond
1 h, 2 h and 5 h with their shares; and for each cercle its people, the people beyond
2 h and their share.  The API's JSON is the reference; the CLI's JSON must equal it
number for number, and the page and the PDF must print each as the one formatting rule
(:mod:`web.formats`) prints it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli_app
from api.http.app import create_app
from api.settings import get_settings
from web.formats import format_people, format_share

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
REGION = "ML07"
THRESHOLDS = (60, 120, 300)


@pytest.fixture(scope="module")
def client(car_settings):
    settings = car_settings()
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def cli_json(data_dir, car_build):
    mp = pytest.MonkeyPatch()
    mp.setenv("ORIENTER_DATA_DIR", str(data_dir))
    mp.setenv("ORIENTER_BUILD_DIR", str(car_build))
    mp.setenv("ORIENTER_PROVIDERS", str(REPO / "data" / "providers.geojson"))
    get_settings.cache_clear()

    def run(level: str) -> dict:
        args = ["coverage", "--level", level, "--region", REGION, "--format", "json"]
        result = CliRunner().invoke(cli_app, args)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    yield run
    mp.undo()
    get_settings.cache_clear()


def _pdf_text(client) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    pdf = client.get(f"/regions/{REGION}/brief.pdf", params={"lang": "en"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    done = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf.content, capture_output=True, check=True
    )
    return done.stdout.decode("utf-8")


def _in_order(text: str, words: list[str]) -> bool:
    """``words`` appear in ``text`` in this order (whitespace between them free)."""
    return re.search(r"\s+".join(re.escape(w) for w in words), text) is not None


def test_gao_figures_agree_in_pdf_page_cli_and_api(client, cli_json):
    api = {
        level: client.get(
            "/api/v1/coverage", params={"level": level, "region": REGION, "format": "json"}
        ).json()
        for level in ("adm1", "adm2")
    }
    # the command line: the same units, the same numbers
    for level, answer in api.items():
        cli = cli_json(level)
        assert [u["pcode"] for u in cli["units"]] == [u["pcode"] for u in answer["units"]]
        for got, want in zip(cli["units"], answer["units"], strict=True):
            for key in ("population", *(f"pop_beyond_{t}" for t in THRESHOLDS)):
                assert got[key] == want[key], (level, want["pcode"], key)
            for t in THRESHOLDS:
                assert got[f"share_beyond_{t}"] == pytest.approx(want[f"share_beyond_{t}"])
    (gao,) = api["adm1"]["units"]
    cercles = api["adm2"]["units"]
    assert len(cercles) == 4  # Ansongo, Bourem, Gao, Ménaka
    page = client.get(f"/regions/{REGION}", params={"lang": "en"}).text
    pdf = _pdf_text(client)
    people = format_people(gao["population"], "en")
    assert people in page and people in pdf
    for t in THRESHOLDS:
        beyond = format_people(gao[f"pop_beyond_{t}"], "en")
        share = format_share(gao[f"share_beyond_{t}"], "en")
        assert _in_order(page, [beyond + "<br><span", f'class="share">{share}<']), t
        assert beyond in pdf and share in pdf, t
    # the One-Stop Centre row of the PDF's table: beyond 1, 2, 5 h then the shares
    row = [format_people(gao[f"pop_beyond_{t}"], "en") for t in THRESHOLDS]
    row += [format_share(gao[f"share_beyond_{t}"], "en") for t in THRESHOLDS]
    assert _in_order(pdf, ["One-Stop Centre", "car", *row])
    section = page[page.index('id="cercles-heading"') : page.index('id="communes-heading"')]
    for unit in cercles:
        figures = [
            format_people(unit["population"], "en"),
            format_people(unit["pop_beyond_120"], "en"),
            format_share(unit["share_beyond_120"], "en"),
        ]
        cells = [f">{f}<" for f in figures]
        assert f'<th scope="row">{unit["name"]}</th>' in section
        start = section.index(f'<th scope="row">{unit["name"]}</th>')
        row_html = section[start : section.index("</tr>", start)]
        assert all(cell in row_html for cell in cells), (unit["name"], figures)
        assert _in_order(pdf, [unit["name"], *figures]), (unit["name"], figures)
