"""National lines: the public records of the directory without a place (toll-free
numbers), for the caseworker's page, the referral sheet and ``orienter nearest``.

They are never ranked (no place, no travel time) and come from public sources only, so
every answer that lists them says to confirm them first (:data:`CAVEAT`).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from geo.provider_schema import is_missing
from geo.providers import localized, public_providers, read_providers

__all__ = ["CAVEAT", "HOTLINE_FIELDS", "complete_answer", "in_language", "national_lines"]

log = logging.getLogger(__name__)

#: What a reader must know before giving a number, in French and English.
CAVEAT = {
    "fr": "Numéros tirés de sources publiques, non vérifiés auprès des services : "
    "appeler pour confirmer avant de les donner.",
    "en": "Numbers taken from public sources, not checked with the services: call to "
    "confirm before giving them out.",
}
#: The fields of a line an answer carries (the display fields in both languages).
HOTLINE_FIELDS = (
    "id",
    "name",
    "name_en",
    "phone",
    "opening_hours",
    "opening_hours_en",
    "status",
    "status_date",
    "source_date",
    "last_verified",
)


def national_lines(path: Path) -> list[dict]:
    """The public records of the directory at ``path`` that have no place and a phone,
    as plain dicts of :data:`HOTLINE_FIELDS` (None where the directory says nothing);
    an empty list when the directory cannot be read (logged, without its content)."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return []
    return [dict(line) for line in _read(str(path), stamp)]


@lru_cache(maxsize=4)
def _read(path: str, stamp: int) -> tuple[dict, ...]:
    try:
        directory = public_providers(read_providers(path))
    except (OSError, ValueError) as exc:
        log.warning("provider directory not read: %s", type(exc).__name__)
        return ()
    placeless = directory[directory.geometry.isna() | directory.geometry.is_empty]
    out = []
    for _, row in placeless.iterrows():
        if is_missing(row.get("phone")):
            continue
        out.append({f: None if is_missing(row.get(f)) else str(row.get(f)) for f in HOTLINE_FIELDS})
    return tuple(out)


def in_language(lines: list[dict], lang: str) -> list[dict]:
    """``lines`` with their display fields in ``lang`` (:func:`geo.providers.localized`)."""
    return [localized(line, lang) for line in lines]


def complete_answer(answer: dict, providers_path: Path, alternatives: list[dict] | None) -> dict:
    """What every nearest answer carries beside the ranking (API, command line, Python):
    the other places a name could mean (``query.place_alternatives``, when a place was
    given) and the national lines with their caveat (``data.national_lines``).  In place;
    returns ``answer``."""
    if alternatives is not None:
        answer["query"]["place_alternatives"] = alternatives
    answer["data"]["national_lines"] = {"lines": national_lines(providers_path), "caveat": CAVEAT}
    return answer
