"""Static maps for printed briefings: matplotlib + geopandas, rendered offline.

No tile server, no network: every map draws its own base from the boundary layers
(région, its cercles, the other régions for context).  Three maps, one function each,
all taking a :class:`MapFrame` (what the maps of one région share) and returning the
image as bytes (PNG at print resolution, or SVG):

- :func:`providers_map`: public providers only (the function itself drops every record
  that :func:`geo.providers.public_providers` would drop).  A provider located at its
  site (``exact`` / ``facility``) is a filled marker; one located only at its town,
  commune, cercle or région capital is an **open circle**, and the legend says so.
  Co-located providers share one marker, labelled with their numbers in the provider
  table;
- :func:`travel_time_map`: travel-time bands (minutes, a window of the build's surface
  GeoTIFF) with the providers on top;
- :func:`conflict_map`: conflict-zone polygons (aggregates only: one polygon per class),
  never events.

Every map has the région outline, cercle boundaries and names, a scale bar and a north
arrow (its direction computed at the map's centre).  All layers must be in the frame's
metric CRS (the travel-time grid's); a mismatch raises.  Labels come from the ``brief``
message catalogue (``web/locales/<lang>/brief.json``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")  # no display: rendering happens in a server or a CLI

import matplotlib.patheffects as pe
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from matplotlib import pyplot as plt
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from geo.crs import check_same_crs
from geo.providers import public_providers
from web.i18n import translate
from web.map_frame import (
    FONT,
    MapFrame,
    check_fmt,
    draw_context,
    draw_outlines,
    end_map,
    label_cercles,
    map_frame,
    map_notice,
    new_figure,
)

__all__ = [
    "APPROXIMATE_PRECISIONS",
    "TIME_BANDS_MIN",
    "MapFrame",
    "conflict_map",
    "map_frame",
    "providers_map",
    "travel_time_map",
]

#: Location precisions drawn as an open circle (the point is a town or an area's capital).
APPROXIMATE_PRECISIONS = frozenset({"locality", "commune", "cercle", "region"})
#: Upper bounds of the travel-time bands, minutes (the last band is "more than 5 h").
TIME_BANDS_MIN: tuple[int, ...] = (30, 60, 120, 300)
_BAND_COLOURS = ("#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027")
_ZONE_COLOURS = {"elevated": "#f4a259", "high": "#c0392b"}
_TYPE_STYLE: dict[str, tuple[str, str]] = {  # type -> (marker, colour)
    "one_stop_centre": ("*", "#6a1b9a"),
    "ngo": ("o", "#00838f"),
    "network": ("o", "#2e7d32"),
    "legal_clinic": ("s", "#1565c0"),
    "health_facility": ("P", "#ad1457"),
    "government": ("D", "#6d4c41"),
    "un_agency": ("^", "#283593"),
    "other": ("v", "#546e7a"),
}


def _provider_groups(
    providers: gpd.GeoDataFrame, numbers: Mapping[str, int] | None
) -> pd.DataFrame:
    """Public providers grouped by location (rounded to 100 m), with their numbers."""
    shown = public_providers(providers)
    shown = shown[shown.geometry.notna() & ~shown.geometry.is_empty]
    rows = []
    for _, group in shown.groupby(
        [shown.geometry.x.round(-2), shown.geometry.y.round(-2)], sort=True
    ):
        ids = group["id"].astype(str).tolist()
        nums = sorted(numbers[i] for i in ids if numbers and i in numbers)
        precise = group["location_precision"].astype(str).isin(("exact", "facility"))
        types = group["type"].astype(str)
        main_type = (
            "one_stop_centre" if (types == "one_stop_centre").any() else types.mode().iloc[0]
        )
        rows.append(
            {
                "x": float(group.geometry.x.mean()),
                "y": float(group.geometry.y.mean()),
                "ids": ids,
                "numbers": nums,
                "precise": bool(precise.all()),
                "type": main_type if main_type in _TYPE_STYLE else "other",
                "in_table": bool(nums),
            }
        )
    return pd.DataFrame(rows, columns=["x", "y", "ids", "numbers", "precise", "type", "in_table"])


def _numbers_label(numbers: Sequence[int]) -> str:
    if len(numbers) <= 4:
        return ", ".join(str(n) for n in numbers)
    return (
        f"{numbers[0]}–{numbers[-1]}"
        if numbers == list(range(numbers[0], numbers[-1] + 1))
        else (", ".join(str(n) for n in numbers[:3]) + "…")
    )


def _draw_providers(
    ax: plt.Axes,
    frame: MapFrame,
    providers: gpd.GeoDataFrame | None,
    numbers: Mapping[str, int] | None,
    *,
    size: float = 1.0,
    labels: bool = True,
) -> list[str]:
    """Draw the public providers; return the types drawn (for the legend)."""
    if providers is None or len(providers) == 0:
        return []
    check_same_crs(frame.region, providers, what="providers map")
    groups = _provider_groups(providers, numbers)
    xmin, ymin, xmax, ymax = frame.bounds
    inside = groups["x"].between(xmin, xmax) & groups["y"].between(ymin, ymax)
    groups = groups[inside]
    halo = [pe.withStroke(linewidth=2.8, foreground="white")]
    drawn: list[str] = []
    placed: list[tuple[float, float, tuple[int, int]]] = []
    for g in groups.itertuples():
        marker, colour = _TYPE_STYLE[g.type]
        alpha = 1.0 if g.in_table else 0.55
        gid = "providers-" + "+".join(g.ids)
        if g.precise:
            ax.scatter(
                [g.x],
                [g.y],
                marker=marker,
                s=(150 if marker == "*" else 60) * size,
                facecolor=colour,
                edgecolor="white",
                linewidth=0.8,
                zorder=12,
                alpha=alpha,
                gid=gid,
            )
        else:
            ax.scatter(
                [g.x],
                [g.y],
                marker="o",
                s=110 * size,
                facecolor="none",
                edgecolor=colour,
                linewidth=2.0,
                zorder=12,
                alpha=alpha,
                gid=gid,
            )
            ax.scatter([g.x], [g.y], marker=".", s=12 * size, color=colour, zorder=12, alpha=alpha)
        drawn.append(g.type)
        if labels and g.numbers:
            offset, align = _label_offset(g.x, g.y, placed, near=0.06 * (xmax - xmin))
            placed.append((g.x, g.y, offset))
            ax.annotate(
                _numbers_label(g.numbers),
                (g.x, g.y),
                xytext=offset,
                textcoords="offset points",
                ha=align,
                fontsize=7.5,
                fontweight="bold",
                color=colour,
                zorder=13,
                family=FONT,
                path_effects=halo,
            )
    return drawn


#: Label positions tried in turn (points from the marker): right-up, left-up, right-down,
#: left-down, then further out.
_LABEL_OFFSETS = ((6, 5), (-6, 5), (6, -11), (-6, -11), (8, 15), (-8, 15), (8, -21), (-8, -21))


def _label_offset(
    x: float, y: float, placed: list[tuple[float, float, tuple[int, int]]], *, near: float
) -> tuple[tuple[int, int], str]:
    """The first offset not used by a label of a marker closer than ``near`` (map units)."""
    used = {off for px, py, off in placed if abs(px - x) < near and abs(py - y) < near}
    for offset in _LABEL_OFFSETS:
        if offset not in used:
            return offset, "left" if offset[0] > 0 else "right"
    return _LABEL_OFFSETS[0], "left"


def _provider_legend_handles(types: Sequence[str], lang: str) -> list:
    handles = []
    for t in dict.fromkeys(types):
        marker, colour = _TYPE_STYLE[t]
        handles.append(
            Line2D(
                [],
                [],
                marker=marker,
                linestyle="none",
                markerfacecolor=colour,
                markeredgecolor="white",
                markersize=9 if marker == "*" else 7,
                label=translate(f"brief.type_{t}", lang),
            )
        )
    if types:
        handles.append(_ring_handle(translate("brief.map_approximate", lang), size=8))
    return handles


def _ring_handle(label: str, *, size: float) -> Line2D:
    """A legend entry drawn as a hollow grey ring."""
    return Line2D(
        [],
        [],
        marker="o",
        linestyle="none",
        markerfacecolor="none",
        markeredgecolor="#444444",
        markeredgewidth=1.6,
        markersize=size,
        label=label,
    )


def providers_map(
    frame: MapFrame,
    providers: gpd.GeoDataFrame,
    *,
    numbers: Mapping[str, int] | None = None,
    lang: str = "fr",
    fmt: str = "png",
    dpi: int = 200,
    width_in: float = 7.0,
) -> bytes:
    """Map of the public providers around one région.

    Parameters
    ----------
    frame
        From :func:`map_frame`.
    providers
        Provider directory rows (any, confidential included: they are dropped here) in
        the frame's CRS.
    numbers
        Provider id -> number in the briefing's provider table; those providers are
        labelled and drawn strongly, others (outside the région) lighter.
    lang, fmt, dpi, width_in
        Label language, ``png`` or ``svg``, resolution, and the printed width in inches
        (text sizes are in points at that width; the legend is drawn below the map).
    """
    check_fmt(fmt, dpi)
    fig, ax = new_figure(frame, width_in)
    draw_context(ax, frame)
    draw_outlines(ax, frame)
    label_cercles(ax, frame)
    drawn = _draw_providers(ax, frame, providers, numbers)
    if not drawn:
        map_notice(
            ax, frame, translate("brief.map_no_provider", lang), height=0.12, colour="#7a1f1f"
        )
    handles = _provider_legend_handles(drawn, lang)
    title = translate("brief.map_providers_legend", lang)
    return end_map(fig, ax, frame, handles, title, fmt, dpi)


# ----------------------------------------------------------------------------- travel time


def _band_labels(lang: str) -> list[str]:
    h = translate("brief.hours_short", lang)
    return [
        translate("brief.band_under", lang, limit="30 min"),
        "30 min – 1 " + h,
        f"1 – 2 {h}",
        f"2 – 5 {h}",
        translate("brief.band_over", lang, limit=f"5 {h}"),
    ]


def travel_time_map(
    frame: MapFrame,
    minutes: np.ndarray,
    transform: Affine,
    *,
    providers: gpd.GeoDataFrame | None = None,
    numbers: Mapping[str, int] | None = None,
    lang: str = "fr",
    fmt: str = "png",
    dpi: int = 200,
    width_in: float = 7.0,
) -> bytes:
    """Travel-time bands (< 30 min, 30 min-1 h, 1-2 h, 2-5 h, > 5 h) around one région.

    Parameters
    ----------
    minutes
        2-D array of minutes (a window of a surface GeoTIFF, frame CRS); NaN = no data
        (outside the grid), ``inf`` = unreachable (drawn dark grey).
    transform
        Affine transform of ``minutes`` (rasterio's ``window_transform``).
    providers, numbers
        Public providers drawn on top (see :func:`providers_map`).
    """
    check_fmt(fmt, dpi)
    grid = np.asarray(minutes, dtype=float)
    if grid.ndim != 2:
        raise ValueError(f"minutes must be a 2-D array, got shape {grid.shape}")
    if not isinstance(transform, Affine):
        raise TypeError(f"transform must be an affine.Affine, got {type(transform).__name__}")
    fig, ax = new_figure(frame, width_in)
    draw_context(ax, frame)
    rows, cols = grid.shape
    left, top = transform.c, transform.f
    right, bottom = left + cols * transform.a, top + rows * transform.e
    finite = np.where(np.isfinite(grid), grid, np.nan)
    cmap = ListedColormap(list(_BAND_COLOURS)).with_extremes(bad=(0, 0, 0, 0))
    bounds = [0, *TIME_BANDS_MIN, 1e12]
    ax.imshow(
        np.ma.masked_invalid(finite),
        extent=(left, right, bottom, top),
        cmap=cmap,
        norm=BoundaryNorm(bounds, cmap.N),
        interpolation="nearest",
        zorder=2,
    )
    unreachable = np.isinf(grid)
    if unreachable.any():
        ax.imshow(
            np.ma.masked_where(~unreachable, np.ones_like(grid)),
            extent=(left, right, bottom, top),
            cmap=ListedColormap(["#3d3d3d"]),
            interpolation="nearest",
            zorder=3,
        )
    draw_outlines(ax, frame, fade_outside=True)
    label_cercles(ax, frame)
    # numbers are printed on the providers map only: here they would hide the bands
    drawn = _draw_providers(ax, frame, providers, numbers, size=0.8, labels=False)
    handles: list[Patch | Line2D] = [
        Patch(facecolor=c, edgecolor="#777777", linewidth=0.4, label=label)
        for c, label in zip(_BAND_COLOURS, _band_labels(lang), strict=True)
    ]
    if unreachable.any():
        handles.append(Patch(facecolor="#3d3d3d", label=translate("brief.band_unreachable", lang)))
    if drawn:
        handles.append(_ring_handle(translate("brief.map_providers_legend", lang), size=7))
    title = translate("brief.map_time_legend", lang)
    return end_map(fig, ax, frame, handles, title, fmt, dpi)


# ----------------------------------------------------------------------------- conflict


def conflict_map(
    frame: MapFrame,
    zones: gpd.GeoDataFrame | None,
    *,
    thresholds: tuple[float, float] | None = None,
    lang: str = "fr",
    fmt: str = "png",
    dpi: int = 200,
    width_in: float = 7.0,
) -> bytes:
    """Conflict zones (``zone_class`` elevated / high polygons) around one région.

    Parameters
    ----------
    zones
        Zone polygons (``build/conflict/zones.parquet``: ``zone_class``, geometry) in the
        frame's CRS; aggregates only.  None or empty: the map says there is no zone layer.
    thresholds
        (elevated, high) lower bounds, events per 1,000 km² per year, for the legend.
    """
    check_fmt(fmt, dpi)
    fig, ax = new_figure(frame, width_in)
    draw_context(ax, frame)
    handles = []
    if zones is not None and len(zones):
        if "zone_class" not in zones.columns:
            raise ValueError("zones needs a 'zone_class' column (low, elevated, high)")
        check_same_crs(frame.region, zones, what="conflict map")
        view = shapely.box(*frame.bounds)
        for cls in ("elevated", "high"):
            part = zones[zones["zone_class"] == cls]
            if part.empty:
                continue
            clipped = part.geometry.intersection(view)
            clipped = clipped[~clipped.is_empty]
            if clipped.empty:
                continue
            gpd.GeoSeries(clipped, crs=frame.crs).plot(
                ax=ax,
                facecolor=_ZONE_COLOURS[cls],
                edgecolor=_ZONE_COLOURS[cls],
                linewidth=0.3,
                alpha=0.75,
                zorder=3,
            )
        for cls in ("elevated", "high"):
            label = translate(f"brief.zone_{cls}", lang)
            if thresholds is not None:
                bound = thresholds[0] if cls == "elevated" else thresholds[1]
                label += " " + translate("brief.zone_threshold", lang, value=f"{bound:g}")
            handles.append(Patch(facecolor=_ZONE_COLOURS[cls], alpha=0.75, label=label))
    else:
        map_notice(ax, frame, translate("brief.map_no_zones", lang), height=0.5)
    draw_outlines(ax, frame, fade_outside=True)
    label_cercles(ax, frame)
    title = translate("brief.map_zones_legend", lang)
    return end_map(fig, ax, frame, handles, title, fmt, dpi)
