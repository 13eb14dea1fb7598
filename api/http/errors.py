"""API error messages in French (default) and English, and the one error shape.

Every 4xx/5xx answer of the API is JSON shaped::

    {"detail": {"code": "out_of_mali",            # stable, for programs
                "message": "le point est hors du Mali",   # for people, FR or EN
                "parameter": "lat",               # the query parameter at fault, or null
                "allowed": ["car", "walk"]}}      # only for unknown values

The language follows ``Accept-Language`` (:func:`web.i18n.choose_lang`): English
when the client asks for it, French otherwise.  Messages never repeat the value the
client sent (a place name or coordinates must not travel further than needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from web.i18n import DEFAULT_LANG, LANGS, choose_lang

__all__ = [
    "MESSAGES",
    "ApiError",
    "error_body",
    "lang_of",
    "message",
    "validation_error_body",
]

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "not_built": "les couches ne sont pas construites : lancez `orienter build`",
        "gazetteer_missing": "le répertoire des localités n'est pas chargé",
        "directory_missing": "le répertoire des prestataires est introuvable",
        "coverage_unavailable": (
            "les chiffres de couverture ne peuvent pas être calculés : population, limites "
            "administratives ou surfaces manquantes ; reconstruisez avec `orienter build`"
        ),
        "unknown_value": "valeur inconnue pour {parameter} ; valeurs permises : {allowed}",
        "not_built_combination": (
            "la combinaison mode/scénario demandée n'est pas construite ; construites : {allowed}"
        ),
        "out_of_mali": "le point est hors du Mali",
        "swapped": "le point est hors du Mali ; lat et lon semblent inversées",
        "point_or_place": "donnez lat et lon, ou place",
        "place_not_found": "aucune localité ne correspond à ce nom ou P-code",
        "no_letters": "{parameter} ne contient ni lettre ni chiffre",
        "no_conflict_zones": "pas de zones de conflit : aucune donnée d'événements",
        "invalid_request": "requête invalide",
        "not_found": "cette adresse n'existe pas ; voir /docs",
        "method_not_allowed": "méthode non permise ; l'API ne répond qu'à GET",
        "body_too_large": "le corps de la requête dépasse {limit} octets",
        "url_too_long": "l'adresse de la requête dépasse {limit} caractères",
        "internal": "erreur interne ; rien de la requête n'a été enregistré",
        "request_timeout": "la requête n'est pas arrivée entière à temps ; renvoyez-la",
        "headers_too_large": "les en-têtes de la requête dépassent {limit} octets",
        "busy": (
            "le serveur est occupé par d'autres calculs ; réessayez dans quelques secondes "
            "(voir Retry-After)"
        ),
        "too_many_parameters": "la requête a plus de {limit} paramètres",
        # validation of a single parameter (FastAPI / pydantic)
        "missing": "{parameter} est obligatoire",
        "not_integer": "{parameter} doit être un nombre entier",
        "not_number": "{parameter} doit être un nombre",
        "not_boolean": "{parameter} doit valoir true ou false",
        "not_string": "{parameter} doit être un texte",
        "too_small": "{parameter} doit être supérieur ou égal à {limit}",
        "too_large": "{parameter} doit être inférieur ou égal à {limit}",
        "k_above_build": (
            "k doit être au plus {limit} : la construction garde {limit} prestataires par lieu "
            "et par service (ORIENTER_NEAREST_K)"
        ),
        "above": "{parameter} doit être strictement supérieur à {limit}",
        "below": "{parameter} doit être strictement inférieur à {limit}",
        "too_short": "{parameter} doit contenir au moins {limit} caractère(s)",
        "too_long": "{parameter} doit contenir au plus {limit} caractères",
        "invalid": "{parameter} est invalide",
    },
    "en": {
        "not_built": "the layers are not built: run `orienter build`",
        "gazetteer_missing": "the settlement gazetteer is not loaded",
        "directory_missing": "the provider directory cannot be found",
        "coverage_unavailable": (
            "coverage figures cannot be computed: population, boundaries or surfaces are "
            "missing; rebuild with `orienter build`"
        ),
        "unknown_value": "unknown value for {parameter}; allowed values: {allowed}",
        "not_built_combination": ("this mode/scenario combination is not built; built: {allowed}"),
        "out_of_mali": "the point is outside Mali",
        "swapped": "the point is outside Mali; lat and lon look swapped",
        "point_or_place": "give lat and lon, or place",
        "place_not_found": "no settlement matches this name or P-code",
        "no_letters": "{parameter} holds no letter or digit",
        "no_conflict_zones": "no conflict zones: no event data was built",
        "invalid_request": "invalid request",
        "not_found": "no such address; see /docs",
        "method_not_allowed": "method not allowed; the API answers GET only",
        "body_too_large": "the request body is larger than {limit} bytes",
        "url_too_long": "the request address is longer than {limit} characters",
        "internal": "internal error; nothing of the request was recorded",
        "request_timeout": "the request did not arrive whole in time; send it again",
        "headers_too_large": "the request headers exceed {limit} bytes",
        "busy": (
            "the server is busy with other computations; retry in a few seconds "
            "(see Retry-After)"
        ),
        "too_many_parameters": "the request has more than {limit} parameters",
        "missing": "{parameter} is required",
        "not_integer": "{parameter} must be a whole number",
        "not_number": "{parameter} must be a number",
        "not_boolean": "{parameter} must be true or false",
        "not_string": "{parameter} must be text",
        "too_small": "{parameter} must be at least {limit}",
        "too_large": "{parameter} must be at most {limit}",
        "k_above_build": (
            "k must be at most {limit}: the build keeps {limit} providers per place and "
            "service (ORIENTER_NEAREST_K)"
        ),
        "above": "{parameter} must be greater than {limit}",
        "below": "{parameter} must be less than {limit}",
        "too_short": "{parameter} must hold at least {limit} character(s)",
        "too_long": "{parameter} must hold at most {limit} characters",
        "invalid": "{parameter} is invalid",
    },
}

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


class ApiError(Exception):
    """An error answer: HTTP ``status``, message ``code`` and the parameter at fault."""

    def __init__(
        self,
        status: int,
        code: str,
        *,
        parameter: str | None = None,
        allowed: Sequence[str] | None = None,
        **values: Any,
    ) -> None:
        if code not in MESSAGES[DEFAULT_LANG]:
            raise KeyError(f"no API message {code!r} in api/messages.py")
        super().__init__(code)
        self.status = status
        self.code = code
        self.parameter = parameter
        self.allowed = None if allowed is None else [str(a) for a in allowed]
        self.values = values


def lang_of(accept_language: str | None) -> str:
    """``fr`` or ``en`` from an ``Accept-Language`` header (French by default)."""
    return choose_lang(None, accept_language)


def message(code: str, lang: str = DEFAULT_LANG, **values: Any) -> str:
    """The message ``code`` in ``lang``, formatted with ``values``."""
    table = MESSAGES.get(lang if lang in LANGS else DEFAULT_LANG, MESSAGES[DEFAULT_LANG])
    text = table.get(code) or MESSAGES[DEFAULT_LANG][code]
    return text.format(**values) if values else text


def error_body(
    code: str,
    lang: str = DEFAULT_LANG,
    *,
    parameter: str | None = None,
    allowed: Sequence[str] | None = None,
    **values: Any,
) -> dict:
    """The JSON error body for ``code``."""
    fields = {"parameter": parameter, **values}
    if allowed is not None:
        fields["allowed"] = ", ".join(allowed)
    detail: dict[str, Any] = {
        "code": code,
        "message": message(code, lang, **fields),
        "parameter": parameter,
    }
    if allowed is not None:
        detail["allowed"] = list(allowed)
    return {"detail": detail}


def _allowed_from(expected: str) -> list[str]:
    """``"'a', 'b' or 'c'"`` (pydantic's literal_error context) -> ``["a", "b", "c"]``."""
    parts = expected.replace(" or ", ", ").split(", ")
    return [p.strip().strip("'\"") for p in parts if p.strip()]


def validation_error_body(errors: Sequence[dict], lang: str = DEFAULT_LANG) -> dict:
    """The error body for FastAPI's ``RequestValidationError.errors()``.

    The first error gives ``code``/``message``/``parameter``; ``errors`` lists them all
    (parameter and message each), never with the value sent.
    """
    items = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        parameter = loc[-1] if len(loc) > 1 else (loc[0] if loc else None)
        kind = str(err.get("type", ""))
        ctx = err.get("ctx") or {}
        if kind in ("literal_error", "enum"):
            allowed = _allowed_from(str(ctx.get("expected", "")))
            body = error_body("unknown_value", lang, parameter=parameter, allowed=allowed)
        elif str(err.get("input", "")).strip().lower() == "nan":
            body = error_body("not_number", lang, parameter=parameter)
        elif kind in _VALIDATION:
            code, key = _VALIDATION[kind]
            limit = ctx.get(key) if key else None
            if isinstance(limit, float) and limit.is_integer():
                limit = int(limit)
            body = error_body(code, lang, parameter=parameter, limit=limit)
        else:
            body = error_body("invalid", lang, parameter=parameter)
        items.append(body["detail"])
    if not items:
        return error_body("invalid_request", lang)
    first = dict(items[0])
    if len(items) > 1:
        first["message"] = (" ; " if lang == "fr" else "; ").join(i["message"] for i in items)
        first["errors"] = [{"parameter": i["parameter"], "message": i["message"]} for i in items]
    return {"detail": first}
