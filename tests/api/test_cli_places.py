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


@pytest.mark.integration
def test_a_name_resolved_without_a_pick_offers_the_others(shared_env):
    """ "Kona" is a village of Sikasso; the answer says so and offers Konna (Mopti) first,
    a town, then the other places of that name with their commune and cercle."""
    from api.services.places import ALTERNATIVES, load_gazetteer, resolve_place

    gaz = load_gazetteer(get_settings())
    found, others = resolve_place(gaz, "Kona")
    assert found["name"] == "Kona" and found["adm3"] and found["adm2"]
    assert others[0]["name"] == "Konna" and others[0]["adm2_name"] == "Mopti"
    assert 1 < len(others) <= ALTERNATIVES
    assert all(o["pcode"] != found["pcode"] and o["adm3_name"] for o in others)
    assert len({o["pcode"] for o in others}) == len(others)
    by_code, none = resolve_place(gaz, others[0]["pcode"])
    assert by_code["name"] == "Konna" and none == []
    konna = gaz.search("Konna", limit=10)
    mopti = konna[(konna["name"] == "Konna") & (konna["adm2_name"] == "Mopti")]
    assert len(mopti) == 1  # listed once, not as a town and a village
