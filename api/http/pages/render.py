"""How a page is rendered: templates, language, Content-Security-Policy, navigation.

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
1. Write ``api/http/pages/<topic>.py`` with ``router = APIRouter(include_in_schema=False)``
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
3. Add the router to :data:`api.http.pages.ROUTERS`.  A page listed in :data:`NAV`
   shows in the navigation bar as soon as its route exists.
4. A page that embeds folium output needs inline scripts: pass
   ``csp=PAGE_CSP_INLINE`` to :func:`render`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from starlette.routing import Match

import web
from api.http.params import UnknownParameters
from geo.providers import public_providers
from web.i18n import DEFAULT_LANG, LANGS, catalogue, translate
from web.time_flags import flag_notes

__all__ = [
    "NAV",
    "PAGE_CSP",
    "PAGE_CSP_INLINE",
    "STATIC",
    "label",
    "page_lang",
    "parameter_error_page",
    "render",
]

WEB = Path(web.__file__).resolve().parent
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
        # an error page links to the home page in the other language: its own address
        # holds what the client sent, which no error repeats
        "lang_url": (
            (lambda code: _lang_url(request, code))
            if status_code < 400
            else (lambda code: f"/?lang={code}")
        ),
        "static": lambda path: f"/static/{path}",
        "nav": [(path, key) for path, key in NAV if _has_page(request.app, path)],
        "current_path": request.url.path,
        "js_messages": js_messages,
        "flag_notes": lambda values: flag_notes(values, lang),
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


def parameter_error_page(request: Request, refused: UnknownParameters) -> HTMLResponse:
    """A page asked with a query parameter it does not take: 422, in the page language,
    naming the parameters it takes and linking to the address without the others."""
    lang = page_lang(request)
    return render(
        request,
        "error.html",
        status_code=422,
        message=refused.error.message(lang),
        clean_url=refused.clean_url,
    )


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


def label(lang: str) -> Callable[[str, str], str]:
    """``label(prefix, value)``: the message ``prefix + value``, or the value itself (a
    mode a user added to the speed table has no message)."""

    def message(prefix: str, value: str) -> str:
        key = f"{prefix}{value}"
        return translate(key, lang) if key in catalogue(lang) else str(value)

    return message
