"""Referral pathways (*circuits de référencement*): a :class:`PathwayData` in, HTML and PDF out.

A pure builder, like :mod:`web.briefing`.  Everything a pathway shows arrives in
:class:`PathwayData` (assembled by ``api.services.pathways`` from the one nearest-service
computation and the coverage tables); this module lays it out with the templates of
``web/templates/pathway/`` and the ``pathway`` message catalogue:

- :func:`render_html`: one self-contained document (the style sheet inline, no script,
  no image), the file ``orienter pathway --out F.html`` writes and WeasyPrint prints;
- :func:`body_context`: what the page ``/circuits/<pcode>`` gives the same body template
  (``pathway/_body.html``) inside the site's layout;
- :func:`web.briefing.render_pdf` prints the document (A4, DejaVu fonts).

One A4 page per area, two at most, readable in black and white: classes of conflict and
flags are words, not colours.  A shelter or any confidential service is never named nor
located: its line says to go through a hotline or a caseworker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from web.briefing import format_duration, render_pdf
from web.formats import format_people, format_share
from web.i18n import LANGS, translate

__all__ = [
    "GAP_MIN",
    "SECTORS",
    "WINDOW_COLUMNS_MIN",
    "Contact",
    "PathwayData",
    "ProviderLine",
    "SectorBlock",
    "WindowRow",
    "body_context",
    "render_html",
    "render_pdf",
]

TEMPLATES = Path(__file__).resolve().parent / "templates"
STYLE = Path(__file__).resolve().parent / "static" / "css" / "pathway.css"
#: Width-dependent rules, for screens only (WeasyPrint skips a ``media="screen"`` style).
SCREEN_STYLE = STYLE.with_name("pathway-screen.css")
#: The sectors of a pathway, in the order a caseworker refers: key -> service key
#: (None: security, found by the providers' other services; shelter is never named).
SECTORS: tuple[tuple[str, str | None], ...] = (
    ("health", "medical"),
    ("psychosocial", "psychosocial"),
    ("legal", "legal"),
    ("security", None),
    ("shelter", "shelter"),
    ("reintegration", "reintegration"),
)
#: Beyond this many minutes by every mode, a sector "has no provider within reach".
GAP_MIN = 300
#: Columns of the medical-care table: 1, 2 and 5 h, then the windows (72 h, 120 h).
WINDOW_COLUMNS_MIN: tuple[int, ...] = (60, 120, 300, 4320, 7200)


@dataclass(frozen=True)
class ProviderLine:
    """One public provider of a sector as the pathway prints it.

    ``minutes`` per mode (None: unreachable or not built), from the area's main
    settlement; ``route_class``: the worst conflict class along the route by
    :attr:`PathwayData.route_mode`.
    """

    id: str
    name: str
    type: str
    town: str | None
    phone: str | None
    opening_hours: str | None
    status: str | None
    last_verified: str | None
    evidence_date: str | None
    needs_verification: bool
    location_precision: str | None
    minutes: Mapping[str, float | None]
    distance_km: float | None
    route_class: str | None

    @property
    def fastest_min(self) -> float | None:
        """The shortest time over the modes (None when no mode reaches it)."""
        found = [m for m in self.minutes.values() if m is not None]
        return min(found) if found else None


@dataclass(frozen=True)
class SectorBlock:
    """One sector: its nearest public providers, or why none is named."""

    key: str
    service: str | None
    providers: Sequence[ProviderLine] = ()
    gap: bool = False  # no provider within GAP_MIN by any mode
    never_named: bool = False  # shelter: through a hotline or a caseworker only


@dataclass(frozen=True)
class WindowRow:
    """Medical care from the area, one mode: the share of its people within each of
    :data:`WINDOW_COLUMNS_MIN` (coverage-table values, 0-1; None unknown)."""

    mode: str
    share_within: Mapping[int, float | None]


@dataclass(frozen=True)
class Contact:
    """A national line or a reporting channel (public records without a place or with a
    national reach): how to reach it and how sure the directory is of it."""

    id: str
    name: str
    phone: str | None
    opening_hours: str | None
    status: str | None
    source_date: str | None
    unconfirmed_since: str | None
    town: str | None = None


@dataclass
class PathwayData:
    """Everything one pathway shows (see ``api.services.pathways.assemble_pathway``)."""

    lang: str
    area_pcode: str
    area_name: str
    level: str  # adm2 (cercle) or adm3 (commune)
    cercle_name: str | None
    region_name: str
    region_frame: str
    region_approximate: bool
    population: float | None
    settlement_name: str
    settlement_pcode: str | None
    generated_at: datetime
    version: str
    built_at: str | None
    modes: Sequence[str]
    route_mode: str
    sectors: Sequence[SectorBlock]
    windows: Sequence[WindowRow]
    hotlines: Sequence[Contact]
    psea: Sequence[Contact]
    time_meaning: str
    conflict_window: tuple[str, str] | None
    missing_modes: Sequence[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- rendering


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(("html",)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _format_date(moment: datetime, lang: str) -> str:
    months = translate("brief.months", lang).split(",")
    return f"{moment.day} {months[moment.month - 1]} {moment.year}"


def body_context(data: PathwayData) -> dict[str, Any]:
    """The variables of ``pathway/_body.html`` for ``data`` (also given to the page)."""
    if not isinstance(data, PathwayData):
        raise TypeError(f"data must be a PathwayData, got {type(data).__name__}")
    if data.lang not in LANGS:
        raise ValueError(f"lang={data.lang!r} is not supported; use one of {', '.join(LANGS)}")
    lang = data.lang

    def duration(minutes: float | None) -> str:
        if minutes is None:
            return translate("pathway.unreachable", lang)
        return format_duration(minutes, lang)

    hours: Callable[[int], str] = lambda m: f"{m // 60}\u00a0h"  # noqa: E731
    return {
        "p": data,
        "people": lambda v: format_people(v, lang),
        "share": lambda v: format_share(v, lang),
        "duration": duration,
        "hours": hours,
        "window_columns": WINDOW_COLUMNS_MIN,
        "gap_hours": GAP_MIN // 60,
        "generated": _format_date(data.generated_at, lang),
    }


def render_html(data: PathwayData) -> str:
    """The pathway as one self-contained A4 HTML document (inline CSS, no script)."""
    context = body_context(data)
    lang = data.lang

    def t(key: str, **values: object) -> str:
        return translate(key, lang, **values)

    template = _environment().get_template("pathway/document.html")
    css = STYLE.read_text(encoding="utf-8")
    screen_css = SCREEN_STYLE.read_text(encoding="utf-8")
    return template.render(t=t, lang=lang, css=css, screen_css=screen_css, **context)
