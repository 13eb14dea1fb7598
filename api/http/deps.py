"""What the routes and pages share, kept in the app state: one accessor each.

Loaded in the lifespan (:func:`api.http.app.create_app`): the settings, the built layers,
the gazetteer and the provider directory.  Created on first use, once, under one lock:
the coverage :class:`~api.services.analysis.Analysis` (every figure of the API, the
pages and the briefings), the :class:`~api.services.planning.Planner` and the health
facilities a what-if may pick.

Heavy work (what-if, siting, briefings, coverage tables computed on demand) runs inside
:func:`heavy_work`: the one place where a bound on concurrent heavy work belongs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import geopandas as gpd
import pandas as pd
from fastapi import Header, Request

from api.build.layers import Layers
from api.build.manifest import NotBuiltError
from api.errors import RequestError
from api.http.budget import Busy, WorkBudget
from api.services.analysis import Analysis
from api.services.audience import Audience, audience_of, bearer_token
from api.services.picks import read_facilities
from api.services.planning import Planner, facility_candidates
from api.settings import Settings
from geo.errors import DataFileError
from geo.settlements import Gazetteer

__all__ = [
    "audience",
    "built_layers",
    "directory",
    "facilities",
    "gazetteer",
    "heavy_work",
    "optional_analysis",
    "planner",
    "settings",
    "shared_analysis",
]

#: Guards the objects created on first use (one lock for the app state).
_STATE_LOCK = threading.Lock()


def settings(request: Request) -> Settings:
    """The settings the app was started with."""
    found: Settings = request.app.state.settings
    return found


async def built_layers(request: Request) -> Layers:
    """The layers loaded at start-up; 503 when nothing is built yet.

    ``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in its
    threadpool, and that hand-off cost more than the lookup on every nearest request."""
    found: Layers | None = request.app.state.layers
    if found is None:
        raise RequestError(503, "not_built")
    return found


def shared_analysis(request: Request) -> Analysis:
    """The app's :class:`Analysis` (``app.state.analysis``), created on first use; 503
    when nothing is built."""
    state = request.app.state
    found: Analysis | None = getattr(state, "analysis", None)
    if found is None:
        with _STATE_LOCK:
            found = getattr(state, "analysis", None)
            if found is None:
                try:
                    found = Analysis.load(state.settings)
                except NotBuiltError as exc:
                    raise RequestError(503, "not_built") from exc
                state.analysis = found
    return found


def optional_analysis(request: Request) -> Analysis | None:
    """:func:`shared_analysis`, or None when the layers are not built (pages say so)."""
    if getattr(request.app.state, "layers", None) is None:
        return None
    try:
        return shared_analysis(request)
    except RequestError:
        return None


def planner(request: Request) -> Planner:
    """The app's planner (candidate sites and their reach), created on first use."""
    state = request.app.state
    found: Planner | None = getattr(state, "planner", None)
    if found is not None:
        return found
    if getattr(state, "layers", None) is None:
        raise RequestError(503, "not_built")
    analysis = shared_analysis(request)
    with _STATE_LOCK:
        found = getattr(state, "planner", None)
        if found is None:
            try:
                adm1 = analysis.units("adm1")
                analysis.inputs  # noqa: B018  (load the grid and population now)
            except (DataFileError, OSError) as exc:
                raise RequestError(503, "not_built") from exc
            found = Planner(analysis, facility_candidates(state.settings, adm1))
            state.planner = found
    return found


def facilities(request: Request) -> pd.DataFrame:
    """The WHO/KEMRI health facilities a what-if may add a centre at
    (:func:`api.services.picks.read_facilities`), read on first use; 503 when the data
    directory has no list."""
    state = request.app.state
    found: pd.DataFrame | None = getattr(state, "facilities", None)
    if found is None:
        with _STATE_LOCK:
            found = getattr(state, "facilities", None)
            if found is None:
                try:
                    found = read_facilities(state.settings)
                except (DataFileError, OSError, ValueError) as exc:
                    raise RequestError(503, "no_candidates") from exc
                if found is None:
                    raise RequestError(503, "no_candidates")
                state.facilities = found
    return found


def gazetteer(request: Request) -> Gazetteer:
    """The settlements gazetteer; 503 when the data directory has none."""
    found: Gazetteer | None = request.app.state.gazetteer
    if found is None:
        raise RequestError(503, "gazetteer_missing")
    return found


def directory(request: Request) -> gpd.GeoDataFrame:
    """The provider directory (every record); 503 when the file is missing."""
    found: gpd.GeoDataFrame | None = request.app.state.directory
    if found is None:
        raise RequestError(503, "directory_missing")
    return found


async def audience(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Audience:
    """Who asks: a caseworker with a valid ``Authorization: Bearer`` token, or the public.

    ``async`` for the same reason as :func:`built_layers` (the nearest-service hot path)."""
    hashes = request.app.state.settings.caseworker_token_hashes
    return audience_of(bearer_token(authorization), hashes)


@contextmanager
def heavy_work(request: Request) -> Iterator[None]:
    """Run the ``with`` block under the app's heavy-work budget (:mod:`api.http.budget`):
    a few at once, a short queue, and 503 with ``Retry-After`` beyond."""
    budget: WorkBudget = request.app.state.heavy
    try:
        with budget.slot():
            yield
    except Busy as exc:
        raise RequestError(503, "busy", retry_after=exc.retry_after) from None
