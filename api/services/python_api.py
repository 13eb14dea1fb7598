"""The Python API for notebooks and scripts: open a build, then ask it what ``orienter``
and the HTTP API answer, with the same figures.  docs/python-api.md lists every function
with an example.

Import it from :mod:`api.services` (the names of its ``__all__``); the library functions
on frames and arrays are in :mod:`geo`::

    from api.services import coverage, nearest, open_build

    build = open_build("build", data_dir="../shared/data")
    coverage(build, level="adm2", service="one_stop_centre", mode="car").table
    nearest(build, place="Hombori", service="one_stop_centre")["results"][0]["name"]

Each function is a thin wrapper over the one computation the command line, the API and
the pages use (:class:`~api.services.analysis.Analysis` for coverage,
:func:`api.build.layers.answer_nearest`, :func:`api.services.planning.what_if` and
:func:`~api.services.planning.site`, the build's conflict aggregates): it checks its
arguments, names the one at fault, and returns the same answer.

Public by default.  A notebook's outputs are public outputs: no answer names, counts or
maps a confidential provider (shelter, safe house) unless the call says
``caseworker=True``, as a caseworker token does on the command line and in the API.
Coverage tables, conflict aggregates and national figures are public in every case.

Errors: :class:`ValueError` (an unknown service, mode, scenario or level, a point
outside Mali, a provider one may not remove), :class:`TypeError` (an argument of the
wrong kind), :class:`PermissionError` (planning a service whose providers are all
confidential without ``caseworker=True``), :class:`NotBuiltError` (a
:class:`FileNotFoundError`: the build directory holds no layers, or not the ones asked).
Nothing about a query is logged, and no message repeats its coordinates or place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from affine import Affine
from pyproj import CRS
from rasterio.transform import array_bounds

from api.build.layers import answer_nearest
from api.choices import LEVELS, check_choice
from api.errors import RequestError
from api.services import picks, planning
from api.services.analysis import CoverageResult
from api.services.audience import Audience
from api.services.build_handle import (
    Build,
    NotBuiltError,
    PathLike,
    build_layers,
    check_build,
    check_built,
    check_degrees,
    check_flag,
    check_threshold,
    open_build,
    plain_errors,
)
from api.services.hotlines import complete_answer
from api.services.places import resolve_place
from geo.crs import MALI_BBOX

__all__ = [
    "Build",
    "ConflictZones",
    "CoverageResult",
    "NotBuiltError",
    "TravelTimeSurface",
    "build_layers",
    "conflict_zones",
    "coverage",
    "national",
    "nearest",
    "open_build",
    "site",
    "travel_time_surface",
    "underserved",
    "what_if",
]

#: Most new centres one :func:`site` call may choose (as ``orienter site --n``).
MAX_SITES = 100


# ----------------------------------------------------------------------------- coverage


def coverage(
    build: Build,
    *,
    level: str = "adm1",
    service: str = "one_stop_centre",
    mode: str = "car",
    scenario: str = "baseline",
) -> CoverageResult:
    """People within 30 min, 1 h, 2 h and 5 h of ``service`` per unit of ``level``.

    The table of ``orienter coverage``, ``GET /api/v1/coverage`` and the briefings.

    Parameters
    ----------
    build
        From :func:`open_build`.
    level
        ``adm1`` (régions), ``adm2`` (cercles) or ``adm3`` (communes).
    service
        ``one_stop_centre`` or a provider service (``medical``, ``psychosocial``,
        ``legal``, ``reintegration``, ``shelter``).
    mode, scenario
        A built travel mode and conflict scenario (``build.modes``, ``build.scenarios``).

    Returns
    -------
    CoverageResult
        ``table`` (one row per unit, in the order of ``units``: ``pcode``, ``name``,
        ``population``, ``pop_within_<t>``, ``share_within_<t>`` (0-1),
        ``median_time_min``, ``p90_time_min`` (``inf``: more than half, resp. 10 %, of
        the people reach no provider), the public provider nearest to most people,
        ``n_providers`` and the unit's conflict ``max_class``), ``units`` (polygons) and
        ``meta`` (population source, build time, roads...).  Public providers only.
    """
    return check_build(build).analysis.coverage(
        level=level, service=service, mode=mode, scenario=scenario
    )


def underserved(
    build: Build,
    *,
    level: str = "adm1",
    service: str = "one_stop_centre",
    mode: str = "car",
    scenario: str = "baseline",
    threshold_min: float = 120,
) -> CoverageResult:
    """Units ranked by the people beyond ``threshold_min`` of ``service``.

    As :func:`coverage`, plus ``pop_beyond_<t>``, ``share_beyond_<t>``, ``rank_people``
    (1 = most people beyond), ``rank_share`` and the unit's conflict ``max_class``.
    ``threshold_min`` is minutes, 1 to 1440.  Rows are sorted by ``rank_people``.
    """
    b = check_build(build)
    return b.analysis.underserved(
        level=level,
        service=service,
        mode=mode,
        scenario=scenario,
        threshold_min=check_threshold(threshold_min),
    )


def national(
    build: Build,
    *,
    service: str = "one_stop_centre",
    mode: str = "car",
    scenario: str = "baseline",
) -> dict[str, Any]:
    """National figures: ``population``, ``pop_within_<t>`` and ``share_within_<t>`` for
    30, 60, 120 and 300 min, the population-weighted ``median_time_min`` and
    ``p90_time_min`` (None: unreachable), and ``meta``.  Public providers only."""
    return check_build(build).analysis.national(service=service, mode=mode, scenario=scenario)


@dataclass(frozen=True)
class TravelTimeSurface:
    """Minutes to the nearest provider of a service on the build's 1 km grid.

    Attributes
    ----------
    minutes : numpy.ndarray
        (rows, cols) float64: minutes; ``inf`` where no provider can be reached; NaN
        outside the grid's cells (beyond Mali and its 5 km margin).
    transform : affine.Affine
        Grid to ``crs`` coordinates (metres; rasterio's convention).
    crs : pyproj.CRS
        The metric CRS of the grid (``geo.METRIC_CRS``).
    service, mode, scenario : str
        What the minutes are to, and how.
    includes_confidential : bool
        True only for ``caseworker=True``: then confidential providers count.
    """

    minutes: np.ndarray
    transform: Affine
    crs: CRS
    service: str
    mode: str
    scenario: str
    includes_confidential: bool = False

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in ``crs`` metres."""
        rows, cols = self.minutes.shape
        left, bottom, right, top = array_bounds(rows, cols, self.transform)
        return float(left), float(bottom), float(right), float(top)

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(left, right, bottom, top): matplotlib's ``imshow(extent=...)``."""
        left, bottom, right, top = self.bounds
        return left, right, bottom, top


def travel_time_surface(
    build: Build,
    *,
    service: str = "one_stop_centre",
    mode: str = "car",
    scenario: str = "baseline",
    caseworker: bool = False,
) -> TravelTimeSurface:
    """The built travel-time raster of ``service`` (the one the coverage tables count).

    From public providers only, unless ``caseworker`` (then from every provider: do not
    publish it).  Compare two scenarios cell by cell for the loss of access.
    """
    b = check_build(build)
    check_flag(caseworker, "caseworker")
    minutes, _ = b.analysis.surface(service, mode, scenario, caseworker=caseworker)
    grid = b.analysis.inputs.grid
    return TravelTimeSurface(
        minutes=grid.to_raster(np.asarray(minutes, dtype=np.float64), fill=np.nan),
        transform=grid.transform,
        crs=CRS.from_user_input(grid.crs),
        service=service,
        mode=mode,
        scenario=scenario,
        includes_confidential=caseworker,
    )


# ----------------------------------------------------------------------------- nearest


def _resolve_place(build: Build, place: object) -> tuple[dict[str, Any], list[dict]]:
    if not isinstance(place, str):
        raise TypeError(f"place must be a settlement name or P-code, got {type(place).__name__}")
    found, others = resolve_place(build._places(), place)
    if found is None:
        raise ValueError(
            "place: no settlement of the gazetteer has this name or P-code; "
            "`orienter places search` lists close names"
        )
    return found, others


def _check_in_mali(lon: float, lat: float) -> None:
    """The API's check (``GET /api/v1/nearest``): the point lies in Mali's bounding box."""
    lon_min, lat_min, lon_max, lat_max = MALI_BBOX
    if not (lon_min <= lon <= lon_max and lat_min <= lat <= lat_max):
        swapped = lon_min <= lat <= lon_max and lat_min <= lon <= lat_max
        outside = "lat" if not lat_min <= lat <= lat_max else "lon"
        raise RequestError(422, "swapped" if swapped else "out_of_mali", parameter=outside)


def nearest(
    build: Build,
    lon: float | None = None,
    lat: float | None = None,
    *,
    place: str | None = None,
    service: str | None = None,
    mode: str = "car",
    scenario: str = "baseline",
    k: int = 5,
    routes: bool = False,
    provider_ids: Sequence[str] | None = None,
    caseworker: bool = False,
) -> dict[str, Any]:
    """The nearest providers by travel time from a point or a place (``orienter nearest``).

    Parameters
    ----------
    build
        From :func:`open_build`.
    lon, lat
        The start, decimal degrees (EPSG:4326), inside Mali; or give ``place`` instead.
    place
        A settlement name or P-code of the gazetteer (``"Hombori"``, ``"ML050109007"``).
    service
        The service to reach; None: any provider.
    mode, scenario
        A built travel mode and conflict scenario.
    k
        How many providers: 1 to the build's ``nearest_k`` (5 by default).
    routes
        Add each route as a GeoJSON line (``results[i]["route"]``).
    provider_ids
        Time these providers (directory ids), however far, instead of the ``k`` nearest.
    caseworker
        Include confidential providers (the answer says so in
        ``query["includes_confidential"]``).  Never in anything published.

    Returns
    -------
    dict
        The JSON answer of ``GET /api/v1/nearest``: ``query`` (where the point joined the
        network, ``place`` when one was given), ``results`` (ranked providers with
        ``travel_time_min``, ``distance_km``, ``reachable``, source, date, precision and,
        under a conflict scenario, ``scenario_effect``) and ``data``.
    """
    b = check_build(build)
    check_flag(routes, "routes")
    check_flag(caseworker, "caseworker")
    info = None
    others: list[dict] | None = None
    if place is not None:
        if lon is not None or lat is not None:
            raise ValueError("give lon and lat, or place, not both")
        info, others = _resolve_place(b, place)
        lon, lat = info["lon"], info["lat"]
    elif lon is None or lat is None:
        raise ValueError("give lon and lat (decimal degrees), or place")
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise TypeError(f"k must be an integer, got {type(k).__name__}")
    if provider_ids is not None and (
        isinstance(provider_ids, str) or not all(isinstance(p, str) for p in provider_ids)
    ):
        raise TypeError("provider_ids must be a list of provider ids (strings)")
    check_built(b, mode, scenario, service)
    x, y = check_degrees(lon, "lon"), check_degrees(lat, "lat")
    with plain_errors():
        _check_in_mali(x, y)
    try:
        answer = answer_nearest(
            b._loaded_layers(),
            lon=x,
            lat=y,
            service=service,
            mode=mode,
            scenario=scenario,
            k=int(k),
            include_confidential=caseworker,
            place=info,
            routes=routes,
            provider_ids=None if provider_ids is None else list(provider_ids),
        )
    except ValueError as exc:
        if str(exc).startswith("point ("):  # the engine's message holds the coordinates
            raise ValueError(
                "lon, lat: the point is outside the travel-time grid (Mali and 5 km around "
                "it) or in a closed high-conflict zone"
            ) from None
        raise
    # as the API and the command line: the other places of that name, the national lines
    return complete_answer(answer, b.settings.providers, others)


# ----------------------------------------------------------------------------- planning


def _point(add: object) -> tuple[float, float]:
    if isinstance(add, str) or not isinstance(add, Sequence) or len(add) != 2:
        raise TypeError("add must be a (lon, lat) pair of decimal degrees, longitude first")
    return check_degrees(add[0], "add"), check_degrees(add[1], "add")


def _audience(service: str, caseworker: bool) -> None:
    check_flag(caseworker, "caseworker")
    planning.check_audience(service, Audience.caseworker if caseworker else Audience.public)


def what_if(
    build: Build,
    *,
    add: tuple[float, float] | None = None,
    remove: str | None = None,
    service: str = "one_stop_centre",
    mode: str = "car",
    scenario: str = "baseline",
    threshold_min: float = 120,
    level: str = "adm2",
    caseworker: bool = False,
    add_at: str | None = None,
    add_facility: str | None = None,
) -> dict[str, Any]:
    """People within ``threshold_min`` before and after one new centre or one provider
    fewer (``orienter site --add/--add-at/--add-facility/--remove``,
    ``GET /api/v1/whatif``), without a rebuild.  Give one of ``add``, ``add_at``,
    ``add_facility`` and ``remove``.

    Parameters
    ----------
    add
        (lon, lat) of a new centre, decimal degrees, inside Mali.
    remove
        Or: the id of a public provider offering ``service``.
    add_at
        Or: a new centre at the site of this public provider of the directory
        (``meta.picked`` says which, and whether its location is approximate).
    add_facility
        Or: a new centre at this health facility of the WHO/KEMRI list (its ``id``).
    threshold_min
        Minutes, 1 to 1440.
    level
        The units listed in ``units`` (those whose figure changes).
    caseworker
        "Before" counts confidential providers too (the answer says so); needed to plan
        ``shelter``, whose providers are all confidential.

    Returns
    -------
    dict
        ``meta`` (national ``within_before``, ``within_after``, ``change``,
        ``share_before``, ``share_after``, what was added or removed) and ``units`` (the
        units of ``level`` that change, biggest change first).
    """
    b = check_build(build)
    threshold = check_threshold(threshold_min)
    given = {"add": add, "add_at": add_at, "add_facility": add_facility, "remove": remove}
    if sum(v is not None for v in given.values()) != 1:
        raise ValueError(
            "give one of add=(lon, lat), add_at=<provider id>, add_facility=<facility id> "
            "or remove=<provider id>"
        )
    point = None if add is None else _point(add)
    for name in ("remove", "add_at", "add_facility"):
        if given[name] is not None and not isinstance(given[name], str):
            raise TypeError(f"{name} must be an id (str), got {type(given[name]).__name__}")
    check_built(b, mode, scenario, service)
    check_choice("level", level, LEVELS)
    with plain_errors():
        _audience(service, caseworker)
        plan = b._planner(None)
        if point is not None:
            point = planning.check_point(plan, *point)
        at = None
        if add_at is not None:
            at = picks.provider_pick(b._loaded_layers().providers, add_at, service=service)
        elif add_facility is not None:
            at = picks.facility_pick(picks.read_facilities(b.settings), add_facility)
        return planning.what_if(
            plan,
            b._loaded_layers(),
            service=service,
            mode=mode,
            scenario=scenario,
            threshold_min=threshold,
            level=level,
            add=point,
            remove=remove,
            caseworker=caseworker,
            at=at,
        )


def site(
    build: Build,
    *,
    n: int = 3,
    candidates: str | PathLike | gpd.GeoDataFrame = "facilities",
    service: str = "one_stop_centre",
    mode: str = "car",
    scenario: str = "baseline",
    threshold_min: float = 120,
    caseworker: bool = False,
) -> dict[str, Any]:
    """``n`` new centres chosen greedily, most people brought within the threshold first
    (``orienter site``, ``GET /api/v1/site``).

    Parameters
    ----------
    n
        How many centres, 1 to 100 (fewer when no candidate adds anyone).
    candidates
        ``"facilities"`` (the CSRéf and hospitals of the WHO/KEMRI list),
        ``"settlements"`` (every place of the gazetteer: slow), a GeoJSON, GeoPackage or
        CSV (lon, lat) file of points, or a GeoDataFrame of points (``name`` used).
    threshold_min
        Minutes, 1 to 1440.
    caseworker
        Existing providers include confidential ones (the answer says so).

    Returns
    -------
    dict
        ``meta`` (``covered_before``, candidates, seconds...) and ``sites``: one row per
        chosen site in order, with ``gain_population`` (people newly within the
        threshold) and ``covered_population`` / ``covered_share`` (running totals).
    """
    b = check_build(build)
    threshold = check_threshold(threshold_min)
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"n must be an integer, got {type(n).__name__}")
    if not 1 <= n <= MAX_SITES:
        raise ValueError(f"n={n!r}: choose 1 to {MAX_SITES} new centres")
    check_built(b, mode, scenario, service)
    with plain_errors():
        _audience(service, caseworker)
        return planning.site(
            b._planner(candidates),
            b._loaded_layers(),
            service=service,
            mode=mode,
            scenario=scenario,
            threshold_min=threshold,
            n=int(n),
            caseworker=caseworker,
        )


# ----------------------------------------------------------------------------- conflict


@dataclass(frozen=True)
class ConflictZones:
    """The build's conflict zones: aggregates only, never an event.

    Attributes
    ----------
    polygons : geopandas.GeoDataFrame
        One (multi)polygon per class present (``zone_class``: ``low``, ``elevated``,
        ``high``) with its ``events``, ``fatalities`` and ``area_km2``, EPSG:4326.
    summaries : Mapping[str, pandas.DataFrame]
        Per level (``adm1``, ``adm2``, ``adm3``): ``pcode``, ``name``, ``events``,
        ``fatalities``, ``share_low``, ``share_elevated``, ``share_high`` (of the unit's
        area), ``max_class``, ``mean_density`` (events per 1,000 km² per year).
    meta : dict
        The window (``start``, ``end``), ``events`` used, ``bandwidth_m``,
        ``thresholds_per_1000km2_year``, ``weight``, ``dropped_outside_mali``.
    """

    polygons: gpd.GeoDataFrame
    summaries: Mapping[str, pd.DataFrame]
    meta: dict[str, Any]


def conflict_zones(build: Build) -> ConflictZones:
    """The conflict zones of the build (``orienter build`` makes them from the data
    directory's event file; ``GET /api/v1/conflict/zones`` serves the same polygons).

    Raises
    ------
    NotBuiltError
        The build has no conflict zones (its data directory had no event file).
    """
    root = check_build(build).build_dir / "conflict"
    if not (root / "zones.parquet").is_file():
        raise NotBuiltError(
            f"{root.parent} has no conflict zones: its data directory had no conflict event "
            "file (conflict/); add one and run `orienter build`"
        )
    summaries = {
        level: pd.read_csv(root / f"summary_{level}.csv")
        for level in LEVELS
        if (root / f"summary_{level}.csv").is_file()
    }
    meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
    return ConflictZones(gpd.read_parquet(root / "zones.parquet"), summaries, meta)
