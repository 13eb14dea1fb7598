"""Import a service-mapping spreadsheet (4W style, CSV or XLSX) into provider records.

Columns are found by name or by HXL hashtag (:func:`geo.provider_sheets.read_sheet`).

Rows are located by coordinates (``location_precision: exact``), or by a settlement
P-code or settlement name looked up in a gazetteer (``locality``).  Every row is
validated with :func:`geo.providers.validate_providers` together with the existing
directory; nothing is written unless every row passes, or, with ``skip_invalid``, the
valid rows are written and the others reported.  The write is atomic and the previous
file is kept as a backup (:func:`geo.providers.write_providers`).

The gazetteer is duck-typed: any object with ``search(query, *, region=None, limit=10)``
returning a DataFrame (pcode, name, adm1_pcode, adm2_pcode, adm3_pcode, place_class,
lon, lat, score) and ``lookup_pcode(pcode)`` returning a row or None, such as
:class:`geo.settlements.Gazetteer`.
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from geo.crs import GEOGRAPHIC_CRS
from geo.errors import DataProblem, DataValidationError
from geo.provider_sheets import COLUMN_ALIASES, header_key, read_sheet
from geo.providers import (
    ADM1_2015,
    PROVIDER_COLUMNS,
    REGIONS_2023_TO_ADM1_2015,
    from_feature_collection,
    read_providers,
    validate_providers,
    write_providers,
)

__all__ = [
    "COLUMN_ALIASES",
    "GazetteerLike",
    "ImportResult",
    "import_providers",
    "read_sheet",
    "records_from_sheet",
    "write_import_report",
]

_SERVICE_WORDS: dict[str, tuple[str, str]] = {
    # token -> ("services" | "other_services", value)
    "m": ("services", "medical"),
    "medical": ("services", "medical"),
    "medicale": ("services", "medical"),
    "sante": ("services", "medical"),
    "p": ("services", "psychosocial"),
    "psychosocial": ("services", "psychosocial"),
    "psychosociale": ("services", "psychosocial"),
    "l": ("services", "legal"),
    "legal": ("services", "legal"),
    "juridique": ("services", "legal"),
    "r": ("services", "reintegration"),
    "reintegration": ("services", "reintegration"),
    "reinsertion": ("services", "reintegration"),
    "s": ("services", "shelter"),
    "shelter": ("services", "shelter"),
    "hebergement": ("services", "shelter"),
    "abri": ("services", "shelter"),
    "sec": ("other_services", "police/security"),
    "security": ("other_services", "police/security"),
    "securite": ("other_services", "police/security"),
    "police": ("other_services", "police/security"),
    "h": ("other_services", "hotline"),
    "hotline": ("other_services", "hotline"),
    "ref": ("other_services", "referral"),
    "referral": ("other_services", "referral"),
    "referencement": ("other_services", "referral"),
}
_TYPE_WORDS = {
    "osc": "one_stop_centre",
    "one_stop_center": "one_stop_centre",
    "one_stop_centre": "one_stop_centre",
    "ong": "ngo",
    "ngo": "ngo",
    "reseau": "network",
    "clinique_juridique": "legal_clinic",
    "gouvernement": "government",
    "etat": "government",
    "agence_onu": "un_agency",
    "numero_vert": "hotline",
}
_TRUE = {"true", "yes", "y", "1", "oui", "o", "vrai"}
_FALSE = {"false", "no", "n", "0", "non", "faux"}


class GazetteerLike(Protocol):
    """What the import needs from a gazetteer (see :class:`geo.settlements.Gazetteer`)."""

    def search(self, query: str, *, region: str | None = None, limit: int = 10) -> pd.DataFrame:
        """Best matches for ``query``, best first."""
        ...

    def lookup_pcode(self, pcode: str) -> Any:
        """The settlement with this P-code, or None."""
        ...


@dataclass
class ImportResult:
    """What an import did: records added, rows refused, files written."""

    added_ids: list[str] = field(default_factory=list)
    problems: list[DataProblem] = field(default_factory=list)
    skipped_rows: list[int] = field(default_factory=list)
    written: Path | None = None
    backup: Path | None = None


# --------------------------------------------------------------------------- conversion


def records_from_sheet(
    table: pd.DataFrame,
    gazetteer: GazetteerLike | None,
    *,
    source_name: str,
) -> tuple[list[dict[str, Any]], list[DataProblem]]:
    """Turn sheet rows into GeoJSON features; locate them; collect location problems.

    Parameters
    ----------
    table
        As :func:`read_sheet` returns it (index = spreadsheet row number).
    gazetteer
        Used for rows located by settlement name or P-code; None when there is none.
    source_name
        Cited as the source of rows whose ``source`` cell is empty.

    Returns
    -------
    features, problems
        One feature per row (``properties["_row"]`` holds the sheet row) and the rows
        that could not be located or parsed.
    """
    features: list[dict[str, Any]] = []
    problems: list[DataProblem] = []
    for sheet_row, row in table.iterrows():
        number = int(str(sheet_row))
        cells = {k: v for k, v in row.items() if isinstance(v, str) and v}
        props = _properties(cells, source_name)
        geometry, loc_problems = _locate(cells, props, number, gazetteer)
        problems += loc_problems
        props["_row"] = number
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    return features, problems


def _properties(cells: dict[str, str], source_name: str) -> dict[str, Any]:
    props: dict[str, Any] = {c: None for c in PROVIDER_COLUMNS}
    for key in (
        "name",
        "address",
        "phone",
        "opening_hours",
        "source_date_note",
        "confidence",
        "status",
        "status_date",
        "same_as",
        "notes",
        "adm2_pcode",
        "adm3_pcode",
        "location_precision",
        "last_verified",
        "verified_by",
        "unconfirmed_since",
    ):
        props[key] = cells.get(key)
    raw_type = cells.get("type", "")
    props["type"] = _TYPE_WORDS.get(header_key(raw_type), raw_type) or None
    props["town"] = cells.get("settlement")
    services: list[str] = []
    # not split on "/": the vocabulary holds "police/security"
    other: list[str] = _split(cells.get("other_services", ""), seps=r"[,;|\n]")
    for token in _split(cells.get("services", "")):
        kind, value = _SERVICE_WORDS.get(header_key(token), ("services", token))
        (services if kind == "services" else other).append(value)
    props["services"] = list(dict.fromkeys(services))
    props["other_services"] = list(dict.fromkeys(other))
    props["languages"] = _split(cells.get("languages", "")) or None
    props["source"] = _split(cells.get("source", ""), seps=r"[;\n]") or [
        f"service-mapping sheet {source_name}"
    ]
    props["source_date"] = cells.get("source_date") or "undated"
    # last_verified is a verification with the provider, never the source's date
    props["status"] = props["status"] or "reported"
    confidential = cells.get("confidential", "")
    if not confidential:
        props["confidential"] = "shelter" in props["services"]
    elif confidential.lower() in _TRUE:
        props["confidential"] = True
    elif confidential.lower() in _FALSE:
        props["confidential"] = False
    else:
        props["confidential"] = confidential  # the validator reports it
    props["id"] = cells.get("id") or _slug(
        " ".join(filter(None, [cells.get("name"), cells.get("settlement")]))
    )
    return props


def _locate(
    cells: dict[str, str], props: dict[str, Any], number: int, gazetteer: GazetteerLike | None
) -> tuple[dict[str, Any] | None, list[DataProblem]]:
    ident = props["id"]

    def problem(field_name: str, reason: str) -> list[DataProblem]:
        return [DataProblem(number, field_name, reason, ident)]

    region_code: str | None = None
    region = cells.get("region") or cells.get("region_name")
    if region:
        region_code = _region_pcode(region)
        if region_code is None:
            return None, problem(
                "region",
                f"unknown région {region!r}; give an ADM1 P-code (ML01…ML09) or a région name",
            )
        props["adm1_pcode"] = region_code

    lat, lon = cells.get("lat"), cells.get("lon")
    if lat or lon:
        if not (lat and lon):
            return None, problem("lat" if not lat else "lon", "give both latitude and longitude")
        try:
            y, x = _number(lat), _number(lon)
        except ValueError:
            return None, problem("lat", f"coordinates ({lat!r}, {lon!r}) are not numbers")
        props["location_precision"] = props["location_precision"] or "exact"
        props["location_source"] = cells.get("location_source") or (
            f"sheet row {number}: latitude/longitude columns"
        )
        return {"type": "Point", "coordinates": [x, y]}, []

    if cells.get("pcode") or cells.get("settlement"):
        if gazetteer is None:
            return None, problem(
                "settlement", "locating by settlement needs the settlements gazetteer"
            )
        if cells.get("pcode"):
            hit = gazetteer.lookup_pcode(cells["pcode"])
            if hit is None:
                return None, problem("pcode", f"P-code {cells['pcode']!r} is not in the gazetteer")
            how = f"P-code {cells['pcode']}"
        else:
            hit, reason = _match_settlement(gazetteer, cells["settlement"], region_code)
            if hit is None:
                return None, problem("settlement", reason)
            how = f"name {cells['settlement']!r}"
        place = _as_mapping(hit)
        x, y = _hit_xy(place)
        if region_code and place.get("adm1_pcode") and place["adm1_pcode"] != region_code:
            return None, problem(
                "region",
                f"{place.get('name')} ({place.get('pcode')}) is in {place['adm1_pcode']}, "
                f"not in the région given ({region_code})",
            )
        for level in (1, 2, 3):
            key = f"adm{level}_pcode"
            props[key] = props[key] or _text(place.get(key))
        props["town"] = props["town"] or _text(place.get("name"))
        props["location_precision"] = props["location_precision"] or "locality"
        props["location_source"] = (
            f"settlements gazetteer, {place.get('name')} ({place.get('pcode')}), "
            f"found by {how} (sheet row {number})"
        )
        return {"type": "Point", "coordinates": [x, y]}, []

    if props["type"] == "hotline":
        props["location_precision"] = None
        return None, []
    return None, problem(
        "settlement", "no location: give latitude/longitude, a settlement P-code or a settlement"
    )


def _match_settlement(gazetteer: GazetteerLike, name: str, region: str | None) -> tuple[Any, str]:
    """The one settlement that ``name`` names exactly, or (None, reason)."""
    try:
        hits = gazetteer.search(name, region=region, limit=20)
    except ValueError as exc:
        return None, f"cannot search {name!r}: {exc}"
    if hits is None or len(hits) == 0:
        where = f" in région {region}" if region else ""
        return None, f"no settlement{where} matches {name!r}; give a P-code or coordinates"
    hits = hits.sort_values("score", ascending=False, kind="stable")
    exact = hits[hits["score"] >= 100]
    if exact.empty:
        options = "; ".join(
            f"{r['name']} ({r['pcode']}, {r['adm1_pcode']}, score {r['score']:.0f})"
            for _, r in hits.head(3).iterrows()
        )
        return None, (
            f"no settlement is named exactly {name!r} (did you mean: {options}?); "
            "correct the name or give a P-code"
        )
    communes = exact["adm3_pcode"].dropna().unique()
    if len(communes) > 1:
        where = ", ".join(f"{r['pcode']} ({r['adm1_pcode']})" for _, r in exact.head(5).iterrows())
        return None, (
            f"{name!r} names {len(exact)} places in different communes ({where}); "
            "add a région column or give a P-code"
        )
    # the same town listed twice in one commune (capital and village): take the capital
    if "place_class" in exact.columns:
        exact = exact.sort_values("place_class", kind="stable")
    return exact.iloc[0], ""


# --------------------------------------------------------------------------- import


def import_providers(
    sheet: str | os.PathLike[str],
    into: str | os.PathLike[str],
    gazetteer: GazetteerLike | None,
    *,
    skip_invalid: bool = False,
    country: BaseGeometry | None = None,
) -> ImportResult:
    """Add the rows of ``sheet`` to the provider file ``into``.

    Parameters
    ----------
    sheet
        CSV or XLSX service-mapping sheet (:func:`read_sheet`).
    into
        The provider GeoJSON to extend; created when missing.  An existing file must be
        valid.  It is replaced atomically and the previous version kept as a backup.
    gazetteer
        For rows located by settlement name or P-code (duck-typed, see module doc).
    skip_invalid
        Write the valid rows and report the others, instead of writing nothing.
    country
        Mali's outline; points outside it (or with lat/lon swapped) are invalid.

    Returns
    -------
    ImportResult
        Ids added, problems (sheet row numbers), skipped rows, written and backup paths.

    Raises
    ------
    DataFileError
        The sheet or the existing directory cannot be read.
    DataValidationError
        Some rows are invalid and ``skip_invalid`` is false; nothing was written.
    """
    sheet, into = Path(sheet), Path(into)
    table = read_sheet(sheet)
    existing = read_providers(into, country=country) if into.exists() else _empty_directory()
    features, problems = records_from_sheet(table, gazetteer, source_name=sheet.name)
    new_rows = [f["properties"].pop("_row") for f in features]
    new, parse_problems = from_feature_collection(
        {"type": "FeatureCollection", "features": features}, source=str(sheet)
    )
    problems += [_renumber(p, new_rows) for p in parse_problems]
    merged = _concat(existing, new)
    offset = len(existing)
    unlocated = {  # already reported: do not add "no location" on top
        offset + i + 1 for i, r in enumerate(new_rows) if any(p.row == r for p in problems)
    }
    for p in validate_providers(merged, country=country, _skip_geometry_rows=unlocated):
        if p.row is None or p.row <= offset:
            continue  # the existing file was valid on its own
        problems.append(_renumber(p, new_rows, offset=offset))
    problems = _dedupe(problems)
    bad_rows = sorted({p.row for p in problems if p.row is not None})
    result = ImportResult(problems=problems, skipped_rows=bad_rows)
    if problems and not skip_invalid:
        raise DataValidationError(str(sheet), problems)
    keep = [i for i, r in enumerate(new_rows) if r not in bad_rows]
    if not keep:
        return result
    accepted = new.iloc[keep]
    final = _concat(existing, accepted)
    leftover = validate_providers(final, country=country)
    if leftover:  # removing rows cannot create problems; refuse to write if it did
        raise DataValidationError(str(into), leftover)
    result.backup = write_providers(final, into)
    result.written = into
    result.added_ids = [str(v) for v in accepted["id"]]
    return result


def write_import_report(problems: list[DataProblem], path: str | os.PathLike[str]) -> Path:
    """Write ``problems`` as CSV (row, id, field, reason), one line per problem."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "id", "field", "reason"])
        for p in problems:
            writer.writerow([p.row, p.ident or "", p.field or "", p.reason])
    return path


# --------------------------------------------------------------------------- helpers


def _empty_directory() -> gpd.GeoDataFrame:
    gdf, _ = from_feature_collection({"type": "FeatureCollection", "features": []})
    return gdf


def _concat(first: gpd.GeoDataFrame, second: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frames = [f for f in (first, second) if len(f)]
    if not frames:
        return first.copy()
    merged = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(merged, geometry="geometry", crs=GEOGRAPHIC_CRS)


def _renumber(problem: DataProblem, sheet_rows: list[int], *, offset: int = 0) -> DataProblem:
    row = problem.row
    if row is None:
        return problem
    sheet_row = sheet_rows[row - offset - 1]
    reason = re.sub(
        r"row (\d+)",
        lambda m: _describe_row(int(m.group(1)), sheet_rows, offset),
        problem.reason,
    )
    return DataProblem(sheet_row, problem.field, reason, problem.ident)


def _describe_row(row: int, sheet_rows: list[int], offset: int) -> str:
    if row <= offset:
        return f"feature {row} of the existing directory"
    return f"sheet row {sheet_rows[row - offset - 1]}"


def _dedupe(problems: list[DataProblem]) -> list[DataProblem]:
    seen: list[DataProblem] = []
    for p in problems:
        if p not in seen:
            seen.append(p)
    return sorted(seen, key=lambda p: (p.row or 0, p.field or ""))


def _region_pcode(value: str) -> str | None:
    code = value.strip().upper()
    if re.fullmatch(r"ML\d{2}", code):
        return code if code in ADM1_2015 else None
    key = header_key(value)
    names = {header_key(n): c for c, n in ADM1_2015.items()}
    names |= {header_key(n): c for n, c in REGIONS_2023_TO_ADM1_2015.items()}
    names |= {"koulikouro": "ML02", "timbuktu": "ML06", "bamako_district": "ML09"}
    return names.get(key)


def _as_mapping(hit: Any) -> dict[str, Any]:
    if isinstance(hit, pd.Series):
        return hit.to_dict()
    if isinstance(hit, dict):
        return hit
    return dict(getattr(hit, "_asdict", lambda: vars(hit))())


def _hit_xy(place: dict[str, Any]) -> tuple[float, float]:
    if place.get("lon") is not None and place.get("lat") is not None:
        return float(place["lon"]), float(place["lat"])
    geom = place.get("geometry")
    if isinstance(geom, Point):
        return geom.x, geom.y
    raise ValueError(f"gazetteer row {place.get('pcode')!r} has neither lon/lat nor a Point")


def _number(text: str) -> float:
    value = float(text.replace(",", ".").strip())
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _split(text: str, *, seps: str = r"[,;/|\n]") -> list[str]:
    return [t.strip() for t in re.split(seps, text or "") if t.strip()]


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def _slug(text: str) -> str:
    return header_key(text).replace("_", "-") or "provider"
