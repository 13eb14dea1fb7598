"""Administrative frames: the 2015 cercles regrouped into the 2023 régions.

Mali's boundary files of the 2015 frame (OCHA COD-AB: 8 régions + Bamako, 49 cercles +
Bamako) predate the law of 13 March 2023 (19 régions + the Bamako district).  Until
boundaries of the new frame are at hand, a *crosswalk* gives, for each 2015 cercle (ADM2
P-code), the 2023 région that holds its chef-lieu, whether part of the cercle went to
another région (``split``: yes / no / unknown) and the pages that say so
(``data/boundaries/mli_cercle_2015_to_region_2023.csv``, sourced in
``data/boundaries/SOURCES.md``).

- :func:`read_crosswalk` reads and checks it (every problem of every row at once);
- :func:`regions_from_cercles` dissolves the cercles into the 2023 régions and says,
  per région, whether its figures are *approximate*: one of its cercles lost part of
  its territory to another région, or it received part of a cercle it is not credited
  with (:data:`RECEIVES_PART_OF`).

Région identifiers of the new frame are this module's own (``R2023-<name>``): the
sources disagree on the official codes (see SOURCES.md), so none is invented.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import DataFileError, DataProblem, DataValidationError
from geo.settlements import normalize_name

__all__ = [
    "CROSSWALK_COLUMNS",
    "RECEIVES_PART_OF",
    "SPLIT_VALUES",
    "read_crosswalk",
    "region_code",
    "regions_from_cercles",
]

CROSSWALK_COLUMNS: tuple[str, ...] = (
    "adm2_pcode_2015",
    "adm2_name_2015",
    "adm1_name_2015",
    "region_2023",
    "split",
    "note",
    "source_url",
)
SPLIT_VALUES: tuple[str, ...] = ("yes", "no", "unknown")
#: 2015 cercles (split ``yes`` or ``unknown``) and the 2023 régions the crosswalk's notes
#: say received part of them, although the cercle is credited to its chef-lieu's région.
#: From the notes of the rows ML0205, ML0403, ML0601, ML0603 and ML0704.
RECEIVES_PART_OF: dict[str, tuple[str, ...]] = {
    "ML0205": ("Bougouni",),
    "ML0403": ("San",),
    "ML0601": ("Taoudénit",),
    "ML0603": ("Taoudénit",),
    "ML0704": ("Kidal", "Gao"),
}


def region_code(name: str) -> str:
    """The identifier of a 2023 région in Orienter's tables: ``R2023-`` and its folded
    name (``"Nioro du Sahel"`` -> ``"R2023-nioro-du-sahel"``)."""
    folded = normalize_name(name).replace(" ", "-")
    if not folded:
        raise ValueError(f"name={name!r} holds no letters or digits")
    return f"R2023-{folded}"


def read_crosswalk(path: str | Path) -> pd.DataFrame:
    """Read the 2015-cercle to 2023-région crosswalk (CSV, UTF-8).

    Returns
    -------
    pandas.DataFrame
        The :data:`CROSSWALK_COLUMNS`, one row per 2015 cercle, ``split`` lower case.

    Raises
    ------
    DataFileError
        The file is missing or lacks columns.
    DataValidationError
        Every bad row at once: an empty P-code or région, a P-code twice, a ``split``
        other than yes/no/unknown, a row without a source.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: crosswalk file not found")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in CROSSWALK_COLUMNS if c not in frame.columns]
    if missing:
        raise DataFileError(f"{path}: missing column(s) {', '.join(missing)}")
    frame = frame[list(CROSSWALK_COLUMNS)].apply(lambda col: col.str.strip())
    frame["split"] = frame["split"].str.lower()
    problems: list[DataProblem] = []
    seen: set[str] = set()
    for i, row in enumerate(frame.itertuples(index=False), start=2):  # line 1: header
        if not row.adm2_pcode_2015:
            problems.append(DataProblem(i, "adm2_pcode_2015", "empty"))
        elif row.adm2_pcode_2015 in seen:
            problems.append(DataProblem(i, "adm2_pcode_2015", "listed twice"))
        seen.add(row.adm2_pcode_2015)
        if not row.region_2023:
            problems.append(DataProblem(i, "region_2023", "empty"))
        if row.split not in SPLIT_VALUES:
            problems.append(DataProblem(i, "split", f"must be one of {', '.join(SPLIT_VALUES)}"))
        if not row.source_url:
            problems.append(DataProblem(i, "source_url", "empty: every row cites its source"))
    if problems:
        raise DataValidationError(f"{path}: crosswalk", problems)
    return frame.reset_index(drop=True)


def regions_from_cercles(
    cercles: gpd.GeoDataFrame, crosswalk: pd.DataFrame
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The 2023 régions as unions of 2015 cercles, and the région of each cercle.

    Parameters
    ----------
    cercles
        2015 ADM2 units (``pcode``, ``name``, geometry), as
        :func:`geo.boundaries.read_boundaries` returns them.
    crosswalk
        From :func:`read_crosswalk`.

    Returns
    -------
    régions : geopandas.GeoDataFrame
        ``pcode`` (:func:`region_code`), ``name``, ``level`` (1), ``cercles`` (the 2015
        P-codes, ``;``-separated), ``approximate`` (bool) and ``approximate_reason``
        (the cercles at fault, or None), geometry; sorted by name.
    member : numpy.ndarray
        Per row of ``cercles``, the row of ``régions`` holding it (int64).

    Raises
    ------
    DataValidationError
        A cercle of ``cercles`` has no row in the crosswalk (all of them are named).
    """
    if "pcode" not in cercles.columns:
        raise ValueError("cercles must have a 'pcode' column (use read_boundaries)")
    rows = crosswalk.set_index("adm2_pcode_2015")
    codes = cercles["pcode"].astype(str).to_numpy()
    unknown = [c for c in codes if c not in rows.index]
    if unknown:
        raise DataValidationError(
            "crosswalk",
            [DataProblem(None, "adm2_pcode_2015", f"{c} has no row") for c in unknown],
        )
    region_of = rows.loc[codes, "region_2023"].to_numpy()
    names = sorted(set(region_of), key=normalize_name)
    index = {name: i for i, name in enumerate(names)}
    member = np.array([index[r] for r in region_of], dtype=np.int64)
    split = rows.loc[codes, "split"].to_numpy()
    reasons: list[list[str]] = [[] for _ in names]
    for code, region, how in zip(codes, region_of, split, strict=True):
        if how != "no":
            reasons[index[region]].append(f"{code} split={how}")
        for other in RECEIVES_PART_OF.get(code, ()):
            if other in index and other != region:
                reasons[index[other]].append(f"part of {code}")
    pieces = gpd.GeoDataFrame(
        {"member": member}, geometry=cercles.geometry.to_numpy(), crs=cercles.crs
    )
    shapes = pieces.dissolve(by="member").sort_index()
    out = gpd.GeoDataFrame(
        {
            "pcode": [region_code(n) for n in names],
            "name": names,
            "level": 1,
            "cercles": [";".join(codes[member == i]) for i in range(len(names))],
            "approximate": [bool(r) for r in reasons],
            "approximate_reason": ["; ".join(r) if r else None for r in reasons],
        },
        geometry=shapes.geometry.to_numpy(),
        crs=cercles.crs,
    )
    return out, member
