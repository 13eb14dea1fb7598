"""How `orienter coverage` writes its tables and service deserts: a table for people,
CSV (with an HXL hashtag row), JSON, GeoJSON or a GeoPackage, to stdout or a file.

Every output names the population it rests on (raster, demand model, census table).
Files are written atomically (:func:`api.cli._console.write_output`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from rich.table import Table

from api.cli._console import console, fail, say, write_output
from api.cli._options import CoverageFormat
from api.services.analysis import to_records
from api.services.inputs import AnalysisInputs, demand_meta
from geo.coverage import coverage_layer
from geo.deserts import service_deserts
from web.formats import format_people, format_share
from web.time_flags import flag_marks, flag_notes

__all__ = ["CLI_META", "emit_bytes", "emit_deserts", "emit_table", "population_text"]

#: Meta keys the CLI prints (``Analysis`` meta holds a few more for the API).
CLI_META = (
    "level",
    "service",
    "mode",
    "scenario",
    "population_source",
    "population_total",
    "demand",
    "population_table",
    "calibrated",
    "providers",
    "built_at",
    "note",
    "threshold_min",
    "conflict_source",
    "frame",
    "frame_source",
    "frame_note",
    "window",
    "window_min",
)


def population_text(meta: dict) -> str:
    """The raster, the demand model and the census table a table rests on, in words."""
    text = f"{meta['population_source']} ({meta.get('demand', 'grid')} demand"
    if meta.get("population_table"):
        text += f", calibrated to {meta['population_table']}"
    return text + ")"


def _people(value: float) -> str:
    return format_people(value, "en")


def emit_table(
    table: pd.DataFrame,
    units: gpd.GeoDataFrame,
    meta: dict,
    fmt: CoverageFormat,
    output: Path | None,
    level: str,
) -> None:
    """Write a coverage (or underserved) table in ``fmt`` to ``output`` or stdout."""
    table = table.round(
        {c: 4 for c in table.columns if c.startswith("share_")}
        | {c: 0 for c in table.columns if c.startswith("pop") or c.endswith("_min")}
    )
    with_source = table.assign(
        population_source=meta["population_source"],
        demand=meta.get("demand", "grid"),
        population_table=meta.get("population_table"),
    )
    if output is not None and output.suffix.lower() == ".gpkg":
        layer = coverage_layer(with_source, units)
        write_output(output, lambda tmp: layer.to_file(tmp, driver="GPKG", layer="coverage"))
        say(f"wrote {output} (population: {population_text(meta)})", err=True)
        return
    if fmt is CoverageFormat.table:
        if "rank_people" in table:
            _print_underserved(table, meta)
        else:
            _print_coverage(table, meta)
        return
    if fmt is CoverageFormat.json:
        text = json.dumps(
            {"meta": meta, "units": to_records(table)}, ensure_ascii=False, indent=2, default=str
        )
    else:
        data = json.loads(
            coverage_layer(with_source, units).to_json(drop_id=True, ensure_ascii=False)
        )
        data["meta"] = meta
        text = json.dumps(data, ensure_ascii=False)
    if output is not None:
        write_output(output, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        say(f"wrote {output} (population: {meta['population_source']})", err=True)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def emit_bytes(content: bytes, output: Path | None, meta: dict) -> None:
    """Write an exported file (:mod:`api.services.exports`) to ``output`` or stdout."""
    if output is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return
    write_output(output, lambda tmp: tmp.write_bytes(content))
    say(f"wrote {output} (population: {Path(meta['population_source']).name})", err=True)


def _percent(value: float) -> str:
    return "" if pd.isna(value) else f"{100 * value:.1f}"


def _say_flag_notes(table: pd.DataFrame) -> None:
    """The legend of the marks printed beside the times (:mod:`web.time_flags`)."""
    if "time_flags" in table:
        for note in flag_notes(table["time_flags"], "en"):
            say(note)


def _print_coverage(table: pd.DataFrame, meta: dict) -> None:
    window = meta.get("window_min")
    hours = f"{window / 60:g} h" if window else None
    headers = ["P-code", "name", "people", "<= 1 h", "<= 2 h", "<= 5 h", "2 h %", "median min"]
    headers += [f"<= {hours}", f"{hours} %"] if window else []
    headers += ["conflict"] if "max_class" in table else []
    headers += ["région 2023"] if "region_2023" in table else []
    out = Table(*headers)
    for r in table.to_dict("records"):
        med = r["median_time_min"]
        name = r["name"] + (" (approx.)" if r.get("approximate") is True else "")
        cells = [
            r["pcode"],
            name,
            _people(r["population"]),
            _people(r["pop_within_60"]),
            _people(r["pop_within_120"]),
            _people(r["pop_within_300"]),
            _percent(r["share_within_120"]),
            ("unreachable" if med == np.inf else ("" if pd.isna(med) else f"{med:.0f}"))
            + flag_marks(r.get("time_flags")),
        ]
        if window:
            cells += [_people(r[f"pop_within_{window:g}"]), _percent(r[f"share_within_{window:g}"])]
        if "max_class" in table:
            cells.append(str(r["max_class"] or ""))
        if "region_2023" in table:
            approx = " (approx.)" if r["region_2023_approximate"] else ""
            cells.append(f"{r['region_2023']}{approx}")
        out.add_row(*cells)
    console.print(out)
    _say_flag_notes(table)
    total = table["population"].sum()
    within = f"within {hours}" if window else "within 2 h"
    column = f"pop_within_{window:g}" if window else "pop_within_120"
    say(
        f"{meta['service']} by {meta['mode']} ({meta['scenario']}), {meta['providers']} "
        f"providers: {format_share(table['pop_within_60'].sum() / total, 'en')} of "
        f"{_people(total)} people within 1 h, "
        f"{format_share(table[column].sum() / total, 'en')} {within}.  "
        f"Population: {population_text(meta)}."
    )
    if meta.get("frame_note"):
        say(f"Frame 2023: {meta['frame_note']}.")


def _print_underserved(table: pd.DataFrame, meta: dict) -> None:
    t = f"{meta['threshold_min']:g}"
    beyond = next(c for c in table.columns if c.startswith("pop_beyond_"))
    share = next(c for c in table.columns if c.startswith("share_beyond_"))
    out = Table("rank", "P-code", "name", "people", f"> {t} min", "share", "share rank", "conflict")
    for r in table.to_dict("records"):
        out.add_row(
            str(r["rank_people"]),
            r["pcode"],
            r["name"],
            _people(r["population"]),
            _people(r[beyond]) + flag_marks(r.get("time_flags")),
            "" if pd.isna(r[share]) else format_share(r[share], "en"),
            str(r["rank_share"]),
            str(r["max_class"] or ""),
        )
    console.print(out)
    _say_flag_notes(table)
    total = table["population"].sum()
    say(
        f"{meta['service']} by {meta['mode']} ({meta['scenario']}): {_people(table[beyond].sum())} "
        f"of {_people(total)} people beyond {t} min.  Population: {population_text(meta)}."
    )


def emit_deserts(
    inputs: AnalysisInputs,
    minutes: np.ndarray,
    what: dict[str, str],
    threshold_min: float,
    min_population: float,
    output: Path | None,
) -> None:
    """Service deserts beyond ``threshold_min`` as GeoJSON (stdout or file) or GeoPackage;
    ``what``: the service, mode and scenario of ``minutes``."""
    try:
        layer = service_deserts(
            minutes,
            inputs.population,
            inputs.grid,
            threshold_min=threshold_min,
            min_population=min_population,
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    layer = layer.replace([np.inf, -np.inf], np.nan)
    layer["population"] = layer["population"].round(0)
    source = Path(inputs.population_source).name  # a file name, not a local path
    layer["population_source"] = source
    meta = {
        **what,
        "threshold_min": threshold_min,
        "min_population": min_population,
        "deserts": len(layer),
        "population_in_deserts": round(float(layer["population"].sum())),
        "population_total": round(float(inputs.population.sum())),
        "population_source": source,
        **demand_meta(inputs),
        "note": "max_time_min null: part of the desert cannot reach any provider",
    }
    if output is not None and output.suffix.lower() == ".gpkg":
        write_output(output, lambda tmp: layer.to_file(tmp, driver="GPKG", layer="deserts"))
    else:
        data = json.loads(layer.to_json(drop_id=True, ensure_ascii=False))
        data["meta"] = meta
        text = json.dumps(data, ensure_ascii=False)
        if output is None:
            sys.stdout.write(text + "\n")
            return
        write_output(output, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    say(
        f"wrote {output}: {len(layer)} deserts beyond {threshold_min:g} min, "
        f"{_people(meta['population_in_deserts'])} people "
        f"(population: {source})",
        err=True,
    )
