"""The OpenAPI document: what the server sends, as it sends it.

FastAPI documents the routes from their parameters and response models
(:mod:`api.http.schemas`); this adds what it cannot know: the travel modes of the
speed table (an enum read when the document is first asked for, since a user may add
a mode), the GeoJSON schema of the ``application/geo+json`` answers, and drops FastAPI's
default validation-error schemas, which no answer uses (every error is
:class:`api.http.schemas.ErrorBody`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.http.schemas import FeatureCollection
from api.settings import Settings, get_settings
from geo.speeds import read_speed_table

__all__ = ["install_openapi"]

_UNUSED = ("HTTPValidationError", "ValidationError")
GEOJSON = "application/geo+json"
_REF = "#/components/schemas/{model}"


def _operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for path in doc.get("paths", {}).values() for op in path.values()]


def _response_schemas(doc: dict[str, Any]) -> None:
    """Errors as JSON ErrorBody whatever the route's own media type; the FeatureCollection
    schema for every ``application/geo+json`` answer."""
    schema = FeatureCollection.model_json_schema(ref_template=_REF)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(schema.pop("$defs", {}))
    schemas["FeatureCollection"] = schema
    for operation in _operations(doc):
        for status, response in operation.get("responses", {}).items():
            content = response.get("content", {})
            if int(status) >= 400:
                error = {"$ref": _REF.format(model="ErrorBody")}
                response["content"] = {"application/json": {"schema": error}}
            elif GEOJSON in content:
                content[GEOJSON]["schema"] = {"$ref": _REF.format(model="FeatureCollection")}


def _document(app: FastAPI, settings: Settings) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    modes = list(read_speed_table(settings.speeds).modes)
    for operation in _operations(doc):
        for parameter in operation.get("parameters", []):
            if parameter.get("name") == "mode" and parameter.get("in") == "query":
                parameter["schema"]["enum"] = modes
    _response_schemas(doc)
    schemas = doc.get("components", {}).get("schemas", {})
    for name in _UNUSED:
        schemas.pop(name, None)
    return doc


def install_openapi(app: FastAPI, settings: Settings | None = None) -> None:
    """Serve :func:`_document` as the app's OpenAPI (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app, settings or get_settings())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
