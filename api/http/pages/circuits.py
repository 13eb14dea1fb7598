"""The referral pathways: ``/circuits`` (one link per cercle), ``/circuits/{pcode}`` (a
cercle's or commune's pathway as a page) and ``/circuits/{pcode}.pdf`` (the A4 sheet).

The pathway of ``orienter pathway`` (:mod:`api.services.pathways`), from the app's loaded
layers, shared analysis, gazetteer and directory; French unless ``?lang=en`` (the pages'
rule, :func:`api.http.pages.render.page_lang`).  ``?frame=2023`` names the area's 2023
région.  Pathways are heavy work (a full search for the police/security providers), kept
once made (LRU, per language, frame and day).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.choices import Frame
from api.errors import RequestError
from api.http.deps import heavy_work, optional_analysis
from api.http.pages.render import page_lang, render
from api.services.analysis import Analysis
from api.services.frames import FrameError
from api.services.pathways import AreaNotFoundError, assemble_pathway, resolve_area
from api.services.regions import display_name
from geo.errors import DataFileError
from web.pathway import PathwayData, body_context, render_html, render_pdf

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
#: How many pathways (data and PDF) the app keeps.
CACHE_SIZE = 32
#: Longest area text looked up (a P-code or a name).
_MAX_AREA_TEXT = 60
_LOCK = threading.Lock()
_FRAME = Query(description="Name the area's région in the 2015 or the 2023 frame.")


def _kept(request: Request) -> OrderedDict:
    state = request.app.state
    with _LOCK:
        if getattr(state, "pathways", None) is None:
            state.pathways = OrderedDict()
        return state.pathways


def _pathway(
    request: Request, analysis: Analysis, pcode: str, lang: str, frame: str | None
) -> PathwayData:
    """The pathway of ``pcode`` (kept once made); RequestError 404/422/503 otherwise."""
    layers = getattr(request.app.state, "layers", None)
    if layers is None:
        raise RequestError(503, "not_built")
    if len(pcode) > _MAX_AREA_TEXT:
        raise RequestError(404, "area_not_found", parameter="pcode")
    key = ("data", pcode.upper(), lang, frame, analysis.manifest.get("built_at"), date.today())
    kept = _kept(request)
    with _LOCK:
        found = kept.get(key)
    if found is not None:
        return found
    try:
        with heavy_work(request):
            found = assemble_pathway(
                analysis,
                layers,
                request.app.state.gazetteer,
                request.app.state.directory,
                pcode,
                lang=lang,
                frame=frame,
            )
    except AreaNotFoundError as exc:
        raise RequestError(404, "area_not_found", parameter="pcode") from exc
    except FrameError as exc:
        raise RequestError(422, "frame_unavailable", parameter="frame") from exc
    except DataFileError as exc:
        raise RequestError(503, "coverage_unavailable") from exc
    _keep(kept, key, found)
    return found


def _keep(kept: OrderedDict, key: tuple, value: Any) -> None:
    with _LOCK:
        kept[key] = value
        while len(kept) > CACHE_SIZE:
            kept.popitem(last=False)


@router.get("/circuits", response_class=HTMLResponse)
def circuits_index(
    request: Request, analysis: Annotated[Analysis | None, Depends(optional_analysis)]
) -> Response:
    """One link per cercle, grouped by région."""
    if analysis is None:
        return render(request, "circuits.html", status_code=503, regions=[], not_built=True)
    regions = analysis.units("adm1")
    cercles = analysis.units("adm2")
    groups = []
    for code, name in sorted(zip(regions["pcode"].astype(str), regions["name"], strict=True)):
        inside = cercles[cercles["parent_pcode"].astype(str) == code].sort_values("name")
        groups.append(
            {
                "pcode": code,
                "name": display_name(code, str(name)),
                "cercles": list(zip(inside["pcode"].astype(str), inside["name"], strict=True)),
            }
        )
    return render(request, "circuits.html", regions=groups, not_built=False)


@router.get("/circuits/{pcode}.pdf", response_class=Response)
def circuit_pdf(
    request: Request,
    pcode: str,
    analysis: Annotated[Analysis | None, Depends(optional_analysis)],
    lang: Annotated[str | None, Query(max_length=5, description="fr or en")] = None,
    frame: Annotated[Frame | None, _FRAME] = None,
) -> Response:
    """The pathway of a cercle or commune as one A4 PDF (two pages at most)."""
    if analysis is None:
        raise RequestError(503, "not_built")
    chosen = page_lang(request)
    frame_value = None if frame is None else frame.value
    data = _pathway(request, analysis, pcode, chosen, frame_value)
    key = ("pdf", data.area_pcode, chosen, frame_value, data.built_at, date.today())
    kept = _kept(request)
    with _LOCK:
        payload = kept.get(key)
    if payload is None:
        with heavy_work(request):
            payload = render_pdf(render_html(data))
        _keep(kept, key, payload)
    filename = f"orienter-circuit-{data.area_pcode}-{chosen}.pdf"
    return Response(
        payload,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@router.get("/circuits/{pcode}", response_class=HTMLResponse)
def circuit_page(
    request: Request,
    pcode: str,
    analysis: Annotated[Analysis | None, Depends(optional_analysis)],
    frame: Annotated[Frame | None, _FRAME] = None,
) -> Response:
    """The pathway of a cercle or commune as a page (printable, FR/EN, offline)."""
    lang = page_lang(request)
    if analysis is None:
        return render(
            request, "circuit.html", status_code=503, p=None, message=_message("not_built", lang)
        )
    frame_value = None if frame is None else frame.value
    try:
        code = resolve_area(analysis, pcode[:_MAX_AREA_TEXT]).pcode
    except AreaNotFoundError:
        code = pcode
    if code != pcode:  # a name, or a lower-case code: one address per area
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/circuits/{code}{query}", status_code=307)
    try:
        data = _pathway(request, analysis, pcode, lang, frame_value)
    except RequestError as exc:
        if exc.status != 404:
            raise
        return render(request, "circuit.html", status_code=404, p=None, message=exc.message(lang))
    return render(request, "circuit.html", frame=frame_value, **body_context(data))


def _message(code: str, lang: str) -> str:
    return RequestError(503, code).message(lang)
