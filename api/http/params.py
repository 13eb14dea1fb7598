"""Unknown query parameters are refused, with the list of those the address takes.

A misspelt or unsupported parameter that is silently ignored gives a wrong answer that
looks right (``/api/v1/coverage?level=adm2&regoin=ML05`` would return the 50 cercles of
Mali as if they were Mopti's): every route and page of the app refuses a query
parameter it does not read.  The API answers 422 ``unknown_parameter`` in the one JSON
error shape, ``allowed`` listing the parameters of that address; a page answers 422 with
a page in its language saying the same and linking to the address without them.

What a route reads is what its signature declares (FastAPI's dependant, dependencies
included); a page that reads parameters from the request itself declares them with
:func:`reads_query`.  ``lang`` is allowed everywhere (the FR/EN switch, error messages).

Links shared by messengers and mail clients often carry tracking parameters
(``utm_*``, ``fbclid``, ``gclid`` ...).  A page redirects to the same address without
them, so the link still opens and nothing tracks; the API, which people do not click,
refuses them like any other unknown parameter.  Clients that send no such parameter
(the pages' own scripts, the command line, ``curl``) are unaffected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from api.errors import RequestError

__all__ = [
    "ALWAYS_ALLOWED",
    "UnknownParameters",
    "allowed_parameters",
    "install_parameter_check",
    "reads_query",
    "refuse_unknown_parameters",
]

#: Parameters every address takes.
ALWAYS_ALLOWED: frozenset[str] = frozenset({"lang"})
#: Tracking parameters a page drops (by redirecting to the address without them).
_TRACKING = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|igshid|"
    r"yclid|_hsenc|_hsmi|mkt_tok|ref_src)$",
    re.I,
)
#: A parameter name the error may repeat (anything else is not echoed).
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,39}$")
_F = TypeVar("_F", bound=Callable[..., Any])
_ATTRIBUTE = "query_names"


def reads_query(*names: str) -> Callable[[_F], _F]:
    """Declare the query parameters a page reads from the request itself."""

    def mark(func: _F) -> _F:
        setattr(func, _ATTRIBUTE, tuple(names))
        return func

    return mark


def _declared(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _declared(sub)
    return names


def allowed_parameters(route: APIRoute) -> list[str]:
    """The query parameters ``route`` takes, sorted (``lang`` included)."""
    names = _declared(route.dependant) | set(getattr(route.endpoint, _ATTRIBUTE, ()))
    return sorted(names | ALWAYS_ALLOWED)


class UnknownParameters(Exception):
    """A request with query parameters its address does not take."""

    def __init__(self, error: RequestError, *, page: bool, clean_url: str, only_tracking: bool):
        super().__init__(error.code)
        self.error = error
        self.page = page
        self.clean_url = clean_url
        self.only_tracking = only_tracking


def _is_page(route: APIRoute) -> bool:
    return route.response_class is HTMLResponse


async def refuse_unknown_parameters(request: Request) -> None:
    """A dependency of every route: :class:`UnknownParameters` for a parameter the route
    does not take."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = allowed_parameters(route)
    given = list(dict.fromkeys(request.query_params.keys()))
    unknown = [name for name in given if name not in allowed]
    if not unknown:
        return
    kept = [(k, v) for k, v in request.query_params.multi_items() if k in allowed]
    clean = request.url.path + (f"?{urlencode(kept)}" if kept else "")
    name = unknown[0]
    error = RequestError(
        422,
        "unknown_parameter",
        parameter=name if _PLAIN_NAME.match(name) else None,
        allowed=[a for a in allowed if a != "lang"] + ["lang"],
    )
    raise UnknownParameters(
        error,
        page=_is_page(route),
        clean_url=clean,
        only_tracking=all(_TRACKING.match(n) for n in unknown),
    )


def install_parameter_check(
    app: FastAPI,
    render_page: Callable[[Request, UnknownParameters], Response],
    render_error: Callable[[Request, RequestError], Response],
) -> None:
    """Answer :class:`UnknownParameters` (raised by :func:`refuse_unknown_parameters`, a
    dependency of the app): a page through ``render_page`` (or a redirect dropping
    tracking parameters), the API through ``render_error`` (the one JSON error shape)."""

    async def handle(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, UnknownParameters):  # registered for this type only
            raise exc
        if exc.page and exc.only_tracking:
            return RedirectResponse(exc.clean_url, status_code=307)
        if exc.page:
            return render_page(request, exc)
        return render_error(request, exc.error)

    app.add_exception_handler(UnknownParameters, handle)
