"""The k nearest providers of a service from a point, ranked by travel time.

Pure function over built layers: an attached :class:`~geo.costgraph.CostGraph`, its
:class:`~geo.traveltime.SourceMatrix` and the provider table aligned with the matrix
columns.  Confidentiality is the caller's decision: pass only the rows the requester may
see (``geo.providers.public_providers`` for the public).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo.costgraph import CostGraph
from geo.crs import GEOGRAPHIC_CRS
from geo.traveltime import SourceMatrix, rank_sources, route_line
from geo.zones import ZONE_CLASSES, classes_along_path

__all__ = ["CLOSED_ORIGIN", "NearestResult", "nearest_providers", "providers_offering"]

#: Reason given when the query point itself lies in a cell the scenario closes.
CLOSED_ORIGIN = "the point lies in an area closed under this scenario (high conflict zone)"

_TRANSFORMERS: dict[str, Transformer] = {}


def _to_metric(graph: CostGraph) -> Transformer:
    key = graph.grid.crs.to_wkt()
    if key not in _TRANSFORMERS:
        _TRANSFORMERS[key] = Transformer.from_crs(GEOGRAPHIC_CRS, graph.grid.crs, always_xy=True)
    return _TRANSFORMERS[key]


def _to_geographic(graph: CostGraph) -> Transformer:
    key = "back:" + graph.grid.crs.to_wkt()
    if key not in _TRANSFORMERS:
        _TRANSFORMERS[key] = Transformer.from_crs(graph.grid.crs, GEOGRAPHIC_CRS, always_xy=True)
    return _TRANSFORMERS[key]


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


@dataclass(frozen=True)
class NearestResult:
    """Ranked providers and how the query point entered the network."""

    results: pd.DataFrame
    entry: dict
    routes: gpd.GeoDataFrame


def nearest_providers(
    graph: CostGraph,
    matrix: SourceMatrix,
    providers: pd.DataFrame,
    lon: float,
    lat: float,
    *,
    visible: np.ndarray,
    service: str | None = None,
    k: int = 5,
    with_routes: bool = True,
    cell_zone: np.ndarray | None = None,
) -> NearestResult:
    """Rank the providers that are ``visible`` and offer ``service`` by time from (lon, lat).

    Parameters
    ----------
    providers
        One row per matrix column (same order): id, name, type, services, geometry …
    visible
        Boolean mask over ``providers``: which rows the requester may see.
    k
        How many results, 1 to 50.

    Returns
    -------
    NearestResult
        ``results`` has the provider columns plus ``travel_time_min``, ``distance_km``
        (along the route, off-road leg included), ``straight_km``, ``reachable`` and
        ``unreachable_reason`` (null times are explicit, never 0).  ``routes`` holds one
        line per reachable result, EPSG:4326.  With ``cell_zone`` (conflict class per
        grid cell) each result also has ``route_worst_class`` and ``route_km_by_class``.
    """
    if not 1 <= k <= 50:
        raise ValueError(f"k must be 1 to 50, got {k}")
    if len(providers) != matrix.minutes.shape[1]:
        raise ValueError(
            f"providers has {len(providers)} rows but the matrix "
            f"{matrix.minutes.shape[1]} columns; rebuild the layers"
        )
    x, y = _to_metric(graph).transform(lon, lat)
    columns = np.flatnonzero(
        np.asarray(visible, dtype=bool) & providers_offering(providers, service)
    )
    try:
        ranking = rank_sources(graph, matrix, x, y, columns=columns, k=k)
    except ValueError:
        # the point is in a cell closed by the scenario: nothing is reachable from it
        return _cut_off(providers, columns, lon, lat, k)
    rows = providers.iloc[ranking.columns].reset_index(drop=True)
    out = pd.DataFrame(rows.drop(columns="geometry", errors="ignore"))
    reachable = np.isfinite(ranking.minutes)
    out["travel_time_min"] = np.where(reachable, np.round(ranking.minutes, 1), np.nan)
    out["reachable"] = reachable
    cut_off = "no path: the area is cut off from this provider under this scenario"
    out["unreachable_reason"] = [None if ok else cut_off for ok in reachable]
    geod = shapely.get_coordinates(rows.geometry.values) if len(rows) else np.empty((0, 2))
    out["lon"] = geod[:, 0] if len(rows) else []
    out["lat"] = geod[:, 1] if len(rows) else []
    straight = _geodesic_km(lon, lat, out["lon"].to_numpy(), out["lat"].to_numpy())
    out["straight_km"] = np.round(straight, 1)
    lines: list[shapely.LineString | None] = []
    km: list[float] = []
    worst: list[str | None] = []
    km_by_class: list[dict | None] = []
    back = _to_geographic(graph)
    for i in range(len(rows)):
        if not reachable[i]:
            km.append(np.nan)
            lines.append(None)
            worst.append(None)
            km_by_class.append(None)
            continue
        line, metres, nodes = route_line(
            graph, matrix, int(ranking.entry_node[i]), int(ranking.columns[i])
        )
        km.append((metres + ranking.leg_metres[i]) / 1000.0)
        if cell_zone is not None:
            w, by_class = classes_along_path(graph, cell_zone, nodes)
            start_cell = graph.grid.locate(np.array([x]), np.array([y]))[0]
            if start_cell >= 0 and ZONE_CLASSES.index(w) < cell_zone[start_cell]:
                w = ZONE_CLASSES[int(cell_zone[start_cell])]
            worst.append(w)
            km_by_class.append(by_class)
        else:
            worst.append(None)
            km_by_class.append(None)
        if with_routes:
            coords = np.vstack([[x, y], shapely.get_coordinates(line)])
            lon_r, lat_r = back.transform(coords[:, 0], coords[:, 1])
            lines.append(shapely.LineString(np.column_stack([lon_r, lat_r])))
        else:
            lines.append(None)
    out["distance_km"] = np.round(np.asarray(km, dtype=float), 1)
    if cell_zone is not None:
        out["route_worst_class"] = worst
        out["route_km_by_class"] = km_by_class
    routes = gpd.GeoDataFrame(
        {
            "id": out["id"] if "id" in out else range(len(out)),
            "travel_time_min": out["travel_time_min"],
            "distance_km": out["distance_km"],
        },
        geometry=lines,
        crs=GEOGRAPHIC_CRS,
    )
    first_leg = ranking.leg_metres[0] if len(ranking.minutes) else np.nan
    entry_node = int(ranking.entry_node[0]) if len(ranking.minutes) else -1
    entry_lon, entry_lat = (
        back.transform(graph.node_x[entry_node], graph.node_y[entry_node])
        if entry_node >= 0
        else (np.nan, np.nan)
    )
    entry = {
        "snapped_lon": round(float(entry_lon), 6),
        "snapped_lat": round(float(entry_lat), 6),
        "snapped_to": (
            "road" if graph.n_cells <= entry_node < graph.n_cells + graph.n_road else "grid cell"
        ),
        "offroad_leg_km": round(float(first_leg) / 1000.0, 3),
        "offroad_leg_min": round(float(ranking.leg_minutes[0]), 1)
        if len(ranking.minutes)
        else None,
    }
    return NearestResult(results=out, entry=entry, routes=routes)


def _cut_off(
    providers: pd.DataFrame, columns: np.ndarray, lon: float, lat: float, k: int
) -> NearestResult:
    """Every provider unreachable: the query point lies in a closed cell.  The ``k``
    nearest in a straight line are listed, so the caseworker still sees who is closest."""
    xy_all = shapely.get_coordinates(providers.geometry.values[columns]).reshape(-1, 2)
    order = np.argsort(_geodesic_km(lon, lat, xy_all[:, 0], xy_all[:, 1]), kind="stable")[:k]
    rows = providers.iloc[columns[order]].reset_index(drop=True)
    out = pd.DataFrame(rows.drop(columns="geometry", errors="ignore"))
    out["travel_time_min"] = np.nan
    out["reachable"] = False
    out["unreachable_reason"] = CLOSED_ORIGIN
    xy = shapely.get_coordinates(rows.geometry.values) if len(rows) else np.empty((0, 2))
    out["lon"], out["lat"] = xy[:, 0], xy[:, 1]
    out["straight_km"] = np.round(_geodesic_km(lon, lat, xy[:, 0], xy[:, 1]), 1)
    out["distance_km"] = np.nan
    routes = gpd.GeoDataFrame(
        {"id": out.get("id", pd.Series(range(len(out))))},
        geometry=[None] * len(out),
        crs=GEOGRAPHIC_CRS,
    )
    entry = {
        "snapped_lon": None,
        "snapped_lat": None,
        "snapped_to": "closed area",
        "offroad_leg_km": None,
        "offroad_leg_min": None,
    }
    return NearestResult(results=out, entry=entry, routes=routes)


def _geodesic_km(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    from pyproj import Geod

    if len(lons) == 0:
        return np.empty(0)
    _, _, dist = Geod(ellps="WGS84").inv(
        np.full(len(lons), lon), np.full(len(lats), lat), lons, lats
    )
    return np.asarray(dist) / 1000.0
