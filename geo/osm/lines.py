"""Read any line layer (GeoPackage, GeoJSON, Shapefile, ...) into the road schema.

Node ids come from endpoint coordinates (endpoints within about 1 cm share an id); the road
class comes from an OSM-like column (``highway``, ``fclass``, ...) mapped like OSM tags.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.crs import GEOGRAPHIC_CRS
from geo.errors import DataFileError, DataProblem, DataValidationError
from geo.osm._checks import check_path
from geo.osm._frame import roads_frame
from geo.osm.tags import is_missing, paved_from_surface, road_class_from_highway

__all__ = ["CLASS_COLUMN_CANDIDATES", "read_line_roads"]


#: Columns searched (case-insensitively, in this order) for the road class of a line layer.
CLASS_COLUMN_CANDIDATES: tuple[str, ...] = ("highway", "road_class", "fclass", "type", "class")
#: Endpoints of line layers closer than this (degrees, about 1 cm) are the same node.
_ENDPOINT_TOLERANCE_DEG = 1e-7


def _find_column(columns: Sequence[str], wanted: str) -> str | None:
    if wanted in columns:
        return wanted
    lowered = {str(c).lower(): c for c in columns}
    return lowered.get(wanted.lower())


def _choose_layer(file: Path, layer: str | int | None) -> tuple[str, int]:
    """The layer to read and the number of layers in the file."""
    try:
        layers = pyogrio.list_layers(file)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise DataFileError(f"{file}: not a readable vector file ({exc})") from exc
    names = [str(n) for n in layers[:, 0]] if len(layers) else []
    if not names:
        raise DataFileError(f"{file}: no layers in the file")
    if layer is not None:
        if isinstance(layer, int) and not isinstance(layer, bool):
            if not 0 <= layer < len(names):
                raise DataFileError(f"{file}: no layer number {layer}; layers are {names}")
            return names[layer], len(names)
        if str(layer) not in names:
            raise DataFileError(f"{file}: no layer {layer!r}; layers are {names}")
        return str(layer), len(names)
    if len(names) == 1:
        return names[0], 1
    lines = [str(n) for n, kind in layers if kind and "LINESTRING" in str(kind).upper()]
    if len(lines) == 1:
        return lines[0], len(names)
    raise DataFileError(
        f"{file}: {len(names)} layers {names}, {len(lines)} of them line layers; pass layer=..."
    )


def _paved_column(frame: pd.DataFrame) -> pd.api.extensions.ExtensionArray:
    """Paved flags from a ``surface`` column, else a boolean-like ``paved`` column, else NA."""
    columns = [str(c) for c in frame.columns]
    surface = _find_column(columns, "surface")
    if surface is not None:
        return pd.array([paved_from_surface(s) for s in frame[surface]], dtype="boolean")
    paved = _find_column(columns, "paved")
    if paved is not None:
        words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
        return pd.array(
            [None if is_missing(p) else words.get(str(p).strip().lower()) for p in frame[paved]],
            dtype="boolean",
        )
    return pd.array([None] * len(frame), dtype="boolean")


def _node_ids_from_coords(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """int64 node ids for points; points within about 1e-7 degree share an id.

    Coordinates are snapped to the 1e-7 degree grid (the precision of OSM) and grid points
    that touch (one step apart in lon and/or lat) are joined.  The id packs the snapped
    coordinates of the group's smallest point, so it does not depend on row order.
    """
    scale = 1.0 / _ENDPOINT_TOLERANCE_DEG
    qx = np.round(np.asarray(lon, dtype=np.float64) * scale).astype(np.int64)
    qy = np.round(np.asarray(lat, dtype=np.float64) * scale).astype(np.int64)
    packed = ((qx + 1_800_000_000) << 31) | (qy + 900_000_000)
    unique, inverse = np.unique(packed, return_inverse=True)
    ux = (unique >> 31) - 1_800_000_000
    uy = (unique & ((1 << 31) - 1)) - 900_000_000
    pairs = cKDTree(np.column_stack([ux, uy]).astype(np.float64)).query_pairs(
        r=1.0, p=np.inf, output_type="ndarray"
    )
    if len(pairs) == 0:
        return unique[inverse]
    n = len(unique)
    adjacency = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(adjacency, directed=False)
    representative = np.full(labels.max() + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(representative, labels, unique)
    return representative[labels][inverse]


def _class_column(
    file: Path, source: str, columns: list[str], class_column: str | None
) -> str | None:
    """The road-class column: the one asked for, else the first known name present."""
    if class_column is not None:
        found = _find_column(columns, class_column)
        if found is None:
            raise DataFileError(f"{file}: no class column {class_column!r}; columns are {columns}")
        return found
    for wanted in CLASS_COLUMN_CANDIDATES:
        found = _find_column(columns, wanted)
        if found is not None:
            return found
    warnings.warn(
        f"{source}: no road class column (looked for {list(CLASS_COLUMN_CANDIDATES)}); "
        "road_class is 'unknown' for every line; pass class_column=...",
        stacklevel=3,
    )
    return None


def _check_lines(file: Path, layer: str, geometry: gpd.GeoSeries) -> np.ndarray:
    """Raise unless every geometry is a (Multi)LineString or empty; return the empty mask."""
    empty = (geometry.isna() | geometry.is_empty).to_numpy()
    kinds = geometry.geom_type.to_numpy()
    bad = np.flatnonzero(~empty & ~np.isin(kinds, ["LineString", "MultiLineString"]))
    if len(bad) and len(bad) == int((~empty).sum()):
        raise DataFileError(
            f"{file}: layer {layer!r} has no line features (found {sorted(set(kinds[bad]))})"
        )
    if len(bad):
        reason = "{} is not a LineString or MultiLineString"
        raise DataValidationError(
            str(file), [DataProblem(int(i), "geometry", reason.format(kinds[i])) for i in bad]
        )
    return empty


def _schema_table(
    frame: gpd.GeoDataFrame, class_col: str | None, columns: list[str]
) -> tuple[gpd.GeoDataFrame, np.ndarray, list[str]]:
    """Class, paved and way id of every feature (2D lines); which are not roads, and their
    class values."""
    road_class = (
        pd.Series(
            [road_class_from_highway(c) for c in frame[class_col]], index=frame.index, dtype=object
        )
        if class_col is not None
        else pd.Series("unknown", index=frame.index, dtype=object)
    )
    not_roads = road_class.isna().to_numpy()
    dropped_classes = sorted({str(c) for c in frame.loc[not_roads, class_col]}) if class_col else []
    osm_col = _find_column(columns, "osm_way_id") or _find_column(columns, "osm_id")
    table = gpd.GeoDataFrame(
        {
            "road_class": road_class,
            "paved": _paved_column(frame),
            "osm_way_id": (
                pd.to_numeric(frame[osm_col], errors="coerce").astype("Int64")
                if osm_col
                else pd.array([None] * len(frame), dtype="Int64")
            ),
        },
        geometry=shapely.force_2d(frame.geometry.to_numpy()),
        crs=GEOGRAPHIC_CRS,
        index=frame.index,
    )
    return table, not_roads, dropped_classes


def _to_schema(file: Path, table: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    """Node ids from the line ends, lengths, and the road schema's columns."""
    geoms = table.geometry.to_numpy()
    coords = shapely.get_coordinates(geoms)
    if (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        raise DataFileError(
            f"{file}: coordinates outside lon/lat ranges; the layer's CRS is wrong or missing "
            "(set it, e.g. with ogr2ogr -a_srs)"
        )
    first = shapely.get_coordinates(shapely.get_point(geoms, 0))
    last = shapely.get_coordinates(shapely.get_point(geoms, -1))
    ids = _node_ids_from_coords(
        np.concatenate([first[:, 0], last[:, 0]]), np.concatenate([first[:, 1], last[:, 1]])
    )
    return roads_frame(
        u=ids[: len(geoms)],
        v=ids[len(geoms) :],
        road_class=table["road_class"].to_numpy(),
        paved=table["paved"].array,
        geometry=geoms,
        source=source,
        osm_way_id=table["osm_way_id"].array,
        osm_id_dtype="Int64",
    ).reset_index(drop=True)


def read_line_roads(
    path: str | os.PathLike[str],
    *,
    class_column: str | None = None,
    layer: str | int | None = None,
) -> gpd.GeoDataFrame:
    """Read a line layer (GeoPackage, GeoJSON, Shapefile, ...) into the road schema.

    Parameters
    ----------
    path
        Vector file readable by GDAL/pyogrio.
    class_column
        Column with the road class, as OSM ``highway`` values (``_link``, ``service``,
        Geofabrik's ``track_grade1``... are normalised like OSM tags).  Default: the first
        of :data:`CLASS_COLUMN_CANDIDATES` present (case-insensitive).
    layer
        Layer name or number; needed only when a file has several line layers.

    Returns
    -------
    geopandas.GeoDataFrame
        The road schema in EPSG:4326 (see :func:`read_osm_roads`): one row per line
        (MultiLineStrings are split into their parts, in input order).  ``u``/``v`` are ids
        of the line's first and last point; endpoints within about 1e-7 degree (1 cm) share
        an id; lines that only cross are not split.  ``paved`` comes from a ``surface``
        (OSM values) or boolean-like ``paved`` column, else NA; ``osm_way_id`` (Int64) from
        an ``osm_way_id``/``osm_id`` column, else NA; ``length_m`` is geodesic (metres).

    Raises
    ------
    DataFileError
        Missing/unreadable file, unknown layer or class column, no line features,
        coordinates outside lon/lat ranges.
    DataValidationError
        Some features are not lines (every such row is listed).

    Warns
    -----
    UserWarning
        No class column (``road_class`` becomes ``"unknown"``), no CRS (lon/lat assumed),
        features dropped: empty geometries, degenerate lines, classes that are not roads
        (``proposed``, ``construction``, ...).
    """
    if class_column is not None and not isinstance(class_column, str):
        raise TypeError(f"class_column must be a column name (str), got {class_column!r}")
    file = check_path(path)
    layer_name, n_layers = _choose_layer(file, layer)
    source = file.name if n_layers == 1 else f"{file.name} (layer {layer_name})"
    try:
        frame = gpd.read_file(file, layer=layer_name)
    except Exception as exc:  # pyogrio/GDAL errors
        raise DataFileError(f"{file}: could not read layer {layer_name!r} ({exc})") from exc
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame:
        raise DataFileError(f"{file}: layer {layer_name!r} has no geometry column")

    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    class_col = _class_column(file, source, columns, class_column)
    empty = _check_lines(file, layer_name, frame.geometry)
    if frame.crs is None:
        warnings.warn(
            f"{source}: no CRS; coordinates assumed to be lon/lat (EPSG:4326)", stacklevel=2
        )
        frame = frame.set_crs(GEOGRAPHIC_CRS)
    elif frame.crs != GEOGRAPHIC_CRS:
        frame = frame.to_crs(GEOGRAPHIC_CRS)

    table, not_roads, dropped_classes = _schema_table(frame, class_col, columns)
    table = table[~empty & ~not_roads].explode(index_parts=False)
    geoms = table.geometry.to_numpy()
    degenerate = (shapely.get_num_coordinates(geoms) < 2) | (shapely.length(geoms) == 0)
    n_dropped = int(empty.sum()) + int(not_roads.sum()) + int(degenerate.sum())
    if n_dropped:
        warnings.warn(
            f"{source}: {n_dropped} feature(s) dropped: {int(empty.sum())} without geometry, "
            f"{int(not_roads.sum())} not roads {dropped_classes}, {int(degenerate.sum())} "
            "line part(s) with fewer than two distinct points",
            stacklevel=2,
        )
    table = table[~degenerate]
    if table.empty:
        raise DataFileError(f"{file}: layer {layer_name!r} has no road lines left to read")

    return _to_schema(file, table, source)
