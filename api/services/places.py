"""The settlements gazetteer of the data directory (place names to points)."""

from __future__ import annotations

from api.datasets import find_dataset
from api.settings import Settings
from geo.errors import DataFileError
from geo.settlements import Gazetteer, read_settlements

__all__ = ["find_gazetteer", "load_gazetteer"]


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
