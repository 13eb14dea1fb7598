"""The JSON API under ``/api/v1/`` and the briefing documents: one router per resource."""

from __future__ import annotations

from fastapi import APIRouter

from api.http.routes import (
    briefs,
    conflict,
    coverage,
    health,
    nearest,
    places,
    planning,
    providers,
    route,
)

__all__ = ["ROUTERS"]

#: Every router of the API, in the order of the OpenAPI document.
ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    nearest.router,
    route.router,
    providers.router,
    coverage.router,
    places.router,
    conflict.router,
    planning.router,
    briefs.router,
)
