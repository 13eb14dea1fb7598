"""What a région's printable briefing shows, assembled from the shared coverage figures.

Everything a briefing prints comes from :class:`api.services.analysis.Analysis`, the object
behind ``GET /api/v1/coverage``: :func:`assemble_briefing` copies table rows into a
:class:`web.briefing.BriefingData` (no figure is computed here), renders the static maps
(:mod:`api.services.briefing_maps`) and lists the sources and limitations from the
build's manifest and the data directory.  :mod:`web.briefing` lays it out as HTML and
PDF; ``orienter brief`` (:mod:`api.cli.brief`) and ``GET /regions/<pcode>/brief.pdf``
(:mod:`api.http.routes.briefs`) serve it.

Confidential providers never reach a briefing: the provider rows and the maps go
through :func:`geo.providers.public_providers`; access figures count them (as the API's
coverage does), and the document says so.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio

from api.choices import SERVICE_KEYS
from api.datasets import DATASETS, find_dataset
from api.services.analysis import Analysis
from api.services.briefing_maps import briefing_maps
from api.services.regions import RegionNotFoundError, resolve_region
from api.settings import Settings
from geo.providers import localized_frame, public_providers, read_providers
from web.briefing import (
    BriefingData,
    Figures,
    ProviderRow,
    ScenarioRow,
    SourceRow,
    render_html,
    render_pdf,
)
from web.i18n import LANGS, translate

__all__ = ["FORMATS", "assemble_briefing", "build_document"]

log = logging.getLogger(__name__)

#: Mode order in a briefing: car (required), then walk when built.
BRIEF_MODES = ("car", "walk")
#: Communes listed (the worst ones) in the underserved table.
COMMUNES_SHOWN = 10
UNDERSERVED_MIN = 120
FORMATS = ("pdf", "html")
# ----------------------------------------------------------------------------- figures


def _figures(row: pd.Series, label: str | None = None) -> Figures:
    """One coverage-table row as :class:`Figures` (values copied, nothing recomputed)."""

    def opt(name: str) -> Any:
        value = row.get(name)
        try:
            missing = value is None or bool(pd.isna(value))
        except (TypeError, ValueError):  # a list or array: present
            missing = False
        return None if missing else value

    median = row.get("median_time_min")
    return Figures(
        label=label or str(row["name"]),
        pcode=str(row["pcode"]),
        population=float(row["population"]),
        within={m: float(row[f"pop_within_{m}"]) for m in (30, 60, 120, 300)},
        share_within={m: opt(f"share_within_{m}") for m in (30, 60, 120, 300)},
        people_beyond={m: float(row[f"pop_beyond_{m}"]) for m in (30, 60, 120, 300)},
        shares_beyond={m: opt(f"share_beyond_{m}") for m in (30, 60, 120, 300)},
        median_time_min=None if median is None or pd.isna(median) else float(median),
        n_providers=None if opt("n_providers") is None else int(row["n_providers"]),
        nearest_provider_name=opt("nearest_provider_name"),
        max_class=opt("max_class"),
    )


def _region_row(analysis: Analysis, pcode: str, **kwargs: str) -> pd.Series:
    table = analysis.coverage(level="adm1", **kwargs).table
    hit = table[table["pcode"].astype(str) == pcode]
    if hit.empty:
        raise RegionNotFoundError(f"région {pcode} is not in the adm1 coverage table")
    return hit.iloc[0]


def _ranked_units(analysis: Analysis, level: str, pcode: str) -> list[Figures]:
    """Units of ``level`` inside the région, most people beyond 2 h first."""
    table = analysis.coverage(
        level=level, service="one_stop_centre", mode="car", scenario="baseline"
    ).table
    inside = table[table["pcode"].astype(str).str.startswith(pcode)]
    rows = [_figures(r) for _, r in inside.iterrows()]
    rows.sort(
        key=lambda f: (-f.beyond(UNDERSERVED_MIN), -(f.share_beyond(UNDERSERVED_MIN) or 0), f.label)
    )
    return rows


# ----------------------------------------------------------------------------- providers


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _services(value: Any) -> list[str]:
    if value is None or isinstance(value, float | str):
        return []
    return [str(s) for s in list(value)]


def _provider_row(row: pd.Series, number: int | None) -> ProviderRow:
    return ProviderRow(
        number=number,
        id=str(row["id"]),
        name=str(row["name"]),
        type=str(row["type"]),
        services=_services(row.get("services")),
        town=_text(row.get("town")),
        address=_text(row.get("address")),
        phone=_text(row.get("phone")),
        opening_hours=_text(row.get("opening_hours")),
        location_precision=_text(row.get("location_precision")),
        status=_text(row.get("status")),
        source_date=_text(row.get("source_date")),
    )


_TYPE_ORDER = {"one_stop_centre": 0, "health_facility": 1, "ngo": 2, "legal_clinic": 3}


def _region_providers(public: gpd.GeoDataFrame, pcode: str) -> list[ProviderRow]:
    rows = public[public["adm1_pcode"].astype("string").str.upper() == pcode.upper()]
    rows = rows.assign(
        _order=rows["type"].map(lambda t: _TYPE_ORDER.get(str(t), 9)),
        _name=rows["name"].astype(str).str.lower(),
    ).sort_values(["_order", "_name"], kind="stable")
    return [_provider_row(r, i + 1) for i, (_, r) in enumerate(rows.iterrows())]


def _national_lines(settings: Settings, lang: str) -> list[ProviderRow]:
    """Public records without a place (hotlines) from the provider directory."""
    if not settings.providers.is_file():
        return []
    try:
        directory = public_providers(read_providers(settings.providers))
    except (OSError, ValueError) as exc:
        log.warning("provider directory not read: %s", type(exc).__name__)
        return []
    lines = localized_frame(
        directory[directory.geometry.isna() | directory.geometry.is_empty], lang
    )
    return [_provider_row(r, None) for _, r in lines.iterrows()]


# ----------------------------------------------------------------------------- sources


def _year_from_name(path: Path | None, lang: str) -> str | None:
    if path is None:
        return None
    years = re.findall(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)", path.name)
    return translate("brief.source_year_from_name", lang, year=years[-1]) if years else None


def _manifest_path(manifest: dict, key: str) -> Path | None:
    entry = (manifest.get("inputs") or {}).get(key) or {}
    text = entry.get("path") or (entry.get("paths") or [None])[-1]
    return Path(text) if text else None


def _sources(
    analysis: Analysis, public: gpd.GeoDataFrame, n_region: int, lang: str
) -> list[SourceRow]:
    settings, manifest = analysis.settings, analysis.manifest

    def t(key: str, **values: object) -> str:
        return translate(f"brief.{key}", lang, **values)

    adm1 = find_dataset(settings, "adm1")
    pop = Path(analysis.inputs.population_source)
    rows = [
        SourceRow(
            t("source_boundaries"),
            adm1.name if adm1 else None,
            _year_from_name(adm1, lang),
            DATASETS["adm1"].licence,
        ),
        SourceRow(
            t("source_population"),
            pop.name,
            _year_from_name(pop, lang),
            DATASETS["population_raster"].licence,
        ),
    ]
    roads = (manifest.get("inputs") or {}).get("roads") or {}
    kind = roads.get("kind")
    road_key = {"osm": "roads_osm", "segments": "roads_segments", "intercity": "roads_intercity"}
    road_paths = [Path(p).name for p in roads.get("paths", [])]
    rows.append(
        SourceRow(
            t("source_roads"),
            ", ".join(road_paths) or None,
            None,
            DATASETS[road_key[kind]].licence if kind in road_key else None,
            t("source_roads_note", kind=t(f"road_kind_{kind}") if kind in road_key else kind)
            if kind
            else None,
        )
    )
    conflict = manifest.get("conflict")
    conflict_path = _manifest_path(manifest, "conflict")
    if conflict and conflict_path is not None:
        name = conflict_path.name.lower()
        licence = (
            "ACLED terms of use (attribution; no redistribution of events)"
            if "acled" in name
            else "UCDP GED, CC BY 4.0"
            if "ged" in name
            else DATASETS["conflict"].licence
        )
        rows.append(
            SourceRow(
                t("source_conflict"),
                conflict_path.name,
                t("source_window", start=conflict.get("start"), end=conflict.get("end")),
                licence,
            )
        )
    dates = sorted(d for d in public["source_date"].dropna().astype(str) if re.match(r"^\d{4}", d))
    providers_path = _manifest_path(manifest, "providers")
    rows.append(
        SourceRow(
            t("source_providers"),
            providers_path.name if providers_path else None,
            t("source_window", start=dates[0], end=dates[-1]) if dates else None,
            None,
            t(
                "source_providers_note",
                public=len(public),
                region=n_region,
                first=dates[0] if dates else "–",
                last=dates[-1] if dates else "–",
            ),
        )
    )
    return rows


def _population_km(path: Path) -> float | None:
    """Approximate cell size of the population raster, km (geographic rasters at 16° N)."""
    try:
        with rasterio.open(path) as src:
            rx, ry = abs(src.res[0]), abs(src.res[1])
            if src.crs is not None and src.crs.is_geographic:
                return float(np.sqrt(rx * 111.32 * np.cos(np.radians(16)) * ry * 110.6))
            return float(np.sqrt(rx * ry) / 1000)
    except (OSError, rasterio.errors.RasterioError):
        return None


def _limitations(analysis: Analysis, lang: str) -> list[str]:
    manifest = analysis.manifest

    def t(key: str, **values: object) -> str:
        return translate(f"brief.{key}", lang, **values)

    pop = Path(analysis.inputs.population_source)
    km = _population_km(pop)
    out = [t("limit_population", km=f"{km:.0f}" if km else "?", source=pop.name)]
    kind = ((manifest.get("inputs") or {}).get("roads") or {}).get("kind")
    out.append(
        t("limit_roads_coarse")
        if kind in ("segments", "intercity")
        else t("limit_roads", kind=kind)
    )
    conflict = manifest.get("conflict")
    out.append(
        t("limit_conflict", end=conflict.get("end")) if conflict else t("limit_conflict_none")
    )
    if len(analysis.units("adm1")) == 9:  # the pre-2023 frame (8 régions + Bamako)
        out.append(t("limit_boundaries"))
    out += [t("limit_providers"), t("limit_access"), t("limit_confidential")]
    return out


# ----------------------------------------------------------------------------- assembly


def _software_version() -> str:
    try:
        return package_version("orienter")
    except PackageNotFoundError:
        return "0+unknown"


def assemble_briefing(
    analysis: Analysis,
    region: str,
    *,
    lang: str = "fr",
    now: datetime | None = None,
    dpi: int = 200,
) -> BriefingData:
    """Everything the briefing of ``region`` (P-code or name) shows.

    Figures are rows of ``analysis.coverage(...)`` tables: région (adm1) per service and
    mode (baseline), per conflict scenario (One-Stop Centres, car), and the cercles
    (adm2) and communes (adm3) of the région (One-Stop Centres, car, baseline).

    Raises
    ------
    RegionNotFoundError
        ``region`` matches no région.
    ValueError
        ``lang`` unknown, or the build has no car layers.
    """
    if lang not in LANGS:
        raise ValueError(f"lang={lang!r} is not supported; use one of {', '.join(LANGS)}")
    if "car" not in analysis.choices["mode"]:
        raise ValueError(
            "briefings need the car layers; run `orienter build --mode car` "
            f"(built modes: {', '.join(analysis.choices['mode']) or 'none'})"
        )
    found = resolve_region(analysis.units("adm1"), region)
    pcode, name = found.pcode, found.display_name
    modes = [m for m in BRIEF_MODES if m in analysis.choices["mode"]]
    services = []
    for service in SERVICE_KEYS:
        by_mode = {
            mode: _figures(
                _region_row(analysis, pcode, service=service, mode=mode, scenario="baseline"), name
            )
            for mode in modes
        }
        services.append((service, by_mode))
    osc = dict(services[0][1])
    built_scenarios = analysis.choices["scenario"]
    scenarios: list[ScenarioRow] = []
    if len(built_scenarios) > 1:
        base = osc["car"]
        for scenario in ("baseline", *[s for s in built_scenarios if s != "baseline"]):
            if scenario not in built_scenarios:
                continue
            fig = (
                base
                if scenario == "baseline"
                else _figures(
                    _region_row(
                        analysis, pcode, service="one_stop_centre", mode="car", scenario=scenario
                    ),
                    name,
                )
            )
            scenarios.append(ScenarioRow(scenario, fig, base))
    communes = _ranked_units(analysis, "adm3", pcode)
    # the display fields in the briefing's language (the directory's English on English ones)
    public = localized_frame(public_providers(analysis.inputs.providers), lang)
    providers = _region_providers(public, pcode)
    numbers = {p.id: p.number for p in providers if p.number is not None}
    notes = []
    if osc["car"].n_providers == 0:
        notes.append(translate("brief.note_no_osc", lang))
    return BriefingData(
        lang=lang,
        region_pcode=pcode,
        region_name=name,
        generated_at=now or datetime.now(UTC),
        version=_software_version(),
        population=osc["car"].population,
        population_source=Path(analysis.inputs.population_source).name,
        modes=modes,
        osc=osc,
        services=services,
        scenarios=scenarios,
        cercles=_ranked_units(analysis, "adm2", pcode),
        communes=communes[:COMMUNES_SHOWN],
        communes_total=len(communes),
        providers=providers,
        national_lines=_national_lines(analysis.settings, lang),
        maps=briefing_maps(analysis, pcode, public, numbers, lang=lang, dpi=dpi),
        sources=_sources(analysis, public, len(providers), lang),
        limitations=_limitations(analysis, lang),
        built_at=analysis.manifest.get("built_at"),
        scenarios_missing=not scenarios,
        walk_missing="walk" not in modes,
        underserved_threshold_min=UNDERSERVED_MIN,
        conflict_window=(
            (analysis.manifest["conflict"]["start"], analysis.manifest["conflict"]["end"])
            if analysis.manifest.get("conflict")
            else None
        ),
        notes=notes,
    )


def build_document(
    analysis: Analysis, region: str, *, lang: str = "fr", fmt: str = "pdf", dpi: int = 200
) -> tuple[BriefingData, bytes]:
    """The briefing of ``region`` as PDF or HTML bytes, with the data it shows."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt={fmt!r}: use one of {', '.join(FORMATS)}")
    data = assemble_briefing(analysis, region, lang=lang, dpi=dpi)
    html = render_html(data)
    return data, (render_pdf(html) if fmt == "pdf" else html.encode("utf-8"))
