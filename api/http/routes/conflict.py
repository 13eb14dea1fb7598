"""``GET /api/v1/conflict/zones``: the build's conflict-zone polygons as GeoJSON."""

from __future__ import annotations

from typing import Annotated

import geopandas as gpd
from fastapi import APIRouter, Depends
from fastapi.responses import Response

from api.errors import RequestError
from api.http.deps import settings
from api.http.schemas import FeatureCollection, error_responses
from api.settings import Settings

__all__ = ["GeoJSONResponse", "router"]


class GeoJSONResponse(Response):
    """A GeoJSON answer (RFC 7946 media type)."""

    media_type = "application/geo+json"


router = APIRouter(tags=["conflict"], responses=error_responses(404))


@router.get(
    "/api/v1/conflict/zones", response_model=FeatureCollection, response_class=GeoJSONResponse
)
def conflict_zones(s: Annotated[Settings, Depends(settings)]) -> Response:
    """Conflict-zone polygons (aggregates: class, events, fatalities, area) as GeoJSON."""
    path = s.build_dir / "conflict" / "zones.parquet"
    if not path.is_file():
        raise RequestError(404, "no_conflict_zones")
    return GeoJSONResponse(gpd.read_parquet(path).to_json(drop_id=True, ensure_ascii=False))
