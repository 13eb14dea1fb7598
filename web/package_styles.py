"""QGIS styles of the exported layers, in the colours and classes of the web maps.

One function per layer of ``orienter export`` (see ``docs/export.md``); each returns QML
text (:mod:`web.qml`) with legend labels in French or English.  Colours and classes come
from :mod:`web.maps_style`, so a layer looks the same in QGIS as on the web map.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from web.i18n import translate
from web.maps_style import (
    APPROXIMATE_PRECISIONS,
    CONFLICT_COLOURS,
    DEFAULT_UNCERTAINTY_M,
    DESERT_COLOUR,
    ISOCHRONE_COLOURS,
    TIME_BINS_MIN,
    TIME_COLOURS,
    TYPE_COLOURS,
    coverage_bins,
    format_int,
    threshold_label,
    time_bin_labels,
)
from web.qml import (
    Category,
    Fill,
    Marker,
    Range,
    RasterClass,
    Rule,
    categorized_fill_qml,
    graduated_fill_qml,
    raster_classes_qml,
    rule_points_qml,
    single_fill_qml,
)

__all__ = [
    "APPROXIMATE_EXPRESSION",
    "POPULATION_COLOURS",
    "coverage_qml",
    "deserts_qml",
    "isochrones_qml",
    "population_qml",
    "providers_qml",
    "travel_time_qml",
    "zones_qml",
]

_QUOTED = ", ".join(f"'{p}'" for p in APPROXIMATE_PRECISIONS)
#: QGIS expression true for a record whose point is not the site (an unknown precision
#: counts as approximate: it is never drawn as a pin).
APPROXIMATE_EXPRESSION = (
    f'coalesce("location_precision", \'\') IN ({_QUOTED}) OR "location_precision" IS NULL'
)
#: Population classes, light (few people) to dark (many): ColorBrewer YlOrBr.
POPULATION_COLOURS = ("#FFFFD4", "#FED98E", "#FE9929", "#D95F0E", "#993404")
_OUTLINE = "#6E6E6E"


def _type_expression(kind: str) -> str:
    if kind != "other":
        return f"\"type\" = '{kind}'"
    known = ", ".join(f"'{k}'" for k in TYPE_COLOURS if k != "other")
    return f"coalesce(\"type\", '') NOT IN ({known})"


def providers_qml(kinds: Sequence[str], *, lang: str = "fr") -> str:
    """Providers by type: a filled dot where the location is precise; where it is
    approximate, a dashed circle of the uncertainty radius (``uncertainty_m``, metres on
    the ground) and a small dashed ring that stays visible at the national scale.

    ``kinds``: the provider types to list in the legend (others are drawn as ``other``).
    """
    wanted = [k if k in TYPE_COLOURS else "other" for k in kinds]
    ordered = [k for k in TYPE_COLOURS if k in wanted] or ["other"]
    approx_label = translate("maps.approximate", lang).lower()
    fallback_m = DEFAULT_UNCERTAINTY_M["locality"]
    rules = []
    for kind in ordered:
        colour = TYPE_COLOURS[kind]
        label = translate(f"maps.type_{kind}", lang)
        rules.append(
            Rule(
                f"({_type_expression(kind)}) AND NOT ({APPROXIMATE_EXPRESSION})",
                label,
                (Marker(colour, size=3.4, outline="#FFFFFF", outline_width_mm=0.5),),
            )
        )
        rules.append(
            Rule(
                f"({_type_expression(kind)}) AND ({APPROXIMATE_EXPRESSION})",
                f"{label} ({approx_label})",
                (
                    Marker(
                        colour,
                        size=2 * fallback_m,
                        opacity=0.0,
                        outline=colour,
                        outline_width_mm=0.4,
                        outline_style="dash",
                        size_unit="RenderMetersInMapUnits",
                        size_expression=f'2 * coalesce("uncertainty_m", {fallback_m:g})',
                    ),
                    Marker(
                        colour,
                        size=4.0,
                        opacity=0.0,
                        outline=colour,
                        outline_width_mm=0.6,
                        outline_style="dash",
                    ),
                ),
            )
        )
    return rule_points_qml(rules)


def coverage_qml(threshold_min: float, *, lang: str = "fr") -> str:
    """Admin units in five classes of ``share_within_<threshold_min>`` (0-1), the web
    map's choropleth: 0-20 %, 20-40 % ... (shares are rounded to 1e-4, so a unit at
    exactly 20 % falls in the second class, as on the web map)."""
    bins = coverage_bins(lang)[:5]
    ranges = []
    for i, (colour, label) in enumerate(bins):
        lower = 0.0 if i == 0 else 0.2 * i - 0.00005
        upper = 1.0 if i == len(bins) - 1 else 0.2 * (i + 1) - 0.00005
        ranges.append(Range(lower, upper, label, Fill(colour, opacity=0.85, outline=_OUTLINE)))
    return graduated_fill_qml(f"share_within_{threshold_min:g}", ranges)


def zones_qml(*, lang: str = "fr") -> str:
    """Conflict zones by class: ``low`` as an outline only, ``elevated`` and ``high``
    filled, as on the web map."""
    cats = []
    for name, colour in CONFLICT_COLOURS.items():
        fill = (
            Fill(colour, opacity=0.0, brush="no", outline=colour, outline_width_mm=0.6)
            if name == "low"
            else Fill(colour, opacity=0.35 if name == "elevated" else 0.5, outline=colour)
        )
        cats.append(Category(name, translate(f"maps.conflict_{name}", lang), fill))
    return categorized_fill_qml("zone_class", cats)


def isochrones_qml(*, lang: str = "fr") -> str:
    """Isochrones by ``threshold_min`` (30, 60, 120, 300), translucent, greens to orange."""
    cats = [
        Category(
            f"{minutes:g}",
            f"< {threshold_label(minutes, lang)}",
            Fill(colour, opacity=0.3, outline=colour, outline_width_mm=0.3),
        )
        for minutes, colour in ISOCHRONE_COLOURS.items()
    ]
    return categorized_fill_qml("threshold_min", cats)


def deserts_qml(threshold_min: float, *, lang: str = "fr") -> str:
    """Service deserts: hatched purple with a purple outline (they overlay the rest)."""
    del threshold_min, lang  # one symbol; the layer's title says the threshold
    return single_fill_qml(
        Fill(DESERT_COLOUR, brush="b_diagonal", outline=DESERT_COLOUR, outline_width_mm=0.5)
    )


def travel_time_qml(*, lang: str = "fr", opacity: float = 0.8) -> str:
    """Travel-time raster (minutes) in the web map's classes: < 30 min ... > 5 h.

    Unreachable cells (NaN) are transparent.
    """
    labels = time_bin_labels(lang)
    classes = [
        RasterClass(upper, colour, label)
        for upper, colour, label in zip(TIME_BINS_MIN[1:], TIME_COLOURS, labels, strict=False)
    ]
    return raster_classes_qml(classes, opacity=opacity)


def _people(value: float, lang: str) -> str:
    """``1 234`` people, or one decimal below 10 (``0,5`` in French, ``0.5`` in English)."""
    if value >= 10 or float(value).is_integer():
        return format_int(value, lang)
    text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "fr" else text


def population_qml(breaks: Sequence[float], *, lang: str = "fr", opacity: float = 0.8) -> str:
    """People per cell in classes ending at ``breaks`` (increasing), then one open class.

    At most four breaks (five classes).
    """
    uppers = [float(b) for b in breaks]
    if not 1 <= len(uppers) <= len(POPULATION_COLOURS) - 1:
        raise ValueError(f"breaks: give 1 to {len(POPULATION_COLOURS) - 1} values, got {uppers}")
    uppers.append(math.inf)
    classes = []
    for i, upper in enumerate(uppers):
        if i == 0:
            label = f"≤ {_people(upper, lang)}"
        elif math.isinf(upper):
            label = f"> {_people(uppers[i - 1], lang)}"
        else:
            label = f"{_people(uppers[i - 1], lang)} – {_people(upper, lang)}"
        classes.append(RasterClass(upper, POPULATION_COLOURS[i], label))
    return raster_classes_qml(classes, opacity=opacity)
