"""Tests of geo.facilities: WHO/KEMRI, healthsites.io, co-located duplicates, WHO+OSM merge."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS
from geo.errors import CRSMismatchError, DataFileError, DataValidationError
from geo.facilities import (
    FACILITY_COLUMNS,
    FACILITY_TYPES,
    HEALTHSITES_SOURCE,
    WHO_SOURCE,
    read_healthsites,
    read_who_facilities,
)
from geo.facility_merge import merge_facilities

WHO_HEADER = "Country,Admin1,Facility name,Facility type,Ownership,Lat,Long,LL source\n"

# Invented facilities; the CHU pair copies the real file's quirk (latitudes 1e-6° apart).
WHO_ROWS = """\
Mali,Bamako,Chu Exemple Hopital,Hospital,Govt.,12.636701,-8.00353,GPS
Mali,Bamako,Chu Exemple Hôpital,University Hospital,Public,12.6367,-8.00353,GPS
Mali,Kayes,Asacoex Community Health Centre,Community Health Centre,,14.44,-11.43,GPS
Mali,Kayes,Exemple Referral Health Centre,Referral Health Centre,,14.45,-11.44,Geonames
Mali,Segou,Exemple Regional Hopital,Regional Hospital,,13.44,-6.26,GPS
Mali,Segou,Exemple Clinique,Clinic,,13.45,-6.27,Other
Mali,Segou,Exemple Polyclinique,Polyclinic,,13.46,-6.28,GPS
Mali,Gao,Sans Coordonnees Community Health Centre,Community Health Centre,,,,
Mali,Gao,Zero Community Health Centre,Community Health Centre,,0,0,
"""


def write_who(tmp_path: Path, rows: str = WHO_ROWS, name: str = "who.csv") -> Path:
    path = tmp_path / name
    path.write_text(WHO_HEADER + rows, encoding="utf-8")
    return path


def read_quietly(func: Any, *args: Any, **kwargs: Any) -> gpd.GeoDataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return func(*args, **kwargs)


def feature(geometry: dict[str, Any] | None, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def pt(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def write_geojson(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    return path


# ----------------------------------------------------------------------------- WHO/KEMRI


def test_who_csv_schema_types_and_dropped_rows(tmp_path: Path) -> None:
    with pytest.warns(UserWarning) as caught:
        who = read_who_facilities(write_who(tmp_path))
    messages = [str(w.message) for w in caught]
    assert any("2 facilities without coordinates dropped" in m for m in messages)
    assert list(who.columns) == FACILITY_COLUMNS
    assert who.crs == GEOGRAPHIC_CRS
    assert (who.geometry.geom_type == "Point").all()
    assert len(who) == 6  # 9 rows, 2 without coordinates, the CHU pair merged
    assert set(who["facility_type"]) <= set(FACILITY_TYPES)
    by_name = who.set_index("name")
    assert by_name.loc["Asacoex Community Health Centre", "facility_type"] == "cscom"
    assert by_name.loc["Exemple Referral Health Centre", "facility_type"] == "csref"
    assert by_name.loc["Exemple Regional Hopital", "facility_type"] == "regional_hospital"
    assert by_name.loc["Exemple Clinique", "facility_type"] == "clinic"
    assert by_name.loc["Exemple Polyclinique", "facility_type"] == "polyclinic"
    assert by_name.loc["Exemple Referral Health Centre", "location_source"] == "Geonames"
    assert by_name.loc["Asacoex Community Health Centre", "adm1_name"] == "Kayes"
    assert (who["source"] == WHO_SOURCE).all()
    assert who["facility_id"].is_unique
    assert who["facility_id"].str.match(r"^who:[0-9a-f]{10}$").all()


def test_who_chu_pair_is_merged_keeping_the_specific_type(tmp_path: Path) -> None:
    with pytest.warns(UserWarning) as caught:
        who = read_who_facilities(write_who(tmp_path))
    assert any("1 duplicate record" in str(w.message) for w in caught)
    chu = who[who["name"].str.startswith("Chu Exemple")]
    assert len(chu) == 1
    row = chu.iloc[0]
    assert row["facility_type"] == "university_hospital"
    assert row["facility_type_raw"] == "University Hospital; Hospital"
    assert row["name"] == "Chu Exemple Hôpital"
    assert row["merged_ids"].startswith("who:")
    assert (who.loc[who["merged_ids"] == "", "name"] != row["name"]).all()


def test_who_merge_can_be_switched_off(tmp_path: Path) -> None:
    who = read_quietly(read_who_facilities, write_who(tmp_path), merge_within_m=None)
    assert len(who) == 7
    assert (who["merged_ids"] == "").all()


def test_hospital_and_csref_on_one_point_stay_apart(tmp_path: Path) -> None:
    rows = (
        "Mali,Gao,Exemple Hopital,Hospital,,16.26,-0.04,GPS\n"
        "Mali,Gao,Exemple Referral Health Centre,Referral Health Centre,,16.26,-0.04,GPS\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        who = read_who_facilities(write_who(tmp_path, rows))
    assert sorted(who["facility_type"]) == ["csref", "hospital"]


def test_who_ids_are_stable_and_csv_equals_geojson(tmp_path: Path) -> None:
    csv_path = write_who(tmp_path)
    first = read_quietly(read_who_facilities, csv_path)
    again = read_quietly(read_who_facilities, csv_path)
    assert first["facility_id"].tolist() == again["facility_id"].tolist()
    table = pd.read_csv(csv_path).dropna(subset=["Lat"])
    gdf = gpd.GeoDataFrame(
        table.drop(columns=["Lat", "Long"]),
        geometry=gpd.points_from_xy(table["Long"], table["Lat"]),
        crs=4326,
    )
    gdf.to_file(tmp_path / "who.geojson")
    from_geojson = read_quietly(read_who_facilities, tmp_path / "who.geojson")
    assert from_geojson["facility_id"].tolist() == first["facility_id"].tolist()
    assert from_geojson["facility_type"].tolist() == first["facility_type"].tolist()


def test_who_country_filter(tmp_path: Path) -> None:
    rows = WHO_ROWS + "Niger,Tillaberi,Autre Clinique,Clinic,,14.2,1.45,GPS\n"
    who = read_quietly(read_who_facilities, write_who(tmp_path, rows), country="mali")
    assert "Autre Clinique" not in set(who["name"])
    every = read_quietly(read_who_facilities, write_who(tmp_path, rows))
    assert len(every) == len(who) + 1


def test_who_unknown_type_becomes_other_with_warning(tmp_path: Path) -> None:
    rows = "Mali,Mopti,Exemple Maternite,Maternity,,14.5,-4.2,GPS\n"
    with pytest.warns(UserWarning, match="Maternity"):
        who = read_who_facilities(write_who(tmp_path, rows))
    assert who["facility_type"].tolist() == ["other"]
    assert who["facility_type_raw"].tolist() == ["Maternity"]


def test_who_missing_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "who.csv"
    path.write_text("Country,Admin1,Facility name,Lat\nMali,Kayes,X,14\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"Facility type, Long"):
        read_who_facilities(path)


def test_who_bad_coordinates_are_listed(tmp_path: Path) -> None:
    rows = (
        "Mali,Kayes,A Clinique,Clinic,,14.4,-11.4,GPS\n"
        "Mali,Kayes,B Clinique,Clinic,,quatorze,-11.4,GPS\n"
        "Mali,Kayes,C Clinique,Clinic,,14.4,-191.0,GPS\n"
    )
    with pytest.raises(DataValidationError) as info:
        read_who_facilities(write_who(tmp_path, rows))
    rows_listed = sorted(p.row for p in info.value.problems)
    assert rows_listed == [3, 4]
    assert "'quatorze' is not a number" in str(info.value)


def test_who_missing_file_and_bad_tolerance(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="not found"):
        read_who_facilities(tmp_path / "none.csv")
    with pytest.raises(ValueError, match="merge_within_m"):
        read_who_facilities(write_who(tmp_path), merge_within_m=-1)


# ----------------------------------------------------------------------------- healthsites


HS_FEATURES = [
    feature(pt(-8.0, 12.6), osm_id=101, osm_type="node", amenity="clinic", name="CSCOM de Exemple"),
    feature(
        pt(-8.01, 12.61),
        osm_id=102,
        osm_type="node",
        amenity="pharmacy",
        name="Pharmacie du CSCOM",
        contact_number="+223 20 00 00 00",
    ),
    feature(pt(-8.02, 12.62), osm_id=103, osm_type="node", amenity="hospital", name="CHU Exemple"),
    feature(
        pt(-8.03, 12.63),
        osm_id=104,
        osm_type="node",
        amenity="clinic",
        name="Centre de Santé de Référence de Exemple",
    ),
    feature(pt(-8.04, 12.64), osm_id=105, osm_type="node", amenity="doctors", name="Cabinet X"),
    feature(pt(-8.05, 12.65), osm_id=106, osm_type="node", amenity="dentist", name=None),
    feature(
        pt(-8.06, 12.66), osm_id=107, osm_type="node", amenity=None, healthcare="clinic", name="Y"
    ),
    feature(
        {
            "type": "Polygon",
            "coordinates": [[[-7.0, 13.0], [-6.99, 13.0], [-6.99, 13.01], [-7.0, 13.0]]],
        },
        osm_id=201,
        osm_type="way",
        amenity="hospital",
        name="Hôpital Régional de Exemple",
    ),
    feature(None, osm_id=301, osm_type="node", amenity="clinic", name="Nowhere"),
    # the same OSM node exported twice, as in the real snapshot
    feature(pt(-6.5, 13.5), osm_id=401, osm_type="node", amenity="pharmacy", name="Pharmacie Z"),
    feature(pt(-6.5, 13.5), osm_id=401, osm_type="node", amenity="pharmacy", name="Pharmacie Z."),
]


def test_healthsites_schema_and_types(tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "hs.geojson", HS_FEATURES)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hs = read_healthsites(path)
    messages = " | ".join(str(w.message) for w in caught)
    assert "1 facility without coordinates dropped" in messages
    assert "1 duplicate record(s)" in messages
    assert list(hs.columns) == FACILITY_COLUMNS
    assert hs.crs == GEOGRAPHIC_CRS
    assert len(hs) == 9
    types = dict(zip(hs["facility_id"], hs["facility_type"], strict=True))
    assert types == {
        "osm:node/101": "cscom",
        "osm:node/102": "pharmacy",
        "osm:node/103": "university_hospital",
        "osm:node/104": "csref",
        "osm:node/105": "doctors",
        "osm:node/106": "dentist",
        "osm:node/107": "clinic",
        "osm:way/201": "regional_hospital",
        "osm:node/401": "pharmacy",
    }
    by_id = hs.set_index("facility_id")
    assert by_id.loc["osm:node/107", "facility_type_raw"] == "healthcare=clinic"
    assert by_id.loc["osm:node/101", "facility_type_raw"] == "clinic"
    assert by_id.loc["osm:way/201", "location_source"] == "OpenStreetMap way, reduced to a point"
    assert by_id.loc["osm:node/102", "contact_number"] == "+223 20 00 00 00"
    assert by_id.loc["osm:node/401", "merged_ids"] == "osm:node/401-2"
    assert pd.isna(by_id.loc["osm:node/106", "name"])
    assert hs["adm1_name"].isna().all()
    assert (hs["source"] == HEALTHSITES_SOURCE).all()
    assert (hs.geometry.geom_type == "Point").all()


def test_healthsites_without_merge_keeps_every_located_record(tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "hs.geojson", HS_FEATURES)
    hs = read_quietly(read_healthsites, path, merge_within_m=None)
    assert len(hs) == 10
    assert hs["facility_id"].is_unique


def test_healthsites_missing_columns(tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "hs.geojson", [feature(pt(0, 0), name="x", amenity="clinic")])
    with pytest.raises(DataFileError, match="osm_id"):
        read_healthsites(path)


# ----------------------------------------------------------------------------- merge


def facilities(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """A small GeoDataFrame with the facility schema (lon/lat keys become the point)."""
    records = []
    for row in rows:
        record = dict.fromkeys(FACILITY_COLUMNS[:-1], pd.NA) | {"merged_ids": ""}
        record.update({k: v for k, v in row.items() if k not in ("lon", "lat")})
        record["geometry"] = Point(row["lon"], row["lat"])
        records.append(record)
    out = gpd.GeoDataFrame(records, geometry="geometry", crs=GEOGRAPHIC_CRS)
    for column in FACILITY_COLUMNS[:-1]:
        out[column] = out[column].astype("string")
    return out


def offset(lon: float, lat: float, east_m: float) -> tuple[float, float]:
    point = gpd.GeoSeries([Point(lon, lat)], crs=GEOGRAPHIC_CRS).to_crs(METRIC_CRS)
    moved = point.translate(xoff=east_m).to_crs(GEOGRAPHIC_CRS)[0]
    return moved.x, moved.y


def test_merge_matches_the_same_place_once_and_fills_contacts() -> None:
    who = facilities(
        [
            {"facility_id": "who:a", "name": "Asacoex Community Health Centre",
             "facility_type": "cscom", "source": WHO_SOURCE, "lon": -8.0, "lat": 12.6},
            {"facility_id": "who:b", "name": "Fana Referral Health Centre",
             "facility_type": "csref", "source": WHO_SOURCE, "lon": -7.0, "lat": 12.8},
        ]
    )  # fmt: skip
    near_a = offset(-8.0, 12.6, 120.0)
    near_b = offset(-7.0, 12.8, 30.0)
    far_a = offset(-8.0, 12.6, 400.0)
    osm = facilities(
        [
            {"facility_id": "osm:node/1", "name": "Centre de Santé Communautaire ASACOEX",
             "facility_type": "cscom", "contact_number": "+223 1", "source": HEALTHSITES_SOURCE,
             "lon": near_a[0], "lat": near_a[1]},
            {"facility_id": "osm:node/2", "name": "Centre de Santé Communautaire de Fana",
             "facility_type": "cscom", "source": HEALTHSITES_SOURCE,
             "lon": near_b[0], "lat": near_b[1]},
            {"facility_id": "osm:node/3", "name": "Pharmacie Asacoex",
             "facility_type": "pharmacy", "source": HEALTHSITES_SOURCE,
             "lon": near_a[0], "lat": near_a[1]},
            {"facility_id": "osm:node/4", "name": "CSCOM ASACOEX",
             "facility_type": "cscom", "source": HEALTHSITES_SOURCE,
             "lon": far_a[0], "lat": far_a[1]},
        ]
    )  # fmt: skip
    merged = merge_facilities(who, osm, tolerance_m=250.0)
    assert list(merged.columns) == FACILITY_COLUMNS
    assert len(merged) == 5  # only osm:node/1 is the same place as a WHO facility
    a = merged.set_index("facility_id").loc["who:a"]
    assert a["contact_number"] == "+223 1"
    assert a["merged_ids"] == "osm:node/1"
    assert a["source"] == f"{WHO_SOURCE}; {HEALTHSITES_SOURCE}"
    assert set(merged["facility_id"]) == {"who:a", "who:b", "osm:node/2", "osm:node/3",
                                          "osm:node/4"}  # fmt: skip
    wider = merge_facilities(who, osm, tolerance_m=500.0)
    assert len(wider) == 5, "a WHO facility matches one OSM record, the nearest"


def test_merge_checks_its_inputs() -> None:
    who = facilities([{"facility_id": "who:a", "name": "X", "facility_type": "cscom",
                       "lon": -8.0, "lat": 12.6}])  # fmt: skip
    with pytest.raises(CRSMismatchError):
        merge_facilities(who, who.to_crs(METRIC_CRS))
    with pytest.raises(TypeError, match="healthsites"):
        merge_facilities(who, pd.DataFrame(who))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tolerance_m"):
        merge_facilities(who, who, tolerance_m=-5)


# ----------------------------------------------------------------------------- real data


def close_pairs(lon: np.ndarray, lat: np.ndarray, within_m: float) -> list[tuple[int, int]]:
    """Pairs of points closer than within_m (haversine, brute force: independent of the code)."""
    la, lo = np.radians(lat), np.radians(lon)
    pairs = []
    for i in range(len(la) - 1):
        dlat, dlon = la[i + 1 :] - la[i], lo[i + 1 :] - lo[i]
        h = np.sin(dlat / 2) ** 2 + np.cos(la[i]) * np.cos(la[i + 1 :]) * np.sin(dlon / 2) ** 2
        distance = 2 * 6_371_008.8 * np.arcsin(np.sqrt(h))
        pairs += [(i, i + 1 + int(j)) for j in np.flatnonzero(distance < within_m)]
    return pairs


@pytest.mark.integration
def test_shared_who_kemri_csv(data_dir: Path) -> None:
    path = data_dir / "facilities" / "who_kemri_mali_health_facilities.csv"
    raw = pd.read_csv(path).dropna(subset=["Lat", "Long"]).reset_index(drop=True)
    assert len(raw) == 1448
    # no two records share *identical* coordinates; the CHU pairs are 1e-6° (0.11 m) apart
    assert not raw.duplicated(["Lat", "Long"]).any()
    pairs = close_pairs(raw["Long"].to_numpy(), raw["Lat"].to_numpy(), 1.0)
    assert len(pairs) == 5
    with pytest.warns(UserWarning) as caught:
        who = read_who_facilities(path)
    messages = " | ".join(str(w.message) for w in caught)
    assert "30 facilities without coordinates dropped" in messages
    assert len(who) == 1448 - len(pairs) == 1443
    chus = who[who["name"].str.startswith("Chu ")]
    assert len(chus) == 3
    assert (chus["facility_type"] == "university_hospital").all()
    assert chus["facility_type_raw"].eq("University Hospital; Hospital").all()
    counts = who["facility_type"].value_counts()
    assert counts["csref"] == 61
    assert counts["cscom"] == 1294 - 30 - 2  # 30 without coordinates, 2 merged pairs
    assert who["facility_id"].is_unique
    assert set(who["adm1_name"]) == {
        "Bamako", "Gao", "Kayes", "Kidal", "Koulikoro", "Mopti", "Segou", "Sikasso", "Tombouctou",
    }  # fmt: skip
    bounds = who.total_bounds
    assert bounds[0] > -12.5 and bounds[2] < 4.5 and bounds[1] > 10.0 and bounds[3] < 25.5


@pytest.mark.integration
def test_shared_who_kemri_geojson_matches_csv(data_dir: Path) -> None:
    folder = data_dir / "facilities"
    csv = read_quietly(read_who_facilities, folder / "who_kemri_mali_health_facilities.csv")
    gj = read_quietly(read_who_facilities, folder / "who_kemri_mali_health_facilities.geojson")
    assert gj["facility_id"].tolist() == csv["facility_id"].tolist()


@pytest.mark.integration
def test_shared_healthsites(data_dir: Path) -> None:
    path = data_dir / "facilities" / "healthsites_mali_2020.geojson"
    every = read_quietly(read_healthsites, path, merge_within_m=None)
    assert len(every) == 1229
    raw_counts = every["facility_type_raw"].value_counts()
    assert raw_counts[["clinic", "pharmacy", "doctors", "hospital", "dentist"]].tolist() == [
        540, 353, 183, 137, 10,
    ]  # fmt: skip
    with pytest.warns(UserWarning, match="8 duplicate record"):
        hs = read_healthsites(path)
    assert len(hs) == 1229 - 8
    assert hs["facility_id"].is_unique
    # the OSM hospital and CSRéf of Sikasso share a point but are two facilities
    sikasso = hs[hs.geometry.x.round(5).eq(-5.66654) & hs.geometry.y.round(5).eq(11.31755)]
    assert sorted(sikasso["facility_type"]) == ["csref", "hospital"]


@pytest.mark.integration
def test_shared_who_and_healthsites_merged(data_dir: Path) -> None:
    folder = data_dir / "facilities"
    who = read_quietly(read_who_facilities, folder / "who_kemri_mali_health_facilities.csv")
    hs = read_quietly(read_healthsites, folder / "healthsites_mali_2020.geojson")
    merged = merge_facilities(who, hs)
    both = merged[merged["source"].str.contains(";")]
    assert 100 < len(both) < 200
    assert len(merged) == len(who) + len(hs) - len(both)
    osm_ids = both["merged_ids"].str.extract(r"(osm:\S+)$")[0]
    assert osm_ids.notna().all() and osm_ids.is_unique
    assert not set(osm_ids) & set(merged["facility_id"])
    # Fana's CSRéf matches OSM's CSRéf, not the CSCom "Fana Central" nearby
    fana = merged[merged["name"].eq("Fana Referral Health Centre")].iloc[0]
    assert fana["merged_ids"] == "osm:node/3189067697"
    assert "osm:node/2163839212" in set(merged["facility_id"])
