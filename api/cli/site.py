"""`orienter site`: where N new centres would help most, and what-ifs (one centre added
at a point, at a public provider's site or at a health facility; or one provider
removed).  The computation of ``GET /api/v1/site`` and ``GET /api/v1/whatif``
(:mod:`api.services.planning`): the same answers, as JSON with ``--format json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.build.layers import Layers, load_layers
from api.build.manifest import NotBuiltError
from api.choices import ChoiceError, Level, Scenario, Service
from api.cli._console import console, fail, request_failed, say, usage_error
from api.cli._coverage_output import population_text
from api.cli._options import (
    JsonFlag,
    ModeOption,
    ScenarioOption,
    TableFormat,
    TableFormatOption,
    parse_lonlat,
)
from api.cli.coverage import analysis_or_fail, built_choice_failed, inputs_or_fail
from api.errors import RequestError
from api.services import picks, planning
from api.services.analysis import Analysis
from api.services.audience import Audience, audience_of
from api.services.inputs import demand_meta
from api.settings import Settings, get_settings
from geo.errors import DataFileError
from web.formats import format_people, format_share, format_signed_people

__all__ = ["site"]


def site(
    service: Annotated[Service, typer.Option("--service", help="Service to add centres for.")] = (
        Service.one_stop_centre
    ),
    n: Annotated[int, typer.Option("--n", min=1, max=100, help="Number of new centres.")] = 5,
    threshold_min: Annotated[
        float, typer.Option("--threshold-min", min=1, max=1440, help="Coverage threshold, min.")
    ] = 120,
    mode: ModeOption = "car",
    scenario: ScenarioOption = Scenario.baseline,
    candidates: Annotated[
        str,
        typer.Option(
            "--candidates",
            help="'facilities' (CSRéf and hospitals of the WHO/KEMRI list), 'settlements' "
            "or a GeoJSON/GeoPackage/CSV (lon, lat) file of points.",
        ),
    ] = "facilities",
    fmt: TableFormatOption = TableFormat.table,
    as_json: JsonFlag = False,
    add: Annotated[
        str | None,
        typer.Option(
            "--add",
            metavar="LON,LAT",
            help="What-if: one new provider at LON,LAT; prints the people within the "
            "threshold nationally and per unit of --level before and after (no rebuild).",
        ),
    ] = None,
    add_at: Annotated[
        str | None,
        typer.Option(
            "--add-at",
            metavar="PROVIDER_ID",
            help="What-if: a new centre at this public provider's site (see --add); an "
            "approximate location (its town's point) is said.",
        ),
    ] = None,
    add_facility: Annotated[
        str | None,
        typer.Option(
            "--add-facility",
            metavar="FACILITY_ID",
            help="What-if: a new centre at this WHO/KEMRI health facility (its id, "
            "for example from GET /api/v1/facilities?q=NAME).",
        ),
    ] = None,
    remove: Annotated[
        str | None,
        typer.Option("--remove", help="What-if: without this public provider (see --add)."),
    ] = None,
    level: Annotated[
        Level, typer.Option("--level", help="What-if: the units listed (those that change).")
    ] = Level.adm1,
) -> None:
    """Choose N new centres that bring the most people within the threshold (greedy MCLP).

    Existing providers of the service stay.  Each candidate is scored with one Dijkstra
    bounded at the threshold on the built graph; each step adds the candidate whose
    covered, not yet covered people are most, and reports that gain.  Planning for
    shelters needs ORIENTER_CASEWORKER_TOKEN (every shelter is confidential).
    """
    if sum(v is not None for v in (add, add_at, add_facility, remove)) > 1:
        raise usage_error("give one", option="--add / --add-at / --add-facility / --remove")
    point = None if add is None else parse_lonlat(add)
    settings = get_settings()
    analysis, layers = _built(settings, service, mode, scenario)
    what = {"service": service.value, "mode": mode, "scenario": scenario.value}
    as_json = as_json or fmt is TableFormat.json
    if any(v is not None for v in (point, remove, add_at, add_facility)):
        change = (
            (point, remove)
            if add_at is None and add_facility is None
            else _pick(settings, layers, add_at, add_facility, service.value)
        )
        _what_if(analysis, layers, what, threshold_min, level.value, change, as_json)
        return
    sites = _candidates(settings, analysis, candidates)
    try:
        answer = planning.site(
            planning.Planner(analysis, sites),
            layers,
            service=what["service"],
            mode=what["mode"],
            scenario=what["scenario"],
            threshold_min=threshold_min,
            n=n,
            caseworker=_caseworker(settings),
        )
    except RequestError as exc:
        raise request_failed(exc) from exc
    if as_json:
        typer.echo(json.dumps(answer, ensure_ascii=False, indent=2))
        return
    _print_sites(answer, demand_meta(analysis.inputs))


def _built(
    settings: Settings, service: Service, mode: str, scenario: Scenario
) -> tuple[Analysis, Layers]:
    """The analysis and the layers of (``mode``, ``scenario``), when ``service`` may be
    planned by whoever runs the command; exits with the reason otherwise."""
    token = os.environ.get("ORIENTER_CASEWORKER_TOKEN")
    try:
        planning.check_audience(service, audience_of(token, settings.caseworker_token_hashes))
    except RequestError as exc:
        raise request_failed(exc) from exc
    analysis = analysis_or_fail(settings)
    try:
        analysis.check(mode=mode, scenario=scenario.value)
    except ChoiceError as exc:
        raise built_choice_failed(exc, settings.build_dir) from exc
    inputs_or_fail(analysis)
    try:
        layers = load_layers(settings, only=[(mode, scenario.value)], freeze=False)
    except NotBuiltError as exc:
        raise fail(str(exc)) from exc
    return analysis, layers


def _caseworker(settings: Settings) -> bool:
    """True when ORIENTER_CASEWORKER_TOKEN holds a valid caseworker token."""
    token = os.environ.get("ORIENTER_CASEWORKER_TOKEN")
    return audience_of(token, settings.caseworker_token_hashes) is Audience.caseworker


def _candidates(settings: Settings, analysis: Analysis, spec: str) -> planning.CandidateSites:
    """The candidate sites ``--candidates`` names."""
    try:
        if spec == "facilities":
            found = planning.facility_candidates(settings, analysis.units("adm1"))
            if found.sites.empty:
                raise fail(f"no WHO/KEMRI facility list under {settings.data_dir / 'facilities'}")
        elif spec == "settlements":
            found = planning.settlement_candidates(settings)
        elif Path(spec).is_file():
            found = planning.file_candidates(Path(spec))
        else:
            raise usage_error(
                f"{spec!r}: use facilities, settlements or an existing file", option="--candidates"
            )
    except DataFileError as exc:
        raise fail(f"--candidates: {exc}") from exc
    if found.sites.empty:
        raise fail(f"--candidates {spec!r} gave no candidate site")
    return found


def _pick(
    settings: Settings,
    layers: Layers,
    add_at: str | None,
    add_facility: str | None,
    service: str,
) -> picks.Pick:
    """The existing site ``--add-at`` or ``--add-facility`` names."""
    try:
        if add_at is not None:
            return picks.provider_pick(layers.providers, add_at, service=service)
        try:
            table = picks.read_facilities(settings)
        except DataFileError as exc:
            raise fail(f"--add-facility: {exc}") from exc
        return picks.facility_pick(table, str(add_facility))
    except RequestError as exc:
        raise request_failed(exc) from exc


def _what_if(
    analysis: Analysis,
    layers: Layers,
    what: dict[str, str],
    threshold_min: float,
    level: str,
    change: tuple[tuple[float, float] | None, str | None] | picks.Pick,
    as_json: bool,
) -> None:
    """People within the threshold before and after adding or removing one provider:
    ``change`` is (point added, provider id removed), one of them None, or a site picked."""
    plan = planning.Planner(analysis, planning.CandidateSites.none())
    at = change if isinstance(change, picks.Pick) else None
    add, remove = (None, None) if isinstance(change, picks.Pick) else change
    try:
        point = None if add is None else planning.check_point(plan, *add)
        answer = planning.what_if(
            plan,
            layers,
            service=what["service"],
            mode=what["mode"],
            scenario=what["scenario"],
            threshold_min=threshold_min,
            level=level,
            add=point,
            remove=remove,
            at=at,
            caseworker=_caseworker(get_settings()),
        )
    except RequestError as exc:
        raise request_failed(exc) from exc
    if as_json:
        typer.echo(json.dumps(answer, ensure_ascii=False, indent=2))
        return
    _print_what_if(answer, demand_meta(analysis.inputs))


def _people(value: float) -> str:
    return format_people(value, "en")


def _print_what_if(answer: dict[str, Any], demand: dict[str, Any]) -> None:
    meta = answer["meta"]
    out = Table("P-code", "unit", "people", "before", "after", "change")
    for r in answer["units"]:
        out.add_row(
            r["pcode"],
            r["name"],
            _people(r["population"]),
            _people(r["within_before"]),
            _people(r["within_after"]),
            format_signed_people(r["change"], "en"),
        )
    out.add_row(
        "",
        "Mali",
        _people(meta["population_total"]),
        _people(meta["within_before"]),
        _people(meta["within_after"]),
        format_signed_people(meta["change"], "en"),
    )
    console.print(out)
    change = (
        f"adding a provider at {meta['add'][0]},{meta['add'][1]}"
        if "add" in meta
        else f"removing {meta['remove']}"
    )
    picked = meta.get("picked")
    if picked:
        where = f"{picked['lon']},{picked['lat']}"
        change = f"adding a provider at {picked['name']} ({picked['id']}, {where})"
        if picked.get("offers_service"):
            change += ", which offers this service already"
    say(
        f"{meta['service']} by {meta['mode']} ({meta['scenario']}), within "
        f"{meta['threshold_min']:g} min, {change}: {format_share(meta['share_before'], 'en')} "
        f"-> {format_share(meta['share_after'], 'en')} of {_people(meta['population_total'])} "
        f"people ({meta['seconds']:.1f} s).  Population: {population_text({**meta, **demand})}."
    )
    if picked and picked.get("note"):
        say(f"Location: {picked['note']}.")


def _print_sites(answer: dict[str, Any], demand: dict[str, Any]) -> None:
    meta = answer["meta"]
    out = Table("#", "site", "kind", "lon", "lat", "people gained", "covered", "share")
    for r in answer["sites"]:
        out.add_row(
            str(r["step"]),
            r["name"],
            r["kind"],
            f"{r['lon']:.3f}",
            f"{r['lat']:.3f}",
            _people(r["gain_population"]),
            _people(r["covered_population"]),
            format_share(r["covered_share"], "en"),
        )
    console.print(out)
    say(
        f"{meta['service']} by {meta['mode']} ({meta['scenario']}), within "
        f"{meta['threshold_min']:g} min: {_people(meta['covered_before'])} people "
        f"({format_share(meta['covered_before_share'], 'en')}) with the "
        f"{meta['existing_providers']} existing public providers; {meta['n_candidates']} "
        f"candidates scored in {meta['seconds']:.1f} s.  "
        f"Population: {population_text({**meta, **demand})}."
    )
