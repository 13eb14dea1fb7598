"""``GET /api/v1/health``: whether layers are built, which modes and scenarios, and when."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.build.layers import Layers
from api.http.schemas import Health, error_responses

__all__ = ["router"]

router = APIRouter(tags=["status"], responses=error_responses())


@router.get("/api/v1/health", response_model=Health)
def health(request: Request) -> JSONResponse:
    """Whether layers are built, which modes, and when."""
    state = request.app.state
    found: Layers | None = state.layers
    analysis = getattr(state, "analysis", None)
    plan = getattr(state, "planner", None)
    budget = getattr(state, "heavy", None)
    documents = getattr(state, "brief_documents", None) or {}
    return JSONResponse(
        {
            "status": "ok" if found is not None else "not built",
            "modes": found.modes if found else [],
            "scenarios": found.scenarios if found else [],
            "built_at": found.manifest.get("built_at") if found else None,
            # "running" while the start-up tables are computed: the first pages wait for them
            "warm_up": getattr(state, "warm_up", "off"),
            # bounded work (the whole server's budget, shared by its workers) and bounded
            # caches (what this worker process holds now)
            "heavy_work": budget.state() if budget is not None else None,
            "caches": {
                "analysis": analysis.cache_state() if analysis is not None else None,
                "planner": plan.cache_state() if plan is not None else None,
                "briefings": {
                    "documents": len(documents),
                    "bytes": sum(len(v) for v in documents.values()),
                },
            },
        }
    )
