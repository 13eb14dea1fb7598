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
``pop_beyond_30/60/120/300``, ``share_within_30/60/120/300`` and
``share_beyond_30/60/120/300`` (0-1), ``median_time_min``, ``p90_time_min`` (``inf``:
more than half, resp. 10 %, of the people cannot reach any provider),
``nearest_provider_id`` and ``nearest_provider_name`` (the *public* provider nearest to
most of the unit's people), ``n_providers`` (public providers of the service located
in the unit), ``offroad_share``, ``detour_share`` and ``time_flags`` (people reaching
care on a route flagged off-road or a long detour, and the unit's flags:
:mod:`api.services.route_shares`), and ``max_class`` (highest conflict class of the
unit) when the build holds a conflict summary.  Figures are rounded as published
(:func:`geo.coverage.published_figures`): whole people (beyond = population - within),
shares of those whole people to 1e-4, minutes to 1.

Every figure is computed from public providers only: a confidential provider (shelter,
safe house) changes no table, ranking or count, since aggregates over small units would
locate it (``inputs.providers`` holds the public rows of the build).  Caseworker code
paths may ask :meth:`Analysis.surface` for every provider's surface explicitly.

Errors: :class:`api.choices.ChoiceError` (a ``ValueError`` naming the parameter and the
allowed values) for an unknown level, service, mode or scenario; ``NotBuiltError``
when the build directory holds no manifest; :class:`geo.errors.DataFileError` for a
missing boundary, population raster or surface.

Tables are computed on first use and kept (LRU, :data:`CACHE_SIZE` tables); an
:class:`Analysis` is safe to share between threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from api.build.manifest import read_manifest
from api.choices import LEVELS, SERVICE_KEYS, check_choice
from api.datasets import find_dataset
from api.services.coverage_result import CoverageResult, to_records
from api.services.frames import (
    FRAME_LEVEL,
    Frame2023,
    choose_frame,
    framed_table,
    load_frame,
)
from api.services.inputs import AnalysisInputs, demand_meta, load_inputs, read_surface
from api.services.route_shares import Flags, cell_route_flags
from api.settings import Settings
from geo.boundaries import read_boundaries
from geo.coverage import (
    CLINICAL_WINDOWS_MIN,
    DEFAULT_THRESHOLDS_MIN,
    coverage_table,
    published_figures,
    weighted_quantile,
)
from geo.coverage import underserved as rank_underserved
from geo.errors import DataFileError
from geo.nearest import providers_offering
from geo.providers import public_mask
from geo.units import CellAssignment, assign_cells, assign_points, provider_units

__all__ = ["CACHE_SIZE", "NOTE", "Analysis", "CoverageResult", "table_thresholds", "to_records"]

#: How many coverage tables one Analysis keeps.
CACHE_SIZE = 64
_SURFACE_CACHE = 8
NOTE = (
    "median_time_min / p90_time_min null: more than half (10 %) of the people cannot "
    "reach any provider"
)


def table_thresholds(service: str) -> tuple[float, ...]:
    """The thresholds of a coverage table of ``service``, minutes: 30 min, 1, 2 and 5 h,
    and for medical care the clinical windows (PEP 72 h, emergency contraception 120 h)."""
    windows = CLINICAL_WINDOWS_MIN.values() if service == "medical" else ()
    return tuple(float(t) for t in sorted({*DEFAULT_THRESHOLDS_MIN, *windows}))


def _rounded(table: pd.DataFrame) -> pd.DataFrame:
    """The one counting rule of every output (:func:`geo.coverage.published_figures`)."""
    return published_figures(table)


class Analysis:
    """Coverage tables of one build directory, computed once each and kept.

    Create it with :meth:`load`; heavy inputs (grid, population, boundaries) load on
    the first table, not before.
    """

    def __init__(self, settings: Settings, manifest: dict) -> None:
        self.settings = settings
        self.manifest = manifest
        # guards the dictionaries only; each computation holds its own key's lock, so a
        # page asking for a kept table never waits behind another table being computed
        self._lock = threading.RLock()
        self._computing: dict[tuple[int, tuple], threading.Lock] = {}
        self._tables: OrderedDict[tuple, tuple[pd.DataFrame, dict]] = OrderedDict()
        self._surfaces: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._units: dict[str, gpd.GeoDataFrame] = {}
        self._pieces: dict[str, CellAssignment] = {}
        self._provider_unit: dict[str, np.ndarray] = {}
        self._inputs: AnalysisInputs | None = None
        self._national: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()
        self._frame: Frame2023 | None = None
        self._flags: OrderedDict[tuple[str, str, str], Flags | None] = OrderedDict()

    @classmethod
    def load(cls, settings: Settings) -> Analysis:
        """An Analysis of ``settings.build_dir``; raises NotBuiltError without a manifest."""
        return cls(settings, read_manifest(settings.build_dir))

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

    def frame_2023(self) -> Frame2023:
        """The 2023 régions regrouped from the 2015 cercles (:mod:`api.services.frames`)."""
        with self._lock:
            if self._frame is None:
                self._frame = load_frame(self.settings, self.units("adm2"))
            return self._frame

    def frame_level(self, level: str, frame: str | None) -> tuple[str, dict, Frame2023 | None]:
        """The level key of ``level`` in ``frame`` (None: the boundary files' frame), what
        the frame rests on, and the crosswalk's frame when cercles and communes need their
        2023 région.  Raises :class:`api.services.frames.FrameError`."""
        chosen, crosswalk = choose_frame(frame, len(self.units("adm1")))
        if not crosswalk:
            return level, {"frame": chosen}, None
        found = self.frame_2023()
        if level == "adm1":
            return FRAME_LEVEL, found.describe(), None
        return level, found.describe(), found

    def units(self, level: str) -> gpd.GeoDataFrame:
        """Boundaries of ``level`` (rows in file order, as in every table)."""
        if level == FRAME_LEVEL:
            return self.frame_2023().regions
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
            if level == FRAME_LEVEL and level not in self._pieces:
                self._pieces[level] = self.frame_2023().pieces(self.pieces("adm2"))
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
            if level == FRAME_LEVEL and level not in self._provider_unit:
                self._provider_unit[level] = self.frame_2023().provider_units(self._where("adm2"))
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
        grid = self.inputs.grid

        def read() -> tuple[np.ndarray, np.ndarray]:
            root, name = self.settings.build_dir, f"{service}-{mode}-{scenario}"
            minutes = read_surface(root, grid, name, audience="all" if caseworker else "public")
            alloc = read_surface(root, grid, f"{name}-allocation", audience="public")
            return np.where(np.isnan(minutes), np.inf, minutes), np.asarray(alloc, np.int64)

        return self._kept(self._surfaces, key, read, _SURFACE_CACHE)

    def cell_flags(self, service: str, mode: str, scenario: str) -> Flags | None:
        """:func:`~api.services.route_shares.cell_route_flags` of the build, kept."""

        def compute() -> Flags | None:
            build, grid = self.settings.build_dir, self.inputs.grid
            return cell_route_flags(build, grid, service=service, mode=mode, scenario=scenario)

        return self._kept(self._flags, (service, mode, scenario), compute, _SURFACE_CACHE)

    def _kept(self, cache: OrderedDict, key: tuple, compute: Callable[[], Any], limit: int) -> Any:
        """``cache[key]``, computed once by ``compute()`` if absent (least recently used
        entries beyond ``limit`` dropped).  Threads asking for the same key wait for one
        computation; threads asking for other keys do not wait at all."""
        with self._lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
            guard = self._computing.setdefault((id(cache), key), threading.Lock())
        with guard:
            with self._lock:
                if key in cache:  # computed while this thread waited
                    cache.move_to_end(key)
                    return cache[key]
            value = compute()
            with self._lock:
                cache[key] = value
                while len(cache) > limit:
                    cache.popitem(last=False)
                self._computing.pop((id(cache), key), None)
            return value

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
        flags: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> pd.DataFrame:
        """The raw (unrounded) coverage table of ``level`` for any surface.

        ``allocation`` holds a row of ``providers`` per cell (-1 none); only rows where
        ``named`` is True (default: public providers) are named or counted per unit;
        ``flags`` (offroad, detour per cell) add the route flag columns.
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
            offroad_per_cell=None if flags is None else flags[0][pieces.cell],
            detour_per_cell=None if flags is None else flags[1][pieces.cell],
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
        if level == FRAME_LEVEL:
            summary, path = self._conflict("adm2")
            return self.frame_2023().conflict(summary), path
        path = self.settings.build_dir / "conflict" / f"summary_{level}.csv"
        return (pd.read_csv(path) if path.is_file() else None), path

    def _raw(
        self, level: str, service: str, mode: str, scenario: str, thresholds: tuple[float, ...]
    ) -> tuple[pd.DataFrame, dict]:
        key = (level, service, mode, scenario, thresholds)

        def compute() -> tuple[pd.DataFrame, dict]:
            minutes, alloc = self.surface(service, mode, scenario)
            providers = self.inputs.providers
            offering = providers_offering(providers, service)
            flags = self.cell_flags(service, mode, scenario)
            table = self.table_from_surface(
                level, minutes, alloc, providers, offering, thresholds_min=thresholds, flags=flags
            )
            return table, self._meta(level, service, mode, scenario, offering, thresholds)

        return self._kept(self._tables, key, compute, CACHE_SIZE)

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

    def cache_state(self) -> dict[str, Any]:
        """What the analysis keeps (tables, surfaces, unit pieces) and roughly how many
        bytes (``/api/v1/health``); every cache is bounded."""
        with self._lock:
            surfaces = sum(m.nbytes + a.nbytes for m, a in self._surfaces.values())
            tables = sum(
                int(t.memory_usage(index=True, deep=False).sum()) for t, _ in self._tables.values()
            )
            pieces = sum(
                sum(getattr(p, f).nbytes for f in ("cell", "unit", "population"))
                for p in self._pieces.values()
            )
            flags = sum(sum(a.nbytes for a in f) for f in self._flags.values() if f is not None)
            return {
                "tables": len(self._tables),
                "tables_limit": CACHE_SIZE,
                "surfaces": len(self._surfaces),
                "surfaces_limit": _SURFACE_CACHE,
                "route_flags": len(self._flags),
                "route_flags_limit": _SURFACE_CACHE,
                "bytes": surfaces + tables + pieces + flags,
            }

    def coverage_ready(
        self,
        *,
        level: str,
        service: str,
        mode: str,
        scenario: str = "baseline",
        frame: str | None = None,
    ) -> bool:
        """True when :meth:`coverage` of these arguments is kept already (no work to do)."""
        key_level = level if frame is None else self.frame_level(level, frame)[0]
        key = (key_level, service, mode, scenario, table_thresholds(service))
        with self._lock:
            return key in self._tables

    def coverage(
        self,
        *,
        level: str = "adm1",
        service: str = "one_stop_centre",
        mode: str = "car",
        scenario: str = "baseline",
        frame: str | None = None,
    ) -> CoverageResult:
        """People within 30 min, 1 h, 2 h and 5 h of ``service`` per unit of ``level``
        (and, for medical care, within the clinical windows of 72 h and 120 h).

        ``max_class`` (conflict) is added when the build holds a conflict summary.
        ``frame`` ("2015", "2023"; None: the boundary files' own) chooses the régions;
        régions of 2023 built from 2015 cercles carry ``approximate``, cercles and
        communes their ``region_2023`` (:mod:`api.services.frames`).
        """
        self.check(level=level, service=service, mode=mode, scenario=scenario)
        key_level, frame_meta, annotate = self.frame_level(level, frame)
        table, meta = self._raw(key_level, service, mode, scenario, table_thresholds(service))
        table = table.copy()
        conflict, _ = self._conflict(key_level)
        if conflict is not None:
            ranked = rank_underserved(table, threshold_min=120, conflict=conflict)
            table["max_class"] = table["pcode"].map(ranked.set_index("pcode")["max_class"])
        table = framed_table(table, self.units(key_level), key_level, annotate)
        meta = {**meta, "level": level, **frame_meta}
        return CoverageResult(_rounded(table), self.units(key_level), meta, level)

    def underserved(
        self,
        *,
        level: str = "adm1",
        service: str = "one_stop_centre",
        mode: str = "car",
        scenario: str = "baseline",
        threshold_min: float = 120,
        frame: str | None = None,
    ) -> CoverageResult:
        """Units ranked by the people beyond ``threshold_min`` (``rank_people``) and by
        their share (``rank_share``), with the unit's conflict ``max_class``.

        ``threshold_min``: 1 to 1440 minutes, or a clinical window (4320, 7200)."""
        self.check(level=level, service=service, mode=mode, scenario=scenario)
        windows = tuple(CLINICAL_WINDOWS_MIN.values())
        if not (
            isinstance(threshold_min, int | float)
            and (1 <= threshold_min <= 1440 or threshold_min in windows)
        ):
            raise ValueError(
                f"threshold_min={threshold_min!r}: give minutes from 1 to 1440, or a "
                f"clinical window ({', '.join(str(w) for w in windows)})"
            )
        key_level, frame_meta, annotate = self.frame_level(level, frame)
        thresholds = tuple(sorted({*table_thresholds(service), float(threshold_min)}))
        table, meta = self._raw(key_level, service, mode, scenario, thresholds)
        conflict, path = self._conflict(key_level)
        # ranked on the published (whole-people) figures: the ranking's people beyond
        # are the coverage table's, to the person
        ranked = rank_underserved(_rounded(table), threshold_min=threshold_min, conflict=conflict)
        ranked = framed_table(ranked, self.units(key_level), key_level, annotate)
        meta = {
            **meta,
            "level": level,
            **frame_meta,
            **self._ranking_meta(threshold_min, path if conflict is not None else None),
        }
        return CoverageResult(_rounded(ranked), self.units(key_level), meta, level)

    def surface_coverage(
        self,
        level: str,
        minutes: np.ndarray,
        allocation: np.ndarray,
        providers: pd.DataFrame,
        *,
        label: str,
        mode: str,
        scenario: str,
        threshold_min: float | None = None,
    ) -> CoverageResult:
        """Coverage of ``level`` for any surface of ``providers`` (all named, e.g. every
        WHO/KEMRI facility): the table of :meth:`coverage`, or, with ``threshold_min``,
        ranked as :meth:`underserved` does.  ``label`` names the providers in ``meta``."""
        offering = np.ones(len(providers), dtype=bool)  # every one offers it, every one named
        thresholds = sorted({*DEFAULT_THRESHOLDS_MIN, *([threshold_min] if threshold_min else [])})
        table = self.table_from_surface(
            level,
            minutes,
            allocation,
            providers,
            offering,
            thresholds_min=thresholds,
            named=offering,
        )
        table = _rounded(table)
        conflict, path = self._conflict(level)
        if threshold_min is not None:
            table = rank_underserved(table, threshold_min=threshold_min, conflict=conflict)
            table = _rounded(table)
        elif conflict is not None:
            ranked = rank_underserved(table, threshold_min=120, conflict=conflict)
            table["max_class"] = table["pcode"].map(ranked.set_index("pcode")["max_class"])
        inputs = self.inputs
        meta = {
            "level": level,
            "service": label,
            "mode": mode,
            "scenario": scenario,
            "population_source": inputs.population_source,
            "population_total": round(float(inputs.population.sum())),
            **demand_meta(inputs),
            "providers": len(providers),
            "built_at": inputs.manifest.get("built_at"),
            "note": NOTE,
        }
        if threshold_min is not None:
            meta.update(self._ranking_meta(threshold_min, path if conflict is not None else None))
        return CoverageResult(table, self.units(level), meta, level)

    @staticmethod
    def _ranking_meta(threshold_min: float, conflict_path: Path | None) -> dict[str, Any]:
        return {
            "threshold_min": threshold_min,
            "conflict_source": None if conflict_path is None else str(conflict_path),
            "note": (
                "units ranked by the people beyond the threshold (rank_people) and by their "
                "share (rank_share); max_class: highest conflict class of the unit"
            ),
        }

    def national(
        self,
        *,
        service: str = "one_stop_centre",
        mode: str = "car",
        scenario: str = "baseline",
    ) -> dict:
        """National key figures: people within each threshold, their share, the
        population-weighted median and 90th-percentile time (``inf``: unreachable).
        Computed once per (service, mode, scenario), then kept."""
        self.check(service=service, mode=mode, scenario=scenario)
        found = self._kept(
            self._national,
            (service, mode, scenario),
            lambda: self._national_figures(service, mode, scenario),
            CACHE_SIZE,
        )
        return {**found, "meta": dict(found["meta"])}

    def _national_figures(self, service: str, mode: str, scenario: str) -> dict[str, Any]:
        thresholds = table_thresholds(service)
        raw, meta = self._raw("adm1", service, mode, scenario, thresholds)
        # the sums of the régions' published figures: a table's column adds up to them
        table = _rounded(raw)
        minutes, _ = self.surface(service, mode, scenario)
        pieces = self.pieces("adm1")
        inside = pieces.unit >= 0
        times, people = minutes[pieces.cell][inside], pieces.population[inside]
        total = int(table["population"].sum())
        out: dict[str, Any] = {"population": total}
        for t in thresholds:
            within = int(table[f"pop_within_{t:g}"].sum())
            out[f"pop_within_{t:g}"] = within
            out[f"pop_beyond_{t:g}"] = total - within
            out[f"share_within_{t:g}"] = round(within / total, 4) if total > 0 else None
            out[f"share_beyond_{t:g}"] = round((total - within) / total, 4) if total > 0 else None
        for name, q in (("median_time_min", 0.5), ("p90_time_min", 0.9)):
            value = weighted_quantile(times, people, q) if total > 0 else float("nan")
            out[name] = round(value) if np.isfinite(value) else None
        out["meta"] = {k: v for k, v in meta.items() if k != "level"}
        return out
