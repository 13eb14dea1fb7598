"""Status drives results; evidence age drives the "à vérifier" flag."""

from __future__ import annotations

import math
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from geo.freshness import (
    evidence_age_months,
    freshness_by_region,
    freshness_flags,
    needs_verification,
    parse_statuses,
    status_mask,
)
from geo.nearest import providers_offering
from geo.providers import read_providers
from tests.conftest import REPO

TODAY = date(2026, 12, 7)


def frame(*records):
    rows = []
    for i, r in enumerate(records):
        row = {
            "id": f"p{i}",
            "adm1_pcode": "ML05",
            "status": "reported",
            "source_date": "2026-06",
            "last_verified": None,
            "same_as": None,
        }
        row.update(r)
        rows.append(row)
    return gpd.GeoDataFrame(rows, geometry=[Point(-4.19, 14.49)] * len(rows), crs=4326)


# --------------------------------------------------------------------------- status


def test_default_mask_keeps_operating_and_reported_only():
    gdf = frame(
        {"status": "operating", "last_verified": "2026-11-01"},
        {"status": "reported"},
        {"status": "suspended"},
        {"status": "historic"},
        {"status": "planned"},
        {"status": None},  # a record without status comes from a source
        {"status": "open"},  # unknown: never enters
    )
    assert status_mask(gdf).tolist() == [True, True, False, False, False, True, False]
    assert status_mask(gdf, ["historic"]).tolist() == [False, False, False, True] + [False] * 3
    assert status_mask(gdf, "all").sum() == 6
    assert status_mask(gdf.drop(columns="status")).all()


def test_a_historic_record_is_excluded_by_default_and_included_when_asked():
    """Tombouctou's project that ran Oct 2019–Mar 2020 no longer counts as a provider."""
    directory = read_providers(REPO / "data" / "providers.geojson")
    imc = (directory["id"] == "imc-tombouctou").to_numpy()
    assert directory.loc[imc, "status"].item() == "historic"
    assert not status_mask(directory)[imc].item()
    assert status_mask(directory, parse_statuses("operating,reported,historic"))[imc].item()
    # the way nearest answers and coverage pick their providers for a service
    medical_tombouctou = (
        providers_offering(directory, "medical") & (directory["adm1_pcode"] == "ML06").to_numpy()
    )
    by_default = set(directory.loc[medical_tombouctou & status_mask(directory), "id"])
    asked = set(directory.loc[medical_tombouctou & status_mask(directory, "all"), "id"])
    assert "imc-tombouctou" not in by_default and "imc-tombouctou" in asked


def test_a_planned_centre_does_not_count_by_default():
    directory = read_providers(REPO / "data" / "providers.geojson")
    planned = directory["status"] == "planned"
    assert planned.any()
    assert not status_mask(directory)[planned.to_numpy()].any()


def test_one_site_linked_by_same_as_counts_once():
    gdf = frame({"id": "a"}, {"id": "b", "same_as": "a"}, {"id": "c"})
    assert status_mask(gdf).tolist() == [True, False, True]
    closed = frame({"id": "a", "status": "historic"}, {"id": "b", "same_as": "a"})
    assert status_mask(closed).tolist() == [False, True]  # the duplicate stands in


def test_parse_statuses():
    assert parse_statuses(None) == ("operating", "reported")
    assert parse_statuses(" Historic , reported,historic") == ("historic", "reported")
    assert parse_statuses(["suspended"]) == ("suspended",)
    assert len(parse_statuses("all")) == 5
    with pytest.raises(ValueError, match=r"--status: unknown status 'open'"):
        parse_statuses("reported,open", parameter="--status")
    with pytest.raises(ValueError, match="no status given"):
        parse_statuses(" , ")


def test_status_mask_checks_its_argument():
    with pytest.raises(TypeError, match="frame must be"):
        status_mask([{"status": "reported"}])
    mask = status_mask(frame({}, {}))
    assert isinstance(mask, np.ndarray) and mask.dtype == bool


# --------------------------------------------------------------------------- evidence


def test_evidence_age_uses_the_newer_of_source_and_verification():
    gdf = frame(
        {"source_date": "2026-01-07"},  # 11 months before TODAY
        {"source_date": "2025-11-01"},  # 13 months
        {"source_date": "2019", "last_verified": "2026-10-01"},  # verified recently
        {"source_date": "undated"},
        {"source_date": "2026"},  # counts from 1 January: 11.2 months
        {"source_date": "2025"},  # 23 months: never too young
    )
    age = evidence_age_months(gdf, as_of=TODAY)
    assert age.round(1).tolist()[:3] == [11.0, 13.2, 2.2]
    assert math.isnan(age.iloc[3])
    flag = needs_verification(gdf, as_of=TODAY)
    assert flag.tolist() == [False, True, False, True, False, True]
    assert needs_verification(gdf, as_of=TODAY, max_age_months=6).tolist() == [
        True,
        True,
        False,
        True,
        True,
        True,
    ]


def test_the_flag_depends_on_the_date_passed_in_not_the_clock():
    gdf = frame({"source_date": "2026-06"})
    assert not needs_verification(gdf, as_of=date(2026, 12, 7)).iloc[0]
    assert needs_verification(gdf, as_of=date(2027, 7, 1)).iloc[0]
    with pytest.raises(TypeError, match="as_of"):
        needs_verification(gdf, as_of="2026-12-07")
    with pytest.raises(ValueError, match="max_age_months"):
        needs_verification(gdf, as_of=TODAY, max_age_months=0)


def test_freshness_flags_carry_what_an_answer_shows():
    gdf = frame(
        {"source_date": "2015-11", "unconfirmed_since": "2017", "confidence": "High"},
        {
            "status": "operating",
            "source_date": "2021-07",
            "last_verified": "2026-11-20",
            "verified_by": "Sous-cluster VBG Mopti",
        },
    )
    flags = freshness_flags(gdf, as_of=TODAY)
    first, second = flags.iloc[0], flags.iloc[1]
    assert first["last_verified"] is None and first["needs_verification"]
    assert first["unconfirmed_since"] == "2017" and first["confidence"] == "High"
    assert first["evidence_date"] == "2015-11"  # as the file writes it
    assert second["evidence_date"] == "2026-11-20" and not second["needs_verification"]
    assert second["verified_by"] == "Sous-cluster VBG Mopti"
    assert list(flags.index) == list(gdf.index)


# --------------------------------------------------------------------------- by région


def test_freshness_by_region_counts_statuses_and_verified_shares():
    gdf = frame(
        {"status": "operating", "last_verified": "2026-10-01", "verified_by": "x"},  # 2 months
        {"status": "operating", "last_verified": "2026-03-01", "verified_by": "x"},  # 9 months
        {"status": "reported", "source_date": "2008"},
        {"status": "historic", "source_date": "2001"},  # not counted in shares
        {"status": "suspended", "status_date": "2026-09", "adm1_pcode": "ML07"},
        {"adm1_pcode": None, "source_date": "undated"},
    )
    table = freshness_by_region(gdf, as_of=TODAY).set_index("adm1_pcode")
    mopti = table.loc["ML05"]
    assert mopti["records"] == 4 and mopti["operating"] == 2 and mopti["historic"] == 1
    assert mopti["verified_6m_share"] == pytest.approx(1 / 3)
    assert mopti["verified_12m_share"] == pytest.approx(2 / 3)
    assert mopti["to_verify"] == 1 and mopti["oldest_evidence"] == "2008"
    assert table.loc["ML07", "suspended"] == 1
    assert table.loc["ML08", "records"] == 0 and math.isnan(table.loc["ML08", "verified_6m_share"])
    assert table.loc["none", "undated"] == 1 and table.loc["none", "oldest_evidence"] is None
    assert table.loc["total", "records"] == len(gdf)
    assert list(table.index[:9]) == [f"ML0{i}" for i in range(1, 10)]


def test_freshness_of_the_committed_directory_covers_every_region():
    directory = read_providers(REPO / "data" / "providers.geojson")
    table = freshness_by_region(directory, as_of=TODAY)
    assert table["records"].iloc[-1] == len(directory)
    statuses = ["operating", "reported", "suspended", "historic", "planned"]
    assert (table[statuses].sum(axis=1) == table["records"]).all()
    assert isinstance(table, pd.DataFrame)
