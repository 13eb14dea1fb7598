"""What the planning pages share: the form's options, the figures and rankings printed
as the briefings print them, and the région's providers and sources.

Every figure comes from the app's shared :class:`api.services.analysis.Analysis` (the
tables of ``GET /api/v1/coverage`` and of the briefings).  No confidential provider is
ever listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from fastapi import Request

from api.choices import LEVELS, SERVICE_KEYS, THRESHOLDS_MIN
from api.errors import error_message
from api.services.analysis import Analysis
from api.services.planning import plain_text
from geo.providers import localized_frame, public_providers
from web.formats import format_people, format_share
from web.time_flags import flag_marks

__all__ = [
    "COMMUNES_SHOWN",
    "FIGURE_THRESHOLDS_MIN",
    "beyond_figures",
    "data_sources",
    "form_choices",
    "modes",
    "page_options",
    "provider_rows",
    "ranking",
    "region_units",
    "scenarios",
    "source_links",
]

#: Thresholds of the "people beyond" figures on the région page, minutes.
FIGURE_THRESHOLDS_MIN: tuple[int, ...] = (60, 120, 300)
MODE_ORDER = ("car", "motorbike", "walk")
COMMUNES_SHOWN = 15


def source_links(value: str | Iterable[object] | None) -> list[dict]:
    """Source references as (href or None, short text): web links shown by host name."""
    items = [] if value is None else [value] if isinstance(value, str) else list(value)
    out: list[dict[str, str | None]] = []
    for item in items:
        text = str(item)
        if text.startswith(("https://", "http://")):
            host = urlsplit(text).hostname or text
            out.append({"href": text, "text": host.removeprefix("www.")})
        elif text:
            out.append({"href": None, "text": text})
    return out


def modes(analysis: Analysis) -> list[str]:
    """The built modes, car first (the order of the forms and the figures)."""
    built = analysis.choices["mode"]
    return [m for m in MODE_ORDER if m in built] + [m for m in built if m not in MODE_ORDER]


def scenarios(analysis: Analysis) -> list[str]:
    """The built scenarios, baseline first."""
    return sorted(analysis.choices["scenario"], key=lambda s: (s != "baseline", s))


def beyond_figures(row: pd.Series, lang: str) -> dict:
    """People beyond 1, 2 and 5 h and their share, from one coverage-table row."""
    beyond_rows: list[dict[str, Any]] = []
    out = {"population": format_people(row["population"], lang), "beyond": beyond_rows}
    for t in FIGURE_THRESHOLDS_MIN:
        beyond = int(row[f"pop_beyond_{t}"])
        share = row[f"share_beyond_{t}"]
        beyond_rows.append(
            {
                "minutes": t,
                "people": format_people(beyond, lang),
                "share": None if pd.isna(share) else format_share(float(share), lang),
                "value": beyond,
            }
        )
    return out


def page_options(
    request: Request, analysis: Analysis, lang: str
) -> tuple[dict[str, Any], str | None]:
    """Service, mode, scenario, level and threshold of the page's form (defaults if bad)."""
    built = modes(analysis)
    allowed: dict[str, tuple[str, ...]] = {
        "service": tuple(SERVICE_KEYS),
        "mode": tuple(built),
        "scenario": tuple(scenarios(analysis)),
        "level": LEVELS,
        "threshold_min": tuple(str(t) for t in THRESHOLDS_MIN),
    }
    chosen: dict[str, Any] = {
        "service": "one_stop_centre",
        "mode": built[0] if built else "car",
        "scenario": "baseline",
        "level": "adm2",
        "threshold_min": "120",
    }
    error = None
    for name, values in allowed.items():
        given = request.query_params.get(name)
        if given is None or given == "":
            continue
        if given in values:
            chosen[name] = given
        elif error is None:
            error = error_message("unknown_value", lang, parameter=name, allowed=", ".join(values))
    chosen["threshold_min"] = int(chosen["threshold_min"])
    return chosen, error


def ranking(
    analysis: Analysis,
    lang: str,
    *,
    level: str,
    service: str,
    mode: str,
    scenario: str,
    threshold_min: int,
    keep: set[str] | None = None,
    limit: int | None = None,
    with_parent: bool = True,
) -> tuple[list[dict], int]:
    """Underserved units (all, or those in ``keep``), worst first; and how many there are."""
    result = analysis.underserved(
        level=level, service=service, mode=mode, scenario=scenario, threshold_min=threshold_min
    )
    table = result.table
    if keep is not None:
        table = table[table["pcode"].astype(str).isin(keep)]
    parents = result.units.set_index(result.units["pcode"].astype(str))["parent_pcode"]
    names = {
        str(p): str(n)
        for lvl in LEVELS
        if lvl != level
        for p, n in zip(analysis.units(lvl)["pcode"], analysis.units(lvl)["name"], strict=True)
    }
    t = f"{threshold_min:g}"
    rows = []
    for r in table.head(limit).to_dict("records") if limit else table.to_dict("records"):
        parent = parents.get(str(r["pcode"]))
        share = r[f"share_beyond_{t}"]
        rows.append(
            {
                "pcode": r["pcode"],
                "name": r["name"],
                "parent": names.get(str(parent)) if with_parent and parent is not None else None,
                "population": format_people(r["population"], lang),
                "beyond": format_people(r[f"pop_beyond_{t}"], lang),
                "share": None if pd.isna(share) else format_share(float(share), lang),
                "rank_people": int(r["rank_people"]),
                "rank_share": int(r["rank_share"]),
                "max_class": r.get("max_class"),
                "time_flags": r.get("time_flags"),
                "marks": flag_marks(r.get("time_flags")),
            }
        )
    return rows, len(table)


def region_units(analysis: Analysis, pcode: str) -> tuple[set[str], set[str]]:
    """P-codes of the cercles and communes of the région ``pcode``."""
    adm2 = analysis.units("adm2")
    cercles = set(adm2.loc[adm2["parent_pcode"].astype(str) == pcode, "pcode"].astype(str))
    adm3 = analysis.units("adm3")
    communes = set(adm3.loc[adm3["parent_pcode"].astype(str).isin(cercles), "pcode"].astype(str))
    return cercles, communes


def provider_rows(request: Request, pcode: str, lang: str) -> list[dict]:
    """The région's public providers (never a confidential one)."""
    directory = getattr(request.app.state, "directory", None)
    if directory is None:
        return []
    public = public_providers(directory)
    public = public[public["adm1_pcode"].astype("string").str.upper() == pcode]
    public = localized_frame(
        public, lang
    )  # never English on a French page, nor French on an English one
    rows = []
    public = public.assign(_osc=public["type"] != "one_stop_centre")
    for r in public.sort_values(["_osc", "type", "name"]).to_dict("records"):
        precision = r.get("location_precision")
        rows.append(
            {
                "name": r["name"],
                "type": r["type"],
                "services": [s for s in (r.get("services") or []) if s],
                "town": plain_text(r.get("town")),
                "phone": plain_text(r.get("phone")),
                "opening_hours": plain_text(r.get("opening_hours")),
                "precision": plain_text(precision),
                "approximate": precision not in ("exact", "facility"),
                "sources": source_links(r.get("source")),
                "source_date": plain_text(r.get("source_date")),
                "dated": str(r.get("source_date") or "")[:1].isdigit(),
            }
        )
    return rows


def form_choices(analysis: Analysis) -> dict:
    """The values the page's form offers."""
    return {
        "services": list(SERVICE_KEYS),
        "modes": modes(analysis),
        "scenarios": scenarios(analysis),
        "levels": list(LEVELS),
        "thresholds": list(THRESHOLDS_MIN),
    }


def data_sources(request: Request, analysis: Analysis, meta: dict) -> dict:
    """What the figures rest on: files and dates from the build manifest."""
    manifest = analysis.manifest
    inputs = manifest.get("inputs", {})
    conflict = inputs.get("conflict") or {}
    zones = request.app.state.settings.build_dir / "conflict" / "meta.json"
    window = None
    if zones.is_file():
        try:
            info = json.loads(zones.read_text(encoding="utf-8"))
            if info.get("start") and info.get("end"):
                window = f"{info['start']} – {info['end']}"
        except (OSError, ValueError):
            window = None
    return {
        "population": Path(meta.get("population_source") or "").name or None,
        "roads": meta.get("roads"),
        "built_at": (manifest.get("built_at") or "")[:10] or None,
        "conflict": bool(conflict),
        "conflict_window": window,
        "providers": Path((inputs.get("providers") or {}).get("path") or "").name or None,
    }
