"""Printable briefings per région: data assembly, `orienter brief`, and the web routes.

Everything a briefing prints comes from :class:`api.services.analysis.Analysis`, the object behind
``GET /api/v1/coverage``: :func:`assemble_briefing` copies table rows into a
:class:`web.briefing.BriefingData` (no figure is computed here), renders the static maps
(:mod:`web.static_maps`, offline) and lists the sources and limitations from the build's
manifest and the data directory.  :mod:`web.briefing` lays it out as HTML and PDF.

Usage::

    orienter brief --region ML05 --out mopti.pdf          # or --region Mopti, --lang en
    orienter brief --region Kidal --out kidal.html        # self-contained HTML
    orienter brief --all --out briefings/                 # one PDF per région

    GET /regions/ML05/brief.pdf   GET /regions/ML05/brief.html?lang=en

Confidential providers never reach a briefing: the provider rows and the maps go
through :func:`geo.providers.public_providers`; access figures count them (as the API's
coverage does), and the document says so.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
import unicodedata
from collections import OrderedDict
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import typer
from affine import Affine
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from rasterio.windows import Window

from api.build.layers import NotBuiltError
from api.build.pipeline import SERVICE_KEYS
from api.cli._console import check_writable, console, err_console, fail, progress
from api.datasets import DATASETS, find_dataset
from api.http.errors import ApiError
from api.services.analysis import Analysis
from api.settings import Settings, get_settings
from geo.crs import METRIC_CRS
from geo.errors import DataFileError
from geo.providers import ADM1_2015, public_providers, read_providers
from web.briefing import (
    BriefingData,
    Figures,
    MapImage,
    ProviderRow,
    ScenarioRow,
    SourceRow,
    render_html,
    render_pdf,
)
from web.i18n import LANGS, choose_lang, translate
from web.static_maps import conflict_map, map_frame, providers_map, travel_time_map

__all__ = [
    "RegionNotFoundError",
    "assemble_briefing",
    "brief",
    "build_document",
    "resolve_region",
    "router",
]

log = logging.getLogger(__name__)

#: Mode order in a briefing: car (required), then walk when built.
BRIEF_MODES = ("car", "walk")
#: Communes listed (the worst ones) in the underserved table.
COMMUNES_SHOWN = 10
UNDERSERVED_MIN = 120
FORMATS = ("pdf", "html")
#: Printed width of the two maps shown side by side, inches (about 88 mm).
HALF_MAP_IN = 3.5
#: Printable box of the full-width map, inches (186 x 94 mm, as in print.css).
FULL_MAP_BOX_IN = (7.3, 3.7)
_LEGEND_IN = 0.5  # about two legend rows below the map


def _full_map_width(frame) -> float:
    """Width at which the providers map prints 1:1 (text at its point size) in its box."""
    max_w, max_h = FULL_MAP_BOX_IN
    return float(min(max_w, max(3.0, (max_h - _LEGEND_IN) / frame.aspect)))


class RegionNotFoundError(ValueError):
    """No région has this P-code or name."""


# ----------------------------------------------------------------------------- région


def _fold(text: str) -> str:
    """Lower case, no accents, letters and digits only ("Ségou" == "segou")."""
    plain = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", plain.lower())


def _display_name(pcode: str, boundary_name: str) -> str:
    """The région's usual spelling (accents; "Koulikoro"), else the boundary file's."""
    return ADM1_2015.get(pcode, boundary_name)


def resolve_region(regions: pd.DataFrame, text: str) -> tuple[str, str]:
    """``(pcode, display name)`` of the région whose P-code or name is ``text``.

    Matching is case-, accent- and punctuation-blind on the P-code, the boundary file's
    name and the usual spelling (``ML05``, ``mopti``, ``Ségou``, ``Koulikoro``).  Raises
    :class:`RegionNotFoundError` listing the régions.
    """
    if not isinstance(text, str) or not text.strip():
        raise RegionNotFoundError("region is empty: give a P-code (ML05) or a name (Mopti)")
    wanted = _fold(text)
    for pcode, name in zip(regions["pcode"].astype(str), regions["name"].astype(str), strict=True):
        if wanted in (_fold(pcode), _fold(name), _fold(_display_name(pcode, name))):
            return pcode, _display_name(pcode, name)
    known = ", ".join(
        f"{p} {_display_name(p, n)}"
        for p, n in sorted(
            zip(regions["pcode"].astype(str), regions["name"].astype(str), strict=True)
        )
    )
    raise RegionNotFoundError(f"no région with the P-code or name {text!r}; known: {known}")


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


def _national_lines(settings: Settings) -> list[ProviderRow]:
    """Public records without a place (hotlines) from the provider directory."""
    if not settings.providers.is_file():
        return []
    try:
        directory = public_providers(read_providers(settings.providers))
    except (OSError, ValueError) as exc:
        log.warning("provider directory not read: %s", type(exc).__name__)
        return []
    lines = directory[directory.geometry.isna() | directory.geometry.is_empty]
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
            t("source_roads_note", kind=kind) if kind else None,
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


# ----------------------------------------------------------------------------- maps


def _surface_window(
    path: Path, bounds: tuple[float, float, float, float]
) -> tuple[np.ndarray, Affine] | None:
    if not path.is_file():
        return None
    xmin, ymin, xmax, ymax = bounds
    with rasterio.open(path) as src:
        t = src.transform  # north-up grid: t.a > 0, t.e < 0
        col0 = max(0, int(np.floor((xmin - t.c) / t.a)))
        row0 = max(0, int(np.floor((ymax - t.f) / t.e)))
        col1 = min(src.width, int(np.ceil((xmax - t.c) / t.a)))
        row1 = min(src.height, int(np.ceil((ymin - t.f) / t.e)))
        if col1 <= col0 or row1 <= row0:
            return None
        window = Window(col0, row0, col1 - col0, row1 - row0)
        data = src.read(1, window=window, masked=False).astype(float)
        transform = Affine(t.a, t.b, t.c + col0 * t.a, t.d, t.e, t.f + row0 * t.e)
        return data, transform


def _maps(
    analysis: Analysis,
    pcode: str,
    public: gpd.GeoDataFrame,
    numbers: dict[str, int],
    *,
    lang: str,
    dpi: int,
) -> list[MapImage]:
    def t(key: str, **values: object) -> str:
        return translate(f"brief.{key}", lang, **values)

    regions = analysis.units("adm1").to_crs(METRIC_CRS)
    cercles = analysis.units("adm2").to_crs(METRIC_CRS)
    region = regions[regions["pcode"].astype(str) == pcode]
    frame = map_frame(
        region,
        cercles[cercles["pcode"].astype(str).str.startswith(pcode)],
        regions[regions["pcode"].astype(str) != pcode],
    )
    shown = public.to_crs(METRIC_CRS)
    built = analysis.manifest.get("built_at") or "–"
    maps = [
        MapImage(
            "providers",
            t("map_providers_title"),
            t("map_providers_caption"),
            providers_map(
                frame, shown, numbers=numbers, lang=lang, dpi=dpi, width_in=_full_map_width(frame)
            ),
        )
    ]
    root = analysis.settings.build_dir
    window = _surface_window(
        root / "surfaces" / "public" / "one_stop_centre-car-baseline.tif", frame.bounds
    )
    if window is not None:
        minutes, transform = window
        maps.append(
            MapImage(
                "travel_time",
                t("map_time_title"),
                t("map_time_caption", built=built),
                travel_time_map(
                    frame,
                    minutes,
                    transform,
                    providers=shown,
                    numbers=numbers,
                    lang=lang,
                    dpi=dpi,
                    width_in=HALF_MAP_IN,
                ),
            )
        )
    zones_path = root / "conflict" / "zones.parquet"
    conflict = analysis.manifest.get("conflict")
    zones = gpd.read_parquet(zones_path).to_crs(METRIC_CRS) if zones_path.is_file() else None
    thresholds = tuple(conflict.get("thresholds_per_1000km2_year", ())) if conflict else ()
    maps.append(
        MapImage(
            "conflict",
            t("map_conflict_title"),
            t("map_conflict_caption", start=conflict.get("start"), end=conflict.get("end"))
            if conflict and zones is not None
            else t("map_conflict_caption_none"),
            conflict_map(
                frame,
                zones,
                thresholds=thresholds if len(thresholds) == 2 else None,
                lang=lang,
                dpi=dpi,
                width_in=HALF_MAP_IN,
            ),
        )
    )
    return maps


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
    pcode, name = resolve_region(analysis.units("adm1"), region)
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
    public = public_providers(analysis.inputs.providers)
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
        national_lines=_national_lines(analysis.settings),
        maps=_maps(analysis, pcode, public, numbers, lang=lang, dpi=dpi),
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


# ----------------------------------------------------------------------------- CLI


def _write_atomic(path: Path, payload: bytes) -> None:
    """Write to a temporary file beside ``path`` then rename: never a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a document is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _format_of(out: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise fail(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
        return fmt
    suffix = out.suffix.lower().lstrip(".")
    if suffix in ("htm", "html"):
        return "html"
    if suffix == "pdf":
        return "pdf"
    raise fail(f"--out {out}: name a .pdf or .html file (or give --format pdf|html)")


def brief(
    region: Annotated[
        str | None, typer.Option("--region", help="Région P-code (ML05) or name (Mopti).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="FILE.pdf or FILE.html; with --all, a directory."),
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="fr (default) or en.")] = "fr",
    all_regions: Annotated[
        bool, typer.Option("--all", help="One briefing per région into the --out directory.")
    ] = False,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="pdf or html (default: from --out; pdf with --all)."),
    ] = None,
) -> None:
    """A printable 2-4 page briefing of a région (A4 PDF or HTML), French by default.

    Maps of providers, travel-time bands and conflict zones; people beyond 1, 2 and 5 h
    of each service; the change under the conflict scenarios; the least well served
    cercles and communes; the public providers; sources and limitations.  Figures are
    those of `orienter coverage` and /api/v1/coverage.
    """
    if lang not in LANGS:
        raise fail(f"--lang {lang!r}: use one of {', '.join(LANGS)}")
    if out is None:
        raise fail("--out is required: a .pdf or .html file (a directory with --all)")
    if all_regions and region is not None:
        raise fail("--region and --all: give one")
    if not all_regions and region is None:
        raise fail("--region is required (a P-code such as ML05 or a name), or use --all")
    if all_regions:
        kind = fmt or "pdf"
        if kind not in FORMATS:
            raise fail(f"--format {kind!r}: use one of {', '.join(FORMATS)}")
        if out.exists() and not out.is_dir():
            raise fail(
                f"--out {out}: exists and is not a directory (--all writes one file per région)"
            )
        check_writable(out, directory_ok=True)
    else:
        kind = _format_of(out, fmt)
        if out.is_dir():
            raise fail(f"--out {out}: is a directory; name a .{kind} file")
        check_writable(out)
    settings = get_settings()
    started = time.perf_counter()
    try:
        analysis = Analysis.load(settings)
        regions = analysis.units("adm1")
        targets = (
            sorted(regions["pcode"].astype(str))
            if all_regions
            else [resolve_region(regions, region or "")[0]]
        )
    except RegionNotFoundError as exc:
        raise fail(f"--region {region!r}: {exc}") from exc
    except (NotBuiltError, DataFileError) as exc:
        raise fail(str(exc)) from exc

    def make(pcode: str) -> tuple[BriefingData, bytes]:
        try:
            return build_document(analysis, pcode, lang=lang, fmt=kind)
        except (DataFileError, ValueError) as exc:
            raise fail(str(exc)) from exc

    if not all_regions:
        data, payload = make(targets[0])
        try:
            _write_atomic(out, payload)
        except OSError as exc:
            raise fail(f"--out {out}: cannot be written ({exc})") from exc
        console.print(
            f"{data.region_name} ({data.region_pcode}): {out} "
            f"({len(payload) / 1024:.0f} KB, {time.perf_counter() - started:.1f} s)",
            highlight=False,
        )
        return
    out.mkdir(exist_ok=True)
    written = []
    with progress() as bar:
        task = bar.add_task("briefings", total=len(targets))
        for pcode in targets:
            data, payload = make(pcode)
            target = out / f"orienter-brief-{pcode}-{_fold(data.region_name)}-{lang}.{kind}"
            try:
                _write_atomic(target, payload)
            except OSError as exc:
                raise fail(f"--out {out}: {target.name} cannot be written ({exc})") from exc
            written.append(target)
            bar.advance(task)
    err_console.print(
        f"{len(written)} briefings in {out} ({time.perf_counter() - started:.1f} s)",
        highlight=False,
    )


# ----------------------------------------------------------------------------- web

router = APIRouter()
_CACHE_SIZE = 16
_cache_lock = threading.Lock()


def _analysis(request: Request) -> Analysis:
    """The app's Analysis (shared with /api/v1/coverage), created on first use."""
    state = request.app.state
    found = getattr(state, "analysis", None)
    if found is not None:
        return found
    with _cache_lock:
        found = getattr(state, "analysis", None)
        if found is None:
            settings = getattr(state, "settings", None) or get_settings()
            try:
                found = Analysis.load(settings)
            except NotBuiltError as exc:
                raise ApiError(503, "not_built") from exc
            state.analysis = found
    return found


def _documents(request: Request) -> OrderedDict:
    state = request.app.state
    with _cache_lock:
        if getattr(state, "brief_documents", None) is None:
            state.brief_documents = OrderedDict()
        return state.brief_documents


def _serve(request: Request, pcode: str, lang: str | None, fmt: str) -> Response:
    chosen = choose_lang(lang, request.headers.get("accept-language"))
    analysis = _analysis(request)
    regions = analysis.units("adm1")
    try:
        code, _ = resolve_region(regions, pcode)
    except RegionNotFoundError as exc:
        known = ", ".join(
            f"{p} {_display_name(p, n)}"
            for p, n in sorted(
                zip(regions["pcode"].astype(str), regions["name"].astype(str), strict=True)
            )
        )
        # the message never repeats what the client sent
        message = translate("brief.region_not_found", chosen, known=known)
        detail = {"code": "region_not_found", "message": message, "parameter": "pcode"}
        raise HTTPException(404, detail) from exc
    key = (code, chosen, fmt, analysis.manifest.get("built_at"))
    cache = _documents(request)
    with _cache_lock:
        payload = cache.get(key)
    if payload is None:
        try:
            _, payload = build_document(analysis, code, lang=chosen, fmt=fmt)
        except DataFileError as exc:
            raise ApiError(503, "coverage_unavailable") from exc
        with _cache_lock:
            cache[key] = payload
            while len(cache) > _CACHE_SIZE:
                cache.popitem(last=False)
    filename = f"orienter-brief-{code}-{chosen}.{fmt}"
    if fmt == "pdf":
        return Response(
            payload,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{filename}"'},
        )
    return Response(
        payload,
        media_type="text/html; charset=utf-8",
        headers={
            # the document is self-contained: inline CSS and data: images, no script
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:; base-uri 'none'; form-action 'none'",
            "Content-Disposition": f'inline; filename="{filename}"',
        },
    )


@router.get("/regions/{pcode}/brief.pdf", response_class=Response)
def brief_pdf(
    request: Request,
    pcode: str,
    lang: Annotated[str | None, Query(max_length=5, description="fr or en")] = None,
) -> Response:
    """The région's printable briefing (A4 PDF), French unless ?lang=en or Accept-Language."""
    return _serve(request, pcode, lang, "pdf")


@router.get("/regions/{pcode}/brief.html", response_class=Response)
def brief_html(
    request: Request,
    pcode: str,
    lang: Annotated[str | None, Query(max_length=5, description="fr or en")] = None,
) -> Response:
    """The same briefing as one self-contained HTML page."""
    return _serve(request, pcode, lang, "html")
