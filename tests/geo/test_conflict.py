"""Tests of geo.conflict: ACLED and UCDP GED loaders, clipping and filtering.

The fixtures ``tests/data/conflict_acled_sample.csv`` and ``conflict_ucdp_sample.csv``
hold INVENTED rows in the two formats; no row of the restricted ACLED file is committed.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from geo.conflict import (
    ACLED_EVENT_TYPES,
    CONFLICT_COLUMNS,
    clip_to_country,
    filter_events,
    read_conflict_events,
)
from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS
from geo.errors import CRSMismatchError, DataFileError, DataValidationError

TEST_DATA = Path(__file__).resolve().parents[1] / "data"
ACLED_SAMPLE = TEST_DATA / "conflict_acled_sample.csv"
UCDP_SAMPLE = TEST_DATA / "conflict_ucdp_sample.csv"
ACLED_MINIMAL_HEADER = (
    "event_id_cnty,event_date,event_type,sub_event_type,latitude,longitude,fatalities\n"
)
#: roughly Mali west of 1° E: holds every sample event except the one in Niger (2.1° E)
WEST_BOX = box(-12.5, 10.0, 1.0, 25.0)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def acled() -> gpd.GeoDataFrame:
    return read_conflict_events(ACLED_SAMPLE)


# ----------------------------------------------------------------------------- reading


def test_acled_sample_schema_and_values(acled: gpd.GeoDataFrame) -> None:
    assert list(acled.columns) == CONFLICT_COLUMNS
    assert acled.crs == GEOGRAPHIC_CRS
    assert len(acled) == 5
    assert acled["event_id"].tolist()[:2] == ["MLI90001", "MLI90002"]
    assert acled["date"].dtype == "datetime64[ns]"
    assert acled["date"].iloc[0] == pd.Timestamp("2021-02-03")
    assert acled["fatalities"].dtype == "int64"
    assert acled["fatalities"].sum() == 10
    assert (acled["source"] == "ACLED").all()
    assert acled["sub_event_type"].iloc[3] == "Remote explosive/landmine/IED"
    assert acled["location"].iloc[3] == "Aguelhok"
    assert acled["admin1"].iloc[3] == "Kidal"
    assert acled["admin2"].iloc[3] == "Tessalit"
    assert (acled.geometry.x == acled["lon"]).all()
    assert (acled.geometry.y == acled["lat"]).all()


def test_ucdp_sample_maps_type_of_violence() -> None:
    ucdp = read_conflict_events(UCDP_SAMPLE)
    assert list(ucdp.columns) == CONFLICT_COLUMNS
    assert (ucdp["source"] == "UCDP GED").all()
    assert ucdp["event_type"].tolist() == ["Battles", "Battles", "Violence against civilians"]
    assert ucdp["sub_event_type"].tolist() == [
        "state-based conflict",
        "non-state conflict",
        "one-sided violence",
    ]
    assert ucdp["fatalities"].tolist() == [4, 5, 9]  # UCDP "best", not "high"/"low"
    # dated at date_start: the second event runs 1-3 February
    assert ucdp["date"].tolist() == [
        pd.Timestamp("2021-01-05"),
        pd.Timestamp("2021-02-01"),
        pd.Timestamp("2021-03-10"),
    ]
    assert ucdp["event_id"].tolist() == ["9900001", "9900002", "9900003"]
    assert ucdp["admin1"].iloc[0] == "Mopti region"
    assert ucdp["location"].iloc[2] == "Example village C"


def test_explicit_format_must_fit_the_file() -> None:
    assert len(read_conflict_events(UCDP_SAMPLE, fmt="ucdp")) == 3
    with pytest.raises(DataFileError, match="date_start, type_of_violence, best"):
        read_conflict_events(ACLED_SAMPLE, fmt="ucdp")
    with pytest.raises(ValueError, match="fmt"):
        read_conflict_events(ACLED_SAMPLE, fmt="gdelt")  # type: ignore[arg-type]


def test_acled_dates_as_day_month_name_year(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "acled.csv",
        ACLED_MINIMAL_HEADER + "X1,31 December 2020,Protests,Peaceful protest,12.6,-8.0,0\n",
    )
    events = read_conflict_events(path)
    assert events["date"].tolist() == [pd.Timestamp("2020-12-31")]


def test_missing_required_columns_are_named(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "acled.csv", "event_date,event_type,latitude\n2021-01-01,Riots,12.6\n"
    )
    with pytest.raises(DataFileError, match="longitude, fatalities"):
        read_conflict_events(path)
    path = write_csv(tmp_path / "other.csv", "when,where\n2021-01-01,Gao\n")
    with pytest.raises(DataFileError, match="neither an ACLED export"):
        read_conflict_events(path)


def test_bad_rows_are_all_listed(tmp_path: Path) -> None:
    rows = (
        "A1,2021-01-01,Battles,Armed clash,15.0,-2.0,1\n"  # line 2, fine
        "A2,2021-13-45,Battles,Armed clash,15.0,-2.0,1\n"  # line 3, bad date
        "A3,yesterday,Battles,Armed clash,15.0,-2.0,1\n"  # line 4, bad date
        "A4,2021-01-02,Battles,Armed clash,,-2.0,1\n"  # line 5, empty latitude
        "A5,2021-01-02,Battles,Armed clash,15.0,west,1\n"  # line 6, bad longitude
        "A6,2021-01-02,Battles,Armed clash,95.0,-2.0,1\n"  # line 7, latitude out of range
        "A7,2021-01-02,Battles,Armed clash,15.0,-2.0,-3\n"  # line 8, negative fatalities
        "A8,2021-01-02,Battles,Armed clash,15.0,-2.0,2.5\n"  # line 9, not a count
        "A9,2021-01-02,,Armed clash,15.0,-2.0,0\n"  # line 10, no event type
    )
    with pytest.raises(DataValidationError) as info:
        read_conflict_events(write_csv(tmp_path / "acled.csv", ACLED_MINIMAL_HEADER + rows))
    problems = info.value.problems
    assert [p.row for p in problems] == [3, 4, 5, 6, 7, 8, 9, 10]
    text = str(info.value)
    assert "unreadable date '2021-13-45'" in text
    assert "unreadable coordinate 'west'" in text
    assert "empty coordinate" in text
    assert "95.0 outside ±90" in text
    assert "fatalities '-3' not a count" in text
    assert "empty event type" in text


def test_ucdp_unknown_type_of_violence(tmp_path: Path) -> None:
    text = UCDP_SAMPLE.read_text(encoding="utf-8").splitlines()
    header = text[0].split(",")
    row = text[1].split(",")
    row[header.index("type_of_violence")] = "4"
    path = write_csv(tmp_path / "ged.csv", "\n".join([text[0], ",".join(row)]) + "\n")
    with pytest.raises(DataValidationError, match="'4' is not 1, 2 or 3"):
        read_conflict_events(path)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="not found"):
        read_conflict_events(tmp_path / "none.csv")
    path = write_csv(tmp_path / "empty.csv", ACLED_MINIMAL_HEADER)
    with pytest.warns(UserWarning, match="no events"):
        events = read_conflict_events(path)
    assert events.empty
    assert list(events.columns) == CONFLICT_COLUMNS
    assert events.crs == GEOGRAPHIC_CRS


def test_missing_event_ids_get_the_file_line(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "acled.csv",
        "event_date,event_type,latitude,longitude,fatalities\n2021-01-01,Riots,12.6,-8.0,0\n",
    )
    assert read_conflict_events(path)["event_id"].tolist() == ["row2"]


# ----------------------------------------------------------------------------- clipping


def test_clip_drops_events_outside_and_counts_them(acled: gpd.GeoDataFrame) -> None:
    inside, dropped = clip_to_country(acled, WEST_BOX)
    assert dropped == 1
    assert "NIG90005" not in set(inside["event_id"])
    assert inside.index.tolist() == [0, 1, 2, 3]
    assert list(inside.columns) == CONFLICT_COLUMNS


def test_clip_keeps_events_on_the_border(acled: gpd.GeoDataFrame) -> None:
    border = box(-2.95, 10.0, 1.0, 25.0)  # the Douentza event lies on the west edge
    inside, _ = clip_to_country(acled, border)
    assert "MLI90001" in set(inside["event_id"])


def test_clip_with_a_layer_checks_its_crs(acled: gpd.GeoDataFrame) -> None:
    layer = gpd.GeoDataFrame(geometry=[WEST_BOX], crs=GEOGRAPHIC_CRS)
    inside, dropped = clip_to_country(acled, layer)
    assert (len(inside), dropped) == (4, 1)
    with pytest.raises(CRSMismatchError):
        clip_to_country(acled, layer.to_crs(METRIC_CRS))


def test_clip_rejects_non_polygons(acled: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match="polygon"):
        clip_to_country(acled, Point(0, 15))
    with pytest.raises(TypeError, match="country_geometry"):
        clip_to_country(acled, "Mali")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="events"):
        clip_to_country(pd.DataFrame(acled), WEST_BOX)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- filtering


def test_filter_by_dates_inclusive(acled: gpd.GeoDataFrame) -> None:
    march = filter_events(acled, start="2021-03-01", end="2021-03-15")
    assert march["event_id"].tolist() == ["MLI90003", "MLI90004"]
    assert filter_events(acled, end=dt.date(2021, 2, 3))["event_id"].tolist() == ["MLI90001"]
    assert len(filter_events(acled, start=pd.Timestamp("2021-03-16"))) == 1


def test_filter_by_event_types(acled: gpd.GeoDataFrame) -> None:
    assert filter_events(acled, event_types="Battles")["event_id"].tolist() == [
        "MLI90001",
        "NIG90005",
    ]
    both = filter_events(acled, event_types=["Protests", "Violence against civilians"])
    assert both["event_id"].tolist() == ["MLI90002", "MLI90003"]
    with pytest.raises(ValueError, match="unknown event type"):
        filter_events(acled, event_types=["Battle"])


def test_filter_with_no_match_is_an_empty_frame_with_warning(acled: gpd.GeoDataFrame) -> None:
    with pytest.warns(UserWarning, match="no event matches"):
        none = filter_events(acled, start="2022-01-01", event_types="Riots")
    assert none.empty
    assert list(none.columns) == CONFLICT_COLUMNS
    assert none.crs == GEOGRAPHIC_CRS
    assert none.dtypes.equals(acled.dtypes)


def test_filter_rejects_bad_arguments(acled: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match="after end"):
        filter_events(acled, start="2021-03-01", end="2021-01-01")
    with pytest.raises(ValueError, match="not a date"):
        filter_events(acled, start="last spring")
    with pytest.raises(TypeError, match="start"):
        filter_events(acled, start=2021)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="events"):
        filter_events(acled.drop(columns="geometry").to_numpy())  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(
    start=st.dates(dt.date(2021, 1, 1), dt.date(2021, 4, 1)),
    days=st.integers(0, 90),
)
def test_filter_keeps_exactly_the_days_in_range(start: dt.date, days: int) -> None:
    events = read_conflict_events(ACLED_SAMPLE)
    end = start + dt.timedelta(days=days)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        kept = filter_events(events, start=start, end=end)
    days_of = events["date"].dt.date
    expected = events.index[(days_of >= start) & (days_of <= end)]
    assert kept.index.tolist() == expected.tolist()


# ----------------------------------------------------------------------------- real data


@pytest.mark.integration
def test_shared_acled_file(data_dir: Path) -> None:
    events = read_conflict_events(data_dir / "conflict" / "acled_mali_2010_2020_RESTRICTED.csv")
    assert len(events) == 4447
    assert events["date"].min() == pd.Timestamp("2010-01-21")
    assert events["date"].max() == pd.Timestamp("2020-12-31")
    assert events["fatalities"].sum() == 10_093
    assert (events["source"] == "ACLED").all()
    assert events["event_id"].is_unique
    assert events["event_type"].value_counts().to_dict() == {
        "Battles": 1401,
        "Violence against civilians": 1342,
        "Explosions/Remote violence": 660,
        "Strategic developments": 447,
        "Protests": 415,
        "Riots": 182,
    }
    assert set(events["event_type"]) == set(ACLED_EVENT_TYPES)


@pytest.mark.integration
def test_shared_acled_clipped_to_mali_and_filtered(data_dir: Path) -> None:
    events = read_conflict_events(data_dir / "conflict" / "acled_mali_2010_2020_RESTRICTED.csv")
    mali = gpd.read_file(data_dir / "boundaries" / "mli_adm0_ocha_cod_2015.geojson")
    inside, dropped = clip_to_country(events, mali)
    # a few border events fall just outside the OCHA 2015 outline (measured: 7)
    assert dropped == 7
    assert len(inside) == 4447 - 7
    y2020 = filter_events(inside, start="2020-01-01", end="2020-12-31")
    assert len(y2020) == (inside["date"].dt.year == 2020).sum()
    assert len(y2020) > 1000  # 2020 was the worst year of the period
    battles = filter_events(events, event_types="Battles")
    assert len(battles) == 1401
