"""Download the data directory from the original publishers (``orienter data fetch``).

Two halves:

- the catalogue (:data:`CATALOGUE`): one :class:`Source` per remote file, saying which
  publisher serves it, under which licence, how it is checked, and where it lands in the
  data directory so that :func:`api.datasets.find_dataset` finds it;
- the engine: streaming downloads with HTTP Range resume into ``<name>.part``, bounded
  retries, checksum verification, atomic rename into place, a manifest
  ``<data_dir>/.fetch-manifest.json`` (url, sha256, bytes, date, licence) that later runs
  verify against, and copies from a local mirror (``--from DIR``) with the same checks.

Modules: ``sources`` (what a catalogue entry says), ``catalogue`` (the entries),
``publishers`` (publisher APIs), ``unpack`` (Mali extracts of archives), ``manifest``,
``transfer`` (downloads and copies), ``locate`` (what is present, in a mirror, where),
``run`` (a fetch run) and ``plan`` (``--list`` and ``--dry-run``: what a run would do,
touching nothing).

Nothing here prints: :func:`fetch_sources` yields one :class:`Outcome` per source and the
CLI (``api/cli/data.py``) shows them.
"""

from api.build.fetch.catalogue import CATALOGUE, select_sources
from api.build.fetch.files import ChecksumError, FetchError
from api.build.fetch.manifest import MANIFEST_NAME, Manifest
from api.build.fetch.outcome import Outcome, Status
from api.build.fetch.plan import Action, CatalogueEntry, PlannedStep, list_catalogue, plan_fetch
from api.build.fetch.publishers import resolve_geoboundaries, resolve_hdx
from api.build.fetch.run import USER_AGENT, fetch_sources, missing_required
from api.build.fetch.sources import Resolved, Source
from api.build.fetch.transfer import (
    Expected,
    FetchOptions,
    Transfer,
    TransferProgress,
    copy_file,
    download_file,
)
from api.build.fetch.unpack import (
    UCDP_GED_VERSION,
    unpack_shapefile_zip,
    unpack_ucdp_mali,
    unpack_who_mali,
)

__all__ = [
    "CATALOGUE",
    "MANIFEST_NAME",
    "UCDP_GED_VERSION",
    "USER_AGENT",
    "Action",
    "CatalogueEntry",
    "ChecksumError",
    "Expected",
    "FetchError",
    "FetchOptions",
    "Manifest",
    "Outcome",
    "PlannedStep",
    "Resolved",
    "Source",
    "Status",
    "Transfer",
    "TransferProgress",
    "copy_file",
    "download_file",
    "fetch_sources",
    "list_catalogue",
    "missing_required",
    "plan_fetch",
    "resolve_geoboundaries",
    "resolve_hdx",
    "select_sources",
    "unpack_shapefile_zip",
    "unpack_ucdp_mali",
    "unpack_who_mali",
]
