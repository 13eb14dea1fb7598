"""Régions by P-code or name: one resolver for the command line, the pages and the API.

Matching is blind to case, accents, spaces and punctuation (:func:`fold`) and accepts the
P-code, the boundary file's name and the usual spelling (``ML05``, ``mopti``, ``Ségou``,
``Koulikoro`` for a file that says ``Koulikouro``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from geo.providers import ADM1_2015
from geo.settlements import normalize_name

__all__ = [
    "Region",
    "RegionNotFoundError",
    "display_name",
    "fold",
    "known_regions",
    "resolve_region",
]


class RegionNotFoundError(ValueError):
    """No région has this P-code or name."""


@dataclass(frozen=True)
class Region:
    """A région: its P-code, its boundary file's name and its usual spelling."""

    pcode: str
    name: str
    display_name: str


def fold(text: str) -> str:
    """Lower case, no accents, letters and digits only (``"Ségou"`` -> ``"segou"``)."""
    return normalize_name(str(text)).replace(" ", "")


def display_name(pcode: str, boundary_name: str) -> str:
    """The région's usual spelling (accents; "Koulikoro"), else the boundary file's."""
    return ADM1_2015.get(pcode, boundary_name)


def _pairs(regions: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(regions["pcode"].astype(str), regions["name"].astype(str), strict=True))


def known_regions(regions: pd.DataFrame) -> str:
    """``"ML01 Kayes, ML02 Koulikoro, ..."``: the régions of ``regions``, by P-code."""
    return ", ".join(f"{p} {display_name(p, n)}" for p, n in sorted(_pairs(regions)))


def resolve_region(regions: pd.DataFrame, text: str) -> Region:
    """The région of ``regions`` (``pcode``, ``name``) whose P-code or name is ``text``.

    Raises
    ------
    RegionNotFoundError
        ``text`` is empty or matches no région; the message lists the régions.
    """
    if not isinstance(text, str) or not text.strip():
        raise RegionNotFoundError("region is empty: give a P-code (ML05) or a name (Mopti)")
    wanted = fold(text)
    for pcode, name in _pairs(regions):
        if wanted in (fold(pcode), fold(name), fold(display_name(pcode, name))):
            return Region(pcode, name, display_name(pcode, name))
    raise RegionNotFoundError(
        f"no région with the P-code or name {text!r}; known: {known_regions(regions)}"
    )
