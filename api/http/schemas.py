"""The shapes of the API's answers, for the OpenAPI document and its conformance test.

Routes send their answers as they are computed (plain JSON data, no re-validation on the
way out: the nearest-service answer is on the hot path); these models describe them,
and ``tests/api/test_fuzz.py`` checks every answer of a fuzzing run against them.
Fields a service may add later are allowed (no model forbids extra keys).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "CoverageAnswer",
    "ErrorBody",
    "FacilitiesAnswer",
    "FeatureCollection",
    "Health",
    "NearestAnswer",
    "PlacesAnswer",
    "RouteAnswer",
    "SiteAnswer",
    "WhatIfAnswer",
    "error_responses",
]

Number = float  # JSON numbers: integers are numbers too


# ----------------------------------------------------------------------------- errors


class ErrorItem(BaseModel):
    parameter: str | None
    message: str


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable code, for programs (e.g. `out_of_mali`).")
    message: str = Field(description="For people, in French or English (Accept-Language).")
    parameter: str | None = Field(description="The query parameter at fault, or null.")
    allowed: list[str] | None = Field(
        default=None, description="The allowed values, for an unknown value only."
    )
    errors: list[ErrorItem] | None = Field(
        default=None, description="Every invalid parameter, when there are several."
    )


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer of the API."""

    detail: ErrorDetail


_ERROR_TEXT = {
    403: "A caseworker token is needed.",
    404: "Not found.",
    413: "Request body too large.",
    414: "Request address too long.",
    422: "Invalid or unknown parameter value.",
    500: "Internal error (nothing of the request was recorded).",
    503: "Not available yet (layers not built, or data missing).",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses (and 413, 414, 500: any route)."""
    return {
        status: {"model": ErrorBody, "description": _ERROR_TEXT[status]}
        for status in sorted({*statuses, 413, 414, 500})
    }


# ----------------------------------------------------------------------------- health


class Health(BaseModel):
    status: Literal["ok", "not built"]
    modes: list[str]
    scenarios: list[str]
    built_at: str | None
    warm_up: Literal["off", "running", "done"] = "off"
    heavy_work: dict[str, Any] | None = None
    caches: dict[str, Any] | None = None


# ----------------------------------------------------------------------------- nearest


class NearestQuery(BaseModel):
    lat: Number
    lon: Number
    service: str | None
    mode: str
    scenario: str
    k: int
    snapped_lon: Number | None
    snapped_lat: Number | None
    snapped_to: str | None = Field(description="road, grid cell or closed area.")
    offroad_leg_km: Number | None
    offroad_leg_min: Number | None
    road_km: Number | None = Field(
        default=None, description="Distance from the point to the nearest modelled road's line."
    )
    road_offroad_min: Number | None = Field(
        default=None, description="That distance at the point's off-road speed, minutes."
    )
    place: dict[str, Any] | None = Field(
        default=None, description="The settlement the place name or P-code was taken for."
    )
    place_alternatives: list[dict[str, Any]] | None = Field(
        default=None, description="Other settlements the name could mean (towns first)."
    )


class RouteConflict(BaseModel):
    worst_class: str | None
    km_by_class: dict[str, Number] | None


class NearestProvider(BaseModel):
    id: str
    name: str
    type: str
    services: list[str] | None
    travel_time_min: Number | None = Field(description="null: cannot be reached.")
    distance_km: Number | None
    straight_km: Number | None
    offroad_km: Number | None = Field(
        default=None, description="Kilometres of the route off the modelled roads."
    )
    offroad_min: Number | None = Field(
        default=None, description="Minutes of the route off the modelled roads."
    )
    time_flags: list[str] = Field(
        default_factory=list,
        description="offroad: most of the time is off-road; detour: the route is at least "
        "twice the straight line.",
    )
    same_site: bool = Field(
        default=False, description="The point is the provider's own (exactly located) site."
    )
    reachable: bool
    unreachable_reason: str | None
    location_precision: str | None
    lat: Number
    lon: Number
    town: str | None = None
    address: str | None = None
    phone: str | None = None
    opening_hours: str | None = None
    name_en: str | None = Field(default=None, description="The name in English, if it differs.")
    town_en: str | None = None
    address_en: str | None = None
    opening_hours_en: str | None = None
    languages: list[str] | str | None = None
    source: list[str] | str | None = None
    source_date: str | None = None
    last_verified: str | None = None
    zone_class: str | None = None
    route_conflict: RouteConflict | None = None
    scenario_effect: str | None = None
    baseline_travel_time_min: Number | None = None
    route: dict[str, Any] | None = Field(default=None, description="GeoJSON LineString.")


class ConflictWindow(BaseModel):
    start: str
    end: str
    source: str | None


class NationalLines(BaseModel):
    lines: list[dict[str, Any]] = Field(
        description="Public toll-free numbers (no place): id, name, name_en, phone, "
        "opening_hours(_en), status, status_date, source_date, last_verified."
    )
    caveat: dict[str, str] = Field(description="Confirm before giving them out (fr, en).")


class NearestData(BaseModel):
    roads: str | None
    built_at: str | None
    time_meaning: dict[str, str] | None = Field(
        default=None, description="What the travel times stand for, in fr and en."
    )
    conflict: ConflictWindow | None = Field(
        default=None, description="The events the conflict zones come from."
    )
    scenario_assumes: dict[str, str] | None = Field(
        default=None, description="What the scenario assumes, in fr and en (null: baseline)."
    )
    national_lines: NationalLines | None = Field(
        default=None, description="National lines to give beside the ranked providers."
    )


class NearestAnswer(BaseModel):
    query: NearestQuery
    results: list[NearestProvider]
    data: NearestData


class RouteEnd(BaseModel):
    kind: Literal["point", "place", "provider"]
    lon: Number
    lat: Number
    place: dict[str, Any] | None = None
    provider: dict[str, Any] | None = None


class RouteAnswer(BaseModel):
    """``GET /api/v1/route``: one route between two ends."""

    from_: RouteEnd = Field(alias="from")
    to: RouteEnd
    mode: str
    scenario: str
    reachable: bool
    unreachable_reason: str | None
    travel_time_min: Number | None = Field(description="null: cannot be reached.")
    distance_km: Number | None
    road_km: Number | None
    offroad_km: Number | None
    start_leg_km: Number
    end_leg_km: Number | None
    straight_km: Number
    route_conflict: RouteConflict | None
    time_meaning: str
    route: dict[str, Any] | None = Field(description="GeoJSON LineString.")
    data: NearestData


# ----------------------------------------------------------------------------- places


class Place(BaseModel):
    pcode: str
    name: str
    adm1_pcode: str | None
    adm1_name: str | None
    adm2_pcode: str | None
    adm2_name: str | None
    adm3_pcode: str | None
    adm3_name: str | None
    place_class: int | None
    lon: Number
    lat: Number
    score: Number


class PlacesAnswer(BaseModel):
    query: str
    results: list[Place]


class Facility(BaseModel):
    id: str
    name: str
    type: str
    adm1_name: str | None
    lon: Number
    lat: Number


class FacilitiesAnswer(BaseModel):
    query: str
    results: list[Facility]


# ----------------------------------------------------------------------------- coverage


class CoverageMeta(BaseModel):
    level: str
    service: str
    mode: str
    scenario: str
    population_total: int
    demand: str
    population_table: str | None
    calibrated: bool
    built_at: str | None
    note: str
    thresholds_min: list[Number]
    roads: str | None
    providers_public: int
    population_source: str = Field(description="File name of the population raster.")
    population_sha256: str | None
    confidential_counted: bool
    figures: str
    frame: str | None = Field(default=None, description="2015 or 2023: the frame of the régions.")
    frame_source: str | None = Field(default=None, description="The crosswalk file (2023).")
    frame_note: str | None = None


class CoverageUnit(BaseModel):
    pcode: str
    name: str
    population: Number
    pop_within_30: Number
    pop_within_60: Number
    pop_within_120: Number
    pop_within_300: Number
    share_within_30: Number | None
    share_within_60: Number | None
    share_within_120: Number | None
    share_within_300: Number | None
    median_time_min: Number | None = Field(description="null: most people cannot reach one.")
    p90_time_min: Number | None
    nearest_provider_id: str | None
    nearest_provider_name: str | None
    n_providers: int
    offroad_share: Number | None = Field(
        default=None,
        description="Share (0-1) of the people who reach a provider whose route rests mostly "
        "on off-road legs (more than half of the time off the modelled roads).",
    )
    detour_share: Number | None = Field(
        default=None,
        description="Share (0-1) of the people who reach a provider whose route is a long "
        "detour (at least twice a straight line of 10 km or more).",
    )
    time_flags: str | None = Field(
        default=None,
        description="offroad, detour or offroad;detour: at least half of the people who reach "
        "a provider are so flagged, so the unit's times (its median) rest on such routes.",
    )
    max_class: str | None = None
    pop_within_4320: Number | None = Field(
        default=None, description="Medical care: people within 72 h (PEP window)."
    )
    pop_within_7200: Number | None = Field(
        default=None, description="Medical care: people within 120 h (emergency contraception)."
    )
    share_within_4320: Number | None = None
    share_within_7200: Number | None = None
    approximate: bool | None = Field(
        default=None, description="A 2023 région from 2015 cercles that splits one of them."
    )
    cercles_2015: str | None = Field(default=None, description="Its 2015 cercles (2023 frame).")
    region_2023: str | None = Field(default=None, description="The 2023 région (2023 frame).")
    region_2023_pcode: str | None = None
    region_2023_approximate: bool | None = None


class CoverageAnswer(BaseModel):
    meta: CoverageMeta
    units: list[CoverageUnit]


# ----------------------------------------------------------------------------- GeoJSON


class Feature(BaseModel):
    type: Literal["Feature"]
    geometry: dict[str, Any] | None
    properties: dict[str, Any]


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection (RFC 7946)."""

    type: Literal["FeatureCollection"]
    features: list[Feature]


# ----------------------------------------------------------------------------- planning


class Picked(BaseModel):
    kind: str = Field(description="provider or facility")
    id: str
    name: str
    lon: Number
    lat: Number
    location_precision: str
    approximate: bool = Field(
        description="The site's point is its town's (or commune's...), not the site itself."
    )
    offers_service: bool | None = Field(
        default=None, description="A provider that offers the service already."
    )
    note: str | None = Field(default=None, description="Said when approximate.")


class WhatIfMeta(BaseModel):
    service: str
    mode: str
    scenario: str
    threshold_min: Number
    level: str
    add: list[Number] | None = Field(default=None, description="[lon, lat] of the new centre.")
    remove: str | None = Field(default=None, description="Id of the provider removed.")
    name: str | None = Field(default=None, description="Name of the provider removed.")
    picked: Picked | None = Field(
        default=None, description="The existing site the centre is added at (add_at, add_facility)."
    )
    existing_providers: int = Field(description="Public providers of the service.")
    note: str
    population_source: str
    population_total: int
    within_before: int
    within_after: int
    change: int
    share_before: Number | None
    share_after: Number | None
    seconds: Number


class WhatIfUnit(BaseModel):
    pcode: str
    name: str
    parent_pcode: str | None
    population: int
    within_before: int
    within_after: int
    change: int


class WhatIfAnswer(BaseModel):
    meta: WhatIfMeta
    units: list[WhatIfUnit] = Field(description="The units whose figure changes.")


class SiteMeta(BaseModel):
    service: str
    mode: str
    scenario: str
    threshold_min: Number
    existing_providers: int
    note: str
    candidates: str
    n_candidates: int
    population_source: str
    population_total: int
    covered_before: int
    covered_before_share: Number | None
    seconds: Number


class Site(BaseModel):
    step: int
    name: str
    kind: str
    adm1_pcode: str | None
    lon: Number
    lat: Number
    gain_population: int
    covered_population: int
    covered_share: Number


class SiteAnswer(BaseModel):
    meta: SiteMeta
    sites: list[Site]
