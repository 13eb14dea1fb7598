"""The HTML pages served by the app (French first, English with the FR/EN switch).

:mod:`~api.http.pages.render` renders a page (language, CSP, navigation); one module per
page group: :mod:`~api.http.pages.overview` (``/``, ``/trouver``, the overview map's
layers), :mod:`~api.http.pages.regions` (``/regions/<pcode>``) and
:mod:`~api.http.pages.plan` (``/planifier``), :mod:`~api.http.pages.circuits`
(``/circuits``, the referral pathways).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from api.http.pages import circuits, overview, plan, regions
from api.http.pages.render import STATIC

__all__ = ["ROUTERS", "install_pages"]

#: Every page router.
ROUTERS: tuple[APIRouter, ...] = (overview.router, regions.router, plan.router, circuits.router)


def install_pages(app: FastAPI) -> None:
    """Add the pages and the ``/static`` files (Leaflet, CSS, scripts) to ``app``."""
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
