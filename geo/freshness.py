"""Which provider records enter results, and how fresh their evidence is.

A record's ``status`` decides whether it enters travel times, coverage, siting and
nearest answers: by default only ``operating`` and ``reported`` records do
(:data:`geo.provider_schema.RESULT_STATUSES`); the others are listed separately and can
be included on request (:func:`status_mask`).  Of two records linked by ``same_as``
(one site), only one enters.

The evidence for a record is the newer of its source's date and its last verification
with the provider.  When it is older than 12 months (configurable), or missing, the
record is flagged "à vérifier" (:func:`needs_verification`).  Every function that
depends on today's date takes it as ``as_of``: the library never reads the clock.

Example
-------
>>> from datetime import date
>>> gdf = read_providers("data/providers.geojson")                  # doctest: +SKIP
>>> gdf[status_mask(gdf)]                                            # doctest: +SKIP
>>> freshness_by_region(gdf, as_of=date(2026, 12, 7))                # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from geo.provider_schema import ADM1_2015, RESULT_STATUSES, STATUSES, parse_date

__all__ = [
    "DEFAULT_MAX_AGE_MONTHS",
    "evidence_age_months",
    "evidence_dates",
    "freshness_by_region",
    "freshness_flags",
    "needs_verification",
    "parse_statuses",
    "status_mask",
]

#: Evidence older than this many months makes a record "à vérifier".
DEFAULT_MAX_AGE_MONTHS: int = 12
_DAYS_PER_MONTH = 365.2425 / 12


# --------------------------------------------------------------------------- status


def parse_statuses(
    value: str | Iterable[str] | None, *, parameter: str = "status"
) -> tuple[str, ...]:
    """Statuses from a comma-separated string or a list; None gives the default set.

    ``"historic"`` adds nothing to the default: it is the whole set asked for, so callers
    that want the default plus historic write ``"operating,reported,historic"`` (or
    ``"all"`` for every status).

    Raises
    ------
    ValueError
        An unknown status; the message names ``parameter`` and lists the known ones.
    """
    if value is None:
        return RESULT_STATUSES
    items = value.split(",") if isinstance(value, str) else list(value)
    wanted: list[str] = []
    for item in items:
        text = str(item).strip().lower()
        if not text:
            continue
        if text == "all":
            return STATUSES
        if text not in STATUSES:
            raise ValueError(
                f"{parameter}: unknown status {item!r}; use a comma-separated list of "
                f"{', '.join(STATUSES)}, or 'all'"
            )
        if text not in wanted:
            wanted.append(text)
    if not wanted:
        raise ValueError(f"{parameter}: no status given; use one of {', '.join(STATUSES)}")
    return tuple(wanted)


def status_mask(frame: pd.DataFrame, statuses: Iterable[str] | None = None) -> np.ndarray:
    """True for the records that enter results when ``statuses`` are asked for.

    Parameters
    ----------
    frame
        Provider records with a ``status`` column (and ``id``, ``same_as`` when records
        are linked as one site).
    statuses
        The statuses that enter; default ``operating`` and ``reported``.

    Returns
    -------
    numpy.ndarray of bool
        Aligned with ``frame``.  A missing status counts as ``reported`` (a record comes
        from a source); an unknown one never enters.  A record whose ``same_as`` names a
        record that enters is left out: one site counts once.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a (Geo)DataFrame, got {type(frame).__name__}")
    wanted = set(parse_statuses(statuses))
    if "status" not in frame.columns:
        status = pd.Series(["reported"] * len(frame), index=frame.index, dtype=object)
    else:
        status = frame["status"].map(lambda v: v if isinstance(v, str) and v else "reported")
    keep = status.isin(wanted).to_numpy(dtype=bool).copy()
    if "same_as" in frame.columns and "id" in frame.columns:
        entering = set(frame["id"][keep])
        duplicate = frame["same_as"].map(lambda v: isinstance(v, str) and v in entering)
        keep &= ~duplicate.to_numpy(dtype=bool)
    return keep


# --------------------------------------------------------------------------- evidence


def evidence_dates(frame: pd.DataFrame) -> pd.Series:
    """The date of each record's newest evidence: its source's date or its last verification.

    Partial dates count from their first day (``2021`` is 1 January 2021), so an age
    computed from them is never too young.  ``undated`` sources and records never
    verified give NaT.
    """
    days = [d for d, _ in _evidence(frame)]
    values = [pd.NaT if d is None else pd.Timestamp(d) for d in days]
    return pd.Series(values, index=frame.index, dtype="datetime64[ns]", name="evidence_date")


def _evidence(frame: pd.DataFrame) -> list[tuple[date | None, str | None]]:
    """Per record: the newest evidence date and its text as the file writes it."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a (Geo)DataFrame, got {type(frame).__name__}")
    out: list[tuple[date | None, str | None]] = []
    columns = [c for c in ("source_date", "last_verified") if c in frame.columns]
    for values in zip(*(frame[c] for c in columns), strict=True) if columns else [()] * len(frame):
        known: list[tuple[date, str]] = [
            (day, v) for v in values if (day := parse_date(v)) is not None
        ]
        out.append(max(known, key=lambda pair: pair[0]) if known else (None, None))
    return out


def evidence_age_months(frame: pd.DataFrame, *, as_of: date) -> pd.Series:
    """Months between each record's newest evidence and ``as_of`` (NaN when undated)."""
    _check_as_of(as_of)
    dates = evidence_dates(frame)
    days = (pd.Timestamp(as_of) - dates).dt.days.astype(float)
    return (days / _DAYS_PER_MONTH).rename("evidence_age_months")


def needs_verification(
    frame: pd.DataFrame, *, as_of: date, max_age_months: float = DEFAULT_MAX_AGE_MONTHS
) -> pd.Series:
    """The "à vérifier" flag: evidence older than ``max_age_months``, or no dated evidence.

    Parameters
    ----------
    frame
        Provider records (``source_date``, ``last_verified``).
    as_of
        Today's date, passed in by the caller.
    max_age_months
        Largest age of the evidence that needs no check, in months (default 12).

    Returns
    -------
    pandas.Series of bool
        Aligned with ``frame``, named ``needs_verification``.
    """
    if not (isinstance(max_age_months, int | float) and max_age_months > 0):
        raise ValueError(f"max_age_months must be a positive number, got {max_age_months!r}")
    age = evidence_age_months(frame, as_of=as_of)
    return (age.isna() | (age > max_age_months)).rename("needs_verification")


def freshness_flags(
    frame: pd.DataFrame, *, as_of: date, max_age_months: float = DEFAULT_MAX_AGE_MONTHS
) -> pd.DataFrame:
    """What every answer, popup, referral sheet and briefing shows about one record.

    Returns
    -------
    pandas.DataFrame
        Aligned with ``frame``: ``status``, ``status_date``, ``source_date``,
        ``last_verified`` (None: never verified, "jamais vérifié"), ``verified_by``,
        ``confidence``, ``evidence_date`` (as the file writes it, e.g. ``2021-07``, or
        None when undated), ``evidence_age_months``
        (rounded to 0.1), ``needs_verification`` (the "à vérifier" flag) and
        ``unconfirmed_since`` (a caveat to print: "non confirmé depuis 2017").
    """
    age = evidence_age_months(frame, as_of=as_of)
    flag = needs_verification(frame, as_of=as_of, max_age_months=max_age_months)
    out = pd.DataFrame(index=frame.index)
    for column in (
        "status",
        "status_date",
        "source_date",
        "last_verified",
        "verified_by",
        "confidence",
    ):
        out[column] = _column(frame, column)
    out["status"] = [v or "reported" for v in out["status"]]
    out["evidence_date"] = pd.Series(
        [t for _, t in _evidence(frame)], index=frame.index, dtype=object
    )
    out["evidence_age_months"] = age.round(1)
    out["needs_verification"] = flag
    out["unconfirmed_since"] = _column(frame, "unconfirmed_since")
    return out


def _column(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    values = [v if isinstance(v, str) and v else None for v in frame[column]]
    return pd.Series(values, index=frame.index, dtype=object)


# --------------------------------------------------------------------------- by région


def freshness_by_region(
    frame: pd.DataFrame, *, as_of: date, max_age_months: float = DEFAULT_MAX_AGE_MONTHS
) -> pd.DataFrame:
    """Freshness at a glance, one row per région (2015 ADM1) and one for the whole file.

    Parameters
    ----------
    frame
        Provider records (``adm1_pcode``, ``status``, ``source_date``,
        ``last_verified``).  Pass :func:`geo.providers.public_providers` of the
        directory for a public page: the counts then leave confidential records out.
    as_of
        Today's date, passed in by the caller.
    max_age_months
        Age after which a record is "à vérifier" (default 12).

    Returns
    -------
    pandas.DataFrame
        Columns ``adm1_pcode`` (``"none"`` for records without a région, such as
        hotlines; ``"total"`` for the last row), ``region``, ``records``, one count per
        status (``operating`` … ``planned``), ``verified_6m_share`` and
        ``verified_12m_share`` (share of the records that are not historic whose last
        verification is at most 6 / 12 months old; NaN when all are historic),
        and, over the same records that are not historic, ``to_verify`` (flagged "à
        vérifier"), ``undated`` (no dated evidence) and ``oldest_evidence`` (the oldest
        evidence date as the file writes it, or None).  Régions without any record are listed with
        zeros.
    """
    _check_as_of(as_of)
    region = _column(frame, "adm1_pcode").map(lambda v: v if v in ADM1_2015 else "none")
    status = (
        frame["status"].map(lambda v: v if isinstance(v, str) and v else "reported")
        if "status" in frame.columns
        else pd.Series(["reported"] * len(frame), index=frame.index)
    )
    verified_age = _verified_age_months(frame, as_of)
    evidence = pd.Series(_evidence(frame), index=frame.index, dtype=object)
    flag = needs_verification(frame, as_of=as_of, max_age_months=max_age_months)
    rows = []
    codes = [*ADM1_2015, "none"]
    for code in [*codes, "total"]:
        inside = np.ones(len(frame), bool) if code == "total" else (region == code).to_numpy()
        if code == "none" and not inside.any():
            continue
        rows.append(_region_row(code, inside, status, verified_age, evidence, flag))
    table = pd.DataFrame(rows)
    table["oldest_evidence"] = pd.Series([r["oldest_evidence"] for r in rows], dtype=object)
    return table


def _region_row(
    code: str,
    inside: np.ndarray,
    status: pd.Series,
    verified_age: pd.Series,
    evidence: pd.Series,
    flag: pd.Series,
) -> dict[str, Any]:
    here = status[inside]
    active = inside & (status != "historic").to_numpy()
    row: dict[str, Any] = {
        "adm1_pcode": code,
        "region": ADM1_2015.get(code, "sans région" if code == "none" else "Mali"),
        "records": int(inside.sum()),
    }
    for name in STATUSES:
        row[name] = int((here == name).sum())
    for months in (6, 12):
        ages = verified_age[active]
        row[f"verified_{months}m_share"] = (
            float((ages <= months).sum() / len(ages)) if len(ages) else float("nan")
        )
    row["to_verify"] = int(flag[active].sum())
    dated = [pair for pair in evidence[active] if pair[0] is not None]
    row["undated"] = int(active.sum() - len(dated))
    row["oldest_evidence"] = min(dated, key=lambda pair: pair[0])[1] if dated else None
    return row


def _verified_age_months(frame: pd.DataFrame, as_of: date) -> pd.Series:
    dates = [parse_date(v) for v in _column(frame, "last_verified")]
    days = [np.nan if d is None else (as_of - d).days for d in dates]
    return pd.Series(days, index=frame.index, dtype=float) / _DAYS_PER_MONTH


def _check_as_of(as_of: Any) -> None:
    if not isinstance(as_of, date):
        raise TypeError(f"as_of must be a datetime.date (today, passed in), got {as_of!r}")
