"""The HTTP edge: what the server refuses before the app sees a request.

:class:`EdgeProtocol` is uvicorn's httptools protocol (the fast C parser) with limits of
its own, so that one careless client or script cannot hold the server:

- request line and headers together at most :data:`MAX_HEAD_BYTES` (431 beyond: a 64 MB
  header used to be read whole);
- a request must arrive whole within :data:`REQUEST_TIMEOUT_S` of its first byte, and a
  connection that sends nothing is closed after :data:`IDLE_TIMEOUT_S` (slow or partial
  headers and bodies no longer keep connections open for ever);
- at most :data:`MAX_CONNECTIONS` open connections (503 beyond);
- every error the parser raises (a NUL byte, a bad method, ``Content-Length: -1``...) is
  answered in the app's one JSON error shape with the same security headers, in French
  (the request could not be read, so neither could its ``Accept-Language``).

Nothing of a refused request is logged or repeated in the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.errors import RequestError
from api.http.errors import error_body

__all__ = [
    "IDLE_TIMEOUT_S",
    "MAX_CONNECTIONS",
    "MAX_HEAD_BYTES",
    "REQUEST_TIMEOUT_S",
    "SECURITY_HEADERS",
    "EdgeProtocol",
    "raw_error",
]

log = logging.getLogger(__name__)

#: Request line + headers, bytes (the URL alone is limited to 2,048 by the app).
MAX_HEAD_BYTES = 16 * 1024
#: A request must be received whole (head and body) within this many seconds.
REQUEST_TIMEOUT_S = 10.0
#: A connection that has sent nothing for this long is closed.
IDLE_TIMEOUT_S = 10.0
#: Open connections at most; the next ones get 503 and are closed.
MAX_CONNECTIONS = 256
#: Headers every answer carries (the app adds the same to its own answers).
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
)
_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}
_CODES = {400: "invalid_request", 408: "request_timeout", 431: "headers_too_large", 503: "busy"}


def raw_error(status: int, *, retry_after: int | None = None, **values: Any) -> bytes:
    """A whole HTTP/1.1 error response (JSON body, security headers, connection close)."""
    error = RequestError(status, _CODES[status], limit=MAX_HEAD_BYTES, **values)
    body = json.dumps(error_body(error, "fr"), ensure_ascii=False).encode("utf-8")
    lines = [b"HTTP/1.1 %d %s" % (status, _REASONS[status])]
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Content-Language", "fr"),
        ("Connection", "close"),
        *SECURITY_HEADERS,
    ]
    if retry_after is not None:
        headers.append(("Retry-After", str(retry_after)))
    lines += [f"{k}: {v}".encode("latin-1") for k, v in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._parsed_head = 0  # the request line and headers parsed so far, bytes
        self._head_overflow = False
        self._in_head = False
        self._in_request = False
        self._refused = False
        self._timer: asyncio.TimerHandle | None = None

    # -- connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > MAX_CONNECTIONS:
            self._refuse(503, retry_after=5)
            return
        self._arm(IDLE_TIMEOUT_S, 408)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # -- parsing

    def data_received(self, data: bytes) -> None:
        if self._refused or self.transport.is_closing():
            return  # answered already: what still comes is read and dropped
        super().data_received(data)
        # a head still unfinished after this chunk: all of it was head (a body arriving
        # with its head in one chunk is not counted: the head ended, the count reset)
        if self._in_head and not self._refused:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(431)

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_head(self, n: int) -> None:
        """A head larger than the limit that arrived whole in one chunk: stop the parser
        (its error ends in :meth:`send_400_response`, which answers 431)."""
        self._parsed_head += n
        if self._parsed_head > MAX_HEAD_BYTES:
            self._head_overflow = True
            raise ValueError("request head too large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed_head = 0
        self._in_head = True
        self._in_request = True
        self._arm(REQUEST_TIMEOUT_S, 408)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_request = False
        self._disarm()  # the request is in: the app's own time from here

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._head_bytes = 0
        self._arm(IDLE_TIMEOUT_S, 408)

    def send_400_response(self, msg: str) -> None:
        """The parser could not read the request (or the head overflowed): the one JSON
        error shape, never its text."""
        self._refuse(431 if self._head_overflow else 400)

    # -- helpers

    def _refuse(self, status: int, **kw: Any) -> None:
        """Answer ``status`` and close, lingering a second so the client reads the answer
        (closing at once would reset a connection whose request is still arriving)."""
        self._disarm()
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        started = self.cycle is not None and self.cycle.response_started
        if not started or self.cycle.response_complete:
            self.transport.write(raw_error(status, **kw))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(1.0, self.transport.close)

    def _arm(self, seconds: float, status: int) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expire, status)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, status: int) -> None:
        self._timer = None
        if not self._in_request:  # idle: close quietly (an answer could be misread)
            if not self.transport.is_closing():
                self.transport.close()
            return
        self._refuse(status)  # a request begun and not finished in time
