"""Travel-time surfaces on a :class:`~geo.costgraph.CostGraph`, and their isochrones.

- :func:`nearest_source_times` — one multi-source Dijkstra from graph *nodes*: minutes
  from every node to its nearest source node and which one it is.  Providers, which are
  points and never nodes, go through :func:`geo.labels.nearest_labels` instead (the k
  nearest of them per node, routes included).
- :func:`isochrones` — polygons of the cells within each threshold of a surface.

Unreachable nodes have ``inf`` minutes; results turn them into explicit nulls with a
reason, never a silent 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import shapely
from rasterio import features
from scipy.sparse.csgraph import dijkstra

from geo.costgraph import CostGraph
from geo.crs import GEOGRAPHIC_CRS

__all__ = ["isochrones", "nearest_source_times"]


def _check_sources(graph: CostGraph, sources: np.ndarray) -> np.ndarray:
    sources = np.asarray(sources, dtype=np.int64)
    if sources.ndim != 1 or len(sources) == 0:
        raise ValueError("sources must be a non-empty 1-D array of node ids")
    if (sources < 0).any() or (sources >= graph.n_nodes).any():
        bad = sources[(sources < 0) | (sources >= graph.n_nodes)]
        raise ValueError(
            f"source node ids {bad[:5].tolist()} are not in the graph "
            f"(0..{graph.n_nodes - 1}); a point outside the grid cannot be a source"
        )
    return sources


def nearest_source_times(graph: CostGraph, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minutes from every node to its nearest source, and that source's position in ``sources``.

    Returns
    -------
    minutes : float64 array (n_nodes,)
        ``inf`` where no source can be reached.
    nearest : int64 array (n_nodes,)
        Index into ``sources`` of the nearest one; -1 where unreachable.
    """
    sources = _check_sources(graph, sources)
    dist, _pred, src = dijkstra(
        graph.minutes, directed=True, indices=sources, min_only=True, return_predecessors=True
    )
    # node id of the nearest source -> its position in ``sources``
    order = np.argsort(sources, kind="stable")
    reached = src >= 0
    position = np.full(graph.n_nodes, -1, dtype=np.int64)
    position[reached] = order[np.searchsorted(sources, src[reached], sorter=order)]
    return dist, position


def isochrones(
    graph: CostGraph,
    minutes: np.ndarray,
    thresholds_min: Sequence[float] = (30, 60, 120, 300),
) -> gpd.GeoDataFrame:
    """Polygons of the grid cells reached within each threshold, EPSG:4326.

    ``minutes`` holds a time per node or per cell (only the first ``n_cells`` are used):
    a service's surface (:func:`geo.labels.labels_surface`), or one provider's bounded
    reach (:meth:`geo.labels.Reach.times`).
    """
    thresholds = sorted(float(t) for t in thresholds_min)
    if not thresholds or thresholds[0] <= 0:
        raise ValueError(f"thresholds_min must be positive minutes, got {thresholds_min!r}")
    cells = np.asarray(minutes[: graph.n_cells], dtype=np.float64)
    raster = graph.grid.to_raster(cells, fill=np.inf)
    rows, geoms = [], []
    for t in thresholds:
        mask = raster <= t
        if not mask.any():
            continue
        shapes = [
            shapely.geometry.shape(geom)
            for geom, value in features.shapes(
                mask.astype(np.uint8), mask=mask, transform=graph.grid.transform
            )
            if value == 1
        ]
        rows.append(t)
        geoms.append(shapely.union_all(shapes))
    out = gpd.GeoDataFrame({"threshold_min": rows}, geometry=geoms, crs=graph.grid.crs)
    return out.to_crs(GEOGRAPHIC_CRS)
