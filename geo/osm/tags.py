"""OpenStreetMap tags to Orienter's road schema: ``highway`` to road class, ``surface`` to paved.

The same mapping serves OSM files (:mod:`geo.osm.reader`) and line layers with OSM-like class
columns (:mod:`geo.osm.lines`), so a road has one class whichever file it comes from.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from geo.roads import ROAD_CLASSES

__all__ = [
    "ROAD_CLASSES",
    "classify_way",
    "is_missing",
    "paved_code",
    "paved_from_surface",
    "road_class_from_highway",
]

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
_TRACK_GRADE = re.compile(r"^track_grade[1-5]$")


def is_missing(value: object) -> bool:
    """True for None, NA, NaN and blank strings (a tag or cell with no value)."""
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
    if is_missing(value):
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
    if is_missing(value):
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


def paved_code(value: object) -> int:
    """``paved_from_surface`` as int8: 1 paved, 0 unpaved, -1 unknown."""
    paved = paved_from_surface(value)
    return -1 if paved is None else int(paved)


def classify_way(tags: Any, classes: frozenset[str] | None) -> tuple[str, int] | None:
    """(road class, paved code) of a way with these tags, or None when it is not kept."""
    highway = tags.get("highway")
    if highway is None:
        return None
    road_class = road_class_from_highway(highway)
    if road_class is None or tags.get("area") == "yes":
        return None
    if classes is not None and road_class not in classes:
        return None
    return road_class, paved_code(tags.get("surface"))
