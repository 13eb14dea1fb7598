"""The FastAPI application: built layers loaded once in the lifespan, never at import.

Privacy: Orienter stores nothing about the people it helps.  The access log is off
(uvicorn's would print every query string) and no handler logs query coordinates,
place names or tokens.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request

from api.datasets import find_dataset
from api.layers import Layers, NotBuiltError, answer_nearest, load_layers, token_is_valid
from api.pipeline import SERVICE_KEYS
from api.settings import Settings, get_settings
from geo.settlements import Gazetteer, read_settlements

__all__ = ["create_app"]

log = logging.getLogger(__name__)
MALI_BBOX = (-12.3, 10.1, 4.3, 25.0)  # lon_min, lat_min, lon_max, lat_max


def built_layers(request: Request) -> Layers:
    """The layers loaded at start-up; 503 when nothing is built yet."""
    found = request.app.state.layers
    if found is None:
        raise HTTPException(503, "les couches ne sont pas construites : lancez `orienter build`")
    return found


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the layers of ``settings.build_dir`` load when it starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s = settings or get_settings()
        gaz = None
        path = find_dataset(s, "settlements")
        if path is not None:
            gaz = Gazetteer.from_settlements(read_settlements(path))
        try:
            app.state.layers = load_layers(s, gazetteer=gaz)
        except NotBuiltError as exc:
            log.warning("%s", exc)
            app.state.layers = None
        app.state.gazetteer = gaz
        app.state.settings = s
        yield

    app = FastAPI(
        title="Orienter",
        version="0.1.0",
        lifespan=lifespan,
        description="Where help is for GBV/SEA survivors in Mali, by travel time.",
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Content-Security-Policy"] = "default-src 'self'"
        return response

    @app.get("/api/v1/health")
    def health(request: Request) -> dict:
        found = request.app.state.layers
        return {
            "status": "ok" if found is not None else "not built",
            "modes": found.modes if found else [],
            "built_at": found.manifest.get("built_at") if found else None,
        }

    @app.get("/api/v1/nearest")
    def nearest(
        request: Request,
        lay: Annotated[Layers, Depends(built_layers)],
        lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
        lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
        place: Annotated[str | None, Query(max_length=100)] = None,
        service: str | None = None,
        mode: str = "car",
        scenario: str = "baseline",
        k: Annotated[int, Query(ge=1, le=20)] = 5,
        routes: bool = False,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict:
        if service is not None and service not in SERVICE_KEYS:
            raise HTTPException(
                422, f"service inconnu ; valeurs permises : {', '.join(SERVICE_KEYS)}"
            )
        if mode not in lay.modes:
            raise HTTPException(422, f"mode inconnu ; valeurs permises : {', '.join(lay.modes)}")
        if scenario not in lay.scenarios:
            raise HTTPException(
                422, f"scénario inconnu ; valeurs permises : {', '.join(lay.scenarios)}"
            )
        place_info = None
        if place is not None:
            gaz = request.app.state.gazetteer
            if gaz is None:
                raise HTTPException(503, "le répertoire des localités n'est pas chargé")
            try:
                place_info = gaz.resolve(place)
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from exc
            if place_info is None:
                raise HTTPException(404, "aucune localité ne correspond à ce nom ou P-code")
            lat, lon = place_info["lat"], place_info["lon"]
        if lat is None or lon is None:
            raise HTTPException(422, "donnez lat et lon, ou place")
        lon_min, lat_min, lon_max, lat_max = MALI_BBOX
        if not (lon_min <= lon <= lon_max and lat_min <= lat <= lat_max):
            hint = (
                " ; lat et lon semblent inversées"
                if lon_min <= lat <= lon_max and lat_min <= lon <= lat_max
                else ""
            )
            raise HTTPException(422, f"le point est hors du Mali{hint}")
        token = authorization[7:] if authorization and authorization.startswith("Bearer ") else None
        caseworker = token_is_valid(token, request.app.state.settings.caseworker_token_hashes)
        try:
            return answer_nearest(
                lay,
                lon=lon,
                lat=lat,
                service=service,
                mode=mode,
                scenario=scenario,
                k=k,
                include_confidential=caseworker,
                place=place_info,
                routes=routes,
            )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc

    return app
