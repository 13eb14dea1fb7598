"""Where each dataset lives in the data directory, and how to find it.

The data directory is laid out like ``../shared/data``: ``boundaries/``, ``settlements/``,
``population/``, ``roads/``, ``facilities/``, ``conflict/``.  Each dataset is found by
file-name patterns, best first, so a user who brings better data (an OSM extract, a finer
population raster, a UCDP export) gets it used without renaming anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from api.settings import Settings

__all__ = ["DATASETS", "Dataset", "find_all", "find_dataset"]


@dataclass(frozen=True)
class Dataset:
    """One kind of input data and where to look for it."""

    key: str
    folder: str
    patterns: tuple[str, ...]
    required: bool
    description: str
    licence: str
    extra_dirs: tuple[str, ...] = field(default=())


DATASETS: dict[str, Dataset] = {
    d.key: d
    for d in (
        Dataset(
            "adm0",
            "boundaries",
            ("*adm0*.geojson", "*adm0*.gpkg", "*ADM0*.geojson", "*adm0*.shp"),
            True,
            "Country outline (ADM0)",
            "OCHA COD-AB terms / geoBoundaries CC BY 4.0",
        ),
        Dataset(
            "adm1",
            "boundaries",
            ("*adm1*.geojson", "*adm1*.gpkg", "*ADM1*.geojson", "*adm1*.shp"),
            True,
            "Régions (ADM1)",
            "OCHA COD-AB terms / geoBoundaries CC BY 4.0",
        ),
        Dataset(
            "adm2",
            "boundaries",
            ("*adm2*.geojson", "*adm2*.gpkg", "*ADM2*.geojson", "*adm2*.shp"),
            True,
            "Cercles (ADM2)",
            "OCHA COD-AB terms / geoBoundaries CC BY 4.0",
        ),
        Dataset(
            "adm3",
            "boundaries",
            ("*adm3*.geojson", "*adm3*.gpkg", "*ADM3*.geojson", "*adm3*.shp"),
            True,
            "Communes (ADM3)",
            "OCHA COD-AB terms / geoBoundaries CC BY 4.0",
        ),
        Dataset(
            "settlements",
            "settlements",
            ("*populated_places*.geojson", "*populated_places*.gpkg", "*PopulatedPlaces*.shp"),
            True,
            "Settlements gazetteer (OCHA populated places)",
            "OCHA COD terms",
        ),
        Dataset(
            "population_raster",
            "population",
            ("*ppp*.tif", "*pop*.tif", "*density*.tif", "*.tif"),
            True,
            "Gridded population (WorldPop style)",
            "WorldPop CC BY 4.0",
        ),
        Dataset(
            "population_census_adm1",
            "population",
            ("*adm1*census*.csv",),
            False,
            "Census population per région",
            "INSTAT Mali (official statistics)",
        ),
        Dataset(
            "roads_osm",
            "roads",
            ("*.osm.pbf", "*.osm", "*.osm.xml"),
            False,
            "OpenStreetMap extract (best road data)",
            "ODbL",
        ),
        Dataset(
            "roads_segments",
            "roads",
            ("*road_segments*.gpkg",),
            False,
            "Road segments with real geometry (Krantz, OSRM on OSM)",
            "ODbL-derived",
        ),
        Dataset(
            "roads_intercity",
            "roads",
            ("AfricaNetworkEdges.csv",),
            False,
            "Inter-city road graph (African Urban Network)",
            "ODbL-derived",
        ),
        Dataset(
            "facilities_who",
            "facilities",
            ("*who*kemri*.csv", "*who*kemri*.geojson"),
            True,
            "Public health facilities (WHO/KEMRI, Maina et al. 2019)",
            "CC BY 4.0 (article)",
        ),
        Dataset(
            "facilities_healthsites",
            "facilities",
            ("*healthsites*.geojson", "*healthsites*.gpkg"),
            False,
            "healthsites.io / OSM health facilities",
            "ODbL",
        ),
        Dataset(
            "conflict",
            "conflict",
            ("*ged*.csv", "*GED*.csv", "*acled*.csv", "*ACLED*.csv"),
            True,
            "Conflict events (UCDP GED or ACLED export)",
            "UCDP CC BY 4.0 / ACLED terms",
        ),
    )
}


def _candidates(settings: Settings, ds: Dataset) -> list[Path]:
    dirs: list[Path] = []
    if ds.folder == "boundaries":
        dirs.append(settings.boundaries_dir)
    dirs.append(settings.data_dir / ds.folder)
    found: list[Path] = []
    for directory in dirs:
        if not directory.is_dir():
            continue
        for pattern in ds.patterns:
            for path in sorted(directory.glob(pattern)):
                if path.is_file() and path not in found:
                    found.append(path)
        if found:
            # a user's files in the repository's data/boundaries/ win over the data directory
            break
    return found


def find_dataset(settings: Settings, key: str) -> Path | None:
    """The best file for dataset ``key``, or None when there is none."""
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {key!r}; known: {', '.join(DATASETS)}")
    found = _candidates(settings, DATASETS[key])
    return found[0] if found else None


def find_all(settings: Settings) -> dict[str, Path | None]:
    """Every dataset key mapped to its best file (or None)."""
    return {key: find_dataset(settings, key) for key in DATASETS}
