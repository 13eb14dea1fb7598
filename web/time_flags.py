"""The marks that flag a unit's travel times, and the footnotes that explain them.

A coverage table's ``time_flags`` (:func:`geo.coverage.coverage_table`) says that most of
a unit's people reach care on routes resting mostly on off-road legs (``offroad``) or on
long detours (``detour``).  Every output that prints a unit's time or the people beyond a
time prints the mark beside it and the footnote below the table, in the page's language.
"""

from __future__ import annotations

from collections.abc import Iterable

from geo.route_flags import (
    DETOUR_MIN_KM,
    DETOUR_RATIO,
    OFFROAD_MIN_MIN,
    OFFROAD_SHARE,
    UNIT_FLAG_SHARE,
    UNIT_KIND_SHARE,
)
from web.formats import format_share
from web.i18n import translate

__all__ = ["TIME_FLAG_MARKS", "flag_marks", "flag_notes", "flags_of"]

#: The mark of each flag (printed after the figure).
TIME_FLAG_MARKS: dict[str, str] = {"offroad": "†", "detour": "‡"}


def flags_of(value: object) -> list[str]:
    """The flags of a ``time_flags`` cell (``"offroad;detour"``, None, NaN) in mark order."""
    names = value.split(";") if isinstance(value, str) else []
    return [name for name in TIME_FLAG_MARKS if name in names]


def flag_marks(value: object) -> str:
    """The marks of a ``time_flags`` cell: ``"†"``, ``"‡"``, ``"†‡"`` or ``""``."""
    return "".join(TIME_FLAG_MARKS[name] for name in flags_of(value))


def flag_notes(values: Iterable[object], lang: str = "fr") -> list[str]:
    """The footnotes of the flags met among ``values`` (``time_flags`` cells), in
    ``lang``: one sentence per flag, its mark first; none when nothing is flagged."""
    seen = {name for value in values for name in flags_of(value)}
    shared = {
        "unit_share": format_share(UNIT_FLAG_SHARE, lang, decimals=0),
        "kind_share": format_share(UNIT_KIND_SHARE, lang, decimals=0),
        "offroad_min": f"{OFFROAD_MIN_MIN:g}",
        "offroad_share": format_share(OFFROAD_SHARE, lang, decimals=0),
        "ratio": f"{DETOUR_RATIO:g}",
        "km": f"{DETOUR_MIN_KM:g}",
    }
    return [
        f"{TIME_FLAG_MARKS[name]} " + translate(f"pages.time_flag_{name}", lang, **shared)
        for name in TIME_FLAG_MARKS
        if name in seen
    ]
