"""Speed tables: km/h by travel mode and road class, with a rainy-season factor.

The default table ``geo/speeds.toml`` cites its sources line by line; a user edits a
copy and passes its path.  Speeds are validated on load: every mode needs an off-road
speed and a speed for every road class (0 means the class is closed to that mode).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from geo.errors import DataFileError, DataProblem, DataValidationError
from geo.roads import ROAD_CLASSES

__all__ = ["DEFAULT_SPEEDS_PATH", "SEASONS", "ModeSpeeds", "SpeedTable", "read_speed_table"]

DEFAULT_SPEEDS_PATH = Path(__file__).with_name("speeds.toml")
SEASONS = ("dry", "rainy")


@dataclass(frozen=True)
class ModeSpeeds:
    """Speeds of one travel mode, km/h."""

    name: str
    offroad_kph: float
    road_kph: MappingProxyType[str, float]
    label_fr: str = ""
    label_en: str = ""


@dataclass(frozen=True)
class SpeedTable:
    """All modes, the paved-by-class defaults and the season factors."""

    modes: MappingProxyType[str, ModeSpeeds]
    paved_by_class: MappingProxyType[str, bool]
    rainy_unpaved_factor: float
    rainy_offroad_factor: float
    source: str = field(default="")

    def mode(self, name: str) -> ModeSpeeds:
        """The speeds of mode ``name``; ValueError listing the allowed modes otherwise."""
        if name not in self.modes:
            raise ValueError(f"unknown mode {name!r}; allowed: {', '.join(self.modes)}")
        return self.modes[name]

    def road_speed_kph(self, mode: str, road_class: str, paved: bool | None, season: str) -> float:
        """Speed of ``mode`` on a road of ``road_class``; ``paved`` None uses the class default."""
        if season not in SEASONS:
            raise ValueError(f"season must be one of {SEASONS}, got {season!r}")
        speed = self.mode(mode).road_kph[road_class]
        is_paved = self.paved_by_class[road_class] if paved is None else bool(paved)
        if season == "rainy" and not is_paved:
            speed *= self.rainy_unpaved_factor
        return speed

    def offroad_speed_kph(self, mode: str, season: str) -> float:
        """Off-road (cross-country) speed of ``mode``."""
        if season not in SEASONS:
            raise ValueError(f"season must be one of {SEASONS}, got {season!r}")
        speed = self.mode(mode).offroad_kph
        return speed * self.rainy_offroad_factor if season == "rainy" else speed


def read_speed_table(path: str | Path | None = None) -> SpeedTable:
    """Read and validate a speed table (TOML); the default table when ``path`` is None.

    Raises
    ------
    DataFileError
        The file is missing or not valid TOML.
    DataValidationError
        A mode lacks a class or an off-road speed, or a speed is negative or not a number.
    """
    path = DEFAULT_SPEEDS_PATH if path is None else Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataFileError(f"{path}: speed table not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(f"{path}: not valid TOML ({exc})") from exc
    problems: list[DataProblem] = []

    def number(value: Any, where: str, *, positive: bool) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or value < 0 or (positive and value == 0):
            need = "a number > 0" if positive else "a number >= 0"
            problems.append(DataProblem(None, where, f"{value!r} is not {need}"))
            return 1.0
        return float(value)

    modes: dict[str, ModeSpeeds] = {}
    if not raw.get("modes"):
        problems.append(DataProblem(None, "modes", "no [modes.NAME] table"))
    for name, spec in raw.get("modes", {}).items():
        road = spec.get("road_kph", {})
        speeds = {}
        for cls in ROAD_CLASSES:
            if cls not in road:
                problems.append(DataProblem(None, f"modes.{name}.road_kph.{cls}", "missing"))
            else:
                speeds[cls] = number(road[cls], f"modes.{name}.road_kph.{cls}", positive=False)
        for extra in set(road) - set(ROAD_CLASSES):
            problems.append(
                DataProblem(
                    None,
                    f"modes.{name}.road_kph.{extra}",
                    f"unknown road class; known: {', '.join(ROAD_CLASSES)}",
                )
            )
        offroad = number(spec.get("offroad_kph"), f"modes.{name}.offroad_kph", positive=True)
        modes[name] = ModeSpeeds(
            name=name,
            offroad_kph=offroad,
            road_kph=MappingProxyType(speeds),
            label_fr=str(spec.get("label_fr", name)),
            label_en=str(spec.get("label_en", name)),
        )
    paved_raw = raw.get("paved_by_class", {})
    paved = {
        cls: bool(paved_raw.get(cls, cls in ("motorway", "trunk", "primary")))
        for cls in ROAD_CLASSES
    }
    season = raw.get("season", {})
    unpaved_factor = number(
        season.get("rainy_unpaved_factor", 1.0), "season.rainy_unpaved_factor", positive=True
    )
    offroad_factor = number(
        season.get("rainy_offroad_factor", 1.0), "season.rainy_offroad_factor", positive=True
    )
    if problems:
        raise DataValidationError(str(path), problems)
    return SpeedTable(
        modes=MappingProxyType(modes),
        paved_by_class=MappingProxyType(paved),
        rainy_unpaved_factor=unpaved_factor,
        rainy_offroad_factor=offroad_factor,
        source=str(path),
    )
