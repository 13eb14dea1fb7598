"""One coverage table as every output receives it (:class:`CoverageResult`), and its rows
as JSON-ready records; re-exported by :mod:`api.services.analysis`, which makes them."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.coverage import to_hxl

__all__ = ["CoverageResult", "to_records"]


def to_records(table: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts: ``inf`` and NaN become None."""
    clean = table.replace([np.inf, -np.inf], np.nan).astype(object)
    return clean.where(clean.notna(), None).to_dict("records")


@dataclass(frozen=True)
class CoverageResult:
    """One coverage table, its unit polygons and what it rests on."""

    table: pd.DataFrame
    units: gpd.GeoDataFrame
    meta: dict = field(default_factory=dict)
    level: str = "adm1"

    def records(self) -> list[dict]:
        """The rows as JSON-ready dicts (``inf`` and NaN as None)."""
        return to_records(self.table)

    def hxl(self) -> pd.DataFrame:
        """The table with its HXL hashtag row first (write with ``to_csv(index=False)``)."""
        return to_hxl(self.table, level=int(self.level[-1]))
