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

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from pyproj import CRS, Transformer

from geo.crs import check_same_crs
from geo.providers import public_providers
from web.i18n import translate

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
_FONT = "DejaVu Sans"


@dataclass(frozen=True)
class MapFrame:
    """The base every map of one région shares, in one metric CRS.

    Attributes
    ----------
    region
        One row: the région polygon.
    cercles
        The région's cercles (``name``, geometry), labelled on every map.
    context
        Other units drawn thin and grey for context (other régions), may be empty.
    bounds
        ``(xmin, ymin, xmax, ymax)`` of the view, metres, already padded to the figure's
        aspect ratio.
    crs
        The metric CRS of every layer.
    """

    region: gpd.GeoDataFrame
    cercles: gpd.GeoDataFrame
    context: gpd.GeoDataFrame
    bounds: tuple[float, float, float, float]
    crs: CRS

    @property
    def aspect(self) -> float:
        """Height / width of the view."""
        xmin, ymin, xmax, ymax = self.bounds
        return (ymax - ymin) / (xmax - xmin)


def map_frame(
    region: gpd.GeoDataFrame,
    cercles: gpd.GeoDataFrame,
    context: gpd.GeoDataFrame | None = None,
    *,
    margin: float = 0.06,
    aspect_range: tuple[float, float] = (0.62, 1.05),
) -> MapFrame:
    """The view of a région: its bounds padded by ``margin`` and to an aspect ratio.

    Parameters
    ----------
    region
        One polygon row in a projected (metric) CRS.
    cercles
        The région's cercles (``name`` column), same CRS.
    context
        Neighbouring units for context, same CRS (optional).
    margin
        Padding on each side, as a share of the larger side.
    aspect_range
        The view's height/width is clamped to this range (a tall région gets a wider
        view, a flat one a taller view) so that maps keep a printable shape.
    """
    for name, layer in (("region", region), ("cercles", cercles)):
        if not isinstance(layer, gpd.GeoDataFrame):
            raise TypeError(f"{name} must be a GeoDataFrame, got {type(layer).__name__}")
    if len(region) != 1:
        raise ValueError(f"region must hold exactly one polygon, got {len(region)} rows")
    if region.crs is None or not CRS.from_user_input(region.crs).is_projected:
        raise ValueError(
            f"region must be in a projected metric CRS, got {region.crs}; "
            "use .to_crs(geo.crs.METRIC_CRS)"
        )
    if "name" not in cercles.columns:
        raise ValueError("cercles needs a 'name' column (labels)")
    check_same_crs(region, cercles, what="map_frame(region, cercles)")
    if context is None:
        context = region.iloc[0:0]
    check_same_crs(region, context, what="map_frame(region, context)")
    lo, hi = aspect_range
    if not 0 < lo <= hi:
        raise ValueError(
            f"aspect_range must be (low, high) with 0 < low <= high, got {aspect_range}"
        )
    xmin, ymin, xmax, ymax = (float(v) for v in region.total_bounds)
    pad = margin * max(xmax - xmin, ymax - ymin, 1.0)
    xmin, ymin, xmax, ymax = xmin - pad, ymin - pad, xmax + pad, ymax + pad
    width, height = xmax - xmin, ymax - ymin
    aspect = min(max(height / width, lo), hi)
    if height / width < aspect:  # too flat: grow the height
        grow = width * aspect - height
        ymin, ymax = ymin - grow / 2, ymax + grow / 2
    else:  # too tall: grow the width
        grow = height / aspect - width
        xmin, xmax = xmin - grow / 2, xmax + grow / 2
    return MapFrame(
        region=region,
        cercles=cercles,
        context=context,
        bounds=(xmin, ymin, xmax, ymax),
        crs=CRS.from_user_input(region.crs),
    )


# ----------------------------------------------------------------------------- base


def _figure(frame: MapFrame, width_in: float) -> tuple[Figure, plt.Axes]:
    if not 2.0 <= width_in <= 12.0:
        raise ValueError(f"width_in={width_in!r}: give the printed width in inches (2-12)")
    fig = plt.figure(figsize=(width_in, width_in * frame.aspect))
    ax = fig.add_axes((0, 0, 1, 1))
    xmin, ymin, xmax, ymax = frame.bounds
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.add_patch(
        Rectangle((xmin, ymin), xmax - xmin, ymax - ymin, facecolor="#f3f1ec", zorder=0, lw=0)
    )
    return fig, ax


def _draw_context(ax: plt.Axes, frame: MapFrame) -> None:
    if len(frame.context):
        frame.context.plot(ax=ax, facecolor="#fbfaf7", edgecolor="#b9b4aa", linewidth=0.5, zorder=1)
    frame.region.plot(ax=ax, facecolor="white", edgecolor="none", zorder=1)


def _draw_outlines(ax: plt.Axes, frame: MapFrame, *, fade_outside: bool = False) -> None:
    """Cercle boundaries, région outline, and (optionally) a veil outside the région."""
    if fade_outside:
        xmin, ymin, xmax, ymax = frame.bounds
        veil = shapely.box(xmin, ymin, xmax, ymax).difference(frame.region.geometry.iloc[0])
        gpd.GeoSeries([veil], crs=frame.crs).plot(
            ax=ax, facecolor="white", edgecolor="none", alpha=0.6, zorder=5
        )
    if len(frame.context):
        frame.context.boundary.plot(ax=ax, color="#8d877c", linewidth=0.5, zorder=6)
    frame.cercles.boundary.plot(ax=ax, color="#6b6b6b", linewidth=0.6, linestyle="--", zorder=6)
    frame.region.boundary.plot(ax=ax, color="#222222", linewidth=1.6, zorder=7)


def _label_cercles(ax: plt.Axes, frame: MapFrame) -> None:
    halo = [pe.withStroke(linewidth=2.5, foreground="white")]
    xmin, ymin, xmax, ymax = frame.bounds
    for name, point in zip(
        frame.cercles["name"].astype(str),
        frame.cercles.geometry.representative_point(),
        strict=True,
    ):
        if not (xmin <= point.x <= xmax and ymin <= point.y <= ymax):
            continue
        ax.text(
            point.x,
            point.y,
            name,
            fontsize=7.5,
            fontstyle="italic",
            color="#333333",
            ha="center",
            va="center",
            zorder=9,
            path_effects=halo,
            family=_FONT,
        )


def _nice_length_m(span_m: float) -> float:
    """A round scale-bar length near a quarter of ``span_m`` (1, 2 or 5 x 10^k metres)."""
    target = max(span_m / 4.0, 1.0)
    exp = math.floor(math.log10(target))
    for step in (5, 2, 1):
        length = step * 10**exp
        if length <= target:
            return float(length)
    return float(10**exp)


def _scale_bar(ax: plt.Axes, frame: MapFrame) -> None:
    xmin, ymin, xmax, ymax = frame.bounds
    width, height = xmax - xmin, ymax - ymin
    length = _nice_length_m(width)
    x0, y0 = xmin + 0.04 * width, ymin + 0.05 * height
    bar_h = 0.012 * height
    ax.add_patch(
        Rectangle(
            (x0 - 0.015 * width, y0 - 0.025 * height),
            length + 0.03 * width,
            0.085 * height,
            facecolor="white",
            edgecolor="#999999",
            linewidth=0.5,
            alpha=0.9,
            zorder=20,
        )
    )
    half = length / 2
    ax.add_patch(
        Rectangle((x0, y0), half, bar_h, facecolor="#222222", lw=0.6, ec="#222", zorder=21)
    )
    ax.add_patch(
        Rectangle((x0 + half, y0), half, bar_h, facecolor="white", lw=0.6, ec="#222", zorder=21)
    )
    km = length / 1000
    label = f"{km:g} km" if km >= 1 else f"{length:g} m"
    ax.text(
        x0, y0 + 2.2 * bar_h, "0", fontsize=7, ha="center", va="bottom", zorder=22, family=_FONT
    )
    ax.text(
        x0 + length,
        y0 + 2.2 * bar_h,
        label,
        fontsize=7,
        ha="center",
        va="bottom",
        zorder=22,
        family=_FONT,
    )


def _north_arrow(ax: plt.Axes, frame: MapFrame) -> None:
    """An arrow pointing to true north at the centre of the view."""
    xmin, ymin, xmax, ymax = frame.bounds
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    to_geo = Transformer.from_crs(frame.crs, 4326, always_xy=True)
    to_map = Transformer.from_crs(4326, frame.crs, always_xy=True)
    lon, lat = to_geo.transform(cx, cy)
    nx, ny = to_map.transform(lon, min(lat + 0.5, 89.9))
    angle = math.atan2(nx - cx, ny - cy)  # radians from the map's up direction
    width, height = xmax - xmin, ymax - ymin
    size = 0.07 * height
    ax_x, ax_y = xmax - 0.06 * width, ymax - 0.05 * height - size
    dx, dy = size * math.sin(angle), size * math.cos(angle)
    ax.annotate(
        "",
        xy=(ax_x + dx, ax_y + dy),
        xytext=(ax_x, ax_y),
        arrowprops={"arrowstyle": "-|>", "color": "#222222", "lw": 1.6, "mutation_scale": 14},
        zorder=22,
    )
    ax.text(
        ax_x + dx * 1.25,
        ax_y + dy * 1.25,
        "N",
        fontsize=9,
        fontweight="bold",
        ha="center",
        va="bottom",
        zorder=22,
        family=_FONT,
        path_effects=[pe.withStroke(linewidth=2.5, foreground="white")],
    )


def _finish(fig: Figure, fmt: str, dpi: int) -> bytes:
    buf = io.BytesIO()
    with plt.rc_context({"svg.fonttype": "none"}):  # SVG text stays text (searchable)
        fig.savefig(
            buf,
            format=fmt,
            dpi=dpi,
            bbox_inches="tight",  # takes in the legend drawn below the map
            pad_inches=0.03,
            metadata={"Software": None} if fmt == "png" else None,
        )
    plt.close(fig)
    return buf.getvalue()


def _check_fmt(fmt: str, dpi: int) -> None:
    if fmt not in ("png", "svg"):
        raise ValueError(f"fmt={fmt!r}: use 'png' or 'svg'")
    if not 50 <= dpi <= 600:
        raise ValueError(f"dpi={dpi!r}: use 50-600 (200 prints well on A4)")


def _legend(ax: plt.Axes, handles: Sequence, *, title: str | None = None) -> None:
    """The legend in a strip below the map (it never hides part of the map)."""
    if not handles:
        return
    fig = ax.get_figure(root=True)
    width_in = float(fig.get_size_inches()[0]) if fig is not None else 7.0
    ncol = max(1, min(len(handles), int(width_in // 1.75)))
    leg = ax.legend(
        handles=list(handles),
        loc="upper left",
        bbox_to_anchor=(0.0, -0.01),
        ncol=ncol,
        alignment="left",
        fontsize=7,
        title=title,
        title_fontsize=7.5,
        frameon=False,
        borderpad=0.3,
        columnspacing=1.2,
        handletextpad=0.5,
        prop={"family": _FONT, "size": 7},
    )
    leg.set_zorder(30)


# ----------------------------------------------------------------------------- providers


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
                family=_FONT,
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


def _map_notice(
    ax: plt.Axes, frame: MapFrame, text: str, *, height: float, colour: str | None = None
) -> None:
    """A boxed line of text across the map, ``height`` (0-1) up from its bottom edge."""
    xmin, ymin, xmax, ymax = frame.bounds
    ax.text(
        (xmin + xmax) / 2,
        ymin + height * (ymax - ymin),
        text,
        ha="center",
        fontsize=9,
        color=colour,
        zorder=25,
        family=_FONT,
        bbox={"facecolor": "white", "edgecolor": colour or "#999999", "boxstyle": "round,pad=0.4"},
    )


def _end_map(
    fig: Figure, ax: plt.Axes, frame: MapFrame, handles: Sequence, title: str, fmt: str, dpi: int
) -> bytes:
    """Legend, scale bar and north arrow, then the encoded image."""
    _legend(ax, handles, title=title)
    _scale_bar(ax, frame)
    _north_arrow(ax, frame)
    return _finish(fig, fmt, dpi)


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
    _check_fmt(fmt, dpi)
    fig, ax = _figure(frame, width_in)
    _draw_context(ax, frame)
    _draw_outlines(ax, frame)
    _label_cercles(ax, frame)
    drawn = _draw_providers(ax, frame, providers, numbers)
    if not drawn:
        _map_notice(
            ax, frame, translate("brief.map_no_provider", lang), height=0.12, colour="#7a1f1f"
        )
    handles = _provider_legend_handles(drawn, lang)
    title = translate("brief.map_providers_legend", lang)
    return _end_map(fig, ax, frame, handles, title, fmt, dpi)


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
    _check_fmt(fmt, dpi)
    grid = np.asarray(minutes, dtype=float)
    if grid.ndim != 2:
        raise ValueError(f"minutes must be a 2-D array, got shape {grid.shape}")
    if not isinstance(transform, Affine):
        raise TypeError(f"transform must be an affine.Affine, got {type(transform).__name__}")
    fig, ax = _figure(frame, width_in)
    _draw_context(ax, frame)
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
    _draw_outlines(ax, frame, fade_outside=True)
    _label_cercles(ax, frame)
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
    return _end_map(fig, ax, frame, handles, title, fmt, dpi)


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
    _check_fmt(fmt, dpi)
    fig, ax = _figure(frame, width_in)
    _draw_context(ax, frame)
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
        _map_notice(ax, frame, translate("brief.map_no_zones", lang), height=0.5)
    _draw_outlines(ax, frame, fade_outside=True)
    _label_cercles(ax, frame)
    title = translate("brief.map_zones_legend", lang)
    return _end_map(fig, ax, frame, handles, title, fmt, dpi)
