"""Message catalogues: French default, fallback, languages chosen from the request."""

from __future__ import annotations

import json

import pytest

from web import i18n


def test_every_english_key_exists_in_french():
    for path in (i18n.LOCALES / "en").glob("*.json"):
        french = i18n.LOCALES / "fr" / path.name
        assert french.is_file(), f"{path.name} has no French catalogue"
        missing = set(json.loads(path.read_text())) - set(json.loads(french.read_text()))
        assert not missing, f"keys in en/{path.name} missing in French: {sorted(missing)}"


def test_unknown_key_and_language_raise():
    with pytest.raises(KeyError, match="no message"):
        i18n.translate("nowhere.nothing")
    with pytest.raises(ValueError, match="lang='de'"):
        i18n.catalogue("de")


@pytest.mark.parametrize(
    ("requested", "header", "expected"),
    [
        (None, None, "fr"),
        ("en", None, "en"),
        ("EN-gb", "fr", "en"),
        ("de", "en-US,en;q=0.9", "en"),
        (None, "de-DE, en;q=0.5", "en"),
        (None, "bm, de", "fr"),
    ],
)
def test_choose_lang(requested, header, expected):
    assert i18n.choose_lang(requested, header) == expected
