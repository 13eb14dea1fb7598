"""Numbers as people read them, in French or English: the one formatter of every output.

Separators and the place of the percent sign come from the CLDR rules of the language
(babel): ``1 234 567`` and ``38,2 %`` in French (a narrow no-break space between
thousands, a no-break space before ``%``), ``1,234,567`` and ``38.2%`` in English.  The
digits are rounded as Python rounds a float to that many decimals, so a figure reads the
same in every language, page, briefing, map and command.

>>> format_people(1234567.4, "fr") == "1\u202f234\u202f567"
True
>>> format_share(0.3816, "fr") == "38,2\u00a0%"
True
"""

from __future__ import annotations

import math
from decimal import Decimal
from functools import cache

from babel import Locale
from babel.numbers import format_decimal, format_percent

__all__ = ["MISSING", "format_people", "format_share", "format_signed_people"]

#: What a missing or non-finite figure reads as.
MISSING = "–"


def _missing(value: float | None) -> bool:
    return value is None or not math.isfinite(float(value))


@cache
def _percent_pattern(lang: str, decimals: int) -> str:
    """The language's percent pattern (``#,##0 %``) with ``decimals`` decimals."""
    pattern = Locale.parse(lang).percent_formats[None].pattern
    return pattern.replace("#,##0", "#,##0." + "0" * decimals) if decimals else pattern


def format_people(value: float | None, lang: str = "fr") -> str:
    """Whole people with the language's thousands separator (``1 234 567`` / ``1,234,567``);
    a dash when the value is missing or not finite."""
    if _missing(value):
        return MISSING
    return format_decimal(round(float(value)), locale=lang)  # type: ignore[arg-type]


def format_signed_people(value: float | None, lang: str = "fr") -> str:
    """People with a sign: ``+1 234`` / ``−56`` (a minus sign, U+2212); ``0`` unsigned."""
    if _missing(value):
        return MISSING
    rounded = round(float(value))  # type: ignore[arg-type]
    if rounded == 0:
        return "0"
    return ("+" if rounded > 0 else "−") + format_people(abs(rounded), lang)


def format_share(value: float | None, lang: str = "fr", *, decimals: int = 1) -> str:
    """A 0-1 share as a percentage: ``38,2 %`` / ``38.2%`` (``decimals`` decimals); a dash
    when the value is missing or not finite."""
    if _missing(value):
        return MISSING
    percent = Decimal(f"{100 * float(value):.{decimals}f}")  # type: ignore[arg-type]
    return format_percent(percent / 100, format=_percent_pattern(lang, decimals), locale=lang)
