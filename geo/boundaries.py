"""Administrative boundaries (ADM0–ADM3) in one schema.

Reads the OCHA COD-AB schema (``admin1Pcod``, ``admin1Name`` …) and the geoBoundaries
schema (``shapeName``, ``shapeISO``, ``shapeID``, ``shapeType``) into
``pcode, name, level, parent_pcode, geometry`` in EPSG:4326.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from geo.crs import check_same_crs, ensure_geographic
from geo.errors import DataFileError, DataProblem, DataValidationError

__all__ = ["BOUNDARY_COLUMNS", "assign_parents", "read_boundaries"]

BOUNDARY_COLUMNS = ["pcode", "name", "level", "parent_pcode", "geometry"]
_OCHA_PCODE = re.compile(r"^admin(\d)Pcod$")


def _read_file(path: Path) -> gpd.GeoDataFrame:
    if not path.is_file():
        raise DataFileError(f"{path}: boundary file not found")
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for corrupt files
        raise DataFileError(f"{path}: cannot be read as a vector layer ({exc})") from exc
    if gdf.empty:
        raise DataFileError(f"{path}: the layer holds no features")
    return gdf


def _from_ocha(gdf: gpd.GeoDataFrame, level: int | None, path: Path) -> gpd.GeoDataFrame:
    levels = sorted(int(m.group(1)) for c in gdf.columns if (m := _OCHA_PCODE.match(c)))
    lvl = max(levels) if level is None else level
    pcol, ncol = f"admin{lvl}Pcod", f"admin{lvl}Name"
    missing = [c for c in (pcol, ncol) if c not in gdf.columns]
    if missing:
        raise DataFileError(f"{path}: missing column(s) {', '.join(missing)} for level {lvl}")
    parent = gdf[f"admin{lvl - 1}Pcod"] if lvl > 0 and f"admin{lvl - 1}Pcod" in gdf else None
    return gpd.GeoDataFrame(
        {
            "pcode": gdf[pcol].astype("string"),
            "name": gdf[ncol].astype("string"),
            "level": lvl,
            "parent_pcode": parent.astype("string") if parent is not None else pd.NA,
        },
        geometry=gdf.geometry.values,
        crs=gdf.crs,
    )


def _from_geoboundaries(gdf: gpd.GeoDataFrame, level: int | None, path: Path) -> gpd.GeoDataFrame:
    shape_type = gdf["shapeType"].dropna().astype(str).unique() if "shapeType" in gdf else []
    found = [int(t[3:]) for t in shape_type if t.upper().startswith("ADM") and t[3:].isdigit()]
    lvl = level if level is not None else (found[0] if found else None)
    if lvl is None:
        raise DataFileError(f"{path}: geoBoundaries layer without shapeType; pass level=")
    pcode = gdf["shapeISO"] if "shapeISO" in gdf and gdf["shapeISO"].notna().all() else None
    if pcode is None or pcode.duplicated().any() or (pcode.astype(str).str.strip() == "").any():
        pcode = gdf["shapeID"]
    return gpd.GeoDataFrame(
        {
            "pcode": pcode.astype("string"),
            "name": gdf["shapeName"].astype("string"),
            "level": lvl,
            "parent_pcode": pd.Series(pd.NA, index=gdf.index, dtype="string"),
        },
        geometry=gdf.geometry.values,
        crs=gdf.crs,
    )


def _validate(out: gpd.GeoDataFrame, path: Path) -> list[DataProblem]:
    problems: list[DataProblem] = []
    for i, row in enumerate(out.itertuples(index=False)):
        if pd.isna(row.pcode) or not str(row.pcode).strip():
            problems.append(DataProblem(i, "pcode", "empty P-code"))
        if pd.isna(row.name) or not str(row.name).strip():
            problems.append(DataProblem(i, "name", "empty name", ident=str(row.pcode)))
        if row.geometry is None or row.geometry.is_empty:
            problems.append(DataProblem(i, "geometry", "missing geometry", ident=str(row.pcode)))
        elif row.geometry.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(
                DataProblem(
                    i,
                    "geometry",
                    f"{row.geometry.geom_type} is not a polygon",
                    ident=str(row.pcode),
                )
            )
    dup = out["pcode"][out["pcode"].duplicated(keep=False) & out["pcode"].notna()]
    for i, code in dup.items():
        problems.append(DataProblem(int(i), "pcode", f"duplicate P-code {code}"))
    return problems


def read_boundaries(path: str | Path, *, level: int | None = None) -> gpd.GeoDataFrame:
    """Read one administrative level into ``pcode, name, level, parent_pcode, geometry``.

    Parameters
    ----------
    path
        GeoJSON, GeoPackage or Shapefile in the OCHA COD-AB or geoBoundaries schema.
    level
        Administrative level (0 country … 3 commune).  Detected from the columns when None.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per unit; invalid geometries are repaired with ``make_valid``.

    Raises
    ------
    DataFileError
        The file is missing, unreadable, empty or lacks the P-code/name columns.
    DataValidationError
        Empty or duplicate P-codes, empty names, missing or non-polygon geometries.
    """
    path = Path(path)
    if level is not None and not 0 <= level <= 4:
        raise ValueError(f"level must be 0 to 4, got {level!r}")
    gdf = _read_file(path)
    if any(_OCHA_PCODE.match(c) for c in gdf.columns):
        out = _from_ocha(gdf, level, path)
    elif "shapeName" in gdf.columns:
        out = _from_geoboundaries(gdf, level, path)
    else:
        raise DataFileError(
            f"{path}: neither the OCHA COD-AB schema (admin<N>Pcod, admin<N>Name) nor the "
            f"geoBoundaries schema (shapeName, shapeISO/shapeID); columns are {list(gdf.columns)}"
        )
    problems = _validate(out, path)
    if problems:
        raise DataValidationError(str(path), problems)
    invalid = ~out.geometry.is_valid
    if invalid.any():
        out.loc[invalid, "geometry"] = shapely.make_valid(out.geometry[invalid].values)
    out = ensure_geographic(out, source=str(path))
    return out[BOUNDARY_COLUMNS].reset_index(drop=True)


def assign_parents(child: gpd.GeoDataFrame, parent: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Fill ``parent_pcode`` of ``child`` from the ``parent`` unit holding each unit's inner point.

    Used for geoBoundaries layers, which carry no parent codes.  Units whose inner point
    falls in no parent keep ``parent_pcode`` empty.
    """
    check_same_crs(child, parent, what="assign_parents")
    points = gpd.GeoDataFrame(geometry=child.geometry.representative_point(), crs=child.crs)
    joined = gpd.sjoin(points, parent[["pcode", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    out = child.copy()
    out["parent_pcode"] = joined["pcode"].reindex(out.index).astype("string")
    return out
