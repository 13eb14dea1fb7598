"""Conflict zones of a build: events of the data directory turned into zones and tables.

``orienter build`` writes ``<build_dir>/conflict/``: the zone class and event density per
grid cell (``zone.npy``, ``density.npy``), the zone polygons (``zones.parquet``), the
per-unit summaries (``summary_adm1..3.csv``) and what they rest on (``meta.json``).
``orienter conflict summary`` computes the same zones without writing them.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
from shapely.geometry.base import BaseGeometry

from api.datasets import find_dataset
from api.settings import Settings
from geo.boundaries import read_boundaries
from geo.conflict import clip_to_country, filter_events, read_conflict_events
from geo.grid import Grid
from geo.store import atomic_path
from geo.zones import (
    DEFAULT_BANDWIDTH_M,
    DEFAULT_EVENT_TYPES,
    ConflictSurface,
    admin_summary,
    conflict_surface,
    default_window,
    zone_polygons,
)

__all__ = ["ConflictOptions", "load_conflict", "write_conflict"]


@dataclass(frozen=True)
class ConflictOptions:
    """Which events make the conflict zones (defaults: see ``geo.zones``)."""

    start: date | None = None
    end: date | None = None
    event_types: tuple[str, ...] = DEFAULT_EVENT_TYPES
    bandwidth_m: float = DEFAULT_BANDWIDTH_M
    weight: str = "count"


def load_conflict(
    settings: Settings, grid: Grid, country: BaseGeometry, options: ConflictOptions
) -> tuple[ConflictSurface, gpd.GeoDataFrame, int] | None:
    """Zones from the data directory's conflict events; None when there is no event file.

    Returns the surface, the events used (window and types) and how many events were
    dropped for lying outside Mali.
    """
    path = find_dataset(settings, "conflict")
    if path is None:
        return None
    events = read_conflict_events(path)
    inside, dropped = clip_to_country(events, country)
    start, end = options.start, options.end
    if start is None or end is None:
        d_start, d_end = default_window(inside)
        start, end = start or d_start, end or d_end
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        used = filter_events(inside, start=start, end=end, event_types=list(options.event_types))
    surface = conflict_surface(
        used, grid, start=start, end=end, bandwidth_m=options.bandwidth_m, weight=options.weight
    )
    return surface, used, dropped


def write_conflict(
    root: Path, settings: Settings, zones: ConflictSurface, events: gpd.GeoDataFrame, dropped: int
) -> None:
    """Write ``<root>/conflict/``: zone rasters, polygons, per-unit summaries, meta (atomically)."""
    out = root / "conflict"
    out.mkdir(parents=True, exist_ok=True)
    for name, array in (("zone", zones.zone), ("density", zones.density)):
        with atomic_path(out / f"{name}.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, array)
    polygons = zone_polygons(zones, events)
    with atomic_path(out / "zones.parquet") as tmp:
        polygons.to_parquet(tmp)
    for level in (1, 2, 3):
        path = find_dataset(settings, f"adm{level}")
        if path is None:
            continue
        summary = admin_summary(zones, events, read_boundaries(path, level=level))
        with atomic_path(out / f"summary_adm{level}.csv") as tmp:
            summary.to_csv(tmp, index=False)
    with atomic_path(out / "meta.json") as tmp:
        tmp.write_text(
            json.dumps({**zones.describe(), "dropped_outside_mali": dropped}, indent=2),
            encoding="utf-8",
        )
