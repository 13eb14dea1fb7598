"""`orienter brief`: a région's printable briefing (PDF or HTML), or one per région.

Usage::

    orienter brief --region ML05 --out mopti.pdf          # or --region Mopti, --lang en
    orienter brief --region Kidal --out kidal.html        # self-contained HTML
    orienter brief --all --out briefings/                 # one PDF per région

The document is :func:`api.services.briefings.build_document`'s, the one
``GET /regions/<pcode>/brief.pdf`` serves.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from api.build.manifest import NotBuiltError
from api.choices import Lang
from api.cli._console import check_writable, fail, usage_error, write_documents
from api.cli._options import BriefFormat, FrameOption
from api.services.analysis import Analysis
from api.services.briefings import build_document
from api.services.frames import FrameError
from api.services.regions import RegionNotFoundError, fold, resolve_region
from api.settings import get_settings
from geo.errors import DataFileError

__all__ = ["brief", "check_out"]


def _format_of(out: Path, fmt: BriefFormat | None) -> BriefFormat:
    if fmt is not None:
        return fmt
    suffix = out.suffix.lower().lstrip(".")
    if suffix in ("htm", "html"):
        return BriefFormat.html
    if suffix == "pdf":
        return BriefFormat.pdf
    raise usage_error(
        f"{out}: name a .pdf or .html file (or give --format pdf|html)", option="--out"
    )


def check_out(
    out: Path, fmt: BriefFormat | None, all_regions: bool, *, what: str = "région"
) -> BriefFormat:
    """The document format; fail before any computation when ``out`` cannot be written
    (``what``: the unit --all writes one file per)."""
    if all_regions:
        if out.exists() and not out.is_dir():
            raise fail(
                f"--out {out}: exists and is not a directory (--all writes one file per {what})"
            )
        check_writable(out, directory_ok=True)
        return fmt or BriefFormat.pdf
    kind = _format_of(out, fmt)
    if out.is_dir():
        raise fail(f"--out {out}: is a directory; name a .{kind.value} file")
    check_writable(out)
    return kind


def brief(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="FILE.pdf or FILE.html; with --all, a directory."),
    ],
    region: Annotated[
        str | None, typer.Option("--region", help="Région P-code (ML05) or name (Mopti).")
    ] = None,
    lang: Annotated[Lang, typer.Option("--lang", help="Language of the briefing.")] = Lang.fr,
    all_regions: Annotated[
        bool, typer.Option("--all", help="One briefing per région into the --out directory.")
    ] = False,
    fmt: Annotated[
        BriefFormat | None,
        typer.Option("--format", help="Document format (default: from --out; pdf with --all)."),
    ] = None,
    frame: FrameOption = None,
) -> None:
    """A printable 2-4 page briefing of a région (A4 PDF or HTML), French by default.

    Maps of providers, travel-time bands and conflict zones; people beyond 1, 2 and 5 h
    of each service; the change under the conflict scenarios; the least well served
    cercles and communes; medical care within the clinical windows (72 h, 120 h); the
    public providers; sources and limitations.  Figures are those of `orienter coverage`
    and /api/v1/coverage (--frame 2023: by the 2023 régions).
    """
    if all_regions and region is not None:
        raise usage_error("--region and --all: give one")
    if not all_regions and region is None:
        raise usage_error("--region is required (a P-code such as ML05 or a name), or use --all")
    kind = check_out(out, fmt, all_regions)
    started = time.perf_counter()
    chosen = None if frame is None else frame.value
    try:
        analysis = Analysis.load(get_settings())
        regions = analysis.units(analysis.frame_level("adm1", chosen)[0])
        targets = (
            sorted(regions["pcode"].astype(str))
            if all_regions
            else [resolve_region(regions, region or "").pcode]
        )
    except RegionNotFoundError as exc:
        raise fail(f"--region {region!r}: {exc}") from exc
    except FrameError as exc:
        raise fail(f"--frame: {exc}") from exc
    except (NotBuiltError, DataFileError) as exc:
        raise fail(str(exc)) from exc

    def make(pcode: str) -> tuple[str, str, bytes]:
        try:
            data, payload = build_document(
                analysis, pcode, lang=lang.value, fmt=kind.value, frame=chosen
            )
        except (DataFileError, ValueError) as exc:
            raise fail(str(exc)) from exc
        return pcode, data.region_name, payload

    write_documents(
        targets,
        make,
        out,
        many=all_regions,
        what="briefings",
        file_name=lambda code, name: (
            f"orienter-brief-{code}-{fold(name)}-{lang.value}.{kind.value}"
        ),
        started=started,
    )
