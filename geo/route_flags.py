"""What a reader must know before trusting a travel time: how far the start is from a
road (to the road's line), how much of a route is off the modelled roads, whether it is
a long detour, and whether the start is the provider's own site."""

from __future__ import annotations

import numpy as np

from geo.costgraph import CostGraph, road_distance_m

__all__ = [
    "DETOUR_MIN_KM",
    "DETOUR_RATIO",
    "OFFROAD_SHARE",
    "SAME_SITE_KM",
    "SITE_PRECISIONS",
    "road_leg",
    "time_flags",
]

#: A time "rests mostly on off-road legs" when more than this share of the route's
#: kilometres are off the modelled roads (across the grid at off-road speeds).
OFFROAD_SHARE = 0.5
#: A route is a long detour when it is at least this many times the straight line ...
DETOUR_RATIO = 2.0
#: ... and the straight line is at least this long (km): short hops always look winding.
DETOUR_MIN_KM = 10.0
#: Within this distance (km) of a provider located at its own site, the point is the site.
SAME_SITE_KM = 0.05
#: Location precisions that place a provider at its own site (the others at a town).
SITE_PRECISIONS = ("exact", "facility")


def time_flags(
    minutes: float | None,
    offroad_min: float | None,
    distance_km: float | None,
    straight_km: float,
) -> list[str]:
    """What a reader must know before trusting a travel time: ``"offroad"`` when more
    than :data:`OFFROAD_SHARE` of the time is spent off the modelled roads (across the
    grid at off-road speeds), ``"detour"`` when the route is :data:`DETOUR_RATIO` times
    the straight line or more (a straight line of :data:`DETOUR_MIN_KM` or more).

    >>> time_flags(989.0, 120.0, 597.0, 265.0), time_flags(476.0, 420.0, 113.0, 84.6)
    (['detour'], ['offroad'])
    """
    flags: list[str] = []
    if minutes is None or distance_km is None:
        return flags
    if offroad_min is not None and minutes > 0 and offroad_min / minutes > OFFROAD_SHARE:
        flags.append("offroad")
    if straight_km >= DETOUR_MIN_KM and distance_km >= DETOUR_RATIO * straight_km:
        flags.append("detour")
    return flags


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
