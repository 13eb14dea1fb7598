"""`orienter pathway`: the referral pathway of a cercle or commune (PDF or HTML), or of all.

Usage::

    orienter pathway --area ML0502 --out bandiagara.pdf       # or --area Bandiagara
    orienter pathway --area ML050201 --lang en --out b.html   # a commune, in English
    orienter pathway --all --level adm2 --out circuits/       # the 50 cercles, one PDF each

The document is :func:`api.services.pathways.build_pathway_document`'s, the one the page
``/circuits/<pcode>`` shows and ``/circuits/<pcode>.pdf`` serves.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from api.build.layers import Layers, load_layers
from api.build.manifest import NotBuiltError
from api.choices import Lang
from api.cli._console import fail, usage_error, write_documents
from api.cli._options import BriefFormat, FrameOption
from api.cli.brief import check_out
from api.services.analysis import Analysis
from api.services.frames import FrameError
from api.services.pathways import AreaNotFoundError, build_pathway_document
from api.services.places import find_gazetteer
from api.services.regions import fold
from api.settings import Settings, get_settings
from geo.errors import DataFileError
from geo.providers import read_providers

__all__ = ["pathway"]


def _loaded(settings: Settings) -> tuple[Analysis, Layers]:
    try:
        analysis = Analysis.load(settings)
        layers = load_layers(settings, freeze=False)
    except (NotBuiltError, DataFileError) as exc:
        raise fail(str(exc)) from exc
    return analysis, layers


def pathway(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="FILE.pdf or FILE.html; with --all, a directory."),
    ],
    area: Annotated[
        str | None,
        typer.Option("--area", help="Cercle or commune P-code (ML0502, ML050201) or name."),
    ] = None,
    lang: Annotated[Lang, typer.Option("--lang", help="Language of the pathway.")] = Lang.fr,
    all_areas: Annotated[
        bool, typer.Option("--all", help="One pathway per unit of --level into --out.")
    ] = False,
    level: Annotated[
        str,
        typer.Option("--level", help="With --all: adm2 (the cercles) or adm3 (the communes)."),
    ] = "adm2",
    fmt: Annotated[
        BriefFormat | None,
        typer.Option("--format", help="Document format (default: from --out; pdf with --all)."),
    ] = None,
    frame: FrameOption = None,
) -> None:
    """A printable referral pathway (circuit de référencement) of a cercle or commune.

    Per sector (health, psychosocial, legal, security, shelter, reintegration), the
    nearest public providers from the area's main settlement with contacts, hours,
    status and verification, their travel time by car, motorbike and on foot and the
    conflict class along the route; medical care within the 72 h and 120 h windows; the
    national lines, the PSEA channel and the survivor-centred principles.  One A4 page
    (two at most); shelters are never named.  Times are /api/v1/nearest's.
    """
    if all_areas and area is not None:
        raise usage_error("--area and --all: give one")
    if not all_areas and area is None:
        raise usage_error("--area is required (a P-code such as ML0502 or a name), or use --all")
    if level not in ("adm2", "adm3"):
        raise usage_error(f"{level!r} is not one of 'adm2', 'adm3'", option="--level")
    kind = check_out(out, fmt, all_areas, what="area")
    started = time.perf_counter()
    settings = get_settings()
    analysis, layers = _loaded(settings)
    try:
        gazetteer = find_gazetteer(settings)
        directory = read_providers(settings.providers) if settings.providers.is_file() else None
        targets = sorted(analysis.units(level)["pcode"].astype(str)) if all_areas else [area or ""]
    except (DataFileError, ValueError) as exc:
        raise fail(str(exc)) from exc
    chosen = None if frame is None else frame.value

    def make(target: str) -> tuple[str, str, bytes]:
        try:
            data, payload = build_pathway_document(
                analysis,
                layers,
                gazetteer,
                directory,
                target,
                lang=lang.value,
                fmt=kind.value,
                frame=chosen,
            )
        except AreaNotFoundError as exc:
            raise fail(f"--area: {exc}") from exc
        except FrameError as exc:
            raise fail(f"--frame: {exc}") from exc
        except (DataFileError, ValueError) as exc:
            raise fail(str(exc)) from exc
        return data.area_pcode, data.area_name, payload

    write_documents(
        targets,
        make,
        out,
        many=all_areas,
        what="pathways",
        file_name=lambda code, name: (
            f"orienter-circuit-{code}-{fold(name)}-{lang.value}.{kind.value}"
        ),
        started=started,
    )
