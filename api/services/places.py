"""The settlements gazetteer of the data directory (place names to points)."""

from __future__ import annotations

import pandas as pd

from api.datasets import find_dataset
from api.settings import Settings
from geo.errors import DataFileError
from geo.settlements import Gazetteer, read_settlements

__all__ = ["ALTERNATIVES", "find_gazetteer", "load_gazetteer", "resolve_place"]


def find_gazetteer(settings: Settings) -> Gazetteer | None:
    """The gazetteer of the data directory, or None when it has no settlements file."""
    path = find_dataset(settings, "settlements")
    return None if path is None else Gazetteer.from_settlements(read_settlements(path))


def load_gazetteer(settings: Settings) -> Gazetteer:
    """The gazetteer of the data directory; :class:`DataFileError` when it is missing."""
    found = find_gazetteer(settings)
    if found is None:
        raise DataFileError(
            f"no settlements file under {settings.data_dir / 'settlements'}; "
            "run `orienter data fetch` or set ORIENTER_DATA_DIR"
        )
    return found


#: How many other places an answer offers when a name was resolved without a pick.
ALTERNATIVES = 6


def resolve_place(gazetteer: Gazetteer, text: str) -> tuple[dict | None, list[dict]]:
    """The settlement ``text`` (a name or a P-code) resolves to, and the other places the
    name could mean: towns first (a typo of a town's name, "Kona" for Konna), then the
    other places of that name, each with its commune, cercle and région.  A P-code (a
    place picked from the suggestions) has no alternatives.

    Raises
    ------
    ValueError
        ``text`` holds no letter or digit.
    """
    found = gazetteer.resolve(text)
    value = str(text).strip()
    if found is None or (value.upper().startswith("ML") and value[2:].isdigit()):
        return found, []
    others = gazetteer.search(value, limit=30)
    others = others[others["pcode"].astype(str) != found["pcode"]]
    towns = others[others["place_class"] <= 4]
    ordered = pd.concat([towns, others[others["place_class"] > 4]])
    keep = ["pcode", "name", "adm1_name", "adm2_name", "adm3_name", "place_class"]
    rows = ordered.head(ALTERNATIVES)[keep].astype(object)
    return found, rows.where(rows.notna(), None).to_dict("records")
