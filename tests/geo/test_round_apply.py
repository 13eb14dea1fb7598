"""Applying a returned verification round: all rows or none, a diff per record, a change log."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

import pandas as pd
import pytest
from openpyxl import Workbook

from geo.errors import DataFileError, DataValidationError
from geo.providers import read_providers
from geo.round_apply import apply_round, change_log_path, read_round_answers
from geo.rounds import ANSWER_COLUMNS, round_paper_sheet, write_round_paper
from tests.conftest import TEST_DATA

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
BY = "Sous-cluster VBG Mopti"
HEADER = ",".join(ANSWER_COLUMNS)


@pytest.fixture
def directory(tmp_path):
    path = tmp_path / "providers.geojson"
    shutil.copy(TEST_DATA / "providers" / "good_providers.geojson", path)
    return path


def answers(tmp_path, *rows, name="round_results.csv"):
    path = tmp_path / name
    path.write_text(HEADER + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def log_lines(directory):
    path = change_log_path(directory)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_sheet_with_an_unknown_id_is_refused_whole_then_applied_with_skip_invalid(
    directory, tmp_path
):
    sheet = answers(
        tmp_path,
        # provider_id,operating,status_date,services,phone,hours,languages,confidential,on,notes
        "test-osc-mopti,fermé,2026-10-15,,,,,,2026-11-20,",
        "test-hotline,oui,,,80 00 11 33,,,,2026-11-21,",
        "osc-atlantis,oui,,,,,,,2026-11-21,",
    )
    before = directory.read_bytes()
    with pytest.raises(DataValidationError) as info:
        apply_round(sheet, directory, by=BY, now=NOW)
    assert [(p.row, p.field) for p in info.value.problems] == [(4, "provider_id")]
    assert "unknown id 'osc-atlantis'" in info.value.problems[0].reason
    assert directory.read_bytes() == before
    assert not change_log_path(directory).exists()
    assert not list(tmp_path.glob("*.bak"))

    result = apply_round(sheet, directory, by=BY, now=NOW, skip_invalid=True)
    assert result.skipped_rows == [4]
    entries = log_lines(directory)
    assert [e["id"] for e in entries] == ["test-osc-mopti", "test-hotline"]  # exactly two
    closure, phone = entries
    assert {c["field"]: (c["old"], c["new"]) for c in closure["changes"]}["status"] == (
        "reported",
        "historic",
    )
    assert {c["field"]: (c["old"], c["new"]) for c in phone["changes"]}["phone"] == (
        "80 00 00 00",
        "80 00 11 33",
    )
    for entry in entries:
        assert entry["by"] == BY and entry["when"] == "2026-12-07T09:30:00+00:00"
        assert entry["answers"].startswith("round_results.csv, row ")
    updated = read_providers(directory).set_index("id")
    assert updated.loc["test-osc-mopti", "status"] == "historic"
    assert updated.loc["test-osc-mopti", "status_date"] == "2026-10-15"
    assert updated.loc["test-hotline", "status"] == "operating"
    assert updated.loc["test-hotline", "last_verified"] == "2026-11-21"
    assert updated.loc["test-hotline", "verified_by"] == BY
    assert result.backup is not None and result.backup.read_bytes() == before


def test_the_change_log_is_appended_and_never_holds_notes(directory, tmp_path):
    survivor_note = "Aminata, 14 ans, a été reçue hier"
    first = answers(tmp_path, f'test-osc-mopti,oui,,,,,,,2026-11-20,"{survivor_note}"')
    apply_round(first, directory, by=BY, now=NOW)
    second = answers(
        tmp_path, "test-osc-mopti,suspendu,2026-11-30,,,,,,2026-12-01,", name="second.csv"
    )
    apply_round(second, directory, by="UNFPA Mopti", now=NOW)
    entries = log_lines(directory)
    assert [e["by"] for e in entries] == [BY, "UNFPA Mopti"]
    assert entries[1]["changes"][0] == {"field": "status", "old": "operating", "new": "suspended"}
    for text in (change_log_path(directory).read_text(), directory.read_text()):
        assert "Aminata" not in text and "14 ans" not in text
    record = read_providers(directory).set_index("id").loc["test-osc-mopti"]
    assert (record["status"], record["status_date"]) == ("suspended", "2026-11-30")


def test_conflicting_rows_are_refused_and_identical_rows_count_once(directory, tmp_path):
    sheet = answers(
        tmp_path,
        "test-osc-mopti,oui,,,,,,,2026-11-20,",
        "test-osc-mopti,fermé,,,,,,,2026-11-20,",
        "test-hotline,oui,,,,,,,2026-11-21,",
        "test-hotline,oui,,,,,,,2026-11-21,different notes are not a conflict",
    )
    with pytest.raises(DataValidationError) as info:
        apply_round(sheet, directory, by=BY, now=NOW)
    problems = info.value.problems
    assert [p.row for p in problems] == [2, 3]
    assert "conflicting answers for 'test-osc-mopti' in rows 2, 3" in problems[0].reason
    result = apply_round(sheet, directory, by=BY, now=NOW, skip_invalid=True)
    assert [c.ident for c in result.changes] == ["test-hotline"]


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        ("test-osc-mopti,peut-être,,,,,,,2026-11-20,", "operating", "use oui, suspendu"),
        ("test-osc-mopti,oui,,counselling,,,,,2026-11-20,", "services", "unknown service"),
        ("test-osc-mopti,oui,,,,,,,2027-01-01,", "verified_on", "in the future"),
        ("test-osc-mopti,oui,,,,,,,20/11/2026,", "verified_on", "is not a date"),
        ("test-osc-mopti,oui,,,,,,,,", "verified_on", "missing"),
        ("test-osc-mopti,oui,,,,,,peut-être,2026-11-20,", "confidential", "use oui or non"),
        ("test-osc-mopti,,,,70 00 00 00,,,,2026-11-20,", "operating", "say whether"),
        ("test-osc-mopti,inconnu,,,70 00 00 00,,,,,", "operating", "say whether"),
        (",oui,,,,,,,2026-11-20,", "provider_id", "missing"),
        # a shelter made public is refused by the directory's own rules
        ("test-shelter-gao,oui,,,,,,non,2026-11-20,", "confidential", "must be confidential"),
        # a site-level record cannot simply be marked confidential
        ("test-osc-mopti,oui,,,,,,oui,2026-11-20,", "confidential", "relocate it at its town"),
    ],
)
def test_invalid_values_are_refused_with_the_row_and_reason(
    directory, tmp_path, row, field, reason
):
    before = directory.read_bytes()
    with pytest.raises(DataValidationError) as info:
        apply_round(answers(tmp_path, row), directory, by=BY, now=NOW)
    assert any(
        p.row == 2 and p.field == field and reason in p.reason for p in info.value.problems
    ), info.value.problems
    assert directory.read_bytes() == before


def test_who_verified_is_required(directory, tmp_path):
    sheet = answers(tmp_path, "test-osc-mopti,oui,,,,,,,2026-11-20,")
    with pytest.raises(DataValidationError, match="who verified"):
        apply_round(sheet, directory, by=None, now=NOW)
    with pytest.raises(TypeError, match="timezone-aware"):
        apply_round(sheet, directory, by=BY, now=datetime(2026, 12, 7))


def test_unreached_providers_and_could_not_check_change_nothing(directory, tmp_path):
    sheet = answers(
        tmp_path, "test-osc-mopti,,,,,,,,,", "test-hotline,inconnu,,,,,,,,ligne occupée"
    )
    result = apply_round(sheet, directory, by=BY, now=NOW)
    assert result.changes == [] and result.written is None
    assert not change_log_path(directory).exists()


def test_services_languages_and_clearing_a_value(directory, tmp_path):
    sheet = answers(
        tmp_path,
        'test-osc-mopti,oui,,"médical, juridique, P",-,8h-16h,"bambara, français",,2026-11-20,',
        "test-shelter-gao,oui,,S P,,,,oui,2026-11-20,",
    )
    apply_round(sheet, directory, by=BY, now=NOW)
    record = read_providers(directory).set_index("id").loc["test-osc-mopti"]
    assert record["services"] == ["medical", "legal", "psychosocial"]
    assert record["languages"] == ["bambara", "français"]
    assert record["opening_hours"] == "8h-16h" and record["phone"] is None
    fields = [c["field"] for c in log_lines(directory)[0]["changes"]]
    assert fields[:3] == ["status", "services", "opening_hours"] and "phone" not in fields


def test_a_kobotoolbox_export_with_the_repeat_on_its_own_sheet(directory, tmp_path):
    book = Workbook()
    book.active.title = "Vérification"
    book.active.append(["start", "end", "_id", "_uuid"])
    book.active.append(["2026-11-20", "2026-11-20", "1", "abc"])
    repeat = book.create_sheet("provider")
    repeat.append(
        ["provider/provider_id", "provider/provider", "provider/operating", "provider/phone",
         "provider/verified_on", "provider/notes", "_index", "_parent_index"]
    )  # fmt: skip
    repeat.append(["test-hotline", "test-hotline", "yes", "80 00 11 34", "2026-11-20", "", 1, 1])
    repeat.append(["test-osc-mopti", "test-osc-mopti", "unknown", "", "", "", 2, 1])
    path = tmp_path / "kobo.xlsx"
    book.save(path)
    table = read_round_answers(path)
    assert list(table.index) == [2, 3] and table.loc[2, "provider_id"] == "test-hotline"
    result = apply_round(path, directory, by=BY, now=NOW)
    assert [c.ident for c in result.changes] == ["test-hotline"]
    assert read_providers(directory).set_index("id").loc["test-hotline", "phone"] == "80 00 11 34"


def test_a_filled_paper_sheet_applies_like_an_export(directory, tmp_path):
    gdf = read_providers(directory)
    gdf["adm1_pcode"] = "ML05"
    paper = round_paper_sheet(gdf, "ML05")
    paper.loc[paper["provider_id"] == "test-osc-mopti", ["operating", "verified_on"]] = [
        "suspendu",
        "2026-11-18",
    ]
    path = write_round_paper(paper, tmp_path / "papier.xlsx")
    result = apply_round(path, directory, by=BY, now=NOW)
    assert [(c.ident, c.changes[0]) for c in result.changes] == [
        ("test-osc-mopti", ("status", "reported", "suspended"))
    ]


def test_a_sheet_without_provider_ids_is_a_file_error(directory, tmp_path):
    path = tmp_path / "other.csv"
    pd.DataFrame({"name": ["x"]}).to_csv(path, index=False)
    with pytest.raises(DataFileError, match="no sheet has a provider_id column"):
        apply_round(path, directory, by=BY, now=NOW)
