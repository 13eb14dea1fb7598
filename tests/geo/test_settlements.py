from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

from geo.settlements import Gazetteer, normalize_name, read_settlements


def _places() -> gpd.GeoDataFrame:
    rows = [
        # pcode, name, alt, class, adm1, adm2
        ("ML0401001", "Segou", "", 5, "ML04", "ML0402"),  # a village
        ("ML0401002", "Segou", "", 2, "ML04", "ML0401"),  # the regional capital
        ("ML0501001", "Sevare", "", 5, "ML05", "ML0501"),
        ("ML0601001", "Tombouctou", "", 2, "ML06", "ML0601"),
        ("ML0501002", "Segoukoura", "", 5, "ML05", "ML0502"),
        ("ML0201001", "Kati", "Kati Coura", 3, "ML02", "ML0201"),
    ]
    return gpd.GeoDataFrame(
        {
            "pcode": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "alt_names": [r[2] for r in rows],
            "place_class": [r[3] for r in rows],
            "adm1_pcode": [r[4] for r in rows],
            "adm1_name": ["x"] * len(rows),
            "adm2_pcode": [r[5] for r in rows],
            "adm2_name": ["y"] * len(rows),
            "adm3_pcode": [r[5] + "01" for r in rows],
            "adm3_name": ["z"] * len(rows),
        },
        geometry=[Point(i, i) for i in range(len(rows))],
        crs=4326,
    )


def test_normalize_name():
    assert normalize_name("Ségou-Koura ") == "segou koura"
    assert normalize_name("SÉVARÉ") == "sevare"


def test_larger_place_wins_a_tie():
    result = Gazetteer.from_settlements(_places()).search("ségou")
    assert result.iloc[0]["pcode"] == "ML0401002"  # the capital, not the village
    assert result.iloc[0]["score"] == 100


@pytest.mark.parametrize("query", ["Timbuktu", "tombouctou", "TOMBOUCTOU", "Tombuctou"])
def test_exonyms_and_typos(query):
    assert Gazetteer.from_settlements(_places()).search(query).iloc[0]["name"] == "Tombouctou"


def test_alt_names_prefix_and_region_filter():
    gaz = Gazetteer.from_settlements(_places())
    assert gaz.search("kati coura").iloc[0]["pcode"] == "ML0201001"
    assert gaz.search("sev").iloc[0]["name"] == "Sevare"  # autocomplete prefix
    in_mopti = gaz.search("segou", region="ML05")
    assert set(in_mopti["adm1_pcode"]) == {"ML05"}
    assert gaz.lookup_pcode("ml0501001")["name"] == "Sevare"
    assert gaz.lookup_pcode("ML9999") is None


def test_bad_queries():
    gaz = Gazetteer.from_settlements(_places())
    with pytest.raises(ValueError, match="no letters"):
        gaz.search("--")
    with pytest.raises(ValueError, match="region"):
        gaz.search("segou", region="ML99")
    assert gaz.search("xqzwv").empty


@pytest.mark.integration
def test_shared_gazetteer(data_dir):
    places = read_settlements(next((data_dir / "settlements").glob("*populated_places*.geojson")))
    assert len(places) == 18769
    gaz = Gazetteer.from_settlements(places)
    segou = gaz.search("segou").iloc[0]
    assert (segou["name"], segou["adm1_pcode"], segou["place_class"]) == ("Segou", "ML04", 2)
    assert gaz.search("Timbuktu").iloc[0]["name"] == "Tombouctou"
    assert gaz.search("Tombouctou").iloc[0]["adm1_pcode"] == "ML06"
    assert gaz.search("Sevare").iloc[0]["name"] == "Sevare"


def test_resolve_pcode_or_name():
    gaz = Gazetteer.from_settlements(_places())
    by_code = gaz.resolve("ml0501001")
    assert by_code["name"] == "Sevare" and by_code["score"] == 100.0
    assert (by_code["lon"], by_code["lat"]) == (2.0, 2.0)
    by_name = gaz.resolve("Ségou")
    assert by_name["pcode"] == "ML0401002" and by_name["adm1_pcode"] == "ML04"
    assert gaz.resolve("ML9999999") is None and gaz.resolve("xqzwv") is None


def test_one_place_listed_twice_is_suggested_once():
    """A gazetteer entry repeated (same name, same commune, a few hundred metres apart) is
    one suggestion; the same name in another commune stays, told apart by its commune."""
    places = _places()
    twin = places.iloc[[2]].copy()
    twin["pcode"], twin["place_class"] = "ML0501009", 4
    twin["geometry"] = [Point(2.003, 2.002)]  # ~400 m away, one commune
    other = places.iloc[[2]].copy()
    other["pcode"], other["adm3_pcode"] = "ML0502009", "ML050201"
    other["geometry"] = [Point(2.004, 2.0)]  # as close, another commune
    gaz = Gazetteer.from_settlements(gpd.GeoDataFrame(pd.concat([places, twin, other])))
    found = gaz.search("Sevare")
    sevare = found[found["name"] == "Sevare"]
    assert sorted(sevare["pcode"]) == ["ML0501009", "ML0502009"]  # the town kept, not the village
    assert sevare["adm3_pcode"].nunique() == 2
