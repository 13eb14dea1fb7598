"""Analysis layers of the maps: coverage choropleth, travel-time image, isochrones, conflict
zones and service deserts.  Each ``add_*`` adds one layer to a map made by
:func:`web.maps.new_map` and returns it; each ``*_legend`` gives its legend section."""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np

from geo.crs import GEOGRAPHIC_CRS
from web.maps_style import (
    CONFLICT_COLOURS,
    DESERT_COLOUR,
    ISOCHRONE_COLOURS,
    TIME_BINS_MIN,
    TIME_COLOURS,
    check_gdf,
    coverage_bins,
    coverage_colour,
    display_geojson,
    format_int,
    format_minutes,
    format_share,
    t,
    threshold_label,
    time_bin_labels,
)

__all__ = [
    "add_conflict_zones",
    "add_coverage",
    "add_deserts",
    "add_isochrones",
    "add_travel_time",
    "conflict_legend",
    "coverage_legend",
    "deserts_legend",
    "isochrones_legend",
    "travel_time_image",
    "travel_time_legend",
]

LegendSection = tuple[str, list[tuple[str | None, str, str]]]


def share_column(threshold_min: float) -> str:
    """The coverage column of a threshold: ``share_within_120``."""
    return f"share_within_{float(threshold_min):g}".replace(".", "_")


# ----------------------------------------------------------------------------- coverage


def add_coverage(
    m: folium.Map,
    coverage: gpd.GeoDataFrame,
    *,
    threshold_min: float = 120,
    lang: str = "fr",
    show: bool = True,
) -> folium.GeoJson:
    """Choropleth of the share of people within ``threshold_min`` per unit.

    ``coverage`` is the coverage table with unit polygons (``geo.coverage.coverage_layer``):
    ``pcode``, ``name``, ``population`` and ``share_within_<threshold>`` (0–1).  Tooltips
    give the unit's name, population and share.
    """
    column = share_column(threshold_min)
    gdf = check_gdf(coverage, "coverage", ("pcode", "name", "population", column)).copy()
    label = threshold_label(threshold_min, lang)
    people = gdf["population"].astype(float)
    gdf["_population"] = [format_int(v, lang) for v in people]
    gdf["_share"] = [
        format_share(s, lang) if p > 0 else t("no_population", lang)
        for s, p in zip(gdf[column].astype(float), people, strict=True)
    ]
    gdf["_fill"] = [
        coverage_colour(s if p > 0 else None)
        for s, p in zip(gdf[column].astype(float), people, strict=True)
    ]
    data = display_geojson(gdf, ["pcode", "name", "_population", "_share", "_fill"])
    layer = folium.GeoJson(
        data,
        name=t("layer_coverage", lang, threshold=label),
        style_function=lambda f: {
            "color": "#444444",
            "weight": 0.6,
            "fillColor": f["properties"]["_fill"],
            "fillOpacity": 0.8,
        },
        highlight_function=lambda _f: {"weight": 2.5, "color": "#000000"},
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "_population", "_share"],
            aliases=[
                t("label_name", lang),
                t("label_population", lang),
                t("label_share", lang, threshold=label),
            ],
        ),
        show=show,
    )
    layer.add_to(m)
    return layer


def coverage_legend(threshold_min: float, lang: str, *, service: str, mode: str) -> LegendSection:
    """Legend section of :func:`add_coverage` (``service`` and ``mode`` already translated)."""
    title = t(
        "coverage_legend",
        lang,
        threshold=threshold_label(threshold_min, lang),
        service=service,
        mode=mode,
    )
    return title, [(colour, text, "box") for colour, text in coverage_bins(lang)]


# ----------------------------------------------------------------------------- travel time


def travel_time_image(
    path: str | Path, *, resolution_m: float = 2000.0
) -> tuple[bytes, list[list[float]]]:
    """A travel-time GeoTIFF (minutes) as a class-coloured PNG in Web Mercator, and its bounds.

    The raster is reprojected (nearest neighbour, ``resolution_m`` Mercator metres per
    pixel) to EPSG:3857, because Leaflet stretches an image linearly between its corners
    on a Mercator map: only then does every pixel land where it belongs.  Classes are
    :data:`~web.maps_style.TIME_BINS_MIN`; +inf (unreachable) gets the last colour; NaN and
    nodata (outside the grid) are transparent.

    Returns
    -------
    (png, bounds)
        PNG bytes and ``[[south, west], [north, east]]`` in degrees.
    """
    import rasterio
    from PIL import Image
    from pyproj import Transformer
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"travel-time surface {path} does not exist")
    if not resolution_m > 0:
        raise ValueError(f"resolution_m must be > 0 metres, got {resolution_m!r}")
    with rasterio.open(path) as src:
        if src.crs is None:
            raise ValueError(f"{path} has no CRS; the surface must carry its CRS")
        values = src.read(1).astype("float32")
        if src.nodata is not None and not np.isnan(src.nodata):
            values[values == src.nodata] = np.nan
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:3857", src.width, src.height, *src.bounds, resolution=resolution_m
        )
        warped = np.full((height, width), np.nan, dtype="float32")
        reproject(
            values,
            warped,
            src_transform=src.transform,
            src_crs=src.crs,
            src_nodata=np.nan,
            dst_transform=transform,
            dst_crs="EPSG:3857",
            dst_nodata=np.nan,
            resampling=Resampling.nearest,
        )
    classes = np.zeros(warped.shape, dtype=np.uint8)  # palette index 0 = transparent
    finite = np.isfinite(warped)
    classes[finite] = 1 + np.digitize(warped[finite], TIME_BINS_MIN[1:-1], right=False)
    classes[np.isposinf(warped)] = len(TIME_COLOURS)
    palette = [0, 0, 0]
    for colour in TIME_COLOURS:
        palette += [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    image = Image.fromarray(classes, mode="P")
    image.putpalette(palette)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True, transparency=0)
    to_lonlat = Transformer.from_crs("EPSG:3857", GEOGRAPHIC_CRS, always_xy=True)
    west, north = to_lonlat.transform(transform.c, transform.f)
    east, south = to_lonlat.transform(
        transform.c + width * transform.a, transform.f + height * transform.e
    )
    bounds = [[round(south, 5), round(west, 5)], [round(north, 5), round(east, 5)]]
    return buffer.getvalue(), bounds


def add_travel_time(
    m: folium.Map,
    surface: str | Path,
    *,
    mode: str,
    lang: str = "fr",
    opacity: float = 0.75,
    resolution_m: float = 2000.0,
    show: bool = True,
) -> folium.raster_layers.ImageOverlay:
    """The travel-time surface GeoTIFF as an image overlay (under the vector layers).

    ``mode`` is the translated mode for the layer name ("en voiture").  Use a surface of
    *public* providers (``surfaces/public/``) on a public map.
    """
    png, bounds = travel_time_image(surface, resolution_m=resolution_m)
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    layer = folium.raster_layers.ImageOverlay(
        image=uri,
        bounds=bounds,
        opacity=opacity,
        name=t("layer_surface", lang, mode=mode),
        pane="orienter-surface",
        interactive=False,
        show=show,
    )
    layer.add_to(m)
    return layer


def travel_time_legend(lang: str, *, service: str, mode: str) -> LegendSection:
    """Legend section of :func:`add_travel_time` (classes in hours)."""
    labels = time_bin_labels(lang)
    return (
        t("surface_legend", lang, service=service, mode=mode),
        [(c, text, "box") for c, text in zip(TIME_COLOURS, labels, strict=True)],
    )


# ----------------------------------------------------------------------------- isochrones


def add_isochrones(
    m: folium.Map, isochrones: gpd.GeoDataFrame, *, lang: str = "fr", show: bool = False
) -> folium.FeatureGroup:
    """Areas within each threshold of the providers (``threshold_min``, polygons), merged.

    ``isochrones`` is ``build/isochrones/<mode>-<scenario>.parquet`` (one row per service and
    threshold: the polygons of the service's public surface), usually one service's rows;
    rows of one threshold are merged into one outline.
    """
    gdf = check_gdf(isochrones, "isochrones", ("threshold_min",))
    group = folium.FeatureGroup(name=t("layer_isochrones", lang), show=show)
    merged = gdf[["threshold_min", "geometry"]].dissolve("threshold_min").reset_index()
    merged = merged.sort_values("threshold_min", ascending=False)
    for _, row in merged.iterrows():
        threshold = float(row["threshold_min"])
        colour = ISOCHRONE_COLOURS.get(threshold, "#555555")
        one = gpd.GeoDataFrame(
            {"label": [f"≤ {threshold_label(threshold, lang)}"]},
            geometry=[row.geometry],
            crs=GEOGRAPHIC_CRS,
        )
        folium.GeoJson(
            display_geojson(one, ["label"]),
            style_function=lambda _f, c=colour: {
                "color": c,
                "weight": 2,
                "fillColor": c,
                "fillOpacity": 0.12,
            },
            tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
        ).add_to(group)
    group.add_to(m)
    return group


def isochrones_legend(thresholds: list[float], lang: str) -> LegendSection:
    """Legend section of :func:`add_isochrones`."""
    return (
        t("isochrones_legend", lang),
        [
            (ISOCHRONE_COLOURS.get(float(x), "#555555"), threshold_label(x, lang), "line")
            for x in sorted(thresholds)
        ],
    )


# ----------------------------------------------------------------------------- conflict


def add_conflict_zones(
    m: folium.Map, zones: gpd.GeoDataFrame, *, lang: str = "fr", show: bool = True
) -> folium.GeoJson:
    """Conflict-zone polygons by class (aggregates only: class, events, fatalities).

    ``zones`` is ``build/conflict/zones.parquet``.  Only the class and the two counts go
    into the map; no event is ever drawn.
    """
    gdf = check_gdf(zones, "zones", ("zone_class", "events", "fatalities")).copy()
    gdf = gdf[gdf["zone_class"].isin(list(CONFLICT_COLOURS))]
    gdf["_class"] = [t(f"conflict_{c}", lang) for c in gdf["zone_class"]]
    gdf["_events"] = [format_int(v, lang) for v in gdf["events"].astype(float)]
    gdf["_fatalities"] = [format_int(v, lang) for v in gdf["fatalities"].astype(float)]
    data = display_geojson(gdf, ["zone_class", "_class", "_events", "_fatalities"])
    # the low class covers most of the country: outline only
    opacity = {"low": 0.0, "elevated": 0.15, "high": 0.3}
    layer = folium.GeoJson(
        data,
        name=t("layer_conflict", lang),
        style_function=lambda f: {
            "color": CONFLICT_COLOURS[f["properties"]["zone_class"]],
            "weight": 1 if f["properties"]["zone_class"] == "low" else 2,
            "fillColor": CONFLICT_COLOURS[f["properties"]["zone_class"]],
            "fillOpacity": opacity[f["properties"]["zone_class"]],
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["_class", "_events", "_fatalities"],
            aliases=[
                t("label_conflict_class", lang),
                t("label_events", lang),
                t("label_fatalities", lang),
            ],
        ),
        show=show,
    )
    layer.add_to(m)
    return layer


def conflict_legend(lang: str) -> LegendSection:
    """Legend section of :func:`add_conflict_zones`."""
    return (
        t("conflict_legend", lang),
        [(colour, t(f"conflict_{c}", lang), "box") for c, colour in CONFLICT_COLOURS.items()],
    )


# ----------------------------------------------------------------------------- deserts


def add_deserts(
    m: folium.Map,
    deserts: gpd.GeoDataFrame,
    *,
    threshold_min: float,
    lang: str = "fr",
    show: bool = False,
) -> folium.GeoJson:
    """Service deserts (``geo.deserts.service_deserts``): people, area, longest time."""
    gdf = check_gdf(deserts, "deserts", ("population", "area_km2", "max_time_min")).copy()
    gdf["_people"] = [format_int(v, lang) for v in gdf["population"].astype(float)]
    gdf["_area"] = [f"{format_int(v, lang)} km²" for v in gdf["area_km2"].astype(float)]
    gdf["_max"] = [
        format_minutes(float(v) if v is not None else math.nan, lang) for v in gdf["max_time_min"]
    ]
    label = threshold_label(threshold_min, lang)
    layer = folium.GeoJson(
        display_geojson(gdf, ["_people", "_area", "_max"]),
        name=t("layer_deserts", lang, threshold=label),
        style_function=lambda _f: {
            "color": DESERT_COLOUR,
            "weight": 1.5,
            "dashArray": "4 3",
            "fillColor": DESERT_COLOUR,
            "fillOpacity": 0.25,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["_people", "_area", "_max"],
            aliases=[t("label_people", lang), t("label_area", lang), t("label_max_time", lang)],
        ),
        show=show,
    )
    layer.add_to(m)
    return layer


def deserts_legend(threshold_min: float, lang: str) -> LegendSection:
    """Legend section of :func:`add_deserts`."""
    label = t("deserts_legend", lang, threshold=threshold_label(threshold_min, lang))
    return label, [(DESERT_COLOUR, label, "box")]
