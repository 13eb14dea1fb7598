"""Coverage figures shared by the CLI, the API, the web pages and the briefings.

One :class:`Analysis` per build directory computes every coverage table from the same
inputs with the same function, so ``orienter coverage``, ``GET /api/v1/coverage``, the
planning pages and the PDF briefings print the same figures.

Usage::

    from api.services.analysis import Analysis

    analysis = Analysis.load(settings)        # cheap: reads the manifest only
    result = analysis.coverage(level="adm2", service="one_stop_centre",
                               mode="car", scenario="baseline")
    result.table     # pandas.DataFrame, one row per unit (columns below)
    result.meta      # dict: population source, build time, roads, thresholds ...
    result.units     # GeoDataFrame of the unit polygons, row-aligned with ``table``
    analysis.underserved(level="adm1", threshold_min=120)   # CoverageResult, ranked
    analysis.national(service="one_stop_centre")            # dict of national figures
    analysis.choices                                        # allowed values per parameter
    analysis.inputs  # grid, country, population on the grid, providers (loaded once)

``table`` columns: ``pcode``, ``name``, ``population``, ``pop_within_30/60/120/300``,
``share_within_30/60/120/300`` (0-1), ``median_time_min``, ``p90_time_min`` (``inf``:
more than half, resp. 10 %, of the people cannot reach any provider),
``nearest_provider_id`` and ``nearest_provider_name`` (the *public* provider nearest to
most of the unit's people), ``n_providers`` (public providers of the service located
in the unit), and ``max_class`` (highest conflict class of the unit) when the build
holds a conflict summary.  Figures are rounded as published: people to 1, shares to
1e-4, minutes to 1.

Every figure is computed from public providers only: a confidential provider (shelter,
safe house) changes no table, ranking or count, since aggregates over small units would
locate it (``inputs.providers`` holds the public rows of the build).  Caseworker code
paths may ask :meth:`Analysis.surface` for every provider's surface explicitly.

Errors: :class:`ChoiceError` (a ``ValueError`` naming the parameter and the allowed
values) for an unknown level, service, mode or scenario; ``api.build.layers.NotBuiltError``
when the build directory holds no manifest; :class:`geo.errors.DataFileError` for a
missing boundary, population raster or surface.

Tables are computed on first use and kept (LRU, :data:`CACHE_SIZE` tables); an
:class:`Analysis` is safe to share between threads.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio

from api.build.layers import NotBuiltError
from api.build.pipeline import GRID_BUFFER_M, SERVICE_KEYS
from api.datasets import find_dataset
from api.settings import Settings
from geo.boundaries import read_boundaries
from geo.coverage import (
    DEFAULT_THRESHOLDS_MIN,
    CellAssignment,
    assign_cells,
    coverage_table,
    provider_units,
    to_hxl,
    weighted_quantile,
)
from geo.coverage import underserved as rank_underserved
from geo.crs import METRIC_CRS
from geo.demand import Demand, assign_points, build_demand
from geo.errors import DataFileError, DataValidationError
from geo.grid import Grid, make_grid
from geo.nearest import providers_offering
from geo.population import read_population_raster, read_population_table
from geo.providers import public_mask
from geo.settlements import read_settlements

__all__ = [
    "CACHE_SIZE",
    "LEVELS",
    "Analysis",
    "AnalysisInputs",
    "ChoiceError",
    "CoverageResult",
    "check_choice",
    "demand_meta",
    "public_mask",
    "to_records",
]

LEVELS: tuple[str, ...] = ("adm1", "adm2", "adm3")
#: How many coverage tables one Analysis keeps.
CACHE_SIZE = 64
_SURFACE_CACHE = 8
NOTE = (
    "median_time_min / p90_time_min null: more than half (10 %) of the people cannot "
    "reach any provider"
)


class ChoiceError(ValueError):
    """An unknown value for a parameter with a fixed set of allowed values."""

    def __init__(self, parameter: str, value: object, allowed: Sequence[str]) -> None:
        self.parameter = parameter
        self.value = value
        self.allowed = tuple(allowed)
        super().__init__(f"{parameter}={value!r} is unknown; allowed: {', '.join(self.allowed)}")


def check_choice(parameter: str, value: object, allowed: Sequence[str]) -> None:
    """Raise :class:`ChoiceError` when ``value`` is not one of ``allowed``."""
    if value not in allowed:
        raise ChoiceError(parameter, value, allowed)


def to_records(table: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts: ``inf`` and NaN become None."""
    clean = table.replace([np.inf, -np.inf], np.nan).astype(object)
    return clean.where(clean.notna(), None).to_dict("records")


@dataclass(frozen=True)
class AnalysisInputs:
    """What every table rests on, loaded once from the build and the data directory."""

    manifest: dict
    grid: Grid
    country: Any  # shapely geometry of Mali in METRIC_CRS
    population: np.ndarray  # people per active grid cell
    population_source: str  # path of the population raster
    providers: gpd.GeoDataFrame  # rows of the build's providers.parquet
    demand: Demand | None = None  # model, points, calibration (settings.demand)


@dataclass(frozen=True)
class CoverageResult:
    """One coverage table, its unit polygons and what it rests on."""

    table: pd.DataFrame
    units: gpd.GeoDataFrame
    meta: dict = field(default_factory=dict)
    level: str = "adm1"

    def records(self) -> list[dict]:
        """The rows as JSON-ready dicts (``inf`` and NaN as None)."""
        return to_records(self.table)

    def hxl(self) -> pd.DataFrame:
        """The table with its HXL hashtag row first (write with ``to_csv(index=False)``)."""
        frame = to_hxl(self.table, level=int(self.level[-1]))
        if "nearest_provider_name" in frame.columns:
            frame.loc[0, "nearest_provider_name"] = "#org+name+nearest"
        return frame


def _resolve(path_text: str) -> Path:
    path = Path(path_text)
    return (path if path.is_absolute() else Path.cwd() / path).resolve()


def load_inputs(settings: Settings, *, warn: Callable[[str], None] | None = None) -> AnalysisInputs:
    """Manifest, grid, population on the grid and providers of ``settings.build_dir``.

    The population raster is the one the build recorded (``manifest.json``
    ``inputs.population``); when it has gone, the data directory's is used and
    ``warn`` (default :func:`warnings.warn`) is told.
    """
    root = settings.build_dir
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise NotBuiltError(f"no built layers in {root}; run `orienter build` (ORIENTER_BUILD_DIR)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    inputs = manifest.get("inputs", {})
    adm0_text = (inputs.get("adm0") or {}).get("path")
    adm0_path = _resolve(adm0_text) if adm0_text else find_dataset(settings, "adm0")
    if adm0_path is None or not adm0_path.is_file():
        adm0_path = find_dataset(settings, "adm0")
    if adm0_path is None:
        raise DataFileError(f"no country boundary (ADM0) under {settings.data_dir / 'boundaries'}")
    pop_text = (inputs.get("population") or {}).get("path")
    pop_path = _resolve(pop_text) if pop_text else None
    if pop_path is None or not pop_path.is_file():
        found = find_dataset(settings, "population_raster")
        if found is None:
            raise DataFileError(
                "no population raster: the manifest records "
                f"{pop_text or 'none'} and {settings.data_dir / 'population'} holds none"
            )
        message = f"the build's population raster ({pop_text}) is missing; using {found}"
        if warn is None:
            warnings.warn(message, stacklevel=2)
        else:
            warn(message)
        pop_path = found
    params = manifest.get("parameters", {})
    cell_m = float(params.get("cell_m", settings.grid_cell_m))
    buffer_m = float(params.get("grid_buffer_m", GRID_BUFFER_M))
    adm0 = read_boundaries(adm0_path, level=0)
    country = adm0.to_crs(METRIC_CRS).union_all()
    grid = make_grid(country, crs=METRIC_CRS, cell_m=cell_m, buffer_m=buffer_m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raster = read_population_raster(pop_path)
    demand = _build_demand(settings, raster, grid, adm0)
    providers = gpd.read_parquet(root / "providers.parquet")
    return AnalysisInputs(
        manifest, grid, country, demand.per_cell, str(pop_path), providers, demand
    )


def _build_demand(settings: Settings, raster: Any, grid: Grid, adm0: gpd.GeoDataFrame) -> Demand:
    """``settings.demand`` model, calibrated to ``settings.population_table`` when set."""
    settlements = table = table_units = None
    table_path = settings.population_table
    if settings.demand == "settlements":
        path = find_dataset(settings, "settlements")
        if path is None:
            raise DataFileError(f"no settlements under {settings.data_dir / 'settlements'}")
        settlements = read_settlements(path)
    if settings.population_table is not None:
        try:
            table = read_population_table(settings.population_table)
        except ValueError as exc:  # DataFileError, DataValidationError
            raise DataFileError(f"ORIENTER_POPULATION_TABLE: {exc}") from exc
        levels = sorted(set(table["level"]))
        if len(levels) != 1:
            raise DataFileError(
                f"{settings.population_table}: P-codes of several levels {levels}; "
                "give one level per table"
            )
        units_path = find_dataset(settings, f"adm{levels[0]}")
        if units_path is None:
            raise DataFileError(f"no adm{levels[0]} boundaries for {settings.population_table}")
        table_units = read_boundaries(units_path, level=levels[0])
    try:
        return build_demand(
            raster,
            grid,
            adm0,
            model=settings.demand,
            settlements=settlements,
            table=table,
            table_units=table_units,
            table_source=table_path.name if table_path is not None else None,
        )
    except DataValidationError as exc:  # a table row matching no unit, named
        raise DataFileError(
            f"ORIENTER_POPULATION_TABLE {settings.population_table}: {exc}"
        ) from exc


def demand_meta(inputs: AnalysisInputs) -> dict:
    """``demand`` (grid or settlements), ``population_table`` (census file or None) and
    ``calibrated``: what, besides the raster, every output's population rests on."""
    d = inputs.demand
    return {
        "demand": d.model if d is not None else "grid",
        "population_table": d.table_source if d is not None else None,
        "calibrated": bool(d is not None and d.table_source is not None),
    }


def read_surface(root: Path, grid: Grid, name: str, *, audience: str = "public") -> np.ndarray:
    """Values of the built raster ``surfaces/<audience>/<name>.tif`` per active cell."""
    path = root / "surfaces" / audience / f"{name}.tif"
    if not path.is_file():
        built = sorted(p.stem for p in (root / "surfaces" / audience).glob("*.tif"))
        names = ", ".join(b for b in built if "alloc" not in b)
        raise DataFileError(f"{path} is not built; built surfaces: {names}")
    with rasterio.open(path) as src:
        if src.shape != (grid.nrows, grid.ncols) or not np.allclose(
            tuple(src.transform)[:6], tuple(grid.transform)[:6]
        ):
            raise DataFileError(f"{path} does not match the grid of this data directory; rebuild")
        band = src.read(1)
    return band[grid.active]


def _rounded(table: pd.DataFrame) -> pd.DataFrame:
    return table.round(
        {c: 4 for c in table.columns if c.startswith("share_")}
        | {c: 0 for c in table.columns if c.startswith("pop") or c.endswith("_min")}
    )


class Analysis:
    """Coverage tables of one build directory, computed once each and kept.

    Create it with :meth:`load`; heavy inputs (grid, population, boundaries) load on
    the first table, not before.
    """

    def __init__(self, settings: Settings, manifest: dict) -> None:
        self.settings = settings
        self.manifest = manifest
        self._lock = threading.RLock()
        self._tables: OrderedDict[tuple, tuple[pd.DataFrame, dict]] = OrderedDict()
        self._surfaces: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._units: dict[str, gpd.GeoDataFrame] = {}
        self._pieces: dict[str, CellAssignment] = {}
        self._provider_unit: dict[str, np.ndarray] = {}
        self._inputs: AnalysisInputs | None = None

    @classmethod
    def load(cls, settings: Settings) -> Analysis:
        """An Analysis of ``settings.build_dir``; raises NotBuiltError without a manifest."""
        path = settings.build_dir / "manifest.json"
        if not path.is_file():
            raise NotBuiltError(
                f"no built layers in {settings.build_dir}; run `orienter build` "
                "(ORIENTER_BUILD_DIR)"
            )
        return cls(settings, json.loads(path.read_text(encoding="utf-8")))

    # ------------------------------------------------------------------ inputs

    @property
    def inputs(self) -> AnalysisInputs:
        """Grid, population and providers (loaded on first use, then kept)."""
        with self._lock:
            if self._inputs is None:
                self._inputs = load_inputs(self.settings)
            return self._inputs

    @cached_property
    def choices(self) -> dict[str, tuple[str, ...]]:
        """Allowed values of ``level``, ``service``, ``mode`` and ``scenario``."""
        return {
            "level": LEVELS,
            "service": SERVICE_KEYS,
            "mode": tuple(self.manifest.get("modes", [])),
            "scenario": tuple(self.manifest.get("scenarios", [])),
        }

    def check(self, **values: object) -> None:
        """Raise :class:`ChoiceError` for the first unknown value (keys of ``choices``)."""
        for name, value in values.items():
            check_choice(name, value, self.choices[name])

    def units(self, level: str) -> gpd.GeoDataFrame:
        """Boundaries of ``level`` (rows in file order, as in every table)."""
        check_choice("level", level, LEVELS)
        with self._lock:
            if level not in self._units:
                path = find_dataset(self.settings, level)
                if path is None:
                    raise DataFileError(
                        f"no {level} boundaries under {self.settings.data_dir / 'boundaries'}"
                    )
                self._units[level] = read_boundaries(path, level=int(level[-1]))
            return self._units[level]

    def pieces(self, level: str) -> CellAssignment:
        """Grid cells cut by the units of ``level``, with their people."""
        with self._lock:
            if level not in self._pieces:
                demand = self.inputs.demand
                if demand is not None and demand.points is not None:
                    # settlement demand: each point's own cell and unit (point in polygon)
                    where = assign_points(demand.points, self.inputs.grid, self.units(level))
                    if (where.cell < 0).any():
                        raise DataFileError(
                            f"{int((where.cell < 0).sum())} demand point(s) outside the "
                            "travel-time grid; rebuild with this data directory"
                        )
                    self._pieces[level] = where  # type: ignore[assignment]
                else:
                    self._pieces[level] = assign_cells(
                        self.inputs.grid, self.units(level), self.inputs.population
                    )
            return self._pieces[level]

    def _where(self, level: str) -> np.ndarray:
        with self._lock:
            if level not in self._provider_unit:
                units = self.units(level)
                self._provider_unit[level] = provider_units(
                    self.inputs.providers.to_crs(units.crs), units
                )
            return self._provider_unit[level]

    def surface(
        self, service: str, mode: str, scenario: str, *, caseworker: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Minutes to the nearest provider (``inf`` unreachable) and the nearest public
        provider's row of ``inputs.providers`` (-1 none) per active cell.

        Public providers only, unless ``caseworker``: then every provider, confidential
        ones included (``surfaces/all/``; for answers given to a caseworker token only).
        """
        self.check(service=service, mode=mode, scenario=scenario)
        key = (service, mode, scenario, caseworker)
        with self._lock:
            if key in self._surfaces:
                self._surfaces.move_to_end(key)
                return self._surfaces[key]
            root, grid = self.settings.build_dir, self.inputs.grid
            name = f"{service}-{mode}-{scenario}"
            minutes = read_surface(root, grid, name, audience="all" if caseworker else "public")
            minutes = np.where(np.isnan(minutes), np.inf, minutes)
            alloc = np.asarray(
                read_surface(root, grid, f"{name}-allocation", audience="public"), dtype=np.int64
            )
            self._surfaces[key] = (minutes, alloc)
            while len(self._surfaces) > _SURFACE_CACHE:
                self._surfaces.popitem(last=False)
            return minutes, alloc

    # ------------------------------------------------------------------ tables

    def table_from_surface(
        self,
        level: str,
        minutes: np.ndarray,
        allocation: np.ndarray,
        providers: pd.DataFrame,
        offering: np.ndarray,
        *,
        thresholds_min: Sequence[float] = DEFAULT_THRESHOLDS_MIN,
        named: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """The raw (unrounded) coverage table of ``level`` for any surface.

        ``allocation`` holds a row of ``providers`` per cell (-1 none); only rows where
        ``named`` is True (default: public providers) are named or counted per unit.
        """
        units, pieces = self.units(level), self.pieces(level)
        if named is None:
            named = public_mask(providers)
        ids = providers["id"].astype(str).to_numpy()
        where = (
            self._where(level)
            if providers is self.inputs.providers
            else provider_units(providers.to_crs(units.crs), units)
        )
        table = coverage_table(
            np.where(np.isnan(minutes), np.inf, minutes)[pieces.cell],
            pieces.population,
            pieces.unit,
            units,
            thresholds_min=thresholds_min,
            allocation_per_cell=np.asarray(allocation, dtype=np.int64)[pieces.cell],
            provider_ids=[pid if ok else None for pid, ok in zip(ids, named, strict=True)],
            provider_unit=np.where(offering & named, where, -1),
        )
        names = dict(zip(ids, providers["name"].astype(str), strict=True))
        position = table.columns.get_loc("nearest_provider_id") + 1
        table.insert(
            position,
            "nearest_provider_name",
            [None if pid is None else names.get(pid) for pid in table["nearest_provider_id"]],
        )
        return table

    def _conflict(self, level: str) -> tuple[pd.DataFrame | None, Path]:
        path = self.settings.build_dir / "conflict" / f"summary_{level}.csv"
        return (pd.read_csv(path) if path.is_file() else None), path

    def _raw(
        self, level: str, service: str, mode: str, scenario: str, thresholds: tuple[float, ...]
    ) -> tuple[pd.DataFrame, dict]:
        key = (level, service, mode, scenario, thresholds)
        with self._lock:
            if key in self._tables:
                self._tables.move_to_end(key)
                return self._tables[key]
            minutes, alloc = self.surface(service, mode, scenario)
            providers = self.inputs.providers
            offering = providers_offering(providers, service)
            table = self.table_from_surface(
                level, minutes, alloc, providers, offering, thresholds_min=thresholds
            )
            meta = self._meta(level, service, mode, scenario, offering, thresholds)
            self._tables[key] = (table, meta)
            while len(self._tables) > CACHE_SIZE:
                self._tables.popitem(last=False)
            return table, meta

    def _meta(
        self,
        level: str,
        service: str,
        mode: str,
        scenario: str,
        offering: np.ndarray,
        thresholds: Sequence[float],
    ) -> dict:
        inputs = self.inputs
        return {
            "level": level,
            "service": service,
            "mode": mode,
            "scenario": scenario,
            "population_source": inputs.population_source,
            "population_total": round(float(inputs.population.sum())),
            **demand_meta(inputs),
            "providers": int(offering.sum()),
            "built_at": self.manifest.get("built_at"),
            "note": NOTE,
            "thresholds_min": [float(t) for t in thresholds],
            "roads": (self.manifest.get("inputs", {}).get("roads") or {}).get("kind"),
            "providers_public": int((offering & public_mask(inputs.providers)).sum()),
        }

    def coverage(
        self,
        *,
        level: str = "adm1",
        service: str = "one_stop_centre",
        mode: str = "car",
        scenario: str = "baseline",
    ) -> CoverageResult:
        """People within 30 min, 1 h, 2 h and 5 h of ``service`` per unit of ``level``.

        ``max_class`` (conflict) is added when the build holds a conflict summary.
        """
        self.check(level=level, service=service, mode=mode, scenario=scenario)
        table, meta = self._raw(level, service, mode, scenario, tuple(DEFAULT_THRESHOLDS_MIN))
        table = table.copy()
        conflict, _ = self._conflict(level)
        if conflict is not None:
            ranked = rank_underserved(table, threshold_min=120, conflict=conflict)
            table["max_class"] = table["pcode"].map(ranked.set_index("pcode")["max_class"])
        return CoverageResult(_rounded(table), self.units(level), dict(meta), level)

    def underserved(
        self,
        *,
        level: str = "adm1",
        service: str = "one_stop_centre",
        mode: str = "car",
        scenario: str = "baseline",
        threshold_min: float = 120,
    ) -> CoverageResult:
        """Units ranked by the people beyond ``threshold_min`` (``rank_people``) and by
        their share (``rank_share``), with the unit's conflict ``max_class``."""
        self.check(level=level, service=service, mode=mode, scenario=scenario)
        if not (isinstance(threshold_min, int | float) and 1 <= threshold_min <= 1440):
            raise ValueError(f"threshold_min={threshold_min!r}: give minutes from 1 to 1440")
        thresholds = tuple(sorted({*DEFAULT_THRESHOLDS_MIN, float(threshold_min)}))
        table, meta = self._raw(level, service, mode, scenario, thresholds)
        conflict, path = self._conflict(level)
        ranked = rank_underserved(table, threshold_min=threshold_min, conflict=conflict)
        meta = dict(meta)
        meta["threshold_min"] = threshold_min
        meta["conflict_source"] = str(path) if conflict is not None else None
        meta["note"] = (
            "units ranked by the people beyond the threshold (rank_people) and by their "
            "share (rank_share); max_class: highest conflict class of the unit"
        )
        return CoverageResult(_rounded(ranked), self.units(level), meta, level)

    def national(
        self,
        *,
        service: str = "one_stop_centre",
        mode: str = "car",
        scenario: str = "baseline",
    ) -> dict:
        """National key figures: people within each threshold, their share, the
        population-weighted median and 90th-percentile time (``inf``: unreachable)."""
        table, meta = self._raw("adm1", service, mode, scenario, tuple(DEFAULT_THRESHOLDS_MIN))
        minutes, _ = self.surface(service, mode, scenario)
        pieces = self.pieces("adm1")
        inside = pieces.unit >= 0
        times, people = minutes[pieces.cell][inside], pieces.population[inside]
        total = float(table["population"].sum())
        out: dict[str, Any] = {"population": round(total)}
        for t in DEFAULT_THRESHOLDS_MIN:
            within = float(table[f"pop_within_{t:g}"].sum())
            out[f"pop_within_{t:g}"] = round(within)
            out[f"share_within_{t:g}"] = round(within / total, 4) if total > 0 else None
        for name, q in (("median_time_min", 0.5), ("p90_time_min", 0.9)):
            value = weighted_quantile(times, people, q) if total > 0 else float("nan")
            out[name] = round(value) if np.isfinite(value) else None
        out["meta"] = {k: v for k, v in meta.items() if k != "level"}
        return out
