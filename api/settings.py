"""Orienter settings: one pydantic-settings class, read from ORIENTER_* variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """Where Orienter reads its data and writes its layers.

    Every field can be set with an environment variable ``ORIENTER_<NAME>``
    (for example ``ORIENTER_DATA_DIR=../shared/data``) or in a ``.env`` file.
    """

    model_config = SettingsConfigDict(env_prefix="ORIENTER_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path("data/external"),
        description="Data directory laid out as boundaries/, settlements/, population/, roads/, "
        "facilities/, conflict/ (what `orienter data fetch` fills).",
    )
    providers: Path = Field(
        default=Path("data/providers.geojson"), description="Provider directory (GeoJSON)."
    )
    build_dir: Path = Field(default=Path("build"), description="Where built layers are written.")
    boundaries_dir: Path = Field(
        default=Path("data/boundaries"),
        description="Boundary files a user puts in the repository (they win over the "
        "data directory's).",
    )
    speeds: Path | None = Field(
        default=None, description="A speed table (TOML) replacing the default one."
    )
    speed_profile: str | None = Field(
        default=None,
        description="Speed profile of the speed table: 'calibrated' (the default table's "
        "default: main roads at OSRM speeds checked against observed journeys), 'free_flow' "
        "(OSRM free-flow speeds) or 'class_table' (speeds by road class only); none takes "
        "the table's default_profile.",
    )
    grid_cell_m: float = Field(
        default=1000.0, gt=0, description="Travel-time grid cell size, metres."
    )
    nearest_k: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Providers kept per place and service by `orienter build` (the labels): "
        "the most a nearest-service answer can list.  Memory and disk grow with it.",
    )
    statuses: str = Field(
        default="operating,reported",
        description="Statuses of the provider records that enter travel times, coverage and "
        "answers (comma-separated: operating, reported, suspended, historic, planned).",
    )
    season: Literal["dry", "rainy"] = Field(
        default="dry", description="'dry' or 'rainy' (slows unpaved roads and off-road travel)."
    )
    demand: Literal["grid", "settlements"] = Field(
        default="grid",
        description="Population model for coverage: 'grid' (the raster spread over the 1 km "
        "grid) or 'settlements' (each raster cell's people shared among its settlements).",
    )
    population_table: Path | None = Field(
        default=None,
        description="A census table (CSV/XLSX keyed on admin P-codes) the demand is "
        "calibrated to, unit by unit; none by default.",
    )
    heavy_workers: int = Field(
        default=1,
        ge=1,
        le=8,
        description="Heavy computations (what-if, siting, briefings, new coverage tables) "
        "run at once by the whole server (its workers share them).",
    )
    heavy_queue: int = Field(
        default=4,
        ge=0,
        le=64,
        description="Heavy requests that may wait for a free worker; more get 503 with "
        "Retry-After.",
    )
    warm_up: bool = Field(
        default=True,
        description="At start-up, compute in the background the coverage tables the pages "
        "open with (national figures, régions), so the first visitor does not wait.",
    )
    caseworker_token_hashes: list[str] = Field(
        default_factory=list,
        description="SHA-256 hex digests of caseworker tokens that may see confidential providers.",
    )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests override them)."""
    return Settings()
