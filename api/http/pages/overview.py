"""The HTML pages: the overview ``/`` and the caseworker's finder ``/trouver``.

Pages are Jinja2 templates (``web/templates/``) served by the API app.  Every string comes
from the message catalogues (``web/locales/<lang>/pages.json``, :func:`web.i18n.translate`);
French is the default, English is chosen with ``?lang=en`` (the FR/EN switch), which also
sets a ``lang`` cookie so the next pages stay in that language.  The browser's
``Accept-Language`` is deliberately not used: most users work in French on machines set
up in English.

The pages hold nothing about a survivor: the finder sends its query to the JSON API from
the browser and keeps the answer in the page only; the language cookie is the only thing
stored.  Every script and style sheet is served by the app itself under ``/static``
(``web/static``), so the pages work offline; the Content-Security-Policy allows scripts
and styles from the app only, images from the app and the OpenStreetMap tile server.

How another page plugs in
-------------------------
1. Write ``api/pages_<topic>.py`` with ``router = APIRouter(include_in_schema=False)``
   and handlers that end with ``return render(request, "<topic>.html", **context)``.
   :func:`render` chooses the language, sets the page CSP and the language cookie, and
   gives the template ``t`` (translate in the page language), ``lang``, ``other_lang``,
   ``lang_url(code)``, ``static(path)``, ``nav`` and ``sources``.
2. The template starts with ``{% extends "base.html" %}`` and fills the blocks
   ``title`` (plain text), ``main`` (the page body, inside ``<main>``) and, if needed,
   ``head`` (extra ``<link rel="stylesheet">``) and ``scripts`` (``<script src=...>`` only:
   inline scripts are refused by the CSP).  ``base.html`` puts every ``pages.*`` message
   in a JSON block that scripts read with ``Orienter.t("key")`` (``/static/js/common.js``,
   which also has the base map, provider markers and popups).  Shared CSS classes are
   listed at the top of ``web/static/css/orienter.css``.
3. Add the router in ``api.http.app.create_app`` after ``install_pages(app)``:
   ``app.include_router(pages_<topic>.router)``.  A page listed in :data:`NAV` shows in
   the navigation bar as soon as its route exists.
4. A page that embeds folium output needs inline scripts: pass
   ``csp=PAGE_CSP_INLINE`` to :func:`render`.
"""

from __future__ import annotations

import logging
import threading
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import geopandas as gpd
import jinja2
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup
from starlette.routing import Match

from api.build.pipeline import SERVICE_KEYS
from api.datasets import find_dataset
from geo.boundaries import read_boundaries
from geo.providers import public_providers
from web.i18n import DEFAULT_LANG, LANGS, catalogue, translate

__all__ = ["NAV", "PAGE_CSP", "PAGE_CSP_INLINE", "install_pages", "page_lang", "render", "router"]

log = logging.getLogger(__name__)

WEB = Path(__file__).resolve().parents[3] / "web"
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"
TILE_HOST = "https://tile.openstreetmap.org"
LANG_COOKIE = "lang"


def _page_csp(*, inline: bool) -> str:
    extra = " 'unsafe-inline'" if inline else ""
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self'{extra}",
            f"style-src 'self'{extra}",
            f"img-src 'self' data: {TILE_HOST}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'self'",
        )
    )


#: Scripts and styles from the app's own files only.
PAGE_CSP = _page_csp(inline=False)
#: For a page that must embed folium's inline scripts and styles.
PAGE_CSP_INLINE = _page_csp(inline=True)

#: The navigation bar: (path, message key); an entry shows once its route exists.
NAV: list[tuple[str, str]] = [
    ("/", "pages.nav_overview"),
    ("/trouver", "pages.nav_finder"),
    ("/planifier", "pages.nav_plan"),
]

router = APIRouter(include_in_schema=False)
_ANALYSIS_LOCK = threading.Lock()


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(("html", "xml")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def page_lang(request: Request) -> str:
    """The page language: ``?lang=``, else the ``lang`` cookie, else French."""
    for value in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        code = (value or "").strip().lower()
        if code in LANGS:
            return code
    return DEFAULT_LANG


def _lang_url(request: Request, code: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    params.append(("lang", code))
    return f"{request.url.path}?{urlencode(params)}"


def _has_page(app: FastAPI, path: str) -> bool:
    """True when a GET of ``path`` reaches a route of ``app`` (included routers too)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
    return any(route.matches(scope)[0] == Match.FULL for route in app.routes)


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    csp: str = PAGE_CSP,
    **context: Any,
) -> HTMLResponse:
    """Render ``web/templates/<template>`` in the page language, with the page CSP.

    Parameters
    ----------
    request
        The request (language, paths for the navigation and the FR/EN switch).
    template
        Template file name under ``web/templates/``.
    status_code
        HTTP status of the page.
    csp
        Content-Security-Policy of the page (:data:`PAGE_CSP`, or :data:`PAGE_CSP_INLINE`
        for folium output).
    **context
        Template variables.
    """
    lang = page_lang(request)

    def t(key: str, **values: object) -> str:
        return translate(key, lang, **values)

    def js_messages() -> Markup:
        # every ``pages.*`` message, keyed without the domain, for the page scripts
        body = {k[6:]: v for k, v in catalogue(lang).items() if k.startswith("pages.")}
        data = jinja2.utils.htmlsafe_json_dumps(body)
        return Markup(f'<script type="application/json" id="messages">{data}</script>')

    base = {
        "t": t,
        "lang": lang,
        "other_lang": "en" if lang == "fr" else "fr",
        "lang_url": lambda code: _lang_url(request, code),
        "static": lambda path: f"/static/{path}",
        "nav": [(path, key) for path, key in NAV if _has_page(request.app, path)],
        "current_path": request.url.path,
        "js_messages": js_messages,
        "sources": _sources(request),
        "today": date.today().isoformat(),
    }
    html = _environment().get_template(template).render({**base, **context})
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Content-Security-Policy"] = csp
    response.headers["Content-Language"] = lang
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", httponly=True
        )
    return response


def _sources(request: Request) -> dict[str, Any]:
    """What the pages rest on: the build date and the provider directory's newest date."""
    layers = getattr(request.app.state, "layers", None)
    directory = getattr(request.app.state, "directory", None)
    built_at = layers.manifest.get("built_at") if layers is not None else None
    verified = None
    if directory is not None and "source_date" in directory:
        public = public_providers(directory)
        dates = [d for d in public["source_date"].dropna().astype(str) if d[:1].isdigit()]
        verified = max(dates) if dates else None
    return {"built_at": (built_at or "")[:10] or None, "providers_date": verified}


def _choices(request: Request) -> dict[str, list[tuple[str, str]]]:
    """Service, mode and scenario options (value, message key) of the built layers."""
    layers = getattr(request.app.state, "layers", None)
    modes = layers.modes if layers is not None else []
    scenarios = layers.scenarios if layers is not None else []
    scenarios = sorted(scenarios, key=lambda s: (s != "baseline", s))
    return {
        "services": [(s, f"pages.service_{s}") for s in SERVICE_KEYS],
        "modes": [(m, f"pages.mode_{m}") for m in modes],
        "scenarios": [(s, f"pages.scenario_{s}") for s in scenarios],
    }


@cache
def _boundaries_geojson(path: Path, level: int) -> str:
    """A boundary level as light GeoJSON (pcode, name; geometry simplified to ~500 m)."""
    units = read_boundaries(path, level=level)
    units = gpd.GeoDataFrame(
        units[["pcode", "name"]],
        geometry=units.geometry.simplify(0.005, preserve_topology=True),
        crs=units.crs,
    )
    return units.to_json(drop_id=True, ensure_ascii=False, to_wgs84=True)


@router.get("/carte/limites/{level}.geojson")
def boundaries(request: Request, level: str) -> Response:
    """Région (adm1) or cercle (adm2) boundaries: the map's base layer when tiles fail."""
    if level not in ("adm0", "adm1", "adm2"):
        raise HTTPException(404, "niveau inconnu ; valeurs permises : adm0, adm1, adm2")
    path = find_dataset(request.app.state.settings, level)
    if path is None:
        raise HTTPException(404, f"pas de limites administratives {level}")
    body = _boundaries_geojson(path, int(level[-1]))
    return Response(
        body,
        media_type="application/geo+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    """The overview: map of providers and coverage, national figures, sources."""
    return render(
        request,
        "index.html",
        choices=_choices(request),
        figures=_national_figures(request, page_lang(request)),
    )


@router.get("/trouver", response_class=HTMLResponse)
def finder(request: Request) -> HTMLResponse:
    """The caseworker's finder: nearest providers from a village or a point on the map."""
    return render(request, "trouver.html", choices=_choices(request))


def _analysis(request: Request) -> Any | None:
    """The app's shared :class:`api.services.analysis.Analysis` (None when nothing is built)."""
    state = request.app.state
    found = getattr(state, "analysis", None)
    if found is not None:
        return found
    if getattr(state, "layers", None) is None:
        return None
    try:
        from api.services.analysis import Analysis
    except ImportError:  # the coverage module is not there yet
        return None
    with _ANALYSIS_LOCK:
        found = getattr(state, "pages_analysis", None)
        if found is None:
            found = state.pages_analysis = Analysis.load(state.settings)
    return found


def _national_figures(request: Request, lang: str) -> dict[str, Any]:
    """Key national figures computed on the data: people beyond 1, 2 and 5 h of a
    One-Stop Centre (car, baseline) and the number of public providers."""
    figures: dict[str, Any] = {"providers_public": None, "beyond": None}
    directory = getattr(request.app.state, "directory", None)
    if directory is not None:
        public = public_providers(directory)
        figures["providers_public"] = len(public)
        figures["one_stop_centres"] = int((public["type"] == "one_stop_centre").sum())
    analysis = _analysis(request)
    if analysis is None:
        return figures
    modes = analysis.choices["mode"]
    mode = "car" if "car" in modes else (modes[0] if modes else None)
    if mode is None or "baseline" not in analysis.choices["scenario"]:
        return figures
    national = _national(request, analysis, mode)
    if national is None:
        return figures
    total = national["population"]
    rows = []
    for minutes in (60, 120, 300):
        beyond = total - national[f"pop_within_{minutes}"]
        rows.append(
            {
                "hours": minutes // 60,
                "population_text": _format_int(beyond, lang),
                "share_text": _format_percent(beyond / total if total else 0.0, lang),
            }
        )
    figures.update(
        beyond=rows,
        mode=mode,
        scenario="baseline",
        population_total=_format_int(total, lang),
        population_source=Path(national["meta"].get("population_source", "")).name,
    )
    return figures


def _national(request: Request, analysis: Any, mode: str) -> dict | None:
    """``analysis.national`` for One-Stop Centres, kept per app (about 0.6 s to compute)."""
    state = request.app.state
    if getattr(state, "pages_national", None) is None:
        state.pages_national = {}
    cache = state.pages_national
    key = (id(analysis), mode)
    if key not in cache:
        try:
            cache[key] = analysis.national(
                service="one_stop_centre", mode=mode, scenario="baseline"
            )
        except (OSError, ValueError) as exc:  # a missing raster or surface: no figure
            log.warning("national figures unavailable: %s", type(exc).__name__)
            return None
    return cache[key]


def _format_int(value: float, lang: str) -> str:
    text = f"{round(value):,}"
    return text.replace(",", "\u202f") if lang == "fr" else text


def _format_percent(share: float, lang: str) -> str:
    text = f"{share * 100:.1f}"
    return f"{text.replace('.', ',')}\u202f%" if lang == "fr" else f"{text}%"


@router.get("/carte/couverture.geojson")
def coverage_geojson(
    request: Request,
    service: str = "one_stop_centre",
    mode: str = "car",
    scenario: str = "baseline",
    level: str = "adm1",
) -> Response:
    """Coverage per unit with its polygon, for the overview choropleth (public figures:
    shares and people within 1, 2 and 5 h; the nearest provider only if public)."""
    analysis = _analysis(request)
    if analysis is None:
        raise HTTPException(503, "les couches ne sont pas construites : lancez `orienter build`")
    if level not in ("adm1", "adm2"):
        raise HTTPException(422, "level inconnu ; valeurs permises : adm1, adm2")
    try:
        result = analysis.coverage(level=level, service=service, mode=mode, scenario=scenario)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    columns = ["pcode", "name", "population"] + [
        f"{kind}_{t}" for t in (60, 120, 300) for kind in ("pop_within", "share_within")
    ]
    table = result.table[[c for c in columns if c in result.table.columns]]
    units = result.units.set_index("pcode").loc[table["pcode"]]
    shapes = gpd.GeoDataFrame(
        table.reset_index(drop=True),
        geometry=units.geometry.simplify(0.005, preserve_topology=True).to_numpy(),
        crs=units.crs,
    )
    return Response(
        shapes.to_json(drop_id=True, ensure_ascii=False, na="null", to_wgs84=True),
        media_type="application/geo+json",
    )


def install_pages(app: FastAPI) -> None:
    """Add the pages and the ``/static`` files (Leaflet, CSS, scripts) to ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
