"""`orienter conflict summary` on the real data and on bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.settings import get_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def use_data(monkeypatch):
    def _use(path):
        monkeypatch.setenv("ORIENTER_DATA_DIR", str(path))
        monkeypatch.setenv("ORIENTER_BOUNDARIES_DIR", str(path / "no-user-boundaries"))
        get_settings.cache_clear()

    yield _use
    get_settings.cache_clear()


def _data_copy(data_dir, tmp_path, conflict_csv: str):
    """A data directory of symlinks to the real files, with our own conflict file."""
    root = tmp_path / "data"
    for folder in ("boundaries", "settlements"):
        (root / folder).mkdir(parents=True)
        for f in (data_dir / folder).iterdir():
            (root / folder / f.name).symlink_to(f)
    (root / "conflict").mkdir()
    (root / "conflict" / "acled_test.csv").write_text(conflict_csv)
    return root


def test_summary_json_on_shared_data(data_dir, use_data):
    use_data(data_dir)
    result = CliRunner().invoke(
        app,
        [
            "conflict",
            "summary",
            "--from",
            "2019-01-01",
            "--to",
            "2020-12-31",
            "--level",
            "adm2",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["meta"]["dropped_outside_mali"] == 7 and payload["meta"]["events"] == 1576
    units = {u["name"]: u for u in payload["units"]}
    assert len(units) == 50
    assert {"pcode", "name", "events", "fatalities", "max_class"} <= set(units["Koro"])
    assert units["Koro"]["max_class"] == "high" and units["Koro"]["events"] == 241


def test_missing_columns_are_named(data_dir, tmp_path, use_data):
    use_data(_data_copy(data_dir, tmp_path, "event_date,latitude,longitude\n2020-01-01,14,-4\n"))
    result = CliRunner().invoke(app, ["conflict", "summary"])
    assert result.exit_code == 1
    assert "event_type" in result.output and "fatalities" in result.output


def test_outside_mali_dropped_and_empty_window_warns(data_dir, tmp_path, use_data):
    csv = (
        "event_date,event_type,latitude,longitude,fatalities\n"
        "2020-03-01,Battles,14.5,-4.2,2\n"  # Mopti
        "2020-03-02,Battles,13.5,2.1,1\n"
    )  # Niamey, Niger: outside Mali
    use_data(_data_copy(data_dir, tmp_path, csv))
    result = CliRunner().invoke(app, ["conflict", "summary", "--format", "csv", "--level", "adm1"])
    assert result.exit_code == 0, result.output
    assert "1 events outside Mali dropped" in result.stderr.replace("\n", " ")
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("pcode,name,events,fatalities") and len(lines) == 10
    empty = CliRunner().invoke(
        app,
        ["conflict", "summary", "--from", "2021-01-01", "--to", "2021-12-31", "--format", "json"],
    )
    assert empty.exit_code == 0
    assert "no conflict events" in empty.stderr
    assert all(u["max_class"] == "low" for u in json.loads(empty.stdout)["units"])
