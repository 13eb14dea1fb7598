"""One route between two points, or from a point to a provider the caseworker chose.

``orienter route`` and ``GET /api/v1/route``: the travel time, distance, off-road legs,
kilometres per conflict class and the line between any two points, by one Dijkstra from
the origin on the built graph of the mode and scenario (:func:`geo.trips.trip_between`,
the engine's point-to-point reference).  A provider as the destination follows the
nearest endpoint's privacy rule: confidential providers only with a caseworker token,
and an unknown id and a confidential one get the same refusal.

Nothing about the query is logged or stored.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from api.build.layers import Layers
from geo.nearest import to_metric
from geo.trips import trip_between
from geo.zones import ZONE_CLASSES

__all__ = ["Endpoint", "RouteError", "answer_route", "parse_endpoint"]


class RouteError(ValueError):
    """A route request that cannot be answered: ``parameter`` names the culprit, ``code``
    is the message's key in the error catalogue (``web/locales/*/errors.json``) and
    ``message`` the English text the command line prints.  Neither repeats the input."""

    def __init__(self, parameter: str, code: str, message: str, **values: Any) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.code = code
        self.message = message
        self.values = values


@dataclass(frozen=True)
class Endpoint:
    """One end of a route: a point, a settlement or a provider (EPSG:4326)."""

    kind: str  # "point", "place" or "provider"
    lon: float
    lat: float
    label: str | None = None
    place: dict | None = None
    provider: dict | None = None


def parse_endpoint(
    text: str,
    parameter: str,
    *,
    layers: Layers,
    gazetteer: Any | None,
    include_confidential: bool,
    providers_allowed: bool,
) -> Endpoint:
    """``LON,LAT`` (any number of decimals), a provider id (``providers_allowed``) or a
    settlement name or P-code; :class:`RouteError` naming ``parameter`` otherwise."""
    value = text.strip()
    if not value:
        raise RouteError(parameter, "route_end", "empty; give LON,LAT or a place")
    parts = value.split(",")
    if len(parts) == 2:
        try:
            lon, lat = float(parts[0]), float(parts[1])
        except ValueError:
            pass
        else:
            if not (np.isfinite(lon) and np.isfinite(lat)):
                raise RouteError(parameter, "route_end", "give LON,LAT as two finite numbers")
            return Endpoint("point", lon, lat)
    if providers_allowed:
        table = layers.table(include_confidential)
        ids = table.frame["id"].astype(str).tolist()
        if value in ids:
            i = ids.index(value)
            record = table.records[i]
            return Endpoint(
                "provider",
                float(table.lon[i]),
                float(table.lat[i]),
                label=str(record.get("name")),
                provider=record,
            )
    if gazetteer is None:
        raise RouteError(
            parameter, "gazetteer_missing", "no settlement gazetteer is loaded; give LON,LAT"
        )
    try:
        hit = gazetteer.resolve(value)
    except (ValueError, TypeError) as exc:
        raise RouteError(parameter, "no_letters", "no letter or digit to search for") from exc
    if hit is None:
        # an unknown id and a confidential one the asker may not see: the same refusal
        if providers_allowed:
            raise RouteError(
                parameter, "route_to_not_found", "no settlement or provider id matches"
            )
        raise RouteError(parameter, "place_not_found", "no settlement matches")
    return Endpoint("place", float(hit["lon"]), float(hit["lat"]), label=hit["name"], place=hit)


def answer_route(
    layers: Layers,
    origin: Endpoint,
    destination: Endpoint,
    *,
    mode: str,
    scenario: str = "baseline",
    lang: str = "en",
) -> dict:
    """The route from ``origin`` to ``destination`` as plain JSON-ready data.

    Raises
    ------
    RouteError
        An unbuilt mode/scenario, or an end outside the travel-time grid.
    """
    if (mode, scenario) not in layers.layers:
        built = ", ".join(f"{m}/{s}" for m, s in layers.layers)
        raise RouteError(
            "scenario",
            "not_built_combination",
            f"{mode}/{scenario} is not built; built: {built}",
            allowed=[f"{m}/{s}" for m, s in layers.layers],
        )
    layer = layers.layers[(mode, scenario)]
    graph = layer.graph
    x0, y0 = to_metric(graph, origin.lon, origin.lat)
    x1, y1 = to_metric(graph, destination.lon, destination.lat)
    try:
        trip = trip_between(graph, x0, y0, x1, y1)
    except ValueError as exc:
        parameter = "from" if "origin" in str(exc) else "to"
        closed = "closed" in str(exc)
        if closed:
            raise RouteError(
                parameter, "route_closed", "the point lies in an area closed under this scenario"
            ) from exc
        raise RouteError(
            parameter, "route_outside", "the point is outside the travel-time grid (outside Mali?)"
        ) from exc
    reachable = bool(np.isfinite(trip.minutes))
    conflict = None
    if layer.node_class is not None and reachable:
        conflict = _conflict(graph, layer.node_class, trip, (x0, y0), (x1, y1))
    line = None
    if trip.line is not None:
        from pyproj import Transformer

        back = Transformer.from_crs(graph.grid.crs, "EPSG:4326", always_xy=True)
        coords = np.asarray(trip.line.coords)
        lon, lat = back.transform(coords[:, 0], coords[:, 1])
        line = shapely.geometry.mapping(
            shapely.set_precision(shapely.LineString(np.column_stack([lon, lat])), 1e-6)
        )
    out = {
        "from": _describe(origin),
        "to": _describe(destination),
        "mode": mode,
        "scenario": scenario,
        "reachable": reachable,
        "unreachable_reason": None
        if reachable
        else "no path: the area is cut off from this point under this scenario",
        "travel_time_min": round(float(trip.minutes), 1) if reachable else None,
        "distance_km": round(trip.distance_m / 1000.0, 1) if reachable else None,
        "road_km": round(trip.road_m / 1000.0, 1) if reachable else None,
        "offroad_km": round(trip.offroad_m / 1000.0, 1) if reachable else None,
        "start_leg_km": round(trip.start_leg_m / 1000.0, 2),
        "end_leg_km": round(trip.end_leg_m / 1000.0, 2) if reachable else None,
        "straight_km": round(_geodesic_km(origin, destination), 1),
        "route_conflict": conflict,
        "time_meaning": layers.time_meaning(lang),
        "route": line,
        "data": {
            "roads": layers.manifest.get("inputs", {}).get("roads", {}).get("kind"),
            "built_at": layers.manifest.get("built_at"),
        },
    }
    return out


def _describe(end: Endpoint) -> dict:
    out: dict[str, Any] = {"kind": end.kind, "lon": round(end.lon, 6), "lat": round(end.lat, 6)}
    if end.place is not None:
        out["place"] = {k: end.place.get(k) for k in ("pcode", "name", "adm1", "adm2", "adm3")}
    if end.provider is not None:
        keep = ("id", "name", "type", "services", "location_precision", "town", "phone")
        out["provider"] = {k: end.provider.get(k) for k in keep}
    return out


def _conflict(graph, node_class, trip, start, end) -> dict:
    """Worst class and km per class along the trip (legs count in their cells' class)."""
    nodes = np.asarray(trip.nodes, dtype=np.int64)
    per_class = np.zeros(len(ZONE_CLASSES))

    def cell_class(x: float, y: float) -> int:
        cell = int(graph.grid.locate(np.array([x]), np.array([y]))[0])
        return int(node_class[cell]) if cell >= 0 else 0

    a_class, b_class = cell_class(*start), cell_class(*end)
    worst = max(a_class, b_class)
    if len(nodes):
        classes = node_class[nodes]
        for a, b in itertools.pairwise(nodes):
            per_class[max(node_class[a], node_class[b])] += graph.metres[a, b]
        per_class[max(a_class, int(classes[0]))] += trip.start_leg_m
        per_class[max(b_class, int(classes[-1]))] += trip.end_leg_m
        worst = max(worst, int(classes.max()))
    else:  # straight across country
        per_class[max(a_class, b_class)] += trip.distance_m
    return {
        "worst_class": ZONE_CLASSES[worst],
        "km_by_class": {
            name: round(float(per_class[c]) / 1000.0, 1) for c, name in enumerate(ZONE_CLASSES)
        },
    }


def _geodesic_km(a: Endpoint, b: Endpoint) -> float:
    from pyproj import Geod

    _, _, dist = Geod(ellps="WGS84").inv(a.lon, a.lat, b.lon, b.lat)
    return float(dist) / 1000.0
