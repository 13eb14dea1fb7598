from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.settings import get_settings


@pytest.fixture
def shared_env(data_dir, monkeypatch):
    monkeypatch.setenv("ORIENTER_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.integration
def test_places_search_json(shared_env):
    result = CliRunner().invoke(app, ["places", "search", "segou", "--json"])
    assert result.exit_code == 0, result.output
    first = json.loads(result.output)["results"][0]
    assert first["name"] == "Segou" and first["adm1_pcode"] == "ML04"
    assert 13.3 < first["lat"] < 13.6 and -6.4 < first["lon"] < -6.1


@pytest.mark.integration
def test_places_search_table_and_missing_data(shared_env, monkeypatch, tmp_path):
    result = CliRunner().invoke(app, ["places", "search", "Timbuktu"])
    assert result.exit_code == 0 and "Tombouctou" in result.output
    monkeypatch.setenv("ORIENTER_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["places", "search", "segou"])
    assert result.exit_code == 1
