"""An opened build for the Python API (:mod:`api.services.python_api`): :class:`Build`,
:func:`open_build` and :func:`build_layers`, and the argument checks the API shares.

A :class:`Build` holds the settings of one build directory (every path absolute, so a
notebook may change directory) and loads its heavy parts on first use: the coverage
tables' inputs (:class:`api.services.analysis.Analysis`), the memory-mapped label sets
(:func:`api.build.layers.load_layers`), the gazetteer and the planners' candidate sites.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from api.build.layers import Layers, load_layers
from api.build.manifest import NotBuiltError, read_manifest
from api.build.pipeline import build_all
from api.build.roads import choose_roads, load_roads
from api.choices import SERVICE_KEYS
from api.errors import RequestError
from api.services import planning
from api.services.analysis import Analysis
from api.services.places import load_gazetteer
from api.settings import Settings
from geo.errors import DataFileError
from geo.providers import public_providers
from geo.settlements import Gazetteer
from geo.speeds import SpeedTable, read_speed_table

__all__ = [
    "Build",
    "NotBuiltError",
    "PathLike",
    "build_layers",
    "check_build",
    "check_built",
    "check_degrees",
    "check_flag",
    "check_threshold",
    "frame_candidates",
    "open_build",
    "plain_errors",
]

PathLike = str | os.PathLike[str]
#: Settings fields holding paths, made absolute when a build is opened.
_PATH_FIELDS = (
    "build_dir",
    "data_dir",
    "providers",
    "boundaries_dir",
    "speeds",
    "population_table",
)
_MAX_THRESHOLD_MIN = 1440


# ----------------------------------------------------------------------------- the build


@dataclass(eq=False)
class Build:
    """An opened build directory and the data directory it was built from.

    Create it with :func:`open_build` (or :func:`build_layers`).  Heavy parts (grid,
    population, memory-mapped label sets, candidate sites) load on first use and are
    kept, so the second question to a build is fast.  Safe to share between threads.

    Attributes
    ----------
    settings : api.settings.Settings
        The configuration every computation reads (absolute paths).
    analysis : api.services.analysis.Analysis
        The coverage tables of this build (the one ``orienter coverage`` uses).
    """

    settings: Settings
    analysis: Analysis
    _layers: Layers | None = field(default=None, repr=False)
    _gazetteer: Gazetteer | None = field(default=None, repr=False)
    _planners: dict[str, planning.Planner] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def __repr__(self) -> str:
        return (
            f"Build({str(self.build_dir)!r}, modes={self.modes}, scenarios={self.scenarios}, "
            f"built_at={self.built_at!r})"
        )

    @property
    def build_dir(self) -> Path:
        """The build directory (absolute)."""
        return self.settings.build_dir

    @property
    def data_dir(self) -> Path:
        """The data directory: boundaries, population, roads, settlements (absolute)."""
        return self.settings.data_dir

    @property
    def manifest(self) -> dict[str, Any]:
        """``manifest.json``: inputs with their SHA-256, parameters, steps."""
        return self.analysis.manifest

    @property
    def modes(self) -> list[str]:
        """Travel modes built (``car``, ``walk``, ``motorbike``...)."""
        return list(self.manifest.get("modes", []))

    @property
    def scenarios(self) -> list[str]:
        """Conflict scenarios built: ``baseline``, and ``slowed`` and ``avoid`` when the data
        directory had conflict events."""
        return list(self.manifest.get("scenarios", []))

    @property
    def services(self) -> list[str]:
        """Services with travel times: ``one_stop_centre`` and every provider service."""
        return list(SERVICE_KEYS)

    @property
    def built_at(self) -> str | None:
        """When the build finished (ISO 8601, local time)."""
        return self.manifest.get("built_at")

    @cached_property
    def speeds(self) -> SpeedTable:
        """The speed table the build used (mode labels: ``build.speeds.mode("car").label_fr``)."""
        recorded = self.manifest.get("inputs", {}).get("speeds", {})
        try:
            return read_speed_table(recorded.get("path"), profile=recorded.get("profile"))
        except (OSError, ValueError):  # the table has moved: the default one
            return read_speed_table()

    @property
    def population_total(self) -> float:
        """People on the travel-time grid (the national total of every coverage table)."""
        return float(self.analysis.inputs.population.sum())

    def units(self, level: str = "adm1") -> gpd.GeoDataFrame:
        """Boundaries of ``level`` (``adm1`` régions, ``adm2`` cercles, ``adm3`` communes):
        ``pcode``, ``name``, ``level``, ``parent_pcode``, geometry (EPSG:4326), rows in
        the order of every coverage table."""
        return self.analysis.units(level)

    def providers(self, *, caseworker: bool = False) -> gpd.GeoDataFrame:
        """The providers the build's travel times rest on (EPSG:4326), with source, date,
        status and location precision.

        Public ones only, unless ``caseworker``: then the confidential ones too (their
        ``confidential`` column says so).  Draw public ones only on anything published.
        """
        check_flag(caseworker, "caseworker")
        public = public_providers(gpd.read_parquet(self.build_dir / "providers.parquet"))
        if not caseworker:
            return public
        hidden = self._loaded_layers().confidential
        both = pd.concat([public, hidden], ignore_index=True)
        return gpd.GeoDataFrame(both, geometry="geometry", crs=public.crs)

    def roads(self) -> gpd.GeoDataFrame:
        """The road layer the build used (``geo.roads`` schema, EPSG:4326), for maps."""
        recorded = self.manifest.get("inputs", {}).get("roads") or {}
        paths = [Path(p) for p in recorded.get("paths", [])]
        if recorded.get("kind") and paths and all(p.is_file() for p in paths):
            return load_roads(recorded["kind"], paths)
        kind, found = choose_roads(self.settings)
        return load_roads(kind, found)

    # the loaded parts, kept

    def _loaded_layers(self) -> Layers:
        with self._lock:
            if self._layers is None:
                self._layers = load_layers(self.settings, freeze=False)
            return self._layers

    def _places(self) -> Gazetteer:
        with self._lock:
            if self._gazetteer is None:
                self._gazetteer = load_gazetteer(self.settings)
            return self._gazetteer

    def _planner(self, candidates: str | PathLike | gpd.GeoDataFrame | None) -> planning.Planner:
        """A planner with these candidate sites, kept per named kind or file."""
        if isinstance(candidates, gpd.GeoDataFrame):
            return planning.Planner(self.analysis, frame_candidates(candidates))
        key = "none" if candidates is None else os.fspath(candidates)
        with self._lock:
            if key not in self._planners:
                self._planners[key] = planning.Planner(self.analysis, self._sites(key))
            return self._planners[key]

    def _sites(self, key: str) -> planning.CandidateSites:
        if key == "none":
            return planning.CandidateSites.none()
        if key == "facilities":
            found = planning.facility_candidates(self.settings, self.units("adm1"))
            if found.sites.empty:
                raise DataFileError(
                    f"candidates: no WHO/KEMRI facility list under {self.data_dir / 'facilities'}"
                )
            return found
        if key == "settlements":
            return planning.settlement_candidates(self.settings)
        path = Path(key)
        if not path.is_file():
            raise ValueError(
                "candidates: give 'facilities', 'settlements', an existing GeoJSON, "
                "GeoPackage or CSV (lon, lat) file, or a GeoDataFrame of points"
            )
        return planning.file_candidates(path)


def _resolved(settings: Settings) -> Settings:
    """``settings`` with every path made absolute (from the current directory)."""
    update = {}
    for name in _PATH_FIELDS:
        value = getattr(settings, name)
        if value is not None:
            update[name] = Path(value).expanduser().resolve()
    return settings.model_copy(update=update)


def _settings(
    build_dir: PathLike | None, data_dir: PathLike | None, settings: Settings | None, **more: Any
) -> Settings:
    for name, value in (("build_dir", build_dir), ("data_dir", data_dir)):
        if value is not None and not isinstance(value, str | os.PathLike):
            raise TypeError(f"{name} must be a path (str or Path), got {type(value).__name__}")
    if settings is not None and not isinstance(settings, Settings):
        raise TypeError(f"settings must be api.settings.Settings, got {type(settings).__name__}")
    base = settings if settings is not None else Settings()
    update = {k: Path(v) for k, v in more.items() if v is not None}
    if build_dir is not None:
        update["build_dir"] = Path(build_dir)
    if data_dir is not None:
        update["data_dir"] = Path(data_dir)
    out = _resolved(base.model_copy(update=update))
    if not out.data_dir.is_dir():
        raise FileNotFoundError(
            f"data_dir: {out.data_dir} is not a directory; give the data directory the build "
            "was made from (boundaries/, population/, roads/, settlements/)"
        )
    return out


def open_build(
    build_dir: PathLike | None = None,
    data_dir: PathLike | None = None,
    *,
    settings: Settings | None = None,
) -> Build:
    """Open a build directory made by ``orienter build``.

    Parameters
    ----------
    build_dir
        The build directory (relative paths start from the current directory).  None:
        ``settings.build_dir`` (``ORIENTER_BUILD_DIR``, a ``.env`` file, or ``build``).
    data_dir
        The data directory the build was made from (boundaries, population, settlements,
        roads).  None: ``settings.data_dir`` (``ORIENTER_DATA_DIR``...).
    settings
        The rest of the configuration (demand model, census table...); None reads
        ``ORIENTER_*`` variables as the command line does.  ``build_dir`` and
        ``data_dir``, when given, win over it.

    Returns
    -------
    Build
        Nothing heavy is read yet: the first question loads what it needs.

    Raises
    ------
    NotBuiltError
        ``build_dir`` holds no ``manifest.json``.
    FileNotFoundError
        ``data_dir`` is not a directory.
    TypeError
        A path that is not a ``str`` or ``os.PathLike``.

    Examples
    --------
    >>> build = open_build("build", data_dir="../shared/data")  # doctest: +SKIP
    >>> build.modes  # doctest: +SKIP
    ['car']
    """
    resolved = _settings(build_dir, data_dir, settings)
    return Build(resolved, Analysis(resolved, read_manifest(resolved.build_dir)))


def build_layers(
    build_dir: PathLike | None = None,
    data_dir: PathLike | None = None,
    *,
    modes: Sequence[str] | None = None,
    providers: PathLike | None = None,
    settings: Settings | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Build:
    """Build (or bring up to date) the layers of ``build_dir``, as ``orienter build`` does,
    and open it.

    Steps whose inputs are unchanged are reused, so a second call takes seconds.  About
    80 s and 2 GB for ``car`` on a 2-core laptop with the development data.

    Parameters
    ----------
    build_dir, data_dir, settings
        As for :func:`open_build`.
    modes
        Travel modes to build (default: every mode of the speed table).  Modes built
        earlier into ``build_dir`` stay.
    providers
        The provider directory (GeoJSON); None: ``settings.providers``
        (``ORIENTER_PROVIDERS``, default ``data/providers.geojson``).
    progress
        ``progress(step, done, total)`` is called as work advances.
    """
    if modes is not None and (isinstance(modes, str) or not all(isinstance(m, str) for m in modes)):
        raise TypeError("modes must be a list of mode names, for example ['car']")
    resolved = _settings(build_dir, data_dir, settings, providers=providers)
    if not resolved.providers.is_file():
        raise FileNotFoundError(f"providers: {resolved.providers} is not a file")
    build_all(resolved, modes=None if modes is None else list(modes), progress=progress)
    return open_build(settings=resolved)


# ----------------------------------------------------------------------------- checks


def check_build(build: object) -> Build:
    if not isinstance(build, Build):
        raise TypeError(f"build must be a Build from open_build(), got {type(build).__name__}")
    return build


def check_flag(value: object, name: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")


def check_threshold(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"threshold_min must be a number of minutes, got {type(value).__name__}")
    if not 1 <= value <= _MAX_THRESHOLD_MIN:
        raise ValueError(f"threshold_min={value!r}: give minutes from 1 to {_MAX_THRESHOLD_MIN}")
    return float(value)


def check_degrees(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TypeError(f"{name} must be a number of decimal degrees, got {type(value).__name__}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number of decimal degrees")
    return float(value)


def check_built(build: Build, mode: str, scenario: str, service: str | None = None) -> None:
    """A ChoiceError (ValueError) naming the parameter for an unknown or unbuilt value."""
    build.analysis.check(mode=mode, scenario=scenario)
    if service is not None:
        build.analysis.check(service=service)


@contextmanager
def plain_errors() -> Iterator[None]:
    """The services' request errors as the built-in exceptions a Python caller expects."""
    try:
        yield
    except RequestError as exc:
        message = exc.message("en")
        if exc.parameter and not message.startswith(f"{exc.parameter}:"):
            message = f"{exc.parameter}: {message}"
        if exc.status == 403:
            raise PermissionError(message) from None
        if exc.code == "not_built":
            raise NotBuiltError(message) from None
        if exc.status == 503:
            raise DataFileError(message) from None
        raise ValueError(message) from None


def frame_candidates(frame: gpd.GeoDataFrame) -> planning.CandidateSites:
    """Candidate sites from a GeoDataFrame of points (``name`` used when present)."""
    if frame.empty:
        raise ValueError("candidates: the GeoDataFrame holds no point")
    if frame.crs is None:
        raise ValueError("candidates: the GeoDataFrame has no CRS; set one (EPSG:4326)")
    if not (frame.geom_type == "Point").all():
        raise ValueError("candidates: every candidate site must be a point")
    points = frame.to_crs("EPSG:4326")
    names = (
        points["name"].astype(str).to_numpy()
        if "name" in points
        else [f"site {i + 1}" for i in range(len(points))]
    )
    sites = gpd.GeoDataFrame(
        {"name": names, "kind": "user frame", "adm1_pcode": None},
        geometry=points.geometry.values,
        crs="EPSG:4326",
    )
    return planning.CandidateSites(sites, "user frame")
