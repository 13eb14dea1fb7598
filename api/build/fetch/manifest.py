"""``<data_dir>/.fetch-manifest.json``: what Orienter fetched, with SHA-256 and sizes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from api.build.fetch.files import FetchError, digests, write_atomic

__all__ = ["MANIFEST_NAME", "Manifest", "matches"]

MANIFEST_NAME = ".fetch-manifest.json"


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
        write_atomic(self.path, lambda fh: fh.write(text.encode("utf-8") + b"\n"))
        self.changed = False


def matches(path: Path, record: dict[str, Any]) -> bool:
    return path.is_file() and digests(path)[0] == record.get("sha256")
