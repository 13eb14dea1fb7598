"""Validation of provider records: every rule of ``docs/providers.md`` in one place.

:func:`validate_providers` returns every problem (row, field, reason) and never stops at
the first; :func:`find_possible_duplicates` lists records of one type within 100 m of
each other, which ``validate`` reports (an error when both points are sites, a note
when a point only stands for a town or an area).  A ``same_as`` field says that two
records are one site; such a pair is accepted and only one of them enters results
(:func:`geo.freshness.status_mask`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS
from geo.errors import DataProblem
from geo.provider_schema import (
    CONFIDENCE_LEVELS,
    CONFIDENTIAL_PRECISIONS,
    LOCATION_PRECISIONS,
    NULL_GEOMETRY_TYPES,
    PROVIDER_COLUMNS,
    PROVIDER_TYPES,
    REQUIRED_FIELDS,
    SERVICES,
    STATUSES,
    TEXT_FIELDS,
    date_problem,
    is_missing,
    is_text,
    normalize_name,
    parse_date,
)

__all__ = [
    "DUPLICATE_DISTANCE_M",
    "SIMILAR_NAMES",
    "SITE_PRECISIONS",
    "find_possible_duplicates",
    "name_similarity",
    "validate_providers",
]

#: Records of one type closer than this are possible duplicates.
DUPLICATE_DISTANCE_M: float = 100.0
#: Two names sharing at least this share of their words are "alike" (see name_similarity).
SIMILAR_NAMES: float = 0.4
_SMALL_WORDS = frozenset(  # words too common to tell two names apart
    ("and", "the", "for", "with", "des", "del", "les", "aux", "pour", "par", "sur", "une")
)
#: Precisions whose point is the service's own site: two such points of one type within
#: :data:`DUPLICATE_DISTANCE_M` are one site unless the file says otherwise.
SITE_PRECISIONS: tuple[str, ...] = ("exact", "facility")

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_PCODE = {1: re.compile(r"^ML\d{2}$"), 2: re.compile(r"^ML\d{4}$"), 3: re.compile(r"^ML\d{6}$")}

Add = Callable[..., None]


def validate_providers(
    gdf: gpd.GeoDataFrame,
    *,
    country: BaseGeometry | None = None,
    as_of: date | None = None,
    _skip_geometry_rows: Iterable[int | None] = (),
) -> list[DataProblem]:
    """Every problem in the provider records; an empty list when all are valid.

    Parameters
    ----------
    gdf
        Provider records (as :func:`geo.providers.read_providers` returns them).  ``row``
        in each problem is the record's position counting from 1 (the feature number).
    country
        Mali's outline (shapely geometry, lon/lat).  When given, a point outside it is
        reported as "outside Mali", or as "lat/lon swapped" when swapping the two
        coordinates would put it inside.
    as_of
        Today's date, passed in by the caller; when given, a ``last_verified`` date after
        it is reported as in the future.

    Returns
    -------
    list of DataProblem
        Missing required fields, unknown services, types, precisions, confidence or
        status values, bad dates and P-codes, a status its evidence does not support,
        confidentiality breaches, duplicate ids, duplicate records (same name at the same
        place; one type within 100 m at two site-level points), bad ``same_as`` links,
        bad or misplaced points.
    """
    _check_arguments(gdf, country, as_of)
    skip = set(_skip_geometry_rows)
    problems: list[DataProblem] = []
    seen_ids: dict[str, int] = {}
    seen_places: dict[tuple[str, Any], int] = {}
    if country is not None:
        shapely.prepare(country)
    columns = set(gdf.columns)
    for number, (_, row) in enumerate(gdf.iterrows(), start=1):
        record = {c: (row[c] if c in columns else None) for c in PROVIDER_COLUMNS}
        ident = record["id"] if isinstance(record["id"], str) else None

        def add(field: str | None, reason: str, *, _n: int = number, _i: Any = ident) -> None:
            problems.append(DataProblem(_n, field, reason, _i))

        _check_record(record, add, as_of)
        if ident:
            if ident in seen_ids:
                add("id", f"duplicate id, also used by row {seen_ids[ident]}")
            else:
                seen_ids[ident] = number
        geom = row.geometry
        if number not in skip:
            _check_geometry(record, geom, country, add)
        name = record["name"]
        if isinstance(name, str) and name.strip():
            key = (normalize_name(name), _place_key(geom))
            if key in seen_places:
                add("name", f"duplicate of row {seen_places[key]}: same name at the same place")
            else:
                seen_places[key] = number
    problems += _check_same_as(gdf)
    problems += _duplicate_site_problems(gdf)
    return problems


def _check_arguments(gdf: Any, country: Any, as_of: Any) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError(f"gdf must be a GeoDataFrame, got {type(gdf).__name__}")
    if country is not None and not isinstance(country, BaseGeometry):
        raise TypeError(
            f"country must be a shapely geometry (Mali's outline), got {type(country).__name__}"
        )
    if as_of is not None and not isinstance(as_of, date):
        raise TypeError(f"as_of must be a datetime.date, got {as_of!r}")
    if gdf.crs is not None and gdf.crs != GEOGRAPHIC_CRS:
        raise ValueError(f"gdf must be in EPSG:4326, got {gdf.crs}; use .to_crs(4326)")


# --------------------------------------------------------------------------- one record


def _check_record(record: Mapping[str, Any], add: Add, as_of: date | None) -> None:
    _check_required(record, add)
    _check_kinds(record, add)
    _check_vocabularies(record, add)
    _check_confidentiality(record, add)
    _check_dates(record, add, as_of)
    _check_status(record, add)
    _check_pcodes(record, add)


def _check_required(record: Mapping[str, Any], add: Add) -> None:
    for field in REQUIRED_FIELDS:
        value = record[field]
        if field == "location_precision":
            continue  # checked with the geometry: unlocated records have none
        if field == "services":
            if value is None:
                add(field, "missing (use [] when the source does not detail the services)")
            continue
        if is_missing(value):
            add(field, "missing")


def _check_kinds(record: Mapping[str, Any], add: Add) -> None:
    ident = record["id"]
    if is_text(ident) and not _ID.match(ident):
        add("id", f"{ident!r} is not a slug (lower-case letters, digits and hyphens)")
    for field in TEXT_FIELDS:
        value = record[field]
        if value is not None and not isinstance(value, str):
            add(field, f"must be text, got {value!r}")
    for field in ("other_services", "languages"):
        value = record[field]
        if value is not None and not (isinstance(value, list) and all(is_text(v) for v in value)):
            add(field, "must be a list of text values or null")
    source = record["source"]
    if not is_missing(source) and not (
        isinstance(source, list) and all(is_text(s) for s in source)
    ):
        add("source", "must be a URL or document name, or a non-empty list of them")


def _check_vocabularies(record: Mapping[str, Any], add: Add) -> None:
    ptype = record["type"]
    if isinstance(ptype, str) and ptype and ptype not in PROVIDER_TYPES:
        add("type", f"unknown type {ptype!r}; use one of {', '.join(PROVIDER_TYPES)}")
    services = record["services"]
    if services is not None:
        if not isinstance(services, list):
            add("services", f"must be a list, got {services!r}")
        else:
            for service in services:
                if service not in SERVICES:
                    add(
                        "services",
                        f"unknown service {service!r}; use {', '.join(SERVICES)} "
                        "(police/security, hotline and referral go in other_services)",
                    )
    confidence = record["confidence"]
    if isinstance(confidence, str) and confidence not in CONFIDENCE_LEVELS:
        add("confidence", f"unknown grade {confidence!r}; use {', '.join(CONFIDENCE_LEVELS)}")


def _check_confidentiality(record: Mapping[str, Any], add: Add) -> None:
    confidential = record["confidential"]
    if isinstance(confidential, np.bool_):  # a bool column built with pandas
        confidential = bool(confidential)
    if confidential is not None and not isinstance(confidential, bool):
        add("confidential", f"must be true or false, got {confidential!r}")
    services = record["services"]
    offers_shelter = isinstance(services, list) and "shelter" in services
    if offers_shelter and confidential is not True:
        add("confidential", "a record that offers shelter must be confidential: true")
    if confidential is True or offers_shelter:
        for field in ("address", "phone"):
            if not is_missing(record[field]):
                add(field, "a confidential record must not carry an address or phone; remove it")
        precision = record["location_precision"]
        if precision in LOCATION_PRECISIONS and precision not in CONFIDENTIAL_PRECISIONS:
            add(
                "location_precision",
                f"a confidential record must be located at its town, not {precision!r}",
            )


def _check_dates(record: Mapping[str, Any], add: Add, as_of: date | None) -> None:
    source_date = record["source_date"]
    if isinstance(source_date, str) and source_date != "undated":
        reason = date_problem(source_date)
        if reason:
            add("source_date", f"{reason} (or 'undated'; put inferences in source_date_note)")
    for field in ("status_date", "last_verified", "unconfirmed_since"):
        value = record[field]
        if not isinstance(value, str):
            continue
        reason = date_problem(value)
        if reason:
            add(field, reason)
        elif field == "last_verified" and as_of is not None:
            when = parse_date(value)
            if when is not None and when > as_of:
                add(field, f"{value!r} is in the future")


def _check_status(record: Mapping[str, Any], add: Add) -> None:
    status = record["status"]
    if isinstance(status, str) and status not in STATUSES:
        add("status", f"unknown status {status!r}; use {', '.join(STATUSES)}")
    verified, by = record["last_verified"], record["verified_by"]
    if status == "operating" and is_missing(verified):
        add(
            "status",
            "'operating' means confirmed by a verification with the provider: set "
            "last_verified and verified_by, or use 'reported'",
        )
    if status == "suspended" and is_missing(record["status_date"]):
        add("status_date", "a suspended record needs the date it was suspended")
    if not is_missing(verified) and is_missing(by):
        add("verified_by", "missing: say who verified the record on last_verified")
    if not is_missing(by) and is_missing(verified):
        add("last_verified", "missing: verified_by is set but not the date of the verification")


def _check_pcodes(record: Mapping[str, Any], add: Add) -> None:
    codes = {level: record[f"adm{level}_pcode"] for level in (1, 2, 3)}
    for level, code in codes.items():
        if not isinstance(code, str):
            continue
        if not _PCODE[level].match(code):
            add(f"adm{level}_pcode", f"{code!r} is not an ADM{level} P-code")
        elif level > 1 and is_text(codes[level - 1]) and not code.startswith(codes[level - 1]):
            add(f"adm{level}_pcode", f"{code!r} is not inside adm{level - 1} {codes[level - 1]!r}")


def _check_geometry(
    record: Mapping[str, Any], geom: Any, country: BaseGeometry | None, add: Add
) -> None:
    precision = record["location_precision"]
    has_geom = geom is not None and not (isinstance(geom, float) and math.isnan(geom))
    if has_geom and getattr(geom, "is_empty", False):
        has_geom = False
    if not has_geom:
        if record["type"] not in NULL_GEOMETRY_TYPES and is_missing(record["location_source"]):
            add(
                "geometry",
                "no location; only a hotline may have none without a reason (locate others "
                "at least at their town or region, or say in location_source why the "
                "source supports no place)",
            )
        if not is_missing(precision):
            add("location_precision", "must be null when the record has no geometry")
        return
    if is_missing(precision):
        add("location_precision", "missing")
    elif precision not in LOCATION_PRECISIONS:
        add(
            "location_precision",
            f"unknown precision {precision!r}; use {', '.join(LOCATION_PRECISIONS)}",
        )
    if not isinstance(geom, Point):
        add("geometry", f"must be a Point, got {geom.geom_type}")
        return
    lon, lat = geom.x, geom.y
    if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lon) > 180 or abs(lat) > 90:
        add("geometry", f"coordinates ({lon}, {lat}) are not lon/lat degrees")
        return
    if is_missing(record["location_source"]):
        add("location_source", "missing: say where the coordinate comes from")
    if country is not None and not country.covers(geom):
        if country.covers(Point(lat, lon)):
            add(
                "geometry",
                f"lat/lon swapped: ({lon}, {lat}) is outside Mali but ({lat}, {lon}) is inside; "
                "GeoJSON order is [lon, lat]",
            )
        else:
            add("geometry", f"point ({lon}, {lat}) is outside Mali")


# --------------------------------------------------------------------------- across records


def _check_same_as(gdf: gpd.GeoDataFrame) -> list[DataProblem]:
    if "same_as" not in gdf.columns or "id" not in gdf.columns:
        return []
    ids = [v if isinstance(v, str) else None for v in gdf["id"]]
    links = {i: v for i, v in zip(ids, gdf["same_as"], strict=True) if i and isinstance(v, str)}
    problems = []
    for number, (ident, target) in enumerate(zip(ids, gdf["same_as"], strict=True), start=1):
        if not isinstance(target, str):
            continue
        if target == ident:
            reason = "a record cannot be the same site as itself"
        elif target not in ids:
            reason = f"names {target!r}, which is not an id of this directory"
        elif target in links:
            reason = (
                f"{target!r} itself has same_as {links[target]!r}; link every duplicate to "
                "the one record that stands for the site"
            )
        else:
            continue
        problems.append(DataProblem(number, "same_as", reason, ident))
    return problems


def find_possible_duplicates(
    gdf: gpd.GeoDataFrame, *, distance_m: float = DUPLICATE_DISTANCE_M
) -> pd.DataFrame:
    """Pairs of records of one type within ``distance_m`` that may be one site.

    Many distinct organisations share a town's point (a record located at its town,
    cercle or région), so being close says little by itself.  A pair is listed when

    - both points are sites (:data:`SITE_PRECISIONS`): ``validate_providers`` reports it
      as an error until ``same_as`` links the two or a point is corrected;
    - one point is a site and the other stands for its town;
    - or the names are alike (:func:`name_similarity` at least
      :data:`SIMILAR_NAMES`), such as two One Stop Centres of one town.

    Pairs linked by ``same_as`` (either way) are left out: the file already says they are
    one site.

    Parameters
    ----------
    gdf
        Provider records in EPSG:4326.
    distance_m
        Largest distance between the two points, in metres (default 100).

    Returns
    -------
    pandas.DataFrame
        One row per pair: ``row_a``, ``row_b`` (feature numbers from 1), ``id_a``,
        ``id_b``, ``type``, ``distance_m``, ``site_level`` (both points are sites) and
        ``reason`` ("both at their site", "one at its site" or "similar names").
    """
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError(f"gdf must be a GeoDataFrame, got {type(gdf).__name__}")
    if not (isinstance(distance_m, int | float) and distance_m >= 0):
        raise ValueError(f"distance_m must be a non-negative number of metres, got {distance_m!r}")
    columns = ["row_a", "row_b", "id_a", "id_b", "type", "distance_m", "site_level", "reason"]
    rows = [
        row
        for a, b, metres in _close_pairs(gdf, distance_m)
        if (row := _pair_row(gdf.iloc[a], gdf.iloc[b], a, b, metres)) is not None
    ]
    return pd.DataFrame(rows, columns=columns)


def _close_pairs(gdf: gpd.GeoDataFrame, distance_m: float) -> list[tuple[int, int, float]]:
    """Positions (a < b) of located records within ``distance_m``, and their distance."""
    points = gdf.geometry
    located = np.array(
        [isinstance(g, Point) and not g.is_empty and math.isfinite(g.x) for g in points]
    )
    if located.sum() < 2 or "type" not in gdf.columns:
        return []
    positions = np.flatnonzero(located)
    metric = gpd.GeoSeries(list(points[located]), crs=gdf.crs or GEOGRAPHIC_CRS).to_crs(METRIC_CRS)
    geoms = metric.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=distance_m)
    return [
        (int(positions[a]), int(positions[b]), float(geoms[a].distance(geoms[b])))
        for a, b in zip(left, right, strict=True)
        if a < b
    ]


def _pair_row(
    a: pd.Series, b: pd.Series, row_a: int, row_b: int, metres: float
) -> dict[str, Any] | None:
    if a.get("type") != b.get("type") or _linked(a, b):
        return None
    sites = [r.get("location_precision") in SITE_PRECISIONS for r in (a, b)]
    if all(sites):
        reason = "both at their site"
    elif any(sites):
        reason = "one at its site"
    elif name_similarity(a.get("name"), b.get("name")) >= SIMILAR_NAMES:
        reason = "similar names"
    else:
        return None  # two organisations at one town's point
    return {
        "row_a": row_a + 1,
        "row_b": row_b + 1,
        "id_a": a.get("id"),
        "id_b": b.get("id"),
        "type": a.get("type"),
        "distance_m": metres,
        "site_level": all(sites),
        "reason": reason,
    }


def name_similarity(first: Any, second: Any) -> float:
    """Share of the words two names have in common (Jaccard), ignoring small words.

    Accents, case and punctuation do not count; ``de``, ``la``, ``of``, ``and`` … are
    left out.  0 when either name is missing.
    """
    words = [_name_words(n) for n in (first, second)]
    if not all(words):
        return 0.0
    return len(words[0] & words[1]) / len(words[0] | words[1])


def _name_words(name: Any) -> set[str]:
    if not isinstance(name, str):
        return set()
    return {w for w in normalize_name(name).split() if len(w) > 2 and w not in _SMALL_WORDS}


def _linked(a: pd.Series, b: pd.Series) -> bool:
    return (a.get("same_as") is not None and a.get("same_as") == b.get("id")) or (
        b.get("same_as") is not None and b.get("same_as") == a.get("id")
    )


def _duplicate_site_problems(gdf: gpd.GeoDataFrame) -> list[DataProblem]:
    pairs = find_possible_duplicates(gdf)
    problems = []
    for pair in pairs[pairs["site_level"].astype(bool)].itertuples(index=False):
        problems.append(
            DataProblem(
                pair.row_b,
                "same_as",
                f"same type ({pair.type}) as row {pair.row_a} ({pair.id_a!r}) "
                f"{pair.distance_m:.0f} m away, both located at their site: if they are one "
                f"site set same_as: {pair.id_a!r}, otherwise correct a point",
                pair.id_b,
            )
        )
    return problems


def _place_key(geom: Any) -> Any:
    if isinstance(geom, Point) and not geom.is_empty:
        return (round(geom.x, 4), round(geom.y, 4))
    return None
