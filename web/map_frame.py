"""The frame of a static map: the view of a région, its base layers and decorations.

:func:`map_frame` computes the view (bounds padded to an aspect ratio) and gathers the
base layers; the drawing helpers give every static map (:mod:`web.static_maps`) the same
context, outlines, cercle names, scale bar, north arrow, legend and notices.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")  # no display: rendering happens in a server or a CLI

import matplotlib.patheffects as pe
import shapely
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from pyproj import CRS, Transformer

from geo.crs import check_same_crs

__all__ = [
    "FONT",
    "MapFrame",
    "check_fmt",
    "draw_context",
    "draw_legend",
    "draw_outlines",
    "end_map",
    "finish",
    "label_cercles",
    "map_frame",
    "map_notice",
    "new_figure",
]

FONT = "DejaVu Sans"


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


def new_figure(frame: MapFrame, width_in: float) -> tuple[Figure, plt.Axes]:
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


def draw_context(ax: plt.Axes, frame: MapFrame) -> None:
    if len(frame.context):
        frame.context.plot(ax=ax, facecolor="#fbfaf7", edgecolor="#b9b4aa", linewidth=0.5, zorder=1)
    frame.region.plot(ax=ax, facecolor="white", edgecolor="none", zorder=1)


def draw_outlines(ax: plt.Axes, frame: MapFrame, *, fade_outside: bool = False) -> None:
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


def label_cercles(ax: plt.Axes, frame: MapFrame) -> None:
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
            family=FONT,
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


def scale_bar(ax: plt.Axes, frame: MapFrame) -> None:
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
    ax.text(x0, y0 + 2.2 * bar_h, "0", fontsize=7, ha="center", va="bottom", zorder=22, family=FONT)
    ax.text(
        x0 + length,
        y0 + 2.2 * bar_h,
        label,
        fontsize=7,
        ha="center",
        va="bottom",
        zorder=22,
        family=FONT,
    )


def north_arrow(ax: plt.Axes, frame: MapFrame) -> None:
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
        family=FONT,
        path_effects=[pe.withStroke(linewidth=2.5, foreground="white")],
    )


def finish(fig: Figure, fmt: str, dpi: int) -> bytes:
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


def check_fmt(fmt: str, dpi: int) -> None:
    if fmt not in ("png", "svg"):
        raise ValueError(f"fmt={fmt!r}: use 'png' or 'svg'")
    if not 50 <= dpi <= 600:
        raise ValueError(f"dpi={dpi!r}: use 50-600 (200 prints well on A4)")


def draw_legend(ax: plt.Axes, handles: Sequence, *, title: str | None = None) -> None:
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
        prop={"family": FONT, "size": 7},
    )
    leg.set_zorder(30)


# ----------------------------------------------------------------------------- providers


def map_notice(
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
        family=FONT,
        bbox={"facecolor": "white", "edgecolor": colour or "#999999", "boxstyle": "round,pad=0.4"},
    )


def end_map(
    fig: Figure, ax: plt.Axes, frame: MapFrame, handles: Sequence, title: str, fmt: str, dpi: int
) -> bytes:
    """Legend, scale bar and north arrow, then the encoded image."""
    draw_legend(ax, handles, title=title)
    scale_bar(ax, frame)
    north_arrow(ax, frame)
    return finish(fig, fmt, dpi)
