"""``GET /regions/{pcode}/brief.pdf`` and ``.html``: a région's printable briefing.

The document of ``orienter brief`` (:func:`api.services.briefings.build_document`), in
French unless ``?lang=en`` or ``Accept-Language: en``; the last documents made are kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.choices import Frame
from api.errors import RequestError
from api.http.deps import heavy_work, shared_analysis
from api.http.schemas import error_responses
from api.services.analysis import Analysis
from api.services.briefings import build_document
from api.services.frames import FrameError
from api.services.regions import RegionNotFoundError, known_regions, resolve_region
from geo.errors import DataFileError
from web.i18n import choose_lang

__all__ = ["router"]

router = APIRouter(tags=["briefings"], responses=error_responses(404, 422, 503))
#: How many documents the app keeps (LRU).
CACHE_SIZE = 16
_CACHE_LOCK = threading.Lock()
#: The HTML document is self-contained: inline CSS and data: images, no script.
_HTML_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)


def _documents(request: Request) -> OrderedDict:
    state = request.app.state
    with _CACHE_LOCK:
        if getattr(state, "brief_documents", None) is None:
            state.brief_documents = OrderedDict()
        return state.brief_documents


def _serve(
    request: Request,
    analysis: Analysis,
    pcode: str,
    lang: str | None,
    fmt: str,
    frame: Frame | None = None,
) -> Response:
    chosen = choose_lang(lang, request.headers.get("accept-language"))
    framed = None if frame is None else frame.value
    try:
        regions = analysis.units(analysis.frame_level("adm1", framed)[0])
    except FrameError as exc:
        raise RequestError(422, "frame_unavailable", parameter="frame") from exc
    try:
        code = resolve_region(regions, pcode).pcode
    except RegionNotFoundError as exc:
        # the message never repeats what the client sent
        raise RequestError(
            404, "region_not_found", parameter="pcode", known=known_regions(regions)
        ) from exc
    key = (code, chosen, fmt, framed, analysis.manifest.get("built_at"))
    cache = _documents(request)
    with _CACHE_LOCK:
        payload = cache.get(key)
    if payload is None:
        try:
            with heavy_work(request):
                _, payload = build_document(analysis, code, lang=chosen, fmt=fmt, frame=framed)
        except DataFileError as exc:
            raise RequestError(503, "coverage_unavailable") from exc
        with _CACHE_LOCK:
            cache[key] = payload
            while len(cache) > CACHE_SIZE:
                cache.popitem(last=False)
    filename = f"orienter-brief-{code}-{chosen}.{fmt}"
    disposition = {"Content-Disposition": f'inline; filename="{filename}"'}
    if fmt == "pdf":
        return Response(payload, media_type="application/pdf", headers=disposition)
    return Response(
        payload,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": _HTML_CSP, **disposition},
    )


_LANG = Query(max_length=5, description="fr or en")
_FRAME = Query(description="Régions of 2015 or of 2023 (from the 2015 cercles, approximate).")


@router.get(
    "/regions/{pcode}/brief.pdf",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The briefing, A4 PDF.",
        }
    },
)
def brief_pdf(
    request: Request,
    analysis: Annotated[Analysis, Depends(shared_analysis)],
    pcode: str,
    lang: Annotated[str | None, _LANG] = None,
    frame: Annotated[Frame | None, _FRAME] = None,
) -> Response:
    """The région's printable briefing (A4 PDF), French unless ?lang=en or Accept-Language."""
    return _serve(request, analysis, pcode, lang, "pdf", frame)


@router.get(
    "/regions/{pcode}/brief.html",
    response_class=Response,
    responses={
        200: {
            "content": {"text/html": {"schema": {"type": "string"}}},
            "description": "The briefing, one self-contained HTML page.",
        }
    },
)
def brief_html(
    request: Request,
    analysis: Annotated[Analysis, Depends(shared_analysis)],
    pcode: str,
    lang: Annotated[str | None, _LANG] = None,
    frame: Annotated[Frame | None, _FRAME] = None,
) -> Response:
    """The same briefing as one self-contained HTML page."""
    return _serve(request, analysis, pcode, lang, "html", frame)
