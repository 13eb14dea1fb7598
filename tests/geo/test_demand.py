from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS
from shapely.geometry import box

from geo.crs import METRIC_CRS
from geo.demand import population_on_grid
from geo.grid import Grid
from geo.population import PopulationRaster


def _grid(n=20):
    return Grid(
        crs=METRIC_CRS,
        x0=0.0,
        y0=n * 1000.0,
        cell_m=1000.0,
        nrows=n,
        ncols=n,
        active=np.ones((n, n), bool),
    )


def test_coarse_source_spreads_density_over_fine_cells():
    # a 2 x 2 source of 10 km cells in the grid's own CRS: 100 km² each
    counts = np.array([[1000.0, 0.0], [500.0, np.nan]])
    raster = PopulationRaster(
        counts=counts,
        transform=Affine(10_000, 0, 0, 0, -10_000, 20_000),
        crs=CRS.from_user_input(METRIC_CRS),
        kind_detected="count",
        source="test",
        kind_rule="argument",
    )
    people = _grid().to_raster(population_on_grid(raster, _grid()))
    assert people.sum() == pytest.approx(1500.0)
    assert people[:10, :10] == pytest.approx(np.full((10, 10), 10.0))  # 1000 / 100 cells
    inside = population_on_grid(raster, _grid(), area=box(0, 10_000, 5_000, 20_000))
    assert inside.sum() == pytest.approx(500.0)  # only the 50 cells of that half


def test_fine_source_is_summed_into_grid_cells():
    counts = np.ones((40, 40))  # 500 m cells over the 20 km grid
    raster = PopulationRaster(
        counts=counts,
        transform=Affine(500, 0, 0, 0, -500, 20_000),
        crs=CRS.from_user_input(METRIC_CRS),
        kind_detected="count",
        source="test",
        kind_rule="argument",
    )
    people = population_on_grid(raster, _grid())
    assert people.sum() == pytest.approx(1600.0)
    assert np.allclose(people, 4.0)
