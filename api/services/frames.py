"""Which administrative frame the figures use: the 2015 one, or the 2023 régions.

The boundary files of the data directory are in the 2015 frame (8 régions + Bamako).
``--frame 2023`` (``?frame=2023``) reports by the 19 régions + Bamako district of 2023:

- with boundary files of the 2023 frame supplied by the user (ADM1 with 19 or more
  units, in ``data/boundaries/``, which wins over the data directory as for any boundary
  file), they are used as they are;
- otherwise the 2015 cercles are regrouped by the sourced crosswalk
  (``data/boundaries/mli_cercle_2015_to_region_2023.csv``, :mod:`geo.frames`): a
  région that splits a 2015 cercle is flagged ``approximate``, and cercles and communes
  carry their 2023 région.

The default frame is the boundary files' own (2015 until current boundaries are
supplied).  :class:`api.services.analysis.Analysis` asks :func:`load_frame` for the
régions, and :class:`Frame2023` turns the cercles' cells, providers and conflict classes
into the régions' (the same pieces of the grid, so the population totals are the 2015
ones to the person).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from api.settings import Settings
from geo.errors import DataFileError
from geo.frames import read_crosswalk, regions_from_cercles
from geo.units import CellAssignment

__all__ = [
    "CROSSWALK_NAME",
    "FRAMES",
    "FRAME_LEVEL",
    "Frame2023",
    "FrameError",
    "boundaries_frame",
    "choose_frame",
    "crosswalk_path",
    "framed_table",
    "load_frame",
]

FRAMES: tuple[str, ...] = ("2015", "2023")
#: The level key of the 2023 régions built from the crosswalk (an Analysis-internal level).
FRAME_LEVEL = "adm1_2023"
CROSSWALK_NAME = "mli_cercle_2015_to_region_2023.csv"
#: The crosswalk shipped with Orienter, beside its sources.
SHIPPED = Path(__file__).resolve().parents[2] / "data" / "boundaries" / CROSSWALK_NAME
#: ADM1 files with at least this many units are taken as the 2023 frame (19 + Bamako).
MIN_2023_REGIONS = 19
_CLASS_ORDER = {"low": 0, "elevated": 1, "high": 2}
NOTE_2023 = (
    "2023 régions regrouped from the 2015 cercles by the sourced crosswalk "
    f"({CROSSWALK_NAME}); approximate where a région splits a 2015 cercle; Taoudénit "
    "holds no 2015 cercle chef-lieu, so its people are counted in Tombouctou"
)


class FrameError(ValueError):
    """A frame that the boundary files cannot give (the parameter is ``frame``)."""

    parameter = "frame"


def boundaries_frame(n_regions: int) -> str:
    """The frame of an ADM1 file with ``n_regions`` units: ``"2023"`` from 19 on."""
    return "2023" if n_regions >= MIN_2023_REGIONS else "2015"


def choose_frame(asked: str | None, n_regions: int) -> tuple[str, bool]:
    """The frame to report by and whether the crosswalk builds it.

    Raises
    ------
    FrameError
        ``asked`` is not a frame, or is 2015 while the boundary files are 2023 ones.
    """
    own = boundaries_frame(n_regions)
    frame = own if asked is None else str(asked)
    if frame not in FRAMES:
        raise FrameError(f"frame={asked!r}: use one of {', '.join(FRAMES)}")
    if frame == "2015" and own == "2023":
        raise FrameError(
            "frame=2015: the boundary files are in the 2023 frame "
            f"({n_regions} régions); remove them from data/boundaries/ to report by 2015"
        )
    return frame, frame == "2023" and own == "2015"


def crosswalk_path(settings: Settings) -> Path:
    """The crosswalk: a user's in ``data/boundaries/``, else the one shipped with Orienter,
    else the data directory's.

    Raises
    ------
    DataFileError
        None of them exists.
    """
    candidates = [
        settings.boundaries_dir / CROSSWALK_NAME,
        SHIPPED,
        settings.data_dir / "boundaries" / CROSSWALK_NAME,
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise DataFileError(f"no {CROSSWALK_NAME} in {', '.join(str(p.parent) for p in candidates)}")


@dataclass(frozen=True)
class Frame2023:
    """The 2023 régions built from the 2015 cercles, and how to move figures to them."""

    regions: gpd.GeoDataFrame  # pcode, name, level, cercles, approximate, ..., geometry
    member: np.ndarray  # per cercle row: the région row
    cercles: pd.DataFrame  # pcode, region_2023, region_2023_pcode, region_2023_approximate
    source: Path

    def pieces(self, cercle_pieces: CellAssignment) -> CellAssignment:
        """The cercles' pieces of the grid, given to their région."""
        return replace(cercle_pieces, unit=self.member[cercle_pieces.unit])

    def provider_units(self, cercle_of_provider: np.ndarray) -> np.ndarray:
        """Row of :attr:`regions` holding each provider (-1 none), from its cercle row."""
        rows = np.asarray(cercle_of_provider, dtype=np.int64)
        return np.where(rows >= 0, self.member[np.maximum(rows, 0)], -1)

    def conflict(self, cercle_summary: pd.DataFrame | None) -> pd.DataFrame | None:
        """Highest conflict class per région: the highest of its cercles'."""
        if cercle_summary is None:
            return None
        classes = cercle_summary.set_index(cercle_summary["pcode"].astype(str))["max_class"]
        out = []
        for i, code in enumerate(self.regions["pcode"]):
            members = self.cercles["pcode"][self.member == i]
            found = [c for c in classes.reindex(members).dropna() if c in _CLASS_ORDER]
            best = max(found, key=_CLASS_ORDER.__getitem__) if found else None
            out.append({"pcode": code, "max_class": best})
        return pd.DataFrame(out)

    def annotate(self, table: pd.DataFrame, cercle_of_row: pd.Series) -> pd.DataFrame:
        """A cercle or commune table with its rows' 2023 région (``region_2023``,
        ``region_2023_pcode``, ``region_2023_approximate``); ``cercle_of_row``: each
        row's 2015 cercle P-code."""
        info = self.cercles.set_index("pcode")
        codes = cercle_of_row.astype(str).to_numpy()
        out = table.copy()
        for column in ("region_2023", "region_2023_pcode", "region_2023_approximate"):
            out[column] = info[column].reindex(codes).to_numpy()
        return out

    def describe(self) -> dict[str, Any]:
        """What the frame rests on, for a table's meta."""
        return {"frame": "2023", "frame_source": self.source.name, "frame_note": NOTE_2023}


def load_frame(settings: Settings, cercles: gpd.GeoDataFrame) -> Frame2023:
    """The 2023 régions of ``cercles`` (the 2015 ADM2 units) by the crosswalk."""
    path = crosswalk_path(settings)
    crosswalk = read_crosswalk(path)
    regions, member = regions_from_cercles(cercles, crosswalk)
    split = crosswalk.set_index("adm2_pcode_2015")["split"]
    codes = cercles["pcode"].astype(str).to_numpy()
    info = pd.DataFrame(
        {
            "pcode": codes,
            "region_2023": regions["name"].to_numpy()[member],
            "region_2023_pcode": regions["pcode"].to_numpy()[member],
            "region_2023_approximate": (split.reindex(codes) != "no").to_numpy(),
        }
    )
    return Frame2023(regions=regions, member=member, cercles=info, source=path)


def framed_table(
    table: pd.DataFrame, units: gpd.GeoDataFrame, key_level: str, annotate: Frame2023 | None
) -> pd.DataFrame:
    """``table`` (indexed like ``units``, the units of ``key_level``) with what its frame
    adds: ``approximate`` and ``cercles_2015`` for the 2023 régions built from cercles,
    the 2023 région of each cercle or commune when ``annotate`` is given."""
    rows = units.loc[table.index]
    if key_level == FRAME_LEVEL:
        return table.assign(
            approximate=rows["approximate"].to_numpy(), cercles_2015=rows["cercles"].to_numpy()
        )
    if annotate is None:
        return table
    return annotate.annotate(table, rows["pcode"] if key_level == "adm2" else rows["parent_pcode"])
