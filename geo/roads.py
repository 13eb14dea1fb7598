"""Road layers in the shared data directory, in Orienter's road schema.

Two coarse, real layers ship with the development data (see ``docs/data.md``):

- Krantz's junction-to-junction road segments (OSRM on OSM, real shapes), GeoPackage
  with ``from``/``to`` node ids: :func:`read_road_segments`;
- the African Urban Network inter-city graph (nodes and edges CSVs, straight-line edges
  carrying the real road length ``l`` in km and an OSM class ``h``):
  :func:`read_intercity_network`.

OpenStreetMap extracts and generic line layers are read by :mod:`geo.osm`.  Every reader
returns one row per road stretch: ``u, v, road_class, paved, length_m, source, geometry``.
A layer may add ``speed_kph`` (:data:`SOURCE_SPEED_COLUMN`): the car speed its source
gives for the stretch, km/h, NaN where it gives none.  The Krantz segments carry one (an
OSRM free-flow estimate); a speed profile of :mod:`geo.speeds` decides whether and how
the travel-time graph uses it.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

from geo.crs import GEOGRAPHIC_CRS, MALI_BBOX, ensure_geographic
from geo.errors import DataFileError, DataProblem, DataValidationError

__all__ = [
    "ROAD_CLASSES",
    "ROAD_COLUMNS",
    "SOURCE_SPEED_COLUMN",
    "geodesic_length_m",
    "read_intercity_network",
    "read_road_segments",
    "validate_roads",
]

ROAD_CLASSES = (
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "unclassified",
    "residential",
    "track",
    "path",
    "unknown",
)
ROAD_COLUMNS = ["u", "v", "road_class", "paved", "length_m", "source", "geometry"]
#: Optional column: the source's own car speed for the stretch, km/h (NaN where none).
SOURCE_SPEED_COLUMN = "speed_kph"
#: The Krantz segments' per-edge OSRM speed estimate (see roads/SOURCE.md of the data).
_KRANTZ_SPEED = "speed_kmh_est"
_GEOD = Geod(ellps="WGS84")
#: Mali's bounding box with half a degree of margin (roads leaving the country).
_MALI_WITH_MARGIN = (
    MALI_BBOX[0] - 0.5,
    MALI_BBOX[1] - 0.5,
    MALI_BBOX[2] + 0.5,
    MALI_BBOX[3] + 0.5,
)
#: AUN edge types -> road classes.  "added" links join agglomerations to the network
#: where OSM has no main road; the AUN gives them 15 km/h, like tracks.
_AUN_CLASSES = {
    "motorway": "motorway",
    "motorway_link": "motorway",
    "trunk": "trunk",
    "trunk_link": "trunk",
    "primary": "primary",
    "primary_link": "primary",
    "secondary": "secondary",
    "tertiary": "tertiary",
    "added": "track",
}


def geodesic_length_m(geometry: gpd.GeoSeries) -> np.ndarray:
    """Geodesic length on WGS84, metres, of each line of a lon/lat GeoSeries."""
    return np.array([_GEOD.geometry_length(g) if g is not None else np.nan for g in geometry])


def _read_vector(path: Path, layer: str | None = None) -> gpd.GeoDataFrame:
    if not path.is_file():
        raise DataFileError(f"{path}: road file not found")
    try:
        return gpd.read_file(path, layer=layer)
    except Exception as exc:
        raise DataFileError(f"{path}: cannot be read (layer {layer!r}): {exc}") from exc


def read_road_segments(path: str | Path, *, layer: str = "edges") -> gpd.GeoDataFrame:
    """Read junction-to-junction road segments with explicit ``from``/``to`` node ids.

    The Krantz layer has no road class: its stretches are the main inter-city corridors,
    so they get class ``unknown`` (the speed table gives that class a main-road speed)
    and ``paved`` NA.  Its per-edge estimate ``speed_kmh_est`` (the median OSRM
    free-flow speed of the city-to-city routes passing the edge) becomes ``speed_kph``,
    NaN where the file has none.  MultiLineStrings are merged into one line when
    contiguous.

    Raises
    ------
    DataFileError
        Missing file or layer, or missing ``from``/``to`` columns.
    DataValidationError
        Rows with empty geometry or unusable node ids.
    """
    path = Path(path)
    raw = _read_vector(path, layer)
    missing = [c for c in ("from", "to") if c not in raw.columns]
    if missing:
        raise DataFileError(f"{path}: layer {layer!r} lacks column(s) {', '.join(missing)}")
    raw = ensure_geographic(raw, source=str(path))
    geoms = raw.geometry.values.copy()
    multi = shapely.get_type_id(geoms) == 5
    if multi.any():
        geoms[multi] = shapely.line_merge(geoms[multi])
    geoms = _orient_to_nodes(path, raw, geoms)
    out = gpd.GeoDataFrame(
        {
            "u": pd.to_numeric(raw["from"], errors="coerce").astype("Int64"),
            "v": pd.to_numeric(raw["to"], errors="coerce").astype("Int64"),
            "road_class": "unknown",
            "paved": pd.array([pd.NA] * len(raw), dtype="boolean"),
            "length_m": 0.0,
            "source": f"road segments ({path.name})",
        },
        geometry=geoms,
        crs=GEOGRAPHIC_CRS,
    )
    out["length_m"] = geodesic_length_m(out.geometry)
    if _KRANTZ_SPEED in raw.columns:
        out[SOURCE_SPEED_COLUMN] = pd.to_numeric(raw[_KRANTZ_SPEED], errors="coerce").to_numpy(
            dtype=float
        )
    return validate_roads(out, source=str(path))


def _orient_to_nodes(path: Path, edges: gpd.GeoDataFrame, geoms: np.ndarray) -> np.ndarray:
    """Reverse lines that run from ``to`` to ``from``, using the file's ``nodes`` layer."""
    try:
        nodes = gpd.read_file(path, layer="nodes")
    except Exception:
        return geoms  # no nodes layer: validate_roads checks consistency instead
    if "node" not in nodes.columns:
        return geoms
    xy = shapely.get_coordinates(nodes.geometry.values)
    pos = pd.DataFrame(xy, index=nodes["node"].to_numpy(), columns=["x", "y"])
    known = edges["from"].isin(pos.index) & edges["to"].isin(pos.index)
    start = shapely.get_coordinates(shapely.get_point(geoms, 0))
    d_from = np.full(len(geoms), np.inf)
    d_to = np.full(len(geoms), np.inf)
    k = known.to_numpy()
    d_from[k] = np.hypot(*(start[k] - pos.loc[edges["from"][k]].to_numpy()).T)
    d_to[k] = np.hypot(*(start[k] - pos.loc[edges["to"][k]].to_numpy()).T)
    flip = d_to < d_from
    out = geoms.copy()
    out[flip] = shapely.reverse(geoms[flip])
    return out


def read_intercity_network(
    nodes_path: str | Path,
    edges_path: str | Path,
    *,
    bbox: tuple[float, float, float, float] | None = _MALI_WITH_MARGIN,
) -> gpd.GeoDataFrame:
    """Read the African Urban Network node and edge CSVs (latin-1) as road stretches.

    Edges are straight lines between node coordinates; ``length_m`` is the real road
    length (column ``l``, km) the source measured along OSM roads, which the travel-time
    engine uses as the true length.  Only edges with both ends inside ``bbox``
    (lon_min, lat_min, lon_max, lat_max; default Mali plus a margin) are kept.
    """
    nodes_path, edges_path = Path(nodes_path), Path(edges_path)
    try:
        nodes = pd.read_csv(nodes_path, encoding="latin-1")
        edges = pd.read_csv(edges_path, encoding="latin-1")
    except FileNotFoundError as exc:
        raise DataFileError(f"{exc.filename}: inter-city network file not found") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{nodes_path} / {edges_path}: cannot be parsed: {exc}") from exc
    for frame, path, cols in (
        (nodes, nodes_path, ("Agglomeration_ID", "x", "y")),
        (edges, edges_path, ("from", "to", "l", "h")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise DataFileError(f"{path}: missing column(s) {', '.join(missing)}")
    xy = nodes.set_index("Agglomeration_ID")[["x", "y"]]
    if bbox is not None:
        inside = xy["x"].between(bbox[0], bbox[2]) & xy["y"].between(bbox[1], bbox[3])
        xy = xy[inside]
    edges = edges[edges["from"].isin(xy.index) & edges["to"].isin(xy.index)].reset_index(drop=True)
    a = xy.loc[edges["from"]].to_numpy()
    b = xy.loc[edges["to"]].to_numpy()
    lines = shapely.linestrings(np.stack([a, b], axis=1))
    out = gpd.GeoDataFrame(
        {
            "u": edges["from"].astype("Int64"),
            "v": edges["to"].astype("Int64"),
            "road_class": edges["h"].map(_AUN_CLASSES).fillna("unknown"),
            "paved": pd.array([pd.NA] * len(edges), dtype="boolean"),
            "length_m": edges["l"].astype(float) * 1000.0,
            "source": "African Urban Network (Prieto-Curiel et al. 2022)",
        },
        geometry=lines,
        crs=GEOGRAPHIC_CRS,
    )
    return validate_roads(out, source=str(edges_path))


def _check_node_positions(roads: gpd.GeoDataFrame, tol_deg: float = 1e-5) -> list[DataProblem]:
    """Every node id must sit at one place: the start of its ``u`` lines, end of its ``v`` lines."""
    start = shapely.get_coordinates(shapely.get_point(roads.geometry.values, 0))
    end = shapely.get_coordinates(shapely.get_point(roads.geometry.values, -1))
    ends = pd.DataFrame(
        {
            "node": np.concatenate([roads["u"].to_numpy(), roads["v"].to_numpy()]),
            "x": np.concatenate([start[:, 0], end[:, 0]]),
            "y": np.concatenate([start[:, 1], end[:, 1]]),
            "row": np.tile(np.arange(len(roads)), 2),
        }
    )
    spread = ends.groupby("node")[["x", "y"]].agg(lambda s: s.max() - s.min()).max(axis=1)
    bad = spread[spread > tol_deg].index
    problems = []
    for node in bad[:50]:
        rows = sorted(set(ends.loc[ends["node"] == node, "row"]))
        problems.append(
            DataProblem(
                int(rows[0]),
                "geometry",
                f"node {node} is not at one place (rows {rows[:5]}): lines must run "
                "from node u to node v",
            )
        )
    return problems


def validate_roads(roads: gpd.GeoDataFrame, *, source: str) -> gpd.GeoDataFrame:
    """Check a road layer against the road schema; raise listing every bad row."""
    missing = [c for c in ROAD_COLUMNS if c not in roads.columns]
    if missing:
        raise DataFileError(f"{source}: road layer lacks column(s) {', '.join(missing)}")
    problems: list[DataProblem] = []
    geom_type = shapely.get_type_id(roads.geometry.values)
    for i in np.flatnonzero(roads.geometry.isna().to_numpy() | (geom_type != 1)):
        problems.append(DataProblem(int(i), "geometry", "not a LineString"))
    for col in ("u", "v"):
        for i in np.flatnonzero(roads[col].isna().to_numpy()):
            problems.append(DataProblem(int(i), col, "missing node id"))
    bad_len = ~(roads["length_m"].to_numpy(dtype=float) > 0)
    for i in np.flatnonzero(bad_len):
        problems.append(DataProblem(int(i), "length_m", f"length {roads['length_m'].iloc[i]!r}"))
    unknown = ~roads["road_class"].isin(ROAD_CLASSES)
    for i in np.flatnonzero(unknown.to_numpy()):
        problems.append(
            DataProblem(int(i), "road_class", f"unknown class {roads['road_class'].iloc[i]!r}")
        )
    if SOURCE_SPEED_COLUMN in roads.columns:
        speed = pd.to_numeric(roads[SOURCE_SPEED_COLUMN], errors="coerce").to_numpy(dtype=float)
        given = roads[SOURCE_SPEED_COLUMN].notna().to_numpy()
        for i in np.flatnonzero(given & ~(speed > 0)):
            problems.append(
                DataProblem(
                    int(i),
                    SOURCE_SPEED_COLUMN,
                    f"speed {roads[SOURCE_SPEED_COLUMN].iloc[i]!r} is not a number > 0 "
                    "(leave it empty where the source gives none)",
                )
            )
    if not problems:
        problems += _check_node_positions(roads)
    if problems:
        raise DataValidationError(source, problems)
    out = roads[ROAD_COLUMNS + [c for c in roads.columns if c not in ROAD_COLUMNS]].copy()
    out["u"] = out["u"].astype("int64")
    out["v"] = out["v"].astype("int64")
    if SOURCE_SPEED_COLUMN in out.columns:
        out[SOURCE_SPEED_COLUMN] = pd.to_numeric(out[SOURCE_SPEED_COLUMN]).astype(float)
    return out.reset_index(drop=True)
