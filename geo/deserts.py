"""Service deserts: contiguous areas beyond a travel time, with the people in them."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from rasterio import features
from scipy import ndimage

from geo._validate import as_1d
from geo.crs import GEOGRAPHIC_CRS
from geo.grid import Grid

__all__ = ["service_deserts"]


def service_deserts(
    minutes: np.ndarray,
    population: np.ndarray,
    grid: Grid,
    *,
    threshold_min: float,
    min_population: float = 0.0,
) -> gpd.GeoDataFrame:
    """Contiguous areas (8-connected cells) beyond ``threshold_min``, with their people.

    Parameters
    ----------
    minutes
        Minutes per active cell, node order (``inf``/NaN = unreachable, counted beyond).
    population
        People per active cell, node order.
    grid
        The travel-time grid.
    threshold_min
        Minutes; cells with a time strictly greater are in a desert.
    min_population
        Drop deserts with fewer people.

    Returns
    -------
    geopandas.GeoDataFrame
        ``desert_id``, ``population``, ``n_cells``, ``area_km2``, ``max_time_min`` (inf
        when part of it is unreachable), polygon geometry in EPSG:4326, most people first.
    """
    mins = as_1d(minutes, "minutes")
    pop = as_1d(population, "population")
    if len(mins) < grid.n_cells or len(pop) != grid.n_cells:
        raise ValueError(
            f"minutes ({len(mins)}) and population ({len(pop)}) must hold one value per "
            f"active cell ({grid.n_cells})"
        )
    if not threshold_min > 0:
        raise ValueError(f"threshold_min must be > 0 minutes, got {threshold_min!r}")
    mins = np.where(np.isnan(mins[: grid.n_cells]), np.inf, mins[: grid.n_cells])
    beyond = grid.to_raster(mins > threshold_min, fill=False).astype(bool)
    labels, count = ndimage.label(beyond, structure=np.ones((3, 3), dtype=int))
    empty = gpd.GeoDataFrame(
        {"desert_id": [], "population": [], "n_cells": [], "area_km2": [], "max_time_min": []},
        geometry=[],
        crs=GEOGRAPHIC_CRS,
    )
    if count == 0:
        return empty
    cell_label = labels[grid.active]
    people = np.bincount(cell_label, weights=pop, minlength=count + 1)
    n_cells = np.bincount(cell_label, minlength=count + 1)
    worst = np.zeros(count + 1)
    np.maximum.at(worst, cell_label, mins)
    geoms: dict[int, list] = {}
    for geom, value in features.shapes(
        labels.astype(np.int32), mask=labels > 0, transform=grid.transform, connectivity=8
    ):
        geoms.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    ids = np.arange(1, count + 1)
    out = gpd.GeoDataFrame(
        {
            "desert_id": ids,
            "population": people[1:],
            "n_cells": n_cells[1:],
            "area_km2": n_cells[1:] * (grid.cell_m / 1000.0) ** 2,
            "max_time_min": worst[1:],
        },
        geometry=[shapely.union_all(geoms[i]) for i in ids],
        crs=grid.crs,
    )
    out = out[out["population"] >= min_population]
    out = out.sort_values("population", ascending=False, kind="stable").reset_index(drop=True)
    return out.to_crs(GEOGRAPHIC_CRS)
