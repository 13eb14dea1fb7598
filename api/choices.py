"""The fixed choices of every command and route, and the one check of a chosen value.

Services, admin levels, scenarios, thresholds and languages are enums: Typer lists them in
``--help`` and refuses other values (exit 2), FastAPI lists them in the OpenAPI and
refuses other values (422, the one error body).  Travel modes come from the speed table
(a user may add one), so they are checked against what is built, like the scenarios of a
build without conflict data: :func:`check_choice` raises :class:`ChoiceError`, which the
command line and the API turn into their own error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

from geo.coverage import DEFAULT_THRESHOLDS_MIN
from geo.providers import SERVICES

__all__ = [
    "LEVELS",
    "SCENARIOS",
    "SERVICE_KEYS",
    "THRESHOLDS_MIN",
    "ChoiceError",
    "Frame",
    "Lang",
    "Level",
    "ProviderService",
    "ProviderType",
    "Scenario",
    "Service",
    "Window",
    "check_choice",
    "values",
]

#: The provider type ``one_stop_centre``, then every service a provider may offer.
SERVICE_KEYS: tuple[str, ...] = ("one_stop_centre", *SERVICES)
#: Admin levels of the figures: région (adm1), cercle (adm2), commune (adm3).
LEVELS: tuple[str, ...] = ("adm1", "adm2", "adm3")
#: Conflict scenarios (``slowed`` and ``avoid`` exist only when there is conflict data).
SCENARIOS: tuple[str, ...] = ("baseline", "slowed", "avoid")
#: Thresholds of the coverage tables and of planning, minutes.
THRESHOLDS_MIN: tuple[int, ...] = tuple(DEFAULT_THRESHOLDS_MIN)


class Service(StrEnum):
    """A service to reach: One-Stop Centres (a provider type) or a service key."""

    one_stop_centre = "one_stop_centre"
    medical = "medical"
    psychosocial = "psychosocial"
    legal = "legal"
    reintegration = "reintegration"
    shelter = "shelter"


class ProviderService(StrEnum):
    """A service a provider offers (``geo.providers.SERVICES``)."""

    medical = "medical"
    psychosocial = "psychosocial"
    legal = "legal"
    reintegration = "reintegration"
    shelter = "shelter"


class Level(StrEnum):
    """An admin level: adm1 (région), adm2 (cercle), adm3 (commune)."""

    adm1 = "adm1"
    adm2 = "adm2"
    adm3 = "adm3"


class Scenario(StrEnum):
    """A conflict scenario: none, travel slowed in conflict zones, or high zones avoided."""

    baseline = "baseline"
    slowed = "slowed"
    avoid = "avoid"


class ProviderType(StrEnum):
    """The kind of organisation a provider is (``geo.providers.PROVIDER_TYPES``)."""

    one_stop_centre = "one_stop_centre"
    ngo = "ngo"
    network = "network"
    legal_clinic = "legal_clinic"
    health_facility = "health_facility"
    government = "government"
    un_agency = "un_agency"
    hotline = "hotline"
    other = "other"


class Lang(StrEnum):
    """A language of the pages, maps and briefings."""

    fr = "fr"
    en = "en"


class Frame(StrEnum):
    """The administrative frame of the régions: 2015 (8 + Bamako) or 2023 (19 + Bamako)."""

    f2015 = "2015"
    f2023 = "2023"


class Window(StrEnum):
    """A clinical time window of medical care after a rape: post-exposure prophylaxis
    (72 h) or emergency contraception (120 h) (``geo.coverage.CLINICAL_WINDOWS_MIN``)."""

    pep = "pep"
    ec = "ec"


def values(choices: Iterable[object]) -> tuple[str, ...]:
    """The string values of enum members (or of plain strings), in order."""
    return tuple(str(getattr(c, "value", c)) for c in choices)


class ChoiceError(ValueError):
    """An unknown value for a parameter with a fixed set of allowed values."""

    def __init__(self, parameter: str, value: object, allowed: Sequence[str]) -> None:
        self.parameter = parameter
        self.value = value
        self.allowed = tuple(str(a) for a in allowed)
        super().__init__(f"{parameter}={value!r} is unknown; allowed: {', '.join(self.allowed)}")


def check_choice(parameter: str, value: object, allowed: Sequence[object]) -> None:
    """Raise :class:`ChoiceError` when ``value`` is not one of ``allowed``."""
    if str(getattr(value, "value", value)) not in values(allowed):
        raise ChoiceError(parameter, value, values(allowed))
