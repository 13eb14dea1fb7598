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
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from geo.crs import GEOGRAPHIC_CRS
from geo.errors import DataFileError, DataProblem, DataValidationError
from geo.provider_schema import (
    ADM1_2015,
    CONFIDENCE_LEVELS,
    CONFIDENTIAL_PRECISIONS,
    LIST_FIELDS,
    LOCALIZED_FIELDS,
    LOCATION_PRECISIONS,
    NULL_GEOMETRY_TYPES,
    PROVIDER_COLUMNS,
    PROVIDER_TYPES,
    REGIONS_2023_TO_ADM1_2015,
    REQUIRED_FIELDS,
    RESULT_STATUSES,
    SERVICES,
    STATUSES,
    is_missing,
    normalize_records,
)
from geo.provider_validation import find_possible_duplicates, validate_providers

__all__ = [
    "ADM1_2015",
    "CONFIDENCE_LEVELS",
    "CONFIDENTIAL_PRECISIONS",
    "LIST_FIELDS",
    "LOCALIZED_FIELDS",
    "LOCATION_PRECISIONS",
    "NULL_GEOMETRY_TYPES",
    "PROVIDER_COLUMNS",
    "PROVIDER_TYPES",
    "REGIONS_2023_TO_ADM1_2015",
    "REQUIRED_FIELDS",
    "RESULT_STATUSES",
    "SERVICES",
    "STATUSES",
    "atomic_write_text",
    "find_possible_duplicates",
    "from_feature_collection",
    "localized",
    "localized_frame",
    "provider_summary",
    "public_mask",
    "public_providers",
    "read_providers",
    "to_feature_collection",
    "validate_providers",
    "write_providers",
]


# --------------------------------------------------------------------------- reading


def read_providers(
    path: str | os.PathLike[str],
    *,
    country: BaseGeometry | None = None,
    as_of: date | None = None,
) -> gpd.GeoDataFrame:
    """Read and validate the provider directory.

    Parameters
    ----------
    path
        A GeoJSON FeatureCollection of provider records (``docs/providers.md``).
    country
        Mali's outline in EPSG:4326; when given, points outside it are problems.
    as_of
        Today's date; when given, a ``last_verified`` date after it is a problem.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per feature, columns :data:`PROVIDER_COLUMNS` (plus any extra
        properties) and geometry, EPSG:4326.  Every field has one shape whatever the
        file wrote (:func:`geo.provider_schema.normalize_records`): list fields hold
        lists of text (a ``source`` string is a one-element list), a missing ``status``
        is ``reported``, so the frame can be written with ``to_parquet``.

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
    problems += validate_providers(gdf, country=country, as_of=as_of, _skip_geometry_rows=skip)
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

    Returns the frame (fields normalised, :func:`geo.provider_schema.normalize_records`)
    and the problems found while parsing geometries.
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
    frame = normalize_records(pd.DataFrame(rows))
    gdf = gpd.GeoDataFrame(
        frame, geometry=gpd.GeoSeries(geoms, crs=GEOGRAPHIC_CRS), crs=GEOGRAPHIC_CRS
    )
    return gdf, problems


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


def localized(record: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """``record`` with its display fields (:data:`LOCALIZED_FIELDS`) in ``lang``: as
    written (French) for ``fr``, their ``<field>_en`` version for ``en`` where the
    directory has one.  The ``*_en`` keys are dropped."""
    if lang not in ("fr", "en"):
        raise ValueError(f"lang must be 'fr' or 'en', got {lang!r}")
    out = {
        k: v for k, v in record.items() if not (k.endswith("_en") and k[:-3] in LOCALIZED_FIELDS)
    }
    if lang == "en":
        for field in LOCALIZED_FIELDS:
            english = record.get(f"{field}_en")
            if not is_missing(english):
                out[field] = english
    return out


def localized_frame(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """:func:`localized` for every row of ``frame`` (a copy)."""
    if lang not in ("fr", "en"):
        raise ValueError(f"lang must be 'fr' or 'en', got {lang!r}")
    out = frame.copy()
    for field in LOCALIZED_FIELDS:
        english = f"{field}_en"
        if lang == "en" and english in out.columns and field in out.columns:
            use = out[english].map(lambda v: not is_missing(v))
            out[field] = out[field].where(~use, out[english])
    return out.drop(columns=[f"{f}_en" for f in LOCALIZED_FIELDS], errors="ignore")


def provider_summary(gdf: gpd.GeoDataFrame) -> dict[str, Any]:
    """Counts for a short report: total, public, confidential, by precision, type, status."""
    public = public_providers(gdf)
    precision = gdf["location_precision"].map(lambda v: "none" if is_missing(v) else str(v))
    status = gdf["status"].map(lambda v: "none" if is_missing(v) else str(v))
    return {
        "total": len(gdf),
        "public": len(public),
        "confidential": len(gdf) - len(public),
        "by_precision": precision.value_counts().sort_index().to_dict(),
        "by_type": gdf["type"].astype(str).value_counts().sort_index().to_dict(),
        "by_status": {s: int((status == s).sum()) for s in STATUSES if (status == s).any()},
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
    text = json.dumps(to_feature_collection(gdf), ensure_ascii=False, indent=1) + "\n"
    return atomic_write_text(path, text, backup=backup)


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, backup: bool = True
) -> Path | None:
    """Write ``text`` to ``path`` atomically (UTF-8), keeping the previous file as a backup.

    The text goes to a temporary file in the same folder, which :func:`os.replace` moves
    over ``path``, so a reader never sees a half-written file and a failure leaves the
    old file whole.  When ``path`` exists and ``backup`` is true it is first copied to
    ``<name>.<YYYYmmddTHHMMSS>.bak``.

    Returns
    -------
    pathlib.Path or None
        The backup file, or None when there was nothing to back up.
    """
    path = Path(path)
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
    if isinstance(value, list | tuple | np.ndarray):
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


def _problem_order(problem: DataProblem) -> tuple[int, str]:
    return (problem.row if problem.row is not None else 0, problem.field or "")
