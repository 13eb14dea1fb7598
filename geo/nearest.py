"""The k nearest providers of a service from a point, ranked by travel time.

Pure functions over built layers: a :class:`~geo.costgraph.CostGraph`, the
:class:`~geo.labels.NearestLabels` of the provider sets the requester may see (one set
per service and audience), and the provider table their ids point into.  Which sets are
passed is the caller's confidentiality decision: the public is given public sets only,
so a public answer is computed from public providers alone and is the same whatever
confidential records the directory holds.

:func:`nearest_answer` ranks (:func:`geo.routes.rank_point`) and walks each route
(:func:`geo.routes.ranked_walks`); ``method="dijkstra"`` answers the same question with a
full Dijkstra from the point (:func:`geo.routes.rank_by_dijkstra`), the reference used
by the tests and the benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo.costgraph import CostGraph
from geo.crs import GEOGRAPHIC_CRS
from geo.labels import NearestLabels
from geo.route_flags import (
    DETOUR_MIN_KM,
    DETOUR_RATIO,
    OFFROAD_SHARE,
    SAME_SITE_KM,
    SITE_PRECISIONS,
    road_leg,
    time_flags,
)
from geo.routes import (
    DIRECT,
    Ranking,
    node_classes,
    rank_by_dijkstra,
    rank_point,
    ranked_walks,
    route_geometry,
    route_nodes,
)
from geo.zones import ZONE_CLASSES

__all__ = [
    "CLOSED_ORIGIN",
    "CUT_OFF",
    "DETOUR_MIN_KM",
    "DETOUR_RATIO",
    "OFFROAD_SHARE",
    "SAME_SITE_KM",
    "NearestAnswer",
    "NearestResult",
    "ProviderTable",
    "nearest_answer",
    "nearest_providers",
    "providers_offering",
    "time_flags",
]

#: Reason given when the query point itself lies in a cell the scenario closes.
CLOSED_ORIGIN = "the point lies in an area closed under this scenario (high conflict zone)"
#: Reason given when the point can move but no path reaches the provider.
CUT_OFF = "no path: the area is cut off from this provider under this scenario"

_TRANSFORMERS: dict[tuple[int, bool], tuple[object, Transformer]] = {}


def _transformer(crs: object, *, back: bool) -> Transformer:
    """EPSG:4326 to ``crs`` (or back), cached per CRS object (``to_wkt`` costs ~50 us)."""
    key = (id(crs), back)
    hit = _TRANSFORMERS.get(key)
    if hit is None or hit[0] is not crs:
        source, target = (crs, GEOGRAPHIC_CRS) if back else (GEOGRAPHIC_CRS, crs)
        hit = (crs, Transformer.from_crs(source, target, always_xy=True))
        _TRANSFORMERS[key] = hit
    return hit[1]


def to_metric(graph: CostGraph, lon: float, lat: float) -> tuple[float, float]:
    """(lon, lat) in EPSG:4326 to the graph's CRS."""
    x, y = _transformer(graph.grid.crs, back=False).transform(lon, lat)
    return float(x), float(y)


def providers_offering(providers: pd.DataFrame, service: str | None) -> np.ndarray:
    """Boolean mask of providers offering ``service``; ``one_stop_centre`` means the type."""
    if service is None:
        return np.ones(len(providers), dtype=bool)
    if service == "one_stop_centre":
        return (providers["type"] == "one_stop_centre").to_numpy()
    return np.array(
        [
            service in (s if isinstance(s, list | tuple | np.ndarray) else [])
            for s in providers["services"]
        ],
        dtype=bool,
    )


def _plain(value: Any) -> Any:
    """A JSON-ready Python value: arrays to lists, numpy scalars to Python, NaN/NA to None."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is not None and not isinstance(value, list | dict | str):
        try:
            if pd.isna(value):
                return None
        except (TypeError, ValueError):
            pass
    return value


@dataclass(frozen=True, eq=False)
class ProviderTable:
    """The provider rows the label ids point into, prepared once for fast answers.

    ``records[i]`` holds row ``i``'s fields as plain JSON-ready values (no geometry);
    ``lon`` / ``lat`` its coordinates (EPSG:4326).
    """

    frame: pd.DataFrame
    records: tuple[dict, ...]
    lon: np.ndarray
    lat: np.ndarray
    _offering: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_frame(cls, providers: pd.DataFrame) -> ProviderTable:
        """Prepare ``providers`` (EPSG:4326 point geometry, one row per id)."""
        if not isinstance(providers, pd.DataFrame):
            raise TypeError(f"providers must be a (Geo)DataFrame, got {type(providers).__name__}")
        plain = pd.DataFrame(providers.drop(columns="geometry", errors="ignore"))
        records = tuple(
            {key: _plain(value) for key, value in row.items()} for row in plain.to_dict("records")
        )
        if "geometry" in providers and len(providers):
            xy = shapely.get_coordinates(providers.geometry.values).reshape(-1, 2)
        else:
            xy = np.empty((0, 2))
        if len(xy) != len(providers):
            raise ValueError("every provider of the table needs a point geometry")
        return cls(frame=providers, records=records, lon=xy[:, 0].copy(), lat=xy[:, 1].copy())

    def __len__(self) -> int:
        return len(self.records)

    def offering(self, service: str | None) -> np.ndarray:
        """:func:`providers_offering` over this table, cached per service."""
        if service not in self._offering:
            self._offering[service] = providers_offering(self.frame, service)
        return self._offering[service]


@dataclass(frozen=True)
class NearestAnswer:
    """Ranked providers as plain records, and how the query point entered the network.

    ``records`` hold the provider's fields plus ``travel_time_min`` and ``distance_km``
    (rounded to 0.1; None when unreachable, never 0), ``straight_km``, ``reachable``,
    ``unreachable_reason``, ``lon``, ``lat`` and, with zones, ``route_worst_class`` and
    ``route_km_by_class``.  ``ids`` are the table rows; ``minutes`` and ``metres`` the
    same figures unrounded (inf / nan when unreachable); ``routes`` the lines
    (EPSG:4326) when asked for.
    """

    records: list[dict]
    entry: dict
    ids: np.ndarray
    minutes: np.ndarray
    metres: np.ndarray
    routes: list[shapely.LineString | None] | None = None


def nearest_answer(
    graph: CostGraph,
    sets: Sequence[NearestLabels],
    table: ProviderTable,
    lon: float,
    lat: float,
    *,
    k: int = 5,
    node_class: np.ndarray | None = None,
    with_routes: bool = False,
    method: Literal["labels", "dijkstra"] = "labels",
    only_ids: Sequence[int] | np.ndarray | None = None,
) -> NearestAnswer:
    """Rank the sources of ``sets`` by travel time from (lon, lat) (EPSG:4326).

    Parameters
    ----------
    sets
        The label sets the requester may see, e.g. the public set of one service; their
        ``ids`` are rows of ``table``.  A provider in several sets counts once.
    table
        :class:`ProviderTable` of the rows the ids point into.
    k
        How many results, 1 to the labels' ``k``.
    node_class
        Conflict class per graph node (:func:`geo.routes.node_classes`): adds each
        route's worst class and km per class.
    method
        ``"labels"`` (a lookup in the labels) or ``"dijkstra"`` (the reference: a full
        Dijkstra from the point, for checks and benchmarks).
    only_ids
        Rank these sources of the sets only, however far (a full Dijkstra from the point:
        the times to the providers a caseworker or a comparison names).
    """
    if not 1 <= k <= 50:
        raise ValueError(f"k must be 1 to 50, got {k}")
    if method not in ("labels", "dijkstra"):
        raise ValueError(f"method must be 'labels' or 'dijkstra', got {method!r}")
    if node_class is not None and len(node_class) != graph.n_nodes:
        raise ValueError("node_class must hold one class per graph node; rebuild it")
    for labels in sets:
        if len(labels.ids) and labels.ids.max() >= len(table):
            raise ValueError("a label set points past the provider table; rebuild the layers")
    x, y = to_metric(graph, lon, lat)
    paths = None
    try:
        if method == "labels" and only_ids is None:
            ranking = rank_point(graph, sets, x, y, k=k)
        else:
            ranking, paths = _reference_ranking(graph, sets, x, y, k, only_ids)
    except ValueError as exc:
        if "closed area" not in str(exc):
            raise
        # the point is in a cell closed by the scenario: nothing is reachable from it
        return _cut_off(table, sets, lon, lat, k, zones=node_class is not None)
    return _answer(graph, sets, table, ranking, (lon, lat, x, y), node_class, with_routes, paths)


def _reference_ranking(
    graph: CostGraph,
    sets: Sequence[NearestLabels],
    x: float,
    y: float,
    k: int,
    only_ids: Sequence[int] | np.ndarray | None = None,
) -> tuple[Ranking, list[np.ndarray | None]]:
    ids, xs, ys = _union(sets)
    if only_ids is not None:
        keep = np.isin(ids, np.asarray(only_ids, dtype=np.int64))
        ids, xs, ys = ids[keep], xs[keep], ys[keep]
    ranking, paths = rank_by_dijkstra(graph, xs, ys, x, y, ids=ids, k=k)
    # which set each came from (for the route walk): the first set holding the id
    which = np.array([_set_of(sets, i) for i in ranking.ids], dtype=np.int64)
    ranked = Ranking(
        ids=ranking.ids,
        sets=np.where(np.isfinite(ranking.minutes), which, -1),
        minutes=ranking.minutes,
        entry_node=ranking.entry_node,
        leg_minutes=ranking.leg_minutes,
        leg_metres=ranking.leg_metres,
    )
    return ranked, paths


def _union(sets: Sequence[NearestLabels]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every source of the sets once: ids (sorted), x, y."""
    if not sets:
        return np.empty(0, np.int64), np.empty(0), np.empty(0)
    ids = np.concatenate([s.ids for s in sets])
    xs = np.concatenate([s.x for s in sets])
    ys = np.concatenate([s.y for s in sets])
    _, first = np.unique(ids, return_index=True)
    return ids[first], xs[first], ys[first]


def _set_of(sets: Sequence[NearestLabels], source_id: int) -> int:
    for i, labels in enumerate(sets):
        if (labels.ids == source_id).any():
            return i
    return -1


def _answer(
    graph: CostGraph,
    sets: Sequence[NearestLabels],
    table: ProviderTable,
    ranking: Ranking,
    where: tuple[float, float, float, float],
    node_class: np.ndarray | None,
    with_routes: bool,
    paths: list[np.ndarray | None] | None,
) -> NearestAnswer:
    """Walk each ranked route (or measure the reference's paths) and make the records."""
    lon, lat, x, y = where
    n = len(ranking.ids)
    reachable = np.isfinite(ranking.minutes)
    per_class, top, road_m, road_min = ranked_walks(
        graph, sets, ranking, node_class, paths, n_classes=len(ZONE_CLASSES)
    )
    start_class = 0
    if node_class is not None:
        cell = graph.grid.locate_one(x, y)
        start_class = int(node_class[cell]) if cell >= 0 else 0
    ids = ranking.ids
    # the first leg, from the point to where it enters the graph, counts in the higher
    # class of its two ends (for a direct leg: the point's and the provider's cells)
    first = ranking.entry_node
    if node_class is not None:
        entry_class = np.where(first == DIRECT, top, node_class[np.maximum(first, 0)])
        leg_class = np.maximum(start_class, entry_class)
    else:
        leg_class = np.zeros(n, dtype=np.int64)
    legs = np.where(reachable, ranking.leg_metres, 0.0)
    np.add.at(per_class, (np.arange(n), leg_class), legs)
    metres = np.where(reachable, per_class.sum(axis=1), np.nan)
    lines: list[shapely.LineString | None] = [None] * n
    if with_routes:
        back = _transformer(graph.grid.crs, back=True)
        for i in np.flatnonzero(reachable):
            labels = sets[int(ranking.sets[i])]
            path = None if paths is None else paths[i]
            nodes = route_nodes(graph, labels, ranking, int(i), path)
            position = labels.positions[int(ids[i])]
            line = route_geometry(graph, x, y, nodes, labels.x[position], labels.y[position])
            coords = np.asarray(line.coords)
            glon, glat = back.transform(coords[:, 0], coords[:, 1])
            lines[i] = shapely.LineString(np.column_stack([glon, glat]))
    distance = np.round(metres / 1000.0, 1).tolist()
    offroad_km = np.round(np.maximum(metres - road_m, 0.0) / 1000.0, 1).tolist()
    offroad_min = np.round(np.maximum(ranking.minutes - road_min, 0.0), 1).tolist()
    lons, lats = table.lon[ids], table.lat[ids]
    straight = np.round(_geodesic_km(lon, lat, lons, lats), 1).tolist()
    times = np.round(ranking.minutes, 1).tolist()
    km = (per_class / 1000.0).tolist()
    worst = np.maximum(top, start_class).tolist()
    ok_list = reachable.tolist()
    lons_l, lats_l, ids_l = lons.tolist(), lats.tolist(), ids.tolist()
    records = []
    for r in range(n):
        rec = dict(table.records[ids_l[r]])
        ok = ok_list[r]
        rec["travel_time_min"] = times[r] if ok else None
        rec["reachable"] = ok
        rec["unreachable_reason"] = None if ok else CUT_OFF
        rec["lon"] = lons_l[r]
        rec["lat"] = lats_l[r]
        rec["straight_km"] = straight[r]
        rec["distance_km"] = distance[r] if ok else None
        rec["offroad_km"] = offroad_km[r] if ok else None
        rec["offroad_min"] = offroad_min[r] if ok else None
        rec["time_flags"] = time_flags(
            rec["travel_time_min"], rec["offroad_min"], rec["distance_km"], rec["straight_km"]
        )
        rec["same_site"] = bool(
            ok
            and rec["straight_km"] <= SAME_SITE_KM
            and rec.get("location_precision") in SITE_PRECISIONS
        )
        if node_class is not None:
            rec["route_worst_class"] = ZONE_CLASSES[worst[r]] if ok else None
            rec["route_km_by_class"] = (
                {name: round(km[r][c], 1) for c, name in enumerate(ZONE_CLASSES)} if ok else None
            )
        records.append(rec)
    return NearestAnswer(
        records=records,
        entry={**_entry(graph, ranking), **road_leg(graph, x, y)},
        ids=ids,
        minutes=ranking.minutes,
        metres=metres,
        routes=lines if with_routes else None,
    )


def _entry(graph: CostGraph, ranking: Ranking) -> dict:
    """How the point entered the network for the first result."""
    if not len(ranking.minutes) or not np.isfinite(ranking.minutes[0]):
        return {
            "snapped_lon": None,
            "snapped_lat": None,
            "snapped_to": None,
            "offroad_leg_km": None,
            "offroad_leg_min": None,
        }
    node = int(ranking.entry_node[0])
    if node == DIRECT:
        snapped_to, entry_lon, entry_lat = "provider", None, None
    else:
        back = _transformer(graph.grid.crs, back=True)
        entry_lon, entry_lat = back.transform(graph.node_x[node], graph.node_y[node])
        snapped_to = "road" if graph.n_cells <= node < graph.n_cells + graph.n_road else "grid cell"
    return {
        "snapped_lon": None if entry_lon is None else round(float(entry_lon), 6),
        "snapped_lat": None if entry_lat is None else round(float(entry_lat), 6),
        "snapped_to": snapped_to,
        "offroad_leg_km": round(float(ranking.leg_metres[0]) / 1000.0, 3),
        "offroad_leg_min": round(float(ranking.leg_minutes[0]), 1),
    }


def _cut_off(
    table: ProviderTable,
    sets: Sequence[NearestLabels],
    lon: float,
    lat: float,
    k: int,
    *,
    zones: bool,
) -> NearestAnswer:
    """Every provider unreachable: the query point lies in a closed cell.  The ``k``
    nearest in a straight line are listed, so the caseworker still sees who is closest."""
    ids, _, _ = _union(sets)
    km = _geodesic_km(lon, lat, table.lon[ids], table.lat[ids])
    order = np.lexsort((ids, km))[:k]
    chosen = ids[order]
    straight = np.round(km[order], 1)
    records = []
    for i, row in enumerate(chosen.tolist()):
        rec = dict(table.records[row])
        rec["travel_time_min"] = None
        rec["reachable"] = False
        rec["unreachable_reason"] = CLOSED_ORIGIN
        rec["lon"] = float(table.lon[row])
        rec["lat"] = float(table.lat[row])
        rec["straight_km"] = float(straight[i])
        rec["distance_km"] = None
        rec["offroad_km"] = None
        rec["offroad_min"] = None
        rec["time_flags"] = []
        rec["same_site"] = False
        if zones:
            rec["route_worst_class"] = None
            rec["route_km_by_class"] = None
        records.append(rec)
    entry = {
        "snapped_lon": None,
        "snapped_lat": None,
        "snapped_to": "closed area",
        "offroad_leg_km": None,
        "offroad_leg_min": None,
        "road_km": None,
        "road_offroad_min": None,
    }
    n = len(chosen)
    return NearestAnswer(
        records=records,
        entry=entry,
        ids=chosen,
        minutes=np.full(n, np.inf),
        metres=np.full(n, np.nan),
        routes=None,
    )


def _geodesic_km(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Great-circle km on the sphere of the WGS 84 mean radius (within 0.3 % of the
    ellipsoid: a "straight line" figure, rounded to 0.1 km)."""
    if len(lons) == 0:
        return np.empty(0)
    p1, p2 = math.radians(lat), np.radians(np.asarray(lats, dtype=float))
    dp = p2 - p1
    dl = np.radians(np.asarray(lons, dtype=float) - lon)
    a = np.sin(dp / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


# --------------------------------------------------------------------------- table form


@dataclass(frozen=True)
class NearestResult:
    """Ranked providers and how the query point entered the network."""

    results: pd.DataFrame
    entry: dict
    routes: gpd.GeoDataFrame


def nearest_providers(
    graph: CostGraph,
    sets: Sequence[NearestLabels],
    providers: pd.DataFrame | ProviderTable,
    lon: float,
    lat: float,
    *,
    k: int = 5,
    with_routes: bool = True,
    cell_zone: np.ndarray | None = None,
) -> NearestResult:
    """:func:`nearest_answer` as a table: one row per ranked provider, and the routes.

    ``results`` has the provider columns plus ``travel_time_min``, ``distance_km``
    (along the route, off-road legs included), ``straight_km``, ``reachable`` and
    ``unreachable_reason`` (null times are explicit, never 0).  ``routes`` holds one
    line per reachable result, EPSG:4326.  With ``cell_zone`` (conflict class per grid
    cell) each result also has ``route_worst_class`` and ``route_km_by_class``.
    """
    table = (
        providers if isinstance(providers, ProviderTable) else ProviderTable.from_frame(providers)
    )
    found = nearest_answer(
        graph,
        sets,
        table,
        lon,
        lat,
        k=k,
        node_class=None if cell_zone is None else node_classes(graph, cell_zone),
        with_routes=with_routes,
    )
    out = pd.DataFrame.from_records(found.records) if found.records else pd.DataFrame()
    for name in ("travel_time_min", "distance_km"):
        if name in out:
            out[name] = out[name].astype(float)
    lines = found.routes if found.routes is not None else [None] * len(found.records)
    routes = gpd.GeoDataFrame(
        {
            "id": out["id"] if "id" in out else range(len(out)),
            "travel_time_min": out.get("travel_time_min", pd.Series(dtype=float)),
            "distance_km": out.get("distance_km", pd.Series(dtype=float)),
        },
        geometry=lines,
        crs=GEOGRAPHIC_CRS,
    )
    return NearestResult(results=out, entry=found.entry, routes=routes)
