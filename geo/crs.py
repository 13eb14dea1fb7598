"""Coordinate reference systems used by Orienter, and CRS discipline.

Data are stored and exchanged in EPSG:4326.  Distances and grids use one metric CRS
chosen for Mali (a Lambert azimuthal equal-area projection centred on the country),
so that 1 km grid cells are true 1 km squares and areas are exact.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
from pyproj import CRS

from geo.errors import CRSMismatchError

__all__ = ["GEOGRAPHIC_CRS", "MALI_BBOX", "METRIC_CRS", "check_same_crs", "ensure_geographic"]

GEOGRAPHIC_CRS = CRS.from_epsg(4326)
#: Lambert azimuthal equal-area centred on Mali (17.5 N, 4 W).  Scale error stays
#: below 0.5 % over the country, so lengths in it are good to that order and areas exact.
METRIC_CRS = CRS.from_proj4(
    "+proj=laea +lat_0=17.5 +lon_0=-4 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
)
#: Mali's bounding box in EPSG:4326 degrees, rounded outwards:
#: (lon_min, lat_min, lon_max, lat_max).  A quick "is this point near Mali" test and the
#: maps' initial view; the ADM0 polygon is the exact test.
MALI_BBOX: tuple[float, float, float, float] = (-12.3, 10.1, 4.3, 25.0)


def check_same_crs(left: Any, right: Any, *, what: str = "layers") -> None:
    """Raise :class:`CRSMismatchError` unless ``left`` and ``right`` share a CRS.

    geopandas only warns on a mismatch; a service must not return silently wrong
    numbers, so Orienter raises.
    """
    lc, rc = getattr(left, "crs", None), getattr(right, "crs", None)
    if lc is None or rc is None:
        raise CRSMismatchError(f"{what}: a CRS is missing (left={lc}, right={rc}); set it first")
    if CRS.from_user_input(lc) != CRS.from_user_input(rc):
        raise CRSMismatchError(
            f"{what}: CRS differ ({CRS.from_user_input(lc).name} vs "
            f"{CRS.from_user_input(rc).name}); reproject one with .to_crs() first"
        )


def ensure_geographic(gdf: gpd.GeoDataFrame, *, source: str) -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:4326; a layer without a CRS is assumed to be lon/lat."""
    if gdf.crs is None:
        return gdf.set_crs(GEOGRAPHIC_CRS)
    if CRS.from_user_input(gdf.crs) == GEOGRAPHIC_CRS:
        return gdf
    return gdf.to_crs(GEOGRAPHIC_CRS)
