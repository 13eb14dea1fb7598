"""Road ways in flat arrays: cleaning, bounding-box filter and splitting at junctions.

Both OSM readers (pyosmium in :mod:`geo.osm.reader`, osmnx in :mod:`geo.osm.oracle`) collect
the kept ways into :class:`RawWays`; :func:`clean_ways` turns them into :class:`Ways`, and
:func:`split_at_junctions` cuts them into road stretches without a Python loop per way.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

COORD_SCALE = 10_000_000  # OSM fixed-point precision: 1e-7 degree
UNDEFINED_COORDINATE = 2_147_483_647  # libosmium's x/y of a node without a location


@dataclass
class RawWays:
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
class Ways:
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


def clean_ways(raw: RawWays, bbox: tuple[float, float, float, float] | None) -> Ways:
    """Drop consecutive duplicate nodes (as osmnx does), ways with missing nodes or fewer
    than two nodes, and ways that do not touch ``bbox``."""
    refs = np.asarray(raw.refs, dtype=np.int64)
    offsets = np.asarray(raw.offsets, dtype=np.int64)
    way_id = np.asarray(raw.way_id, dtype=np.int64)
    if raw.fixed_point:
        x, y = np.asarray(raw.x, dtype=np.int64), np.asarray(raw.y, dtype=np.int64)
        undefined = (x == UNDEFINED_COORDINATE) | (y == UNDEFINED_COORDINATE)
        # x / 1e7 is the correctly rounded double of the decimal degrees, as in OSM XML.
        lon = np.where(undefined, np.nan, x / COORD_SCALE)
        lat = np.where(undefined, np.nan, y / COORD_SCALE)
    else:
        lon, lat = np.asarray(raw.x, dtype=np.float64), np.asarray(raw.y, dtype=np.float64)
    n_ways = len(way_id)
    way_of = np.repeat(np.arange(n_ways), np.diff(offsets))
    missing = np.bincount(way_of[np.isnan(lon) | np.isnan(lat)], minlength=n_ways) > 0
    node_kept = np.ones(len(refs), dtype=bool)
    node_kept[1:] = (refs[1:] != refs[:-1]) | (way_of[1:] != way_of[:-1])
    way_kept = ~missing & (np.bincount(way_of[node_kept], minlength=n_ways) >= 2)
    if bbox is not None and way_kept.any():
        way_kept &= ways_touch_bbox(lon, lat, way_of, node_kept & way_kept[way_of], n_ways, bbox)
    node_kept &= way_kept[way_of]
    return Ways(
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


def ways_touch_bbox(
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


def split_at_junctions(
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


def pieces_geometry(
    lon: np.ndarray, lat: np.ndarray, start: np.ndarray, stop: np.ndarray
) -> np.ndarray:
    """LineStrings through positions ``start[i]..stop[i]`` (inclusive) of ``lon``/``lat``."""
    sizes = stop - start + 1
    piece = np.repeat(np.arange(len(start)), sizes)
    first = np.cumsum(sizes) - sizes
    position = start[piece] + np.arange(int(sizes.sum())) - first[piece]
    coords = np.column_stack([lon[position], lat[position]])
    return np.asarray(shapely.linestrings(coords, indices=piece))
