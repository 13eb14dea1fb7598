"""The request guard: one pure ASGI middleware around the whole app.

- security headers on every answer, errors included;
- 414 for a path and query string above ``max_url`` bytes, 413 for a body above
  ``max_body`` bytes (checked on ``Content-Length`` and on the bytes actually received);
- an unexpected exception becomes a JSON 500 that repeats nothing of the request, and is
  logged by its type only.
"""

from __future__ import annotations

import functools
import logging

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import RequestError
from api.http.errors import error_response, lang_of

__all__ = ["MAX_PARAMETERS", "RequestGuard"]

#: Query parameters a request may carry (the widest route takes about ten).
MAX_PARAMETERS = 50


def _framed(path: str) -> bool:
    """The pages the app frames itself (the région maps inside the région page)."""
    return path.startswith("/regions/") and path.endswith("/carte")


log = logging.getLogger(__name__)

#: The headers the guard sets or extends (lower case, as raw ASGI header names).
_SET_HERE = frozenset(
    {
        b"x-content-type-options",
        b"referrer-policy",
        b"vary",
        b"cache-control",
        b"content-security-policy",
        b"x-frame-options",
    }
)


@functools.cache
def _fixed_headers(framed: bool, token: bool) -> tuple[tuple[bytes, bytes], ...]:
    """The guard's headers for an answer that has none of :data:`_SET_HERE`: what
    :class:`RequestGuard`'s general path adds to such an answer, in its order."""
    message: Message = {"type": "http.response.start", "headers": []}
    out = MutableHeaders(scope=message)
    _secure(out, framed=framed, token=token)
    return tuple(message["headers"])


def _secure(out: MutableHeaders, *, framed: bool, token: bool) -> None:
    """Set the guard's headers on ``out`` (an answer's headers)."""
    out["X-Content-Type-Options"] = "nosniff"
    out["Referrer-Policy"] = "no-referrer"
    # an answer may depend on the caseworker token: caches key on it, and
    # nothing answered to a request carrying one is kept anywhere
    out.add_vary_header("Authorization")
    if token:
        out["Cache-Control"] = "no-store"
    # A page may set a wider policy of its own (map scripts); JSON keeps this one.
    # No answer may be framed by another site; the région maps are framed by
    # the région page, so they allow their own origin only.
    ancestors = "'self'" if framed else "'none'"
    policy = out.get("content-security-policy") or "default-src 'self'"
    if "frame-ancestors" not in policy:
        policy = f"{policy.rstrip('; ')}; frame-ancestors {ancestors}"
    out["Content-Security-Policy"] = policy
    out["X-Frame-Options"] = "SAMEORIGIN" if framed else "DENY"


class RequestGuard:
    """Pure ASGI middleware around the whole app.

    - security headers on every answer, errors included;
    - 414 for a path + query string above ``max_url``, 413 for a body above ``max_body``
      (checked on ``Content-Length`` and on the bytes actually received);
    - an unexpected exception becomes a JSON 500 that repeats nothing of the request,
      and is logged by its type only.
    """

    def __init__(self, app: ASGIApp, *, max_body: int, max_url: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_url = max_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        lang = lang_of(headers.get("accept-language"))
        started = False

        async def send_secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                raw = message.setdefault("headers", [])
                if isinstance(raw, list) and not any(k.lower() in _SET_HERE for k, _ in raw):
                    # none of them yet (most answers): the very headers the general path
                    # below would add, in its order, without its per-header scans
                    raw.extend(_fixed_headers(_framed(scope["path"]), "authorization" in headers))
                    await send(message)
                    return
                out = MutableHeaders(scope=message)
                _secure(out, framed=_framed(scope["path"]), token="authorization" in headers)
            await send(message)

        async def refuse(status: int, code: str, limit: int) -> None:
            error = RequestError(status, code, limit=limit)
            response = error_response(error, lang, headers={"Connection": "close"})
            await response(scope, receive, send_secured)

        target = len(scope.get("raw_path") or scope["path"].encode()) + len(
            scope.get("query_string", b"")
        )
        if target > self.max_url:
            await refuse(414, "url_too_long", self.max_url)
            return
        query = scope.get("query_string", b"")
        if query and query.count(b"&") + 1 > MAX_PARAMETERS:
            await refuse(400, "too_many_parameters", MAX_PARAMETERS)
            return
        length = headers.get("content-length")
        if length is not None and (not length.strip().isdigit() or int(length) > self.max_body):
            await refuse(413, "body_too_large", self.max_body)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client gone
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                await refuse(413, "body_too_large", self.max_body)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        try:
            await self.app(scope, replay, send_secured)
        except Exception as exc:  # last resort; nothing of the request is kept
            log.error("unexpected %s while answering a request", type(exc).__name__)
            if not started:
                response = error_response(RequestError(500, "internal"), lang)
                await response(scope, receive, send_secured)
