"""One error type, one catalogue: every code raised has its French and English message."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from api.errors import RequestError, error_message
from api.http.errors import error_body, validation_error_body

REPO = Path(__file__).resolve().parents[2]
LOCALES = REPO / "web" / "locales"


def _raised_codes() -> set[str]:
    """The literal codes of every ``RequestError(status, "code", ...)`` in api/."""
    codes = set()
    for path in (REPO / "api").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "RequestError"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
            ):
                codes.add(node.args[1].value)
    return codes


def test_every_code_raised_has_a_message_in_both_languages():
    fr = json.loads((LOCALES / "fr" / "errors.json").read_text(encoding="utf-8"))
    en = json.loads((LOCALES / "en" / "errors.json").read_text(encoding="utf-8"))
    assert set(fr) == set(en)
    raised = _raised_codes()
    assert len(raised) > 15 and raised <= set(fr), sorted(raised - set(fr))


def test_an_unknown_code_is_refused_where_it_is_raised():
    with pytest.raises(KeyError, match="no error message 'nope'"):
        RequestError(422, "nope")


def test_the_one_shape_in_french_and_english():
    error = RequestError(422, "unknown_value", parameter="level", allowed=["adm1", "adm2"])
    assert error_body(error, "fr") == {
        "detail": {
            "code": "unknown_value",
            "message": "valeur inconnue pour level ; valeurs permises : adm1, adm2",
            "parameter": "level",
            "allowed": ["adm1", "adm2"],
        }
    }
    assert error_body(error)["detail"]["message"] == error.message("fr")
    assert str(error) == "unknown value for level; allowed values: adm1, adm2"
    assert error_message("not_built", "de") == error_message("not_built", "fr")


def test_validation_errors_become_the_one_shape():
    body = validation_error_body(
        [
            {"loc": ("query", "k"), "type": "less_than_equal", "ctx": {"le": 20.0}},
            {"loc": ("query", "mode"), "type": "enum", "ctx": {"expected": "'car' or 'walk'"}},
        ],
        "en",
    )
    detail = body["detail"]
    assert detail["code"] == "too_large" and detail["parameter"] == "k"
    assert (
        detail["message"]
        == "k must be at most 20; unknown value for mode; allowed values: car, walk"
    )
    assert detail["errors"][1] == {
        "parameter": "mode",
        "message": "unknown value for mode; allowed values: car, walk",
    }
