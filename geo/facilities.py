"""Health facilities from WHO/KEMRI (Maina et al. 2019) and healthsites.io (OSM) in one schema.

Both loaders return a GeoDataFrame in EPSG:4326 with the columns of
:data:`FACILITY_COLUMNS`:

``facility_id``
    ``who:<10 hex>`` (hash of country, région, name, type and coordinates, stable across
    re-reads) or ``osm:<node|way>/<osm_id>``.
``name``, ``facility_type``, ``facility_type_raw``
    ``facility_type`` is one of :data:`FACILITY_TYPES`; ``facility_type_raw`` keeps the
    source's own value (several joined with ``"; "`` after a merge).
``adm1_name``
    Région as the source spells it (WHO ``Admin1``); NA for healthsites, which has none.
``source``, ``location_source``
    Dataset, and how the point was located (WHO ``LL source``: GPS, Geonames …; for OSM
    the element type).
``ownership``, ``operator``, ``contact_number``, ``opening_hours``
    As given (mostly empty).
``merged_ids``
    Ids of records merged into this row (``"; "``-joined, empty string when none).

Records at the same point (within ``merge_within_m``, 1 m by default) whose types agree
(equal, both hospitals, or one ``other``) are merged into one row that keeps the most
specific type (:data:`TYPE_RANK`); a hospital and a CSRéf on one point stay two rows.
In the WHO/KEMRI file, Bamako's three CHUs appear twice, as "Hospital" and "University
Hospital", 0.11 m apart (latitudes differ by 1e-6°), so a test for *identical*
coordinates would miss them.

Matching the two lists' records of one place: :func:`geo.facility_merge.merge_facilities`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from geo._tables import require_columns, text_column
from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS, ensure_geographic
from geo.errors import DataFileError, DataProblem, DataValidationError

__all__ = [
    "FACILITY_COLUMNS",
    "FACILITY_TYPES",
    "HEALTHSITES_SOURCE",
    "TYPE_RANK",
    "WHO_SOURCE",
    "read_healthsites",
    "read_who_facilities",
    "same_kind",
]

logger = logging.getLogger(__name__)

WHO_SOURCE = "WHO/KEMRI (Maina et al. 2019)"
HEALTHSITES_SOURCE = "healthsites.io (OSM)"

FACILITY_COLUMNS = [
    "facility_id",
    "name",
    "facility_type",
    "facility_type_raw",
    "adm1_name",
    "source",
    "location_source",
    "ownership",
    "operator",
    "contact_number",
    "opening_hours",
    "merged_ids",
    "geometry",
]

#: Normalised facility types, from the most specific/highest level of care down.
FACILITY_TYPES = (
    "university_hospital",
    "regional_hospital",
    "hospital",
    "csref",
    "polyclinic",
    "cscom",
    "clinic",
    "doctors",
    "dentist",
    "pharmacy",
    "other",
)
#: Rank used to keep one record when several sit at the same point (higher wins).
TYPE_RANK = {t: len(FACILITY_TYPES) - i for i, t in enumerate(FACILITY_TYPES)}

_WHO_TYPES = {
    "community health centre": "cscom",
    "community health center": "cscom",
    "cscom": "cscom",
    "referral health centre": "csref",
    "referral health center": "csref",
    "csref": "csref",
    "hospital": "hospital",
    "district hospital": "hospital",
    "regional hospital": "regional_hospital",
    "university hospital": "university_hospital",
    "teaching hospital": "university_hospital",
    "clinic": "clinic",
    "health clinic": "clinic",
    "polyclinic": "polyclinic",
}
_WHO_REQUIRED = ["Facility name", "Facility type"]
_WHO_COORDS = ["Lat", "Long"]
_HS_REQUIRED = ["osm_id", "amenity"]

#: healthsites.io: name patterns checked (in this order) before the amenity tag, because
#: Malian mappers tag CSComs as clinic, doctors or hospital alike.
_HS_NAME_RULES = (
    (re.compile(r"\bchu\b|hospitalier universitaire", re.I), "university_hospital"),
    (re.compile(r"h[oô]pital r[eé]gional", re.I), "regional_hospital"),
    (re.compile(r"\bcs\s?r[eé]f\b|sant[eé] de r[eé]f[eé]rence", re.I), "csref"),
    (re.compile(r"\bcs\s?com\b|sant[eé] communautaire", re.I), "cscom"),
    (re.compile(r"polyclini", re.I), "polyclinic"),
)
_HS_TAGS = {
    "hospital": "hospital",
    "clinic": "clinic",
    "doctors": "doctors",
    "doctor": "doctors",
    "dentist": "dentist",
    "pharmacy": "pharmacy",
    "centre": "clinic",
}


# ----------------------------------------------------------------------------- reading


def _read_any(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataFileError(f"{path}: {what} file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        if suffix in (".xlsx", ".xls"):
            return pd.read_excel(path, dtype=str)
        gdf = gpd.read_file(path)
    except Exception as exc:  # pandas/pyogrio raise several types for corrupt files
        raise DataFileError(f"{path}: cannot be read ({exc})") from exc
    return ensure_geographic(gdf, source=str(path)) if gdf.crs is not None else gdf


def _points(
    df: pd.DataFrame, lat_col: str | None, lon_col: str | None, path: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Longitudes, latitudes and a has-coordinates mask; bad values raise one error.

    Problems name the file line for tables (header = line 1) and the feature number
    (from 0) for vector layers.
    """
    problems: list[DataProblem] = []
    rows = df.index.to_numpy() + (2 if lat_col is not None else 0)
    if lat_col is not None and lon_col is not None:
        raw = {"lat": df[lat_col], "lon": df[lon_col]}
        lat = pd.to_numeric(raw["lat"], errors="coerce").to_numpy(dtype="float64")
        lon = pd.to_numeric(raw["lon"], errors="coerce").to_numpy(dtype="float64")
        for field, values, col in (("lat", lat, lat_col), ("lon", lon, lon_col)):
            unparsed = np.isnan(values) & raw[field].notna().to_numpy()
            for i in np.flatnonzero(unparsed):
                problems.append(
                    DataProblem(int(rows[i]), col, f"{raw[field].iloc[i]!r} is not a number")
                )
    else:
        geoms = gpd.GeoSeries(df.geometry)
        missing = geoms.isna() | geoms.is_empty
        points = geoms.where(geoms.geom_type == "Point", geoms.representative_point())
        lon = np.where(missing, np.nan, points.x.to_numpy(dtype="float64", na_value=np.nan))
        lat = np.where(missing, np.nan, points.y.to_numpy(dtype="float64", na_value=np.nan))
    has = np.isfinite(lat) & np.isfinite(lon) & ~((lat == 0) & (lon == 0))
    bad = has & ((np.abs(lat) > 90) | (np.abs(lon) > 180))
    for i in np.flatnonzero(bad):
        problems.append(
            DataProblem(int(rows[i]), "coordinates", f"lat {lat[i]}, lon {lon[i]} out of range")
        )
    if problems:
        raise DataValidationError(str(path), problems)
    return lon, lat, has


def _drop_unlocated(df: pd.DataFrame, has: np.ndarray, path: Path) -> pd.DataFrame:
    dropped = int((~has).sum())
    if dropped:
        warnings.warn(
            f"{path.name}: {dropped} facilit{'y' if dropped == 1 else 'ies'} without "
            "coordinates dropped (missing, empty or 0,0)",
            stacklevel=3,
        )
    return df.loc[has].reset_index(drop=True)


def _unique_ids(ids: pd.Series) -> pd.Series:
    counts = ids.groupby(ids).cumcount()
    return ids.where(counts == 0, ids + "-" + (counts + 1).astype(str))


def _frame(data: dict[str, pd.Series | str], lon: np.ndarray, lat: np.ndarray) -> gpd.GeoDataFrame:
    out = gpd.GeoDataFrame(data, geometry=gpd.points_from_xy(lon, lat), crs=GEOGRAPHIC_CRS)
    for column in FACILITY_COLUMNS[:-1]:
        values = out[column] if column in out else pd.Series(pd.NA, index=out.index)
        out[column] = values.astype("string")
    out["merged_ids"] = out["merged_ids"].fillna("")
    return out[FACILITY_COLUMNS].reset_index(drop=True)


# ----------------------------------------------------------------------------- merging

#: Columns a merged row takes from the other records when its own value is missing.
_FILLABLE = (
    "name",
    "adm1_name",
    "location_source",
    "ownership",
    "operator",
    "contact_number",
    "opening_hours",
)


_HOSPITALS = {"hospital", "regional_hospital", "university_hospital"}


def same_kind(a: str, b: str) -> bool:
    """Whether two types can describe one facility (the same, a refinement, or unknown)."""
    return a == b or "other" in (a, b) or (a in _HOSPITALS and b in _HOSPITALS)


def _merge_colocated(gdf: gpd.GeoDataFrame, tolerance_m: float, name: str) -> gpd.GeoDataFrame:
    """Merge records of the same kind within ``tolerance_m`` of each other into one row.

    Records closer than ``tolerance_m`` are linked when their types agree (see
    :func:`same_kind`); each linked group keeps its most specific record.  A hospital
    and a CSRéf mapped on one point stay two facilities.
    """
    if len(gdf) < 2:
        return gdf
    xy = gdf.geometry.to_crs(METRIC_CRS).get_coordinates().to_numpy()
    pairs = cKDTree(xy).query_pairs(tolerance_m, output_type="ndarray")
    if len(pairs) == 0:
        return gdf
    parent = np.arange(len(gdf))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    types = gdf["facility_type"].astype(str).to_numpy()
    apart = 0
    for i, j in pairs:
        if not same_kind(types[i], types[j]):
            apart += 1
            continue
        ri, rj = root(int(i)), root(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    groups = np.array([root(i) for i in range(len(gdf))])
    out = gdf.copy()
    drop: list[int] = []
    merged_names: list[str] = []
    for group in np.unique(groups[np.bincount(groups, minlength=len(gdf))[groups] > 1]):
        members = np.flatnonzero(groups == group)
        ranks = [TYPE_RANK[str(gdf["facility_type"].iloc[m])] for m in members]
        keep = int(members[int(np.argmax(ranks))])  # first of the most specific
        others = [int(m) for m in members if m != keep]
        raw_types = list(dict.fromkeys(gdf["facility_type_raw"].iloc[[keep, *others]].dropna()))
        out.iloc[keep, out.columns.get_loc("facility_type_raw")] = "; ".join(raw_types)
        ids = [str(gdf["facility_id"].iloc[m]) for m in others]
        out.iloc[keep, out.columns.get_loc("merged_ids")] = "; ".join(ids)
        for column in _FILLABLE:
            if pd.isna(out[column].iloc[keep]):
                filled = gdf[column].iloc[others].dropna()
                if len(filled):
                    out.iloc[keep, out.columns.get_loc(column)] = filled.iloc[0]
        drop.extend(others)
        merged_names.append(" = ".join(str(gdf["name"].iloc[m]) for m in [keep, *others]))
    if apart:
        logger.info("%s: %d pair(s) at one point kept apart (types differ)", name, apart)
    if not drop:
        return gdf
    warnings.warn(
        f"{name}: {len(drop)} duplicate record(s) at the same point (within {tolerance_m:g} m) "
        f"merged into {len(merged_names)}: " + "; ".join(merged_names),
        stacklevel=3,
    )
    return out.drop(index=out.index[drop]).reset_index(drop=True)


def _check_tolerance(value: float | None, name: str) -> None:
    if value is not None and (not isinstance(value, int | float) or not value >= 0):
        raise ValueError(f"{name} must be a distance in metres >= 0 or None, got {value!r}")


# ----------------------------------------------------------------------------- WHO/KEMRI


def _who_type(raw: pd.Series, path: Path) -> pd.Series:
    key = raw.str.lower().str.replace(r"\s+", " ", regex=True)
    out = key.map(_WHO_TYPES).fillna("other").astype("string")
    unknown = sorted(set(raw[out.eq("other") & raw.notna()]))
    if unknown:
        warnings.warn(
            f"{path.name}: facility type(s) {unknown} not recognised, typed 'other'",
            stacklevel=3,
        )
    return out


def _who_id(df: pd.DataFrame, lon: np.ndarray, lat: np.ndarray) -> pd.Series:
    keys = (
        text_column(df, "Country").fillna("")
        + "|"
        + text_column(df, "Admin1").fillna("")
        + "|"
        + text_column(df, "Facility name").fillna("")
        + "|"
        + text_column(df, "Facility type").fillna("")
        + "|"
        + pd.Series([f"{y:.6f},{x:.6f}" for x, y in zip(lon, lat, strict=True)], index=df.index)
    )
    ids = keys.map(lambda k: "who:" + hashlib.sha1(k.encode("utf-8")).hexdigest()[:10])
    return _unique_ids(ids.astype("string"))


def read_who_facilities(
    path: str | Path,
    *,
    country: str | None = None,
    merge_within_m: float | None = 1.0,
) -> gpd.GeoDataFrame:
    """Read the WHO/KEMRI public health facility list (Maina et al. 2019).

    Parameters
    ----------
    path
        CSV/XLSX with ``Country, Admin1, Facility name, Facility type, Ownership, Lat,
        Long, LL source`` or the GeoJSON of the same (point geometry instead of Lat/Long).
    country
        Keep only rows whose ``Country`` equals this (case-insensitive); all when None.
    merge_within_m
        Records closer than this (metres) are merged, keeping the most specific type;
        None keeps every record.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`FACILITY_COLUMNS`, EPSG:4326, one Point per facility.  ``Community Health
        Centre`` is ``cscom``, ``Referral Health Centre`` ``csref``; types the table does
        not know become ``other`` (with a warning).

    Raises
    ------
    DataFileError
        The file is missing or unreadable, or lacks ``Facility name``, ``Facility type``
        or (tables) ``Lat``/``Long``.
    DataValidationError
        Non-numeric or out-of-range coordinates; every bad row is listed.

    Warns
    -----
    UserWarning
        Rows without coordinates (dropped, with their number) and merged duplicates.
    """
    path = Path(path)
    _check_tolerance(merge_within_m, "merge_within_m")
    df = _read_any(path, "WHO/KEMRI facility")
    is_table = not isinstance(df, gpd.GeoDataFrame)
    require_columns(
        df, _WHO_REQUIRED + (_WHO_COORDS if is_table else []), path, "WHO/KEMRI facility"
    )
    if country is not None:
        require_columns(df, ["Country"], path, "WHO/KEMRI facility")
        df = df[(text_column(df, "Country").str.casefold() == country.casefold()).fillna(False)]
    lon, lat, has = _points(df, "Lat", "Long", path) if is_table else _points(df, None, None, path)
    df = _drop_unlocated(df, has, path)
    lon, lat = lon[has], lat[has]
    raw_type = text_column(df, "Facility type")
    out = _frame(
        {
            "facility_id": _who_id(df, lon, lat),
            "name": text_column(df, "Facility name"),
            "facility_type": _who_type(raw_type, path),
            "facility_type_raw": raw_type,
            "adm1_name": text_column(df, "Admin1"),
            "source": WHO_SOURCE,
            "location_source": text_column(df, "LL source"),
            "ownership": text_column(df, "Ownership"),
        },
        lon,
        lat,
    )
    if merge_within_m is not None:
        out = _merge_colocated(out, merge_within_m, path.name)
    return out


# ----------------------------------------------------------------------------- healthsites


def _healthsites_type(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    amenity, healthcare, name = (
        text_column(df, "amenity"),
        text_column(df, "healthcare"),
        text_column(df, "name"),
    )
    raw = amenity.fillna("healthcare=" + healthcare)
    tag = amenity.str.lower().map(_HS_TAGS).fillna(healthcare.str.lower().map(_HS_TAGS))
    types = []
    for t, n in zip(tag, name.fillna(""), strict=True):
        chosen = t if isinstance(t, str) else "other"
        if chosen != "pharmacy":
            for pattern, by_name in _HS_NAME_RULES:
                if pattern.search(n):
                    chosen = by_name
                    break
        types.append(chosen)
    return pd.Series(types, index=df.index, dtype="string"), raw


def read_healthsites(path: str | Path, *, merge_within_m: float | None = 1.0) -> gpd.GeoDataFrame:
    """Read a healthsites.io (OpenStreetMap) export.

    Parameters
    ----------
    path
        GeoJSON/GeoPackage/Shapefile with ``osm_id``, ``amenity`` and usually
        ``osm_type, healthcare, name, operator, contact_number, opening_hours``.
        Non-point features (OSM ways) are reduced to a representative point.
    merge_within_m
        Records closer than this (metres) are merged (the same OSM object exported twice,
        or two objects on one point); None keeps every record.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`FACILITY_COLUMNS`, EPSG:4326.  ``facility_type`` comes from the name when
        it says CHU, hôpital régional, CSRéf/centre de santé de référence, CSCom/centre
        de santé communautaire or polyclinique (never for pharmacies), otherwise from
        ``amenity`` (or ``healthcare``); ``facility_type_raw`` is the ``amenity`` value.
        ``adm1_name`` is NA: the export has no région.

    Raises
    ------
    DataFileError
        The file is missing or unreadable, or lacks ``osm_id`` or ``amenity``.
    DataValidationError
        Out-of-range coordinates.
    """
    path = Path(path)
    _check_tolerance(merge_within_m, "merge_within_m")
    df = _read_any(path, "healthsites.io")
    require_columns(df, _HS_REQUIRED, path, "healthsites.io")
    if not isinstance(df, gpd.GeoDataFrame):
        raise DataFileError(f"{path}: healthsites.io file must be a vector layer (GeoJSON …)")
    df = df.reset_index(drop=True)
    lon, lat, has = _points(df, None, None, path)
    reduced = (df.geometry.geom_type != "Point").to_numpy()[has]
    df = _drop_unlocated(df, has, path)
    lon, lat = lon[has], lat[has]
    osm_type = text_column(df, "osm_type").fillna("node")
    osm_id = text_column(df, "osm_id").str.replace(r"\.0$", "", regex=True)
    location = "OpenStreetMap " + osm_type
    location = location.where(~reduced, location + ", reduced to a point")
    facility_type, raw = _healthsites_type(df)
    out = _frame(
        {
            "facility_id": _unique_ids("osm:" + osm_type + "/" + osm_id),
            "name": text_column(df, "name"),
            "facility_type": facility_type,
            "facility_type_raw": raw,
            "source": HEALTHSITES_SOURCE,
            "location_source": location,
            "operator": text_column(df, "operator"),
            "contact_number": text_column(df, "contact_number"),
            "opening_hours": text_column(df, "opening_hours"),
        },
        lon,
        lat,
    )
    if merge_within_m is not None:
        out = _merge_colocated(out, merge_within_m, path.name)
    return out
