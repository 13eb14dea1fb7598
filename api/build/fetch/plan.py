"""What ``orienter data fetch`` would do, touching nothing (``--list`` and ``--dry-run``).

Both read the data directory, its manifest and a ``--from`` mirror, and never write a file
nor open a network connection: :func:`list_catalogue` describes every source (publisher,
URL, licence, size when known, how it is verified, whether it is present);
:func:`plan_fetch` says, source by source, what a run with the same options would do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from api.build.fetch.catalogue import CATALOGUE, select_sources
from api.build.fetch.locate import (
    check_present,
    find_in_mirror,
    mirror_expected,
    present_file,
    rel,
    rewriter,
)
from api.build.fetch.manifest import MANIFEST_NAME, Manifest, matches
from api.build.fetch.outcome import Outcome, Status
from api.build.fetch.sources import Source
from api.build.fetch.transfer import part_path
from api.settings import Settings

__all__ = ["Action", "CatalogueEntry", "PlannedStep", "list_catalogue", "plan_fetch"]


@dataclass(frozen=True)
class CatalogueEntry:
    """One source as ``--list`` shows it.

    ``size_bytes`` is the size of the publisher's file, known once it is on disk or
    recorded in the manifest; ``present`` is the file that stands for the dataset now
    (maybe another one, e.g. a user's file), if any.
    """

    key: str
    dataset: str
    publisher: str
    url: str | None
    licence: str
    size_bytes: int | None
    present: Path | None
    verification: str
    default: bool
    manual: str | None


class Action(Enum):
    """What a run would do with one source."""

    SKIP = "would skip"
    DOWNLOAD = "would download"
    COPY = "would copy"
    MANUAL = "would not fetch (not fetched by Orienter)"
    NOT_IN_MIRROR = "would fail: not in the mirror"


@dataclass(frozen=True)
class PlannedStep:
    """One line of ``--dry-run``: the source, the action and what it would involve."""

    key: str
    action: Action
    message: str


def verification_text(source: Source) -> str:
    """How a download of ``source`` is checked, in words."""
    if source.sha256 is not None:
        return f"SHA-256 pinned in Orienter ({source.sha256})"
    if source.checksum_url:
        return f"the publisher's MD5 file ({source.checksum_url})"
    if source.stable and source.sha256_unknown:
        return f"versioned file; SHA-256 {source.sha256_unknown}"
    if source.resolve is not None:
        return "latest release named by the publisher's API; SHA-256 recorded in the manifest"
    if source.url is None:
        return "not downloaded by Orienter"
    return "no published checksum; SHA-256 recorded in the manifest"


def _present(settings: Settings, source: Source, manifest: Manifest) -> Path | None:
    for rel_path in manifest.records_for(source.key):
        if (settings.data_dir / rel_path).is_file():
            return settings.data_dir / rel_path
    target = settings.data_dir / source.folder / source.filename
    return target if target.is_file() else present_file(settings, source)


def _size(settings: Settings, source: Source, manifest: Manifest) -> int | None:
    """Bytes of the publisher's file, when the manifest recorded it or it is on disk."""
    publisher_rel = f"{source.folder}/{source.publisher_file}"
    record = manifest.files.get(publisher_rel)
    if record and isinstance(record.get("bytes"), int):
        return int(record["bytes"])
    publisher_path = settings.data_dir / publisher_rel
    return publisher_path.stat().st_size if publisher_path.is_file() else None


def list_catalogue(
    settings: Settings,
    *,
    keys: Sequence[str] | None = None,
    catalogue: Sequence[Source] = CATALOGUE,
) -> list[CatalogueEntry]:
    """Every source of the catalogue (or those of ``keys``), described; nothing is touched.

    Raises
    ------
    ValueError
        A key is not in the catalogue.
    FetchError
        The data directory's manifest is unreadable.
    """
    sources = select_sources(keys, catalogue) if keys else list(catalogue)
    manifest = Manifest.load(settings.data_dir)
    entries = []
    for source in sources:
        found = _present(settings, source, manifest)
        entries.append(
            CatalogueEntry(
                key=source.key,
                dataset=source.dataset,
                publisher=source.publisher,
                url=source.url,
                licence=source.licence,
                size_bytes=_size(settings, source, manifest),
                present=found,
                verification=verification_text(source),
                default=source.default,
                manual=source.manual,
            )
        )
    return entries


def _network_step(
    settings: Settings, source: Source, manifest: Manifest, rewrite: Callable[[str], str]
) -> PlannedStep:
    static = source.static()
    folder = settings.data_dir / source.folder
    dest = folder / (static.download_name if static.unpack else static.filename)
    record = manifest.files.get(rel(settings.data_dir, dest))
    if static.unpack and record and record.get("url") == static.url and matches(dest, record):
        message = f"re-extract {source.filename} from the verified {dest}; no download"
        return PlannedStep(source.key, Action.SKIP, message)
    if source.resolve is not None:
        parts = [
            f"ask {rewrite(source.url or '')} for the file's address (if unreachable: "
            f"{rewrite(static.url)}), then download it into {folder}"
        ]
    else:
        parts = [f"download {rewrite(static.url)} to {dest}"]
    part = part_path(dest)
    if part.is_file():
        parts.append(f"resume from the {part.stat().st_size:,} bytes already in {part.name}")
    if source.sha256 is not None:
        parts.append("verify it against the SHA-256 pinned in Orienter")
    elif source.checksum_url:
        parts.append(f"verify it against the MD5 in {rewrite(source.checksum_url)}")
    elif source.stable and record and record.get("url") == static.url and record.get("sha256"):
        parts.append(f"verify it against the SHA-256 the manifest recorded on {record['date']}")
    elif source.stable:
        parts.append("record its SHA-256 (first copy of a versioned file; no pinned digest)")
    else:
        parts.append("record its SHA-256 in the manifest")
    if static.unpack:
        parts.append(f"extract {source.filename}")
    return PlannedStep(source.key, Action.DOWNLOAD, "; ".join(parts))


def _mirror_step(settings: Settings, source: Source, mirror: Path) -> PlannedStep:
    found = find_in_mirror(mirror, source)
    if not found:
        names = ", ".join(sorted({source.filename, source.publisher_file}))
        message = f"looked for {names} in {mirror} and {mirror / source.folder}"
        return PlannedStep(source.key, Action.NOT_IN_MIRROR, message)
    mirror_manifest = Manifest.load(mirror) if (mirror / MANIFEST_NAME).is_file() else None
    parts = []
    for src, is_artefact in found:
        expected = mirror_expected(mirror, src, mirror_manifest)
        if source.sha256 is not None and src.name == source.publisher_file:
            expected = source.pin()
        check = f"verified against {expected.origin}" if expected else "SHA-256 recorded"
        dest = settings.data_dir / source.folder / src.name
        then = f", then extract {source.filename}" if is_artefact and source.unpack else ""
        parts.append(f"copy {src} to {dest} ({check}){then}")
    return PlannedStep(source.key, Action.COPY, "; ".join(parts))


def plan_fetch(
    settings: Settings,
    *,
    keys: Sequence[str] | None = None,
    force: bool = False,
    mirror_dir: Path | None = None,
    mirror_url: str | None = None,
    catalogue: Sequence[Source] = CATALOGUE,
) -> list[PlannedStep]:
    """What :func:`api.build.fetch.fetch_sources` would do with the same options.

    Nothing is written and no connection is opened, so whether a server answers, and what
    a publisher API names as the current file, are not checked.

    Raises
    ------
    ValueError
        A key is not in the catalogue.
    FetchError
        The data directory's manifest is unreadable.
    """
    sources = select_sources(keys, catalogue)
    manifest = Manifest.load(settings.data_dir)
    rewrite = rewriter(mirror_url)
    steps = []
    for source in sources:
        if not force or source.manual:
            state = check_present(settings, source, manifest, default_run=not keys)
            if isinstance(state, Outcome):
                if state.status is Status.MANUAL:
                    steps.append(PlannedStep(source.key, Action.MANUAL, state.message))
                else:
                    message = f"{state.status.value}: {state.message}"
                    steps.append(PlannedStep(source.key, Action.SKIP, message))
                continue
        if source.manual:
            steps.append(PlannedStep(source.key, Action.MANUAL, source.manual))
        elif mirror_dir is not None:
            steps.append(_mirror_step(settings, source, mirror_dir))
        else:
            steps.append(_network_step(settings, source, manifest, rewrite))
    return steps
