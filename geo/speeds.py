"""Speed tables: km/h by travel mode and road class, with a rainy-season factor.

The default table ``geo/speeds.toml`` cites its sources line by line; a user edits a
copy and passes its path.  Speeds are validated on load: every mode needs an off-road
speed and a speed for every road class (0 means the class is closed to that mode).

A table also holds named **speed profiles** (``[profiles.NAME]``).  A profile may scale
the speed a road layer carries per stretch (the ``speed_kph`` column of
:mod:`geo.roads`, an OSRM free-flow estimate for the Krantz segments) by a factor per
mode; stretches without such a speed, and modes without a factor, use the class
speeds.  Each profile says in French and English what its times mean
(:meth:`SpeedTable.time_meaning`), so that answers can print it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from geo.errors import DataFileError, DataProblem, DataValidationError
from geo.roads import ROAD_CLASSES

__all__ = [
    "DEFAULT_SPEEDS_PATH",
    "SEASONS",
    "ModeSpeeds",
    "SpeedProfile",
    "SpeedTable",
    "read_speed_table",
]

DEFAULT_SPEEDS_PATH = Path(__file__).with_name("speeds.toml")
SEASONS = ("dry", "rainy")
LANGUAGES = ("fr", "en")
_SEASON_PHRASE = {
    "fr": {"dry": "saison sèche", "rainy": "saison des pluies (ralentissements supposés)"},
    "en": {"dry": "dry season", "rainy": "rainy season (assumed slow-downs)"},
}


@dataclass(frozen=True)
class ModeSpeeds:
    """Speeds of one travel mode, km/h."""

    name: str
    offroad_kph: float
    road_kph: MappingProxyType[str, float]
    label_fr: str = ""
    label_en: str = ""


@dataclass(frozen=True)
class SpeedProfile:
    """A named way of costing roads, and what its times mean.

    ``source_speed_factor`` maps a mode to the factor applied to a road stretch's own
    speed (the road layer's ``speed_kph``); a mode absent from it uses class speeds.
    """

    name: str
    label_fr: str
    label_en: str
    meaning_fr: str
    meaning_en: str
    source_speed_factor: MappingProxyType[str, float] = field(
        default_factory=lambda: MappingProxyType({})
    )


def _class_only() -> SpeedProfile:
    """The profile of a table without ``[profiles]``: class speeds only."""
    return SpeedProfile(
        name="class_table",
        label_fr="Vitesses par classe de route",
        label_en="Speeds by road class",
        meaning_fr="sans arrêt ni attente, vitesses supposées par classe de route",
        meaning_en="without stops or waiting, assumed speeds by road class",
    )


@dataclass(frozen=True)
class SpeedTable:
    """All modes, the paved-by-class defaults, the season factors and the chosen profile."""

    modes: MappingProxyType[str, ModeSpeeds]
    paved_by_class: MappingProxyType[str, bool]
    rainy_unpaved_factor: float
    rainy_offroad_factor: float
    source: str = field(default="")
    profile: SpeedProfile = field(default_factory=_class_only)
    profiles: tuple[str, ...] = ("class_table",)

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

    def source_speed_factor(self, mode: str) -> float | None:
        """The profile's factor on a stretch's own speed for ``mode``; None: class speeds."""
        self.mode(mode)
        return self.profile.source_speed_factor.get(mode)

    def segment_speeds_kph(
        self,
        mode: str,
        road_class: np.ndarray,
        paved_code: np.ndarray,
        source_kph: np.ndarray | None,
        season: str,
    ) -> np.ndarray:
        """Speed of ``mode`` on each road piece, km/h, under the chosen profile.

        Parameters
        ----------
        road_class
            Road class of each piece (one of ``geo.roads.ROAD_CLASSES``).
        paved_code
            1 paved, 0 unpaved, -1 unknown (the class default then applies).
        source_kph
            The road layer's own speed per piece (NaN where none), or None.  Where the
            profile gives ``mode`` a factor and the speed is known, the piece runs at
            ``source_kph * factor``; elsewhere at the class speed.
        season
            ``"dry"`` or ``"rainy"``; in the rainy season unpaved pieces are slowed by
            ``rainy_unpaved_factor`` whichever speed they start from.
        """
        road_class = np.asarray(road_class, dtype=object)
        paved_code = np.asarray(paved_code)
        if paved_code.shape != road_class.shape:
            raise ValueError("road_class and paved_code must have the same length")
        speed = np.empty(len(road_class))
        classes, class_idx = np.unique(road_class.astype(str), return_inverse=True)
        for ci, cls in enumerate(classes):
            for code, paved in ((1, True), (0, False), (-1, None)):
                sel = (class_idx == ci) & (paved_code == code)
                if sel.any():
                    speed[sel] = self.road_speed_kph(mode, str(cls), paved, season)
        factor = self.source_speed_factor(mode)
        if factor is None or source_kph is None:
            return speed
        source_kph = np.asarray(source_kph, dtype=float)
        if source_kph.shape != road_class.shape:
            raise ValueError("source_kph must have one speed per road piece")
        own = np.isfinite(source_kph) & (source_kph > 0)
        if not own.any():
            return speed
        paved_default = np.array([self.paved_by_class[str(c)] for c in classes])[class_idx]
        is_paved = np.where(paved_code == -1, paved_default, paved_code == 1)
        wet = (season == "rainy") & ~is_paved
        season_factor = np.where(wet, self.rainy_unpaved_factor, 1.0)
        speed[own] = (source_kph * factor * season_factor)[own]
        return speed

    def time_meaning(self, lang: str = "fr", *, season: str) -> str:
        """What a travel time means under this profile and ``season``, in ``lang``.

        Example: ``"trajet en voiture ..., saison sèche"``.
        """
        if lang not in LANGUAGES:
            raise ValueError(f"lang must be one of {LANGUAGES}, got {lang!r}")
        if season not in SEASONS:
            raise ValueError(f"season must be one of {SEASONS}, got {season!r}")
        meaning = self.profile.meaning_fr if lang == "fr" else self.profile.meaning_en
        return f"{meaning}, {_SEASON_PHRASE[lang][season]}"


def read_speed_table(path: str | Path | None = None, *, profile: str | None = None) -> SpeedTable:
    """Read and validate a speed table (TOML); the default table when ``path`` is None.

    Parameters
    ----------
    path
        The table; None reads ``geo/speeds.toml``.
    profile
        Name of one of the table's ``[profiles.NAME]``; None takes its
        ``default_profile``.  A table without profiles has one, ``class_table``.

    Raises
    ------
    DataFileError
        The file is missing or not valid TOML.
    DataValidationError
        A mode lacks a class or an off-road speed, a speed is negative or not a number,
        or a profile is malformed.
    ValueError
        ``profile`` is not one of the table's profiles.
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

    modes = _read_modes(raw, problems, number)
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
    profiles, default = _read_profiles(raw, modes, problems, number)
    if problems:
        raise DataValidationError(str(path), problems)
    name = default if profile is None else profile
    if name not in profiles:
        raise ValueError(
            f"profile {profile!r} is not a speed profile of {path}; allowed: {', '.join(profiles)}"
        )
    return SpeedTable(
        modes=MappingProxyType(modes),
        paved_by_class=MappingProxyType(paved),
        rainy_unpaved_factor=unpaved_factor,
        rainy_offroad_factor=offroad_factor,
        source=str(path),
        profile=profiles[name],
        profiles=tuple(profiles),
    )


def _read_modes(raw: dict, problems: list[DataProblem], number) -> dict[str, ModeSpeeds]:
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
    return modes


def _read_profiles(
    raw: dict, modes: dict[str, ModeSpeeds], problems: list[DataProblem], number
) -> tuple[dict[str, SpeedProfile], str]:
    """The table's profiles and the default one's name (``class_table`` when none)."""
    specs = raw.get("profiles")
    if not specs:
        if "default_profile" in raw:
            problems.append(DataProblem(None, "default_profile", "no [profiles.NAME] table"))
        return {"class_table": _class_only()}, "class_table"
    profiles: dict[str, SpeedProfile] = {}
    for name, spec in specs.items():
        texts = {}
        for key in ("label_fr", "label_en", "meaning_fr", "meaning_en"):
            value = spec.get(key)
            if not isinstance(value, str) or not value.strip():
                problems.append(DataProblem(None, f"profiles.{name}.{key}", "missing text"))
                value = ""
            texts[key] = value.strip()
        factors = {}
        for mode, value in spec.get("source_speed_factor", {}).items():
            where = f"profiles.{name}.source_speed_factor.{mode}"
            if mode not in modes:
                problems.append(
                    DataProblem(None, where, f"unknown mode; known: {', '.join(modes)}")
                )
            factors[mode] = number(value, where, positive=True)
        profiles[name] = SpeedProfile(
            name=name, source_speed_factor=MappingProxyType(factors), **texts
        )
    default = raw.get("default_profile", next(iter(profiles)))
    if default not in profiles:
        problems.append(
            DataProblem(None, "default_profile", f"{default!r} is not one of {', '.join(profiles)}")
        )
        default = next(iter(profiles))
    return profiles, default
