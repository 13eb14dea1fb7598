"""Download the data directory from the original publishers (``orienter data fetch``).

Two halves:

- the catalogue (:data:`CATALOGUE`): one :class:`Source` per remote file, saying which
  publisher serves it, under which licence, how it is checked, and where it lands in the
  data directory so that :func:`api.datasets.find_dataset` finds it;
- the engine: streaming downloads with HTTP Range resume into ``<name>.part``, bounded
  retries, checksum verification, atomic rename into place, a manifest
  ``<data_dir>/.fetch-manifest.json`` (url, sha256, bytes, date, licence) that later runs
  verify against, and copies from a local mirror (``--from DIR``) with the same checks.

Nothing here prints: :func:`fetch_sources` yields one :class:`Outcome` per source and the
CLI (``api/cli_data.py``) shows them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

import httpx

from api.datasets import DATASETS, find_dataset
from api.settings import Settings

__all__ = [
    "CATALOGUE",
    "MANIFEST_NAME",
    "ChecksumError",
    "FetchError",
    "FetchOptions",
    "Manifest",
    "Outcome",
    "Resolved",
    "Source",
    "Status",
    "TransferProgress",
    "download_file",
    "fetch_sources",
    "missing_required",
    "select_sources",
]

MANIFEST_NAME = ".fetch-manifest.json"
USER_AGENT = "orienter-data-fetch/0.1 (GBV/SEA service mapping for Mali)"
# GED 25.1 (events 1989-2024); the yearly releases keep the URL form gedNNN-csv.zip
UCDP_GED_VERSION = "251"
UCDP_MALI_COUNTRY_ID = "432"  # Gleditsch-Ward code used by UCDP
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_MD5 = re.compile(r"\b([0-9a-fA-F]{32})\b")


class FetchError(RuntimeError):
    """A file could not be fetched; the message says why and what to do."""


class ChecksumError(FetchError):
    """A downloaded or copied file does not match its expected checksum."""


class _Incomplete(Exception):
    """One transfer attempt ended early; the next attempt may resume."""


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class Resolved:
    """Where a source is downloaded from, once its publisher's API has been asked.

    Parameters
    ----------
    url : str
        The file's URL.
    filename : str
        Final file name in the data-directory folder.
    download_name : str
        The publisher's file name (the raw artefact when the source is unpacked).
    licence : str
        Licence as the publisher states it.
    unpack : callable or None
        Turns the downloaded artefact into the final file(s); see :class:`Source`.
    """

    url: str
    filename: str
    download_name: str
    licence: str
    unpack: Unpacker | None = None


Resolver = Callable[[httpx.Client, str, "Source"], Resolved]
Unpacker = Callable[[Path, Path], list[Path]]


@dataclass(frozen=True)
class Source:
    """One remote file of the catalogue.

    Parameters
    ----------
    key : str
        Catalogue key (what ``--only`` takes); the dataset key unless noted.
    dataset : str
        Key in :data:`api.datasets.DATASETS` this file provides.
    folder : str
        Folder of the data directory it lands in.
    filename : str
        Final file name there (matches the dataset's patterns).
    publisher, licence : str
        Who publishes it and under which terms.
    url : str or None
        The file's URL, or the publisher API URL that ``resolve`` reads; None when Orienter
        does not fetch this source (see ``manual``).
    download_name : str or None
        The publisher's own file name, looked for in a ``--from`` mirror; the raw artefact
        kept next to the final file when ``unpack`` is set.
    resolve : callable or None
        ``resolve(client, url, source) -> Resolved`` asks the publisher's API at fetch time.
    fallback_url : str or None
        A static URL used when the API cannot be reached.
    checksum_url : str or None
        The publisher's MD5 checksum file; without one the SHA-256 of the download is
        recorded in the manifest and checked on later runs.
    stable : bool
        The URL always serves the same bytes (versioned file), so a re-download must match
        the SHA-256 the manifest recorded.
    unpack : callable or None
        ``unpack(artefact, folder) -> [final files]``: extraction or filtering step.
    alternatives : tuple of str
        Dataset keys that make a default run skip this source (a coarser layer is there).
    present_patterns : tuple of str
        Patterns that mean "present" instead of the dataset's own patterns.
    manual : str or None
        Why Orienter does not fetch this source and how a user adds it.
    on_failure : str or None
        Advice added to the message when fetching fails.
    default : bool
        Part of a run without ``--only``.
    """

    key: str
    dataset: str
    folder: str
    filename: str
    publisher: str
    licence: str
    url: str | None = None
    download_name: str | None = None
    resolve: Resolver | None = None
    fallback_url: str | None = None
    checksum_url: str | None = None
    stable: bool = False
    unpack: Unpacker | None = None
    alternatives: tuple[str, ...] = ()
    present_patterns: tuple[str, ...] = ()
    manual: str | None = None
    on_failure: str | None = None
    default: bool = True

    def static(self) -> Resolved:
        """The source as it stands without asking an API."""
        if self.url is None:
            raise FetchError(f"{self.key}: not fetched by Orienter. {self.manual or ''}".strip())
        url = self.fallback_url if self.resolve is not None and self.fallback_url else self.url
        name = self.download_name or self.filename
        return Resolved(url, self.filename, name, self.licence, self.unpack)


def _get_json(client: httpx.Client, url: str) -> Any:
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot reach {url}: {exc}") from exc
    if response.status_code != 200:
        raise FetchError(f"HTTP {response.status_code} from {url}")
    try:
        return response.json()
    except ValueError as exc:
        raise FetchError(f"{url} did not answer JSON ({exc})") from exc


def resolve_geoboundaries(client: httpx.Client, url: str, source: Source) -> Resolved:
    """Ask the geoBoundaries API for the GeoJSON URL (``gjDownloadURL``) and licence."""
    meta = _get_json(client, url)
    if isinstance(meta, list):  # the API answers a list for "ALL" queries
        meta = meta[0] if meta else {}
    gj = meta.get("gjDownloadURL") if isinstance(meta, dict) else None
    if not isinstance(gj, str) or not gj.startswith(("http://", "https://")):
        raise FetchError(f"the geoBoundaries API at {url} gave no gjDownloadURL")
    licence = str(meta.get("boundaryLicense") or source.licence)
    return Resolved(gj, source.filename, source.filename, licence, None)


_HDX_FORMATS = ("geojson", "geopackage", "gpkg", "zipped shapefile", "shp", "shapefile")


def resolve_hdx(client: httpx.Client, url: str, source: Source) -> Resolved:
    """Pick the GeoJSON (else GeoPackage, else zipped shapefile) resource of an HDX dataset.

    ``url`` is the CKAN ``package_show`` call of the dataset.
    """
    answer = _get_json(client, url)
    result = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(result, dict) or not answer.get("success", True):
        raise FetchError(f"HDX answered no dataset at {url}")
    resources = [r for r in result.get("resources", []) if isinstance(r, dict)]
    by_format = {str(r.get("format", "")).strip().lower(): r for r in reversed(resources)}
    for fmt in _HDX_FORMATS:
        if fmt in by_format:
            res = by_format[fmt]
            break
    else:
        seen = ", ".join(sorted(f for f in by_format if f)) or "none"
        raise FetchError(
            f"the HDX dataset at {url} has no GeoJSON, GeoPackage or shapefile resource "
            f"(formats: {seen}); download it by hand and use --from"
        )
    res_url = str(res.get("download_url") or res.get("url") or "")
    if not res_url.startswith(("http://", "https://")):
        raise FetchError(f"the HDX resource {res.get('name')!r} has no download URL")
    licence = str(result.get("license_title") or source.licence)
    name = Path(urlsplit(res_url).path).name or "hdx_download"
    stem = Path(source.filename).stem
    if fmt == "geojson":
        return Resolved(res_url, f"{stem}.geojson", name, licence, None)
    if fmt in ("geopackage", "gpkg"):
        return Resolved(res_url, f"{stem}.gpkg", name, licence, None)
    return Resolved(res_url, "mli_PopulatedPlaces_hdx.shp", name, licence, unpack_shapefile_zip)


def _write_atomic(dest: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``dest`` through ``<dest>.part``, renamed into place only when complete."""
    part = dest.with_name(dest.name + ".part")
    try:
        with part.open("wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)


def _write_bytes(dest: Path, data: bytes) -> None:
    _write_atomic(dest, lambda fh: fh.write(data))


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

            _write_atomic(dest, write)
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

        _write_atomic(dest, write)
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
                    _write_bytes(dest, archive.read(member))
                    out.append(dest)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{artefact.name} is not a valid zip file ({exc})") from exc
    return sorted(out, key=lambda p: p.suffix != ".shp")


_GB_LICENCE = "CC BY 4.0 (geoBoundaries gbOpen; source DNCT Mali / UN OCHA)"
_GB_COMMIT = "9469f09"  # the build the API pointed to in 2025; used only when the API is down


def _geoboundaries(level: int) -> Source:
    name = f"geoBoundaries-MLI-ADM{level}.geojson"
    return Source(
        key=f"adm{level}",
        dataset=f"adm{level}",
        folder="boundaries",
        filename=name,
        publisher="geoBoundaries (William & Mary geoLab)",
        licence=_GB_LICENCE,
        url=f"https://www.geoboundaries.org/api/current/gbOpen/MLI/ADM{level}/",
        download_name=name,
        resolve=resolve_geoboundaries,
        fallback_url=(
            f"https://github.com/wmgeolab/geoBoundaries/raw/{_GB_COMMIT}/releaseData/gbOpen/MLI/"
            f"ADM{level}/{name}"
        ),
    )


CATALOGUE: tuple[Source, ...] = (
    *(_geoboundaries(level) for level in range(4)),
    Source(
        key="settlements",
        dataset="settlements",
        folder="settlements",
        filename="mli_populated_places_hdx.geojson",
        publisher="UN OCHA / DNCT Mali via HDX (dataset mali-settlements)",
        licence="as stated on HDX (OCHA COD terms)",
        url="https://data.humdata.org/api/3/action/package_show?id=mali-settlements",
        resolve=resolve_hdx,
        on_failure=(
            "download the Mali populated places from data.humdata.org by hand and run "
            "`orienter data fetch --from DIR`"
        ),
    ),
    Source(
        key="population_raster",
        dataset="population_raster",
        folder="population",
        filename="mli_ppp_2020_1km_Aggregated.tif",
        publisher="WorldPop (University of Southampton)",
        licence="CC BY 4.0",
        url="https://data.worldpop.org/GIS/Population/Global_2000_2020_1km/2020/MLI/"
        "mli_ppp_2020_1km_Aggregated.tif",
        stable=True,
    ),
    Source(
        key="roads_osm",
        dataset="roads_osm",
        folder="roads",
        filename="mali-latest.osm.pbf",
        publisher="Geofabrik (OpenStreetMap extract)",
        licence="ODbL 1.0, © OpenStreetMap contributors",
        url="https://download.geofabrik.de/africa/mali-latest.osm.pbf",
        checksum_url="https://download.geofabrik.de/africa/mali-latest.osm.pbf.md5",
        alternatives=("roads_segments", "roads_intercity"),
    ),
    Source(
        key="facilities_who",
        dataset="facilities_who",
        folder="facilities",
        filename="who_kemri_mali_health_facilities.csv",
        publisher="WHO Global Malaria Programme (Maina et al. 2019, Sci Data 6:134)",
        licence="article CC BY 4.0; cite Maina et al. 2019 and WHO (spreadsheet terms unchecked)",
        url="https://www.who.int/malaria/areas/surveillance/who-cds-gmp-2019-01-eng.xlsx",
        download_name="who-cds-gmp-2019-01-eng.xlsx",
        stable=True,
        unpack=unpack_who_mali,
        on_failure=(
            "WHO has reorganised its site since 2019; if this address no longer works, get "
            "who-cds-gmp-2019-01-eng.xlsx (or a Mali CSV of it) by hand and run "
            "`orienter data fetch --from DIR`"
        ),
    ),
    Source(
        key="facilities_healthsites",
        dataset="facilities_healthsites",
        folder="facilities",
        filename="healthsites_mali.geojson",
        publisher="healthsites.io (Global Healthsites Mapping Project, from OSM)",
        licence="ODbL 1.0, © OpenStreetMap contributors, healthsites.io",
        manual=(
            "The healthsites.io API (https://healthsites.io/api/v3/facilities/?country=Mali) needs "
            "a personal API key, so Orienter does not download it. Export Mali from healthsites.io "
            "(or the HDX dataset 'mali-healthsites') as GeoJSON and save it as "
            "facilities/healthsites_mali.geojson."
        ),
    ),
    Source(
        key="conflict",
        dataset="conflict",
        folder="conflict",
        filename=f"ucdp_ged_{UCDP_GED_VERSION}_mali.csv",
        publisher="UCDP, Uppsala University (Georeferenced Event Dataset)",
        licence="CC BY 4.0",
        url=f"https://ucdp.uu.se/downloads/ged/ged{UCDP_GED_VERSION}-csv.zip",
        download_name=f"ged{UCDP_GED_VERSION}-csv.zip",
        stable=True,
        unpack=unpack_ucdp_mali,
    ),
    Source(
        key="acled",
        dataset="conflict",
        folder="conflict",
        filename="acled_mali.csv",
        publisher="ACLED (acleddata.com)",
        licence="ACLED terms of use: no redistribution of the event data",
        present_patterns=("*acled*.csv", "*ACLED*.csv"),
        manual=(
            "ACLED's terms forbid redistribution, so Orienter never downloads it. With your own "
            "ACLED account, export the Mali events as CSV and save the file in conflict/ with "
            "'acled' in its name (for example conflict/acled_mali_2025.csv)."
        ),
    ),
)


# --------------------------------------------------------------------------- manifest


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class Manifest:
    """``<data_dir>/.fetch-manifest.json``: what Orienter fetched, keyed by relative path."""

    path: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: bool = False

    @classmethod
    def load(cls, data_dir: Path) -> Manifest:
        """Read the manifest of ``data_dir`` (empty when there is none)."""
        path = data_dir / MANIFEST_NAME
        if not path.is_file():
            return cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            files = raw["files"]
            if not isinstance(files, dict):
                raise TypeError("'files' is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            raise FetchError(
                f"{path} is not a valid fetch manifest ({exc}); move it away and run again"
            ) from exc
        return cls(path, files)

    def records_for(self, key: str) -> dict[str, dict[str, Any]]:
        """Final (not raw-artefact) files recorded for catalogue key ``key``."""
        return {
            rel: rec
            for rel, rec in self.files.items()
            if rec.get("key") == key and not rec.get("artefact")
        }

    def record(self, rel: str, **fields: Any) -> None:
        """Add or replace the record of ``rel`` (relative to the data directory)."""
        self.files[rel] = {**fields, "date": _now()}
        self.changed = True

    def save(self) -> None:
        """Write the manifest atomically, only if something changed."""
        if not self.changed:
            return
        text = json.dumps({"version": 1, "files": self.files}, indent=2, sort_keys=True)
        _write_atomic(self.path, lambda fh: fh.write(text.encode("utf-8") + b"\n"))
        self.changed = False


def _digests(path: Path) -> tuple[str, str, int]:
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), md5.hexdigest(), size


def _matches(path: Path, record: dict[str, Any]) -> bool:
    return path.is_file() and _digests(path)[0] == record.get("sha256")


# --------------------------------------------------------------------------- engine


@dataclass(frozen=True)
class FetchOptions:
    """Network settings of a fetch.

    Parameters
    ----------
    timeout_s : float
        Connect and read timeout, seconds (a read timeout is per chunk, not per file).
    retries : int
        Extra attempts after a dropped connection, timeout or HTTP 5xx/429 (resuming).
    backoff_s : float
        Wait before retry ``n`` is ``n * backoff_s`` seconds.
    chunk_bytes : int
        Copy chunk size for ``--from``, bytes (downloads are written as they arrive).
    """

    timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 2.0
    chunk_bytes: int = 1 << 16


class TransferProgress(Protocol):
    """What the engine reports while bytes move (the CLI draws Rich bars from it)."""

    def start(self, label: str, total_bytes: int | None, done_bytes: int) -> None:
        """A transfer begins (``done_bytes`` > 0 when it resumes)."""

    def advance(self, n_bytes: int) -> None:
        """``n_bytes`` more were written."""

    def stop(self) -> None:
        """The transfer ended (finished or not)."""


class _NoProgress:
    def start(self, label: str, total_bytes: int | None, done_bytes: int) -> None:
        pass

    def advance(self, n_bytes: int) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass(frozen=True)
class Expected:
    """A checksum a file must have: ``kind`` is ``md5`` or ``sha256``."""

    kind: str
    value: str
    origin: str


@dataclass(frozen=True)
class Transfer:
    """A file that arrived complete and verified."""

    path: Path
    sha256: str
    md5: str
    n_bytes: int
    resumed: bool = False
    restarted: bool = False
    verified_by: str | None = None


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _part_meta(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part.json")


def _discard_part(dest: Path) -> None:
    _part(dest).unlink(missing_ok=True)
    _part_meta(dest).unlink(missing_ok=True)


def _resume_state(dest: Path, url: str) -> tuple[int, str | None]:
    """Bytes already in ``<dest>.part`` for ``url``, and the validator to send in If-Range."""
    part, meta = _part(dest), _part_meta(dest)
    if not part.is_file():
        meta.unlink(missing_ok=True)
        return 0, None
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    if info.get("url") != url:  # a part from another URL (or of unknown origin): start over
        _discard_part(dest)
        return 0, None
    return part.stat().st_size, info.get("validator")


def _content_range_start(value: str | None) -> int | None:
    match = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", value or "")
    return int(match.group(1)) if match else None


def _content_range_total(value: str | None) -> int | None:
    match = re.match(r"bytes\s+\*/(\d+)", value or "")
    return int(match.group(1)) if match else None


def _transfer_once(
    client: httpx.Client,
    url: str,
    dest: Path,
    *,
    options: FetchOptions,
    progress: TransferProgress,
    label: str,
) -> str:
    """One GET into ``<dest>.part``; returns ``fresh``, ``resumed`` or ``restarted``."""
    offset, validator = _resume_state(dest, url)
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if validator:
            headers["If-Range"] = validator
    with client.stream("GET", url, headers=headers) as response:
        code = response.status_code
        if code == 416 and offset:
            if _content_range_total(response.headers.get("Content-Range")) == offset:
                return "resumed"  # the part was already complete (stopped before the rename)
            _discard_part(dest)
            raise _Incomplete("the server refused to resume; starting over")
        if code in _RETRYABLE_STATUS:
            raise _Incomplete(f"HTTP {code} {response.reason_phrase}")
        if code >= 400:
            raise FetchError(f"HTTP {code} {response.reason_phrase} for {url}")
        if code == 206 and offset:
            if _content_range_start(response.headers.get("Content-Range")) != offset:
                _discard_part(dest)
                raise _Incomplete("the server answered another byte range; starting over")
            mode, kind = "ab", "resumed"
        elif code == 200:
            mode, kind = "wb", ("restarted" if offset else "fresh")
            offset = 0
            etag = response.headers.get("ETag") or ""
            strong = etag if etag and not etag.startswith("W/") else None
            new_validator = strong or response.headers.get("Last-Modified")
            _part_meta(dest).write_text(
                json.dumps({"url": url, "validator": new_validator}), encoding="utf-8"
            )
        else:
            raise FetchError(f"unexpected HTTP {code} {response.reason_phrase} for {url}")
        length = response.headers.get("Content-Length")
        encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
        total = offset + int(length) if length and length.isdigit() and not encoded else None
        progress.start(label, total, offset)
        try:
            with _part(dest).open(mode) as fh:
                for chunk in response.iter_bytes():  # as received: nothing held back
                    fh.write(chunk)
                    progress.advance(len(chunk))
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            progress.stop()
    size = _part(dest).stat().st_size
    if total is not None and size != total:
        raise _Incomplete(f"connection ended after {size:,} of {total:,} bytes")
    return kind


def _verify_and_place(
    dest: Path, expected: Expected | None, *, source_desc: str
) -> tuple[str, str, int]:
    """Check ``<dest>.part`` against ``expected``, then rename it to ``dest`` atomically."""
    part = _part(dest)
    sha, md5, size = _digests(part)
    if expected is not None:
        got = md5 if expected.kind == "md5" else sha
        if got.lower() != expected.value.lower():
            _discard_part(dest)
            kept = f"the existing {dest.name} was left as it was"
            if not dest.exists():
                kept = f"nothing was written under {dest.name}"
            raise ChecksumError(
                f"checksum mismatch for {source_desc}: {expected.origin} says {expected.kind} "
                f"{expected.value}, the file has {got}. The partial file was deleted and {kept}. "
                "If the publisher is updating the file, run again later, else check the source."
            )
    os.replace(part, dest)
    _part_meta(dest).unlink(missing_ok=True)
    return sha, md5, size


def download_file(
    client: httpx.Client,
    url: str,
    dest: Path,
    *,
    expected: Expected | None = None,
    options: FetchOptions | None = None,
    progress: TransferProgress | None = None,
    label: str | None = None,
) -> Transfer:
    """Download ``url`` to ``dest``: resumable, retried, verified, renamed atomically.

    Bytes go to ``<dest>.part`` (with ``<dest>.part.json`` holding the URL and the ETag or
    Last-Modified sent back in ``If-Range``). A later call resumes with ``Range``; a server
    that ignores it (HTTP 200) restarts the file from byte 0. ``dest`` is only replaced once
    the file is complete and matches ``expected``.

    Raises
    ------
    ChecksumError
        The complete file does not match ``expected`` (the ``.part`` is deleted).
    FetchError
        HTTP error, or still incomplete after ``options.retries`` retries (the ``.part`` is
        kept so the next run resumes).
    """
    options = options or FetchOptions()
    progress = progress or _NoProgress()
    label = label or dest.name
    resumed = restarted = False
    last: Exception | None = None
    for attempt in range(options.retries + 1):
        if attempt:
            time.sleep(options.backoff_s * attempt)
        try:
            kind = _transfer_once(
                client, url, dest, options=options, progress=progress, label=label
            )
        except (_Incomplete, httpx.TransportError) as exc:
            last = exc
            resumed = resumed or _part(dest).is_file()
            continue
        except httpx.HTTPError as exc:  # too many redirects, undecodable body …
            raise FetchError(f"{url}: {exc}") from exc
        resumed = resumed or kind == "resumed"
        restarted = restarted or kind == "restarted"
        break
    else:
        kept = _part(dest)
        size = kept.stat().st_size if kept.is_file() else 0
        note = (
            f"; {size:,} bytes are kept in {kept.name} and the next run resumes from there"
            if size
            else ""
        )
        raise FetchError(f"gave up after {options.retries + 1} attempt(s): {last}{note}")
    sha, md5, size = _verify_and_place(dest, expected, source_desc=url)
    origin = expected.origin if expected is not None else None
    return Transfer(dest, sha, md5, size, resumed and not restarted, restarted, origin)


def copy_file(
    src: Path,
    dest: Path,
    *,
    expected: Expected | None = None,
    options: FetchOptions | None = None,
    progress: TransferProgress | None = None,
) -> Transfer:
    """Copy a mirror file to ``dest`` through ``<dest>.part``, verified, renamed atomically."""
    options = options or FetchOptions()
    progress = progress or _NoProgress()
    _discard_part(dest)
    progress.start(dest.name, src.stat().st_size, 0)
    try:
        with src.open("rb") as fin, _part(dest).open("wb") as fout:
            while chunk := fin.read(options.chunk_bytes):
                fout.write(chunk)
                progress.advance(len(chunk))
            fout.flush()
            os.fsync(fout.fileno())
    except OSError:
        _discard_part(dest)
        raise
    finally:
        progress.stop()
    sha, md5, size = _verify_and_place(dest, expected, source_desc=str(src))
    origin = expected.origin if expected is not None else None
    return Transfer(dest, sha, md5, size, verified_by=origin)


# --------------------------------------------------------------------------- orchestration


class Status(Enum):
    """What happened to one source; the value is what the CLI shows."""

    DOWNLOADED = "downloaded"
    RESUMED = "resumed and completed"
    COPIED = "copied from the mirror"
    VERIFIED = "already present and verified"
    PRESENT = "present (not fetched by Orienter, not verified)"
    ALTERNATIVE = "not fetched: a coarser layer is present"
    MANUAL = "not fetched by Orienter"
    NOT_IN_MIRROR = "not in the mirror"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    """The result for one source: ``status``, a one-line ``message`` and the file(s)."""

    key: str
    status: Status
    message: str
    paths: tuple[Path, ...] = ()

    @property
    def failed(self) -> bool:
        """True when a transfer was attempted and did not succeed."""
        return self.status is Status.FAILED


def _rewriter(mirror_url: str | None) -> Callable[[str], str]:
    if not mirror_url:
        return lambda url: url
    base = mirror_url.rstrip("/")

    def rewrite(url: str) -> str:
        parts = urlsplit(url)
        if base.startswith(f"{parts.scheme}://{parts.netloc}"):
            return url  # already on the mirror
        query = f"?{parts.query}" if parts.query else ""
        return f"{base}/{parts.netloc}{parts.path}{query}"

    return rewrite


def _glob_first(directory: Path, patterns: Iterable[str]) -> Path | None:
    if not directory.is_dir():
        return None
    for pattern in patterns:
        for path in sorted(directory.glob(pattern)):
            if path.is_file():
                return path
    return None


def _present(settings: Settings, source: Source) -> Path | None:
    if source.present_patterns:
        return _glob_first(settings.data_dir / source.folder, source.present_patterns)
    return find_dataset(settings, source.dataset)


def _check_present(
    settings: Settings, source: Source, manifest: Manifest, *, default_run: bool
) -> Outcome | str | None:
    """An Outcome when nothing needs fetching; a note (str) or None when fetching is due."""
    records = manifest.records_for(source.key)
    data_dir = settings.data_dir
    if records:
        paths = [data_dir / rel for rel in records]
        bad = [rel for rel, rec in records.items() if not _matches(data_dir / rel, rec)]
        if not bad:
            return Outcome(source.key, Status.VERIFIED, _rel_list(paths), tuple(paths))
        missing = [rel for rel in bad if not (data_dir / rel).exists()]
        if len(missing) < len(bad):
            return f"{', '.join(bad)} changed since Orienter fetched it; fetching again"
        # recorded files are gone: fall through (a user file may now stand in for them)
    target = data_dir / source.folder / source.filename
    found = target if target.is_file() else _present(settings, source)
    if found is not None:
        return Outcome(source.key, Status.PRESENT, str(found), (found,))
    if default_run:
        for alt in source.alternatives:
            alt_path = find_dataset(settings, alt)
            if alt_path is not None:
                message = (
                    f"{alt_path} is there; to get the {DATASETS[source.dataset].description}, "
                    f"run `orienter data fetch --only {source.key}`"
                )
                return Outcome(source.key, Status.ALTERNATIVE, message, (alt_path,))
    if source.manual:
        return Outcome(source.key, Status.MANUAL, source.manual)
    return None


def _rel_list(paths: Sequence[Path]) -> str:
    return ", ".join(str(p) for p in paths)


def _rel(data_dir: Path, path: Path) -> str:
    return path.relative_to(data_dir).as_posix()


def _read_md5(client: httpx.Client, url: str) -> Expected:
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot read the publisher's checksum file {url}: {exc}") from exc
    if response.status_code != 200:
        raise FetchError(
            f"cannot read the publisher's checksum file {url} (HTTP {response.status_code}); "
            "not downloading a file that cannot be verified"
        )
    match = _MD5.search(response.text)
    if match is None:
        raise FetchError(f"no MD5 digest in the publisher's checksum file {url}")
    return Expected("md5", match.group(1).lower(), f"the publisher's checksum file {url}")


class _Run:
    """State shared by the sources of one fetch run."""

    def __init__(
        self,
        settings: Settings,
        *,
        manifest: Manifest,
        options: FetchOptions,
        progress: TransferProgress,
        rewrite: Callable[[str], str],
        client: httpx.Client | None,
    ) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self.manifest = manifest
        self.options = options
        self.progress = progress
        self.rewrite = rewrite
        self._client = client
        self._own_client = client is None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            timeout = httpx.Timeout(self.options.timeout_s)
            self._client = httpx.Client(
                timeout=timeout, follow_redirects=True, headers={"User-Agent": USER_AGENT}
            )
        return self._client

    def close(self) -> None:
        if self._own_client and self._client is not None:
            self._client.close()

    def record(
        self, source: Source, transfer: Transfer, *, url: str, licence: str, **extra: Any
    ) -> None:
        self.manifest.record(
            _rel(self.data_dir, transfer.path),
            key=source.key,
            url=url,
            sha256=transfer.sha256,
            bytes=transfer.n_bytes,
            licence=licence,
            publisher=source.publisher,
            verified_by=transfer.verified_by or "sha256 recorded at download",
            **extra,
        )

    def unpack(self, source: Source, resolved: Resolved, artefact: Path) -> list[Path]:
        if resolved.unpack is None:
            return [artefact]
        try:
            outputs = resolved.unpack(artefact, artefact.parent)
        except (ValueError, LookupError, EOFError, csv.Error, zipfile.BadZipFile) as exc:
            raise FetchError(f"cannot unpack {artefact.name}: {exc}") from exc
        for out in outputs:
            sha, _, size = _digests(out)
            self.manifest.record(
                _rel(self.data_dir, out),
                key=source.key,
                url=resolved.url,
                sha256=sha,
                bytes=size,
                licence=resolved.licence,
                publisher=source.publisher,
                derived_from=_rel(self.data_dir, artefact),
            )
        return outputs

    def reusable_artefact(self, dest: Path, url: str) -> bool:
        rec = self.manifest.files.get(_rel(self.data_dir, dest))
        return bool(rec and rec.get("url") == url and _matches(dest, rec))

    def fetch_network(self, source: Source, note: str | None) -> Outcome:
        notes = [note] if note else []
        if source.resolve is not None:
            try:
                resolved = source.resolve(self.client, self.rewrite(source.url or ""), source)
            except FetchError as exc:
                if not source.fallback_url:
                    raise
                resolved = source.static()
                notes.append(f"API unavailable ({exc}); used the static release URL")
        else:
            resolved = source.static()
        url = self.rewrite(resolved.url)
        folder = self.data_dir / source.folder
        dest = folder / (resolved.download_name if resolved.unpack else resolved.filename)
        expected: Expected | None = None
        if source.checksum_url:
            expected = _read_md5(self.client, self.rewrite(source.checksum_url))
        elif source.stable:
            rec = self.manifest.files.get(_rel(self.data_dir, dest))
            if rec and rec.get("url") == resolved.url and rec.get("sha256"):
                expected = Expected("sha256", rec["sha256"], f"the manifest ({rec['date']})")
        if resolved.unpack and self.reusable_artefact(dest, resolved.url):
            outputs = self.unpack(source, resolved, dest)
            notes.append(f"re-extracted from {dest.name} (verified)")
            return Outcome(source.key, Status.VERIFIED, _msg(outputs, notes), tuple(outputs))
        folder.mkdir(parents=True, exist_ok=True)
        transfer = download_file(
            self.client,
            url,
            dest,
            expected=expected,
            options=self.options,
            progress=self.progress,
            label=f"{source.key}: {dest.name}",
        )
        self.record(
            source,
            transfer,
            url=resolved.url,
            licence=resolved.licence,
            artefact=bool(resolved.unpack),
        )
        outputs = self.unpack(source, resolved, dest) if resolved.unpack else [dest]
        if transfer.restarted:
            notes.append("the server ignored the resume request; downloaded again from the start")
        notes.append(_verification(transfer))
        status = Status.RESUMED if transfer.resumed else Status.DOWNLOADED
        return Outcome(source.key, status, _msg(outputs, notes, transfer), tuple(outputs))

    def fetch_mirror(self, source: Source, mirror: Path, note: str | None) -> Outcome:
        notes = [note] if note else []
        found = _find_in_mirror(mirror, source)
        if not found:
            names = ", ".join(sorted({source.filename, source.download_name or source.filename}))
            return Outcome(
                source.key,
                Status.NOT_IN_MIRROR,
                f"looked for {names} in {mirror} and {mirror / source.folder}, and for files "
                f"matching the {source.dataset} patterns",
            )
        mirror_manifest = Manifest.load(mirror) if (mirror / MANIFEST_NAME).is_file() else None
        folder = self.data_dir / source.folder
        folder.mkdir(parents=True, exist_ok=True)
        outputs: list[Path] = []
        transfers: list[Transfer] = []
        static = source.static() if source.url else None
        for src, is_artefact in found:
            dest = folder / src.name
            expected = _mirror_expected(mirror, src, mirror_manifest)
            transfer = copy_file(
                src, dest, expected=expected, options=self.options, progress=self.progress
            )
            transfers.append(transfer)
            self.record(
                source,
                transfer,
                url=source.url or "",
                licence=source.licence,
                copied_from=str(src),
                artefact=is_artefact,
            )
            if is_artefact and static is not None and static.unpack is not None:
                outputs.extend(self.unpack(source, static, dest))
            else:
                outputs.append(dest)
        notes.append(_verification(transfers[0]))
        return Outcome(source.key, Status.COPIED, _msg(outputs, notes, *transfers), tuple(outputs))


def _verification(transfer: Transfer) -> str:
    if transfer.verified_by:
        return f"verified against {transfer.verified_by}"
    return "no published checksum: sha256 recorded in the manifest"


def _msg(outputs: Sequence[Path], notes: Sequence[str], *transfers: Transfer) -> str:
    size = sum(t.n_bytes for t in transfers)
    head = _rel_list(outputs) + (f" ({size:,} bytes transferred)" if transfers else "")
    return "; ".join([head, *[n for n in notes if n]])


def _mirror_expected(mirror: Path, src: Path, manifest: Manifest | None) -> Expected | None:
    md5_file = src.with_name(src.name + ".md5")
    if md5_file.is_file():
        match = _MD5.search(md5_file.read_text(encoding="utf-8", errors="replace"))
        if match:
            return Expected("md5", match.group(1).lower(), f"the mirror's {md5_file.name}")
    if manifest is not None:
        try:
            rec = manifest.files.get(src.relative_to(mirror).as_posix())
        except ValueError:
            rec = None
        if rec and rec.get("sha256"):
            return Expected("sha256", rec["sha256"], f"the mirror's {MANIFEST_NAME}")
    return None


def _find_in_mirror(mirror: Path, source: Source) -> list[tuple[Path, bool]]:
    """Files of ``source`` in a mirror, each with True when it is the raw artefact."""
    folder = mirror / source.folder
    names = [source.filename]
    if source.download_name and source.download_name != source.filename:
        names.append(source.download_name)
    for name in names:
        for directory in (folder, mirror):
            path = directory / name
            if path.is_file():
                return [(path, bool(source.unpack) and name == source.download_name)]
    if (mirror / MANIFEST_NAME).is_file():
        recs = Manifest.load(mirror).records_for(source.key)
        paths = [mirror / rel for rel in recs]
        if paths and all(p.is_file() for p in paths):
            return [(p, False) for p in paths]
    patterns = source.present_patterns or DATASETS[source.dataset].patterns
    match = _glob_first(folder, patterns)
    if match is None:
        return []
    if match.suffix.lower() == ".shp":  # a shapefile travels with its sidecar files
        siblings = sorted(p for p in folder.glob(f"{match.stem}.*") if p.is_file())
        return [(p, False) for p in siblings]
    return [(match, False)]


def select_sources(
    keys: Sequence[str] | None, catalogue: Sequence[Source] = CATALOGUE
) -> list[Source]:
    """The sources of a run: ``keys`` in catalogue order, or every default source.

    Raises
    ------
    ValueError
        A key is not in the catalogue (the message lists the known keys).
    """
    if not keys:
        return [s for s in catalogue if s.default]
    known = [s.key for s in catalogue]
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValueError(f"unknown dataset key(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [s for s in catalogue if s.key in keys]


def fetch_sources(
    settings: Settings,
    *,
    keys: Sequence[str] | None = None,
    force: bool = False,
    mirror_dir: Path | None = None,
    mirror_url: str | None = None,
    catalogue: Sequence[Source] = CATALOGUE,
    options: FetchOptions | None = None,
    progress: TransferProgress | None = None,
    client: httpx.Client | None = None,
) -> Iterator[Outcome]:
    """Fetch the selected sources into ``settings.data_dir``, yielding one Outcome each.

    Parameters
    ----------
    settings : Settings
        Gives ``data_dir`` (and ``boundaries_dir``, looked at by ``find_dataset``).
    keys : sequence of str, optional
        Catalogue keys (``--only``); default: every default source.
    force : bool
        Fetch even when the dataset is present.
    mirror_dir : Path, optional
        Copy from this local directory instead of the network (``--from``).
    mirror_url : str, optional
        Fetch ``https://host/path`` from ``<mirror_url>/host/path`` instead (an HTTP mirror
        of the publishers; the tests point it at a local server).
    catalogue, options, progress, client
        Overrides (tests, or another catalogue).

    Notes
    -----
    Nothing is written when nothing needs fetching (a read-only, complete data directory
    is fine). The manifest is saved after every file that arrives.
    """
    sources = select_sources(keys, catalogue)
    manifest = Manifest.load(settings.data_dir)
    run = _Run(
        settings,
        manifest=manifest,
        options=options or FetchOptions(),
        progress=progress or _NoProgress(),
        rewrite=_rewriter(mirror_url),
        client=client,
    )
    try:
        for source in sources:
            note: str | None = None
            if not force or source.manual:
                state = _check_present(settings, source, manifest, default_run=not keys)
                if isinstance(state, Outcome):
                    yield state
                    continue
                note = state
            if source.manual:
                yield Outcome(source.key, Status.MANUAL, source.manual)
                continue
            try:
                if mirror_dir is not None:
                    outcome = run.fetch_mirror(source, mirror_dir, note)
                else:
                    outcome = run.fetch_network(source, note)
            except FetchError as exc:
                hint = f" ({source.on_failure})" if source.on_failure else ""
                outcome = Outcome(source.key, Status.FAILED, f"{exc}{hint}")
            except OSError as exc:  # read-only data directory, full disk, unreadable mirror
                outcome = Outcome(source.key, Status.FAILED, f"file system error: {exc}")
            finally:
                try:
                    manifest.save()
                except OSError as exc:
                    reason = f"cannot write the manifest {manifest.path}: {exc}"
                    outcome = Outcome(source.key, Status.FAILED, reason)
            yield outcome
    finally:
        run.close()


def missing_required(
    settings: Settings, keys: Sequence[str] | None = None, catalogue: Sequence[Source] = CATALOGUE
) -> list[str]:
    """Required dataset keys (of the selected sources) that ``find_dataset`` cannot find."""
    datasets = {s.dataset for s in select_sources(keys, catalogue)} if keys else set(DATASETS)
    return [
        key
        for key, ds in DATASETS.items()
        if key in datasets and ds.required and find_dataset(settings, key) is None
    ]
