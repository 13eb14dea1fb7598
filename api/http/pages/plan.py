"""The planning page ``/planifier``: the underserved ranking and the what-if.

The ranking and the national figures come from the app's shared analysis; the what-if
runs in the browser (``web/static/js/planifier.js``) on ``GET /api/v1/whatif``
(:mod:`api.http.routes.planning`), so it answers what the API and ``orienter site``
answer.  No confidential provider is ever listed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import geopandas as gpd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from api.errors import error_message
from api.http.deps import optional_analysis
from api.http.pages._common import form_choices, page_options, ranking
from api.http.pages.render import label, page_lang, render
from api.http.params import reads_query
from api.services.analysis import Analysis
from api.services.exports import in_regions, parse_regions
from api.services.planning import public_offering
from api.services.regions import RegionNotFoundError, known_regions
from geo.providers import public_mask
from web.formats import format_people, format_share
from web.i18n import catalogue

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _messages(lang: str) -> Markup:
    """The ``planning.js_*`` messages, as a JSON block for the page script."""
    body = {k[9:]: v for k, v in catalogue(lang).items() if k.startswith("planning.js_")}
    return Markup('<script type="application/json" id="planning-messages">{}</script>').format(
        htmlsafe_json_dumps(body)
    )


@router.get("/planifier", response_class=HTMLResponse)
@reads_query("service", "mode", "scenario", "level", "threshold_min", "region")
def plan_page(
    request: Request, analysis: Annotated[Analysis | None, Depends(optional_analysis)]
) -> Response:
    """Underserved ranking (level, service, mode, scenario, threshold) and what-if siting."""
    lang = page_lang(request)
    if analysis is None:
        return render(request, "planifier.html", status_code=503, not_built=True)
    options, error = page_options(request, analysis, lang)
    query = {k: options[k] for k in ("service", "mode", "scenario")}
    t = options["threshold_min"]
    keep, codes, region_error = _in_regions(request, analysis, options, lang)
    error = error or region_error
    rows, total = ranking(
        analysis,
        lang,
        level=options["level"],
        **query,
        threshold_min=t,
        keep=keep,
        limit=None if options["level"] == "adm1" or keep is not None else 25,
    )
    national = analysis.national(**query)
    providers = request.app.state.layers.providers
    shown = public_offering(providers, options["service"])
    removable = sorted(
        zip(
            providers["id"].astype(str)[shown],
            providers["name"].astype(str)[shown],
            strict=True,
        ),
        key=lambda p: p[1],
    )
    return render(
        request,
        "planifier.html",
        status_code=200 if error is None else 422,
        not_built=False,
        error=error,
        options=options,
        choices=form_choices(analysis),
        label=label(lang),
        ranking=rows,
        ranking_total=total,
        national={
            "population": format_people(national["population"], lang),
            "beyond": format_people(national[f"pop_beyond_{t}"], lang),
            "share_beyond": format_share(national[f"share_beyond_{t}"], lang),
        },
        removable=removable,
        pickable=_pickable(providers),
        regions=codes,
        region_choices=sorted(
            zip(
                analysis.units("adm1")["pcode"].astype(str),
                analysis.units("adm1")["name"].astype(str),
                strict=True,
            )
        ),
        download_query={
            "level": options["level"],
            **query,
            "threshold_min": t,
            **({"region": ",".join(codes)} if codes else {}),
        },
        population_source=Path(national["meta"].get("population_source") or "").name,
        messages=_messages(lang),
    )


def _pickable(providers: gpd.GeoDataFrame) -> list[tuple[str, str]]:
    """(id, "name (town)") of the public, located providers a what-if may add a centre
    at (``add_at``), by name."""
    located = ~(providers.geometry.isna() | providers.geometry.is_empty).to_numpy()
    keep = located & public_mask(providers)
    out = []
    for pid, name, town in zip(
        providers["id"][keep], providers["name"][keep], providers["town"][keep], strict=True
    ):
        label = f"{name} ({town})" if isinstance(town, str) and town and town not in name else name
        out.append((str(pid), str(label)))
    return sorted(out, key=lambda p: p[1])


def _in_regions(
    request: Request, analysis: Analysis, options: dict, lang: str
) -> tuple[set[str] | None, list[str], str | None]:
    """The units of the régions asked (``region=``, repeated or comma-separated), their
    P-codes, and the page's error when one names no région (all units then)."""
    regions = parse_regions(request.query_params.getlist("region"))
    if not regions:
        return None, [], None
    result = analysis.underserved(
        level=options["level"],
        service=options["service"],
        mode=options["mode"],
        scenario=options["scenario"],
        threshold_min=options["threshold_min"],
    )
    try:
        found, codes = in_regions(result, analysis, regions)
    except RegionNotFoundError:
        known = known_regions(analysis.units("adm1"))
        return None, [], error_message("region_not_found", lang, known=known)
    return set(found.table["pcode"].astype(str)), codes, None
