"""Checking travel times against references: OSRM routes and observed journeys.

Two kinds of reference (docs/travel-time.md shows the results):

- **OSRM routes** (:func:`read_osrm_routes`): the Krantz city-to-city car routes of the
  data directory (free-flow duration and road distance per route), kept where both
  ends lie in the country;
- **observed journeys** (:func:`read_observed_journeys`): times reported by public
  sources between towns (``data/validation/observed_journeys.csv``, one row per town
  pair and source, with the source, year and a paraphrase), each flagged for use in
  the calibration or not, with the reason.

The arithmetic is split from the geometry (spopt's rule): the ratios, pair medians and
the calibration factor take plain numbers, so they are tested on a few rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import DataFileError, DataProblem, DataValidationError

__all__ = [
    "JOURNEY_COLUMNS",
    "Calibration",
    "calibrate_source_speed_factor",
    "pair_key",
    "pair_medians",
    "ratio_summary",
    "read_observed_journeys",
    "read_osrm_routes",
]

JOURNEY_COLUMNS = [
    "from_town",
    "to_town",
    "from_pcode",
    "to_pcode",
    "mode",
    "hours_min",
    "hours_max",
    "season",
    "year_of_source",
    "source_title",
    "source_url",
    "quote",
    "use_for_calibration",
    "calibration_note",
]
JOURNEY_SEASONS = ("dry", "rainy", "unspecified")
_DAYS = re.compile(r"\[(?:days?|week)\s*->\s*hours", re.IGNORECASE)


def read_observed_journeys(path: str | Path) -> pd.DataFrame:
    """Read and check a table of observed journeys (CSV, columns :data:`JOURNEY_COLUMNS`).

    Adds ``reference_h`` (the middle of ``hours_min``-``hours_max``; ``hours_min`` when
    the source gives no upper bound), ``from_days`` (the source gave days, converted to
    hours: never used to calibrate) and ``year`` (the source year as a number, NaN when
    not given; ``~2010`` reads 2010).

    Raises
    ------
    DataFileError
        The file is missing or lacks columns.
    DataValidationError
        Bad hours, season or calibration flags, listing every row.
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError as exc:
        raise DataFileError(f"{path}: observed journeys not found") from exc
    missing = [c for c in JOURNEY_COLUMNS if c not in raw.columns]
    if missing:
        raise DataFileError(f"{path}: missing column(s) {', '.join(missing)}")
    problems: list[DataProblem] = []
    lo = pd.to_numeric(raw["hours_min"], errors="coerce")
    hi = pd.to_numeric(raw["hours_max"].replace("", np.nan), errors="coerce")
    for i in np.flatnonzero(~(lo > 0)):
        problems.append(
            DataProblem(int(i), "hours_min", f"{raw['hours_min'].iloc[i]!r} is not > 0")
        )
    bad_hi = (raw["hours_max"] != "") & ~(hi >= lo)
    for i in np.flatnonzero(bad_hi):
        problems.append(
            DataProblem(int(i), "hours_max", f"{raw['hours_max'].iloc[i]!r} is below hours_min")
        )
    for i in np.flatnonzero(~raw["season"].isin(JOURNEY_SEASONS)):
        problems.append(
            DataProblem(int(i), "season", f"{raw['season'].iloc[i]!r} not in {JOURNEY_SEASONS}")
        )
    flag = raw["use_for_calibration"].str.strip().str.lower()
    for i in np.flatnonzero(~flag.isin(("yes", "no"))):
        problems.append(DataProblem(int(i), "use_for_calibration", "must be yes or no"))
    for i in np.flatnonzero((flag == "no") & (raw["calibration_note"].str.strip() == "")):
        problems.append(DataProblem(int(i), "calibration_note", "say why the row is not used"))
    for col in ("from_pcode", "to_pcode", "source_title", "source_url"):
        for i in np.flatnonzero(raw[col].str.strip() == ""):
            problems.append(DataProblem(int(i), col, "missing"))
    if problems:
        raise DataValidationError(str(path), problems)
    out = raw.copy()
    out["hours_min"] = lo.astype(float)
    out["hours_max"] = hi.astype(float)
    out["reference_h"] = np.where(hi.notna(), (lo + hi) / 2, lo)
    out["from_days"] = raw["quote"].str.contains(_DAYS)
    out["use_for_calibration"] = flag == "yes"
    out["year"] = pd.to_numeric(raw["year_of_source"].str.extract(r"(\d{4})")[0], errors="coerce")
    return out


def read_osrm_routes(path: str | Path, country: shapely.Geometry) -> pd.DataFrame:
    """OSRM city-to-city car routes whose two ends lie in ``country`` (EPSG:4326 polygon).

    Reads the ``edges`` and ``nodes`` layers of the Krantz routes GeoPackage.

    Returns
    -------
    pandas.DataFrame
        One row per route: ``from_node``, ``to_node``, ``from_lon``, ``from_lat``,
        ``to_lon``, ``to_lat``, ``osrm_distance_m`` (``route_km``) and ``osrm_minutes``
        (``route_min``, free-flow car duration).

    Raises
    ------
    DataFileError
        The file, a layer or a column is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: OSRM routes not found")
    try:
        edges = gpd.read_file(path, layer="edges", ignore_geometry=True)
        nodes = gpd.read_file(path, layer="nodes")
    except Exception as exc:
        raise DataFileError(f"{path}: cannot read layers 'edges' and 'nodes': {exc}") from exc
    need = {"edges": ("from", "to", "route_km", "route_min"), "nodes": ("node",)}
    for name, frame in (("edges", edges), ("nodes", nodes)):
        missing = [c for c in need[name] if c not in frame.columns]
        if missing:
            raise DataFileError(f"{path}: layer {name!r} lacks column(s) {', '.join(missing)}")
    nodes = nodes.to_crs("EPSG:4326")
    lon = pd.Series(nodes.geometry.x.to_numpy(), index=nodes["node"].to_numpy())
    lat = pd.Series(nodes.geometry.y.to_numpy(), index=nodes["node"].to_numpy())
    inside = pd.Series(shapely.contains_xy(country, lon.to_numpy(), lat.to_numpy()), lon.index)
    keep = edges["from"].map(inside).fillna(False) & edges["to"].map(inside).fillna(False)
    e = edges[keep.astype(bool)].reset_index(drop=True)
    return pd.DataFrame(
        {
            "from_node": e["from"].astype("int64"),
            "to_node": e["to"].astype("int64"),
            "from_lon": e["from"].map(lon).to_numpy(),
            "from_lat": e["from"].map(lat).to_numpy(),
            "to_lon": e["to"].map(lon).to_numpy(),
            "to_lat": e["to"].map(lat).to_numpy(),
            "osrm_distance_m": e["route_km"].astype(float).to_numpy() * 1000.0,
            "osrm_minutes": e["route_min"].astype(float).to_numpy(),
        }
    )


def pair_key(a: pd.Series, b: pd.Series) -> pd.Series:
    """An unordered key per row for the pair (a, b): ``"A–B"`` with A <= B."""
    first = np.where(a.to_numpy() <= b.to_numpy(), a.to_numpy(), b.to_numpy())
    second = np.where(a.to_numpy() <= b.to_numpy(), b.to_numpy(), a.to_numpy())
    return pd.Series([f"{x}–{y}" for x, y in zip(first, second, strict=True)], index=a.index)


def pair_medians(ratio: pd.Series, pair: pd.Series) -> pd.Series:
    """The median ratio of each pair (so a pair with many sources counts once)."""
    if not ratio.index.equals(pair.index):
        raise ValueError("ratio and pair must share one index")
    return ratio.groupby(pair, sort=True).median()


def ratio_summary(ratio: pd.Series | np.ndarray) -> dict:
    """Count, median, quartiles and range of finite ratios (NaN figures when none)."""
    r = np.asarray(ratio, dtype=float)
    r = r[np.isfinite(r)]
    if len(r) == 0:
        return {
            "n": 0,
            "median": np.nan,
            "q25": np.nan,
            "q75": np.nan,
            "min": np.nan,
            "max": np.nan,
        }
    q25, median, q75 = np.percentile(r, [25, 50, 75])
    return {
        "n": len(r),
        "median": float(median),
        "q25": float(q25),
        "q75": float(q75),
        "min": float(r.min()),
        "max": float(r.max()),
    }


@dataclass(frozen=True)
class Calibration:
    """A factor on the source speeds, and how firmly the evidence sets it.

    ``raw`` is the factor that makes the median over pairs of (Orienter / observed) equal
    to 1; ``factor`` is ``raw`` rounded to ``step`` and capped at ``cap``.
    ``leave_one_out`` is the range of ``raw`` when any one pair is left out, and
    ``pair_ratios`` the free-flow ratio (factor 1) of each pair.
    """

    factor: float
    raw: float
    n_pairs: int
    leave_one_out: tuple[float, float]
    pair_ratios: pd.Series


def _factor_for_median_one(
    road: np.ndarray, other: np.ndarray, reference: np.ndarray, pair: np.ndarray
) -> float:
    """The f in [0.01, 100] where the median over pairs of (road / f + other) / reference is 1.

    Each pair's ratio (median of its rows) falls as f grows, so their median does too:
    bisection on log f.
    """

    def median_ratio(f: float) -> float:
        ratio = pd.Series((road / f + other) / reference)
        return float(ratio.groupby(pair).median().median())

    lo, hi = np.log(0.01), np.log(100.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        if median_ratio(float(np.exp(mid))) > 1.0:
            lo = mid
        else:
            hi = mid
    return float(np.exp((lo + hi) / 2))


def calibrate_source_speed_factor(
    road_minutes: pd.Series,
    other_minutes: pd.Series,
    reference_minutes: pd.Series,
    pair: pd.Series,
    *,
    step: float = 0.05,
    cap: float = 1.0,
) -> Calibration:
    """The factor on source (free-flow) road speeds that best matches observed journeys.

    Each row is one observed journey, with Orienter's free-flow time split into minutes
    on roads and the rest (off-road legs and grid steps).  A factor ``f`` on road speeds
    makes the time ``road / f + other``.  Each pair's ratio to the observed time is the
    median over its rows, so a much-reported pair counts once; ``f`` makes the median
    over pairs equal to 1.  It is rounded to ``step`` and capped at ``cap`` (default 1:
    roads are not made faster than free flow, so nobody is promised a shorter trip than
    a routing engine gives).

    Raises
    ------
    ValueError
        No row, misaligned inputs, or a reference that is not > 0.
    """
    for name, s in (("other_minutes", other_minutes), ("reference_minutes", reference_minutes)):
        if not s.index.equals(road_minutes.index):
            raise ValueError(f"{name} must share road_minutes' index")
    if not pair.index.equals(road_minutes.index):
        raise ValueError("pair must share road_minutes' index")
    if len(road_minutes) == 0:
        raise ValueError("no journey to calibrate on")
    if not (reference_minutes > 0).all():
        raise ValueError("reference_minutes must all be > 0")
    if not (road_minutes > 0).all() or not (other_minutes >= 0).all():
        raise ValueError("road_minutes must be > 0 and other_minutes >= 0")
    if not step > 0 or not cap > 0:
        raise ValueError(f"step and cap must be > 0, got {step!r} and {cap!r}")
    road, other = road_minutes.to_numpy(float), other_minutes.to_numpy(float)
    ref, key = reference_minutes.to_numpy(float), pair.to_numpy()
    raw = _factor_for_median_one(road, other, ref, key)
    pairs = np.unique(key)
    if len(pairs) > 1:
        loo = [
            _factor_for_median_one(road[key != p], other[key != p], ref[key != p], key[key != p])
            for p in pairs
        ]
        leave_one_out = (min(loo), max(loo))
    else:
        leave_one_out = (raw, raw)
    factor = min(cap, round(raw / step) * step)
    return Calibration(
        factor=round(factor, 6),
        raw=raw,
        n_pairs=len(pairs),
        leave_one_out=leave_one_out,
        pair_ratios=pair_medians((road_minutes + other_minutes) / reference_minutes, pair),
    )
