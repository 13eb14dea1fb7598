"""Message catalogues: every user-facing string of the pages, maps and briefings.

Catalogues are JSON files ``web/locales/<lang>/<domain>.json`` (one domain per concern:
``maps``, ``pages``, ``brief`` ...), merged per language.  French is the default and the
reference: a key missing in another language falls back to French, and a key missing
everywhere raises, so a forgotten string fails loudly in the tests instead of showing
a raw key to a user.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

__all__ = ["DEFAULT_LANG", "LANGS", "catalogue", "choose_lang", "translate"]

LOCALES = Path(__file__).resolve().parent / "locales"
DEFAULT_LANG = "fr"
LANGS = ("fr", "en")


@cache
def catalogue(lang: str) -> dict[str, str]:
    """All messages of ``lang`` (French for missing keys), keyed ``domain.key``."""
    if lang not in LANGS:
        raise ValueError(f"lang={lang!r} is not supported; use one of {', '.join(LANGS)}")
    merged: dict[str, str] = {}
    for code in (DEFAULT_LANG, lang) if lang != DEFAULT_LANG else (DEFAULT_LANG,):
        for path in sorted((LOCALES / code).glob("*.json")):
            domain = path.stem
            entries = json.loads(path.read_text(encoding="utf-8"))
            merged.update({f"{domain}.{key}": text for key, text in entries.items()})
    return merged


def translate(key: str, lang: str = DEFAULT_LANG, **values: object) -> str:
    """The message ``key`` (``domain.key``) in ``lang``, formatted with ``values``.

    >>> translate("maps.layer_providers", "en")  # doctest: +SKIP
    'Service providers'
    """
    messages = catalogue(lang)
    if key not in messages:
        raise KeyError(f"no message {key!r} in the {lang!r} catalogue (web/locales/)")
    text = messages[key]
    return text.format(**values) if values else text


def choose_lang(requested: str | None, accept_language: str | None = None) -> str:
    """The language to answer in: an explicit ``requested`` code, else the first supported
    language of an ``Accept-Language`` header, else French."""
    if requested:
        code = requested.strip().lower()[:2]
        if code in LANGS:
            return code
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return DEFAULT_LANG
