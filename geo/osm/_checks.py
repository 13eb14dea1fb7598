"""Argument checks and errors shared by the OSM and line-layer readers."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path

from geo.errors import DataFileError
from geo.roads import ROAD_CLASSES


def check_path(path: str | os.PathLike[str]) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}: {path!r}")
    file = Path(path)
    if not file.exists():
        raise DataFileError(f"{file}: file not found")
    if not file.is_file():
        raise DataFileError(f"{file}: not a file")
    if file.stat().st_size == 0:
        raise DataFileError(f"{file}: file is empty")
    return file


def check_bbox(bbox: Sequence[float] | None) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    if isinstance(bbox, str) or not isinstance(bbox, Sequence) or len(bbox) != 4:
        raise TypeError(
            f"bbox must be a sequence (west, south, east, north) in degrees, got {bbox!r}"
        )
    try:
        west, south, east, north = (float(c) for c in bbox)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"bbox must hold four numbers (west, south, east, north), got {bbox!r}"
        ) from exc
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise ValueError(
            f"bbox must be (west, south, east, north) in degrees with west < east and "
            f"south < north, got {bbox!r}; Mali is about (-12.3, 10.1, 4.3, 25.0)"
        )
    return west, south, east, north


def check_classes(classes: Collection[str] | None) -> frozenset[str] | None:
    if classes is None:
        return None
    if isinstance(classes, str) or not isinstance(classes, Collection):
        raise TypeError(
            f"classes must be a collection of road classes, e.g. ['primary'], got {classes!r}"
        )
    wanted = frozenset(classes)
    bad = sorted(str(c) for c in wanted - set(ROAD_CLASSES))
    if bad or not wanted:
        raise ValueError(
            f"classes has unknown road class(es) {bad or classes!r}; "
            f"use some of {list(ROAD_CLASSES)}"
        )
    return wanted


def no_roads_error(
    file: Path, bbox: tuple[float, ...] | None, classes: frozenset[str] | None
) -> DataFileError:
    what = "no road, track or path ways (highway=*) found"
    if classes is not None:
        what += f" of classes {sorted(classes)}"
    if bbox is not None:
        what += f" touching bbox {bbox} (west, south, east, north)"
    return DataFileError(f"{file}: {what}")
