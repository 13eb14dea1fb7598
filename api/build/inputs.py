"""What a build is made from: the input files of the data directory, hashed into the manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd

from api.build.manifest import GRID_BUFFER_M, ISOCHRONE_MIN, Manifest, frame_sha256, sha256_file
from api.build.roads import choose_roads
from api.datasets import find_dataset
from api.settings import Settings
from geo.errors import DataFileError
from geo.freshness import parse_statuses, status_mask
from geo.providers import public_mask, public_providers, read_providers
from geo.speeds import SpeedTable, read_speed_table

__all__ = ["BuildSources", "find_sources", "record_inputs"]


@dataclass(frozen=True)
class BuildSources:
    """The input files of a build, found in the data directory, and the providers."""

    adm0: Path
    road_kind: str
    road_paths: list[Path]
    speeds: SpeedTable
    providers: gpd.GeoDataFrame  # every record of the directory
    located: gpd.GeoDataFrame  # the records with a point that enter results, renumbered
    conflict: Path | None
    population: Path | None
    statuses: tuple[str, ...] = ("operating", "reported")  # what enters results


def find_sources(settings: Settings) -> BuildSources:
    """The input files of a build (:class:`DataFileError` without a country or roads)."""
    adm0_path = find_dataset(settings, "adm0")
    if adm0_path is None:
        raise DataFileError(f"no country boundary (ADM0) under {settings.data_dir / 'boundaries'}")
    road_kind, road_paths = choose_roads(settings)
    speeds = read_speed_table(settings.speeds, profile=settings.speed_profile)
    providers = read_providers(settings.providers)
    statuses = parse_statuses(settings.statuses, parameter="ORIENTER_STATUSES")
    located = providers[
        providers.geometry.notna() & ~providers.geometry.is_empty & status_mask(providers, statuses)
    ]
    return BuildSources(
        adm0=adm0_path,
        road_kind=road_kind,
        road_paths=road_paths,
        speeds=speeds,
        providers=providers,
        located=located.reset_index(drop=True),
        conflict=find_dataset(settings, "conflict"),
        population=find_dataset(settings, "population_raster"),
        statuses=tuple(statuses),
    )


def _file_entry(path: Path | None) -> dict[str, str] | None:
    return None if path is None else {"path": str(path.resolve()), "sha256": sha256_file(path)}


def record_inputs(manifest: Manifest, settings: Settings, sources: BuildSources) -> dict[str, Any]:
    """Inputs (absolute paths, SHA-256) and parameters of the build, into the manifest."""
    inputs = {
        "adm0": _file_entry(sources.adm0),
        "roads": {
            "kind": sources.road_kind,
            "paths": [str(p.resolve()) for p in sources.road_paths],
            "sha256": [sha256_file(p) for p in sources.road_paths],
        },
        "speeds": {
            "path": sources.speeds.source,
            "sha256": sha256_file(Path(sources.speeds.source)),
            "profile": sources.speeds.profile.name,
        },
        # what public outputs rest on: public records only (a count or a hash of the whole
        # file would change with a confidential record); the file's own hash keys the cache
        # and stays out of the manifest's inputs (see api.build.pipeline)
        "providers": {
            "path": str(settings.providers.resolve()),
            "public_sha256": frame_sha256(public_providers(sources.located)),
            "located_public": int(public_mask(sources.located).sum()),
            "statuses": list(sources.statuses),
        },
        "conflict": _file_entry(sources.conflict),
        "population": _file_entry(sources.population),
    }
    manifest.data["inputs"] = inputs
    manifest.data["parameters"] = {
        "cell_m": settings.grid_cell_m,
        "season": settings.season,
        "grid_buffer_m": GRID_BUFFER_M,
        "isochrones_min": list(ISOCHRONE_MIN),
        "nearest_k": settings.nearest_k,
    }
    manifest.save()
    return inputs
