"""Publisher APIs asked at fetch time for a file's current address (geoBoundaries, HDX)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from api.build.fetch.files import FetchError
from api.build.fetch.sources import Resolved, Source
from api.build.fetch.unpack import unpack_shapefile_zip

__all__ = ["resolve_geoboundaries", "resolve_hdx"]


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
