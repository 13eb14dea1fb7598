"""Verification rounds: the XLSForm converts with pyxform; the paper sheet asks the same."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest
from openpyxl import load_workbook
from pyxform.xls2xform import convert

from geo.providers import public_providers, read_providers
from geo.rounds import (
    ANSWER_COLUMNS,
    region_pcode,
    round_form_sheets,
    round_paper_sheet,
    round_records,
    write_round_form,
    write_round_paper,
)
from tests.conftest import REPO, TEST_DATA

TODAY = date(2026, 12, 7)


@pytest.fixture(scope="module")
def directory():
    return read_providers(REPO / "data" / "providers.geojson")


def test_round_for_mopti_converts_with_pyxform(directory, tmp_path):
    sheets = round_form_sheets(directory, "ML05", as_of=TODAY)
    path = write_round_form(sheets, tmp_path / "round.xlsx")
    assert load_workbook(path).sheetnames == ["survey", "choices", "settings"]
    warnings: list[str] = []
    xform = convert(str(path), warnings=warnings).xform
    assert warnings == []
    public_mopti = public_providers(directory)
    public_mopti = public_mopti[public_mopti["adm1_pcode"] == "ML05"]
    # one repeat instance per provider, each id in the form's provider list
    count = re.search(r'provider_count" type="string" readonly="true\(\)" calculate="(\d+)"', xform)
    assert count and int(count.group(1)) == len(public_mopti)
    for ident in public_mopti["id"]:
        assert f"<name>{ident}</name>" in xform
    assert 'id="orienter_verification_ml05_20261207"' in xform
    for question in ("operating", "services", "phone", "opening_hours", "languages"):
        assert f"/data/provider/{question}" in xform
    assert "/data/provider/confidential" in xform and "/data/provider/notes" in xform


def test_confidential_records_are_left_out_unless_asked(directory):
    shelters = directory[directory["confidential"].map(lambda v: v is True)]
    mopti_shelters = shelters[shelters["adm1_pcode"] == "ML05"]
    assert len(mopti_shelters) >= 2
    form = round_form_sheets(directory, "Mopti", as_of=TODAY)
    paper = round_paper_sheet(directory, "ML05")
    for ident, name in zip(mopti_shelters["id"], mopti_shelters["name"], strict=True):
        assert ident not in set(form["choices"]["name"]) and ident not in set(paper["provider_id"])
        assert not form["choices"].isin([name]).any().any()
    with_them = round_paper_sheet(directory, "ML05", include_confidential=True)
    assert set(mopti_shelters["id"]) <= set(with_them["provider_id"])


def test_the_form_shows_current_values_and_asks_for_no_survivor_data(directory):
    form = round_form_sheets(directory, "ML05", as_of=TODAY)
    choices = form["choices"].set_index("name")
    osc = choices.loc["osc-mopti"]
    assert osc["list_name"] == "providers" and osc["town"] == "Mopti (Sévaré)"
    assert "Médical" in osc["services"] and osc["last_verified"] == "jamais / never"
    survey = form["survey"]
    assert survey.loc[survey["name"] == "provider", "repeat_count"].iloc[0] == str(
        len(round_records(directory, "ML05"))
    )
    labels = " ".join(survey.filter(like="label::").fillna("").to_numpy().ravel())
    assert "survivante" in " ".join(survey.filter(like="hint").fillna("").to_numpy().ravel())
    assert "Fonctionne-t-il encore" in labels and "Still operating" in labels
    assert form["settings"]["default_language"].iloc[0] == "Français (fr)"


def test_paper_sheet_has_the_form_answer_columns(directory, tmp_path):
    paper = round_paper_sheet(directory, "ML05")
    assert [c for c in paper.columns if c in ANSWER_COLUMNS] == list(ANSWER_COLUMNS)
    assert (paper[[c for c in ANSWER_COLUMNS if c != "provider_id"]] == "").all().all()
    assert paper["current_status"].str.contains("signalé").any()
    path = write_round_paper(paper, tmp_path / "papier.xlsx")
    book = load_workbook(path)
    assert book.sheetnames == ["verification", "lisez-moi"]
    back = pd.read_excel(path, sheet_name="verification", dtype=str)
    assert list(back["provider_id"]) == list(paper["provider_id"])


def test_regions_by_code_or_name_and_clear_errors(directory):
    assert region_pcode("ml05") == "ML05" and region_pcode("Ségou") == "ML04"
    assert region_pcode("segou") == "ML04"
    with pytest.raises(ValueError, match=r"region: unknown région 'Atlantis'.*ML05 Mopti"):
        region_pcode("Atlantis")
    empty = directory[directory["adm1_pcode"] != "ML01"]
    with pytest.raises(ValueError, match="no provider record to check in ML01 Kayes"):
        round_form_sheets(empty, "ML01", as_of=TODAY)
    with pytest.raises(ValueError, match=r"must end in \.xlsx"):
        write_round_form(round_form_sheets(directory, "ML01", as_of=TODAY), "round.xls")


def test_round_of_the_test_fixture_converts(tmp_path):
    fixture = read_providers(TEST_DATA / "providers" / "good_providers.geojson")
    fixture["adm1_pcode"] = "ML05"  # the fixture names no région
    path = write_round_form(round_form_sheets(fixture, "ML05", as_of=TODAY), tmp_path / "r.xlsx")
    assert "<name>test-osc-mopti</name>" in convert(str(path)).xform
