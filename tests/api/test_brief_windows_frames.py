"""Briefings: medical care within the clinical windows, and briefings by the 2023 régions.

The window table's shares are the medical coverage table's (walk, motorbike, car); a
2023 région's briefing shows its 2015 cercles, its population as the 2023 coverage
table gives it, and says that the frame is rebuilt (and approximate where it is).
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli
from api.http.app import create_app
from api.services.analysis import Analysis
from api.services.briefings import assemble_briefing, build_document
from api.settings import get_settings
from web.formats import format_people, format_share

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def analysis(modes_build) -> Analysis:
    return Analysis.load(modes_build)


def test_the_window_table_copies_the_medical_coverage_rows(analysis):
    data, html = build_document(analysis, "ML07", fmt="html", dpi=60)
    text = html.decode("utf-8")
    assert [mode for mode, _ in data.windows] == ["walk", "motorbike", "car"]
    section = text.split('id="windows"')[1].split("</section>")[0]
    assert "72 h (PEP)" in section and "120 h (CU)" in section
    for mode in ("walk", "motorbike"):
        table = analysis.coverage(level="adm1", service="medical", mode=mode).table
        row = table[table["pcode"] == "ML07"].iloc[0]
        cells = section.split(f'data-mode="{mode}"')[1].split("</tr>")[0]
        for minutes in (4320, 7200):
            shown = re.search(rf'data-figure="share-within-{minutes}">([^<]*)<', cells).group(1)
            assert shown == format_share(row[f"share_within_{minutes}"], "fr")
        beyond = re.search(r'data-figure="beyond-4320">([^<]*)<', cells).group(1)
        assert beyond == format_people(row["population"] - row["pop_within_4320"], "fr")


def test_a_2023_region_briefing(analysis):
    data = assemble_briefing(analysis, "Bandiagara", frame="2023", dpi=60)
    assert data.region_pcode == "R2023-bandiagara"
    assert {c.pcode for c in data.cercles} == {"ML0502", "ML0503", "ML0507"}
    table = analysis.coverage(level="adm1", frame="2023").table.set_index("pcode")
    assert data.population == table.loc["R2023-bandiagara", "population"]
    assert any("2023" in note for note in data.notes)
    assert not any("approximati" in note for note in data.notes)  # no split cercle
    bougouni = assemble_briefing(analysis, "Bougouni", frame="2023", dpi=60)
    assert any("approximati" in note for note in bougouni.notes)  # part of Kati
    # the 2015 frame is what it was: Mopti and its eight cercles
    mopti = assemble_briefing(analysis, "ML05", dpi=60)
    assert len(mopti.cercles) == 8 and not any("2023" in n for n in mopti.notes)


def test_cli_and_route_brief_by_the_2023_frame(modes_build, tmp_path, cli_settings):
    cli_settings(modes_build)
    try:
        out = tmp_path / "douentza.html"
        args = ["brief", "--region", "Douentza", "--frame", "2023", "--out", str(out)]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "R2023-douentza" in result.output and "ML0506" in out.read_text()
        wrong = CliRunner().invoke(cli, ["brief", "--region", "Douentza", "--out", str(out)])
        assert wrong.exit_code == 1 and "--region" in wrong.output  # not a 2015 région
    finally:
        get_settings.cache_clear()
    with TestClient(create_app(modes_build)) as client:
        page = client.get("/regions/R2023-douentza/brief.html", params={"frame": "2023"})
        assert page.status_code == 200 and "ML0506" in page.text
        assert client.get("/regions/R2023-douentza/brief.html").status_code == 404
