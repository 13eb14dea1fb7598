"""Write GeoPackages that open styled in QGIS, and Cloud-Optimised GeoTIFFs.

Pure writers (GDAL through pyogrio and rasterio): frames, arrays and text in, files out.

- :func:`write_vector_layer` one vector or attribute table, with a title and a description
  (``gpkg_contents.identifier`` / ``description``);
- :func:`write_gpkg_raster` one raster table (GDAL's GPKG raster driver: Float32 tiles of
  the "tiled gridded coverage" extension), with overviews;
- :func:`write_layer_styles` the ``layer_styles`` table QGIS reads default styles from (the
  schema QGIS itself creates, see :class:`LayerStyle`);
- :func:`write_cog` a Cloud-Optimised GeoTIFF (GDAL's COG driver: tiled, compressed,
  internal overviews, header first).

Call them on a path that is not yet in place (a temporary file) and move it when every
layer is written: these functions add layers to a file, they do not replace it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.enums import Resampling
from rasterio.io import MemoryFile

__all__ = [
    "GPKG_VERSION",
    "LAYER_STYLES",
    "LayerStyle",
    "write_cog",
    "write_gpkg_raster",
    "write_layer_styles",
    "write_vector_layer",
]

#: GeoPackage version written: 1.2 is read by every GDAL since 2.2 (QGIS 3.x included);
#: GDAL 3.10 would otherwise write 1.4, which older GDAL builds only partly support.
GPKG_VERSION = "1.2"
#: Name of the styles table QGIS reads.
LAYER_STYLES = "layer_styles"
#: Geometry column name pyogrio / GDAL give vector layers of a GeoPackage.
GEOMETRY_COLUMN = "geom"
_TILE_PX = 256


def _creation_options(path: Path) -> dict[str, str]:
    """Dataset options for the first layer written to a new file, none afterwards."""
    return {} if path.exists() else {"VERSION": GPKG_VERSION}


def write_vector_layer(
    path: str | Path,
    frame: pd.DataFrame,
    layer: str,
    *,
    title: str,
    description: str,
) -> None:
    """Add ``frame`` to the GeoPackage ``path`` as table ``layer``.

    A GeoDataFrame becomes a vector layer (geometry column ``geom``, its CRS); a plain
    DataFrame an attribute table.  ``title`` and ``description`` go to
    ``gpkg_contents`` (identifier, description), where QGIS's browser shows them.
    """
    path = Path(path)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a (Geo)DataFrame, got {type(frame).__name__}")
    if not layer or not layer.replace("_", "").isalnum():
        raise ValueError(f"layer={layer!r}: use letters, digits and underscores")
    options = {"IDENTIFIER": title, "DESCRIPTION": description}
    if not isinstance(frame, gpd.GeoDataFrame):
        options["ASPATIAL_VARIANT"] = "GPKG_ATTRIBUTES"
    pyogrio.write_dataframe(
        frame,
        path,
        layer=layer,
        driver="GPKG",
        dataset_options=_creation_options(path),
        layer_options=options,
    )


@dataclass(frozen=True)
class LayerStyle:
    """One row of ``layer_styles``: the QML (and optional SLD) of table ``table``.

    ``geometry_column`` is ``geom`` for a vector layer of this module and ``""`` for a
    raster table (what QGIS's GDAL provider looks for).
    """

    table: str
    qml: str
    name: str
    description: str = ""
    geometry_column: str = GEOMETRY_COLUMN
    sld: str = ""
    default: bool = True


def write_layer_styles(
    path: str | Path, styles: Sequence[LayerStyle], *, now: datetime | None = None
) -> None:
    """Add the ``layer_styles`` table QGIS reads default layer styles from.

    The columns and their types are those QGIS creates when it saves a style to a
    GeoPackage (``f_table_catalog``, ``f_table_schema``, ``f_table_name``,
    ``f_geometry_column``, ``styleName``, ``styleQML``, ``styleSLD``, ``useAsDefault``,
    ``description``, ``owner``, ``ui``, ``update_time``; primary key ``id``); QGIS
    selects rows with an empty ``f_table_schema``, so empty strings are written, not nulls.
    """
    if not styles:
        raise ValueError("styles must not be empty")
    tables = [s.table for s in styles if s.default]
    if len(tables) != len(set(tables)):
        raise ValueError(f"more than one default style for a table: {sorted(tables)}")
    stamp = (now or datetime.now(UTC)).replace(tzinfo=None)
    rows = pd.DataFrame(
        {
            "f_table_catalog": [""] * len(styles),
            "f_table_schema": [""] * len(styles),
            "f_table_name": [s.table for s in styles],
            "f_geometry_column": [s.geometry_column for s in styles],
            "styleName": [s.name for s in styles],
            "styleQML": [s.qml for s in styles],
            "styleSLD": [s.sld for s in styles],
            "useAsDefault": [bool(s.default) for s in styles],
            "description": [s.description for s in styles],
            "owner": [""] * len(styles),
            "ui": [""] * len(styles),
            "update_time": pd.Series([stamp] * len(styles), dtype="datetime64[ms]"),
        }
    )
    path = Path(path)
    pyogrio.write_dataframe(
        rows,
        path,
        layer=LAYER_STYLES,
        driver="GPKG",
        dataset_options=_creation_options(path),
        layer_options={
            "FID": "id",
            "ASPATIAL_VARIANT": "GPKG_ATTRIBUTES",
            "DESCRIPTION": "QGIS layer styles (QML), one default per layer",
        },
    )


def _check_band(band: np.ndarray, transform: Affine) -> np.ndarray:
    band = np.asarray(band)
    if band.ndim != 2 or band.size == 0:
        raise ValueError(f"band must be a non-empty 2-D array, got shape {band.shape}")
    if not isinstance(transform, Affine):
        raise TypeError(f"transform must be an affine.Affine, got {type(transform).__name__}")
    return band


def _overview_factors(shape: tuple[int, int]) -> list[int]:
    """2, 4, 8 ... until the coarsest overview fits in one tile."""
    factors, factor = [], 2
    while max(shape) / (factor // 2) > _TILE_PX:
        factors.append(factor)
        factor *= 2
    return factors


def write_gpkg_raster(
    path: str | Path,
    band: np.ndarray,
    *,
    table: str,
    transform: Affine,
    crs: object,
    nodata: float | None,
    title: str,
    description: str,
) -> list[int]:
    """Add one raster band to the GeoPackage ``path`` as tile table ``table``.

    Float bands are stored as Float32 TIFF tiles (GeoPackage "tiled gridded coverage"
    extension), cell values unchanged; NaN stays NaN.  Overviews are added (nearest
    neighbour: a travel time is never averaged).  Returns the overview factors.
    """
    path = Path(path)
    band = _check_band(band, transform)
    profile = {
        "driver": "GPKG",
        "width": band.shape[1],
        "height": band.shape[0],
        "count": 1,
        "dtype": "float32",
        "crs": crs,
        "transform": transform,
        "nodata": None if nodata is None or np.isnan(nodata) else nodata,
    }
    options = {
        "RASTER_TABLE": table,
        "RASTER_IDENTIFIER": title,
        "RASTER_DESCRIPTION": description,
        "TILE_FORMAT": "TIFF",
        "GRID_CELL_ENCODING": "grid-value-is-area",
        "BLOCKSIZE": str(_TILE_PX),
    }
    if path.exists():
        options["APPEND_SUBDATASET"] = "YES"
    else:
        options["VERSION"] = GPKG_VERSION
    with rasterio.open(path, "w", **profile, **options) as dst:
        dst.write(band.astype(np.float32), 1)
    factors = _overview_factors(band.shape)
    if factors:
        with rasterio.open(f"GPKG:{path}:{table}", "r+") as dst:
            dst.build_overviews(factors, Resampling.nearest)
    return factors


def write_cog(
    path: str | Path,
    band: np.ndarray,
    *,
    transform: Affine,
    crs: object,
    nodata: float | None,
    tags: Mapping[str, object] | None = None,
    band_description: str = "",
) -> None:
    """Write one band as a Cloud-Optimised GeoTIFF (GDAL's COG driver).

    256-pixel tiles, DEFLATE with a predictor, internal overviews by nearest neighbour,
    the layout ``rio cogeo validate`` and GDAL's COG check accept.  ``path`` is
    written directly: give a temporary name and move it into place.
    """
    band = _check_band(band, transform)
    profile = {
        "driver": "GTiff",
        "width": band.shape[1],
        "height": band.shape[0],
        "count": 1,
        "dtype": band.dtype,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
    }
    with MemoryFile() as memory, memory.open(**profile) as staged:
        staged.write(band, 1)
        if tags:
            staged.update_tags(**{k: str(v) for k, v in tags.items()})
        if band_description:
            staged.set_band_description(1, band_description)
        rasterio.shutil.copy(
            staged,
            str(path),
            driver="COG",
            COMPRESS="DEFLATE",
            PREDICTOR="YES",
            BLOCKSIZE=str(_TILE_PX),
            OVERVIEW_RESAMPLING="NEAREST",
            OVERVIEWS="IGNORE_EXISTING",
        )
