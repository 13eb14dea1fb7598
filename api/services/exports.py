"""Coverage tables as planners' files (CSV for Excel, HXL, XLSX) and the région filter.

One export behind ``orienter coverage --format csv|hxl|xlsx``, ``GET /api/v1/coverage
?format=csv|hxl|xlsx`` and the download buttons of the ranking and région pages, so a
file holds the figures of the page and of the briefing, to the person:

- the rows of :class:`api.services.analysis.Analysis` tables, already published by the
  one counting rule (:func:`geo.coverage.published_figures`): whole people within *and*
  beyond each threshold, shares of those people in per cent to one decimal (the page's
  ``38,2 %`` is ``38.2`` in the file);
- the région (and, for communes, the cercle) of every unit beside it, in the table's
  frame (``--frame 2023``: the 2023 région regrouped from the 2015 cercles);
- with a threshold, the page's ranking: ``rank_people`` and ``rank_share``, worst first;
- what the figures rest on: service, mode, scenario, the population raster's *file
  name* (never a path of the machine that made the file) and the build date.

Formats: ``csv`` opens as it should in Excel: UTF-8 with a byte-order mark, and in French
``;`` between fields and a decimal comma (in English ``,`` and a decimal point); ``hxl``
is the machine form (comma, decimal point, no byte-order mark) with the HXL hashtag row
under the header; ``xlsx`` a workbook with the table and a sheet saying what it holds.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from api.services.analysis import Analysis, CoverageResult
from api.services.frames import FRAME_LEVEL
from api.services.regions import RegionNotFoundError, display_name, resolve_region
from geo.coverage import to_hxl
from web.i18n import translate

__all__ = [
    "EXPORT_FORMATS",
    "Export",
    "RegionNotFoundError",
    "export_file",
    "export_frame",
    "export_name",
    "frame_regions",
    "in_regions",
    "parse_regions",
]

#: File formats of an export.
EXPORT_FORMATS: tuple[str, ...] = ("csv", "hxl", "xlsx")
_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "hxl": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_SUFFIX = {"csv": "csv", "hxl": "hxl.csv", "xlsx": "xlsx"}


@dataclass(frozen=True)
class Export:
    """One exported file: its bytes, media type and a file name without spaces."""

    content: bytes
    media_type: str
    filename: str


def parse_regions(values: Sequence[str] | None) -> list[str]:
    """Région texts from repeated values and comma-separated lists (``ML05,ML04``),
    blanks dropped, order kept, each once."""
    out: list[str] = []
    for value in values or []:
        for part in str(value).split(","):
            text = part.strip()
            if text and text not in out:
                out.append(text)
    return out


def in_regions(
    result: CoverageResult, analysis: Analysis, regions: Sequence[str]
) -> tuple[CoverageResult, list[str]]:
    """``result`` restricted to the units inside ``regions`` (P-codes or names of the
    régions of ``result``'s frame, :func:`frame_regions`), and the régions' P-codes; no
    ``regions`` keeps every unit.

    Raises
    ------
    RegionNotFoundError
        A text names no région (the message lists them).
    """
    if not regions:
        return result, []
    known = frame_regions(result, analysis)
    codes = list(dict.fromkeys(resolve_region(known, text).pcode for text in regions))
    keep = _region_of(result, analysis).isin(codes).to_numpy()
    table = result.table[keep]
    meta = {**result.meta, "regions": codes}
    return replace(result, table=table, meta=meta), codes


def frame_regions(result: CoverageResult, analysis: Analysis) -> pd.DataFrame:
    """The régions of ``result``'s frame: the 2023 ones regrouped from the 2015 cercles
    (a table of cercles or communes then carries ``region_2023_pcode``), else those of
    the boundary files."""
    if result.level == "adm1":
        return result.units
    if "region_2023_pcode" in result.table:
        return analysis.units(FRAME_LEVEL)
    return analysis.units("adm1")


def _region_of(result: CoverageResult, analysis: Analysis) -> pd.Series:
    """The région P-code of every row of ``result.table`` (its own for a région), in
    ``result``'s frame."""
    pcodes = result.table["pcode"].astype(str)
    if result.level == "adm1":
        return pcodes
    if "region_2023_pcode" in result.table:
        return result.table["region_2023_pcode"].astype(str)
    cercles = analysis.units("adm2")
    parent = dict(
        zip(cercles["pcode"].astype(str), cercles["parent_pcode"].astype(str), strict=True)
    )
    if result.level == "adm2":
        return pcodes.map(parent)
    communes = analysis.units("adm3")
    cercle = dict(
        zip(communes["pcode"].astype(str), communes["parent_pcode"].astype(str), strict=True)
    )
    return pcodes.map(cercle).map(parent)


def _names(units: pd.DataFrame, regions: bool) -> dict[str, str]:
    names = dict(zip(units["pcode"].astype(str), units["name"].astype(str), strict=True))
    if regions:
        return {p: display_name(p, n) for p, n in names.items()}
    return names


def export_frame(
    result: CoverageResult, analysis: Analysis, *, ranking: CoverageResult | None = None
) -> pd.DataFrame:
    """The table of ``result`` as files hold it (see the module docstring); with
    ``ranking`` (:meth:`Analysis.underserved` of the same units), its ranks, worst first."""
    table = result.table.copy()
    pcodes = table["pcode"].astype(str)
    front: dict[str, pd.Series] = {}
    if result.level != "adm1":
        region = _region_of(result, analysis)
        front["region_pcode"] = region
        front["region_name"] = region.map(_names(frame_regions(result, analysis), True))
    if result.level == "adm3":
        communes = analysis.units("adm3")
        cercle = pcodes.map(
            dict(
                zip(
                    communes["pcode"].astype(str), communes["parent_pcode"].astype(str), strict=True
                )
            )
        )
        front["cercle_pcode"] = cercle
        front["cercle_name"] = cercle.map(_names(analysis.units("adm2"), False))
    out = pd.DataFrame(front, index=table.index)
    for column in table.columns:
        if column.startswith("share_"):
            kind, tag = column.removeprefix("share_").split("_", 1)
            out[f"pct_{kind}_{tag}"] = [_percent(v) for v in table[column]]
        elif column in ("offroad_share", "detour_share"):  # route flags, per cent
            out[f"pct_{column.removesuffix('_share')}"] = [_percent(v) for v in table[column]]
        else:
            out[column] = table[column]
    if ranking is not None:
        ranks = ranking.table.set_index(ranking.table["pcode"].astype(str))
        for column in ranks.columns:  # a threshold the coverage table does not hold
            if column.startswith("pop_beyond_") and column not in out:
                tag = column.removeprefix("pop_beyond_")
                out[column] = pcodes.map(ranks[column]).astype("Int64")
                out[f"pct_beyond_{tag}"] = [
                    _percent(v) for v in pcodes.map(ranks[f"share_beyond_{tag}"])
                ]
        out["rank_people"] = pcodes.map(ranks["rank_people"]).astype("Int64")
        out["rank_share"] = pcodes.map(ranks["rank_share"]).astype("Int64")
        out = out.sort_values(["rank_people", "rank_share", "pcode"], kind="stable")
    meta = result.meta
    out["service"] = meta.get("service")
    out["mode"] = meta.get("mode")
    out["scenario"] = meta.get("scenario")
    if ranking is not None:
        out["threshold_min"] = int(ranking.meta["threshold_min"])
    out["population_source"] = Path(str(meta.get("population_source") or "")).name or None
    out["built_at"] = (meta.get("built_at") or "")[:10] or None
    for column in ("median_time_min", "p90_time_min"):
        if column in out:  # inf (most people cannot reach one) is an empty cell
            out[column] = out[column].replace([np.inf, -np.inf], np.nan).astype("Int64")
    return out.reset_index(drop=True)


def _percent(share: object) -> float | None:
    """A 0-1 share in per cent to one decimal, as :func:`web.formats.format_share`
    rounds it (so the file's 38.2 is the page's 38,2 %)."""
    if share is None or pd.isna(share):  # type: ignore[call-overload]
        return None
    return float(f"{100 * float(share):.1f}")  # type: ignore[arg-type]


def export_file(frame: pd.DataFrame, fmt: str, *, level: str, lang: str, name: str) -> Export:
    """``frame`` (:func:`export_frame`) as a ``csv``, ``hxl`` or ``xlsx`` file."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"fmt={fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    if lang not in ("fr", "en"):
        raise ValueError(f"lang={lang!r}: use fr or en")
    filename = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"orienter-{name}") + "." + _SUFFIX[fmt]
    if fmt == "csv":
        french = lang == "fr"
        text = frame.to_csv(index=False, sep=";" if french else ",", decimal="," if french else ".")
        content = ("\ufeff" + text).encode("utf-8")
    elif fmt == "hxl":
        content = to_hxl(frame, level=int(level[-1])).to_csv(index=False).encode("utf-8")
    else:
        content = _xlsx(frame, lang)
    return Export(content, _MEDIA[fmt], filename)


def _xlsx(frame: pd.DataFrame, lang: str) -> bytes:
    buffer = io.BytesIO()
    about = pd.DataFrame(
        {
            translate("planning.xlsx_about_col", lang): [
                translate(f"planning.xlsx_about_{k}", lang)
                for k in ("people", "shares", "ranks", "median", "flags", "source")
            ]
        }
    )
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="coverage", index=False)
        about.to_excel(writer, sheet_name="about", index=False)
        sheet = writer.sheets["coverage"]
        sheet.freeze_panes = "A2"
        for i, column in enumerate(frame.columns, start=1):
            width = max(len(str(column)), *(len(str(v)) for v in frame[column].head(200)))
            sheet.column_dimensions[sheet.cell(1, i).column_letter].width = min(width + 2, 40)
        writer.sheets["about"].column_dimensions["A"].width = 120
    return buffer.getvalue()


def export_name(
    level: str, regions: Sequence[str], meta: dict, threshold_min: float | None = None
) -> str:
    """``coverage-adm2-ML05-ML04-one_stop_centre-car-baseline``: what a file holds
    (``frame2023`` after the level for the 2023 régions regrouped from the cercles)."""
    frame = meta.get("frame")
    parts = ["coverage", level, f"frame{frame}" if frame == "2023" else None, *regions]
    parts += [meta.get("service"), meta.get("mode")]
    parts.append(meta.get("scenario"))
    if threshold_min:
        parts.append(f"{float(threshold_min):g}min")
    return "-".join(str(p) for p in parts if p)
