"""One fetch run: every selected source checked, fetched or copied, and the manifest saved."""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from api.build.fetch.catalogue import CATALOGUE, select_sources
from api.build.fetch.files import FetchError, digests
from api.build.fetch.locate import (
    check_present,
    find_in_mirror,
    mirror_expected,
    read_md5,
    rel,
    rel_list,
    rewriter,
)
from api.build.fetch.manifest import MANIFEST_NAME, Manifest, matches
from api.build.fetch.outcome import Outcome, Status
from api.build.fetch.sources import Resolved, Source
from api.build.fetch.transfer import (
    Expected,
    FetchOptions,
    NoProgress,
    Transfer,
    TransferProgress,
    copy_file,
    download_file,
)
from api.datasets import DATASETS, find_dataset
from api.settings import Settings

__all__ = ["USER_AGENT", "fetch_sources", "missing_required"]

USER_AGENT = "orienter-data-fetch/0.1 (GBV/SEA service mapping for Mali)"


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
            rel(self.data_dir, transfer.path),
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
            sha, _, size = digests(out)
            self.manifest.record(
                rel(self.data_dir, out),
                key=source.key,
                url=resolved.url,
                sha256=sha,
                bytes=size,
                licence=resolved.licence,
                publisher=source.publisher,
                derived_from=rel(self.data_dir, artefact),
            )
        return outputs

    def reusable_artefact(self, dest: Path, url: str) -> bool:
        rec = self.manifest.files.get(rel(self.data_dir, dest))
        return bool(rec and rec.get("url") == url and matches(dest, rec))

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
        expected: Expected | None = source.pin()
        if expected is None and source.checksum_url:
            expected = read_md5(self.client, self.rewrite(source.checksum_url))
        elif expected is None and source.stable:
            rec = self.manifest.files.get(rel(self.data_dir, dest))
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
        notes.append(_verification(transfer, source))
        status = Status.RESUMED if transfer.resumed else Status.DOWNLOADED
        return Outcome(source.key, status, _msg(outputs, notes, transfer), tuple(outputs))

    def fetch_mirror(self, source: Source, mirror: Path, note: str | None) -> Outcome:
        notes = [note] if note else []
        found = find_in_mirror(mirror, source)
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
            expected = mirror_expected(mirror, src, mirror_manifest)
            if source.sha256 is not None and src.name == source.publisher_file:
                expected = source.pin()
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
        notes.append(_verification(transfers[0], source))
        return Outcome(source.key, Status.COPIED, _msg(outputs, notes, *transfers), tuple(outputs))


def _verification(transfer: Transfer, source: Source) -> str:
    if transfer.verified_by:
        return f"verified against {transfer.verified_by}"
    if source.stable:
        return (
            f"first copy of a versioned file with no pinned SHA-256: its SHA-256 "
            f"{transfer.sha256} is recorded in the manifest and later downloads must match it"
        )
    return "no published checksum: sha256 recorded in the manifest"


def _msg(outputs: Sequence[Path], notes: Sequence[str], *transfers: Transfer) -> str:
    size = sum(t.n_bytes for t in transfers)
    head = rel_list(outputs) + (f" ({size:,} bytes transferred)" if transfers else "")
    return "; ".join([head, *[n for n in notes if n]])


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
        progress=progress or NoProgress(),
        rewrite=rewriter(mirror_url),
        client=client,
    )
    try:
        for source in sources:
            note: str | None = None
            if not force or source.manual:
                state = check_present(settings, source, manifest, default_run=not keys)
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
