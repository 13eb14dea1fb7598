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

from api.build.layers import time_meaning
from api.choices import SERVICE_KEYS
from api.datasets import DATASETS, find_dataset
from api.services.analysis import Analysis
from api.services.briefing_maps import briefing_maps
from api.services.frames import FRAME_LEVEL
from api.services.regions import RegionNotFoundError, resolve_region
from api.settings import Settings
from geo.providers import localized_frame, public_providers, read_providers
from web.briefing import (
    BriefingData,
    Figures,
    ProviderRow,
    ScenarioRow,
    SourceRow,
    WindowFigures,
    render_html,
    render_pdf,
)
from web.i18n import LANGS, translate

__all__ = ["FORMATS", "assemble_briefing", "build_document"]

log = logging.getLogger(__name__)

#: Mode order in a briefing: car (required), then walk when built.
BRIEF_MODES = ("car", "walk")
#: Modes of the clinical-window table: on foot and by motorbike first (the north's figure).
WINDOW_MODES = ("walk", "motorbike", "car")
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
    # 30 min to 5 h, and the clinical windows (72 h, 120 h) of a medical table
    minutes = [m for m in (30, 60, 120, 300, 4320, 7200) if f"pop_within_{m}" in row]
    return Figures(
        label=label or str(row["name"]),
        pcode=str(row["pcode"]),
        population=float(row["population"]),
        within={m: float(row[f"pop_within_{m}"]) for m in minutes},
        share_within={m: opt(f"share_within_{m}") for m in minutes},
        people_beyond={m: float(row[f"pop_beyond_{m}"]) for m in minutes},
        shares_beyond={m: opt(f"share_beyond_{m}") for m in minutes},
        median_time_min=None if median is None or pd.isna(median) else float(median),
        n_providers=None if opt("n_providers") is None else int(row["n_providers"]),
        nearest_provider_name=opt("nearest_provider_name"),
        max_class=opt("max_class"),
        time_flags=opt("time_flags"),
    )


def _region_row(analysis: Analysis, pcode: str, frame: str | None, **kwargs: str) -> pd.Series:
    table = analysis.coverage(level="adm1", frame=frame, **kwargs).table
    hit = table[table["pcode"].astype(str) == pcode]
    if hit.empty:
        raise RegionNotFoundError(f"région {pcode} is not in the adm1 coverage table")
    return hit.iloc[0]


def region_members(
    analysis: Analysis, key_level: str, pcode: str, frame: str
) -> dict[str, set[str]]:
    """P-codes of the cercles (``adm2``) and communes (``adm3``) of a région of the level
    key ``key_level`` (:meth:`Analysis.frame_level`) in ``frame``: by P-code in the 2015
    frame, by the crosswalk for the 2023 régions built from cercles, by place for
    supplied 2023 boundaries (the cercles whose centre lies in the région)."""
    cercles = analysis.units("adm2")
    codes = cercles["pcode"].astype(str)
    if key_level == FRAME_LEVEL:
        regions = analysis.units(FRAME_LEVEL)
        listed = regions.loc[regions["pcode"] == pcode, "cercles"].iloc[0]
        inside = set(listed.split(";"))
    elif frame == "2015":
        inside = set(codes[codes.str.startswith(pcode)])
    else:
        regions = analysis.units(key_level)
        shape = regions.loc[regions["pcode"].astype(str) == pcode].geometry.iloc[0]
        inside = set(codes[cercles.representative_point().within(shape).to_numpy()])
    communes = analysis.units("adm3")
    parent = communes["parent_pcode"].astype(str)
    return {"adm2": inside, "adm3": set(communes["pcode"].astype(str)[parent.isin(inside)])}


def _ranked_units(analysis: Analysis, level: str, members: set[str]) -> list[Figures]:
    """Units of ``level`` inside the région, most people beyond 2 h first."""
    table = analysis.coverage(
        level=level, service="one_stop_centre", mode="car", scenario="baseline"
    ).table
    inside = table[table["pcode"].astype(str).isin(members)]
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


def _region_providers(
    public: gpd.GeoDataFrame, pcode: str, shape: object | None = None
) -> list[ProviderRow]:
    """The région's public providers: by their ``adm1_pcode``, or, for a région of
    another frame (``shape`` given), those located inside it."""
    if shape is None:
        rows = public[public["adm1_pcode"].astype("string").str.upper() == pcode.upper()]
    else:
        located = public.geometry.notna() & ~public.geometry.is_empty
        rows = public[located & public.geometry.within(shape)]
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


def _limitations(analysis: Analysis, lang: str, frame: str = "2015") -> list[str]:
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
    if frame == "2015" and len(analysis.units("adm1")) == 9:  # 8 régions + Bamako
        out.append(t("limit_boundaries"))
    out += [t("limit_providers"), t("limit_access"), t("limit_confidential")]
    return out


# ----------------------------------------------------------------------------- assembly


def _software_version() -> str:
    try:
        return package_version("orienter")
    except PackageNotFoundError:
        return "0+unknown"


def _scenario_rows(
    analysis: Analysis, pcode: str, frame: str | None, name: str, base: Figures
) -> list[ScenarioRow]:
    """One-Stop Centres by car: the baseline, then each built conflict scenario."""
    built = analysis.choices["scenario"]
    if len(built) <= 1:
        return []
    rows = [ScenarioRow("baseline", base, base)]
    for scenario in [s for s in built if s != "baseline"]:
        row = _region_row(
            analysis, pcode, frame, service="one_stop_centre", mode="car", scenario=scenario
        )
        rows.append(ScenarioRow(scenario, _figures(row, name), base))
    return rows


def _window_rows(analysis: Analysis, pcode: str, frame: str | None, name: str) -> WindowFigures:
    """Medical care of the région by each built mode of :data:`WINDOW_MODES` (its table
    holds the clinical windows beside 1, 2 and 5 h)."""
    built = [m for m in WINDOW_MODES if m in analysis.choices["mode"]]
    return [
        (mode, _figures(_region_row(analysis, pcode, frame, service="medical", mode=mode), name))
        for mode in built
    ]


def _frame_notes(analysis: Analysis, key_level: str, pcode: str, lang: str) -> list[str]:
    """What the 2023 frame built from cercles says about the région's figures."""
    if key_level != FRAME_LEVEL:
        return []
    regions = analysis.units(FRAME_LEVEL).set_index("pcode")
    notes = [translate("brief.note_frame_2023", lang)]
    if bool(regions.loc[pcode, "approximate"]):
        notes.append(translate("brief.note_frame_approximate", lang))
    return notes


def assemble_briefing(
    analysis: Analysis,
    region: str,
    *,
    lang: str = "fr",
    now: datetime | None = None,
    dpi: int = 200,
    frame: str | None = None,
) -> BriefingData:
    """Everything the briefing of ``region`` (P-code or name) shows.

    Figures are rows of ``analysis.coverage(...)`` tables: région (adm1) per service and
    mode (baseline), per conflict scenario (One-Stop Centres, car), medical care by
    walk, motorbike and car with the clinical windows, and the cercles (adm2) and
    communes (adm3) of the région (One-Stop Centres, car, baseline).  ``frame``: the
    régions of 2015 or 2023 (:meth:`Analysis.frame_level`).

    Raises
    ------
    RegionNotFoundError
        ``region`` matches no région.
    api.services.frames.FrameError
        ``frame`` cannot be given by the boundary files.
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
    key_level, frame_meta, _ = analysis.frame_level("adm1", frame)
    regions = analysis.units(key_level)
    found = resolve_region(regions, region)
    pcode, name = found.pcode, found.display_name
    members = region_members(analysis, key_level, pcode, frame_meta["frame"])
    modes = [m for m in BRIEF_MODES if m in analysis.choices["mode"]]
    services = []
    for service in SERVICE_KEYS:
        by_mode = {
            mode: _figures(_region_row(analysis, pcode, frame, service=service, mode=mode), name)
            for mode in modes
        }
        services.append((service, by_mode))
    osc = dict(services[0][1])
    communes = _ranked_units(analysis, "adm3", members["adm3"])
    # the display fields in the briefing's language (the directory's English on English ones)
    public = localized_frame(public_providers(analysis.inputs.providers), lang)
    own = regions["pcode"].astype(str) == pcode  # a région of another frame: by its shape
    shape = regions.loc[own].geometry.iloc[0] if frame_meta["frame"] != "2015" else None
    providers = _region_providers(public, pcode, shape)
    numbers = {p.id: p.number for p in providers if p.number is not None}
    notes = _frame_notes(analysis, key_level, pcode, lang)
    if osc["car"].n_providers == 0:
        notes.append(translate("brief.note_no_osc", lang))
    scenarios = _scenario_rows(analysis, pcode, frame, name, osc["car"])
    maps = briefing_maps(
        analysis,
        pcode,
        public,
        numbers,
        lang=lang,
        dpi=dpi,
        regions=regions,
        cercles=members["adm2"],
    )
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
        cercles=_ranked_units(analysis, "adm2", members["adm2"]),
        communes=communes[:COMMUNES_SHOWN],
        communes_total=len(communes),
        providers=providers,
        national_lines=_national_lines(analysis.settings, lang),
        maps=maps,
        sources=_sources(analysis, public, len(providers), lang),
        limitations=_limitations(analysis, lang, frame_meta["frame"]),
        built_at=analysis.manifest.get("built_at"),
        scenarios_missing=not scenarios,
        walk_missing="walk" not in modes,
        underserved_threshold_min=UNDERSERVED_MIN,
        time_meaning=time_meaning(analysis.manifest, lang),
        conflict_window=_conflict_window(analysis.manifest),
        notes=notes,
        windows=_window_rows(analysis, pcode, frame, name),
    )


def _conflict_window(manifest: dict) -> tuple[str, str] | None:
    """First and last day of the conflict events the build's zones rest on."""
    conflict = manifest.get("conflict")
    return (conflict["start"], conflict["end"]) if conflict else None


def build_document(
    analysis: Analysis,
    region: str,
    *,
    lang: str = "fr",
    fmt: str = "pdf",
    dpi: int = 200,
    frame: str | None = None,
) -> tuple[BriefingData, bytes]:
    """The briefing of ``region`` as PDF or HTML bytes, with the data it shows."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt={fmt!r}: use one of {', '.join(FORMATS)}")
    data = assemble_briefing(analysis, region, lang=lang, dpi=dpi, frame=frame)
    html = render_html(data)
    return data, (render_pdf(html) if fmt == "pdf" else html.encode("utf-8"))
