"""What a reader must know before trusting a travel time: how far the start is from a
road (to the road's line), how much of a route is off the modelled roads, whether it is
a long detour, and whether the start is the provider's own site.

The same rule (:func:`flag_arrays`) flags one route of the finder (:func:`time_flags`)
and every grid cell's route to its nearest provider (:func:`nearest_routes`), from which
coverage tables say which units' times rest mostly on such routes
(:data:`UNIT_FLAG_SHARE`, :func:`geo.coverage.coverage_table`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geo import _walks
from geo.costgraph import CostGraph, road_distance_m
from geo.labels import NearestLabels

__all__ = [
    "DETOUR_MIN_KM",
    "DETOUR_RATIO",
    "OFFROAD_MIN_MIN",
    "OFFROAD_SHARE",
    "SAME_SITE_KM",
    "SITE_PRECISIONS",
    "UNIT_FLAG_SHARE",
    "UNIT_KIND_SHARE",
    "NodeRoutes",
    "flag_arrays",
    "nearest_routes",
    "road_leg",
    "time_flags",
]

#: A time "rests mostly on off-road legs" when more than this share of the route's
#: minutes are spent off the modelled roads (across the grid at off-road speeds).
OFFROAD_SHARE = 0.5
#: ... and they last at least this long (minutes): a town trip across a cell or two, where
#: the road data has no streets, is not what the flag warns of.
OFFROAD_MIN_MIN = 30.0
#: A route is a long detour when it is at least this many times the straight line ...
DETOUR_RATIO = 2.0
#: ... and the straight line is at least this long (km): short hops always look winding.
DETOUR_MIN_KM = 10.0
#: Within this distance (km) of a provider located at its own site, the point is the site.
SAME_SITE_KM = 0.05
#: Location precisions that place a provider at its own site (the others at a town).
SITE_PRECISIONS = ("exact", "facility")
#: A unit's times (its median, its people beyond a threshold) are flagged when at least
#: this share of its people who reach a provider do so on a flagged route (either flag) ...
UNIT_FLAG_SHARE = 0.5
#: ... and the unit's marks name each flag held by at least this share of them.
UNIT_KIND_SHARE = 0.25


def flag_arrays(
    minutes: np.ndarray,
    offroad_min: np.ndarray,
    distance_km: np.ndarray,
    straight_km: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The one rule of :func:`time_flags` on aligned arrays: ``offroad`` where more than
    :data:`OFFROAD_SHARE` of the minutes, and at least :data:`OFFROAD_MIN_MIN` minutes,
    are off the modelled roads, ``detour`` where the
    route is :data:`DETOUR_RATIO` times a straight line of :data:`DETOUR_MIN_KM` or more.
    NaN or infinite minutes, and NaN distances, raise no flag.

    >>> flag_arrays(np.array([989.0]), np.array([120.0]), np.array([597.0]), np.array([265.0]))
    (array([False]), array([ True]))
    """
    minutes = np.asarray(minutes, dtype=float)
    offroad_min = np.asarray(offroad_min, dtype=float)
    distance_km = np.asarray(distance_km, dtype=float)
    straight_km = np.asarray(straight_km, dtype=float)
    known = np.isfinite(minutes) & np.isfinite(distance_km)
    with np.errstate(invalid="ignore", divide="ignore"):
        offroad = (
            known
            & np.isfinite(offroad_min)
            & (minutes > 0)
            & (offroad_min >= OFFROAD_MIN_MIN)
            & (offroad_min / np.where(minutes > 0, minutes, 1.0) > OFFROAD_SHARE)
        )
        detour = (
            known & (straight_km >= DETOUR_MIN_KM) & (distance_km >= DETOUR_RATIO * straight_km)
        )
    return offroad, detour


def time_flags(
    minutes: float | None,
    offroad_min: float | None,
    distance_km: float | None,
    straight_km: float,
) -> list[str]:
    """What a reader must know before trusting a travel time: ``"offroad"`` when more
    than :data:`OFFROAD_SHARE` of the time, and :data:`OFFROAD_MIN_MIN` minutes or more,
    are spent off the modelled roads (across the grid at off-road speeds), ``"detour"``
    when the route is :data:`DETOUR_RATIO` times the straight line or more (a straight
    line of :data:`DETOUR_MIN_KM` or more).

    >>> time_flags(989.0, 120.0, 597.0, 265.0), time_flags(476.0, 420.0, 113.0, 84.6)
    (['detour'], ['offroad'])
    """
    # the rule of flag_arrays for one route, in plain floats (the finder's hot path)
    if minutes is None or distance_km is None:
        return []
    if not (math.isfinite(minutes) and math.isfinite(distance_km)):
        return []
    flags = []
    if (
        offroad_min is not None
        and math.isfinite(offroad_min)
        and minutes > 0
        and offroad_min >= OFFROAD_MIN_MIN
        and offroad_min / minutes > OFFROAD_SHARE
    ):
        flags.append("offroad")
    if straight_km >= DETOUR_MIN_KM and distance_km >= DETOUR_RATIO * straight_km:
        flags.append("detour")
    return flags


@dataclass(frozen=True)
class NodeRoutes:
    """Every grid cell's route to its nearest source (the first label), as the finder
    measures one route: ``minutes`` (the label's, off-road legs included; inf
    unreachable), ``offroad_min`` (minutes off the modelled roads), ``distance_km``
    (along the route, the last leg to the source included) and ``straight_km`` (cell
    centre to the source, in the graph's metric CRS); NaN where unreachable."""

    minutes: np.ndarray
    offroad_min: np.ndarray
    distance_km: np.ndarray
    straight_km: np.ndarray

    def flags(self) -> tuple[np.ndarray, np.ndarray]:
        """:func:`flag_arrays` of every cell: (offroad, detour) booleans."""
        return flag_arrays(self.minutes, self.offroad_min, self.distance_km, self.straight_km)


def nearest_routes(graph: CostGraph, labels: NearestLabels) -> NodeRoutes:
    """The route of every grid cell of ``graph`` to its nearest source of ``labels``.

    One compiled pass over the labels' predecessor tree (each node walked once): about a
    second for a national 1 km graph.
    """
    if labels.n_nodes != graph.n_nodes:
        raise ValueError(
            f"labels hold {labels.n_nodes} nodes but the graph has {graph.n_nodes}; "
            "they come from different builds"
        )
    csr = graph.minutes
    n = graph.n_cells
    road_min, metres = _walks.first_label_routes(
        labels.source,
        labels.pred,
        csr.indptr,
        csr.indices,
        csr.data,
        graph.metres.data,
        n,
        n,
        np.asarray(labels.x, dtype=np.float64),
        np.asarray(labels.y, dtype=np.float64),
        np.asarray(graph.node_x, dtype=np.float64),
        np.asarray(graph.node_y, dtype=np.float64),
    )
    first = np.asarray(labels.source[:n, 0]).astype(np.int64)
    reached = first >= 0
    minutes = np.where(reached, np.asarray(labels.minutes[:n, 0], dtype=np.float64), np.inf)
    at = np.maximum(first, 0)
    straight = np.hypot(graph.node_x[:n] - labels.x[at], graph.node_y[:n] - labels.y[at])
    nan = np.full(n, np.nan)
    return NodeRoutes(
        minutes=minutes,
        offroad_min=np.where(reached, np.maximum(minutes - road_min, 0.0), nan),
        distance_km=np.where(reached, metres / 1000.0, nan),
        straight_km=np.where(reached, straight / 1000.0, nan),
    )


def road_leg(graph: CostGraph, x: float, y: float) -> dict:
    """How far the point is from the nearest modelled road (``road_km``, to the road's
    line) and how long that is off-road at the point's pace (``road_offroad_min``);
    None for both without roads."""
    metres = road_distance_m(graph, x, y)
    if metres is None:
        return {"road_km": None, "road_offroad_min": None}
    cell = graph.grid.locate_one(x, y)
    pace = float(graph.cell_pace[cell]) if cell >= 0 else float("nan")
    minutes = metres * pace
    return {
        "road_km": round(metres / 1000.0, 1),
        "road_offroad_min": round(minutes, 1) if np.isfinite(minutes) else None,
    }
