"""The layers of ``orienter export``: each one's rows, style, title and what it rests on.

Used by :mod:`api.services.export`, which writes them.  Every layer is public (see that
module's docstring); titles and descriptions are given in French and English.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from affine import Affine

from api.datasets import find_dataset
from api.services.analysis import Analysis, demand_meta, read_surface
from api.settings import Settings
from geo.coverage import coverage_layer
from geo.deserts import service_deserts
from geo.nearest import providers_offering
from geo.provider_schema import PROVIDER_COLUMNS
from geo.providers import public_providers, read_providers
from web.i18n import LANGS, translate
from web.maps import uncertainty_from_units
from web.maps_style import DEFAULT_UNCERTAINTY_M, threshold_label
from web.package_styles import (
    coverage_qml,
    deserts_qml,
    isochrones_qml,
    population_qml,
    providers_qml,
    travel_time_qml,
    zones_qml,
)

__all__ = [
    "LEVELS",
    "THRESHOLDS_MIN",
    "ExportRequest",
    "RasterLayer",
    "VectorLayer",
    "collect_layers",
]

LEVELS: tuple[str, ...] = ("adm1", "adm2", "adm3")
THRESHOLDS_MIN: tuple[int, ...] = (30, 60, 120, 300)


@dataclass(frozen=True)
class ExportRequest:
    """What to export (the options of ``orienter export``)."""

    out: Path
    service: str = "one_stop_centre"
    mode: str = "car"
    scenario: str = "baseline"
    levels: tuple[str, ...] = LEVELS
    threshold_min: float = 120
    min_desert_population: float = 1000
    lang: str = "fr"


#: Precisions at which the point is the site itself; any other is approximate.
PRECISE: tuple[str, ...] = ("exact", "facility")
#: Aggregate columns of the conflict zones (nothing else of the events is exported).
ZONE_COLUMNS: tuple[str, ...] = ("zone_class", "events", "fatalities", "area_km2")
_FIRST_COLUMNS = (
    "id",
    "name",
    "type",
    "services",
    "offers_service",
    "status",
    "status_date",
    "location_precision",
    "approximate",
    "uncertainty_m",
    "location_source",
    "source",
    "source_date",
    "in_travel_times",
    "zone_class",
)
Texts = dict[str, str]


@dataclass
class VectorLayer:
    """One vector layer: rows, QML, titles and descriptions per language, sources."""

    name: str
    frame: gpd.GeoDataFrame
    qml: str
    title: Texts
    description: Texts
    sources: str


@dataclass
class RasterLayer:
    """One raster: band, grid, QML, titles, descriptions, sources and GeoTIFF tags."""

    name: str
    band: np.ndarray
    transform: Affine
    crs: Any
    qml: str
    title: Texts
    description: Texts
    sources: str
    tags: dict[str, str]


def _names(request: ExportRequest, lang: str) -> dict[str, str]:
    return {
        "service": translate(f"maps.service_{request.service}", lang),
        "mode": translate(f"maps.mode_{request.mode}", lang),
        "scenario": translate(f"maps.scenario_{request.scenario}", lang),
        "threshold": threshold_label(request.threshold_min, lang),
    }


def _texts(key: str, request: ExportRequest, **values: Any) -> Texts:
    """``export.<key>`` in every language, with the request's names and ``values``
    (a value may be a function of the language)."""
    out = {}
    for lang in LANGS:
        extra = {k: v(lang) if callable(v) else v for k, v in values.items()}
        out[lang] = translate(f"export.{key}", lang, **_names(request, lang), **extra)
    return out


def _file_name(path_text: str | None) -> str:
    return Path(path_text).name if path_text else "none"


def _inputs(analysis: Analysis) -> dict[str, str]:
    """File names (never directories) of what the build rests on."""
    raw = analysis.manifest.get("inputs", {})
    roads = raw.get("roads") or {}
    speeds = raw.get("speeds") or {}
    return {
        "providers": _file_name((raw.get("providers") or {}).get("path")),
        "roads": ", ".join(_file_name(p) for p in roads.get("paths", [])) or "none",
        "roads_kind": str(roads.get("kind") or "none"),
        "speeds": f"{_file_name(speeds.get('path'))} ({speeds.get('profile') or 'default'})",
        "population": _file_name(analysis.inputs.population_source),
        "conflict": _file_name((raw.get("conflict") or {}).get("path")),
    }


# --------------------------------------------------------------------------- vectors


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple | np.ndarray):
        return "; ".join(str(v) for v in value) or None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _providers(settings: Settings, analysis: Analysis, request: ExportRequest) -> gpd.GeoDataFrame:
    """Located public records of the directory, with what the map shows about them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        public = public_providers(read_providers(settings.providers))
    public = public[public.geometry.notna() & ~public.geometry.is_empty].reset_index(drop=True)
    built = analysis.inputs.providers
    zone = dict(zip(built["id"].astype(str), built.get("zone_class", pd.Series()), strict=False))
    precision = public["location_precision"]
    approximate = ~precision.isin(PRECISE).to_numpy()
    units = {int(lvl[-1]): analysis.units(lvl) for lvl in LEVELS}
    radius = uncertainty_from_units(public, units)
    default = precision.map(lambda p: DEFAULT_UNCERTAINTY_M.get(p, np.nan))
    radius = radius.fillna(default).where(approximate).round()
    frame = pd.DataFrame({c: public[c].map(_plain) for c in PROVIDER_COLUMNS if c in public})
    frame = frame.drop(columns="confidential", errors="ignore")
    frame["offers_service"] = providers_offering(public, request.service)
    frame["approximate"] = approximate
    frame["uncertainty_m"] = radius.to_numpy(dtype=float)
    frame["in_travel_times"] = frame["id"].isin(set(built["id"].astype(str))).to_numpy()
    frame["zone_class"] = frame["id"].map(zone)
    order = [c for c in _FIRST_COLUMNS if c in frame] + [
        c for c in frame if c not in _FIRST_COLUMNS
    ]
    return gpd.GeoDataFrame(frame[order], geometry=public.geometry.values, crs=public.crs)


def _coverage(
    analysis: Analysis, request: ExportRequest, level: str, public_ids: set[str], notes: list[str]
) -> gpd.GeoDataFrame:
    """Unit polygons of ``level`` with the coverage figures (and loss of access)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = analysis.coverage(
            level=level, service=request.service, mode=request.mode, scenario=request.scenario
        )
    layer = coverage_layer(result.table, result.units)
    parents = result.units.set_index(result.units["pcode"].astype(str))["parent_pcode"]
    layer.insert(1, "parent_pcode", layer["pcode"].astype(str).map(parents).to_numpy())
    stale = layer["nearest_provider_id"].notna() & ~layer["nearest_provider_id"].isin(public_ids)
    if stale.any():  # the build is older than the directory: never name such a provider
        layer.loc[stale, ["nearest_provider_id", "nearest_provider_name"]] = None
        notes.append(
            f"{level}: {int(stale.sum())} nearest provider(s) of the build are not public in "
            "the current directory and were left out; rebuild"
        )
    tag = f"{request.mode}-{request.scenario}"
    loss_path = analysis.settings.build_dir / "conflict" / f"loss_{tag}.csv"
    if request.scenario != "baseline" and loss_path.is_file():
        loss = pd.read_csv(loss_path, dtype={"pcode": str})
        loss = loss[(loss["level"] == int(level[-1])) & (loss["service"] == request.service)]
        lost = [c for c in loss.columns if c.startswith(("pop_lost_", "share_lost_"))]
        if len(loss):
            by_pcode = loss.set_index("pcode")[lost]
            for column in lost:
                layer[column] = layer["pcode"].astype(str).map(by_pcode[column]).to_numpy()
    return layer


def _isochrones(root: Path, request: ExportRequest) -> gpd.GeoDataFrame | None:
    path = root / "isochrones" / f"{request.mode}-baseline.parquet"
    if not path.is_file():
        return None
    iso = gpd.read_parquet(path)
    iso = iso[iso["service"] == request.service].copy()
    iso["threshold_min"] = iso["threshold_min"].round().astype("int32")
    iso.insert(1, "mode", request.mode)
    iso.insert(2, "scenario", "baseline")
    # largest first, so that the nearer bands are drawn on top
    return iso.sort_values("threshold_min", ascending=False).reset_index(drop=True)


def _zones(root: Path) -> gpd.GeoDataFrame | None:
    path = root / "conflict" / "zones.parquet"
    if not path.is_file():
        return None
    zones = gpd.read_parquet(path)
    return zones[[*ZONE_COLUMNS, zones.geometry.name]]  # aggregates only, by name


def _deserts(analysis: Analysis, request: ExportRequest, name: str) -> gpd.GeoDataFrame:
    inputs = analysis.inputs
    minutes = read_surface(analysis.settings.build_dir, inputs.grid, name, audience="public")
    deserts = service_deserts(
        minutes,
        inputs.population,
        inputs.grid,
        threshold_min=request.threshold_min,
        min_population=request.min_desert_population,
    )
    return deserts.replace([np.inf, -np.inf], np.nan).round({"population": 0, "max_time_min": 0})


def _coverage_layers(
    settings: Settings,
    analysis: Analysis,
    request: ExportRequest,
    public_ids: set[str],
    notes: list[str],
) -> list[VectorLayer]:
    src, layers = _inputs(analysis), []
    for level in request.levels:
        boundaries = find_dataset(settings, level)
        coverage = _coverage(analysis, request, level, public_ids, notes)
        loss = any(c.startswith("pop_lost_") for c in coverage.columns)
        description = _texts(
            "coverage_description",
            request,
            boundaries=lambda lang, lvl=level: translate(f"export.level_{lvl}", lang),
            population=f"{src['population']} ({demand_meta(analysis.inputs)['demand']})",
        )
        if loss:
            description = {
                lang: text + translate("export.coverage_loss", lang)
                for lang, text in description.items()
            }
        layers.append(
            VectorLayer(
                f"coverage_{level}",
                coverage,
                coverage_qml(request.threshold_min, lang=request.lang),
                _texts(
                    "coverage_title",
                    request,
                    level_name=lambda lang, lvl=level: translate(f"export.level_{lvl}", lang),
                ),
                description,
                f"{boundaries.name if boundaries else level}; {src['population']}; "
                f"{src['providers']}; roads {src['roads']}; speeds {src['speeds']}",
            )
        )
    return layers


def _context_layers(
    analysis: Analysis, request: ExportRequest, notes: list[str]
) -> list[VectorLayer]:
    """Isochrones, conflict zones and service deserts (those the build holds)."""
    root, src, layers = analysis.settings.build_dir, _inputs(analysis), []
    name = f"{request.service}-{request.mode}-{request.scenario}"
    iso = _isochrones(root, request)
    if iso is not None:
        layers.append(
            VectorLayer(
                "isochrones",
                iso,
                isochrones_qml(lang=request.lang),
                _texts("isochrones_title", request),
                _texts("isochrones_description", request),
                f"{src['providers']}; roads {src['roads']}; speeds {src['speeds']}",
            )
        )
        if request.scenario != "baseline":
            notes.append("isochrones are the baseline's (scenarios have none)")
    else:
        notes.append(f"no isochrones built for {request.mode}")
    zones = _zones(root)
    if zones is not None:
        window = analysis.manifest.get("conflict") or {}
        layers.append(
            VectorLayer(
                "conflict_zones",
                zones,
                zones_qml(lang=request.lang),
                _texts("zones_title", request),
                _texts(
                    "zones_description",
                    request,
                    conflict_source=src["conflict"],
                    start=window.get("start", "?"),
                    end=window.get("end", "?"),
                ),
                f"{src['conflict']} {window.get('start', '?')} to {window.get('end', '?')} "
                "(aggregates only)",
            )
        )
    else:
        notes.append("no conflict zones in the build")
    layers.append(
        VectorLayer(
            "service_deserts",
            _deserts(analysis, request, name),
            deserts_qml(request.threshold_min, lang=request.lang),
            _texts("deserts_title", request),
            _texts(
                "deserts_description",
                request,
                min_population=f"{request.min_desert_population:g}",
            ),
            f"surfaces/public/{name}.tif; {src['population']}",
        )
    )
    return layers


def _vectors(
    settings: Settings,
    analysis: Analysis,
    request: ExportRequest,
    public_ids: set[str],
    notes: list[str],
) -> list[VectorLayer]:
    src = _inputs(analysis)
    providers = _providers(settings, analysis, request)
    first = VectorLayer(
        "providers",
        providers,
        providers_qml(sorted(set(providers["type"].dropna())), lang=request.lang),
        _texts("providers_title", request),
        _texts("providers_description", request, providers_file=src["providers"]),
        f"{src['providers']} (each record's source and source_date)",
    )
    return [
        first,
        *_coverage_layers(settings, analysis, request, public_ids, notes),
        *_context_layers(analysis, request, notes),
    ]


# --------------------------------------------------------------------------- rasters


#: Population classes in people per km² (1, 10, 100, 1,000), scaled to people per cell.
POPULATION_DENSITY_BREAKS = (1.0, 10.0, 100.0, 1000.0)


def _population_breaks(cell_m: float) -> list[float]:
    """Class limits in people per cell: :data:`POPULATION_DENSITY_BREAKS` times the cell area."""
    area_km2 = (cell_m / 1000.0) ** 2
    return [float(f"{b * area_km2:.3g}") for b in POPULATION_DENSITY_BREAKS]


def _rasters(analysis: Analysis, request: ExportRequest, built_at: str) -> list[RasterLayer]:
    root, src = analysis.settings.build_dir, _inputs(analysis)
    grid = analysis.inputs.grid
    cell_km = f"{grid.cell_m / 1000:g}"
    scenarios = [request.scenario] + (["baseline"] if request.scenario != "baseline" else [])
    out = []
    for scenario in scenarios:
        req = _with_scenario(request, scenario)
        name = f"{req.service}-{req.mode}-{scenario}"
        with rasterio.open(root / "surfaces" / "public" / f"{name}.tif") as surface:
            band = surface.read(1).astype(np.float32)
            transform, crs = surface.transform, surface.crs
        description = _texts(
            "travel_time_description",
            req,
            cell_km=cell_km,
            roads=f"{src['roads_kind']}: {src['roads']}",
            speeds=src["speeds"],
        )
        out.append(
            RasterLayer(
                f"travel_time_{req.service}_{req.mode}_{scenario}",
                band,
                transform,
                crs,
                travel_time_qml(lang=request.lang),
                _texts("travel_time_title", req),
                description,
                f"surfaces/public/{name}.tif; {src['providers']}; roads {src['roads']}",
                {
                    "units": "minutes",
                    "service": req.service,
                    "mode": req.mode,
                    "scenario": scenario,
                    "nodata": "NaN: unreachable",
                    "built_at": built_at,
                    "description": description["en"],
                },
            )
        )
    people = grid.to_raster(np.asarray(analysis.inputs.population, float), fill=np.nan)
    people = people.astype(np.float32)
    demand = demand_meta(analysis.inputs)["demand"]
    description = _texts(
        "population_description",
        request,
        cell_km=cell_km,
        population=src["population"],
        demand=demand,
    )
    out.append(
        RasterLayer(
            "population",
            people,
            grid.transform,
            grid.crs.to_wkt(),
            population_qml(_population_breaks(grid.cell_m), lang=request.lang),
            _texts("population_title", request),
            description,
            f"{src['population']} ({demand})",
            {
                "units": "people per cell",
                "built_at": built_at,
                "description": description["en"],
            },
        )
    )
    return out


def _with_scenario(request: ExportRequest, scenario: str) -> ExportRequest:
    return replace(request, scenario=scenario)


# --------------------------------------------------------------------------- metadata


def _metadata(
    request: ExportRequest,
    vectors: list[VectorLayer],
    rasters: list[RasterLayer],
    built_at: str,
    exported_at: str,
) -> pd.DataFrame:
    package = _texts("package_description", request, built_at=built_at, exported_at=exported_at)
    rows = [
        {
            "layer": "*",
            "kind": "package",
            "title_fr": translate("export.package_title", "fr"),
            "title_en": translate("export.package_title", "en"),
            "description_fr": package["fr"],
            "description_en": package["en"],
            "sources": "see each layer; licences: see docs/data.md of Orienter",
            "features": None,
        }
    ]
    for layer in vectors:
        rows.append(_row(layer, "vector", len(layer.frame)))
    for raster in rasters:
        rows.append(_row(raster, "raster", int(np.isfinite(raster.band).sum())))
    frame = pd.DataFrame(rows)
    frame["features"] = frame["features"].astype("Int64")
    for key, value in (
        ("service", request.service),
        ("mode", request.mode),
        ("scenario", request.scenario),
        ("built_at", built_at),
        ("exported_at", exported_at),
    ):
        frame[key] = value
    frame.attrs["title"] = translate("export.metadata_title", request.lang)
    return frame


def _row(layer: VectorLayer | RasterLayer, kind: str, count: int) -> dict[str, Any]:
    return {
        "layer": layer.name,
        "kind": kind,
        "title_fr": layer.title["fr"],
        "title_en": layer.title["en"],
        "description_fr": layer.description["fr"],
        "description_en": layer.description["en"],
        "sources": layer.sources,
        "features": count,  # rows, or cells with a value for a raster
    }


def collect_layers(
    settings: Settings,
    analysis: Analysis,
    request: ExportRequest,
    *,
    public_ids: set[str],
    exported_at: str,
    note: Callable[[str], None],
) -> tuple[list[VectorLayer], list[RasterLayer], pd.DataFrame, list[str]]:
    """Every layer of the export, the metadata table and notes for the report."""
    notes: list[str] = []
    built_at = str(analysis.manifest.get("built_at") or "unknown")
    note("coverage, providers, isochrones, zones, deserts")
    vectors = _vectors(settings, analysis, request, public_ids, notes)
    note("travel-time and population rasters")
    rasters = _rasters(analysis, request, built_at)
    meta = _metadata(request, vectors, rasters, built_at, exported_at)
    return vectors, rasters, meta, notes
