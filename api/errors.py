"""The one error type of Orienter's answers, with its messages in the one catalogue.

A :class:`RequestError` says why a request (a command or an HTTP call) cannot be answered:
a stable ``code`` for programs, the ``parameter`` at fault, the ``allowed`` values when
the value was unknown, and the HTTP ``status`` it maps to.  Its message, in French or
English, comes from the catalogue ``web/locales/<lang>/errors.json`` (key = ``code``).
The API sends it as ``{"detail": {"code", "message", "parameter", ["allowed"]}}``
(:mod:`api.http.errors`); the command line prints the English message after the option
at fault (:func:`api.cli._console.request_failed`).

Messages never repeat the value the client sent (a place name or coordinates must not
travel further than needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from web.i18n import DEFAULT_LANG, LANGS, catalogue, translate

__all__ = ["RequestError", "error_message"]

#: What an empty list of allowed values reads as.
_NONE_ALLOWED = "–"


def error_message(code: str, lang: str = DEFAULT_LANG, **values: Any) -> str:
    """The message of error ``code`` in ``lang`` (French for an unknown language)."""
    return translate(f"errors.{code}", lang if lang in LANGS else DEFAULT_LANG, **values)


class RequestError(Exception):
    """A request that cannot be answered: HTTP ``status``, message ``code``, the parameter
    at fault, the allowed values (for an unknown value) and the message's other values."""

    def __init__(
        self,
        status: int,
        code: str,
        *,
        parameter: str | None = None,
        allowed: Sequence[object] | None = None,
        **values: Any,
    ) -> None:
        if f"errors.{code}" not in catalogue(DEFAULT_LANG):
            raise KeyError(f"no error message {code!r} in web/locales/{DEFAULT_LANG}/errors.json")
        super().__init__(code)
        self.status = status
        self.code = code
        self.parameter = parameter
        self.allowed = None if allowed is None else [str(a) for a in allowed]
        self.values = values

    def message(self, lang: str = DEFAULT_LANG) -> str:
        """The message in ``lang``, formatted with the parameter, allowed values and values."""
        fields: dict[str, Any] = {"parameter": self.parameter, **self.values}
        if self.allowed is not None:
            fields["allowed"] = ", ".join(self.allowed) or _NONE_ALLOWED
        return error_message(self.code, lang, **fields)

    def __str__(self) -> str:
        return self.message("en")
