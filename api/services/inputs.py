"""What every coverage figure rests on, loaded once from a build and the data directory.

:func:`load_inputs` reads the build's manifest, rebuilds its grid, and puts the build's
population raster on it with the demand model of the settings (grid cells, or settlements;
calibrated to a census table when one is set).  :func:`read_surface` reads a built
travel-time raster back onto that grid, one value per active cell.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio

from api.build.manifest import GRID_BUFFER_M, read_manifest
from api.datasets import find_dataset
from api.settings import Settings
from geo.boundaries import read_boundaries
from geo.crs import METRIC_CRS
from geo.demand import Demand, build_demand
from geo.errors import DataFileError, DataValidationError
from geo.grid import Grid, make_grid
from geo.population import read_population_raster, read_population_table
from geo.settlements import read_settlements

__all__ = ["AnalysisInputs", "demand_meta", "load_inputs", "read_surface"]


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
    manifest = read_manifest(root)
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
