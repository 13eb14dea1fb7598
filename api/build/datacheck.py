"""`orienter data check`: find and load every dataset of the data directory, report what is there.

Each dataset of :data:`api.datasets.DATASETS` is located with :func:`api.datasets.find_dataset`
and read with its ``geo`` loader.  A loader's exception (which names the file and the problem)
and the warnings it emits are collected, never raised, so every dataset is reported.

Only counts, shapes, CRS and dates are reported: no rows of any file (the ACLED conflict
data may not be redistributed) are ever returned.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from api.datasets import DATASETS, Dataset, find_dataset
from api.settings import Settings

__all__ = ["ROAD_KEYS", "CheckReport", "DatasetCheck", "check_data", "searched_dirs"]

#: Road datasets in the order the build prefers them (see api.build.roads.choose_roads).
ROAD_KEYS: tuple[str, ...] = ("roads_osm", "roads_segments", "roads_intercity")
_BUILD_KIND_TO_KEY = {
    "osm": "roads_osm",
    "segments": "roads_segments",
    "intercity": "roads_intercity",
}
_MAX_PROBLEM_LINES = 12


@dataclass
class DatasetCheck:
    """What ``orienter data check`` found for one dataset."""

    key: str
    description: str
    required: bool
    licence: str
    searched: list[str]
    status: str = "missing"  # ok | error | missing | missing (optional)
    path: str | None = None
    file: str | None = None
    rows: int | None = None
    shape: list[int] | None = None
    total_population: float | None = None
    crs: str | None = None
    date: str | None = None
    date_source: str | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.path is not None

    @property
    def loaded(self) -> bool:
        return self.status == "ok"

    @property
    def failed(self) -> bool:
        """True when this dataset alone makes the check fail (required, missing or broken)."""
        return self.required and not self.loaded

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["found"] = self.found
        return out


@dataclass
class CheckReport:
    """Every dataset's check, plus the road choice."""

    data_dir: str
    datasets: list[DatasetCheck]
    roads_loaded: list[str]
    roads_build_uses: str | None
    roads_problem: str | None

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[str]:
        out = [d.key for d in self.datasets if d.failed]
        if not self.roads_loaded:
            out.append("roads (none of " + ", ".join(ROAD_KEYS) + " loads)")
        elif self.roads_build_uses is not None and self.roads_build_uses not in self.roads_loaded:
            # another layer loads, but the build takes the best one present: it would fail
            out.append(f"roads ({self.roads_build_uses}, the layer the build uses, does not load)")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_dir": self.data_dir,
            "ok": self.ok,
            "failures": self.failures,
            "roads": {
                "loaded": self.roads_loaded,
                "build_uses": self.roads_build_uses,
                "problem": self.roads_problem,
            },
            "datasets": [d.to_dict() for d in self.datasets],
        }


def searched_dirs(settings: Settings, ds: Dataset) -> list[Path]:
    """The folders :func:`api.datasets.find_dataset` looks in for ``ds``, in order."""
    dirs: list[Path] = []
    if ds.folder == "boundaries":
        dirs.append(settings.boundaries_dir)
    dirs.append(settings.data_dir / ds.folder)
    return dirs


# ---------------------------------------------------------------- per-dataset loaders


def _vector_info(path: Path, layer: str | None = None) -> dict[str, Any] | None:
    try:
        import pyogrio

        return pyogrio.read_info(path, layer=layer)
    except Exception:
        return None


def _valid_on(path: Path, info: dict[str, Any] | None, layer: str | None = None) -> str | None:
    """The ``validOn`` date range of an OCHA COD layer, read without geometries."""
    if info is None or "validOn" not in list(info.get("fields", [])):
        return None
    try:
        import pyogrio

        values = pyogrio.read_dataframe(
            path, layer=layer, columns=["validOn"], read_geometry=False
        )["validOn"]
        dates = pd.to_datetime(values, errors="coerce").dropna()
    except Exception:
        return None
    if dates.empty:
        return None
    return _date_range(dates.min(), dates.max())


def _date_range(first: pd.Timestamp, last: pd.Timestamp) -> str:
    a, b = first.date().isoformat(), last.date().isoformat()
    return a if a == b else f"{a}..{b}"


def _frame_crs(frame: Any) -> str | None:
    crs = getattr(frame, "crs", None)
    return crs.to_string() if crs is not None else None


def _vector_facts(path: Path, frame: Any, layer: str | None = None) -> dict[str, Any]:
    """Rows, the file's own CRS (else the loaded frame's) and its validOn date."""
    facts: dict[str, Any] = {"rows": len(frame)}
    info = _vector_info(path, layer) if path.suffix.lower() != ".csv" else None
    source_crs = info.get("crs") if info else None
    facts["crs"] = source_crs or (
        f"{_frame_crs(frame)} (coordinate columns)"
        if path.suffix.lower() == ".csv"
        else _frame_crs(frame)
    )
    valid_on = _valid_on(path, info, layer)
    if valid_on:
        facts["date"], facts["date_source"] = valid_on, "validOn field"
    return facts


def _load_boundaries(level: int) -> Callable[[Path], dict[str, Any]]:
    def load(path: Path) -> dict[str, Any]:
        from geo.boundaries import read_boundaries

        return _vector_facts(path, read_boundaries(path, level=level))

    return load


def _load_settlements(path: Path) -> dict[str, Any]:
    from geo.settlements import read_settlements

    return _vector_facts(path, read_settlements(path))


def _load_population_raster(path: Path) -> dict[str, Any]:
    from geo.population import read_population_raster

    raster = read_population_raster(path)
    return {
        "shape": [int(n) for n in raster.counts.shape],
        "total_population": round(float(np.nansum(raster.counts)), 0),
        "crs": raster.crs.to_string(),
    }


def _load_population_table(path: Path) -> dict[str, Any]:
    from geo.population import read_population_table

    table = read_population_table(path)
    return {"rows": len(table), "crs": "n/a (table keyed on P-codes)"}


def _load_osm(path: Path) -> dict[str, Any]:
    from geo.osm import read_osm_roads

    return _vector_facts(path, read_osm_roads(path)) | {"crs": "EPSG:4326 (OSM)"}


def _load_segments(path: Path) -> dict[str, Any]:
    from geo.roads import read_road_segments

    return _vector_facts(path, read_road_segments(path), layer="edges")


def _load_intercity(path: Path) -> dict[str, Any]:
    from geo.roads import read_intercity_network

    roads = read_intercity_network(path.parent / "AfricaNetworkNodes.csv", path)
    return {"rows": len(roads), "crs": f"{_frame_crs(roads)} (node x/y columns)"}


def _load_who(path: Path) -> dict[str, Any]:
    from geo.facilities import read_who_facilities

    return _vector_facts(path, read_who_facilities(path))


def _load_healthsites(path: Path) -> dict[str, Any]:
    from geo.facilities import read_healthsites

    return _vector_facts(path, read_healthsites(path))


def _load_conflict(path: Path) -> dict[str, Any]:
    from geo.conflict import read_conflict_events

    events = read_conflict_events(path)
    facts = _vector_facts(path, events)
    dates = pd.to_datetime(events["date"], errors="coerce").dropna()
    if not dates.empty:
        facts["date"], facts["date_source"] = _date_range(dates.min(), dates.max()), "event dates"
    return facts  # counts and dates only: the events themselves are never reported


LOADERS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "adm0": _load_boundaries(0),
    "adm1": _load_boundaries(1),
    "adm2": _load_boundaries(2),
    "adm3": _load_boundaries(3),
    "settlements": _load_settlements,
    "population_raster": _load_population_raster,
    "population_census_adm1": _load_population_table,
    "roads_osm": _load_osm,
    "roads_segments": _load_segments,
    "roads_intercity": _load_intercity,
    "facilities_who": _load_who,
    "facilities_healthsites": _load_healthsites,
    "conflict": _load_conflict,
}


def _message(exc: BaseException, path: Path) -> list[str]:
    """The loader's message as lines, naming the file when the message does not."""
    text = str(exc).strip() or type(exc).__name__
    if str(path) not in text and path.name not in text:
        text = f"{path}: {type(exc).__name__}: {text}"
    lines = text.splitlines()
    if len(lines) > _MAX_PROBLEM_LINES:
        lines = [*lines[:_MAX_PROBLEM_LINES], f"  … and {len(lines) - _MAX_PROBLEM_LINES} more"]
    return lines


def check_dataset(settings: Settings, key: str) -> DatasetCheck:
    """Find and load one dataset; never raises for a missing or broken file."""
    ds = DATASETS[key]
    dirs = searched_dirs(settings, ds)
    result = DatasetCheck(
        key=key,
        description=ds.description,
        required=ds.required,
        licence=ds.licence,
        searched=[str(d) for d in dirs],
    )
    path = find_dataset(settings, key)
    if path is None:
        result.status = "missing" if ds.required else "missing (optional)"
        if ds.required:
            result.problems.append(
                f"required dataset not found: no file matching {', '.join(ds.patterns)} "
                f"in {' or '.join(str(d) for d in dirs)}"
            )
        return result
    result.path, result.file = str(path), path.name
    loader = LOADERS.get(key)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if loader is None:
                raise NotImplementedError(f"{path}: no loader known for dataset {key!r}")
            facts = loader(path)
        except Exception as exc:  # report every loader failure, keep checking the rest
            result.status = "error"
            result.problems.extend(_message(exc, path))
            facts = {}
        else:
            result.status = "ok"
    result.warnings = list(dict.fromkeys(str(w.message) for w in caught))
    for name, value in facts.items():
        setattr(result, name, value)
    if result.date is None:
        try:
            mtime = dt.datetime.fromtimestamp(path.stat().st_mtime)
            result.date, result.date_source = mtime.date().isoformat(), "file modified"
        except OSError:
            pass
    return result


def check_data(settings: Settings, *, progress: Callable[[str], None] | None = None) -> CheckReport:
    """Check every dataset of :data:`DATASETS` and which road layer the build will use."""
    checks: list[DatasetCheck] = []
    for key in DATASETS:
        if progress is not None:
            progress(key)
        checks.append(check_dataset(settings, key))
    by_key = {c.key: c for c in checks}
    loaded = [k for k in ROAD_KEYS if k in by_key and by_key[k].loaded]
    build_uses: str | None = None
    problem: str | None = None
    try:
        from api.build.roads import choose_roads

        kind, _ = choose_roads(settings)
        build_uses = _BUILD_KIND_TO_KEY.get(kind, kind)
    except Exception as exc:
        problem = str(exc)
    if build_uses is not None and build_uses not in loaded:
        problem = (
            f"the build will use {build_uses} (the best road data present), which does not "
            "load; fix or remove that file"
        )
    elif not loaded and problem is None:
        problem = f"no road layer loads ({', '.join(ROAD_KEYS)})"
    return CheckReport(
        data_dir=str(settings.data_dir),
        datasets=checks,
        roads_loaded=loaded,
        roads_build_uses=build_uses,
        roads_problem=problem,
    )
