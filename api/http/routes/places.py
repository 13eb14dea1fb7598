"""``GET /api/v1/places``: settlements matching a name typed so far (autocomplete)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from api.errors import RequestError
from api.http.deps import gazetteer
from api.http.schemas import PlacesAnswer, error_responses
from geo.settlements import Gazetteer

__all__ = ["router"]

router = APIRouter(tags=["places"], responses=error_responses(422, 503))


@router.get("/api/v1/places", response_model=PlacesAnswer)
def places(
    gaz: Annotated[Gazetteer, Depends(gazetteer)],
    q: Annotated[str, Query(min_length=1, max_length=100, description="Name typed so far.")],
    limit: Annotated[int, Query(ge=1, le=20, description="How many settlements.")] = 8,
) -> JSONResponse:
    """Gazetteer autocomplete: settlements matching ``q``, larger places first."""
    try:
        found = gaz.search(q, limit=limit)
    except (ValueError, TypeError) as exc:
        raise RequestError(422, "no_letters", parameter="q") from exc
    return JSONResponse({"query": q, "results": found.to_dict("records")})
