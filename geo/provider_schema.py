"""The provider directory's schema: vocabularies, field order and one shape per field.

Every reader of provider records (the GeoJSON directory, an imported sheet, a returned
verification round) goes through :func:`normalize_records`, so a file that validates
always loads into a frame that pyarrow can write: list fields hold lists of text,
text fields hold text, dates are ``YYYY[-MM[-DD]]`` strings.  ``docs/providers.md``
describes every field.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ADM1_2015",
    "CONFIDENCE_LEVELS",
    "CONFIDENTIAL_PRECISIONS",
    "DATE_FIELDS",
    "LIST_FIELDS",
    "LOCALIZED_FIELDS",
    "LOCATION_PRECISIONS",
    "NULL_GEOMETRY_TYPES",
    "PROVIDER_COLUMNS",
    "PROVIDER_TYPES",
    "REGIONS_2023_TO_ADM1_2015",
    "REQUIRED_FIELDS",
    "RESULT_STATUSES",
    "SERVICES",
    "STATUSES",
    "TEXT_FIELDS",
    "normalize_records",
    "parse_date",
]

#: Services a survivor can be referred for.  Police/security, hotline and referral are
#: not services in this vocabulary: records keep them in ``other_services``.
SERVICES: tuple[str, ...] = ("medical", "psychosocial", "legal", "reintegration", "shelter")
PROVIDER_TYPES: tuple[str, ...] = (
    "one_stop_centre",
    "ngo",
    "network",
    "legal_clinic",
    "health_facility",
    "government",
    "un_agency",
    "hotline",
    "other",
)
#: How well the point locates the service, finest first.  ``cercle`` and ``region`` mean
#: the provider works across that area and the point is the area's capital, not a site.
LOCATION_PRECISIONS: tuple[str, ...] = (
    "exact",
    "facility",
    "locality",
    "commune",
    "cercle",
    "region",
)
#: Precisions allowed for a confidential record (never a site).
CONFIDENTIAL_PRECISIONS: tuple[str, ...] = ("locality", "commune", "cercle", "region")
#: Types that need no reason to have no geometry (a hotline has no place).  Any other
#: record may be unlocated only when ``location_source`` says why.
NULL_GEOMETRY_TYPES: tuple[str, ...] = ("hotline",)
#: Confidence grades of the sourced facts (see docs/providers.md).
CONFIDENCE_LEVELS: tuple[str, ...] = ("High", "Med-High", "Med", "Low-Med", "Low")
#: operating: confirmed by a verification with the provider (``last_verified``);
#: reported: a source describes it as operating or opening (not a confirmation);
#: suspended: stopped for now (insecurity, funding), since ``status_date``;
#: historic: closed, or the facts come from a project or report period that has ended;
#: planned: announced, with no evidence that it opened.
STATUSES: tuple[str, ...] = ("operating", "reported", "suspended", "historic", "planned")
#: The statuses that enter travel times, coverage, siting and nearest answers by default.
RESULT_STATUSES: tuple[str, ...] = ("operating", "reported")

REQUIRED_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "type",
    "services",
    "source",
    "source_date",
    "location_precision",
    "confidential",
)
#: Every field of a record, in file order (geometry apart).
PROVIDER_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "type",
    "services",
    "other_services",
    "status",
    "status_date",
    "same_as",
    "adm1_pcode",
    "adm2_pcode",
    "adm3_pcode",
    "town",
    "address",
    "phone",
    "opening_hours",
    "languages",
    "confidential",
    "location_precision",
    "location_source",
    "source",
    "source_date",
    "source_date_note",
    "last_verified",
    "verified_by",
    "unconfirmed_since",
    "confidence",
    "notes",
    *(f"{field}_en" for field in ("name", "town", "address", "opening_hours")),
)
#: Display fields written in French (the pages' first language), each with an optional
#: English version ``<field>_en`` (the English pages, briefings and command line).
LOCALIZED_FIELDS: tuple[str, ...] = ("name", "town", "address", "opening_hours")
#: Fields holding lists of text.  A string is read as a one-element list (``source``) or
#: split on commas and semicolons (the others).
LIST_FIELDS: tuple[str, ...] = ("services", "other_services", "languages", "source")
#: Fields holding a date ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (``source_date`` may
#: also be ``undated``).
DATE_FIELDS: tuple[str, ...] = (
    "status_date",
    "source_date",
    "last_verified",
    "unconfirmed_since",
)
#: Fields holding one text value; numbers are read as text (a phone typed as 80333).
TEXT_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "type",
    "status",
    "same_as",
    "adm1_pcode",
    "adm2_pcode",
    "adm3_pcode",
    "town",
    "address",
    "phone",
    "opening_hours",
    "location_precision",
    "location_source",
    "source_date_note",
    "verified_by",
    "confidence",
    "notes",
    *(f"{field}_en" for field in LOCALIZED_FIELDS),
    *DATE_FIELDS,
)

#: ADM1 P-codes of the 2015 boundaries (8 régions + Bamako district).
ADM1_2015: dict[str, str] = {
    "ML01": "Kayes",
    "ML02": "Koulikoro",
    "ML03": "Sikasso",
    "ML04": "Ségou",
    "ML05": "Mopti",
    "ML06": "Tombouctou",
    "ML07": "Gao",
    "ML08": "Kidal",
    "ML09": "Bamako",
}
#: Régions of the 2023 map (law of 13 March 2023) -> the 2015 région that holds them.
#: Each new région was carved out of one old région, so this mapping is many-to-one.
REGIONS_2023_TO_ADM1_2015: dict[str, str] = {
    "Kayes": "ML01",
    "Kita": "ML01",
    "Nioro": "ML01",
    "Koulikoro": "ML02",
    "Dioïla": "ML02",
    "Nara": "ML02",
    "Sikasso": "ML03",
    "Bougouni": "ML03",
    "Koutiala": "ML03",
    "Ségou": "ML04",
    "San": "ML04",
    "Mopti": "ML05",
    "Bandiagara": "ML05",
    "Douentza": "ML05",
    "Tombouctou": "ML06",
    "Taoudénit": "ML06",
    "Gao": "ML07",
    "Ménaka": "ML07",
    "Kidal": "ML08",
    "Bamako": "ML09",
}

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


# --------------------------------------------------------------------------- one shape


def normalize_records(frame: pd.DataFrame) -> pd.DataFrame:
    """Give every provider field one shape, in place of the many a hand-written file allows.

    - list fields (:data:`LIST_FIELDS`): a string becomes a list (``source``: one
      element; the others: split on ``,`` and ``;``), items are stripped text, an empty
      string is null; anything else (a number, an object) is left for the validator;
    - text fields (:data:`TEXT_FIELDS`): numbers become text (``80333``, ``2021``),
      blank strings become null;
    - ``status``: missing means ``reported`` (a record comes from a source);
    - ``confidential``: numpy booleans become Python booleans;
    - extra columns holding mixed kinds of values are written as JSON text, so the
      frame stays writable to Parquet.

    Parameters
    ----------
    frame
        Provider records, one per row; missing :data:`PROVIDER_COLUMNS` are added.

    Returns
    -------
    pandas.DataFrame
        A copy, columns :data:`PROVIDER_COLUMNS` first, object dtype.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a (Geo)DataFrame, got {type(frame).__name__}")
    out = frame.copy()
    for column in PROVIDER_COLUMNS:
        if column not in out.columns:
            out[column] = None
    geometry = getattr(out, "_geometry_column_name", None)
    extra = [c for c in out.columns if c not in PROVIDER_COLUMNS and c != geometry]
    ordered = list(PROVIDER_COLUMNS) + extra + ([geometry] if geometry else [])
    out = out[ordered]
    for column in list(PROVIDER_COLUMNS) + extra:
        out[column] = out[column].astype(object)
    for column in LIST_FIELDS:
        splitter = _one_item if column == "source" else _split_items
        _assign(out, column, [_as_list(v, splitter) for v in out[column]])
    for column in TEXT_FIELDS:
        _assign(out, column, [_as_text(v) for v in out[column]])
    _assign(out, "status", [("reported" if v is None else v) for v in out["status"]])
    _assign(
        out,
        "confidential",
        [bool(v) if isinstance(v, np.bool_) else _none_if_nan(v) for v in out["confidential"]],
    )
    for column in extra:
        _assign(out, column, _parquet_safe(out[column]))
    return out


def _assign(frame: pd.DataFrame, column: str, values: list[Any]) -> None:
    # object dtype keeps None as None (pandas 3 would infer a string dtype and use NaN)
    frame[column] = pd.Series(values, index=frame.index, dtype=object)


def _none_if_nan(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _one_item(text: str) -> list[str]:
    return [text.strip()] if text.strip() else []


def _split_items(text: str) -> list[str]:
    return [t.strip() for t in re.split(r"[,;]", text) if t.strip()]


def _as_list(value: Any, splitter: Any) -> Any:
    value = _none_if_nan(value)
    if value is None:
        return None
    if isinstance(value, str):
        items = splitter(value)
        return items or None
    if isinstance(value, tuple | np.ndarray):
        value = list(value)
    if isinstance(value, list):
        items = [v.strip() if isinstance(v, str) else v for v in value]
        return [v for v in items if not (isinstance(v, str) and not v)]
    return value  # a number or an object: the validator says so


def _as_text(value: Any) -> Any:
    value = _none_if_nan(value)
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool | np.bool_):
        return value  # "true" is not text: the validator says so
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else str(float(value))
    return value


def _parquet_safe(column: pd.Series) -> list[Any]:
    values = [_none_if_nan(v) for v in column]
    kinds = {_kind(v) for v in values if v is not None}
    if len(kinds) <= 1 and kinds <= {"str", "bool", "int", "float"}:
        return values
    return [
        None if v is None else v if isinstance(v, str) else json.dumps(_plain(v)) for v in values
    ]


def _kind(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, float | np.floating):
        return "float"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- values


def parse_date(value: Any) -> date | None:
    """The first day a ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` value can mean; else None.

    ``"2021"`` is 1 January 2021: an evidence date read this way is never later than the
    evidence, so an age computed from it is never too young.
    """
    match = _DATE.match(value) if isinstance(value, str) else None
    if not match:
        return None
    year, month, day = (int(g) if g else 1 for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def date_problem(value: Any) -> str | None:
    """Why ``value`` is not a ``YYYY[-MM[-DD]]`` date, or None when it is one."""
    match = _DATE.match(value) if isinstance(value, str) else None
    if not match:
        return f"{value!r} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)"
    if parse_date(value) is None:
        return f"{value!r} is not a real date"
    return None


def is_text(value: Any) -> bool:
    """True for a non-blank string."""
    return isinstance(value, str) and bool(value.strip())


def is_missing(value: Any) -> bool:
    """True for None, NaN, NA, a blank string or an empty list."""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and not value.strip():
        return True
    return isinstance(value, list) and not value


def normalize_name(text: str) -> str:
    """Lower case, accents and punctuation removed, words separated by one space."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", " ", ascii_only.lower()).strip()
