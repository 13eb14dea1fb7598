"""Assemble road rows in Orienter's road schema (``docs/architecture.md``, "Roads")."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

from geo.crs import GEOGRAPHIC_CRS
from geo.osm._ways import Ways

SCHEMA_COLUMNS = ["u", "v", "road_class", "paved", "length_m", "source", "osm_way_id", "geometry"]
_GEOD = Geod(ellps="WGS84")


def geodesic_length_m(geometry: np.ndarray) -> np.ndarray:
    """Geodesic length (metres, WGS84) of each lon/lat LineString, summed segment by segment."""
    coords, index = shapely.get_coordinates(geometry, return_index=True)
    same = index[:-1] == index[1:]
    if not same.any():
        return np.zeros(len(geometry))
    start, stop = coords[:-1][same], coords[1:][same]
    _, _, dist = _GEOD.inv(start[:, 0], start[:, 1], stop[:, 0], stop[:, 1])
    return np.bincount(index[:-1][same], weights=np.asarray(dist), minlength=len(geometry))


def roads_frame(
    *,
    u: np.ndarray,
    v: np.ndarray,
    road_class: Sequence[str] | np.ndarray,
    paved: pd.api.extensions.ExtensionArray,
    geometry: np.ndarray,
    source: str,
    osm_way_id: np.ndarray | pd.api.extensions.ExtensionArray,
    osm_id_dtype: str,
) -> gpd.GeoDataFrame:
    """Assemble the road schema; lengths are computed here from the geometry."""
    frame = gpd.GeoDataFrame(
        {
            "u": np.asarray(u, dtype="int64"),
            "v": np.asarray(v, dtype="int64"),
            "road_class": pd.Series(np.asarray(road_class, dtype=object), dtype="str"),
            "paved": pd.array(paved, dtype="boolean"),
            "length_m": geodesic_length_m(geometry).astype("float64"),
            "source": pd.Series([source] * len(geometry), dtype="str"),
            "osm_way_id": pd.array(osm_way_id, dtype=osm_id_dtype),
        },
        geometry=gpd.GeoSeries(geometry, crs=GEOGRAPHIC_CRS),
    )
    return frame[SCHEMA_COLUMNS]


def osm_frame(
    *,
    u: np.ndarray,
    v: np.ndarray,
    way_index: np.ndarray,
    geometry: np.ndarray,
    ways: Ways,
    file: Path,
) -> gpd.GeoDataFrame:
    """Rows of both OSM readers, in one canonical order (way id, u, v, length)."""
    paved_code = ways.paved[way_index]
    frame = roads_frame(
        u=u,
        v=v,
        road_class=ways.road_class[way_index],
        paved=pd.array(np.where(paved_code < 0, None, paved_code == 1), dtype="boolean"),
        geometry=geometry,
        source=f"OpenStreetMap ({file.name})",
        osm_way_id=ways.way_id[way_index],
        osm_id_dtype="int64",
    )
    keys = [frame[c].to_numpy() for c in ("length_m", "v", "u", "osm_way_id")]
    return frame.iloc[np.lexsort(keys)].reset_index(drop=True)
