"""Colours, classes and number formats of the maps (one place, so legends match layers)."""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import mapping

from geo.crs import GEOGRAPHIC_CRS
from web.formats import format_people
from web.formats import format_share as _format_share
from web.i18n import translate

__all__ = [
    "APPROXIMATE_PRECISIONS",
    "CONFLICT_COLOURS",
    "DEFAULT_UNCERTAINTY_M",
    "DESERT_COLOUR",
    "ISOCHRONE_COLOURS",
    "MAP_CSS",
    "TIME_BINS_MIN",
    "TIME_COLOURS",
    "TYPE_COLOURS",
    "check_gdf",
    "coverage_bins",
    "coverage_colour",
    "display_geojson",
    "format_int",
    "format_minutes",
    "format_share",
    "t",
    "threshold_label",
    "time_bin_labels",
]

#: Display simplification of polygons (degrees, about 1 km) and coordinate rounding
#: (decimals of a degree: 3 = about 100 m).
SIMPLIFY_DEG = 0.01
ROUND_DECIMALS = 3

#: Colour per provider type (Okabe-Ito palette and greys: told apart with colour blindness).
TYPE_COLOURS: dict[str, str] = {
    "one_stop_centre": "#D55E00",
    "health_facility": "#0072B2",
    "ngo": "#009E73",
    "network": "#56B4E9",
    "legal_clinic": "#CC79A7",
    "government": "#7F5A00",
    "un_agency": "#1F4E9E",
    "hotline": "#E69F00",
    "other": "#6B6B6B",
}

#: Precisions drawn as a dashed circle (never a pin): the point is not the site.
APPROXIMATE_PRECISIONS: tuple[str, ...] = ("locality", "commune", "cercle", "region")

#: Uncertainty radius (m) when no admin unit gives one.  ``locality`` is the town's point:
#: 5 km covers the built-up area of most Malian towns (Bamako aside, whose records are at
#: commune precision).  The others are used only when the unit's polygon is not given;
#: ``web.maps.uncertainty_from_units`` computes them from the unit's area.
DEFAULT_UNCERTAINTY_M: dict[str, float] = {
    "locality": 5_000.0,
    "commune": 15_000.0,
    "cercle": 60_000.0,
    "region": 200_000.0,
}

#: Travel-time classes (minutes): < 30 min, 30 min–1 h, 1–2 h, 2–5 h, > 5 h.
TIME_BINS_MIN: tuple[float, ...] = (0.0, 30.0, 60.0, 120.0, 300.0, math.inf)
#: One colour per class (green = close, red = far), then "unreachable" (dark grey).
TIME_COLOURS: tuple[str, ...] = (
    "#1A9850",
    "#91CF60",
    "#FEE08B",
    "#FC8D59",
    "#D73027",
    "#4D4D4D",
)
ISOCHRONE_COLOURS: dict[float, str] = {
    30.0: TIME_COLOURS[0],
    60.0: TIME_COLOURS[1],
    120.0: TIME_COLOURS[2],
    300.0: TIME_COLOURS[3],
}
#: Conflict classes in magentas, apart from the travel-time reds.
CONFLICT_COLOURS: dict[str, str] = {"low": "#D4B9DA", "elevated": "#C51B8A", "high": "#7A0177"}
DESERT_COLOUR = "#3F007D"
#: Share of the population within the threshold: five classes, light (low) to dark (high).
_COVERAGE_COLOURS = ("#FFFFCC", "#A1DAB4", "#41B6C4", "#2C7FB8", "#253494")
NO_DATA_COLOUR = "#BDBDBD"


def format_int(value: float | None, lang: str) -> str:
    """``1 234 567`` in French, ``1,234,567`` in English (:func:`web.formats.format_people`)."""
    return format_people(value, lang)


def format_share(share: float | None, lang: str) -> str:
    """``45 %`` (French) / ``45%`` (English), whole per cent; a dash when unknown."""
    return _format_share(share, lang, decimals=0)


def format_minutes(minutes: float | None, lang: str) -> str:
    """``45 min``, ``2 h``, ``3 h 20``; "inaccessible"/"unreachable" for inf."""
    if minutes is None or (isinstance(minutes, float) and math.isnan(minutes)):
        return "–"
    if math.isinf(float(minutes)):
        return translate("maps.surface_unreachable", lang)
    total = round(float(minutes))
    if total < 60:
        return f"{total} min"
    hours, rest = divmod(total, 60)
    return f"{hours} h" if rest == 0 else f"{hours} h {rest:02d}"


def threshold_label(threshold_min: float, lang: str) -> str:
    """A threshold as people say it: ``30 min``, ``1 h``, ``2 h``, ``1 h 30``."""
    return format_minutes(float(threshold_min), lang)


def time_bin_labels(lang: str) -> list[str]:
    """Legend labels of the travel-time classes, then "unreachable"."""
    if lang == "fr":
        labels = ["< 30 min", "30 min – 1 h", "1 h – 2 h", "2 h – 5 h", "> 5 h"]
    else:
        labels = ["< 30 min", "30 min – 1 h", "1 h – 2 h", "2 h – 5 h", "> 5 h"]
    return [*labels, translate("maps.surface_unreachable", lang)]


def coverage_colour(share: float | None) -> str:
    """Fill colour of a share (0–1) of the population within the threshold."""
    if share is None or not math.isfinite(float(share)):
        return NO_DATA_COLOUR
    index = min(int(float(share) * 5), 4)
    return _COVERAGE_COLOURS[max(index, 0)]


def coverage_bins(lang: str) -> list[tuple[str, str]]:
    """(colour, label) of the five coverage classes, then "no population"."""
    pct = "\u00a0%" if lang == "fr" else "%"
    labels = [f"0–20{pct}", f"20–40{pct}", f"40–60{pct}", f"60–80{pct}", f"80–100{pct}"]
    return [
        *zip(_COVERAGE_COLOURS, labels, strict=True),
        (NO_DATA_COLOUR, translate("maps.no_population", lang)),
    ]


MAP_CSS = """
.leaflet-container { background: #dde6ea; }
.orienter-legend { background: rgba(255,255,255,.94); padding: 6px 9px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,.35); font: 12px/1.35 system-ui, sans-serif;
  max-width: 260px; max-height: 55vh; overflow-y: auto; }
.orienter-legend summary { cursor: pointer; font-weight: 600; }
.orienter-legend-section { margin-top: 6px; }
.orienter-legend-row { display: flex; align-items: center; gap: 6px; margin-top: 2px; }
.orienter-legend-note { margin-top: 6px; font-size: 11px; color: #333; }
.orienter-key { flex: none; display: inline-block; width: 14px; height: 12px;
  background: var(--key, #999); border: 1px solid rgba(0,0,0,.35); }
.orienter-key-dash { background: transparent; border: 2px dashed var(--key, #555);
  border-radius: 50%; width: 10px; height: 10px; }
.orienter-key-line { height: 0; border: 0; border-top: 3px solid var(--key, #555); }
.orienter-marker { background: transparent; border: 0; }
.orienter-pin { display: flex; align-items: center; justify-content: center; width: 34px;
  height: 18px; border-radius: 9px; color: #fff; font: bold 10px/1 system-ui, sans-serif;
  border: 1.5px solid #fff; box-shadow: 0 0 0 1px rgba(0,0,0,.5); }
.orienter-popup h3 { margin: 0 0 4px; font-size: 14px; }
.orienter-popup table { border-collapse: collapse; font-size: 12px; }
.orienter-popup th { text-align: left; vertical-align: top; padding: 1px 6px 1px 0;
  font-weight: 600; white-space: nowrap; }
.orienter-popup td { padding: 1px 0; }
@media (max-width: 480px) { .orienter-legend { max-width: 170px; font-size: 11px; } }
"""


# ----------------------------------------------------------------------------- display data


def t(key: str, lang: str, **values: object) -> str:
    """A message of the ``maps`` catalogue."""
    return translate(f"maps.{key}", lang, **values)


def check_gdf(gdf: object, name: str, columns: tuple[str, ...] = ()) -> gpd.GeoDataFrame:
    """``gdf`` in EPSG:4326 after checking its kind, columns and CRS (errors name ``name``)."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError(f"{name} must be a GeoDataFrame, got {type(gdf).__name__}")
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        raise ValueError(f"{name} lacks the columns {missing}; it has {list(gdf.columns)}")
    if gdf.crs is None:
        raise ValueError(f"{name} has no CRS; set it (EPSG:4326 expected)")
    return gdf.to_crs(GEOGRAPHIC_CRS) if gdf.crs != GEOGRAPHIC_CRS else gdf


def display_geojson(gdf: gpd.GeoDataFrame, properties: list[str]) -> dict[str, Any]:
    """A small GeoJSON for display: polygons simplified by :data:`SIMPLIFY_DEG` (as a
    coverage when they tile, so neighbours keep their shared edges), coordinates rounded to
    :data:`ROUND_DECIMALS` decimals, only ``properties`` kept."""
    geoms = gdf.geometry.to_numpy()
    polygonal = len(geoms) > 1 and all(
        g is not None and g.geom_type in ("Polygon", "MultiPolygon") for g in geoms
    )
    if polygonal and shapely.coverage_is_valid(geoms):
        # units that share edges keep sharing them: no slivers between neighbours
        geoms = shapely.coverage_simplify(geoms, SIMPLIFY_DEG)
    else:
        geoms = shapely.simplify(geoms, SIMPLIFY_DEG, preserve_topology=True)
    geoms = shapely.set_precision(geoms, 10.0**-ROUND_DECIMALS, mode="pointwise")
    features = []
    for geom, (_, row) in zip(geoms, gdf.iterrows(), strict=True):
        if geom is None or geom.is_empty:
            continue
        props = {p: _json_value(row[p]) for p in properties}
        features.append({"type": "Feature", "properties": props, "geometry": mapping(geom)})
    return {"type": "FeatureCollection", "features": features}


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
