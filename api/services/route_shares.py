"""Which grid cells' travel times rest mostly on off-road legs or on long detours.

The coverage tables (:mod:`api.services.analysis`) say, per unit, how many of the people
who reach a provider do so on a route the finder would flag (:mod:`geo.route_flags`):
this module reads the build's graph and *public* label set of one (service, mode,
scenario) and flags every grid cell's route to its nearest public provider, computed
lazily from the stored labels (no rebuild: about a second per set on a national 1 km
graph; the analysis keeps them).  Public only: a confidential provider changes no flag.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geo.errors import DataFileError
from geo.grid import Grid
from geo.route_flags import nearest_routes
from geo.store import load_graph, load_labels

__all__ = ["Flags", "cell_route_flags"]

#: (offroad, detour) booleans per active grid cell.
Flags = tuple[np.ndarray, np.ndarray]


def cell_route_flags(
    build_dir: Path, grid: Grid, *, service: str, mode: str, scenario: str
) -> Flags | None:
    """``offroad`` and ``detour`` per active cell of ``grid`` for the route of each cell to
    its nearest public provider of ``service``; None when the build holds no graph of
    ``mode``/``scenario`` (a build of surfaces only).  No public provider: no flag."""
    tag = f"{mode}-{scenario}"
    graph_dir = build_dir / "graphs" / tag
    if not (graph_dir / "meta.json").is_file():
        return None
    graph = load_graph(graph_dir)
    if graph.n_cells != grid.n_cells or not np.array_equal(graph.grid.active, grid.active):
        raise DataFileError(f"{graph_dir} does not match the grid of this data directory; rebuild")
    set_dir = build_dir / "labels" / tag / "public" / service
    if not (set_dir / "source.npy").is_file():
        none = np.zeros(grid.n_cells, dtype=bool)
        return none, none.copy()
    return nearest_routes(graph, load_labels(set_dir)).flags()
