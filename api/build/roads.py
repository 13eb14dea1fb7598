"""Which road data a build uses: the best the data directory holds."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from api.datasets import find_dataset
from api.settings import Settings
from geo.errors import DataFileError
from geo.roads import read_intercity_network, read_road_segments

__all__ = ["choose_roads", "load_roads"]


def choose_roads(settings: Settings) -> tuple[str, list[Path]]:
    """The best road data in the data directory: OSM extract > road segments > inter-city."""
    osm = find_dataset(settings, "roads_osm")
    if osm is not None:
        return "osm", [osm]
    seg = find_dataset(settings, "roads_segments")
    if seg is not None:
        return "segments", [seg]
    edges = find_dataset(settings, "roads_intercity")
    if edges is not None and (edges.parent / "AfricaNetworkNodes.csv").is_file():
        return "intercity", [edges.parent / "AfricaNetworkNodes.csv", edges]
    raise DataFileError(
        f"no road data under {settings.data_dir / 'roads'}: add an OpenStreetMap extract "
        "(.osm.pbf) or run `orienter data fetch`"
    )


def load_roads(kind: str, paths: list[Path]) -> gpd.GeoDataFrame:
    """Read the road layer chosen by :func:`choose_roads`."""
    if kind == "osm":
        from geo.osm import read_osm_roads  # pyosmium loads only for OSM data

        return read_osm_roads(paths[0])
    if kind == "segments":
        return read_road_segments(paths[0])
    return read_intercity_network(paths[0], paths[1])
