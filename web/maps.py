"""Interactive maps: provider directory, coverage, travel time and conflict, French first.

Pure builders: data in, ``folium.Map`` (or HTML) out; nothing here reads settings, files
other than the ones passed, or the network.  Every map is an :class:`web.assets.OfflineMap`
(assets served by the app, or inlined by :func:`map_html` with ``standalone=True``) and is
readable with no tiles: the admin boundaries draw the base map.

Layers, bottom to top: boundaries (pane ``orienter-base``), travel-time image (pane
``orienter-surface``), coverage choropleth, service deserts, conflict zones, isochrones,
approximate providers (dashed circles), precise providers (clustered markers).

Safety: :func:`add_providers` drops confidential records unless ``include_confidential=True``
(defence in depth; callers must already pass public records), and a record located only to
its town, commune, cercle or région is never drawn as a pin but as a dashed circle whose
radius is its uncertainty, with a popup saying the location is approximate.

Example
-------
>>> m = build_map(boundaries=adm1, providers=providers, lang="fr")   # doctest: +SKIP
>>> html = map_html(m, standalone=True)                              # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import Element, MacroElement
from branca.element import Figure as BrancaFigure
from folium.template import Template
from folium.utilities import JsCode

from geo.crs import MALI_BBOX, METRIC_CRS
from geo.providers import SERVICES, public_providers
from web.assets import OfflineFullscreen, OfflineMap, OfflineMarkerCluster, standalone_html
from web.maps_layers import (
    add_conflict_zones,
    add_coverage,
    add_deserts,
    add_isochrones,
    add_travel_time,
    conflict_legend,
    coverage_legend,
    deserts_legend,
    isochrones_legend,
    travel_time_legend,
)
from web.maps_style import (
    APPROXIMATE_PRECISIONS,
    DEFAULT_UNCERTAINTY_M,
    MAP_CSS,
    TYPE_COLOURS,
    check_gdf,
    display_geojson,
    format_int,
    t,
)

__all__ = [
    "DEFAULT_UNCERTAINTY_M",
    "Legend",
    "add_boundaries",
    "add_conflict_zones",
    "add_coverage",
    "add_deserts",
    "add_isochrones",
    "add_providers",
    "add_travel_time",
    "build_map",
    "map_html",
    "new_map",
    "provider_legend",
    "uncertainty_from_units",
]

_CONFIDENCE_KEYS = {f"confidence_{c}" for c in ("high", "med_high", "med", "low_med", "low")}


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    if isinstance(value, str) and not value.strip():
        return True
    return isinstance(value, list | tuple | np.ndarray) and len(value) == 0


def _as_list(value: Any) -> list[str]:
    if _missing(value):
        return []
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v) for v in value]
    return [str(value)]


class Legend(MacroElement):
    """A legend drawn as a Leaflet control (stays visible in full screen).

    ``sections`` is a list of (title, [(colour or None, label, style), ...]); the style is
    ``"box"`` (filled square), ``"dash"`` (dashed ring) or ``"line"``.  The legend folds
    under its ``title`` (a ``<details>``), and starts folded on screens narrower than
    600 px so that it does not hide a phone's map.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
            {{ this.get_name() }}.onAdd = function () {
                var div = L.DomUtil.create("div", "orienter-legend");
                div.innerHTML = {{ this.html|tojson }};
                if (window.innerWidth < 600) {
                    div.querySelector("details").removeAttribute("open");
                }
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        sections: list[tuple[str, list[tuple[str | None, str, str]]]],
        *,
        notes: list[str] | None = None,
        title: str = "Légende",
        position: str = "bottomright",
    ) -> None:
        super().__init__()
        self._name = "Legend"
        self.position = position
        parts = []
        for heading, items in sections:
            rows = "".join(
                f'<div class="orienter-legend-row"><span class="orienter-key orienter-key-{style}"'
                + (f' style="--key:{escape(colour)}"' if colour else "")
                + f"></span>{escape(label)}</div>"
                for colour, label, style in items
            )
            head = f"<b>{escape(heading)}</b>"
            parts.append(f'<div class="orienter-legend-section">{head}{rows}</div>')
        for note in notes or []:
            parts.append(f'<div class="orienter-legend-note">{escape(note)}</div>')
        self.html = f"<details open><summary>{escape(title)}</summary>{''.join(parts)}</details>"


# ----------------------------------------------------------------------------- the map


def new_map(*, lang: str = "fr", tiles: bool = False) -> folium.Map:
    """An empty map of Mali: scale bar, full-screen button, no tiles unless ``tiles``.

    The map's custom panes order the layers (boundaries under the travel-time image,
    everything else above it).  With ``tiles=True`` an OpenStreetMap layer is added for
    online use; the map stays readable when it fails to load.
    """
    t("title", lang)  # validates lang early
    m = OfflineMap(location=[17.5, -4.0], zoom_start=5, control_scale=True, prefer_canvas=False)
    lon_min, lat_min, lon_max, lat_max = MALI_BBOX
    m.fit_bounds([[lat_min, lon_min], [lat_max, lon_max]])
    m.orienter_lang = lang  # the document language for map_html
    root = m.get_root()
    if isinstance(root, BrancaFigure):
        root.header.add_child(Element(f"<style>{MAP_CSS}</style>"), name="orienter_map_css")
    folium.map.CustomPane("orienter-base", z_index=250).add_to(m)
    folium.map.CustomPane("orienter-surface", z_index=350).add_to(m)
    if tiles:
        folium.TileLayer("OpenStreetMap", name=t("layer_tiles", lang), show=True).add_to(m)
    OfflineFullscreen(
        position="topleft",
        title=t("fullscreen", lang),
        title_cancel=t("fullscreen_exit", lang),
    ).add_to(m)
    return m


def add_boundaries(
    m: folium.Map, boundaries: gpd.GeoDataFrame, *, lang: str = "fr", fill_opacity: float = 0.9
) -> folium.GeoJson:
    """Admin polygons (``pcode``, ``name``) as the base map: land fill, outlines, names.

    Use a lower ``fill_opacity`` when a tile layer should show through.
    """
    gdf = check_gdf(boundaries, "boundaries", ("pcode", "name"))
    data = display_geojson(gdf, ["pcode", "name"])
    layer = folium.GeoJson(
        data,
        name=t("layer_boundaries", lang),
        style_function=lambda _f: {
            "color": "#5b5b5b",
            "weight": 1,
            "fillColor": "#f3efe2",
            "fillOpacity": fill_opacity,
        },
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
        pane="orienter-base",
        overlay=True,
        control=True,
        show=True,
    )
    layer.add_to(m)
    return layer


def uncertainty_from_units(
    providers: gpd.GeoDataFrame, units_by_level: Mapping[int, gpd.GeoDataFrame]
) -> pd.Series:
    """Uncertainty radius (m) per provider from its admin unit's area.

    A record located to its ``commune`` / ``cercle`` / ``region`` gets the radius of a
    circle with the area of that unit (``adm3_pcode`` / ``adm2_pcode`` / ``adm1_pcode`` in
    ``units_by_level[3|2|1]``, areas in the equal-area ``METRIC_CRS``).  Other records,
    and units not found, get NaN (then :data:`DEFAULT_UNCERTAINTY_M` applies).
    """
    levels = {
        "commune": (3, "adm3_pcode"),
        "cercle": (2, "adm2_pcode"),
        "region": (1, "adm1_pcode"),
    }
    out = pd.Series(np.nan, index=providers.index, dtype=float)
    radius: dict[int, pd.Series] = {}
    for level, units in units_by_level.items():
        units = check_gdf(units, f"units_by_level[{level}]", ("pcode",))
        area = units.to_crs(METRIC_CRS).geometry.area.to_numpy()
        radius[level] = pd.Series(np.sqrt(area / np.pi), index=units["pcode"].astype(str))
    for idx, row in providers.iterrows():
        precision = row.get("location_precision")
        if precision not in levels:
            continue
        level, column = levels[precision]
        pcode = row.get(column)
        if level in radius and not _missing(pcode) and str(pcode) in radius[level].index:
            out[idx] = float(radius[level][str(pcode)])
    return out


def _provider_popup(row: pd.Series, lang: str, *, radius_m: float | None) -> str:
    def line(label_key: str, text: str) -> str:
        return f"<tr><th>{escape(t(label_key, lang))}</th><td>{text}</td></tr>"

    kind = str(row.get("type") or "other")
    type_label = t(f"type_{kind}" if kind in TYPE_COLOURS else "type_other", lang)
    services = [
        t(f"service_{s}", lang) if s in SERVICES else s for s in _as_list(row.get("services"))
    ]
    rows = [line("label_type", escape(type_label))]
    rows.append(line("label_services", escape(", ".join(services)) or escape(t("not_given", lang))))
    if other := _as_list(row.get("other_services")):
        rows.append(line("label_other_services", escape(", ".join(other))))
    for field, key in (
        ("phone", "label_phone"),
        ("address", "label_address"),
        ("opening_hours", "label_opening_hours"),
        ("town", "label_town"),
    ):
        if not _missing(row.get(field)):
            rows.append(line(key, escape(str(row[field]))))
    if not _missing(row.get("status")):
        rows.append(line("label_status", escape(t(f"status_{row['status']}", lang))))
    precision = row.get("location_precision")
    precision_text = t(f"precision_{precision}", lang) if not _missing(precision) else "?"
    if radius_m is not None:
        location = f"<b>{escape(t('approximate', lang))}</b><br>" + escape(
            t(
                "approximate_note",
                lang,
                precision=precision_text,
                radius_km=format_int(radius_m / 1000.0, lang),
            )
        )
    else:
        location = escape(precision_text)
    rows.append(line("label_location", location))
    sources = []
    for src in _as_list(row.get("source")):
        if src.startswith(("http://", "https://")):
            sources.append(
                f'<a href="{escape(src)}" target="_blank" rel="noopener noreferrer">'
                f"{escape(src.split('/')[2])}</a>"
            )
        else:
            sources.append(escape(src))
    if sources:
        rows.append(line("label_source", "<br>".join(sources)))
    source_date = row.get("source_date")
    if _missing(source_date) or source_date == "undated":
        source_date = t("undated", lang)
    rows.append(line("label_source_date", escape(str(source_date))))
    verified = row.get("last_verified")
    rows.append(
        line(
            "label_last_verified",
            escape(str(verified)) if not _missing(verified) else escape(t("not_verified", lang)),
        )
    )
    confidence = row.get("confidence")
    if not _missing(confidence):
        key = f"confidence_{str(confidence).replace('-', '_').lower()}"
        text = t(key, lang) if key in _CONFIDENCE_KEYS else str(confidence)
        rows.append(line("label_confidence", escape(text)))
    return (
        f'<div class="orienter-popup"><h3>{escape(str(row["name"]))}</h3>'
        f"<table>{''.join(rows)}</table></div>"
    )


def add_providers(
    m: folium.Map,
    providers: gpd.GeoDataFrame,
    *,
    lang: str = "fr",
    include_confidential: bool = False,
    uncertainty_m: pd.Series | Mapping[str, float] | None = None,
) -> tuple[folium.FeatureGroup, folium.FeatureGroup]:
    """Providers: precise ones as clustered markers, approximate ones as dashed circles.

    Parameters
    ----------
    providers
        The provider directory (``geo.providers`` schema), EPSG:4326.
    include_confidential
        Keep confidential records (caseworker views only). By default they are dropped here
        even if the caller forgot :func:`geo.providers.public_providers`.
    uncertainty_m
        Radius (m) of the circle of an approximate record: a Series aligned to
        ``providers`` (see :func:`uncertainty_from_units`; NaN = default) or a mapping
        precision -> metres; :data:`DEFAULT_UNCERTAINTY_M` fills the gaps.

    Returns
    -------
    (precise, approximate)
        The two feature groups added to ``m``.
    """
    gdf = check_gdf(providers, "providers", ("id", "name", "type", "location_precision"))
    if not include_confidential:
        gdf = public_providers(gdf)
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    precise = folium.FeatureGroup(name=t("layer_providers", lang), show=True)
    cluster = OfflineMarkerCluster(
        options={"showCoverageOnHover": False, "maxClusterRadius": 40, "disableClusteringAtZoom": 9}
    ).add_to(precise)
    approx = folium.FeatureGroup(name=t("layer_providers_approx", lang), show=True)
    for idx, row in gdf.iterrows():
        kind = row["type"] if row["type"] in TYPE_COLOURS else "other"
        colour = TYPE_COLOURS[kind]
        lat = round(float(row.geometry.y), 4)
        lon = round(float(row.geometry.x), 4)
        precision = row["location_precision"]
        name = str(row["name"])
        if precision in APPROXIMATE_PRECISIONS:
            radius = None
            if isinstance(uncertainty_m, pd.Series):
                value = uncertainty_m.get(idx)
                radius = None if value is None or pd.isna(value) else float(value)
            elif isinstance(uncertainty_m, Mapping):
                radius = uncertainty_m.get(precision)
            radius = float(radius or DEFAULT_UNCERTAINTY_M[precision])
            popup = _provider_popup(row, lang, radius_m=radius)
            tip = escape(f"{name} ({t('approximate', lang).lower()})")
            folium.Circle(
                [lat, lon],
                radius=round(radius),
                color=colour,
                weight=2,
                dash_array="6 6",
                fill=False,
                popup=folium.Popup(popup, max_width=360),
                tooltip=tip,
            ).add_to(approx)
            # the same dashed ring at a fixed size, so a town-level record stays visible
            # at the national zoom (where a 5 km circle is a pixel)
            folium.CircleMarker(
                [lat, lon],
                radius=8,
                color=colour,
                weight=2,
                dash_array="3 3",
                fill=True,
                fill_color="#ffffff",
                fill_opacity=0.5,
                popup=folium.Popup(popup, max_width=360),
                tooltip=tip,
            ).add_to(approx)
        else:
            icon = folium.DivIcon(
                html=(
                    f'<div class="orienter-pin" style="background:{colour}">'
                    f"{escape(t(f'abbr_{kind}', lang))}</div>"
                ),
                icon_size=(34, 18),
                icon_anchor=(17, 9),
                class_name="orienter-marker",
            )
            folium.Marker(
                [lat, lon],
                icon=icon,
                popup=folium.Popup(_provider_popup(row, lang, radius_m=None), max_width=360),
                tooltip=escape(name),
            ).add_to(cluster)
    approx.add_to(m)
    precise.add_to(m)
    return precise, approx


def provider_legend(lang: str, types: list[str]) -> tuple[str, list[tuple[str | None, str, str]]]:
    """Legend section for the provider types in ``types``, then the approximate circle."""
    sep = "\u00a0: " if lang == "fr" else ": "
    items: list[tuple[str | None, str, str]] = [
        (colour, f"{t(f'abbr_{kind}', lang)}{sep}{t(f'type_{kind}', lang)}", "box")
        for kind, colour in TYPE_COLOURS.items()
        if kind in types
    ]
    items.append(("#555555", t("approximate_legend", lang), "dash"))
    return t("providers_legend", lang), items


def build_map(
    *,
    boundaries: gpd.GeoDataFrame,
    providers: gpd.GeoDataFrame | None = None,
    coverage: gpd.GeoDataFrame | None = None,
    surface: str | Path | None = None,
    isochrones: gpd.GeoDataFrame | None = None,
    conflict_zones: gpd.GeoDataFrame | None = None,
    deserts: gpd.GeoDataFrame | None = None,
    service: str = "one_stop_centre",
    mode: str = "car",
    scenario: str = "baseline",
    threshold_min: float = 120,
    lang: str = "fr",
    include_confidential: bool = False,
    uncertainty_m: pd.Series | Mapping[str, float] | None = None,
    tiles: bool = False,
    notes: list[str] | None = None,
    collapsed_controls: bool = False,
) -> folium.Map:
    """One map with every layer given, a layer control and one legend.

    Parameters
    ----------
    boundaries
        Admin polygons (``pcode``, ``name``) drawn as the base map.
    providers
        Provider directory; confidential records are dropped unless
        ``include_confidential`` (see :func:`add_providers`).
    coverage
        Coverage table with polygons (``share_within_<threshold_min>``).
    surface
        Travel-time GeoTIFF (minutes) of *public* providers for this service/mode/scenario.
    isochrones, conflict_zones, deserts
        Built isochrones, conflict-zone polygons, service deserts.
    service, mode, scenario
        Keys (``one_stop_centre``, ``car``, ``baseline``) used in names and legends.
    threshold_min
        The coverage / desert threshold (minutes).
    notes
        Extra legend lines (sources, dates), already translated.
    """
    service_label = t(f"service_{service}", lang) if service else ""
    mode_label = t(f"mode_{mode}", lang)
    m = new_map(lang=lang, tiles=tiles)
    sections: list[tuple[str, list[tuple[str | None, str, str]]]] = []
    add_boundaries(m, boundaries, lang=lang, fill_opacity=0.3 if tiles else 0.9)
    if surface is not None:
        add_travel_time(m, surface, mode=mode_label, lang=lang, show=coverage is None)
        sections.append(travel_time_legend(lang, service=service_label, mode=mode_label))
    if coverage is not None:
        add_coverage(m, coverage, threshold_min=threshold_min, lang=lang)
        sections.append(
            coverage_legend(threshold_min, lang, service=service_label, mode=mode_label)
        )
    if deserts is not None:
        add_deserts(m, deserts, threshold_min=threshold_min, lang=lang)
        sections.append(deserts_legend(threshold_min, lang))
    if conflict_zones is not None:
        add_conflict_zones(m, conflict_zones, lang=lang)
        sections.append(conflict_legend(lang))
    if isochrones is not None:
        add_isochrones(m, isochrones, lang=lang)
        thresholds = sorted({float(x) for x in isochrones["threshold_min"]})
        sections.append(isochrones_legend(thresholds, lang))
    legend_notes = list(notes or [])
    if providers is not None:
        shown = providers if include_confidential else public_providers(providers)
        add_providers(
            m,
            shown,
            lang=lang,
            include_confidential=include_confidential,
            uncertainty_m=uncertainty_m,
        )
        located = shown[shown.geometry.notna() & ~shown.geometry.is_empty]
        sections.insert(0, provider_legend(lang, sorted(set(located["type"].astype(str)))))
        legend_notes.insert(0, t("unverified_note", lang))
        if not include_confidential:
            legend_notes.insert(0, t("confidential_note", lang))
    Legend(sections, notes=legend_notes, title=t("legend", lang)).add_to(m)
    folium.LayerControl(
        # folded on a phone whatever was asked, so that it does not cover the map
        collapsed=True if collapsed_controls else JsCode("window.innerWidth < 600"),  # type: ignore[arg-type]
        position="topright",
    ).add_to(m)
    return m


def map_html(
    m: folium.Map, *, standalone: bool = False, lang: str | None = None, title: str | None = None
) -> str:
    """The map as a full HTML document.

    ``standalone=True`` inlines every script, style sheet and image (a file to e-mail);
    otherwise assets are linked from ``/static/vendor/`` (pages served by the app).
    ``lang`` (the document language) defaults to the language the map was built in.
    """
    lang = lang or str(getattr(m, "orienter_lang", "fr"))
    if standalone:
        return standalone_html(m, lang=lang, title=title)
    return m.get_root().render()
