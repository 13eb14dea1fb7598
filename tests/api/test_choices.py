"""api.choices: one list of each choice, as enums and as tuples."""

from __future__ import annotations

import pytest

from api.choices import (
    LEVELS,
    SCENARIOS,
    SERVICE_KEYS,
    ChoiceError,
    Lang,
    Level,
    ProviderService,
    ProviderType,
    Scenario,
    Service,
    check_choice,
    values,
)
from geo.providers import PROVIDER_TYPES, SERVICES
from web.i18n import LANGS


def test_the_enums_are_the_tuples():
    assert values(Service) == SERVICE_KEYS == ("one_stop_centre", *SERVICES)
    assert values(Level) == LEVELS
    assert values(Scenario) == SCENARIOS
    assert values(Lang) == LANGS
    assert values(ProviderType) == PROVIDER_TYPES
    assert values(ProviderService) == SERVICES


def test_check_choice_names_the_parameter_and_the_allowed_values():
    check_choice("level", "adm2", LEVELS)
    check_choice("level", Level.adm3, Level)
    with pytest.raises(ChoiceError) as caught:
        check_choice("mode", "plane", ["car", "walk"])
    assert caught.value.parameter == "mode" and caught.value.allowed == ("car", "walk")
    assert "mode='plane' is unknown; allowed: car, walk" in str(caught.value)
    assert isinstance(caught.value, ValueError)
