"""The build directory's manifest: what each step was built from, and when.

``<build_dir>/manifest.json`` records the inputs (paths and SHA-256), the parameters, the
built modes and scenarios, and per step its cache key and outputs.  A step whose key is
unchanged and whose outputs exist is skipped (:meth:`Manifest.fresh`).  Everything that
reads built layers starts with :func:`read_manifest`, which raises :class:`NotBuiltError`
when there is nothing to read.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geo.store import atomic_path

__all__ = [
    "GRID_BUFFER_M",
    "ISOCHRONE_MIN",
    "LOSS_THRESHOLDS_MIN",
    "MANIFEST_VERSION",
    "BuildReport",
    "Manifest",
    "NotBuiltError",
    "frame_sha256",
    "read_manifest",
    "sha256_file",
    "step_key",
]

#: Isochrone thresholds of each service's public surface, minutes.
ISOCHRONE_MIN = (30, 60, 120, 300)
#: Thresholds of the loss-of-access tables, minutes.
LOSS_THRESHOLDS_MIN = (60, 120, 300)
#: How far the travel-time grid reaches beyond the country outline, metres.
GRID_BUFFER_M = 5000.0
MANIFEST_VERSION = 3


class NotBuiltError(FileNotFoundError):
    """The build directory holds no built layers."""


def read_manifest(build_dir: Path) -> dict[str, Any]:
    """The manifest of ``build_dir``; :class:`NotBuiltError` when there is none."""
    path = build_dir / "manifest.json"
    if not path.is_file():
        raise NotBuiltError(
            f"no built layers in {build_dir}; run `orienter build` (ORIENTER_BUILD_DIR)"
        )
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def step_key(*parts: object) -> str:
    """The cache key of a step: SHA-256 of what it depends on (JSON of ``parts``)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class BuildReport:
    """What a build did: steps run or reused, with seconds."""

    steps: list[dict] = field(default_factory=list)
    manifest_path: Path | None = None

    def add(self, name: str, status: str, seconds: float) -> None:
        self.steps.append({"step": name, "status": status, "seconds": round(seconds, 2)})


class Manifest:
    """``manifest.json`` of a build directory, read (if current) and written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict = {"version": MANIFEST_VERSION, "inputs": {}, "steps": {}}
        if path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if loaded.get("version") == MANIFEST_VERSION:
                    self.data = loaded
            except json.JSONDecodeError:
                pass  # a corrupt manifest only means everything is rebuilt

    def fresh(self, step: str, key: str, root: Path) -> bool:
        """True when ``step`` was built with ``key`` and its outputs are still there."""
        entry = self.data["steps"].get(step)
        return bool(
            entry and entry["key"] == key and all((root / o).exists() for o in entry["outputs"])
        )

    def record(self, step: str, key: str, outputs: list[str], seconds: float) -> None:
        """Record that ``step`` built ``outputs`` (paths relative to the build directory)."""
        self.data["steps"][step] = {
            "key": key,
            "outputs": outputs,
            "seconds": round(seconds, 2),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        self.save()

    def save(self) -> None:
        """Write the manifest (atomically)."""
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(self.data, indent=2, ensure_ascii=False), encoding="utf-8")


def frame_sha256(frame: Any) -> str:
    """SHA-256 of a provider table's content (records as JSON, geometry as WKT)."""
    import pandas as pd

    plain = pd.DataFrame(frame.drop(columns="geometry", errors="ignore")).astype(object)
    if "geometry" in frame:
        plain["geometry"] = [None if g is None else g.wkt for g in frame.geometry]
    text = plain.to_json(orient="records", force_ascii=False, default_handler=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
