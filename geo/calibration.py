"""Calibration: demand scaled so that each admin unit's people equal a census table's."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import METRIC_CRS
from geo.errors import DataProblem, DataValidationError

__all__ = ["Calibration", "calibrate_demand", "calibrate_population"]


@dataclass(frozen=True)
class Calibration:
    """Demand scaled to per-unit totals.

    Attributes
    ----------
    population
        Scaled people per entry, aligned with the input.
    report
        One row per unit: ``pcode``, ``name``, ``population_model`` (before),
        ``population_table`` (NaN when the table lacks the unit), ``factor`` and
        ``status`` (``"scaled"``, ``"not in table"`` or ``"spread evenly"``: the model
        put nobody in the unit, so the table's people are shared equally among its
        entries).
    """

    population: np.ndarray
    report: pd.DataFrame


def _check_table(table: pd.DataFrame, units: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    if not isinstance(table, pd.DataFrame) or not {"pcode", "population"} <= set(table.columns):
        raise TypeError(
            "table must be a DataFrame with 'pcode' and 'population' columns "
            "(geo.population.read_population_table)"
        )
    if not isinstance(units, pd.DataFrame) or "pcode" not in units.columns:
        raise TypeError("units must be a DataFrame with a 'pcode' column")
    codes = table["pcode"].astype("string").str.strip().str.upper().reset_index(drop=True)
    people = pd.to_numeric(table["population"], errors="coerce").reset_index(drop=True)
    unit_codes = set(units["pcode"].astype(str).str.strip().str.upper())
    names = table["name"].reset_index(drop=True) if "name" in table.columns else None
    problems = []
    for i, (code, value) in enumerate(zip(codes, people, strict=True)):
        label = None if names is None or pd.isna(names.iloc[i]) else str(names.iloc[i])
        if pd.isna(code) or code not in unit_codes:
            problems.append(
                DataProblem(
                    i + 2,
                    "pcode",
                    f"P-code {code!r} matches no unit of the boundary layer "
                    f"({len(unit_codes)} units, e.g. {sorted(unit_codes)[:3]}); "
                    "use the boundary layer of the table's level",
                    ident=label,
                )
            )
        if pd.isna(value) or value < 0:
            problems.append(DataProblem(i + 2, "population", f"population {value!r} is not >= 0"))
    dup = codes[codes.duplicated(keep=False) & codes.notna()]
    for i, code in dup.items():
        problems.append(DataProblem(int(i) + 2, "pcode", f"duplicate P-code {code}"))
    if problems:
        raise DataValidationError("population table", problems)
    return codes, people


def calibrate_population(
    population: np.ndarray,
    unit_label: np.ndarray,
    units: pd.DataFrame,
    table: pd.DataFrame,
) -> Calibration:
    """Scale demand within each unit so that the unit's total equals the table's.

    Parameters
    ----------
    population
        People per entry (demand point, grid cell or piece).
    unit_label
        Row of ``units`` holding each entry (-1: none; left as is).
    units
        Units of the table's level (``pcode``, ``name``), e.g. the ADM1 boundaries for
        a per-région census.
    table
        ``pcode`` and ``population`` (:func:`geo.population.read_population_table`).

    Returns
    -------
    Calibration
        Scaled people and a per-unit report.  A unit the table lacks keeps its people
        and is named in a warning.

    Raises
    ------
    DataValidationError
        A table row whose P-code matches no unit (the row is named: row numbers count
        the header as row 1, as a spreadsheet shows them), a duplicate P-code or a
        population that is not a number >= 0.
    ValueError
        Arrays of different lengths, labels outside -1..len(units)-1, or a unit of the
        table with people but no entry to put them on.
    """
    pop = np.asarray(population, dtype=float)
    label = np.asarray(unit_label, dtype=np.int64)
    if pop.ndim != 1 or label.shape != pop.shape:
        raise ValueError(
            f"population and unit_label must be 1-D of the same length, got {pop.shape} "
            f"and {label.shape}"
        )
    if (~np.isfinite(pop)).any() or (pop < 0).any():
        raise ValueError("population must be finite and >= 0")
    n = len(units)
    if ((label < -1) | (label >= n)).any():
        raise ValueError(f"unit_label holds labels outside -1..{n - 1}")
    codes, people = _check_table(table, units)
    target = dict(zip(codes, people, strict=True))
    unit_codes = units["pcode"].astype(str).str.strip().str.upper().to_numpy()
    names = units["name"].astype(str).to_numpy() if "name" in units else unit_codes
    inside = label >= 0
    model = np.bincount(label[inside], weights=pop[inside], minlength=n)
    entries = np.bincount(label[inside], minlength=n)
    factor = np.ones(n)
    status = np.full(n, "scaled", dtype=object)
    goal = np.full(n, np.nan)
    spread = np.zeros(n)
    missing, empty = [], []
    for u in range(n):
        if unit_codes[u] not in target:
            status[u] = "not in table"
            missing.append(f"{unit_codes[u]} ({names[u]})")
            continue
        goal[u] = target[unit_codes[u]]
        if model[u] > 0:
            factor[u] = goal[u] / model[u]
        elif goal[u] > 0:
            if entries[u] == 0:
                empty.append(f"{unit_codes[u]} ({names[u]})")
                continue
            status[u] = "spread evenly"
            factor[u] = 0.0
            spread[u] = goal[u] / entries[u]
    if empty:
        raise ValueError(
            f"the table gives people to {len(empty)} unit(s) holding no demand entry: "
            f"{', '.join(empty[:10])}; give them a demand point (calibrate_demand does)"
        )
    if missing:
        warnings.warn(
            f"{len(missing)} unit(s) not in the population table, left unscaled: "
            f"{', '.join(missing[:20])}{' …' if len(missing) > 20 else ''}",
            stacklevel=2,
        )
    out = pop.copy()
    out[inside] = pop[inside] * factor[label[inside]] + spread[label[inside]]
    report = pd.DataFrame(
        {
            "pcode": units["pcode"].astype(str).to_numpy(),
            "name": names,
            "population_model": model,
            "population_table": goal,
            "factor": np.where(status == "spread evenly", np.nan, factor),
            "status": status,
        }
    )
    return Calibration(population=out, report=report)


def calibrate_demand(
    points: gpd.GeoDataFrame, units: gpd.GeoDataFrame, table: pd.DataFrame
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Demand points scaled so that each unit of ``units`` holds the table's people.

    Points are placed in units by point in polygon (nearest unit outside every polygon).
    A unit of the table holding no demand point gets one at its inner point
    (``representative_point``) with the table's people (report status ``"added
    point"``).  Rules and errors as :func:`calibrate_population`.

    Returns
    -------
    (points, report)
        The scaled points (``attrs["calibrated_to"]`` lists the table's P-codes count and
        total) and the per-unit report.
    """
    if not isinstance(units, gpd.GeoDataFrame) or units.crs is None:
        raise TypeError("units must be a GeoDataFrame with a CRS (the boundary layer)")
    if not isinstance(points, gpd.GeoDataFrame) or "population" not in points.columns:
        raise TypeError("points must be a GeoDataFrame with a 'population' column")
    codes, people = _check_table(table, units)
    units = units.reset_index(drop=True)
    metric = units.to_crs(points.crs)
    pts = gpd.GeoDataFrame(geometry=points.geometry.to_numpy(), crs=points.crs)
    joined = gpd.sjoin(pts, metric[["geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    label = joined["index_right"].fillna(-1).to_numpy(dtype=np.int64)
    orphan = label < 0
    if orphan.any():
        near = gpd.sjoin_nearest(
            pts[orphan].reset_index(drop=True).to_crs(METRIC_CRS),
            metric[["geometry"]].to_crs(METRIC_CRS),
            how="left",
        )
        near = near[~near.index.duplicated(keep="first")]
        label[orphan] = near["index_right"].to_numpy(dtype=np.int64)
    target = dict(zip(codes, people, strict=True))
    unit_codes = units["pcode"].astype(str).str.strip().str.upper()
    held = np.bincount(label[label >= 0], minlength=len(units))
    add = [u for u in range(len(units)) if held[u] == 0 and target.get(unit_codes[u], 0) > 0]
    out = points.copy()
    if add:
        inner = units.geometry.iloc[add].representative_point().to_crs(points.crs)
        extra = gpd.GeoDataFrame(
            {
                "population": np.zeros(len(add)),
                "source_row": -1,
                "source_col": -1,
                "settlement_pcode": None,
                "settlement_name": None,
            },
            geometry=inner.to_numpy(),
            crs=points.crs,
        )
        out = pd.concat(
            [out, extra[[c for c in extra.columns if c in out.columns]]], ignore_index=True
        )
        out = gpd.GeoDataFrame(out, geometry="geometry", crs=points.crs)
        label = np.concatenate([label, np.asarray(add, dtype=np.int64)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = calibrate_population(out["population"].to_numpy(float), label, units, table)
    for w in caught:
        warnings.warn(str(w.message), w.category, stacklevel=2)
    out["population"] = result.population
    report = result.report
    report.loc[add, "status"] = "added point"
    out.attrs = {
        **points.attrs,
        "calibrated_to": {
            "units": int((result.report["status"] != "not in table").sum()),
            "total": float(np.nansum(result.report["population_table"])),
        },
    }
    return out, report
