"""Read road networks from local files into Orienter's road schema.

Two readers return the same schema (see ``docs/architecture.md``, "Roads"): one row per
road stretch between two graph nodes, with columns ``u``, ``v`` (int64 node ids),
``road_class``, ``paved`` (nullable boolean), ``length_m`` (geodesic, WGS84), ``source``,
``osm_way_id`` and a LineString ``geometry`` from node ``u`` to node ``v``, in EPSG:4326.

- :func:`read_osm_roads` reads OpenStreetMap data: ``.osm.pbf`` files (a whole country
  extract such as Geofabrik's ``mali-latest.osm.pbf``) are streamed with pyosmium and a node
  location index; small ``.osm`` XML files (JOSM saves, Overpass downloads) go through
  osmnx.  Both split ways at the same nodes and give the same rows for the same data.
- :func:`read_line_roads` reads any line layer (GeoPackage, GeoJSON, Shapefile) with a
  road-class column; node ids come from endpoint coordinates.

Splitting rule (OSM): a way is cut at every node that is not a plain pass-through vertex
of one way: nodes used by two or more kept ways (or twice by one way), and the first and
last node of every kept way.  This is osmnx's topological simplification
(``simplify_graph``) with every way end kept as an endpoint, so each row belongs to
exactly one OSM way and carries one class and one surface.  Ways are filtered (class,
bounding box) *before* splitting: a road is not cut where a dropped way touches it.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import math
import os
import re
import tempfile
import warnings
import xml.etree.ElementTree as ET
from array import array
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import Geod
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.crs import GEOGRAPHIC_CRS
from geo.errors import DataFileError, DataProblem, DataValidationError
from geo.roads import ROAD_CLASSES

__all__ = [
    "CLASS_COLUMN_CANDIDATES",
    "ROAD_CLASSES",
    "paved_from_surface",
    "read_line_roads",
    "read_osm_roads",
    "road_class_from_highway",
]

logger = logging.getLogger(__name__)


#: Columns searched (case-insensitively, in this order) for the road class of a line layer.
CLASS_COLUMN_CANDIDATES: tuple[str, ...] = ("highway", "road_class", "fclass", "type", "class")

_SCHEMA_COLUMNS = ["u", "v", "road_class", "paved", "length_m", "source", "osm_way_id", "geometry"]

_HIGHWAY_TO_CLASS: dict[str, str] = {
    **{c: c for c in ROAD_CLASSES},
    "living_street": "residential",
    "service": "residential",
    "footway": "path",
    "bridleway": "path",
    "steps": "path",
    "pedestrian": "path",
    "cycleway": "path",
}

#: ``highway`` values that are not usable roads, tracks or paths (lifecycle states,
#: platforms, indoor features, point features mis-tagged on ways, ...).
_NOT_ROADS: frozenset[str] = frozenset(
    {
        "proposed",
        "planned",
        "construction",
        "abandoned",
        "disused",
        "dismantled",
        "demolished",
        "razed",
        "no",
        "none",
        "platform",
        "raceway",
        "bus_stop",
        "bus_guideway",
        "corridor",
        "elevator",
        "escape",
        "emergency_bay",
        "emergency_access_point",
        "rest_area",
        "services",
        "traffic_island",
        "via_ferrata",
        "ladder",
        "crossing",
        "traffic_signals",
        "stop",
        "give_way",
        "street_lamp",
        "turning_circle",
        "turning_loop",
        "mini_roundabout",
        "motorway_junction",
        "passing_place",
        "speed_camera",
        "milestone",
        "toll_gantry",
        "trailhead",
    }
)

_PAVED: frozenset[str] = frozenset(
    {
        "paved",
        "asphalt",
        "chipseal",
        "concrete",
        "concrete:plates",
        "concrete:lanes",
        "paving_stones",
        "paving_stones:lanes",
        "grass_paver",
        "sett",
        "unhewn_cobblestone",
        "cobblestone",
        "cobblestone:flattened",
        "bricks",
        "brick",
        "metal",
        "metal_grid",
        "wood",
        "stepping_stones",
        "rubber",
        "tiles",
    }
)
_UNPAVED: frozenset[str] = frozenset(
    {
        "unpaved",
        "compacted",
        "fine_gravel",
        "gravel",
        "shells",
        "rock",
        "pebblestone",
        "ground",
        "dirt",
        "earth",
        "soil",
        "laterite",
        "clay",
        "grass",
        "mud",
        "sand",
        "woodchips",
        "snow",
        "ice",
        "salt",
    }
)

_PBF_SUFFIXES = (".osm.pbf", ".pbf")
_XML_SUFFIXES = (".osm", ".osm.xml", ".xml", ".osm.bz2", ".osm.gz")
_WAY_END_ATTR = "orienter_way_end"
#: Endpoints of line layers closer than this (degrees, about 1 cm) are the same node.
_ENDPOINT_TOLERANCE_DEG = 1e-7
_COORD_SCALE = 10_000_000  # OSM fixed-point precision: 1e-7 degree
_UNDEFINED_COORDINATE = 2_147_483_647  # libosmium's x/y of a node without a location
_GEOD = Geod(ellps="WGS84")
_TRACK_GRADE = re.compile(r"^track_grade[1-5]$")


# ----------------------------------------------------------------------------- tag mapping


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def road_class_from_highway(value: object) -> str | None:
    """Map an OSM ``highway`` value (or a Geofabrik ``fclass``) to a schema road class.

    Parameters
    ----------
    value
        Tag value, e.g. ``"primary_link"``, ``"service"``, ``"track_grade3"``.

    Returns
    -------
    str or None
        One of :data:`ROAD_CLASSES`; ``"unknown"`` for a missing or unrecognised value;
        ``None`` when the value says the way is not a usable road, track or path
        (``proposed``, ``construction``, ``platform``, ...), so it should be dropped.

    Examples
    --------
    >>> road_class_from_highway("trunk_link"), road_class_from_highway("steps")
    ('trunk', 'path')
    >>> road_class_from_highway("proposed") is None
    True
    """
    if _is_missing(value):
        return "unknown"
    text = str(value).strip().lower()
    if text in _NOT_ROADS:
        return None
    if text.endswith("_link"):
        text = text[: -len("_link")]
    if _TRACK_GRADE.match(text):
        return "track"
    return _HIGHWAY_TO_CLASS.get(text, "unknown")


def paved_from_surface(value: object) -> bool | None:
    """Whether an OSM ``surface`` value describes a paved surface.

    Parameters
    ----------
    value
        Tag value, e.g. ``"asphalt"``, ``"dirt"``; several values separated by ``;``
        count only when they agree.

    Returns
    -------
    bool or None
        True for paved surfaces (asphalt, concrete, paving stones, ...), False for unpaved
        ones (gravel, dirt, ground, sand, compacted, laterite, ...), None when the value is
        missing or unrecognised.
    """
    if _is_missing(value):
        return None
    verdicts = set()
    for part in str(value).lower().split(";"):
        text = part.strip()
        if text in _PAVED:
            verdicts.add(True)
        elif text in _UNPAVED:
            verdicts.add(False)
        else:
            return None
    return verdicts.pop() if len(verdicts) == 1 else None


def _paved_code(value: object) -> int:
    """``paved_from_surface`` as int8: 1 paved, 0 unpaved, -1 unknown."""
    paved = paved_from_surface(value)
    return -1 if paved is None else int(paved)


# ----------------------------------------------------------------------------- validation


def _check_path(path: str | os.PathLike[str]) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}: {path!r}")
    file = Path(path)
    if not file.exists():
        raise DataFileError(f"{file}: file not found")
    if not file.is_file():
        raise DataFileError(f"{file}: not a file")
    if file.stat().st_size == 0:
        raise DataFileError(f"{file}: file is empty")
    return file


def _check_bbox(bbox: Sequence[float] | None) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    if isinstance(bbox, str) or not isinstance(bbox, Sequence) or len(bbox) != 4:
        raise TypeError(
            f"bbox must be a sequence (west, south, east, north) in degrees, got {bbox!r}"
        )
    try:
        west, south, east, north = (float(c) for c in bbox)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"bbox must hold four numbers (west, south, east, north), got {bbox!r}"
        ) from exc
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise ValueError(
            f"bbox must be (west, south, east, north) in degrees with west < east and "
            f"south < north, got {bbox!r}; Mali is about (-12.3, 10.1, 4.3, 25.0)"
        )
    return west, south, east, north


def _check_classes(classes: Collection[str] | None) -> frozenset[str] | None:
    if classes is None:
        return None
    if isinstance(classes, str) or not isinstance(classes, Collection):
        raise TypeError(
            f"classes must be a collection of road classes, e.g. ['primary'], got {classes!r}"
        )
    wanted = frozenset(classes)
    bad = sorted(str(c) for c in wanted - set(ROAD_CLASSES))
    if bad or not wanted:
        raise ValueError(
            f"classes has unknown road class(es) {bad or classes!r}; "
            f"use some of {list(ROAD_CLASSES)}"
        )
    return wanted


# ----------------------------------------------------------------------------- shared helpers


def _geodesic_length_m(geometry: np.ndarray) -> np.ndarray:
    """Geodesic length (metres, WGS84) of each lon/lat LineString, summed segment by segment."""
    coords, index = shapely.get_coordinates(geometry, return_index=True)
    same = index[:-1] == index[1:]
    if not same.any():
        return np.zeros(len(geometry))
    start, stop = coords[:-1][same], coords[1:][same]
    _, _, dist = _GEOD.inv(start[:, 0], start[:, 1], stop[:, 0], stop[:, 1])
    return np.bincount(index[:-1][same], weights=np.asarray(dist), minlength=len(geometry))


@dataclass
class _RawWays:
    """Road ways as read, in flat arrays: way ``i`` spans ``refs[offsets[i]:offsets[i + 1]]``.

    Coordinates are degrees (XML) or 1e-7 degree integers (PBF, ``fixed_point``); a node
    missing from the file has NaN (XML) or libosmium's undefined coordinate (PBF).
    """

    fixed_point: bool
    way_id: array[int] = field(default_factory=lambda: array("q"))
    road_class: list[str] = field(default_factory=list)
    paved: array[int] = field(default_factory=lambda: array("b"))
    offsets: array[int] = field(default_factory=lambda: array("q", [0]))
    refs: array[int] = field(default_factory=lambda: array("q"))
    x: array[Any] = field(default_factory=lambda: array("d"))
    y: array[Any] = field(default_factory=lambda: array("d"))
    n_highway_ways: int = 0

    def __post_init__(self) -> None:
        if self.fixed_point:
            self.x, self.y = array("i"), array("i")

    def add(self, way_id: int, kept: tuple[str, int]) -> None:
        """Close the way whose nodes were just appended."""
        self.way_id.append(way_id)
        self.road_class.append(kept[0])
        self.paved.append(kept[1])
        self.offsets.append(len(self.refs))


@dataclass
class _Ways:
    """Kept ways, cleaned: 2+ nodes each, no consecutive duplicates, every node located."""

    way_id: np.ndarray
    road_class: np.ndarray
    paved: np.ndarray
    offsets: np.ndarray
    refs: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    missing_nodes: np.ndarray  # ids of ways dropped for referencing nodes not in the file
    n_highway_ways: int


def _clean_ways(raw: _RawWays, bbox: tuple[float, float, float, float] | None) -> _Ways:
    """Drop consecutive duplicate nodes (as osmnx does), ways with missing nodes or fewer
    than two nodes, and ways that do not touch ``bbox``."""
    refs = np.asarray(raw.refs, dtype=np.int64)
    offsets = np.asarray(raw.offsets, dtype=np.int64)
    way_id = np.asarray(raw.way_id, dtype=np.int64)
    if raw.fixed_point:
        x, y = np.asarray(raw.x, dtype=np.int64), np.asarray(raw.y, dtype=np.int64)
        undefined = (x == _UNDEFINED_COORDINATE) | (y == _UNDEFINED_COORDINATE)
        # x / 1e7 is the correctly rounded double of the decimal degrees, as in OSM XML.
        lon = np.where(undefined, np.nan, x / _COORD_SCALE)
        lat = np.where(undefined, np.nan, y / _COORD_SCALE)
    else:
        lon, lat = np.asarray(raw.x, dtype=np.float64), np.asarray(raw.y, dtype=np.float64)
    n_ways = len(way_id)
    way_of = np.repeat(np.arange(n_ways), np.diff(offsets))
    missing = np.bincount(way_of[np.isnan(lon) | np.isnan(lat)], minlength=n_ways) > 0
    node_kept = np.ones(len(refs), dtype=bool)
    node_kept[1:] = (refs[1:] != refs[:-1]) | (way_of[1:] != way_of[:-1])
    way_kept = ~missing & (np.bincount(way_of[node_kept], minlength=n_ways) >= 2)
    if bbox is not None and way_kept.any():
        way_kept &= _ways_touch_bbox(lon, lat, way_of, node_kept & way_kept[way_of], n_ways, bbox)
    node_kept &= way_kept[way_of]
    return _Ways(
        way_id=way_id[way_kept],
        road_class=np.asarray(raw.road_class, dtype=object)[way_kept],
        paved=np.asarray(raw.paved, dtype=np.int8)[way_kept],
        offsets=np.concatenate(
            [[0], np.cumsum(np.bincount(way_of[node_kept], minlength=n_ways)[way_kept])]
        ),
        refs=refs[node_kept],
        lon=lon[node_kept],
        lat=lat[node_kept],
        missing_nodes=way_id[missing],
        n_highway_ways=raw.n_highway_ways,
    )


def _ways_touch_bbox(
    lon: np.ndarray,
    lat: np.ndarray,
    way_of: np.ndarray,
    node_used: np.ndarray,
    n_ways: int,
    bbox: tuple[float, float, float, float],
) -> np.ndarray:
    """For each way (nodes ``node_used``), whether its line touches ``bbox``."""
    west, south, east, north = bbox
    ways, x, y = way_of[node_used], lon[node_used], lat[node_used]
    lo_x, hi_x = np.full(n_ways, np.inf), np.full(n_ways, -np.inf)
    lo_y, hi_y = lo_x.copy(), hi_x.copy()
    np.minimum.at(lo_x, ways, x)
    np.maximum.at(hi_x, ways, x)
    np.minimum.at(lo_y, ways, y)
    np.maximum.at(hi_y, ways, y)
    inside = (lo_x >= west) & (hi_x <= east) & (lo_y >= south) & (hi_y <= north)
    apart = (hi_x < west) | (lo_x > east) | (hi_y < south) | (lo_y > north)
    unsure = np.flatnonzero(~inside & ~apart & np.isfinite(lo_x))
    if len(unsure):
        pick = np.isin(ways, unsure)
        _, piece = np.unique(ways[pick], return_inverse=True)
        lines = shapely.linestrings(np.column_stack([x[pick], y[pick]]), indices=piece)
        inside[unsure] = shapely.intersects(lines, shapely.box(west, south, east, north))
    return inside


def _classify_way(tags: Any, classes: frozenset[str] | None) -> tuple[str, int] | None:
    """(road class, paved code) of a way with these tags, or None when it is not kept."""
    highway = tags.get("highway")
    if highway is None:
        return None
    road_class = road_class_from_highway(highway)
    if road_class is None or tags.get("area") == "yes":
        return None
    if classes is not None and road_class not in classes:
        return None
    return road_class, _paved_code(tags.get("surface"))


def _no_roads_error(
    file: Path, bbox: tuple[float, ...] | None, classes: frozenset[str] | None
) -> DataFileError:
    what = "no road, track or path ways (highway=*) found"
    if classes is not None:
        what += f" of classes {sorted(classes)}"
    if bbox is not None:
        what += f" touching bbox {bbox} (west, south, east, north)"
    return DataFileError(f"{file}: {what}")


def _roads_frame(
    *,
    u: np.ndarray,
    v: np.ndarray,
    road_class: Sequence[str] | np.ndarray,
    paved: pd.api.extensions.ExtensionArray,
    geometry: np.ndarray,
    source: str,
    osm_way_id: np.ndarray | pd.api.extensions.ExtensionArray,
    osm_id_dtype: str,
) -> gpd.GeoDataFrame:
    """Assemble the road schema; lengths are computed here from the geometry."""
    frame = gpd.GeoDataFrame(
        {
            "u": np.asarray(u, dtype="int64"),
            "v": np.asarray(v, dtype="int64"),
            "road_class": pd.Series(np.asarray(road_class, dtype=object), dtype="str"),
            "paved": pd.array(paved, dtype="boolean"),
            "length_m": _geodesic_length_m(geometry).astype("float64"),
            "source": pd.Series([source] * len(geometry), dtype="str"),
            "osm_way_id": pd.array(osm_way_id, dtype=osm_id_dtype),
        },
        geometry=gpd.GeoSeries(geometry, crs=GEOGRAPHIC_CRS),
    )
    return frame[_SCHEMA_COLUMNS]


def _osm_frame(
    *,
    u: np.ndarray,
    v: np.ndarray,
    way_index: np.ndarray,
    geometry: np.ndarray,
    ways: _Ways,
    file: Path,
) -> gpd.GeoDataFrame:
    """Rows of both OSM readers, in one canonical order (way id, u, v, length)."""
    paved_code = ways.paved[way_index]
    frame = _roads_frame(
        u=u,
        v=v,
        road_class=ways.road_class[way_index],
        paved=pd.array(np.where(paved_code < 0, None, paved_code == 1), dtype="boolean"),
        geometry=geometry,
        source=f"OpenStreetMap ({file.name})",
        osm_way_id=ways.way_id[way_index],
        osm_id_dtype="int64",
    )
    keys = [frame[c].to_numpy() for c in ("length_m", "v", "u", "osm_way_id")]
    return frame.iloc[np.lexsort(keys)].reset_index(drop=True)


# ----------------------------------------------------------------------------- OSM PBF


def _collect_pbf_ways(file: Path, classes: frozenset[str] | None) -> _RawWays:
    """Stream ``file`` once and keep the road ways with their node ids and locations.

    Node locations go to libosmium's in-memory ``flex_mem`` location index (about 8-16
    bytes per node, sparse or dense as the extract needs); node tags are never held.
    """
    import osmium

    raw = _RawWays(fixed_point=True)
    refs, xs, ys = raw.refs.append, raw.x.append, raw.y.append
    processor = (
        osmium.FileProcessor(str(file), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations("flex_mem")
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    for way in processor:
        if not isinstance(way, osmium.osm.Way):  # pragma: no cover - filtered out above
            continue
        raw.n_highway_ways += 1
        kept = _classify_way(way.tags, classes)
        if kept is None:
            continue
        for node in way.nodes:
            location = node.location
            refs(node.ref)
            xs(location.x)
            ys(location.y)
        raw.add(way.id, kept)
    return raw


def _split_at_junctions(
    refs: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut ways at junctions and way ends.

    Parameters
    ----------
    refs
        Node ids of all ways, concatenated (no consecutive duplicates within a way).
    offsets
        Way ``i`` spans ``refs[offsets[i]:offsets[i + 1]]``; every way has 2+ nodes.

    Returns
    -------
    way_index, start, stop
        For each piece: its way (row of ``offsets``) and the positions in ``refs`` of its
        first and last node (inclusive).

    Notes
    -----
    Same endpoints as osmnx ``simplify_graph`` on the (bidirectional) graph of these ways
    with every way end kept: a node is a pass-through vertex only when it occurs exactly
    once in all the ways, not at a way end, between two different neighbours.
    """
    way_of = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    _, inverse, counts = np.unique(refs, return_inverse=True, return_counts=True)
    is_end = np.zeros(len(refs), dtype=bool)
    is_end[offsets[:-1]] = True
    is_end[offsets[1:] - 1] = True
    endpoint_node = counts >= 2
    endpoint_node[inverse[is_end]] = True
    interior = np.flatnonzero(~is_end)
    back_and_forth = refs[interior - 1] == refs[interior + 1]
    endpoint_node[inverse[interior[back_and_forth]]] = True
    cut = np.flatnonzero(endpoint_node[inverse])
    same_way = way_of[cut[:-1]] == way_of[cut[1:]]
    start, stop = cut[:-1][same_way], cut[1:][same_way]
    return way_of[start], start, stop


def _pieces_geometry(
    lon: np.ndarray, lat: np.ndarray, start: np.ndarray, stop: np.ndarray
) -> np.ndarray:
    """LineStrings through positions ``start[i]..stop[i]`` (inclusive) of ``lon``/``lat``."""
    sizes = stop - start + 1
    piece = np.repeat(np.arange(len(start)), sizes)
    first = np.cumsum(sizes) - sizes
    position = start[piece] + np.arange(int(sizes.sum())) - first[piece]
    coords = np.column_stack([lon[position], lat[position]])
    return np.asarray(shapely.linestrings(coords, indices=piece))


def _read_pbf(
    file: Path, bbox: tuple[float, float, float, float] | None, classes: frozenset[str] | None
) -> tuple[gpd.GeoDataFrame, _Ways]:
    try:
        raw = _collect_pbf_ways(file, classes)
    except (RuntimeError, OSError, ValueError) as exc:
        raise DataFileError(f"{file}: not a readable OSM PBF file ({exc})") from exc
    ways = _clean_ways(raw, bbox)
    if not len(ways.way_id):
        raise _no_roads_error(file, bbox, classes)
    way_index, start, stop = _split_at_junctions(ways.refs, ways.offsets)
    frame = _osm_frame(
        u=ways.refs[start],
        v=ways.refs[stop],
        way_index=way_index,
        geometry=_pieces_geometry(ways.lon, ways.lat, start, stop),
        ways=ways,
        file=file,
    )
    return frame, ways


# ----------------------------------------------------------------------------- OSM XML


@contextmanager
def _open_xml(file: Path) -> Iterator[IO[bytes] | gzip.GzipFile]:
    name = file.name.lower()
    if name.endswith(".bz2"):
        with bz2.open(file, "rb") as handle:
            yield handle
    elif name.endswith(".gz"):
        with gzip.open(file, "rb") as handle:
            yield handle
    else:
        with file.open("rb") as handle:
            yield handle


def _collect_xml_ways(file: Path, classes: frozenset[str] | None) -> _RawWays:
    """Parse ``file`` (OSM XML) for the road ways, their tags, nodes and node locations."""
    nodes: dict[int, tuple[float, float]] = {}
    ways: list[tuple[int, list[int], tuple[str, int]]] = []
    raw = _RawWays(fixed_point=False)
    try:
        with _open_xml(file) as handle:
            root_seen = False
            for event, element in ET.iterparse(handle, events=("start", "end")):
                if event == "start":
                    if not root_seen and element.tag != "osm":
                        raise DataFileError(
                            f"{file}: not OSM XML (root <{element.tag}>, not <osm>)"
                        )
                    root_seen = True
                    continue
                if element.tag == "node":
                    attrib = element.attrib
                    nodes[int(attrib["id"])] = (float(attrib["lon"]), float(attrib["lat"]))
                    element.clear()
                elif element.tag == "way":
                    tags = {t.attrib["k"]: t.attrib["v"] for t in element.iter("tag")}
                    raw.n_highway_ways += "highway" in tags
                    kept = _classify_way(tags, classes)
                    if kept is not None:
                        refs = [int(nd.attrib["ref"]) for nd in element.iter("nd")]
                        ways.append((int(element.attrib["id"]), refs, kept))
                    element.clear()
    except DataFileError:
        raise
    except (ET.ParseError, KeyError, ValueError, OSError, EOFError) as exc:
        raise DataFileError(
            f"{file}: not a readable OSM XML file ({type(exc).__name__}: {exc})"
        ) from exc
    nowhere = (math.nan, math.nan)
    for way_id, refs, kept in ways:
        raw.refs.extend(refs)
        located = [nodes.get(r, nowhere) for r in refs]
        raw.x.extend(p[0] for p in located)
        raw.y.extend(p[1] for p in located)
        raw.add(way_id, kept)
    return raw


def _write_osm_xml(ways: _Ways, target: Path) -> Path:
    """Write ``ways`` and their nodes as OSM XML (coordinates as exact float reprs)."""
    refs, first = np.unique(ways.refs, return_index=True)
    with target.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n')
        for ref, lon, lat in zip(
            refs.tolist(), ways.lon[first].tolist(), ways.lat[first].tolist(), strict=True
        ):
            out.write(f'<node id="{ref}" lat="{lat!r}" lon="{lon!r}"/>\n')
        offsets = ways.offsets.tolist()
        for i, way_id in enumerate(ways.way_id.tolist()):
            nds = "".join(
                f'<nd ref="{r}"/>' for r in ways.refs[offsets[i] : offsets[i + 1]].tolist()
            )
            out.write(f'<way id="{way_id}">{nds}<tag k="highway" v="road"/></way>\n')
        out.write("</osm>\n")
    return target


def _read_xml(
    file: Path, bbox: tuple[float, float, float, float] | None, classes: frozenset[str] | None
) -> tuple[gpd.GeoDataFrame, _Ways]:
    """OSM XML through osmnx: graph of the kept ways, simplified, one row per stretch."""
    import osmnx as ox

    ways = _clean_ways(_collect_xml_ways(file, classes), bbox)
    if not len(ways.way_id):
        raise _no_roads_error(file, bbox, classes)
    # osmnx reads only the kept ways: dropped ways (proposed roads, buildings, ways with
    # nodes missing from a cut extract, ...) neither cut the kept ones nor break its parser.
    with tempfile.TemporaryDirectory(prefix="orienter-osm-") as tmp:
        kept_xml = _write_osm_xml(ways, Path(tmp) / "kept.osm")
        try:
            graph = ox.graph_from_xml(kept_xml, bidirectional=True, simplify=False, retain_all=True)
        except Exception as exc:  # pragma: no cover - the file was just written and checked
            raise DataFileError(f"{file}: osmnx could not read its road ways ({exc})") from exc
    # Every way end is an endpoint (so closed ways are cut at their first node, too).
    ends = np.concatenate([ways.refs[ways.offsets[:-1]], ways.refs[ways.offsets[1:] - 1]])
    nx.set_node_attributes(graph, dict.fromkeys(ends.tolist(), True), name=_WAY_END_ATTR)
    simple = ox.simplify_graph(
        graph, node_attrs_include=[_WAY_END_ATTR], edge_attrs_differ=["osmid"]
    )
    edges = ox.graph_to_gdfs(simple, nodes=False, fill_edge_geometry=True).reset_index()

    # bidirectional=True gives each stretch twice; reversed == False follows the way's nodes.
    forward = edges[edges["reversed"].map(lambda r: r is False or r is np.False_)]
    if forward["osmid"].map(lambda o: isinstance(o, list)).any():  # pragma: no cover
        raise RuntimeError(f"{file}: osmnx merged several ways into one edge; please report it")
    row_of_way = {way_id: i for i, way_id in enumerate(ways.way_id.tolist())}
    frame = _osm_frame(
        u=forward["u"].to_numpy(),
        v=forward["v"].to_numpy(),
        way_index=forward["osmid"].map(row_of_way).to_numpy(dtype=np.int64),
        geometry=np.asarray(forward.geometry.values, dtype=object),
        ways=ways,
        file=file,
    )
    return frame, ways


# ----------------------------------------------------------------------------- public readers


def read_osm_roads(
    path: str | os.PathLike[str],
    *,
    bbox: Sequence[float] | None = None,
    classes: Collection[str] | None = None,
) -> gpd.GeoDataFrame:
    """Read the road network of an OpenStreetMap file.

    Parameters
    ----------
    path
        ``.osm.pbf`` / ``.pbf`` (streamed with pyosmium; fit for a country extract such as
        Geofabrik's ``mali-latest.osm.pbf``) or ``.osm`` / ``.osm.xml`` / ``.osm.bz2`` /
        ``.osm.gz`` XML (read with osmnx; for small files, it is held in memory).
    bbox
        ``(west, south, east, north)`` in degrees: keep only ways whose line touches this
        box.  Kept ways are not cut at the box.
    classes
        Keep only ways of these road classes (see :data:`ROAD_CLASSES`).

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:4326, one row per road stretch between two junctions: ``u``, ``v`` (int64
        OSM node ids), ``road_class``, ``paved`` (boolean, NA without a known ``surface``),
        ``length_m`` (geodesic on WGS84, metres), ``source``, ``osm_way_id`` (int64),
        ``geometry`` (LineString from ``u`` to ``v`` in the way's node order).  Ways are
        cut at nodes shared with another kept way and at their ends; a closed way gives a
        row with ``u == v``.  Rows are sorted by ``osm_way_id``, ``u``, ``v``.

    Raises
    ------
    DataFileError
        The file is missing, empty, corrupt, of an unknown type, or holds no road (after
        the ``bbox``/``classes`` filters).

    Warns
    -----
    UserWarning
        Ways that reference nodes missing from the file (an extract cut without complete
        ways) are dropped, with a warning.
    """
    bbox_checked = _check_bbox(bbox)
    classes_checked = _check_classes(classes)
    file = _check_path(path)
    name = file.name.lower()
    if name.endswith(_PBF_SUFFIXES):
        frame, ways = _read_pbf(file, bbox_checked, classes_checked)
    elif name.endswith(_XML_SUFFIXES):
        frame, ways = _read_xml(file, bbox_checked, classes_checked)
    else:
        raise DataFileError(
            f"{file}: unknown OSM file type; expected one of {_PBF_SUFFIXES + _XML_SUFFIXES} "
            "(use read_line_roads for GeoPackage, GeoJSON or Shapefile layers)"
        )
    if len(ways.missing_nodes):
        warnings.warn(
            f"{file.name}: {len(ways.missing_nodes)} road way(s) reference nodes missing from "
            f"the file and were dropped (e.g. way {ways.missing_nodes[0]}); cut extracts with "
            "complete ways (osmium extract -s complete_ways)",
            stacklevel=2,
        )
    logger.info(
        "%s: %d highway ways, %d kept, %d road stretches",
        file.name,
        ways.n_highway_ways,
        len(ways.way_id),
        len(frame),
    )
    return frame


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
            [None if _is_missing(p) else words.get(str(p).strip().lower()) for p in frame[paved]],
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
    file = _check_path(path)
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
    return _roads_frame(
        u=ids[: len(geoms)],
        v=ids[len(geoms) :],
        road_class=table["road_class"].to_numpy(),
        paved=table["paved"].array,
        geometry=geoms,
        source=source,
        osm_way_id=table["osm_way_id"].array,
        osm_id_dtype="Int64",
    ).reset_index(drop=True)
