"""The road network as an osmnx-style graph with travel times per mode, for osmnx/networkx users.

:func:`road_graph_frames` turns a road layer (``geo.roads`` schema: one row per stretch
between junctions ``u`` and ``v``) into osmnx's node and edge GeoDataFrames;
:func:`road_graph` into a ``networkx.MultiDiGraph`` that osmnx functions accept; and
:func:`write_road_graph` writes GraphML (``osmnx.load_graphml`` reads it back) or a
GeoPackage with the layers ``nodes`` and ``edges`` (as ``osmnx.save_graph_geopackage``).

Edge attributes follow osmnx: ``length`` (metres), ``highway`` (Orienter's road class),
``osmid`` (OSM way id, when known), ``oneway``, ``reversed``, ``geometry``; plus, for every
mode of the speed table, ``speed_kph_<mode>`` and ``travel_time_<mode>`` (seconds, osmnx's
unit), and ``speed_kph`` / ``travel_time`` for one chosen mode so that osmnx's routing
(``weight="travel_time"``) works as it does on its own graphs.  The speeds are those of
Orienter's travel-time engine (:func:`geo.costgraph.build_cost_graph`) under the speed
table's profile: the class speed, or the road layer's own ``speed_kph`` where the profile
scales it (Krantz segments), so shortest times on the export equal the engine's along
roads.

One-way roads: Orienter's travel-time graph is symmetric (a road costs the same both ways;
the road schema does not keep OSM's ``oneway`` tag), so every stretch gives two edges,
``u -> v`` and ``v -> u`` (``reversed`` True, geometry reversed), both ``oneway`` False, as
osmnx builds a two-way street.  A stretch that starts and ends at the same node (a closed
way) gives one edge.  A class closed to a mode (speed 0 in the table) has
``travel_time_<mode>`` = inf.
"""

from __future__ import annotations

import os
from pathlib import Path
from xml.sax.saxutils import escape

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from geo.crs import GEOGRAPHIC_CRS
from geo.roads import SOURCE_SPEED_COLUMN
from geo.speeds import SEASONS, SpeedTable

__all__ = ["GRAPH_FORMATS", "road_graph", "road_graph_frames", "write_road_graph"]

#: Formats of :func:`write_road_graph`, by file suffix.
GRAPH_FORMATS: dict[str, str] = {".graphml": "graphml", ".gpkg": "gpkg"}
_NEEDED = ("u", "v", "road_class", "paved", "length_m", "geometry")
_CHUNK = 50_000  # edges formatted at a time when streaming GraphML
_GRAPHML_HEAD = (
    "<?xml version='1.0' encoding='utf-8'?>\n"
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
    'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
)


def _check_roads(roads: gpd.GeoDataFrame) -> None:
    if not isinstance(roads, gpd.GeoDataFrame):
        raise TypeError(f"roads must be a GeoDataFrame in the road schema, got {type(roads)}")
    missing = [c for c in _NEEDED if c not in roads.columns]
    if missing:
        raise ValueError(f"roads lacks column(s) {missing}; expected the road schema {_NEEDED}")
    if roads.crs is None or not roads.crs.equals(GEOGRAPHIC_CRS):
        raise ValueError(f"roads must be in EPSG:4326 (lon/lat), got {roads.crs}")
    if roads.empty:
        raise ValueError("roads is empty: no road stretch to export")


def _speeds_kph(roads: gpd.GeoDataFrame, speeds: SpeedTable, mode: str, season: str) -> np.ndarray:
    """Speed of ``mode`` on every stretch (km/h; 0 where the class is closed), as the
    travel-time engine runs it (:meth:`SpeedTable.segment_speeds_kph`): the class speed,
    or the road layer's own speed (``speed_kph``) where the table's profile uses it."""
    paved = roads["paved"].astype("boolean")
    code = np.where(paved.isna(), -1, paved.fillna(False).astype(int)).astype(np.int8)
    own = (
        pd.to_numeric(roads[SOURCE_SPEED_COLUMN], errors="coerce").to_numpy(float)
        if SOURCE_SPEED_COLUMN in roads.columns
        else None
    )
    classes = roads["road_class"].astype(str).to_numpy(dtype=object)
    return speeds.segment_speeds_kph(mode, classes, code, own, season)


def road_graph_frames(
    roads: gpd.GeoDataFrame,
    speeds: SpeedTable,
    *,
    season: str = "dry",
    mode: str = "car",
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Node and edge tables of the road graph, in osmnx's layout.

    Parameters
    ----------
    roads
        Road layer in the ``geo.roads`` schema, EPSG:4326.
    speeds
        Speed table (:func:`geo.speeds.read_speed_table`); every mode gets its columns.
    season
        ``"dry"`` or ``"rainy"`` (the rainy factor slows unpaved roads).
    mode
        The mode whose times also fill ``speed_kph`` and ``travel_time``.

    Returns
    -------
    nodes, edges
        ``nodes`` indexed by ``osmid`` (the junction ids ``u``/``v``) with ``x``, ``y``
        (lon, lat) and point geometry; ``edges`` indexed by ``(u, v, key)`` with the
        attributes listed in the module docstring.
    """
    _check_roads(roads)
    if season not in SEASONS:
        raise ValueError(f"season must be one of {SEASONS}, got {season!r}")
    speeds.mode(mode)  # ValueError naming the allowed modes
    lines = np.asarray(roads.geometry.values, dtype=object)
    u, v = roads["u"].to_numpy(np.int64), roads["v"].to_numpy(np.int64)
    start = shapely.get_coordinates(shapely.get_point(lines, 0))
    end = shapely.get_coordinates(shapely.get_point(lines, -1))
    ids, first = np.unique(np.r_[u, v], return_index=True)
    xy = np.vstack([start, end])[first]
    nodes = gpd.GeoDataFrame(
        {"x": xy[:, 0], "y": xy[:, 1]},
        geometry=shapely.points(xy),
        crs=GEOGRAPHIC_CRS,
        index=pd.Index(ids, name="osmid"),
    )
    paved = roads["paved"].astype("boolean")
    table = pd.DataFrame(
        {
            "osmid": pd.array(
                roads.get("osm_way_id", pd.Series(pd.NA, index=roads.index)), dtype="Int64"
            ),
            "highway": roads["road_class"].astype(str).to_numpy(),
            "paved": np.where(paved.isna(), "unknown", np.where(paved.fillna(False), "yes", "no")),
            "length": roads["length_m"].to_numpy(float),
            "oneway": False,
        }
    )
    for name in speeds.modes:
        kph = _speeds_kph(roads, speeds, name, season)
        table[f"speed_kph_{name}"] = kph
        with np.errstate(divide="ignore"):
            table[f"travel_time_{name}"] = np.where(kph > 0, table["length"] / (kph / 3.6), np.inf)
    table["speed_kph"] = table[f"speed_kph_{mode}"]
    table["travel_time"] = table[f"travel_time_{mode}"]
    back = u != v
    forward = table.assign(u=u, v=v, reversed=False)
    backward = table[back].assign(u=v[back], v=u[back], reversed=True)
    geometry = np.r_[lines, shapely.reverse(lines[back])]
    edges = gpd.GeoDataFrame(
        pd.concat([forward, backward], ignore_index=True), geometry=geometry, crs=GEOGRAPHIC_CRS
    )
    edges["key"] = edges.groupby(["u", "v"]).cumcount()
    return nodes, edges.set_index(["u", "v", "key"])


def road_graph(
    roads: gpd.GeoDataFrame,
    speeds: SpeedTable,
    *,
    season: str = "dry",
    mode: str = "car",
) -> nx.MultiDiGraph:
    """The road graph as an osmnx ``MultiDiGraph`` (see :func:`road_graph_frames`).

    Graph attributes: ``crs``, ``season``, ``travel_time_mode`` (the mode of
    ``travel_time``), ``speed_table`` (its file), ``speed_profile`` and ``oneway`` (how
    one-way roads are handled).
    """
    import osmnx as ox

    nodes, edges = road_graph_frames(roads, speeds, season=season, mode=mode)
    return ox.graph_from_gdfs(nodes, edges, graph_attrs=_graph_attrs(speeds, season, mode))


def _graph_attrs(speeds: SpeedTable, season: str, mode: str) -> dict[str, str]:
    return {
        "crs": "epsg:4326",
        "season": season,
        "travel_time_mode": mode,
        "speed_table": speeds.source,
        "speed_profile": speeds.profile.name,
        "oneway": "symmetric: every stretch is two-way, as in Orienter's travel-time graph",
    }


def _strings(column: pd.Series) -> list[str | None]:
    """Values as osmnx's ``save_graphml`` writes them (``str``), None where missing."""
    if isinstance(column.dtype, gpd.array.GeometryDtype):
        return list(shapely.to_wkt(column.to_numpy(), rounding_precision=-1))
    values = column.astype(object).tolist()
    return [None if v is None or v is pd.NA else escape(str(v)) for v in values]


def _write_graphml(
    nodes: gpd.GeoDataFrame, edges: gpd.GeoDataFrame, attrs: dict[str, str], path: Path
) -> None:
    """Stream the graph as GraphML, the file ``osmnx.save_graphml`` writes for the same graph.

    Every value is a string, as osmnx writes them (``osmnx.load_graphml`` converts them
    back); nothing holds a networkx graph, so a national network fits in memory.
    """
    flat = edges.reset_index()
    edge_cols = [c for c in flat.columns if c not in ("u", "v", "key")]
    declared = [("graph", c) for c in attrs] + [("node", "x"), ("node", "y")]
    declared += [("edge", c) for c in edge_cols]
    key_of = {(kind, name): f"d{i}" for i, (kind, name) in enumerate(declared)}
    with path.open("w", encoding="utf-8") as out:
        out.write(_GRAPHML_HEAD)
        for (kind, name), key in key_of.items():
            out.write(
                f'  <key id="{key}" for="{kind}" attr.name="{escape(name)}" attr.type="string" />\n'
            )
        out.write('  <graph edgedefault="directed">\n')
        for name, value in attrs.items():
            out.write(f'    <data key="{key_of[("graph", name)]}">{escape(str(value))}</data>\n')
        kx, ky = key_of[("node", "x")], key_of[("node", "y")]
        for osmid, x, y in zip(
            nodes.index.tolist(), nodes["x"].tolist(), nodes["y"].tolist(), strict=True
        ):
            out.write(
                f'    <node id="{osmid}">\n      <data key="{kx}">{x}</data>\n'
                f'      <data key="{ky}">{y}</data>\n    </node>\n'
            )
        for start in range(0, len(flat), _CHUNK):
            part = flat.iloc[start : start + _CHUNK]
            columns = [(key_of[("edge", c)], _strings(part[c])) for c in edge_cols]
            ends = zip(part["u"].tolist(), part["v"].tolist(), part["key"].tolist(), strict=True)
            lines = []
            for row, (u, v, k) in enumerate(ends):
                lines.append(f'    <edge source="{u}" target="{v}" id="{k}">\n')
                for key, values in columns:
                    if values[row] is not None:
                        lines.append(f'      <data key="{key}">{values[row]}</data>\n')
                lines.append("    </edge>\n")
            out.write("".join(lines))
        out.write("  </graph>\n</graphml>\n")


def write_road_graph(
    roads: gpd.GeoDataFrame,
    path: str | os.PathLike[str],
    *,
    speeds: SpeedTable,
    fmt: str | None = None,
    season: str = "dry",
    mode: str = "car",
) -> Path:
    """Write the road graph as GraphML or GeoPackage, atomically.

    Parameters
    ----------
    roads, speeds, season, mode
        As for :func:`road_graph_frames`.
    path
        Output file; it is replaced only once complete.
    fmt
        ``"graphml"`` or ``"gpkg"``; default from the suffix (``.graphml``, ``.gpkg``).

    Returns
    -------
    pathlib.Path
        The file written.  GraphML is streamed (no networkx graph is built, so a
        national network fits in memory) and is the file ``osmnx.save_graphml`` would
        write for :func:`road_graph`; it loads with ``osmnx.load_graphml(path, edge_dtypes=
        {f"travel_time_{m}": float for m in modes})`` (``length``, ``travel_time`` and
        ``speed_kph`` are converted by osmnx itself).
    """
    target = Path(path)
    kind = fmt if fmt is not None else GRAPH_FORMATS.get(target.suffix.lower())
    if kind not in GRAPH_FORMATS.values():
        raise ValueError(
            f"fmt must be one of {sorted(GRAPH_FORMATS.values())} (or a path ending in "
            f"{' / '.join(GRAPH_FORMATS)}), got fmt={fmt!r} for {target.name!r}"
        )
    if not target.parent.is_dir():
        raise ValueError(f"path: folder {target.parent} does not exist")
    # a temporary name beside the target (same file system: os.replace is atomic), created
    # with the usual permissions (mkstemp's would be 0600)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part.{kind}")
    tmp.unlink(missing_ok=True)
    try:
        nodes, edges = road_graph_frames(roads, speeds, season=season, mode=mode)
        if kind == "graphml":
            _write_graphml(nodes, edges, _graph_attrs(speeds, season, mode), tmp)
        else:
            nodes.reset_index().to_file(tmp, layer="nodes", driver="GPKG")
            edges.reset_index().to_file(tmp, layer="edges", driver="GPKG")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
