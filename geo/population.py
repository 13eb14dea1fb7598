"""Population: gridded rasters (density or count) and tables keyed on admin P-codes.

Rasters are read into :class:`PopulationRaster`, whose ``counts`` are always **people
per cell**, whatever the file holds:

* *count* rasters (WorldPop ``*_ppp_*`` at 100 m or 1 km, GHSL, HRSL) are used as they are;
* *density* rasters (people per km², like the shared WorldPop 10 arc-minute file or
  WorldPop ``*_pd_*``) are multiplied by each cell's true area in km².  Cells of a
  lon/lat grid shrink towards the poles (at 15° N a 10′ cell is about 330 km², at
  25° N about 310 km²), so the area is computed on the ellipsoid, row by row.

Tables (census or estimates per région/cercle/commune) are read into
``pcode, level, name, population``.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from pyproj import CRS, Transformer

from geo._tables import read_table
from geo.crs import GEOGRAPHIC_CRS
from geo.errors import DataFileError, DataProblem, DataValidationError

__all__ = [
    "PopulationRaster",
    "cell_areas_km2",
    "population_points",
    "read_population_raster",
    "read_population_table",
]

logger = logging.getLogger(__name__)

RasterKind = Literal["density", "count"]

#: Peak densities (people per km², over one cell) that real populated grids reach.  Used
#: only when neither the file name nor the metadata says whether a raster holds counts.
_PLAUSIBLE_PEAK_DENSITY_KM2 = (50.0, 200_000.0)
_COUNT_TOKENS = {"ppp", "count", "counts", "cnt", "ppc"}
_DENSITY_TOKENS = {"density", "dens", "pd", "ppkm", "ppkm2", "perkm2"}
_DENSITY_META = re.compile(r"km2|km²|km\^2|km\*\*2|per\s+km|/\s*km|densit", re.IGNORECASE)
_COUNT_META = re.compile(
    r"\bcounts?\b|(people|persons|population)\s+per\s+(pixel|cell|grid)", re.IGNORECASE
)
_EQUAL_AREA_METHODS = ("equal area", "mollweide", "sinusoidal", "equal earth", "eckert iv")


@dataclass(frozen=True, eq=False)
class PopulationRaster:
    """A population grid as people per cell.

    Attributes
    ----------
    counts
        2-D float64 array, people per cell; NaN where the source has no data.
    transform
        Affine transform from (col, row) to the raster CRS (cell corners).
    crs
        CRS of the grid (``pyproj.CRS``).
    kind_detected
        What the file held: ``"density"`` (people per km², converted with true cell
        areas) or ``"count"`` (people per cell, used as is).
    source
        File name the grid was read from.
    kind_rule
        How ``kind_detected`` was decided: ``"argument"``, ``"file name"``,
        ``"metadata"`` or ``"values"``.
    """

    counts: np.ndarray
    transform: Affine
    crs: CRS
    kind_detected: RasterKind
    source: str
    kind_rule: str = field(default="argument")

    @property
    def total(self) -> float:
        """Total population of the grid (people), NaN cells ignored."""
        return float(np.nansum(self.counts))

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the grid."""
        return (int(self.counts.shape[0]), int(self.counts.shape[1]))


# ----------------------------------------------------------------------------- areas


def _zone_area(phi: np.ndarray, a: float, e2: float) -> np.ndarray:
    """Ellipsoid area (m²) between the equator and latitude ``phi`` (rad), per radian of lon."""
    b2 = a * a * (1.0 - e2)
    s = np.sin(phi)
    if e2 == 0.0:
        return b2 * s
    e = math.sqrt(e2)
    return b2 / 2.0 * (s / (1.0 - e2 * s * s) + np.log((1.0 + e * s) / (1.0 - e * s)) / (2.0 * e))


def _cell_xy(transform: Affine, col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grid (col, row) positions to CRS coordinates; fractional positions allowed."""
    t = transform
    return t.c + t.a * col + t.b * row, t.f + t.d * col + t.e * row


def _is_equal_area(crs: CRS) -> bool:
    op = crs.coordinate_operation
    name = (op.method_name if op is not None else "").lower().replace("-", " ")
    return any(m in name for m in _EQUAL_AREA_METHODS)


def _projected_areas_km2(transform: Affine, shape: tuple[int, int], crs: CRS) -> np.ndarray:
    """True cell areas of a grid in a projected CRS that is not equal-area (km²).

    Cell corners are projected, block by block, into a Lambert azimuthal equal-area CRS
    centred on the grid, and each quadrilateral's area is taken by the shoelace formula.
    """
    rows, cols = shape
    cx, cy = _cell_xy(transform, np.array(cols / 2.0), np.array(rows / 2.0))
    to_geo = Transformer.from_crs(crs, GEOGRAPHIC_CRS, always_xy=True)
    lon0, lat0 = to_geo.transform(cx, cy)
    laea = CRS.from_proj4(f"+proj=laea +lat_0={lat0} +lon_0={lon0} +ellps=WGS84 +units=m")
    to_laea = Transformer.from_crs(crs, laea, always_xy=True)
    out = np.empty(shape, dtype="float64")
    col_idx = np.arange(cols + 1, dtype="float64")
    block = max(1, 2_000_000 // (cols + 1))
    for r0 in range(0, rows, block):
        r1 = min(rows, r0 + block)
        rr, cc = np.meshgrid(np.arange(r0, r1 + 1, dtype="float64"), col_idx, indexing="ij")
        x, y = _cell_xy(transform, cc, rr)
        x, y = to_laea.transform(x, y)
        x0, y0 = x[:-1, :-1], y[:-1, :-1]
        x1, y1 = x[:-1, 1:], y[:-1, 1:]
        x2, y2 = x[1:, 1:], y[1:, 1:]
        x3, y3 = x[1:, :-1], y[1:, :-1]
        twice = (
            (x0 * y1 - x1 * y0) + (x1 * y2 - x2 * y1) + (x2 * y3 - x3 * y2) + (x3 * y0 - x0 * y3)
        )
        out[r0:r1] = np.abs(twice) / 2.0 / 1e6
    return out


def cell_areas_km2(transform: Affine, shape: tuple[int, int], crs: CRS | str | int) -> np.ndarray:
    """Area of every cell of a grid on the Earth's surface, in km².

    Parameters
    ----------
    transform
        Affine transform of the grid (north-up or south-up; no rotation).
    shape
        (rows, cols).
    crs
        CRS of the grid.  Geographic grids use the exact area of an ellipsoidal lat/lon
        quadrangle on the CRS's ellipsoid; equal-area projections use the planar area;
        other projections (UTM, Mercator …) project cell corners to an equal-area CRS.

    Returns
    -------
    numpy.ndarray
        float64 array of ``shape``, km² per cell.

    Examples
    --------
    >>> from affine import Affine
    >>> a = cell_areas_km2(Affine(1, 0, 0, 0, -1, 1), (1, 1), 4326)
    >>> round(float(a[0, 0]))  # a 1° x 1° cell at the equator
    12309
    """
    crs = CRS.from_user_input(crs)
    rows, cols = shape
    if transform.b != 0 or transform.d != 0:
        raise ValueError(
            f"transform {tuple(transform)[:6]} is rotated; warp the raster to a north-up grid first"
        )
    if crs.is_geographic:
        unit = crs.axis_info[0].unit_name.lower() if crs.axis_info else "degree"
        if "degree" not in unit:
            raise ValueError(
                f"geographic CRS {crs.name!r} has axis unit {unit!r}; expected degrees"
            )
        ell = crs.ellipsoid
        a = ell.semi_major_metre if ell is not None else 6378137.0
        inv_f = ell.inverse_flattening if ell is not None else 298.257223563
        f = 0.0 if not inv_f else 1.0 / inv_f
        e2 = f * (2.0 - f)
        lat_edges = transform.f + transform.e * np.arange(rows + 1, dtype="float64")
        if np.any(np.abs(lat_edges) > 90.0 + 1e-9):
            raise ValueError(f"grid rows reach latitude {lat_edges.min()}..{lat_edges.max()}")
        phi = np.radians(np.clip(lat_edges, -90.0, 90.0))
        zone = _zone_area(phi, a, e2)
        row_area = np.abs(np.diff(zone)) * math.radians(abs(transform.a)) / 1e6
        return np.repeat(row_area[:, None], cols, axis=1)
    if _is_equal_area(crs):
        metre = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
        cell = abs(transform.a * transform.e) * metre * metre / 1e6
        return np.full(shape, cell, dtype="float64")
    return _projected_areas_km2(transform, shape, crs)


# ----------------------------------------------------------------------------- raster


def _kind_from_name(name: str) -> RasterKind | None:
    tokens = set(re.split(r"[^a-z0-9]+", Path(name).stem.lower()))
    is_count, is_density = bool(tokens & _COUNT_TOKENS), bool(tokens & _DENSITY_TOKENS)
    if is_count == is_density:
        return None
    return "count" if is_count else "density"


def _kind_from_metadata(src: rasterio.io.DatasetReader) -> RasterKind | None:
    texts = [str(v) for v in src.tags().values()] + [str(v) for v in src.tags(1).values()]
    texts += [str(t) for t in (src.units or ()) if t] + [str(t) for t in src.descriptions if t]
    text = " ".join(texts)
    is_density, is_count = bool(_DENSITY_META.search(text)), bool(_COUNT_META.search(text))
    if is_count == is_density:
        return None
    return "count" if is_count else "density"


def _kind_from_values(values: np.ndarray, areas_km2: np.ndarray) -> RasterKind:
    """Count if reading the values as people per cell gives a plausible peak density.

    Read as counts, a grid's densest cell holds ``max(value / area_km2)`` people per km².
    Real populated grids peak between 50 and 200,000 people per km²; outside that range
    the values must be densities already.  Near 1 km² cells both readings coincide to
    within the cell area, so a wrong guess there costs at most that factor.
    """
    positive = np.isfinite(values) & (values > 0)
    if not positive.any():
        return "count"
    peak = float(np.max(values[positive] / areas_km2[positive]))
    low, high = _PLAUSIBLE_PEAK_DENSITY_KM2
    return "count" if low <= peak <= high else "density"


def read_population_raster(
    path: str | Path, *, kind: Literal["auto", "density", "count"] = "auto"
) -> PopulationRaster:
    """Read a population GeoTIFF (band 1) into people per cell.

    Parameters
    ----------
    path
        GeoTIFF with a CRS: a count grid (people per cell, WorldPop ``*_ppp_*``) or a
        density grid (people per km², WorldPop ``*_pd_*`` or the shared 10′ file).
    kind
        ``"count"``, ``"density"`` or ``"auto"``.  ``"auto"`` decides, in this order:

        1. from the file name: a token ``ppp``/``count`` means counts, ``density``/``pd``
           means densities (tokens are split on any non-alphanumeric character);
        2. from GeoTIFF tags, band units or descriptions mentioning ``km²``/``per km``/
           ``density`` (densities) or ``count``/``people per pixel`` (counts);
        3. from the values: read as counts, if the densest cell would hold between 50 and
           200,000 people per km² the grid holds counts, otherwise densities.  A warning
           says so; pass ``kind=`` to be sure.

    Returns
    -------
    PopulationRaster
        ``counts`` in people per cell (float64, NaN for nodata or negative cells).

    Raises
    ------
    DataFileError
        The file is missing, unreadable or has no CRS.
    ValueError
        ``kind`` is not one of the three values.
    """
    if kind not in ("auto", "density", "count"):
        raise ValueError(f"kind must be 'auto', 'density' or 'count', got {kind!r}")
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: population raster not found")
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise DataFileError(f"{path}: raster has no CRS; assign one (e.g. EPSG:4326)")
            crs = CRS.from_user_input(src.crs.to_wkt())
            values = src.read(1, masked=True)
            meta_kind = _kind_from_metadata(src) if kind == "auto" else None
            transform, band_count = src.transform, src.count
    except rasterio.errors.RasterioError as exc:
        raise DataFileError(f"{path}: cannot be read as a raster ({exc})") from exc
    if band_count > 1:
        warnings.warn(f"{path.name}: {band_count} bands, only band 1 is read", stacklevel=2)

    data = np.ma.filled(values.astype("float64"), np.nan)
    data[~np.isfinite(data)] = np.nan
    negative = data < 0
    if negative.any():
        warnings.warn(
            f"{path.name}: {int(negative.sum())} cell(s) with negative values treated as nodata",
            stacklevel=2,
        )
        data[negative] = np.nan

    areas = cell_areas_km2(transform, data.shape, crs)
    rule = "argument"
    detected: RasterKind
    if kind != "auto":
        detected = kind
    elif (by_name := _kind_from_name(path.name)) is not None:
        detected, rule = by_name, "file name"
    elif meta_kind is not None:
        detected, rule = meta_kind, "metadata"
    else:
        detected, rule = _kind_from_values(data, areas), "values"
        as_count = float(np.nansum(data))
        as_density = float(np.nansum(data * areas))
        warnings.warn(
            f"{path.name}: neither the name nor the metadata says whether the values are "
            f"counts or densities; guessed {detected!r} from the values (total "
            f"{as_count:,.0f} if counts, {as_density:,.0f} if people per km²). "
            "Pass kind='count' or kind='density' to be sure.",
            stacklevel=2,
        )
    counts = data * areas if detected == "density" else data
    logger.info("%s: %s grid (%s), total %.0f people", path.name, detected, rule, np.nansum(counts))
    return PopulationRaster(
        counts=counts,
        transform=transform,
        crs=crs,
        kind_detected=detected,
        source=path.name,
        kind_rule=rule,
    )


def population_points(raster: PopulationRaster) -> gpd.GeoDataFrame:
    """Cell centres of a population grid as points, only cells with people.

    Parameters
    ----------
    raster
        A grid from :func:`read_population_raster`.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326; columns ``population`` (people in the cell, > 0), ``row``, ``col``
        (cell indices in the grid), geometry (Point at the cell centre).
    """
    if not isinstance(raster, PopulationRaster):
        raise TypeError(f"raster must be a PopulationRaster, got {type(raster).__name__}")
    counts = raster.counts
    rows, cols = np.nonzero(np.isfinite(counts) & (counts > 0))
    x, y = _cell_xy(raster.transform, cols + 0.5, rows + 0.5)
    if raster.crs != GEOGRAPHIC_CRS:
        x, y = Transformer.from_crs(raster.crs, GEOGRAPHIC_CRS, always_xy=True).transform(x, y)
    return gpd.GeoDataFrame(
        {
            "population": counts[rows, cols].astype("float64"),
            "row": rows.astype("int64"),
            "col": cols.astype("int64"),
        },
        geometry=gpd.points_from_xy(x, y),
        crs=GEOGRAPHIC_CRS,
    )


# ----------------------------------------------------------------------------- tables

_PCODE_COLUMN = re.compile(r"^(?:admin|adm)_?([0-4])_?p_?cod(?:e)?$", re.IGNORECASE)
_PCODE_VALUE = re.compile(r"^[A-Z]{2}(?:\d{2}){1,3}$")
_NAME_SUFFIXES = ("Name", "_name", "_FR", "_EN", "_REF", "name", "_NAME")


def _find_pcode_column(df: pd.DataFrame, path: Path) -> tuple[str, int | None]:
    found = [(int(m.group(1)), c) for c in df.columns if (m := _PCODE_COLUMN.match(str(c)))]
    if not found:
        raise DataFileError(
            f"{path}: no P-code column found (looked for admin<N>Pcod, ADM<N>_PCODE, "
            f"adm<N>_pcode); columns are {list(df.columns)}; pass pcode_column="
        )
    level, col = max(found)
    return col, level


def _find_name_column(df: pd.DataFrame, level: int | None) -> str | None:
    if level is None:
        return "name" if "name" in df.columns else None
    lowered = {str(c).lower(): c for c in df.columns}
    for prefix in (f"admin{level}", f"adm{level}", f"adm{level}_", f"admin{level}_"):
        for suffix in _NAME_SUFFIXES:
            if (prefix + suffix).lower() in lowered:
                return str(lowered[(prefix + suffix).lower()])
    return "name" if "name" in df.columns else None


def _find_value_column(df: pd.DataFrame, path: Path) -> str:
    if "T_TL" in df.columns:  # OCHA COD-PS: total, both sexes
        return "T_TL"
    candidates = [
        str(c)
        for c in df.columns
        if re.search(r"pop|population|total", str(c), re.IGNORECASE)
        and not re.search(r"area|density|pcod|name", str(c), re.IGNORECASE)
    ]
    if not candidates:
        raise DataFileError(
            f"{path}: no population column found (looked for T_TL or a name holding 'pop'); "
            f"columns are {list(df.columns)}; pass value_column="
        )
    if len(candidates) == 1:
        return candidates[0]

    def year(col: str) -> int:
        years = [int(y) for y in re.findall(r"(?:19|20)\d{2}", col)]
        return max(years) if years else -1

    ranked = sorted(candidates, key=year, reverse=True)
    if year(ranked[0]) < 0 or year(ranked[0]) == year(ranked[1]):
        raise DataFileError(
            f"{path}: several population columns {candidates}; pass value_column= to choose"
        )
    warnings.warn(
        f"{path.name}: population columns {candidates}; using the latest, {ranked[0]!r} "
        "(pass value_column= to choose another)",
        stacklevel=3,
    )
    return ranked[0]


def _parse_population(raw: pd.Series) -> pd.Series:
    cleaned = raw.astype("string").str.strip().str.replace(r"[,\s\u202f\u00a0]", "", regex=True)
    return pd.to_numeric(cleaned, errors="coerce").astype("float64")


def _check_pcode(
    code: object, row: int, column: str, col_level: int | None, problems: list[DataProblem]
) -> int:
    """The admin level of ``code`` (0 when it is not a P-code); its problems appended."""
    if pd.isna(code) or not code:
        problems.append(DataProblem(row, column, "empty P-code"))
        return 0
    if not _PCODE_VALUE.match(str(code)):
        problems.append(
            DataProblem(
                row,
                column,
                f"malformed P-code {code!r} (expected 2 letters and 2, 4 or 6 digits, "
                "e.g. ML01, ML0101, ML010101)",
            )
        )
        return 0
    level = (len(str(code)) - 2) // 2
    if col_level is not None and level != col_level:
        problems.append(
            DataProblem(
                row, column, f"P-code {code!r} is level {level}, column is level {col_level}"
            )
        )
    return level


def _check_population(
    code: object,
    raw_value: object,
    value: float,
    row: int,
    column: str,
    problems: list[DataProblem],
) -> None:
    """A population must be a number >= 0; its problems appended."""
    ident = None if pd.isna(code) else str(code)
    if pd.isna(value):
        problems.append(
            DataProblem(row, column, f"population {raw_value!r} is not a number", ident=ident)
        )
    elif value < 0:
        problems.append(DataProblem(row, column, f"negative population {value:g}", ident=ident))


def read_population_table(
    path: str | Path,
    *,
    pcode_column: str | None = None,
    value_column: str | None = None,
) -> pd.DataFrame:
    """Read a population table keyed on admin P-codes.

    Parameters
    ----------
    path
        CSV (or XLSX) with one row per admin unit, e.g. the census table
        ``mli_adm1_pop_census_1998_2009.csv`` or an OCHA COD-PS sheet.
    pcode_column
        Column holding the P-codes.  Auto-detected when None: ``admin<N>Pcod``,
        ``ADM<N>_PCODE`` or ``adm<N>_pcode``; the finest level present wins.
    value_column
        Column holding the population (people).  Auto-detected when None: ``T_TL``
        (COD-PS total) if present, else the single column whose name holds ``pop``,
        ``population`` or ``total`` (not ``area``/``density``); among several, the one
        naming the latest year (with a warning).

    Returns
    -------
    pandas.DataFrame
        Columns ``pcode`` (str), ``level`` (int 1–3, from the P-code length: ``ML01`` 1,
        ``ML0101`` 2, ``ML010101`` 3), ``name`` (str, NA when the file has none) and
        ``population`` (float64, people), in file order.

    Raises
    ------
    DataFileError
        The file is missing or unreadable, or a named/needed column is missing.
    DataValidationError
        Empty, malformed or duplicate P-codes, P-codes of another level than the column
        name says, and empty, non-numeric or negative populations; every bad row is listed.
    """
    path = Path(path)
    df = read_table(path, what="population table")
    missing = [c for c in (pcode_column, value_column) if c is not None and c not in df.columns]
    if missing:
        raise DataFileError(
            f"{path}: missing column(s) {', '.join(missing)}; columns are {list(df.columns)}"
        )
    if pcode_column is None:
        pcode_column, col_level = _find_pcode_column(df, path)
    else:
        m = _PCODE_COLUMN.match(pcode_column)
        col_level = int(m.group(1)) if m else None
    if value_column is None:
        value_column = _find_value_column(df, path)
    name_column = _find_name_column(df, col_level)

    pcodes = df[pcode_column].astype("string").str.strip().str.upper()
    population = _parse_population(df[value_column])
    problems: list[DataProblem] = []
    levels = []
    for row, (code, raw_value, value) in enumerate(
        zip(pcodes, df[value_column], population, strict=True), start=2
    ):  # rows 1-based after the header line, as a spreadsheet shows them
        levels.append(_check_pcode(code, row, pcode_column, col_level, problems))
        _check_population(code, raw_value, value, row, value_column, problems)
    duplicated = pcodes.duplicated(keep=False) & pcodes.notna()
    for j in np.flatnonzero(duplicated.to_numpy()):
        problems.append(DataProblem(int(j) + 2, pcode_column, f"duplicate P-code {pcodes.iloc[j]}"))
    if problems:
        raise DataValidationError(str(path), problems)

    names = (
        df[name_column].astype("string").str.strip()
        if name_column is not None
        else pd.Series(pd.NA, index=df.index, dtype="string")
    )
    return pd.DataFrame(
        {
            "pcode": pcodes.astype("string"),
            "level": pd.Series(levels, index=df.index, dtype="int64"),
            "name": names,
            "population": population,
        }
    ).reset_index(drop=True)
