"""Moving bytes: resumable, retried downloads and mirror copies, verified, renamed atomically."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from api.build.fetch.files import ChecksumError, FetchError, digests

__all__ = [
    "Expected",
    "FetchOptions",
    "NoProgress",
    "Transfer",
    "TransferProgress",
    "copy_file",
    "discard_part",
    "download_file",
    "part_path",
]

_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class _Incomplete(Exception):
    """One transfer attempt ended early; the next attempt may resume."""


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


class NoProgress:
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


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _part_meta(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part.json")


def discard_part(dest: Path) -> None:
    part_path(dest).unlink(missing_ok=True)
    _part_meta(dest).unlink(missing_ok=True)


def _resume_state(dest: Path, url: str) -> tuple[int, str | None]:
    """Bytes already in ``<dest>.part`` for ``url``, and the validator to send in If-Range."""
    part, meta = part_path(dest), _part_meta(dest)
    if not part.is_file():
        meta.unlink(missing_ok=True)
        return 0, None
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    if info.get("url") != url:  # a part from another URL (or of unknown origin): start over
        discard_part(dest)
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
            discard_part(dest)
            raise _Incomplete("the server refused to resume; starting over")
        if code in _RETRYABLE_STATUS:
            raise _Incomplete(f"HTTP {code} {response.reason_phrase}")
        if code >= 400:
            raise FetchError(f"HTTP {code} {response.reason_phrase} for {url}")
        if code == 206 and offset:
            if _content_range_start(response.headers.get("Content-Range")) != offset:
                discard_part(dest)
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
            with part_path(dest).open(mode) as fh:
                for chunk in response.iter_bytes():  # as received: nothing held back
                    fh.write(chunk)
                    progress.advance(len(chunk))
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            progress.stop()
    size = part_path(dest).stat().st_size
    if total is not None and size != total:
        raise _Incomplete(f"connection ended after {size:,} of {total:,} bytes")
    return kind


def _verify_and_place(
    dest: Path, expected: Expected | None, *, source_desc: str
) -> tuple[str, str, int]:
    """Check ``<dest>.part`` against ``expected``, then rename it to ``dest`` atomically."""
    part = part_path(dest)
    sha, md5, size = digests(part)
    if expected is not None:
        got = md5 if expected.kind == "md5" else sha
        if got.lower() != expected.value.lower():
            discard_part(dest)
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
    progress = progress or NoProgress()
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
            resumed = resumed or part_path(dest).is_file()
            continue
        except httpx.HTTPError as exc:  # too many redirects, undecodable body …
            raise FetchError(f"{url}: {exc}") from exc
        resumed = resumed or kind == "resumed"
        restarted = restarted or kind == "restarted"
        break
    else:
        kept = part_path(dest)
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
    progress = progress or NoProgress()
    discard_part(dest)
    progress.start(dest.name, src.stat().st_size, 0)
    try:
        with src.open("rb") as fin, part_path(dest).open("wb") as fout:
            while chunk := fin.read(options.chunk_bytes):
                fout.write(chunk)
                progress.advance(len(chunk))
            fout.flush()
            os.fsync(fout.fileno())
    except OSError:
        discard_part(dest)
        raise
    finally:
        progress.stop()
    sha, md5, size = _verify_and_place(dest, expected, source_desc=str(src))
    origin = expected.origin if expected is not None else None
    return Transfer(dest, sha, md5, size, verified_by=origin)
