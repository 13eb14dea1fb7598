"""Export the provider directory as CSV, XLSX, HXL-tagged CSV or GeoJSON.

Exports are for sharing with partners (the GBV sub-cluster's 4W, HDX, a partner's own
map), so they hold **public records only**: every export goes through
:func:`geo.providers.public_mask` unless the caller explicitly asks for a caseworker
file (``include_confidential=True``), which must then be handled as confidential.

The HXL tags are those :mod:`geo.provider_sheets` reads, so an HXL export imports back
with ``orienter providers import``.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point

from geo.provider_schema import LIST_FIELDS, PROVIDER_COLUMNS
from geo.provider_sheets import write_workbook
from geo.providers import atomic_write_text, public_mask, to_feature_collection

__all__ = ["EXPORT_FORMATS", "EXPORT_HXL_TAGS", "export_providers", "export_table"]

EXPORT_FORMATS: tuple[str, ...] = ("csv", "xlsx", "hxl", "geojson")
#: Column of a tabular export -> its HXL hashtag (read back by ``providers import``).
EXPORT_HXL_TAGS: dict[str, str] = {
    "id": "#meta+id",
    "name": "#org+name",
    "type": "#org+type",
    "services": "#sector+services",
    "other_services": "#sector+other",
    "status": "#status",
    "status_date": "#date+status",
    "same_as": "#meta+same_as",
    "adm1_pcode": "#adm1+code",
    "adm2_pcode": "#adm2+code",
    "adm3_pcode": "#adm3+code",
    "town": "#loc+name",
    "address": "#contact+address",
    "phone": "#contact+phone",
    "opening_hours": "#meta+hours",
    "languages": "#meta+languages",
    "confidential": "#meta+confidential",
    "location_precision": "#meta+precision",
    "location_source": "#meta+location_source",
    "source": "#meta+source",
    "source_date": "#date+source",
    "source_date_note": "#meta+source_date_note",
    "last_verified": "#date+verified",
    "verified_by": "#org+verifier",
    "unconfirmed_since": "#date+unconfirmed",
    "confidence": "#meta+confidence",
    "notes": "#meta+notes",
    "name_en": "#org+name+i_en",
    "town_en": "#loc+name+i_en",
    "address_en": "#contact+address+i_en",
    "opening_hours_en": "#meta+hours+i_en",
    "lat": "#geo+lat",
    "lon": "#geo+lon",
}
_SEPARATOR = {"source": "; "}  # URLs may hold commas; the other lists are joined by ", "


def export_table(gdf: gpd.GeoDataFrame, *, include_confidential: bool = False) -> pd.DataFrame:
    """The records as a flat table: one column per field, lists joined, ``lat``/``lon``.

    Parameters
    ----------
    gdf
        Provider records in EPSG:4326.
    include_confidential
        Keep confidential records too.  Default: public records only
        (:func:`geo.providers.public_mask`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`geo.provider_schema.PROVIDER_COLUMNS` then ``lat`` and ``lon``
        (6 decimals; empty for unlocated records); text cells, "" when empty.
    """
    chosen = _chosen(gdf, include_confidential)
    rows = []
    for _, record in chosen.iterrows():
        row = {c: _cell(c, record.get(c)) for c in PROVIDER_COLUMNS}
        geom = record.geometry
        located = isinstance(geom, Point) and not geom.is_empty
        row["lat"] = f"{geom.y:.6f}" if located else ""
        row["lon"] = f"{geom.x:.6f}" if located else ""
        rows.append(row)
    return pd.DataFrame(rows, columns=[*PROVIDER_COLUMNS, "lat", "lon"], dtype=object)


def export_providers(
    gdf: gpd.GeoDataFrame,
    path: str | os.PathLike[str],
    *,
    fmt: str,
    include_confidential: bool = False,
) -> int:
    """Write the directory to ``path`` as ``fmt`` (csv, xlsx, hxl or geojson), atomically.

    Parameters
    ----------
    gdf
        Provider records (:func:`geo.providers.read_providers`).
    path
        Output file.
    fmt
        ``csv`` (UTF-8), ``xlsx``, ``hxl`` (CSV with an HXL hashtag row under the
        header, :data:`EXPORT_HXL_TAGS`) or ``geojson`` (the directory's own format).
    include_confidential
        Also write confidential records (shelters).  Only for a caseworker file, which
        must then be handled as confidential.

    Returns
    -------
    int
        The number of records written.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"fmt: unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    path = Path(path)
    if fmt == "geojson":
        chosen = _chosen(gdf, include_confidential)
        text = json.dumps(to_feature_collection(chosen), ensure_ascii=False, indent=1) + "\n"
        atomic_write_text(path, text, backup=False)
        return len(chosen)
    table = export_table(gdf, include_confidential=include_confidential)
    if fmt == "xlsx":
        write_workbook({"providers": table, "lisez-moi": _readme(include_confidential)}, path)
        return len(table)
    if fmt == "hxl":
        tags = pd.DataFrame([[EXPORT_HXL_TAGS[c] for c in table.columns]], columns=table.columns)
        table = pd.concat([tags, table], ignore_index=True)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, lineterminator="\n")
    atomic_write_text(path, buffer.getvalue(), backup=False)
    return len(table) - (1 if fmt == "hxl" else 0)


def _chosen(gdf: gpd.GeoDataFrame, include_confidential: bool) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError(f"gdf must be a GeoDataFrame, got {type(gdf).__name__}")
    if include_confidential is not True and include_confidential is not False:
        raise TypeError(f"include_confidential must be True or False, got {include_confidential!r}")
    return gdf.copy() if include_confidential else gdf[public_mask(gdf)].copy()


def _cell(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if column in LIST_FIELDS and isinstance(value, list | tuple):
        return _SEPARATOR.get(column, ", ").join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _readme(include_confidential: bool) -> pd.DataFrame:
    lines = [
        "Annuaire des prestataires VBG/EAS (Orienter). Chaque ligne cite sa source, sa date "
        "et la précision de sa localisation.",
        "last_verified vide = jamais vérifié avec le prestataire ; status : operating "
        "(vérifié), reported (signalé par une source), suspended, historic, planned.",
    ]
    if include_confidential:
        lines.insert(
            0,
            "CONFIDENTIEL : ce fichier contient des structures confidentielles (hébergements). "
            "Ne le publiez pas, ne le partagez qu'avec des gestionnaires de cas.",
        )
    else:
        lines.append("Fichier public : les structures confidentielles en sont exclues.")
    return pd.DataFrame({"lisez-moi": lines}, dtype=object)
