"""web.formats: the one number formatter (CLDR rules through babel)."""

from __future__ import annotations

import pytest

from web.formats import format_people, format_share, format_signed_people

NNBSP, NBSP = "\u202f", "\u00a0"


def test_people_use_the_language_thousands_separator():
    assert format_people(1234567.4, "fr") == f"1{NNBSP}234{NNBSP}567"
    assert format_people(1234567.4, "en") == "1,234,567"
    assert format_people(999.5, "en") == "1,000"
    assert format_people(0, "fr") == "0"


@pytest.mark.parametrize("value", [None, float("nan"), float("inf"), -float("inf")])
def test_missing_or_infinite_figures_read_as_a_dash(value):
    assert format_people(value, "fr") == "–"
    assert format_share(value, "en") == "–"
    assert format_signed_people(value, "fr") == "–"


def test_shares_have_one_space_before_the_percent_sign_in_french_and_none_in_english():
    assert format_share(0.3816, "fr") == f"38,2{NBSP}%"
    assert format_share(0.3816, "en") == "38.2%"
    assert format_share(1.0, "fr") == f"100,0{NBSP}%"
    assert format_share(0.456, "fr", decimals=0) == f"46{NBSP}%"
    assert format_share(0.456, "en", decimals=0) == "46%"


def test_shares_round_as_python_rounds_the_float():
    # the digits are those of f"{100 * v:.1f}" in every language
    for value in (0.0005, 0.12345, 0.1235, 0.99949, 0.38250000001):
        digits = f"{100 * value:.1f}"
        assert format_share(value, "en") == f"{digits}%"
        assert format_share(value, "fr") == f"{digits.replace('.', ',')}{NBSP}%"


def test_signed_people():
    assert format_signed_people(1234, "fr") == f"+1{NNBSP}234"
    assert format_signed_people(-56.4, "en") == "−56"
    assert format_signed_people(0.3, "en") == "0"
