"""The catalogue: one :class:`~api.build.fetch.sources.Source` per remote file Orienter knows."""

from __future__ import annotations

from collections.abc import Sequence

from api.build.fetch.publishers import resolve_geoboundaries, resolve_hdx
from api.build.fetch.sources import Source
from api.build.fetch.unpack import UCDP_GED_VERSION, unpack_ucdp_mali, unpack_who_mali

__all__ = ["CATALOGUE", "select_sources"]


#: Why the versioned downloads carry no pinned SHA-256 (see Source.sha256_unknown).
_NO_COPY = (
    "not pinned: the publisher's digest is not published, and the copy Orienter was "
    "developed with holds {have} ({folder}/SOURCE.md), not {what}, so its SHA-256 could "
    "not be taken; the first download's SHA-256 is recorded in the manifest and later "
    "downloads must match it"
)
_GB_LICENCE = "CC BY 4.0 (geoBoundaries gbOpen; source DNCT Mali / UN OCHA)"
_GB_COMMIT = "9469f09"  # the build the API pointed to in 2025; used only when the API is down


def _geoboundaries(level: int) -> Source:
    name = f"geoBoundaries-MLI-ADM{level}.geojson"
    return Source(
        key=f"adm{level}",
        dataset=f"adm{level}",
        folder="boundaries",
        filename=name,
        publisher="geoBoundaries (William & Mary geoLab)",
        licence=_GB_LICENCE,
        url=f"https://www.geoboundaries.org/api/current/gbOpen/MLI/ADM{level}/",
        download_name=name,
        resolve=resolve_geoboundaries,
        fallback_url=(
            f"https://github.com/wmgeolab/geoBoundaries/raw/{_GB_COMMIT}/releaseData/gbOpen/MLI/"
            f"ADM{level}/{name}"
        ),
    )


CATALOGUE: tuple[Source, ...] = (
    *(_geoboundaries(level) for level in range(4)),
    Source(
        key="settlements",
        dataset="settlements",
        folder="settlements",
        filename="mli_populated_places_hdx.geojson",
        publisher="UN OCHA / DNCT Mali via HDX (dataset mali-settlements)",
        licence="as stated on HDX (OCHA COD terms)",
        url="https://data.humdata.org/api/3/action/package_show?id=mali-settlements",
        resolve=resolve_hdx,
        on_failure=(
            "download the Mali populated places from data.humdata.org by hand and run "
            "`orienter data fetch --from DIR`"
        ),
    ),
    Source(
        key="population_raster",
        dataset="population_raster",
        folder="population",
        filename="mli_ppp_2020_1km_Aggregated.tif",
        publisher="WorldPop (University of Southampton)",
        licence="CC BY 4.0",
        url="https://data.worldpop.org/GIS/Population/Global_2000_2020_1km/2020/MLI/"
        "mli_ppp_2020_1km_Aggregated.tif",
        stable=True,
        sha256_unknown=_NO_COPY.format(
            what="WorldPop's 1 km file",
            have="a 10 arc-minute density grid aggregated and clipped from another copy",
            folder="population",
        ),
    ),
    Source(
        key="roads_osm",
        dataset="roads_osm",
        folder="roads",
        filename="mali-latest.osm.pbf",
        publisher="Geofabrik (OpenStreetMap extract)",
        licence="ODbL 1.0, © OpenStreetMap contributors",
        url="https://download.geofabrik.de/africa/mali-latest.osm.pbf",
        checksum_url="https://download.geofabrik.de/africa/mali-latest.osm.pbf.md5",
        alternatives=("roads_segments", "roads_intercity"),
    ),
    Source(
        key="facilities_who",
        dataset="facilities_who",
        folder="facilities",
        filename="who_kemri_mali_health_facilities.csv",
        publisher="WHO Global Malaria Programme (Maina et al. 2019, Sci Data 6:134)",
        licence="article CC BY 4.0; cite Maina et al. 2019 and WHO (spreadsheet terms unchecked)",
        url="https://www.who.int/malaria/areas/surveillance/who-cds-gmp-2019-01-eng.xlsx",
        download_name="who-cds-gmp-2019-01-eng.xlsx",
        stable=True,
        sha256_unknown=_NO_COPY.format(
            what="WHO's spreadsheet",
            have="the Mali rows converted from an R package's copy",
            folder="facilities",
        ),
        unpack=unpack_who_mali,
        on_failure=(
            "WHO has reorganised its site since 2019; if this address no longer works, get "
            "who-cds-gmp-2019-01-eng.xlsx (or a Mali CSV of it) by hand and run "
            "`orienter data fetch --from DIR`"
        ),
    ),
    Source(
        key="facilities_healthsites",
        dataset="facilities_healthsites",
        folder="facilities",
        filename="healthsites_mali.geojson",
        publisher="healthsites.io (Global Healthsites Mapping Project, from OSM)",
        licence="ODbL 1.0, © OpenStreetMap contributors, healthsites.io",
        manual=(
            "The healthsites.io API (https://healthsites.io/api/v3/facilities/?country=Mali) needs "
            "a personal API key, so Orienter does not download it. Export Mali from healthsites.io "
            "(or the HDX dataset 'mali-healthsites') as GeoJSON and save it as "
            "facilities/healthsites_mali.geojson."
        ),
    ),
    Source(
        key="conflict",
        dataset="conflict",
        folder="conflict",
        filename=f"ucdp_ged_{UCDP_GED_VERSION}_mali.csv",
        publisher="UCDP, Uppsala University (Georeferenced Event Dataset)",
        licence="CC BY 4.0",
        url=f"https://ucdp.uu.se/downloads/ged/ged{UCDP_GED_VERSION}-csv.zip",
        download_name=f"ged{UCDP_GED_VERSION}-csv.zip",
        stable=True,
        sha256_unknown=_NO_COPY.format(
            what=f"UCDP's ged{UCDP_GED_VERSION}-csv.zip",
            have="no UCDP file at all (an ACLED stand-in)",
            folder="conflict",
        ),
        unpack=unpack_ucdp_mali,
    ),
    Source(
        key="acled",
        dataset="conflict",
        folder="conflict",
        filename="acled_mali.csv",
        publisher="ACLED (acleddata.com)",
        licence="ACLED terms of use: no redistribution of the event data",
        present_patterns=("*acled*.csv", "*ACLED*.csv"),
        manual=(
            "ACLED's terms forbid redistribution, so Orienter never downloads it. With your own "
            "ACLED account, export the Mali events as CSV and save the file in conflict/ with "
            "'acled' in its name (for example conflict/acled_mali_2025.csv)."
        ),
    ),
)


def select_sources(
    keys: Sequence[str] | None, catalogue: Sequence[Source] = CATALOGUE
) -> list[Source]:
    """The sources of a run: ``keys`` in catalogue order, or every default source.

    Raises
    ------
    ValueError
        A key is not in the catalogue (the message lists the known keys).
    """
    if not keys:
        return [s for s in catalogue if s.default]
    known = [s.key for s in catalogue]
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValueError(f"unknown dataset key(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [s for s in catalogue if s.key in keys]
