"""Armed-conflict events from ACLED or UCDP GED exports in one schema.

Columns (:data:`CONFLICT_COLUMNS`): ``event_id`` (str), ``date`` (datetime64, day),
``lat``, ``lon`` (float, degrees), ``event_type``, ``sub_event_type`` (str),
``fatalities`` (int64, reported deaths, ≥ 0), ``source`` (``"ACLED"`` or
``"UCDP GED"``), ``location``, ``admin1``, ``admin2`` (str, as the source spells them),
geometry (Point, EPSG:4326).

UCDP GED has no ACLED event types.  Its ``type_of_violence`` is mapped as follows
(:data:`UCDP_EVENT_TYPES`), keeping UCDP's own category in ``sub_event_type``:

===================  ==============================  ===========================
``type_of_violence``  ``event_type``                  ``sub_event_type``
===================  ==============================  ===========================
1 (state-based)       Battles                         state-based conflict
2 (non-state)         Battles                         non-state conflict
3 (one-sided)         Violence against civilians      one-sided violence
===================  ==============================  ===========================

UCDP only records organised violence with at least one death, so UCDP data has no
protests, riots, strategic developments or explosions as such (air and drone strikes are
"Battles" or "Violence against civilians" there).  ``fatalities`` is UCDP's ``best``
estimate; ``date`` is ``date_start`` (events spanning several days are dated at their
start).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo._tables import read_table, require_columns, text_column
from geo.crs import GEOGRAPHIC_CRS, check_same_crs
from geo.errors import DataFileError, DataProblem, DataValidationError

__all__ = [
    "ACLED_EVENT_TYPES",
    "CONFLICT_COLUMNS",
    "UCDP_EVENT_TYPES",
    "clip_to_country",
    "filter_events",
    "read_conflict_events",
]

logger = logging.getLogger(__name__)

CONFLICT_COLUMNS = [
    "event_id",
    "date",
    "lat",
    "lon",
    "event_type",
    "sub_event_type",
    "fatalities",
    "source",
    "location",
    "admin1",
    "admin2",
    "geometry",
]

#: ACLED's six event types (methodology since 2019).
ACLED_EVENT_TYPES = (
    "Battles",
    "Violence against civilians",
    "Explosions/Remote violence",
    "Riots",
    "Protests",
    "Strategic developments",
)

#: UCDP ``type_of_violence`` -> (event_type, sub_event_type).
UCDP_EVENT_TYPES = {
    1: ("Battles", "state-based conflict"),
    2: ("Battles", "non-state conflict"),
    3: ("Violence against civilians", "one-sided violence"),
}

_ACLED_REQUIRED = ["event_date", "event_type", "latitude", "longitude", "fatalities"]
_UCDP_REQUIRED = ["date_start", "type_of_violence", "latitude", "longitude", "best"]

Format = Literal["auto", "acled", "ucdp"]
DateLike: TypeAlias = str | date | datetime | pd.Timestamp | np.datetime64


# ----------------------------------------------------------------------------- reading


def _detect_format(df: pd.DataFrame, path: Path) -> Literal["acled", "ucdp"]:
    columns = set(df.columns)
    if "event_date" in columns or "event_type" in columns:
        return "acled"
    if "date_start" in columns or "type_of_violence" in columns:
        return "ucdp"
    missing_acled = [c for c in _ACLED_REQUIRED if c not in columns]
    missing_ucdp = [c for c in _UCDP_REQUIRED if c not in columns]
    raise DataFileError(
        f"{path}: neither an ACLED export (missing {', '.join(missing_acled)}) nor UCDP GED "
        f"(missing {', '.join(missing_ucdp)}); columns are {list(df.columns)}"
    )


def _parse_dates(raw: pd.Series, column: str, problems: list[DataProblem]) -> pd.Series:
    """ISO dates (``2020-12-31``, with or without time) or ACLED's ``31 December 2020``."""
    text = raw.astype("string").str.strip()
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    retry = parsed.isna() & text.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(text[retry], format="%d %B %Y", errors="coerce")
    for i in np.flatnonzero(parsed.isna().to_numpy()):
        value = raw.iloc[i]
        reason = "empty date" if pd.isna(value) else f"unreadable date {value!r}"
        problems.append(DataProblem(int(i) + 2, column, reason + " (expected YYYY-MM-DD)"))
    return parsed.dt.normalize().astype("datetime64[ns]")


def _parse_coordinate(
    raw: pd.Series, column: str, limit: float, problems: list[DataProblem]
) -> pd.Series:
    values = pd.to_numeric(raw.astype("string").str.strip(), errors="coerce").astype("float64")
    for i in np.flatnonzero(values.isna().to_numpy()):
        value = raw.iloc[i]
        reason = "empty coordinate" if pd.isna(value) else f"unreadable coordinate {value!r}"
        problems.append(DataProblem(int(i) + 2, column, reason))
    for i in np.flatnonzero((values.abs() > limit).to_numpy()):
        problems.append(DataProblem(int(i) + 2, column, f"{values.iloc[i]} outside ±{limit:g}"))
    return values


def _parse_fatalities(raw: pd.Series, column: str, problems: list[DataProblem]) -> pd.Series:
    values = pd.to_numeric(raw.astype("string").str.strip(), errors="coerce").astype("float64")
    for i in range(len(values)):
        value = values.iloc[i]
        if np.isnan(value):
            problems.append(
                DataProblem(int(i) + 2, column, f"fatalities {raw.iloc[i]!r} not a number")
            )
        elif value < 0 or value != np.floor(value):
            problems.append(
                DataProblem(int(i) + 2, column, f"fatalities {raw.iloc[i]!r} not a count >= 0")
            )
    return values.fillna(0).astype("int64")


def _from_acled(df: pd.DataFrame, problems: list[DataProblem]) -> dict[str, pd.Series]:
    event_type = text_column(df, "event_type")
    for i in np.flatnonzero(event_type.isna().to_numpy()):
        problems.append(DataProblem(int(i) + 2, "event_type", "empty event type"))
    event_id = text_column(df, "event_id_cnty").fillna(text_column(df, "data_id"))
    return {
        "event_id": event_id,
        "date": _parse_dates(df["event_date"], "event_date", problems),
        "lat": _parse_coordinate(df["latitude"], "latitude", 90.0, problems),
        "lon": _parse_coordinate(df["longitude"], "longitude", 180.0, problems),
        "event_type": event_type,
        "sub_event_type": text_column(df, "sub_event_type"),
        "fatalities": _parse_fatalities(df["fatalities"], "fatalities", problems),
        "location": text_column(df, "location"),
        "admin1": text_column(df, "admin1"),
        "admin2": text_column(df, "admin2"),
    }


def _from_ucdp(df: pd.DataFrame, problems: list[DataProblem]) -> dict[str, pd.Series]:
    code = pd.to_numeric(text_column(df, "type_of_violence"), errors="coerce")
    for i in np.flatnonzero(~code.isin(list(UCDP_EVENT_TYPES)).to_numpy()):
        problems.append(
            DataProblem(
                int(i) + 2,
                "type_of_violence",
                f"{df['type_of_violence'].iloc[i]!r} is not 1, 2 or 3",
            )
        )
    code = code.astype("float64")
    event_type = code.map({float(k): v[0] for k, v in UCDP_EVENT_TYPES.items()})
    sub_event_type = code.map({float(k): v[1] for k, v in UCDP_EVENT_TYPES.items()})
    return {
        "event_id": text_column(df, "id"),
        "date": _parse_dates(df["date_start"], "date_start", problems),
        "lat": _parse_coordinate(df["latitude"], "latitude", 90.0, problems),
        "lon": _parse_coordinate(df["longitude"], "longitude", 180.0, problems),
        "event_type": event_type.astype("string"),
        "sub_event_type": sub_event_type.astype("string"),
        "fatalities": _parse_fatalities(df["best"], "best", problems),
        "location": text_column(df, "where_coordinates"),
        "admin1": text_column(df, "adm_1"),
        "admin2": text_column(df, "adm_2"),
    }


def _empty_events() -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {
            "event_id": pd.Series(dtype="string"),
            "date": pd.Series(dtype="datetime64[ns]"),
            "lat": pd.Series(dtype="float64"),
            "lon": pd.Series(dtype="float64"),
            "event_type": pd.Series(dtype="string"),
            "sub_event_type": pd.Series(dtype="string"),
            "fatalities": pd.Series(dtype="int64"),
            "source": pd.Series(dtype="string"),
            "location": pd.Series(dtype="string"),
            "admin1": pd.Series(dtype="string"),
            "admin2": pd.Series(dtype="string"),
        },
        geometry=gpd.GeoSeries([], crs=GEOGRAPHIC_CRS),
        crs=GEOGRAPHIC_CRS,
    )
    return frame[CONFLICT_COLUMNS]


def read_conflict_events(path: str | Path, *, fmt: Format = "auto") -> gpd.GeoDataFrame:
    """Read an ACLED export or a UCDP GED file into :data:`CONFLICT_COLUMNS`.

    Parameters
    ----------
    path
        CSV (or XLSX).  ACLED: ``event_date, event_type, sub_event_type, latitude,
        longitude, fatalities, admin1, admin2, location, event_id_cnty`` …; dates as
        ``2020-12-31`` or ``31 December 2020``.  UCDP GED: ``id, date_start,
        type_of_violence, latitude, longitude, best, adm_1, adm_2, where_coordinates`` ….
    fmt
        ``"acled"``, ``"ucdp"`` or ``"auto"`` (``event_date``/``event_type`` means ACLED,
        ``date_start``/``type_of_violence`` UCDP GED).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per event, file order, EPSG:4326.  UCDP types are mapped as in the module
        docstring.  Rows without an id get ``row<N>`` (their file line).

    Raises
    ------
    DataFileError
        The file is missing or unreadable, or lacks required columns (named).
    DataValidationError
        Unreadable or empty dates, coordinates or fatalities, coordinates out of range,
        unknown UCDP ``type_of_violence``, empty ACLED ``event_type``; every bad row is
        listed with its file line (header = line 1).
    """
    if fmt not in ("auto", "acled", "ucdp"):
        raise ValueError(f"fmt must be 'auto', 'acled' or 'ucdp', got {fmt!r}")
    path = Path(path)
    df = read_table(path, what="conflict event file")
    kind = _detect_format(df, path) if fmt == "auto" else fmt
    problems: list[DataProblem] = []
    if kind == "acled":
        require_columns(df, _ACLED_REQUIRED, path, "ACLED")
        columns = _from_acled(df, problems)
        source = "ACLED"
    else:
        require_columns(df, _UCDP_REQUIRED, path, "UCDP GED")
        columns = _from_ucdp(df, problems)
        source = "UCDP GED"
    if problems:
        raise DataValidationError(str(path), sorted(problems, key=lambda p: p.row or 0))
    if df.empty:
        warnings.warn(f"{path.name}: the file holds no events", stacklevel=2)
        return _empty_events()
    lines = pd.Series([f"row{i + 2}" for i in range(len(df))], index=df.index, dtype="string")
    columns["event_id"] = columns["event_id"].fillna(lines)
    events = gpd.GeoDataFrame(
        {**columns, "source": pd.Series(source, index=df.index, dtype="string")},
        geometry=gpd.points_from_xy(columns["lon"], columns["lat"]),
        crs=GEOGRAPHIC_CRS,
    )
    logger.info("%s: %d %s events", path.name, len(events), source)
    return events[CONFLICT_COLUMNS].reset_index(drop=True)


# ----------------------------------------------------------------------------- selecting


def _check_events(events: gpd.GeoDataFrame, *, needs: Iterable[str]) -> None:
    if not isinstance(events, gpd.GeoDataFrame):
        raise TypeError(f"events must be a GeoDataFrame, got {type(events).__name__}")
    missing = [c for c in needs if c not in events.columns]
    if missing:
        raise ValueError(
            f"events lacks column(s) {missing}; load it with geo.conflict.read_conflict_events"
        )


def clip_to_country(
    events: gpd.GeoDataFrame,
    country_geometry: BaseGeometry | gpd.GeoSeries | gpd.GeoDataFrame,
) -> tuple[gpd.GeoDataFrame, int]:
    """Keep the events inside (or on the border of) a country.

    Parameters
    ----------
    events
        Output of :func:`read_conflict_events`.
    country_geometry
        The country's polygon(s): a GeoDataFrame/GeoSeries (CRS must equal the events';
        all rows are united) or a shapely geometry taken to be in the events' CRS.

    Returns
    -------
    (geopandas.GeoDataFrame, int)
        The events inside, with their original index, and how many were dropped.
    """
    _check_events(events, needs=["geometry"])
    if isinstance(country_geometry, gpd.GeoDataFrame | gpd.GeoSeries):
        check_same_crs(events, country_geometry, what="clip_to_country")
        geometry = country_geometry.geometry.union_all()
    elif isinstance(country_geometry, BaseGeometry):
        geometry = country_geometry
    else:
        raise TypeError(
            "country_geometry must be a shapely geometry, GeoSeries or GeoDataFrame, "
            f"got {type(country_geometry).__name__}"
        )
    if geometry is None or geometry.is_empty:
        raise ValueError("country_geometry is empty; pass the country's polygon")
    if geometry.geom_type not in ("Polygon", "MultiPolygon", "GeometryCollection"):
        raise ValueError(f"country_geometry must be a polygon, got {geometry.geom_type}")
    shapely.prepare(geometry)
    inside = shapely.intersects(geometry, events.geometry.values)
    dropped = int((~inside).sum())
    if dropped:
        logger.info("clip_to_country: %d of %d events outside, dropped", dropped, len(events))
    return events[inside], dropped


def _timestamp(value: DateLike | None, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    if not isinstance(value, str | date | datetime | pd.Timestamp | np.datetime64):
        raise TypeError(f"{name} must be a date or 'YYYY-MM-DD', got {type(value).__name__}")
    try:
        stamp = pd.Timestamp(value)
    except ValueError as exc:
        raise ValueError(f"{name}={value!r} is not a date; use 'YYYY-MM-DD'") from exc
    if pd.isna(stamp):
        raise ValueError(f"{name}={value!r} is not a date; use 'YYYY-MM-DD'")
    return stamp.tz_localize(None) if stamp.tzinfo is not None else stamp


def filter_events(
    events: gpd.GeoDataFrame,
    *,
    start: DateLike | None = None,
    end: DateLike | None = None,
    event_types: str | Iterable[str] | None = None,
) -> gpd.GeoDataFrame:
    """Select events by date and type.

    Parameters
    ----------
    events
        Output of :func:`read_conflict_events`.
    start, end
        First and last day kept, both inclusive (``"2019-01-01"``, a ``date`` …).  An
        ``end`` without a time keeps the whole day.  None leaves that side open.
    event_types
        One type or several (``"Battles"``, ``["Battles", "Violence against civilians"]``).
        Each must be an ACLED type or occur in ``events``.

    Returns
    -------
    geopandas.GeoDataFrame
        The matching rows with their original index; an empty frame with the same
        columns (and a warning) when nothing matches.

    Raises
    ------
    TypeError, ValueError
        ``events`` is not an event layer, a date is unreadable, ``start`` is after
        ``end``, or an event type is unknown.
    """
    _check_events(events, needs=["date", "event_type"])
    first, last = _timestamp(start, "start"), _timestamp(end, "end")
    if first is not None and last is not None and first > last:
        raise ValueError(f"start {first.date()} is after end {last.date()}; swap them")
    keep = pd.Series(True, index=events.index)
    if first is not None:
        keep &= events["date"] >= first
    if last is not None:
        if last == last.normalize():
            keep &= events["date"] < last + timedelta(days=1)
        else:
            keep &= events["date"] <= last
    if event_types is not None:
        wanted = [event_types] if isinstance(event_types, str) else list(event_types)
        if not all(isinstance(t, str) for t in wanted):
            raise TypeError(f"event_types must be strings, got {wanted!r}")
        known = set(ACLED_EVENT_TYPES) | set(events["event_type"].dropna())
        unknown = [t for t in wanted if t not in known]
        if unknown:
            raise ValueError(f"unknown event type(s) {unknown}; choose from {sorted(known)}")
        keep &= events["event_type"].isin(wanted).fillna(False)
    selected = events[keep.to_numpy(dtype=bool)]
    if selected.empty:
        warnings.warn(
            f"no event matches start={start!r}, end={end!r}, event_types={event_types!r} "
            f"(of {len(events)} events)",
            stacklevel=2,
        )
    return selected
