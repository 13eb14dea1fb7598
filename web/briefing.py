"""Printable briefings for one région: a :class:`BriefingData` in, HTML and PDF out.

A pure builder.  Everything the document shows arrives in :class:`BriefingData`:
figures copied from the coverage tables (``api.services.analysis``), the public provider rows,
the static maps (:mod:`web.static_maps`) as image bytes, the sources and limitations.
This module only lays them out (Jinja2 templates in ``web/templates/brief/``, strings from
the ``brief`` message catalogue) and prints them (WeasyPrint, A4, DejaVu fonts so that
French accents render; nothing proprietary is bundled).

The HTML is self-contained (CSS inline, maps as ``data:`` URIs): one file an advocate can
e-mail or open offline, and the same file WeasyPrint turns into the PDF.

Figures: people beyond a threshold are ``population - pop_within_<t>`` and their share
``1 - share_within_<t>``, both from the same table row, so every printed number can be
traced to the coverage table of ``GET /api/v1/coverage`` for the same level, service,
mode and scenario (``tests/api/test_briefs.py`` checks it).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from web.formats import format_people, format_share, format_signed_people
from web.i18n import LANGS, translate
from web.time_flags import flag_marks, flag_notes

__all__ = [
    "THRESHOLDS_MIN",
    "BriefingData",
    "Figures",
    "MapImage",
    "ProviderRow",
    "ScenarioRow",
    "SourceRow",
    "WindowFigures",
    "format_duration",
    "render_html",
    "render_pdf",
]

TEMPLATES = Path(__file__).resolve().parent / "templates" / "brief"
#: Thresholds of the "people beyond" figures, minutes (1 h, 2 h, 5 h).
THRESHOLDS_MIN: tuple[int, ...] = (60, 120, 300)
#: Columns of the medical-care table: 1, 2 and 5 h, then the clinical windows (72 h PEP,
#: 120 h emergency contraception).
WINDOW_COLUMNS_MIN: tuple[int, ...] = (60, 120, 300, 4320, 7200)
_NBSP = "\u00a0"


@dataclass(frozen=True)
class Figures:
    """Coverage figures of one unit for one service, mode and scenario (one table row).

    ``within`` and ``share_within`` are keyed by minutes (60, 120, 300); values are the
    table's own (people rounded to 1, shares to 1e-4).  ``median_time_min`` is ``inf``
    when more than half the people cannot reach any provider, None when unknown.
    """

    label: str
    population: float
    within: Mapping[int, float]
    share_within: Mapping[int, float | None]
    median_time_min: float | None = None
    n_providers: int | None = None
    nearest_provider_name: str | None = None
    max_class: str | None = None
    pcode: str | None = None
    people_beyond: Mapping[int, float] | None = None
    shares_beyond: Mapping[int, float | None] | None = None
    offroad_median: bool = False
    time_flags: str | None = None  # the table's: "offroad", "detour", both or None

    def beyond(self, minutes: int) -> float:
        """People farther than ``minutes``: the table's ``pop_beyond_<t>`` when given
        (the published figure), else population minus people within."""
        if self.people_beyond is not None and minutes in self.people_beyond:
            return self.people_beyond[minutes]
        return self.population - self.within[minutes]

    def share_beyond(self, minutes: int) -> float | None:
        """Share of the people farther than ``minutes`` (None for an empty unit): the
        table's ``share_beyond_<t>`` when given."""
        if self.shares_beyond is not None and minutes in self.shares_beyond:
            share = self.shares_beyond[minutes]
            if share is None or (isinstance(share, float) and math.isnan(share)):
                return None
            return share
        share = self.share_within.get(minutes)
        if share is None or (isinstance(share, float) and math.isnan(share)):
            return None
        return 1.0 - share


@dataclass(frozen=True)
class ScenarioRow:
    """Coverage under one conflict scenario, with the baseline it is compared to."""

    scenario: str
    figures: Figures
    baseline: Figures

    def change(self, minutes: int) -> float:
        """People newly beyond ``minutes`` compared with the baseline (may be negative)."""
        return self.figures.beyond(minutes) - self.baseline.beyond(minutes)


@dataclass(frozen=True)
class ProviderRow:
    """One public provider as the table prints it (never a confidential record)."""

    number: int | None
    id: str
    name: str
    type: str
    services: Sequence[str]
    town: str | None
    address: str | None
    phone: str | None
    opening_hours: str | None
    location_precision: str | None
    status: str | None
    source_date: str | None


@dataclass(frozen=True)
class MapImage:
    """A rendered static map and its caption."""

    key: str
    title: str
    caption: str
    data: bytes
    mime: str = "image/png"

    @property
    def data_uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True)
class SourceRow:
    """One dataset the briefing rests on."""

    name: str
    file: str | None
    date: str | None
    licence: str | None
    note: str | None = None


#: Medical care of the région per mode: (mode, figures holding the clinical windows).
WindowFigures = Sequence[tuple[str, "Figures"]]


@dataclass
class BriefingData:
    """Everything one briefing shows (see ``api.services.briefings.assemble_briefing``).

    Attributes
    ----------
    region_pcode, region_name
        The région (ADM1) P-code and display name.
    modes
        Travel modes shown, car first (walk when built).
    osc
        One-Stop Centre figures of the région per mode.
    services
        Per service key: figures of the région per mode (One-Stop Centre included).
    scenarios
        One-Stop Centre, car: baseline then each conflict scenario; empty when the build
        has no scenario (``scenarios_missing`` then says so in the document).
    cercles, communes
        Units of the région ranked by people beyond ``underserved_threshold_min`` of a
        One-Stop Centre by car (all cercles, the worst communes).
    providers, national_lines
        Public providers of the région (numbered as on the maps) and national hotlines.
    windows
        Medical care of the région by walk, motorbike and car: people within 1, 2 and 5 h
        and the clinical windows (72 h, 120 h).
    """

    lang: str
    region_pcode: str
    region_name: str
    generated_at: datetime
    version: str
    population: float
    population_source: str
    modes: Sequence[str]
    osc: Mapping[str, Figures]
    services: Sequence[tuple[str, Mapping[str, Figures]]]
    scenarios: Sequence[ScenarioRow]
    cercles: Sequence[Figures]
    communes: Sequence[Figures]
    communes_total: int
    providers: Sequence[ProviderRow]
    national_lines: Sequence[ProviderRow]
    maps: Sequence[MapImage]
    sources: Sequence[SourceRow]
    limitations: Sequence[str]
    built_at: str | None = None
    scenarios_missing: bool = False
    walk_missing: bool = True
    underserved_threshold_min: int = 120
    conflict_window: tuple[str, str] | None = None
    time_meaning: str = ""
    notes: Sequence[str] = field(default_factory=list)
    windows: WindowFigures = field(default_factory=list)


# ----------------------------------------------------------------------------- formatting


def format_duration(minutes: float | None, lang: str = "fr") -> str:
    """Minutes as ``47 min`` or ``4 h 47``; ``inf`` as unreachable; None as a dash."""
    if minutes is None or (isinstance(minutes, float) and math.isnan(minutes)):
        return "–"
    if math.isinf(minutes):
        return translate("brief.unreachable", lang)
    m = round(minutes)
    if m < 60:
        return f"{m}{_NBSP}min"
    h, rest = divmod(m, 60)
    return f"{h}{_NBSP}h{_NBSP}{rest:02d}" if rest else f"{h}{_NBSP}h"


# ----------------------------------------------------------------------------- rendering


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(("html",)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def render_html(data: BriefingData) -> str:
    """The briefing as one self-contained HTML document (inline CSS, maps as data URIs)."""
    if not isinstance(data, BriefingData):
        raise TypeError(f"data must be a BriefingData, got {type(data).__name__}")
    if data.lang not in LANGS:
        raise ValueError(f"lang={data.lang!r} is not supported; use one of {', '.join(LANGS)}")
    lang = data.lang

    def t(key: str, **values: object) -> str:
        return translate(f"brief.{key}", lang, **values)

    env = _environment()
    template = env.get_template("briefing.html")
    css = (TEMPLATES / "print.css").read_text(encoding="utf-8")
    return template.render(
        b=data,
        t=t,
        css=css,
        lang=lang,
        thresholds=THRESHOLDS_MIN,
        window_columns=WINDOW_COLUMNS_MIN,
        people=lambda v: format_people(v, lang),
        signed=lambda v: format_signed_people(v, lang),
        share=lambda v: format_share(v, lang),
        duration=lambda v: format_duration(v, lang),
        marks=flag_marks,
        service_figures=[f for _, by_mode in data.services for f in by_mode.values()],
        flag_notes=lambda figures: flag_notes([f.time_flags for f in figures], lang),
        generated=_format_date(data.generated_at, lang),
    )


def _format_date(moment: datetime, lang: str) -> str:
    """``28 novembre 2026, 01:30 UTC`` / ``28 November 2026, 01:30 UTC``."""
    months = translate("brief.months", lang).split(",")
    return f"{moment.day} {months[moment.month - 1]} {moment.year}, {moment:%H:%M} UTC"


def render_pdf(html: str) -> bytes:
    """Print ``html`` (from :func:`render_html`) to PDF bytes with WeasyPrint (A4)."""
    if not isinstance(html, str) or "<html" not in html[:500]:
        raise ValueError("html must be the document returned by render_html")
    from weasyprint import HTML  # imported here: loading Pango takes a moment

    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf()
