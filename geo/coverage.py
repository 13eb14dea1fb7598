"""Coverage: how many people live within a travel time of a service, per admin unit.

Split as spopt does, "geometry -> arrays" then "arrays -> statistics", so the arithmetic
is tested on a 3x4 array:

- geometry (:mod:`geo.units`): :func:`geo.units.assign_cells` turns grid cells and
  boundary polygons into *pieces* (a cell, its unit, its people);
  :func:`geo.units.provider_units` says which unit holds each provider;
  :func:`geo.deserts.service_deserts` draws the areas beyond a threshold;
- arithmetic (here): :func:`coverage_table` (population within each threshold,
  weighted median and 90th percentile of the time, main provider), :func:`underserved`
  (rankings); :func:`geo.capacity.capacity_coverage` (providers with a capacity fill up
  in travel-time order);
- demand points (settlements, :mod:`geo.demand`): :func:`point_coverage_table` reads
  each point's time from the cell holding it and counts it in the unit holding it;
- export: :func:`to_hxl` (CSV with an HXL hashtag row) and :func:`coverage_layer`
  (GeoDataFrame for GeoJSON / GeoPackage).

Times are minutes; ``inf`` means no provider can be reached.  Population is people.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from geo._validate import as_1d, check_thresholds, threshold_tag
from geo.crs import GEOGRAPHIC_CRS
from geo.route_flags import UNIT_FLAG_SHARE, UNIT_KIND_SHARE
from geo.units import PointAssignment

__all__ = [
    "CLINICAL_WINDOWS_MIN",
    "DEFAULT_THRESHOLDS_MIN",
    "FLAG_COLUMNS",
    "coverage_layer",
    "coverage_table",
    "point_coverage_table",
    "published_figures",
    "to_hxl",
    "underserved",
    "weighted_quantile",
]

DEFAULT_THRESHOLDS_MIN: tuple[int, ...] = (30, 60, 120, 300)
#: Clinical time windows after a rape, minutes: post-exposure prophylaxis (PEP) must
#: start within 72 h, emergency contraception (EC) within 120 h.
CLINICAL_WINDOWS_MIN: dict[str, int] = {"pep": 72 * 60, "ec": 120 * 60}
#: The columns :func:`coverage_table` adds from per-cell route flags, carried by
#: :func:`underserved` (the flags of :mod:`geo.route_flags`).
FLAG_COLUMNS: tuple[str, ...] = ("offroad_share", "detour_share", "time_flags")


# ----------------------------------------------------------------------------- arithmetic


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Smallest value below or at which at least ``q`` of the weight lies.

    ``inf`` values count (people who cannot reach): the result is ``inf`` when more than
    ``1 - q`` of the weight is unreachable; NaN when the weights sum to 0.

    Examples
    --------
    >>> weighted_quantile(np.array([10.0, 20.0, np.inf]), np.array([1.0, 1.0, 1.0]), 0.5)
    20.0
    """
    if not 0 < q <= 1:
        raise ValueError(f"q must be in (0, 1], got {q!r}")
    w = np.asarray(weights, dtype=float)
    total = w.sum()
    if total <= 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(w[order])
    k = int(np.searchsorted(cum, q * total * (1 - 1e-12)))
    return float(np.asarray(values)[order][min(k, len(order) - 1)])


def coverage_table(
    minutes_per_cell: np.ndarray,
    population_per_cell: np.ndarray,
    unit_label_per_cell: np.ndarray,
    units: pd.DataFrame,
    *,
    thresholds_min: Sequence[float] = DEFAULT_THRESHOLDS_MIN,
    allocation_per_cell: np.ndarray | None = None,
    provider_ids: Sequence[str | None] | None = None,
    provider_unit: np.ndarray | None = None,
    offroad_per_cell: np.ndarray | None = None,
    detour_per_cell: np.ndarray | None = None,
) -> pd.DataFrame:
    """Population within each travel time, per admin unit.

    The three arrays are aligned (one entry per cell, or per piece of
    :func:`assign_cells`); a flat 3x4 array works.

    Parameters
    ----------
    minutes_per_cell
        Minutes to the nearest provider; ``inf`` or NaN = unreachable.
    population_per_cell
        People (>= 0).
    unit_label_per_cell
        Row of ``units`` each cell belongs to; -1 = none (its people are not counted).
    units
        ``pcode`` and ``name`` columns; one output row per row, in the same order.
    thresholds_min
        Minutes; one ``pop_within_<t>`` and ``share_within_<t>`` column each.
    allocation_per_cell
        Column of the nearest provider per cell (-1 none); with ``provider_ids`` gives
        ``nearest_provider_id``: the provider serving most of the unit's people.
    provider_ids
        Provider id per column.
    provider_unit
        Row of ``units`` holding each provider (-1 none): gives ``n_providers``.
    offroad_per_cell, detour_per_cell
        Booleans aligned with the cells: the cell's route to its nearest provider is
        flagged ``offroad`` / ``detour`` (:func:`geo.route_flags.flag_arrays`).  Given
        together, they add the :data:`FLAG_COLUMNS`.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``units``: ``pcode``, ``name``, ``population``,
        ``pop_within_<t>``, ``share_within_<t>`` (0-1, NaN for an empty unit),
        ``median_time_min`` and ``p90_time_min`` (population-weighted; ``inf`` when more
        than half, resp. 10 %, of the people cannot reach any provider; NaN for an empty
        unit), then ``nearest_provider_id`` and ``n_providers`` when asked, then with
        the route flags ``offroad_share`` and ``detour_share`` (0-1: the share of the
        unit's people *who reach a provider* whose route is so flagged; NaN when nobody
        reaches one) and ``time_flags`` (``"offroad"``, ``"detour"``, ``"offroad;detour"``
        or None: when :data:`geo.route_flags.UNIT_FLAG_SHARE` of those people or more
        reach it on a flagged route, so most of its times rest on such routes, the flags
        held by :data:`geo.route_flags.UNIT_KIND_SHARE` of them or more).
    """
    minutes = as_1d(minutes_per_cell, "minutes_per_cell")
    pop = as_1d(population_per_cell, "population_per_cell")
    label = as_1d(unit_label_per_cell, "unit_label_per_cell", dtype=np.int64)
    _check_cells(minutes, pop, label, units)
    n = len(units)
    thresholds = check_thresholds(thresholds_min)
    minutes = np.where(np.isnan(minutes), np.inf, minutes)
    keep = label >= 0
    minutes, pop, label = minutes[keep], pop[keep], label[keep]
    total = np.bincount(label, weights=pop, minlength=n)
    out = pd.DataFrame(
        {
            "pcode": units["pcode"].astype(str).to_numpy(),
            "name": units["name"].astype(str).to_numpy(),
        },
        index=units.index,
    )
    out["population"] = total
    with np.errstate(invalid="ignore", divide="ignore"):
        for t in thresholds:
            within = np.bincount(label, weights=pop * (minutes <= t), minlength=n)
            out[f"pop_within_{threshold_tag(t)}"] = within
        for t in thresholds:
            out[f"share_within_{threshold_tag(t)}"] = np.where(
                total > 0,
                out[f"pop_within_{threshold_tag(t)}"].to_numpy() / np.where(total > 0, total, 1),
                np.nan,
            )
    out["median_time_min"], out["p90_time_min"] = _unit_quantiles(minutes, pop, label, n)
    if allocation_per_cell is not None:
        if provider_ids is None:
            raise ValueError("allocation_per_cell needs provider_ids (one id per column)")
        alloc = as_1d(allocation_per_cell, "allocation_per_cell", dtype=np.int64)
        if len(alloc) != len(keep):
            raise ValueError(f"allocation_per_cell has {len(alloc)} values, expected {len(keep)}")
        out["nearest_provider_id"] = _main_provider(alloc[keep], pop, label, provider_ids, n)
    if provider_unit is not None:
        pu = as_1d(provider_unit, "provider_unit", dtype=np.int64)
        out["n_providers"] = np.bincount(pu[pu >= 0], minlength=n)[:n]
    if offroad_per_cell is not None or detour_per_cell is not None:
        cells = {"offroad": offroad_per_cell, "detour": detour_per_cell}
        _add_flag_columns(out, cells, keep, minutes, pop, label)
    return out


def _add_flag_columns(
    out: pd.DataFrame,
    cells: dict[str, np.ndarray | None],
    keep: np.ndarray,
    minutes: np.ndarray,
    pop: np.ndarray,
    label: np.ndarray,
) -> None:
    """The :data:`FLAG_COLUMNS` of :func:`coverage_table` from per-cell flags."""
    if any(values is None for values in cells.values()):
        raise ValueError("offroad_per_cell and detour_per_cell go together; give both or none")
    flagged, either = {}, np.zeros(int(keep.sum()), dtype=bool)
    for name, values in cells.items():
        flag = as_1d(values, f"{name}_per_cell", dtype=bool)
        if len(flag) != len(keep):
            raise ValueError(f"{name}_per_cell has {len(flag)} values, expected {len(keep)}")
        flagged[name] = _flag_share(flag[keep], minutes, pop, label, len(out))
        out[f"{name}_share"] = flagged[name]
        either |= flag[keep]
    any_share = _flag_share(either, minutes, pop, label, len(out))
    out["time_flags"] = pd.Series(_unit_flags(flagged, any_share), index=out.index, dtype=object)


def _flag_share(
    flag: np.ndarray, minutes: np.ndarray, pop: np.ndarray, label: np.ndarray, n: int
) -> np.ndarray:
    """Per unit, the share of the people who reach a provider whose route is flagged."""
    reach = np.isfinite(minutes)
    reaching = np.bincount(label, weights=pop * reach, minlength=n)
    flagged = np.bincount(label, weights=pop * (reach & flag), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(reaching > 0, flagged / np.where(reaching > 0, reaching, 1), np.nan)


def _unit_flags(shares: dict[str, np.ndarray], any_share: np.ndarray) -> list[str | None]:
    """``"offroad;detour"``-style names of a unit's flags: when at least
    :data:`UNIT_FLAG_SHARE` of its people who reach care have a flagged route, each flag
    held by at least :data:`UNIT_KIND_SHARE` of them (None otherwise)."""
    names = list(shares)
    unit = any_share >= UNIT_FLAG_SHARE * (1 - 1e-12)
    on = np.column_stack([unit & (shares[k] >= UNIT_KIND_SHARE * (1 - 1e-12)) for k in names])
    return [";".join(k for k, hit in zip(names, row, strict=True) if hit) or None for row in on]


def _check_cells(
    minutes: np.ndarray, pop: np.ndarray, label: np.ndarray, units: pd.DataFrame
) -> None:
    """Aligned arrays, finite people >= 0 and unit labels within -1..len(units) - 1."""
    if not (len(minutes) == len(pop) == len(label)):
        raise ValueError(
            "minutes_per_cell, population_per_cell and unit_label_per_cell must have the "
            f"same length, got {len(minutes)}, {len(pop)}, {len(label)}"
        )
    if not isinstance(units, pd.DataFrame) or not {"pcode", "name"} <= set(units.columns):
        raise TypeError("units must be a DataFrame with 'pcode' and 'name' columns")
    if (~np.isfinite(pop)).any() or (pop < 0).any():
        raise ValueError("population_per_cell must be finite and >= 0; replace NaN with 0")
    n = len(units)
    if (label >= n).any() or (label < -1).any():
        raise ValueError(
            f"unit_label_per_cell holds labels outside -1..{n - 1}: "
            f"{np.unique(label[(label >= n) | (label < -1)])[:5].tolist()}"
        )


def _unit_quantiles(
    minutes: np.ndarray, pop: np.ndarray, label: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Population-weighted median and 90th percentile of the minutes per unit (NaN empty).

    :func:`weighted_quantile` for every unit at once: the cells sorted by unit, then
    minutes (two stable sorts: the order of ``np.lexsort``, faster), and the first cell
    whose running population reaches ``q`` of its unit's.
    """
    o1 = np.argsort(minutes, kind="stable")
    order = o1[np.argsort(label[o1].astype(np.int32), kind="stable")]
    m, w = minutes[order], pop[order]
    bounds = np.searchsorted(label[order], np.arange(n + 1))
    cum = np.concatenate(([0.0], np.cumsum(w)))
    before, after = cum[bounds[:-1]], cum[bounds[1:]]
    total = after - before
    empty = (bounds[1:] == bounds[:-1]) | ~(total > 0)
    last = np.maximum(bounds[1:] - 1, 0)
    out = []
    for q in (0.5, 0.9):
        # cum[i + 1] is the running population up to cell i: the first cell reaching it
        k = np.searchsorted(cum[1:], before + q * total * (1 - 1e-12), side="left")
        k = np.minimum(np.maximum(k, bounds[:-1]), last)
        out.append(np.where(empty, np.nan, m[np.minimum(k, len(m) - 1)] if len(m) else np.nan))
    return out[0], out[1]


#: Largest units x providers table counted densely by :func:`_main_provider`.
_DENSE_CELLS = 20_000_000


def _main_provider(
    alloc: np.ndarray,
    pop: np.ndarray,
    label: np.ndarray,
    provider_ids: Sequence[str | None],
    n: int,
) -> np.ndarray:
    """Per unit, the id of the provider nearest to most of its people (None: nobody);
    ties go to the provider listed first."""
    ids = np.asarray(list(provider_ids), dtype=object)
    nearest = np.full(n, None, dtype=object)
    keep = (alloc >= 0) & (pop > 0)
    unit, col, people = label[keep], alloc[keep], pop[keep]
    n_cols = len(ids)
    if n * n_cols <= _DENSE_CELLS:
        per = np.bincount(unit * n_cols + col, weights=people, minlength=n * n_cols)
        per = per.reshape(n, n_cols)
        best = per.argmax(axis=1)  # the first (lowest column) of equal sums
        served = per[np.arange(n), best] > 0
        nearest[served] = ids[best[served]]
        return nearest
    frame = pd.DataFrame({"unit": unit, "col": col, "pop": people})
    summed = frame.groupby(["unit", "col"], sort=True)["pop"].sum().reset_index()
    summed = summed.sort_values(["unit", "pop", "col"], ascending=[True, False, True])
    summed = summed.drop_duplicates("unit")
    nearest[summed["unit"].to_numpy()] = ids[summed["col"].to_numpy()]
    return nearest


def point_coverage_table(
    minutes_per_cell: np.ndarray,
    points: PointAssignment,
    units: pd.DataFrame,
    *,
    thresholds_min: Sequence[float] = DEFAULT_THRESHOLDS_MIN,
    allocation_per_cell: np.ndarray | None = None,
    provider_ids: Sequence[str] | None = None,
    provider_unit: np.ndarray | None = None,
) -> pd.DataFrame:
    """:func:`coverage_table` for demand points (:func:`geo.units.assign_points`).

    Each point takes the minutes (and the nearest provider) of the grid cell holding it;
    a point off the active grid counts as unreachable.  Options as :func:`coverage_table`.
    """
    if not isinstance(points, PointAssignment):
        raise TypeError(
            f"points must be a PointAssignment (geo.units.assign_points), "
            f"got {type(points).__name__}"
        )
    return coverage_table(
        points.minutes(minutes_per_cell),
        points.population,
        points.unit,
        units,
        thresholds_min=thresholds_min,
        allocation_per_cell=None
        if allocation_per_cell is None
        else points.values(np.asarray(allocation_per_cell, dtype=np.int64), fill=-1),
        provider_ids=provider_ids,
        provider_unit=provider_unit,
    )


def underserved(
    table: pd.DataFrame,
    *,
    threshold_min: float = 120,
    conflict: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Units ranked by the people beyond ``threshold_min``, with their share and conflict class.

    Parameters
    ----------
    table
        Output of :func:`coverage_table` holding ``pop_within_<threshold_min>``.
    threshold_min
        Minutes.
    conflict
        Optional per-unit conflict summary with ``pcode`` and ``max_class``
        (``build/conflict/summary_admN.csv``), joined on ``pcode``.

    Returns
    -------
    pandas.DataFrame
        ``pcode``, ``name``, ``population``, ``pop_beyond_<t>``, ``share_beyond_<t>``,
        ``rank_people`` and ``rank_share`` (1 = worst; ties share the lower rank),
        ``max_class`` (None without ``conflict``), then the :data:`FLAG_COLUMNS` when
        the table holds them, sorted by ``rank_people``.
    """
    col = f"pop_within_{threshold_tag(float(threshold_min))}"
    if col not in table.columns:
        have = [c for c in table.columns if c.startswith("pop_within_")]
        raise ValueError(
            f"threshold_min={threshold_min!r}: the table has no {col}; it holds {have}. "
            "Build the table with this threshold in thresholds_min."
        )
    t = threshold_tag(float(threshold_min))
    out = table[["pcode", "name", "population"]].copy()
    out[f"pop_beyond_{t}"] = table["population"] - table[col]
    with np.errstate(invalid="ignore", divide="ignore"):
        out[f"share_beyond_{t}"] = np.where(
            table["population"] > 0, out[f"pop_beyond_{t}"] / table["population"], np.nan
        )
    out["rank_people"] = out[f"pop_beyond_{t}"].rank(ascending=False, method="min").astype(int)
    out["rank_share"] = (
        out[f"share_beyond_{t}"].rank(ascending=False, method="min", na_option="bottom").astype(int)
    )
    out["max_class"] = None
    if conflict is not None:
        if not {"pcode", "max_class"} <= set(conflict.columns):
            raise ValueError("conflict must have 'pcode' and 'max_class' columns")
        classes = conflict.drop_duplicates("pcode").set_index(conflict["pcode"].astype(str))
        out["max_class"] = out["pcode"].astype(str).map(classes["max_class"]).astype(object)
        out["max_class"] = out["max_class"].where(out["max_class"].notna(), None)
    for column in FLAG_COLUMNS:
        if column in table.columns:
            out[column] = table[column]
    return out.sort_values(["rank_people", "rank_share"], kind="stable")


def published_figures(table: pd.DataFrame) -> pd.DataFrame:
    """A coverage table as every output publishes it: the one counting and rounding rule
    of the command line, the API, the pages, the maps and the briefings.

    - people are whole people (``population``, ``pop_within_<t>``, int64), each rounded
      once from the unrounded table; people beyond a threshold are the rounded
      ``population - pop_within_<t>`` (``pop_beyond_<t>``, added for every threshold),
      so within and beyond add up to the population in every output;
    - shares are those whole people over the population, to 1e-4 (``share_within_<t>``
      and ``share_beyond_<t>``; NaN for a unit without people), printed to 0.1 %;
    - times to the minute (``*_min`` columns; ``inf`` stays ``inf``).

    A ranking that holds ``pop_beyond_<t>`` without ``pop_within_<t>`` (see
    :func:`underserved`) keeps its people beyond, rounded, and their share.

    >>> t = pd.DataFrame({"population": [10.4], "pop_within_60": [3.6]})
    >>> published_figures(t)[["pop_within_60", "pop_beyond_60", "share_beyond_60"]].iloc[0].tolist()
    [4.0, 6.0, 0.6]
    """
    out = table.drop(
        columns=[
            f"{kind}_beyond_{c.removeprefix('pop_within_')}"
            for c in table.columns
            if c.startswith("pop_within_")
            for kind in ("pop", "share")
        ],
        errors="ignore",
    )
    people = lambda v: np.rint(np.asarray(v, dtype=float)).astype(np.int64)  # noqa: E731
    population = people(out["population"])
    out["population"] = population
    tags = [c.removeprefix("pop_within_") for c in out.columns if c.startswith("pop_within_")]
    beyond_only = [
        c.removeprefix("pop_beyond_")
        for c in out.columns
        if c.startswith("pop_beyond_") and c.removeprefix("pop_beyond_") not in tags
    ]
    with np.errstate(invalid="ignore", divide="ignore"):

        def share(n: np.ndarray) -> np.ndarray:
            return np.round(np.where(population > 0, n / np.maximum(population, 1), np.nan), 4)

        for t in tags:
            within = people(out[f"pop_within_{t}"])
            out[f"pop_within_{t}"] = within
            out[f"share_within_{t}"] = share(within)
        last = [c for c in out.columns if c.startswith("pop_within_")]
        at = out.columns.get_loc(last[-1]) + 1 if last else len(out.columns)
        for t in reversed(tags):
            out.insert(at, f"pop_beyond_{t}", population - out[f"pop_within_{t}"].to_numpy())
        last = [c for c in out.columns if c.startswith("share_within_")]
        at = out.columns.get_loc(last[-1]) + 1 if last else len(out.columns)
        for t in reversed(tags):
            out.insert(at, f"share_beyond_{t}", share(out[f"pop_beyond_{t}"].to_numpy()))
        for t in beyond_only:
            beyond = people(out[f"pop_beyond_{t}"])
            out[f"pop_beyond_{t}"] = beyond
            out[f"share_beyond_{t}"] = share(beyond)
    for c in out.columns:
        if c.endswith("_min"):
            out[c] = np.round(out[c].astype(float))
    for c in ("offroad_share", "detour_share"):
        if c in out.columns:
            out[c] = np.round(out[c].astype(float), 4)
    return out


# ----------------------------------------------------------------------------- export


def _hxl_tag(column: str, level: int) -> str:
    fixed = {
        "pcode": f"#adm{level}+code",
        "name": f"#adm{level}+name",
        "population": "#population",
        "median_time_min": "#indicator+median+minutes",
        "p90_time_min": "#indicator+p90+minutes",
        "nearest_provider_id": "#org+id+nearest",
        "nearest_provider_name": "#org+name+nearest",
        "n_providers": "#org+num",
        "max_class": "#severity+conflict",
        "region_pcode": "#adm1+code",
        "region_name": "#adm1+name",
        "cercle_pcode": "#adm2+code",
        "cercle_name": "#adm2+name",
        "rank_people": "#indicator+rank+people",
        "rank_share": "#indicator+rank+pct",
        "offroad_share": "#indicator+pct+offroad",
        "detour_share": "#indicator+pct+detour",
        "pct_offroad": "#indicator+pct+offroad",
        "pct_detour": "#indicator+pct+detour",
        "time_flags": "#indicator+flags+time",
    }
    if column in fixed:
        return fixed[column]
    for prefix, tag in (
        ("pop_within_", "#population+within"),
        ("share_within_", "#population+pct+within"),
        ("pop_beyond_", "#population+beyond"),
        ("share_beyond_", "#population+pct+beyond"),
        ("pct_within_", "#population+pct+within"),
        ("pct_beyond_", "#population+pct+beyond"),
    ):
        if column.startswith(prefix):
            return tag + column[len(prefix) :].replace("_", "")
    return "#meta+" + column.replace("_", "")


def to_hxl(table: pd.DataFrame, *, level: int) -> pd.DataFrame:
    """The table with an HXL hashtag row first (``#adm1+code``, ``#population+within60`` …).

    Write it with ``to_csv(index=False)``: the header, then the hashtag row, then data.
    """
    if level not in (0, 1, 2, 3):
        raise ValueError(f"level must be 0 to 3, got {level!r}")
    tags = pd.DataFrame([[_hxl_tag(c, level) for c in table.columns]], columns=table.columns)
    body = table.astype(object).where(table.notna(), None)
    return pd.concat([tags, body], ignore_index=True)


def coverage_layer(table: pd.DataFrame, units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The table with the unit polygons (EPSG:4326), for GeoJSON or GeoPackage.

    ``inf`` times become NaN (null), since neither format stores infinity.
    """
    if not isinstance(units, gpd.GeoDataFrame):
        raise TypeError(f"units must be a GeoDataFrame, got {type(units).__name__}")
    geom = units.set_index(units["pcode"].astype(str)).geometry
    out = table.replace([np.inf, -np.inf], np.nan)
    return gpd.GeoDataFrame(
        out, geometry=geom.reindex(out["pcode"].astype(str)).values, crs=units.crs
    ).to_crs(GEOGRAPHIC_CRS)
