"""The three maps of a briefing: providers, travel time and conflict zones (static, offline).

Drawn by :mod:`web.static_maps` on the région's frame in the metric CRS: the public
providers (numbered as in the briefing's table), the public travel-time surface of the
One-Stop Centres (car, baseline) read in a window around the région, and the conflict
zones of the build.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from api.services.analysis import Analysis
from geo.crs import METRIC_CRS
from web.briefing import MapImage
from web.i18n import translate
from web.static_maps import MapFrame, conflict_map, map_frame, providers_map, travel_time_map

__all__ = ["FULL_MAP_BOX_IN", "HALF_MAP_IN", "briefing_maps"]

#: Printed width of the two maps shown side by side, inches (about 88 mm).
HALF_MAP_IN = 3.5
#: Printable box of the full-width map, inches (186 x 94 mm, as in print.css).
FULL_MAP_BOX_IN = (7.3, 3.7)
_LEGEND_IN = 0.5  # about two legend rows below the map


def _full_map_width(frame: MapFrame) -> float:
    """Width at which the providers map prints 1:1 (text at its point size) in its box."""
    max_w, max_h = FULL_MAP_BOX_IN
    return float(min(max_w, max(3.0, (max_h - _LEGEND_IN) / frame.aspect)))


def _surface_window(
    path: Path, bounds: tuple[float, float, float, float]
) -> tuple[np.ndarray, Affine] | None:
    if not path.is_file():
        return None
    xmin, ymin, xmax, ymax = bounds
    with rasterio.open(path) as src:
        t = src.transform  # north-up grid: t.a > 0, t.e < 0
        col0 = max(0, int(np.floor((xmin - t.c) / t.a)))
        row0 = max(0, int(np.floor((ymax - t.f) / t.e)))
        col1 = min(src.width, int(np.ceil((xmax - t.c) / t.a)))
        row1 = min(src.height, int(np.ceil((ymin - t.f) / t.e)))
        if col1 <= col0 or row1 <= row0:
            return None
        window = Window(col0, row0, col1 - col0, row1 - row0)
        data = src.read(1, window=window, masked=False).astype(float)
        transform = Affine(t.a, t.b, t.c + col0 * t.a, t.d, t.e, t.f + row0 * t.e)
        return data, transform


def briefing_maps(
    analysis: Analysis,
    pcode: str,
    public: gpd.GeoDataFrame,
    numbers: dict[str, int],
    *,
    lang: str,
    dpi: int,
    regions: gpd.GeoDataFrame | None = None,
    cercles: set[str] | None = None,
) -> list[MapImage]:
    """The maps of the région ``pcode`` of ``regions`` (default: the adm1 units), its
    ``cercles`` drawn inside (default: those whose P-code starts with ``pcode``)."""

    def t(key: str, **values: object) -> str:
        return translate(f"brief.{key}", lang, **values)

    regions = (analysis.units("adm1") if regions is None else regions).to_crs(METRIC_CRS)
    units = analysis.units("adm2").to_crs(METRIC_CRS)
    codes = units["pcode"].astype(str)
    inside = codes.isin(cercles) if cercles is not None else codes.str.startswith(pcode)
    region = regions[regions["pcode"].astype(str) == pcode]
    frame = map_frame(region, units[inside], regions[regions["pcode"].astype(str) != pcode])
    shown = public.to_crs(METRIC_CRS)
    built = analysis.manifest.get("built_at") or "–"
    maps = [
        MapImage(
            "providers",
            t("map_providers_title"),
            t("map_providers_caption"),
            providers_map(
                frame, shown, numbers=numbers, lang=lang, dpi=dpi, width_in=_full_map_width(frame)
            ),
        )
    ]
    root = analysis.settings.build_dir
    window = _surface_window(
        root / "surfaces" / "public" / "one_stop_centre-car-baseline.tif", frame.bounds
    )
    if window is not None:
        minutes, transform = window
        maps.append(
            MapImage(
                "travel_time",
                t("map_time_title"),
                t("map_time_caption", built=built),
                travel_time_map(
                    frame,
                    minutes,
                    transform,
                    providers=shown,
                    numbers=numbers,
                    lang=lang,
                    dpi=dpi,
                    width_in=HALF_MAP_IN,
                ),
            )
        )
    zones_path = root / "conflict" / "zones.parquet"
    conflict = analysis.manifest.get("conflict")
    zones = gpd.read_parquet(zones_path).to_crs(METRIC_CRS) if zones_path.is_file() else None
    thresholds = tuple(conflict.get("thresholds_per_1000km2_year", ())) if conflict else ()
    maps.append(
        MapImage(
            "conflict",
            t("map_conflict_title"),
            t("map_conflict_caption", start=conflict.get("start"), end=conflict.get("end"))
            if conflict and zones is not None
            else t("map_conflict_caption_none"),
            conflict_map(
                frame,
                zones,
                thresholds=thresholds if len(thresholds) == 2 else None,
                lang=lang,
                dpi=dpi,
                width_in=HALF_MAP_IN,
            ),
        )
    )
    return maps
