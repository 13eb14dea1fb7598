"""A catalogue entry for one remote file (:class:`Source`) and where it resolves to."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from api.build.fetch.files import FetchError
from api.build.fetch.transfer import Expected

__all__ = ["Resolved", "Resolver", "Source", "Unpacker"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


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
    sha256 : str or None
        SHA-256 (64 lowercase hex digits) of the publisher's file, pinned in code: every
        download and every mirror copy of that file (``download_name``, before unpacking)
        must match it, from the first one on.
    sha256_unknown : str or None
        For a versioned file without ``sha256``: why its hash could not be pinned.  The
        first download's SHA-256 is then recorded in the manifest and later downloads must
        match it (trust on first download).
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
    sha256: str | None = None
    sha256_unknown: str | None = None

    def __post_init__(self) -> None:
        if self.sha256 is not None and not _SHA256.fullmatch(self.sha256):
            raise ValueError(
                f"{self.key}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}"
            )

    @property
    def publisher_file(self) -> str:
        """The publisher's own file name (what ``sha256`` is the digest of)."""
        return self.download_name or self.filename

    def pin(self) -> Expected | None:
        """The pinned SHA-256 as an expected checksum, or None."""
        if self.sha256 is None:
            return None
        return Expected("sha256", self.sha256, "the SHA-256 pinned in Orienter's catalogue")

    def static(self) -> Resolved:
        """The source as it stands without asking an API."""
        if self.url is None:
            raise FetchError(f"{self.key}: not fetched by Orienter. {self.manual or ''}".strip())
        url = self.fallback_url if self.resolve is not None and self.fallback_url else self.url
        name = self.download_name or self.filename
        return Resolved(url, self.filename, name, self.licence, self.unpack)
