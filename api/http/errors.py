"""Every error of the API as one JSON shape, in French (default) or English.

Every 4xx/5xx answer is JSON shaped::

    {"detail": {"code": "out_of_mali",            # stable, for programs
                "message": "le point est hors du Mali",   # for people, FR or EN
                "parameter": "lat",               # the query parameter at fault, or null
                "allowed": ["car", "walk"]}}      # only for unknown values

Routes and services raise :class:`api.errors.RequestError`; FastAPI's validation errors
and Starlette's 404/405 are mapped to the same shape by the handlers that
:func:`install_error_handlers` adds.  The language is ``?lang=`` when given, else the
``Accept-Language`` header (:func:`web.i18n.choose_lang`), else French; messages come
from ``web/locales/<lang>/errors.json`` and never repeat the value the client sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import RequestError
from web.i18n import DEFAULT_LANG, choose_lang

__all__ = [
    "error_body",
    "error_lang",
    "error_response",
    "install_error_handlers",
    "lang_of",
    "validation_error_body",
]

#: pydantic error type -> (message code, ctx key holding the limit)
_VALIDATION: dict[str, tuple[str, str | None]] = {
    "missing": ("missing", None),
    "int_parsing": ("not_integer", None),
    "int_from_float": ("not_integer", None),
    "int_type": ("not_integer", None),
    "float_parsing": ("not_number", None),
    "float_type": ("not_number", None),
    "finite_number": ("not_number", None),
    "bool_parsing": ("not_boolean", None),
    "bool_type": ("not_boolean", None),
    "string_type": ("not_string", None),
    "greater_than_equal": ("too_small", "ge"),
    "less_than_equal": ("too_large", "le"),
    "greater_than": ("above", "gt"),
    "less_than": ("below", "lt"),
    "string_too_short": ("too_short", "min_length"),
    "string_too_long": ("too_long", "max_length"),
}


def lang_of(accept_language: str | None) -> str:
    """``fr`` or ``en`` from an ``Accept-Language`` header (French by default)."""
    return choose_lang(None, accept_language)


def error_lang(request: Request) -> str:
    """The language of an error answer: ``?lang=``, else ``Accept-Language``, else French."""
    return choose_lang(request.query_params.get("lang"), request.headers.get("accept-language"))


def error_body(error: RequestError, lang: str = DEFAULT_LANG) -> dict[str, Any]:
    """The JSON error body of ``error`` in ``lang``."""
    detail: dict[str, Any] = {
        "code": error.code,
        "message": error.message(lang),
        "parameter": error.parameter,
    }
    if error.allowed is not None:
        detail["allowed"] = list(error.allowed)
    return {"detail": detail}


def error_response(
    error: RequestError, lang: str, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """``error`` as a JSON answer with its status, in ``lang``."""
    return JSONResponse(
        error_body(error, lang),
        status_code=error.status,
        headers={"Content-Language": lang, **(headers or {})},
    )


def _allowed_from(expected: str) -> list[str]:
    """``"'a', 'b' or 'c'"`` (pydantic's literal/enum context) -> ``["a", "b", "c"]``."""
    parts = expected.replace(" or ", ", ").split(", ")
    return [p.strip().strip("'\"") for p in parts if p.strip()]


def _validation_error(err: dict) -> RequestError:
    """One FastAPI/pydantic validation error as a :class:`RequestError` (status 422)."""
    loc = [str(part) for part in err.get("loc", ())]
    parameter = loc[-1] if len(loc) > 1 else (loc[0] if loc else None)
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if kind in ("literal_error", "enum"):
        allowed = _allowed_from(str(ctx.get("expected", "")))
        return RequestError(422, "unknown_value", parameter=parameter, allowed=allowed)
    if str(err.get("input", "")).strip().lower() == "nan":
        return RequestError(422, "not_number", parameter=parameter)
    if kind in _VALIDATION:
        code, key = _VALIDATION[kind]
        limit = ctx.get(key) if key else None
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return RequestError(422, code, parameter=parameter, limit=limit)
    return RequestError(422, "invalid", parameter=parameter)


def validation_error_body(errors: Sequence[dict], lang: str = DEFAULT_LANG) -> dict[str, Any]:
    """The error body for FastAPI's ``RequestValidationError.errors()``.

    The first error gives ``code``/``message``/``parameter``; ``errors`` lists them all
    (parameter and message each), never with the value sent.
    """
    items = [error_body(_validation_error(err), lang)["detail"] for err in errors]
    if not items:
        return error_body(RequestError(422, "invalid_request"), lang)
    first = dict(items[0])
    if len(items) > 1:
        first["message"] = (" ; " if lang == "fr" else "; ").join(i["message"] for i in items)
        first["errors"] = [{"parameter": i["parameter"], "message": i["message"]} for i in items]
    return {"detail": first}


def _http_error(exc: StarletteHTTPException) -> RequestError:
    """Starlette's own errors (no route, wrong method ...) as a :class:`RequestError`."""
    if exc.status_code == 404:
        return RequestError(404, "not_found")
    if exc.status_code == 405:
        return RequestError(405, "method_not_allowed")
    return RequestError(exc.status_code, "invalid_request")


def install_error_handlers(app: FastAPI) -> None:
    """Map :class:`RequestError`, validation errors and Starlette's errors to the one shape."""

    # each handler is registered for its own exception type
    async def request_error(request: Request, exc: Exception) -> JSONResponse:
        error = cast(RequestError, exc)
        retry = error.values.get("retry_after")
        headers = {"Retry-After": str(retry)} if retry is not None else None
        return error_response(error, error_lang(request), headers=headers)

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        lang = error_lang(request)
        body = validation_error_body(cast(RequestValidationError, exc).errors(), lang)
        return JSONResponse(body, status_code=422, headers={"Content-Language": lang})

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        http = cast(StarletteHTTPException, exc)
        return error_response(_http_error(http), error_lang(request), headers=http.headers)

    app.add_exception_handler(RequestError, request_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
