"""Referral pathways: for one cercle or commune, where to refer a survivor, sector by sector.

:func:`assemble_pathway` gathers what :mod:`web.pathway` prints, computing no figure of
its own:

- the area (:func:`resolve_area`: a cercle or commune by P-code or name) and its *main
  settlement* (:func:`main_settlement`: the gazetteer's highest-class place of the area,
  the one nearest the area's centre on a tie), the point every time is measured from;
- per sector, the nearest public providers by :data:`RANK_MODES`' first built mode and
  their time by every built mode, from :func:`api.build.layers.answer_nearest` (the
  answer of ``GET /api/v1/nearest`` from the same point: the labels' top k, or, for a
  provider beyond a mode's top k and for the police/security providers, the same
  function's full search by ``provider_ids``);
- the share of the area's people within 1, 2 and 5 h and the clinical windows (72 h,
  120 h) of medical care, rows of the coverage tables of
  :class:`api.services.analysis.Analysis` (``GET /api/v1/coverage``);
- the national lines and the PSEA reporting channel: public records of the directory.

Confidential providers never enter: the nearest answers are public ones
(``include_confidential=False``), the coverage tables count public providers only, the
directory goes through :func:`geo.providers.public_providers`, and the shelter sector
never names anyone, whatever the directory holds.  Nothing about a survivor is asked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from api.build.layers import Layers, answer_nearest
from api.services.analysis import Analysis
from api.services.frames import choose_frame
from api.services.regions import display_name, fold
from geo.providers import RESULT_STATUSES, public_mask, public_providers
from geo.settlements import Gazetteer
from web.i18n import LANGS
from web.pathway import (
    GAP_MIN,
    SECTORS,
    WINDOW_COLUMNS_MIN,
    Contact,
    PathwayData,
    ProviderLine,
    SectorBlock,
    WindowRow,
    render_html,
    render_pdf,
)

__all__ = [
    "FORMATS",
    "RANK_MODES",
    "SHOWN",
    "Area",
    "AreaNotFoundError",
    "assemble_pathway",
    "build_pathway_document",
    "main_settlement",
    "resolve_area",
    "security_ids",
]

log = logging.getLogger(__name__)

FORMATS = ("pdf", "html")
#: Modes of a pathway, in the order its columns show them; the first built ranks.
RANK_MODES = ("car", "motorbike", "walk")
#: Providers named per sector.
SHOWN = 3
#: Words in a provider's other services that make it a police/security service.
SECURITY_WORDS = ("police", "security", "sécurité", "gendarmerie")


class AreaNotFoundError(ValueError):
    """No cercle or commune has this P-code or name (or several communes share it)."""


@dataclass(frozen=True)
class Area:
    """A cercle (adm2) or a commune (adm3) of the boundary files."""

    pcode: str
    name: str
    level: str
    cercle_pcode: str
    cercle_name: str


# ----------------------------------------------------------------------------- the area


def resolve_area(analysis: Analysis, text: str) -> Area:
    """The cercle or commune whose P-code or name is ``text`` (a cercle first when a
    cercle and a commune share the name).

    Raises
    ------
    AreaNotFoundError
        Empty text, no match, or a name several communes share (the message lists them).
    """
    if not isinstance(text, str) or not text.strip():
        raise AreaNotFoundError("area is empty: give a P-code (ML0502) or a name (Bandiagara)")
    cercles, communes = analysis.units("adm2"), analysis.units("adm3")
    wanted = fold(text)
    for level, units in (("adm2", cercles), ("adm3", communes)):
        codes = units["pcode"].astype(str)
        hit = units[codes.map(fold) == wanted]
        if hit.empty:
            hit = units[units["name"].astype(str).map(fold) == wanted]
        if len(hit) > 1:
            found = ", ".join(f"{p} {n}" for p, n in zip(hit["pcode"], hit["name"], strict=True))
            raise AreaNotFoundError(f"{text!r} names several {level} units: {found}; give a P-code")
        if len(hit) == 1:
            row = hit.iloc[0]
            cercle = str(row["pcode"]) if level == "adm2" else str(row["parent_pcode"])
            names = cercles.set_index(cercles["pcode"].astype(str))["name"].astype(str)
            return Area(str(row["pcode"]), str(row["name"]), level, cercle, names.get(cercle, ""))
    raise AreaNotFoundError(
        f"no cercle or commune with the P-code or name {text!r}; a cercle P-code has 6 "
        "characters (ML0502), a commune's 8 (ML050201); `orienter coverage --level adm2` "
        "lists the cercles"
    )


def main_settlement(gazetteer: Gazetteer | None, area: Area, shape: Any) -> dict[str, Any]:
    """The area's main settlement: the gazetteer's place of the highest class (1 capital
    ... 5 village) in the area, the one nearest the area's centre on a tie; the area's
    centre itself when the gazetteer has no place there (``pcode`` None)."""
    centre = shape.representative_point()
    if gazetteer is not None:
        places = gazetteer.places
        column = "adm2_pcode" if area.level == "adm2" else "adm3_pcode"
        inside = places[places[column].astype("string").str.upper() == area.pcode.upper()]
        if len(inside):
            best = inside[inside["place_class"] == inside["place_class"].min()]
            gaps = shapely.distance(best.geometry.to_numpy(), centre)
            row = best.iloc[int(np.argmin(gaps))]
            return {
                "name": str(row["name"]),
                "pcode": str(row["pcode"]),
                "lon": float(row.geometry.x),
                "lat": float(row.geometry.y),
                "place_class": int(row["place_class"]),
            }
    return {"name": area.name, "pcode": None, "lon": centre.x, "lat": centre.y}


# ----------------------------------------------------------------------------- providers


def security_ids(layers: Layers) -> list[str]:
    """Public providers whose other services name police or security."""
    frame = layers.providers
    keep = public_mask(frame)

    def is_security(value: Any) -> bool:
        items = [] if value is None or isinstance(value, float) else list(np.atleast_1d(value))
        return any(w in str(item).lower() for item in items for w in SECURITY_WORDS)

    column = frame.get("other_services", pd.Series([None] * len(frame), index=frame.index))
    wanted = column.map(is_security).to_numpy(dtype=bool) & keep
    return [str(i) for i in frame["id"][wanted]]


def _ranked(layers: Layers, where: dict, key: str, service: str | None, mode: str) -> list[dict]:
    """The nearest public providers of a sector by ``mode``: reachable ones, nearest first."""
    if key == "security":
        ids = security_ids(layers)
        if not ids:
            return []
        found = answer_nearest(layers, **where, service=None, mode=mode, provider_ids=ids)
    else:
        found = answer_nearest(layers, **where, service=service, mode=mode, k=layers.k)
    return [r for r in found["results"] if r["travel_time_min"] is not None][:SHOWN]


def _other_modes(
    layers: Layers, where: dict, listed: dict[str, list[dict]], modes: list[str]
) -> dict[str, dict[str, dict]]:
    """Per mode, the answer record of every listed provider: the mode's own top k for
    the sector, then one full search for those beyond it."""
    out: dict[str, dict[str, dict]] = {}
    services = dict(SECTORS)
    for mode in modes:
        records: dict[str, dict] = {}
        for key, rows in listed.items():
            if rows and key != "security":
                found = answer_nearest(
                    layers, **where, service=services[key], mode=mode, k=layers.k
                )
                records.update({r["id"]: r for r in found["results"]})
        missing = sorted({r["id"] for rows in listed.values() for r in rows} - set(records))
        if missing:
            found = answer_nearest(layers, **where, service=None, mode=mode, provider_ids=missing)
            records.update({r["id"]: r for r in found["results"]})
        out[mode] = records
    return out


def _line(record: dict, minutes: dict[str, float | None]) -> ProviderLine:
    conflict = record.get("route_conflict") or {}
    return ProviderLine(
        id=str(record["id"]),
        name=str(record["name"]),
        type=str(record.get("type") or ""),
        town=record.get("town"),
        phone=record.get("phone"),
        opening_hours=record.get("opening_hours"),
        status=record.get("status"),
        last_verified=record.get("last_verified"),
        evidence_date=record.get("evidence_date"),
        needs_verification=bool(record.get("needs_verification")),
        location_precision=record.get("location_precision"),
        minutes=minutes,
        distance_km=record.get("distance_km"),
        route_class=conflict.get("worst_class"),
    )


def _sectors(layers: Layers, where: dict, modes: list[str]) -> list[SectorBlock]:
    """Every sector of :data:`web.pathway.SECTORS` from the nearest answers."""
    rank_mode = modes[0]
    listed = {
        key: _ranked(layers, where, key, service, rank_mode)
        for key, service in SECTORS
        if key != "shelter"
    }
    times = _other_modes(layers, where, listed, modes[1:])
    blocks = []
    for key, service in SECTORS:
        if key == "shelter":
            blocks.append(SectorBlock(key, service, never_named=True))
            continue
        lines = []
        for record in listed[key]:
            minutes = {rank_mode: record["travel_time_min"]}
            for mode in modes[1:]:
                other = times[mode].get(record["id"])
                minutes[mode] = None if other is None else other["travel_time_min"]
            lines.append(_line(record, minutes))
        near = [x.fastest_min for x in lines if x.fastest_min is not None]
        blocks.append(SectorBlock(key, service, lines, gap=not near or min(near) > GAP_MIN))
    return blocks


# ----------------------------------------------------------------------------- the rest


def _contacts(directory: gpd.GeoDataFrame | None) -> tuple[list[Contact], list[Contact]]:
    """The national lines (public records without a place) and the PSEA channels (public
    records whose other services or name speak of sexual exploitation and abuse)."""
    if directory is None or not len(directory):
        return [], []
    public = public_providers(directory)
    public = public[public["status"].astype("string").isin(RESULT_STATUSES).fillna(False)]

    def contact(row: pd.Series) -> Contact:
        def text(name: str) -> str | None:
            value = row.get(name)
            return None if value is None or pd.isna(value) else str(value).strip() or None

        return Contact(
            id=str(row["id"]),
            name=str(row["name"]),
            phone=text("phone"),
            opening_hours=text("opening_hours"),
            status=text("status"),
            source_date=text("source_date"),
            unconfirmed_since=text("unconfirmed_since"),
            town=text("town"),
        )

    placeless = public.geometry.isna() | public.geometry.is_empty
    lines = [contact(r) for _, r in public[placeless].iterrows()]
    words = public["other_services"].map(lambda v: " ".join(map(str, np.atleast_1d(v or []))))
    psea = words.str.contains("exploitation", case=False) | public["name"].astype(str).str.contains(
        "PSEA"
    )
    return lines, [contact(r) for _, r in public[psea & ~placeless].iterrows()]


def _windows(analysis: Analysis, area: Area, modes: list[str]) -> tuple[list[WindowRow], float]:
    """Medical care from the area by each mode (walk and motorbike first) and its people."""
    rows, population = [], float("nan")
    for mode in sorted(modes, key=("walk", "motorbike", "car").index):
        table = analysis.coverage(level=area.level, service="medical", mode=mode).table
        row = table[table["pcode"].astype(str) == area.pcode].iloc[0]
        population = float(row["population"])
        shares = {}
        for minutes in WINDOW_COLUMNS_MIN:
            value = row.get(f"share_within_{minutes}")
            shares[minutes] = None if value is None or pd.isna(value) else float(value)
        rows.append(WindowRow(mode, shares))
    return rows, population


def _region(analysis: Analysis, area: Area, frame: str | None, point: Any) -> tuple[str, str, bool]:
    """(région name, frame, approximate) of the area in ``frame``."""
    chosen, crosswalk = choose_frame(frame, len(analysis.units("adm1")))
    if crosswalk:
        info = analysis.frame_2023().cercles.set_index("pcode").loc[area.cercle_pcode]
        return str(info["region_2023"]), chosen, bool(info["region_2023_approximate"])
    regions = analysis.units("adm1")
    inside = regions[regions.contains(point)]
    row = inside.iloc[0] if len(inside) else None
    if row is None:  # a point on a border: the P-code's région
        row = regions[regions["pcode"].astype(str) == area.pcode[:4]].iloc[0]
    return display_name(str(row["pcode"]), str(row["name"])), chosen, False


def _version() -> str:
    try:
        return package_version("orienter")
    except PackageNotFoundError:
        return "0+unknown"


def assemble_pathway(
    analysis: Analysis,
    layers: Layers,
    gazetteer: Gazetteer | None,
    directory: gpd.GeoDataFrame | None,
    area_text: str,
    *,
    lang: str = "fr",
    frame: str | None = None,
    now: datetime | None = None,
) -> PathwayData:
    """Everything the pathway of the cercle or commune ``area_text`` shows.

    Raises
    ------
    AreaNotFoundError
        ``area_text`` names no cercle or commune.
    api.services.frames.FrameError
        ``frame`` cannot be given by the boundary files.
    ValueError
        ``lang`` unknown, or none of the pathway's modes is built.
    """
    if lang not in LANGS:
        raise ValueError(f"lang={lang!r} is not supported; use one of {', '.join(LANGS)}")
    modes = [m for m in RANK_MODES if (m, "baseline") in layers.layers]
    if not modes:
        raise ValueError(f"pathways need a baseline of {', '.join(RANK_MODES)}; run orienter build")
    area = resolve_area(analysis, area_text)
    units = analysis.units(area.level)
    shape = units[units["pcode"].astype(str) == area.pcode].geometry.iloc[0]
    place = main_settlement(gazetteer, area, shape)
    point = shapely.Point(place["lon"], place["lat"])
    region, chosen, approximate = _region(analysis, area, frame, point)
    where = {"lon": place["lon"], "lat": place["lat"]}
    windows, population = _windows(analysis, area, modes)
    hotlines, psea = _contacts(directory)
    conflict = analysis.manifest.get("conflict")
    return PathwayData(
        lang=lang,
        area_pcode=area.pcode,
        area_name=area.name,
        level=area.level,
        cercle_name=area.cercle_name if area.level == "adm3" else None,
        region_name=region,
        region_frame=chosen,
        region_approximate=approximate,
        population=None if np.isnan(population) else population,
        settlement_name=place["name"],
        settlement_pcode=place["pcode"],
        generated_at=now or datetime.now(UTC),
        version=_version(),
        built_at=analysis.manifest.get("built_at"),
        modes=modes,
        route_mode=modes[0],
        sectors=_sectors(layers, where, modes),
        windows=windows,
        hotlines=hotlines,
        psea=psea,
        time_meaning=layers.time_meaning(lang),
        conflict_window=(conflict["start"], conflict["end"]) if conflict else None,
        missing_modes=[m for m in RANK_MODES if m not in modes],
    )


def build_pathway_document(
    analysis: Analysis,
    layers: Layers,
    gazetteer: Gazetteer | None,
    directory: gpd.GeoDataFrame | None,
    area_text: str,
    *,
    lang: str = "fr",
    fmt: str = "pdf",
    frame: str | None = None,
) -> tuple[PathwayData, bytes]:
    """The pathway of ``area_text`` as PDF or self-contained HTML bytes, with its data."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt={fmt!r}: use one of {', '.join(FORMATS)}")
    data = assemble_pathway(
        analysis, layers, gazetteer, directory, area_text, lang=lang, frame=frame
    )
    html = render_html(data)
    return data, (render_pdf(html) if fmt == "pdf" else html.encode("utf-8"))
