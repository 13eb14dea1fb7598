"""Unpacking steps: the Mali part of a publisher's archive or spreadsheet, written atomically."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path
from typing import BinaryIO

from api.build.fetch.files import FetchError, write_atomic, write_bytes

__all__ = [
    "UCDP_GED_VERSION",
    "UCDP_MALI_COUNTRY_ID",
    "unpack_shapefile_zip",
    "unpack_ucdp_mali",
    "unpack_who_mali",
]

# GED 25.1 (events 1989-2024); the yearly releases keep the URL form gedNNN-csv.zip
UCDP_GED_VERSION = "251"
UCDP_MALI_COUNTRY_ID = "432"  # Gleditsch-Ward code used by UCDP


def unpack_ucdp_mali(artefact: Path, folder: Path) -> list[Path]:
    """Extract the UCDP GED CSV from its zip, keeping only Mali (``country_id`` 432)."""
    dest = folder / f"ucdp_ged_{UCDP_GED_VERSION}_mali.csv"
    try:
        with zipfile.ZipFile(artefact) as archive:
            members = [m for m in archive.namelist() if m.lower().endswith(".csv")]
            if not members:
                raise FetchError(f"{artefact.name} holds no CSV file")

            def write(fh: BinaryIO) -> None:
                with archive.open(members[0]) as raw:
                    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                    reader = csv.reader(text)
                    header = next(reader, None)
                    if header is None or "country_id" not in header:
                        raise FetchError(
                            f"{members[0]} in {artefact.name} has no country_id column"
                        )
                    col = header.index("country_id")
                    out = io.TextIOWrapper(fh, encoding="utf-8", newline="")
                    writer = csv.writer(out)
                    writer.writerow(header)
                    writer.writerows(
                        row for row in reader if len(row) > col and row[col] == UCDP_MALI_COUNTRY_ID
                    )
                    out.flush()
                    out.detach()

            write_atomic(dest, write)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{artefact.name} is not a valid zip file ({exc})") from exc
    return [dest]


def unpack_who_mali(artefact: Path, folder: Path) -> list[Path]:
    """Write the Mali rows of the WHO/KEMRI spreadsheet (Maina et al. 2019) as CSV."""
    from openpyxl import load_workbook  # only this step needs it

    dest = folder / "who_kemri_mali_health_facilities.csv"
    try:
        workbook = load_workbook(artefact, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a bad file
        raise FetchError(f"{artefact.name} cannot be read as a spreadsheet ({exc})") from exc
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header: list[str] | None = None
        for _, row in zip(range(20), rows, strict=False):  # the header is near the top
            cells = ["" if c is None else str(c).strip() for c in row]
            if "Country" in cells and "Lat" in cells:
                header = cells
                break
        if header is None:
            raise FetchError(f"{artefact.name}: no header row with 'Country' and 'Lat'")
        col = header.index("Country")

        def write(fh: BinaryIO) -> None:
            out = io.TextIOWrapper(fh, encoding="utf-8", newline="")
            writer = csv.writer(out)
            writer.writerow(header)
            for row in rows:
                if len(row) > col and str(row[col] or "").strip() == "Mali":
                    writer.writerow(["" if c is None else c for c in row])
            out.flush()
            out.detach()

        write_atomic(dest, write)
    finally:
        workbook.close()
    return [dest]


def unpack_shapefile_zip(artefact: Path, folder: Path) -> list[Path]:
    """Extract the populated-places shapefile, renamed ``mli_PopulatedPlaces_hdx.*``."""
    try:
        with zipfile.ZipFile(artefact) as archive:
            shps = [m for m in archive.namelist() if m.lower().endswith(".shp")]
            preferred = [m for m in shps if re.search(r"ppl|place|settle|loc", m, re.I)]
            if not shps:
                raise FetchError(f"{artefact.name} holds no shapefile")
            if len(preferred or shps) > 1:
                names = ", ".join(preferred or shps)
                raise FetchError(f"{artefact.name} holds several shapefiles ({names}); use --from")
            stem = (preferred or shps)[0][: -len(".shp")]
            out: list[Path] = []
            for member in archive.namelist():
                if member.startswith(stem + ".") and not member.endswith(".xml"):
                    ext = member[len(stem) :]
                    dest = folder / f"mli_PopulatedPlaces_hdx{ext.lower()}"
                    write_bytes(dest, archive.read(member))
                    out.append(dest)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{artefact.name} is not a valid zip file ({exc})") from exc
    return sorted(out, key=lambda p: p.suffix != ".shp")
