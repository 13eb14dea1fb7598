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

import geopandas as gpd
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import Response

from api.datasets import find_dataset
from api.layers import Layers, NotBuiltError, answer_nearest, load_layers, token_is_valid
from api.pages import install_pages
from api.pipeline import SERVICE_KEYS
from api.settings import Settings, get_settings
from geo.providers import PROVIDER_TYPES, SERVICES, public_providers, read_providers
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


def is_caseworker(request: Request, authorization: str | None) -> bool:
    """True when the ``Authorization: Bearer`` token is a configured caseworker token."""
    token = authorization[7:] if authorization and authorization.startswith("Bearer ") else None
    return token_is_valid(token, request.app.state.settings.caseworker_token_hashes)


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
        app.state.directory = read_providers(s.providers) if s.providers.is_file() else None
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
        # A page may set a wider policy of its own (inline map scripts); JSON keeps this one.
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'")
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
        caseworker = is_caseworker(request, authorization)
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

    @app.get("/api/v1/providers")
    def providers(
        request: Request,
        service: str | None = None,
        provider_type: Annotated[str | None, Query(alias="type")] = None,
        adm1: Annotated[str | None, Query(max_length=8)] = None,
        adm2: Annotated[str | None, Query(max_length=8)] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response:
        """The provider directory as GeoJSON; confidential providers only for caseworkers."""
        directory = request.app.state.directory
        if directory is None:
            raise HTTPException(503, "le répertoire des prestataires est introuvable")
        if service is not None and service not in SERVICES:
            raise HTTPException(422, f"service inconnu ; valeurs permises : {', '.join(SERVICES)}")
        if provider_type is not None and provider_type not in PROVIDER_TYPES:
            raise HTTPException(
                422, f"type inconnu ; valeurs permises : {', '.join(PROVIDER_TYPES)}"
            )
        rows = directory if is_caseworker(request, authorization) else public_providers(directory)
        if service is not None:
            rows = rows[[service in (s if s is not None else []) for s in rows["services"]]]
        if provider_type is not None:
            rows = rows[rows["type"] == provider_type]
        for column, value in (("adm1_pcode", adm1), ("adm2_pcode", adm2)):
            if value is not None:
                rows = rows[rows[column].astype("string").str.upper() == value.upper()]
        body = gpd.GeoDataFrame(rows, geometry="geometry", crs=directory.crs).to_json(
            drop_id=True, ensure_ascii=False, na="null"
        )
        return Response(body, media_type="application/geo+json")

    @app.get("/api/v1/places")
    def places(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=100)],
        limit: Annotated[int, Query(ge=1, le=20)] = 8,
    ) -> dict:
        """Gazetteer autocomplete: settlements matching ``q``, larger places first."""
        gaz = request.app.state.gazetteer
        if gaz is None:
            raise HTTPException(503, "le répertoire des localités n'est pas chargé")
        try:
            found = gaz.search(q, limit=limit)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        return {"query": q, "results": found.to_dict("records")}

    @app.get("/api/v1/conflict/zones")
    def conflict_zones(request: Request) -> Response:
        """Conflict-zone polygons (aggregates: class, events, fatalities, area) as GeoJSON."""
        path = request.app.state.settings.build_dir / "conflict" / "zones.parquet"
        if not path.is_file():
            raise HTTPException(404, "pas de zones de conflit : aucune donnée d'événements")
        body = gpd.read_parquet(path).to_json(drop_id=True, ensure_ascii=False)
        return Response(body, media_type="application/geo+json")

    install_pages(app)
    return app
