"""The provider directory: GBV/SEA survivor services, one sourced record each.

The directory is a GeoJSON FeatureCollection (``data/providers.geojson``), one Point
feature per service site, EPSG:4326.  ``docs/providers.md`` describes every field.
Three rules protect survivors and are enforced by :func:`validate_providers`:

- a record that offers shelter or accommodation is ``confidential``;
- a confidential record carries no address and no phone, and is located at its town
  (never at a facility or an exact site);
- :func:`public_providers` drops every record that is not explicitly non-confidential,
  and every public output must go through it.

Example
-------
>>> gdf = read_providers("data/providers.geojson")          # doctest: +SKIP
>>> public = public_providers(gdf)                           # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Point, mapping, shape
from shapely.geometry.base import BaseGeometry

from geo.crs import GEOGRAPHIC_CRS
from geo.errors import DataFileError, DataProblem, DataValidationError

__all__ = [
    "ADM1_2015",
    "CONFIDENCE_LEVELS",
    "CONFIDENTIAL_PRECISIONS",
    "LOCATION_PRECISIONS",
    "NULL_GEOMETRY_TYPES",
    "PROVIDER_COLUMNS",
    "PROVIDER_TYPES",
    "REGIONS_2023_TO_ADM1_2015",
    "REQUIRED_FIELDS",
    "SERVICES",
    "STATUSES",
    "from_feature_collection",
    "provider_summary",
    "public_mask",
    "public_providers",
    "read_providers",
    "to_feature_collection",
    "validate_providers",
    "write_providers",
]

#: Services a survivor can be referred for.  Police/security, hotline and referral are
#: not services in this vocabulary: records keep them in ``other_services``.
SERVICES: tuple[str, ...] = ("medical", "psychosocial", "legal", "reintegration", "shelter")
PROVIDER_TYPES: tuple[str, ...] = (
    "one_stop_centre",
    "ngo",
    "network",
    "legal_clinic",
    "health_facility",
    "government",
    "un_agency",
    "hotline",
    "other",
)
#: How well the point locates the service, finest first.  ``cercle`` and ``region`` mean
#: the provider works across that area and the point is the area's capital, not a site.
LOCATION_PRECISIONS: tuple[str, ...] = (
    "exact",
    "facility",
    "locality",
    "commune",
    "cercle",
    "region",
)
#: Precisions allowed for a confidential record (never a site).
CONFIDENTIAL_PRECISIONS: tuple[str, ...] = ("locality", "commune", "cercle", "region")
#: Only these provider types may have no geometry (a hotline has no place).
NULL_GEOMETRY_TYPES: tuple[str, ...] = ("hotline",)
#: Confidence grades of the sourced facts (see docs/providers.md).
CONFIDENCE_LEVELS: tuple[str, ...] = ("High", "Med-High", "Med", "Low-Med", "Low")
#: reported: the newest source describes it as operating or opening;
#: historic: the facts come from a project or report period that has ended;
#: planned: announced, with no evidence that it opened.
STATUSES: tuple[str, ...] = ("reported", "historic", "planned")

REQUIRED_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "type",
    "services",
    "source",
    "source_date",
    "location_precision",
    "confidential",
)
#: Every field of a record, in file order (geometry apart).
PROVIDER_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "type",
    "services",
    "other_services",
    "status",
    "adm1_pcode",
    "adm2_pcode",
    "adm3_pcode",
    "town",
    "address",
    "phone",
    "opening_hours",
    "languages",
    "confidential",
    "location_precision",
    "location_source",
    "source",
    "source_date",
    "source_date_note",
    "last_verified",
    "confidence",
    "notes",
)

#: ADM1 P-codes of the 2015 boundaries (8 régions + Bamako district).
ADM1_2015: dict[str, str] = {
    "ML01": "Kayes",
    "ML02": "Koulikoro",
    "ML03": "Sikasso",
    "ML04": "Ségou",
    "ML05": "Mopti",
    "ML06": "Tombouctou",
    "ML07": "Gao",
    "ML08": "Kidal",
    "ML09": "Bamako",
}
#: Régions of the 2023 map (law of 13 March 2023) -> the 2015 région that holds them.
#: Each new région was carved out of one old région, so this mapping is many-to-one.
REGIONS_2023_TO_ADM1_2015: dict[str, str] = {
    "Kayes": "ML01",
    "Kita": "ML01",
    "Nioro": "ML01",
    "Koulikoro": "ML02",
    "Dioïla": "ML02",
    "Nara": "ML02",
    "Sikasso": "ML03",
    "Bougouni": "ML03",
    "Koutiala": "ML03",
    "Ségou": "ML04",
    "San": "ML04",
    "Mopti": "ML05",
    "Bandiagara": "ML05",
    "Douentza": "ML05",
    "Tombouctou": "ML06",
    "Taoudénit": "ML06",
    "Gao": "ML07",
    "Ménaka": "ML07",
    "Kidal": "ML08",
    "Bamako": "ML09",
}

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_PCODE = {1: re.compile(r"^ML\d{2}$"), 2: re.compile(r"^ML\d{4}$"), 3: re.compile(r"^ML\d{6}$")}
_LIST_FIELDS = ("services", "other_services", "languages")


# --------------------------------------------------------------------------- reading


def read_providers(
    path: str | os.PathLike[str], *, country: BaseGeometry | None = None
) -> gpd.GeoDataFrame:
    """Read and validate the provider directory.

    Parameters
    ----------
    path
        A GeoJSON FeatureCollection of provider records (``docs/providers.md``).
    country
        Mali's outline in EPSG:4326; when given, points outside it are problems.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per feature, columns :data:`PROVIDER_COLUMNS` (plus any extra
        properties) and geometry, EPSG:4326.  ``services`` holds lists.

    Raises
    ------
    DataFileError
        The file is missing, is not JSON, is not a FeatureCollection, or declares a CRS
        other than lon/lat WGS 84.
    DataValidationError
        Any record is invalid; ``problems`` lists every one (row = feature number from 1).
    """
    path = Path(path)
    gdf, problems = _load(path)
    skip = {p.row for p in problems}
    problems += validate_providers(gdf, country=country, _skip_geometry_rows=skip)
    if problems:
        raise DataValidationError(str(path), sorted(problems, key=_problem_order))
    return gdf


def _load(path: Path) -> tuple[gpd.GeoDataFrame, list[DataProblem]]:
    if not path.is_file():
        raise DataFileError(f"{path}: provider file not found")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFileError(f"{path}: cannot be read as GeoJSON ({exc})") from exc
    return from_feature_collection(raw, source=str(path))


def from_feature_collection(
    raw: Any, *, source: str = "providers"
) -> tuple[gpd.GeoDataFrame, list[DataProblem]]:
    """Turn a parsed GeoJSON FeatureCollection into a provider GeoDataFrame (not validated).

    Returns the frame and the problems found while parsing geometries.
    """
    if not isinstance(raw, dict) or raw.get("type") != "FeatureCollection":
        raise DataFileError(f"{source}: not a GeoJSON FeatureCollection")
    features = raw.get("features")
    if not isinstance(features, list):
        raise DataFileError(f"{source}: 'features' is missing or not a list")
    crs_name = ((raw.get("crs") or {}).get("properties") or {}).get("name")
    if crs_name and not re.search(r"(CRS84|EPSG:?:?4326)$", str(crs_name)):
        raise DataFileError(
            f"{source}: declares CRS {crs_name!r}; provider files must be lon/lat WGS 84 "
            "(EPSG:4326, RFC 7946)"
        )
    problems: list[DataProblem] = []
    rows: list[dict[str, Any]] = []
    geoms: list[BaseGeometry | None] = []
    for number, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problems.append(DataProblem(number, None, "not a GeoJSON Feature"))
            rows.append({})
            geoms.append(None)
            continue
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            problems.append(DataProblem(number, "properties", "properties must be an object"))
            props = {}
        rows.append(dict(props))
        geom = feature.get("geometry")
        if geom is None:
            geoms.append(None)
            continue
        try:
            parsed = shape(geom)
        except Exception as exc:  # shapely raises several types for bad GeoJSON
            problems.append(
                DataProblem(
                    number, "geometry", f"not a valid GeoJSON geometry ({exc})", props.get("id")
                )
            )
            geoms.append(None)
            continue
        geoms.append(None if parsed.is_empty else parsed)
    frame = pd.DataFrame(rows)
    for column in PROVIDER_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    extra = [c for c in frame.columns if c not in PROVIDER_COLUMNS]
    frame = frame[list(PROVIDER_COLUMNS) + extra].astype(object)
    frame = frame.where(frame.notna(), None)
    gdf = gpd.GeoDataFrame(
        frame, geometry=gpd.GeoSeries(geoms, crs=GEOGRAPHIC_CRS), crs=GEOGRAPHIC_CRS
    )
    return gdf, problems


# --------------------------------------------------------------------------- validation


def validate_providers(
    gdf: gpd.GeoDataFrame,
    *,
    country: BaseGeometry | None = None,
    _skip_geometry_rows: Iterable[int | None] = (),
) -> list[DataProblem]:
    """Every problem in the provider records; an empty list when all are valid.

    Parameters
    ----------
    gdf
        Provider records (as :func:`read_providers` returns them).  ``row`` in each
        problem is the record's position counting from 1 (the feature number).
    country
        Mali's outline (shapely geometry, lon/lat).  When given, a point outside it is
        reported as "outside Mali", or as "lat/lon swapped" when swapping the two
        coordinates would put it inside.

    Returns
    -------
    list of DataProblem
        Missing required fields, unknown services, types, precisions, confidence or
        status values, bad dates and P-codes, confidentiality breaches, duplicate ids,
        duplicate records (same name at the same place), bad or misplaced points.
    """
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError(f"gdf must be a GeoDataFrame, got {type(gdf).__name__}")
    if country is not None and not isinstance(country, BaseGeometry):
        raise TypeError(
            f"country must be a shapely geometry (Mali's outline), got {type(country).__name__}"
        )
    if gdf.crs is not None and gdf.crs != GEOGRAPHIC_CRS:
        raise ValueError(f"gdf must be in EPSG:4326, got {gdf.crs}; use .to_crs(4326)")
    skip = set(_skip_geometry_rows)
    problems: list[DataProblem] = []
    seen_ids: dict[str, int] = {}
    seen_places: dict[tuple[str, Any], int] = {}
    prepared = country
    if country is not None:
        shapely.prepare(country)
    columns = set(gdf.columns)
    for number, (_, row) in enumerate(gdf.iterrows(), start=1):
        record = {c: (row[c] if c in columns else None) for c in PROVIDER_COLUMNS}
        ident = record["id"] if isinstance(record["id"], str) else None

        def add(field: str | None, reason: str, *, _n: int = number, _i: Any = ident) -> None:
            problems.append(DataProblem(_n, field, reason, _i))

        _check_record(record, add)
        if ident:
            if ident in seen_ids:
                add("id", f"duplicate id, also used by row {seen_ids[ident]}")
            else:
                seen_ids[ident] = number
        geom = row.geometry
        if number not in skip:
            _check_geometry(record, geom, prepared, add)
        name = record["name"]
        if isinstance(name, str) and name.strip():
            key = (_normalize(name), _place_key(geom))
            if key in seen_places:
                add("name", f"duplicate of row {seen_places[key]}: same name at the same place")
            else:
                seen_places[key] = number
    return problems


def _check_record(record: Mapping[str, Any], add: Any) -> None:
    for field in REQUIRED_FIELDS:
        value = record[field]
        if field == "location_precision":
            continue  # checked with the geometry: hotlines have none
        if field == "services":
            if value is None:
                add(field, "missing (use [] when the source does not detail the services)")
            continue
        if _is_missing(value):
            add(field, "missing")

    ident = record["id"]
    if _is_text(ident) and not _ID.match(ident):
        add("id", f"{ident!r} is not a slug (lower-case letters, digits and hyphens)")
    if not _is_missing(record["name"]) and not _is_text(record["name"]):
        add("name", "must be text")

    ptype = record["type"]
    if not _is_missing(ptype) and ptype not in PROVIDER_TYPES:
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
    for field in ("other_services", "languages"):
        value = record[field]
        if value is not None and not (isinstance(value, list) and all(_is_text(v) for v in value)):
            add(field, "must be a list of text values or null")

    confidential = record["confidential"]
    if isinstance(confidential, np.bool_):  # a bool column built with pandas
        confidential = bool(confidential)
    if confidential is not None and not isinstance(confidential, bool):
        add("confidential", f"must be true or false, got {confidential!r}")
    offers_shelter = isinstance(services, list) and "shelter" in services
    if offers_shelter and confidential is not True:
        add("confidential", "a record that offers shelter must be confidential: true")
    if confidential is True or offers_shelter:
        for field in ("address", "phone"):
            if not _is_missing(record[field]):
                add(field, "a confidential record must not carry an address or phone; remove it")
        precision = record["location_precision"]
        if precision in LOCATION_PRECISIONS and precision not in CONFIDENTIAL_PRECISIONS:
            add(
                "location_precision",
                f"a confidential record must be located at its town, not {precision!r}",
            )

    source = record["source"]
    if not _is_missing(source) and not (
        _is_text(source)
        or (isinstance(source, list) and source and all(_is_text(s) for s in source))
    ):
        add("source", "must be a URL or document name, or a non-empty list of them")

    source_date = record["source_date"]
    if not _is_missing(source_date) and source_date != "undated":
        reason = _date_problem(source_date)
        if reason:
            add("source_date", f"{reason} (or 'undated'; put inferences in source_date_note)")
    last_verified = record["last_verified"]
    if not _is_missing(last_verified):
        reason = _date_problem(last_verified)
        if reason:
            add("last_verified", reason)
        elif _date_start(last_verified) > date.today():
            add("last_verified", f"{last_verified!r} is in the future")

    confidence = record["confidence"]
    if not _is_missing(confidence) and confidence not in CONFIDENCE_LEVELS:
        add("confidence", f"unknown grade {confidence!r}; use {', '.join(CONFIDENCE_LEVELS)}")
    status = record["status"]
    if not _is_missing(status) and status not in STATUSES:
        add("status", f"unknown status {status!r}; use {', '.join(STATUSES)}")

    codes = {level: record[f"adm{level}_pcode"] for level in (1, 2, 3)}
    for level, code in codes.items():
        if _is_missing(code):
            continue
        if not _is_text(code) or not _PCODE[level].match(code):
            add(f"adm{level}_pcode", f"{code!r} is not an ADM{level} P-code")
        elif level > 1 and _is_text(codes[level - 1]) and not code.startswith(codes[level - 1]):
            add(f"adm{level}_pcode", f"{code!r} is not inside adm{level - 1} {codes[level - 1]!r}")


def _check_geometry(
    record: Mapping[str, Any], geom: Any, country: BaseGeometry | None, add: Any
) -> None:
    precision = record["location_precision"]
    has_geom = geom is not None and not (isinstance(geom, float) and math.isnan(geom))
    if has_geom and getattr(geom, "is_empty", False):
        has_geom = False
    if not has_geom:
        if record["type"] not in NULL_GEOMETRY_TYPES:
            add(
                "geometry",
                "no location; only a hotline may have none (locate others at least at "
                "their town or region)",
            )
        if not _is_missing(precision):
            add("location_precision", "must be null when the record has no geometry")
        return
    if _is_missing(precision):
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
    if _is_missing(record["location_source"]):
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


# --------------------------------------------------------------------------- outputs


def public_mask(frame: pd.DataFrame) -> np.ndarray:
    """True for the rows that may be shown publicly: those explicitly ``confidential: false``.

    Fails closed: a row whose ``confidential`` value is missing or anything but a false
    boolean is confidential, and without a ``confidential`` column every row is.  The one
    confidentiality rule of Orienter: every public output goes through this mask (or
    :func:`public_providers`, which applies it).
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a (Geo)DataFrame, got {type(frame).__name__}")
    if "confidential" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    keep = frame["confidential"].map(lambda v: v is False or (isinstance(v, np.bool_) and not v))
    return keep.to_numpy(dtype=bool)


def public_providers(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The records that may be shown publicly (:func:`public_mask`), as a copy."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError(f"gdf must be a GeoDataFrame, got {type(gdf).__name__}")
    return gdf[public_mask(gdf)].copy()


def provider_summary(gdf: gpd.GeoDataFrame) -> dict[str, Any]:
    """Counts for a short report: total, public, confidential, by precision and by type."""
    public = public_providers(gdf)
    precision = gdf["location_precision"].map(lambda v: "none" if _is_missing(v) else str(v))
    return {
        "total": len(gdf),
        "public": len(public),
        "confidential": len(gdf) - len(public),
        "by_precision": precision.value_counts().sort_index().to_dict(),
        "by_type": gdf["type"].astype(str).value_counts().sort_index().to_dict(),
    }


def to_feature_collection(gdf: gpd.GeoDataFrame) -> dict[str, Any]:
    """The records as a GeoJSON FeatureCollection (dict), fields in file order."""
    if gdf.crs is not None and gdf.crs != GEOGRAPHIC_CRS:
        raise ValueError(f"gdf must be in EPSG:4326, got {gdf.crs}; use .to_crs(4326)")
    columns = [c for c in PROVIDER_COLUMNS if c in gdf.columns] + [
        c for c in gdf.columns if c not in PROVIDER_COLUMNS and c != gdf.geometry.name
    ]
    features = []
    for _, row in gdf.iterrows():
        props = {c: _json_value(row[c]) for c in columns}
        geom = row.geometry
        geometry = None if geom is None or geom.is_empty else mapping(geom)
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    return {"type": "FeatureCollection", "features": features}


def write_providers(
    gdf: gpd.GeoDataFrame, path: str | os.PathLike[str], *, backup: bool = True
) -> Path | None:
    """Write ``gdf`` to ``path`` as GeoJSON, atomically, keeping the previous file.

    The new file is written to a temporary file in the same folder and moved over
    ``path`` with :func:`os.replace`, so a reader never sees a half-written file.  When
    ``path`` already exists and ``backup`` is true, it is first copied to
    ``<name>.<YYYYmmddTHHMMSS>.bak`` next to it.

    Returns
    -------
    pathlib.Path or None
        The backup file, or None when there was nothing to back up.
    """
    path = Path(path)
    text = json.dumps(to_feature_collection(gdf), ensure_ascii=False, indent=1) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        backup_path = None
        if backup and path.exists():
            backup_path = _backup_name(path)
            shutil.copy2(path, backup_path)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return backup_path


def _backup_name(path: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    candidate = path.with_name(f"{path.name}.{stamp}.bak")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{stamp}-{n}.bak")
        n += 1
    return candidate


# --------------------------------------------------------------------------- helpers


def _json_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item") and not isinstance(value, str):
        return value.item()
    return value


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and not value.strip():
        return True
    return isinstance(value, list) and not value


def _date_problem(value: Any) -> str | None:
    match = _DATE.match(value) if isinstance(value, str) else None
    if not match:
        return f"{value!r} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)"
    year, month, day = (int(g) if g else 1 for g in match.groups())
    try:
        date(year, month, day)
    except ValueError:
        return f"{value!r} is not a real date"
    return None


def _date_start(value: str) -> date:
    year, month, day = (int(g) if g else 1 for g in _DATE.match(value).groups())  # type: ignore[union-attr]
    return date(year, month, day)


def _normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", " ", ascii_only.lower()).strip()


def _place_key(geom: Any) -> Any:
    if isinstance(geom, Point) and not geom.is_empty:
        return (round(geom.x, 4), round(geom.y, 4))
    return None


def _problem_order(problem: DataProblem) -> tuple[int, str]:
    return (problem.row if problem.row is not None else 0, problem.field or "")
