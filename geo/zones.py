"""Conflict zones: a kernel density of conflict events on the travel-time grid.

Method
------
Events of the chosen types and window are counted into the cells of the travel-time
grid (optionally weighted by ``1 + fatalities``), smoothed with a Gaussian kernel of
standard deviation ``bandwidth_m`` (default 20 km) and expressed as **events per
1,000 km² per year**.  Cells are then classed:

- ``elevated``: density >= 1.0.  A Gaussian kernel of 20 km peaks at
  1 / (2 pi sigma^2) = 0.398 per 1,000 km², so 1.0 is about 2.5 events a year at one place;
- ``high``: density >= 5.0, about 12.5 events a year at one place (or more, spread out);
- ``low``: everything else.

On the development ACLED data for 2019-2020, ``high`` covers 2.9 % of Mali's cells: the
Mopti-centre hotspot (Koro, Bandiagara, Bankass, Douentza, Mopti, Djenné), Tominian,
Niono, and the Gao-Ansongo-Ménaka and Tombouctou areas.  Lower thresholds (0.4 / 2.0 were
tried first) put the whole of Bamako district in ``high`` on a handful of events a year,
which would close the capital under ``avoid``; that is why the thresholds are where they
are.

The thresholds are parameters (:data:`DEFAULT_THRESHOLDS`); with another bandwidth the
meaning of a threshold shifts, so the defaults are stated for 20 km.

Scenarios turn classes into per-cell speed factors for :func:`geo.costgraph.build_cost_graph`:
``slowed`` divides speeds by :data:`SLOWED_DIVISORS` inside zones, ``avoid`` closes high
zones and slows elevated ones.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio import features
from scipy.ndimage import gaussian_filter

from geo.costgraph import CostGraph
from geo.crs import GEOGRAPHIC_CRS
from geo.grid import Grid

__all__ = [
    "DEFAULT_BANDWIDTH_M",
    "DEFAULT_EVENT_TYPES",
    "DEFAULT_THRESHOLDS",
    "SCENARIOS",
    "SLOWED_DIVISORS",
    "ZONE_CLASSES",
    "ConflictSurface",
    "admin_summary",
    "classes_along_path",
    "conflict_surface",
    "default_window",
    "scenario_assumption",
    "scenario_cell_factor",
    "zone_at",
    "zone_polygons",
]

ZONE_CLASSES = ("low", "elevated", "high")
DEFAULT_EVENT_TYPES = ("Battles", "Violence against civilians", "Explosions/Remote violence")
DEFAULT_BANDWIDTH_M = 20_000.0
#: (elevated, high) lower bounds, events per 1,000 km² per year, for a 20 km bandwidth.
DEFAULT_THRESHOLDS = (1.0, 5.0)
SCENARIOS = ("baseline", "slowed", "avoid")
#: Speed divisors inside zones for ``slowed`` (and for elevated zones under ``avoid``).
#: high: 12.5, the conflict friction multiplier of the World Bank Health Access Metrics
#: near recent events (as the project's issue tracker cites it; not checked against the
#: original documentation); elevated: 2.5, Orienter's assumption (a fifth of the high one
#: on a log scale: checkpoints and detours rather than closure).
SLOWED_DIVISORS = {"elevated": 2.5, "high": 12.5}


@dataclass(frozen=True, eq=False)
class ConflictSurface:
    """Density (events per 1,000 km² per year) and zone class of every active grid cell."""

    grid: Grid
    density: np.ndarray  # float64 per active cell
    zone: np.ndarray  # int8 per active cell: 0 low, 1 elevated, 2 high
    start: date
    end: date
    n_events: int
    bandwidth_m: float
    thresholds: tuple[float, float]
    weight: str

    def describe(self) -> dict:
        """Parameters, for manifests and outputs."""
        return {
            "start": str(self.start),
            "end": str(self.end),
            "events": self.n_events,
            "bandwidth_m": self.bandwidth_m,
            "thresholds_per_1000km2_year": list(self.thresholds),
            "weight": self.weight,
        }


def default_window(events: gpd.GeoDataFrame) -> tuple[date, date]:
    """The last 12 months present in ``events``: (last date - 364 days, last date)."""
    if events.empty:
        raise ValueError("no events: cannot choose a default window; pass start and end")
    last = pd.Timestamp(events["date"].max()).date()
    return (pd.Timestamp(last) - pd.Timedelta(days=364)).date(), last


def conflict_surface(
    events: gpd.GeoDataFrame,
    grid: Grid,
    *,
    start: date,
    end: date,
    bandwidth_m: float = DEFAULT_BANDWIDTH_M,
    weight: str = "count",
    thresholds: tuple[float, float] = DEFAULT_THRESHOLDS,
) -> ConflictSurface:
    """Kernel density of ``events`` (already filtered to the window and types) on ``grid``.

    Parameters
    ----------
    events
        Conflict events (``geo.conflict`` schema), EPSG:4326.
    start, end
        The window the events cover (inclusive); the density is per year of it.
    weight
        ``"count"`` (each event 1) or ``"fatalities"`` (each event ``1 + fatalities``).
    thresholds
        Lower bounds of ``elevated`` and ``high``, events per 1,000 km² per year.
    """
    if not bandwidth_m > 0:
        raise ValueError(f"bandwidth_m must be > 0 metres, got {bandwidth_m!r}")
    if weight not in ("count", "fatalities"):
        raise ValueError(f"weight must be 'count' or 'fatalities', got {weight!r}")
    lo, hi = thresholds
    if not 0 < lo < hi:
        raise ValueError(f"thresholds must be 0 < elevated < high, got {thresholds!r}")
    days = (pd.Timestamp(end) - pd.Timestamp(start)).days + 1
    if days <= 0:
        raise ValueError(f"start {start} is after end {end}")
    counts = np.zeros((grid.nrows, grid.ncols))
    if not events.empty:
        pts = events.to_crs(grid.crs)
        x, y = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()
        col = np.floor((x - grid.x0) / grid.cell_m).astype(np.int64)
        row = np.floor((grid.y0 - y) / grid.cell_m).astype(np.int64)
        ok = (row >= 0) & (row < grid.nrows) & (col >= 0) & (col < grid.ncols)
        w = np.ones(len(pts)) if weight == "count" else 1.0 + pts["fatalities"].to_numpy(float)
        np.add.at(counts, (row[ok], col[ok]), w[ok])
    smooth = gaussian_filter(counts, sigma=bandwidth_m / grid.cell_m, mode="constant", truncate=4.0)
    cell_km2 = (grid.cell_m / 1000.0) ** 2
    per_1000km2_year = smooth / cell_km2 * 1000.0 / (days / 365.25)
    density = per_1000km2_year[grid.active]
    zone = np.zeros(len(density), dtype=np.int8)
    zone[density >= lo] = 1
    zone[density >= hi] = 2
    if events.empty:
        warnings.warn(
            f"no conflict events between {start} and {end}: every cell is 'low'", stacklevel=2
        )
    return ConflictSurface(
        grid=grid,
        density=density,
        zone=zone,
        start=start,
        end=end,
        n_events=len(events),
        bandwidth_m=float(bandwidth_m),
        thresholds=(float(lo), float(hi)),
        weight=weight,
    )


def zone_at(surface: ConflictSurface, points: gpd.GeoSeries) -> pd.Series:
    """Zone class name at each point (``None`` outside the grid)."""
    pts = points.to_crs(surface.grid.crs)
    node = surface.grid.locate(pts.x.to_numpy(), pts.y.to_numpy())
    names = np.array(ZONE_CLASSES, dtype=object)
    return pd.Series(
        np.where(node >= 0, names[surface.zone[np.maximum(node, 0)]], None),
        index=points.index,
        dtype=object,
    )


def zone_polygons(surface: ConflictSurface, events: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One (multi)polygon per zone class present, with its events, fatalities and area."""
    grid = surface.grid
    raster = grid.to_raster(surface.zone.astype(np.int16), fill=-1).astype(np.int16)
    event_zone = zone_at(surface, events.geometry) if len(events) else pd.Series(dtype=object)
    rows = []
    for k, name in enumerate(ZONE_CLASSES):
        mask = raster == k
        if not mask.any():
            continue
        shapes = [
            shapely.geometry.shape(g)
            for g, v in features.shapes(raster, mask=mask, transform=grid.transform)
            if v == k
        ]
        geom = shapely.union_all(shapes)
        inside = event_zone == name
        rows.append(
            {
                "zone_class": name,
                "events": int(inside.sum()),
                "fatalities": int(events.loc[inside, "fatalities"].sum()) if len(events) else 0,
                "area_km2": round(float(mask.sum()) * (grid.cell_m / 1000) ** 2, 1),
                "geometry": geom,
            }
        )
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=grid.crs)
    return out.to_crs(GEOGRAPHIC_CRS)


def admin_summary(
    surface: ConflictSurface, events: gpd.GeoDataFrame, units: gpd.GeoDataFrame
) -> pd.DataFrame:
    """Per admin unit: events, fatalities, share of area in each class, highest class.

    ``units`` is a boundary layer (``pcode, name, geometry``).  Areas are counted in grid
    cells (a cell belongs to the unit holding its centre); a unit smaller than a cell
    takes the class of the cell holding its inner point.
    """
    grid = surface.grid
    metric = units.to_crs(grid.crs).reset_index(drop=True)
    label = features.rasterize(
        ((g, i + 1) for i, g in enumerate(metric.geometry)),
        out_shape=(grid.nrows, grid.ncols),
        transform=grid.transform,
        fill=0,
        dtype="int32",
    )[grid.active]
    n = len(metric)
    zone = surface.zone.astype(np.int64)
    cells = np.zeros((n + 1, 3))
    np.add.at(cells, (label, zone), 1)
    cells = cells[1:]
    total = cells.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = cells / total[:, None]
    inner = metric.geometry.representative_point()
    node = grid.locate(inner.x.to_numpy(), inner.y.to_numpy())
    fallback = np.where(node >= 0, zone[np.maximum(node, 0)], 0)
    present = cells > 0
    max_class = np.where(
        total > 0, np.where(present[:, 2], 2, np.where(present[:, 1], 1, 0)), fallback
    )
    share = np.where(total[:, None] > 0, share, np.eye(3)[fallback])
    if len(events):
        joined = gpd.sjoin(
            events.to_crs(grid.crs)[["fatalities", "geometry"]],
            metric[["pcode", "geometry"]],
            how="inner",
            predicate="within",
        )
        joined = joined[~joined.index.duplicated(keep="first")]
        agg = joined.groupby("pcode").agg(
            events=("fatalities", "size"), fatalities=("fatalities", "sum")
        )
    else:
        agg = pd.DataFrame(columns=["events", "fatalities"])
    out = pd.DataFrame(
        {
            "pcode": metric["pcode"].astype(str),
            "name": metric["name"].astype(str),
            "events": metric["pcode"].map(agg["events"]).fillna(0).astype(int),
            "fatalities": metric["pcode"].map(agg["fatalities"]).fillna(0).astype(int),
            "share_low": np.round(share[:, 0], 4),
            "share_elevated": np.round(share[:, 1], 4),
            "share_high": np.round(share[:, 2], 4),
            "max_class": np.array(ZONE_CLASSES, dtype=object)[max_class],
            "mean_density": np.round(
                np.bincount(label, weights=surface.density, minlength=n + 1)[1:]
                / np.maximum(total, 1),
                3,
            ),
        }
    )
    return out


def scenario_cell_factor(surface: ConflictSurface, scenario: str) -> np.ndarray:
    """Speed factor per active cell for ``scenario`` (1 = normal, 0 = closed)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; allowed: {', '.join(SCENARIOS)}")
    factor = np.ones(len(surface.zone))
    if scenario == "baseline":
        return factor
    factor[surface.zone == 1] = 1.0 / SLOWED_DIVISORS["elevated"]
    factor[surface.zone == 2] = 0.0 if scenario == "avoid" else 1.0 / SLOWED_DIVISORS["high"]
    return factor


_ASSUMES = {
    "fr": {
        "slowed": "Scénario « ralenti » : vitesses divisées par {high} dans les zones de "
        "conflit fort et par {elevated} dans les zones de conflit élevé",
        "avoid": "Scénario « évitement » : zones de conflit fort fermées (aucun passage), "
        "vitesses divisées par {elevated} dans les zones de conflit élevé",
        "window": " ; zones tirées des événements du {start} au {end}",
        "source": " ({source})",
    },
    "en": {
        "slowed": "“Slowed” scenario: speeds divided by {high} in high-conflict zones and "
        "by {elevated} in elevated-conflict zones",
        "avoid": "“Avoid” scenario: high-conflict zones closed (no passage), speeds divided "
        "by {elevated} in elevated-conflict zones",
        "window": "; zones drawn from the events of {start} to {end}",
        "source": " ({source})",
    },
}


def scenario_assumption(
    scenario: str,
    lang: str = "fr",
    *,
    start: str | None = None,
    end: str | None = None,
    source: str | None = None,
) -> str | None:
    """What ``scenario`` assumes, in one line of ``lang`` (None for ``baseline``): the
    slowing factors or the closed zones (:data:`SLOWED_DIVISORS`) and the date range of
    the events the zones come from.

    >>> scenario_assumption("avoid", "en").split(":")[1].strip()
    'high-conflict zones closed (no passage), speeds divided by 2.5 in elevated-conflict zones.'
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; allowed: {', '.join(SCENARIOS)}")
    if lang not in _ASSUMES:
        raise ValueError(f"lang must be one of {tuple(_ASSUMES)}, got {lang!r}")
    if scenario == "baseline":
        return None
    words = _ASSUMES[lang]

    def number(value: float) -> str:
        text = f"{value:g}"
        return text.replace(".", ",") if lang == "fr" else text

    text = words[scenario].format(
        high=number(SLOWED_DIVISORS["high"]), elevated=number(SLOWED_DIVISORS["elevated"])
    )
    if start and end:
        text += words["window"].format(start=start, end=end)
        if source:
            text += words["source"].format(source=source)
    return text + "."


def classes_along_path(
    graph: CostGraph, zone: np.ndarray, nodes: np.ndarray
) -> tuple[str, dict[str, float]]:
    """Worst zone class a path crosses and the km it spends in each class.

    ``zone`` is the class (0 low, 1 elevated, 2 high) of each active cell
    (:attr:`ConflictSurface.zone`).  Each edge's length counts in the worse class of its
    two end cells (road vertices and attached points take the class of their cell).
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    cell = np.where(
        nodes < graph.n_cells, nodes, graph.grid.locate(graph.node_x[nodes], graph.node_y[nodes])
    )
    klass = np.where(cell >= 0, zone[np.maximum(cell, 0)], 0)
    km = dict.fromkeys(ZONE_CLASSES, 0.0)
    if len(nodes) < 2:
        return ZONE_CLASSES[int(klass.max()) if len(klass) else 0], km
    edge_class = np.maximum(klass[:-1], klass[1:])
    length = np.asarray(graph.metres[nodes[:-1], nodes[1:]]).ravel() / 1000.0
    for k, name in enumerate(ZONE_CLASSES):
        km[name] = round(float(length[edge_class == k].sum()), 1)
    return ZONE_CLASSES[int(klass.max())], km
