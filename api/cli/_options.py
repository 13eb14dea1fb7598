"""Option types shared by the commands: fixed choices as enums, travel modes, points.

Fixed choices (service, level, scenario, language) are the enums of :mod:`api.choices`;
the formats are enums of their own.  Typer lists them in ``--help`` and refuses other
values with a usage error (exit 2).  Travel modes come from the speed table of the
settings (a user may add one): :func:`parse_mode` checks a mode when the command line is
parsed, against the table then in force.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from api.choices import Frame, Level, Scenario, Service
from api.settings import get_settings
from geo.speeds import read_speed_table

__all__ = [
    "MODE_HELP",
    "BriefFormat",
    "ConflictFormat",
    "CoverageFormat",
    "FrameOption",
    "JsonFlag",
    "LevelOption",
    "ModeOption",
    "ScenarioOption",
    "ServiceOption",
    "TableFormat",
    "TableFormatOption",
    "parse_lonlat",
    "parse_mode",
]


class TableFormat(StrEnum):
    """A table for people, or JSON for programs."""

    table = "table"
    json = "json"


class CoverageFormat(StrEnum):
    """How ``orienter coverage`` writes its table."""

    table = "table"
    csv = "csv"
    hxl = "hxl"
    xlsx = "xlsx"
    json = "json"
    geojson = "geojson"


class ConflictFormat(StrEnum):
    """How ``orienter conflict summary`` writes its table."""

    table = "table"
    csv = "csv"
    json = "json"
    geojson = "geojson"


class BriefFormat(StrEnum):
    """A briefing's file format."""

    pdf = "pdf"
    html = "html"


#: Help of every ``--mode`` option (the default speed table's modes).
MODE_HELP = (
    "Travel mode: one of the speed table's ("
    + ", ".join(read_speed_table().modes)
    + " in the default table)."
)


def parse_mode(value: str) -> str:
    """``value`` when it is a mode of the speed table in force; a usage error otherwise."""
    modes = tuple(read_speed_table(get_settings().speeds).modes)
    if value not in modes:
        allowed = ", ".join(repr(m) for m in modes)
        raise typer.BadParameter(f"{value!r} is not one of {allowed}.")
    return value


def parse_lonlat(text: str, *, option: str = "--add") -> tuple[float, float]:
    """A point given as ``LON,LAT`` in degrees, longitude first (e.g. ``-5.67,13.45``);
    a usage error naming ``option`` otherwise."""
    try:
        lon, lat = (float(v) for v in str(text).split(","))
    except ValueError:
        raise typer.BadParameter(
            "give LON,LAT in degrees, e.g. -5.67,13.45", param_hint=f"'{option}'"
        ) from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise typer.BadParameter("LON,LAT out of range (longitude first)", param_hint=f"'{option}'")
    return lon, lat


# ----------------------------------------------------------------------------- options
# The options several commands share, declared once (same names, help and checks).

ModeOption = Annotated[str, typer.Option("--mode", parser=parse_mode, help=MODE_HELP)]
ScenarioOption = Annotated[Scenario, typer.Option("--scenario", help="Conflict scenario.")]
ServiceOption = Annotated[Service, typer.Option("--service", help="The service.")]
LevelOption = Annotated[Level, typer.Option("--level", help="Admin level.")]
TableFormatOption = Annotated[TableFormat, typer.Option("--format", help="Output format.")]
FrameOption = Annotated[
    Frame | None,
    typer.Option(
        "--frame",
        help="Régions of the 2015 frame (8 + Bamako) or of 2023 (19 + Bamako; from 2015 "
        "cercles by the sourced crosswalk, approximate where a région splits a cercle, "
        "unless 2023 boundary files are supplied).  Default: the boundary files' frame.",
    ),
]
#: The old ``--json`` flag, kept hidden for scripts: ``--format json``.
JsonFlag = Annotated[bool, typer.Option("--json", hidden=True, help="--format json.")]
