"""``GET /api/v1/providers``: the provider directory as GeoJSON, filtered.

Confidential providers only with a caseworker token (:mod:`api.services.audience`).
"""

from __future__ import annotations

from typing import Annotated

import geopandas as gpd
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.choices import ProviderService, ProviderType
from api.http.deps import audience, directory
from api.http.routes.conflict import GeoJSONResponse
from api.http.schemas import FeatureCollection, error_responses
from api.services.audience import Audience, visible

__all__ = ["router"]

router = APIRouter(tags=["providers"], responses=error_responses(422, 503))


@router.get("/api/v1/providers", response_model=FeatureCollection, response_class=GeoJSONResponse)
def providers(
    rows: Annotated[gpd.GeoDataFrame, Depends(directory)],
    who: Annotated[Audience, Depends(audience)],
    service: Annotated[
        ProviderService | None, Query(description="Only providers offering this service.")
    ] = None,
    provider_type: Annotated[
        ProviderType | None, Query(alias="type", description="Kind of provider.")
    ] = None,
    adm1: Annotated[str | None, Query(max_length=8, description="Région P-code.")] = None,
    adm2: Annotated[str | None, Query(max_length=8, description="Cercle P-code.")] = None,
) -> Response:
    """The provider directory as GeoJSON; confidential providers only for caseworkers."""
    crs = rows.crs
    shown = visible(rows, who)
    if service is not None:
        wanted = service.value
        shown = shown[[wanted in (s if s is not None else []) for s in shown["services"]]]
    if provider_type is not None:
        shown = shown[shown["type"] == provider_type.value]
    for column, value in (("adm1_pcode", adm1), ("adm2_pcode", adm2)):
        if value is not None:
            shown = shown[shown[column].astype("string").str.upper() == value.upper()]
    body = gpd.GeoDataFrame(shown, geometry="geometry", crs=crs).to_json(
        drop_id=True, ensure_ascii=False, na="null"
    )
    return GeoJSONResponse(body)
