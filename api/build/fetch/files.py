"""Errors, atomic writes and digests shared by the fetch modules."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["ChecksumError", "FetchError", "digests", "write_atomic", "write_bytes"]


class FetchError(RuntimeError):
    """A file could not be fetched; the message says why and what to do."""


class ChecksumError(FetchError):
    """A downloaded or copied file does not match its expected checksum."""


def write_atomic(dest: Path, write: Callable[[BinaryIO], object]) -> None:
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


def write_bytes(dest: Path, data: bytes) -> None:
    write_atomic(dest, lambda fh: fh.write(data))


def digests(path: Path) -> tuple[str, str, int]:
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), md5.hexdigest(), size
