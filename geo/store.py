"""Save and load built travel-time layers: graphs (npz), matrices (npy), rasters (GeoTIFF).

Matrices are plain ``.npy`` files so the API can memory-map them: a k-nearest query then
reads one row from disk instead of holding every matrix in memory.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
import scipy.sparse as sp
from pyproj import CRS

from geo.costgraph import CostGraph
from geo.grid import Grid
from geo.traveltime import SourceMatrix

__all__ = [
    "atomic_path",
    "load_graph",
    "load_matrix",
    "save_graph",
    "save_matrix",
    "write_raster",
]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_graph(graph: CostGraph, path: str | Path) -> None:
    """Write ``graph`` (grid, nodes and both CSR matrices) to one ``.npz`` file."""
    g = graph.grid
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            grid_meta=np.array(
                json.dumps(
                    {
                        "crs": g.crs.to_wkt(),
                        "x0": g.x0,
                        "y0": g.y0,
                        "cell_m": g.cell_m,
                        "nrows": g.nrows,
                        "ncols": g.ncols,
                    }
                )
            ),
            active=np.packbits(g.active, axis=None),
            node_x=graph.node_x,
            node_y=graph.node_y,
            cell_pace=graph.cell_pace,
            n_road=np.array(graph.n_road),
            mode=np.array(graph.mode),
            description=np.array(json.dumps(graph.description)),
            min_data=graph.minutes.data,
            min_indices=graph.minutes.indices,
            min_indptr=graph.minutes.indptr,
            m_data=graph.metres.data,
            m_indices=graph.metres.indices,
            m_indptr=graph.metres.indptr,
        )


def load_graph(path: str | Path) -> CostGraph:
    """Read a graph written by :func:`save_graph`."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["grid_meta"]))
        n_cells_total = meta["nrows"] * meta["ncols"]
        active = np.unpackbits(z["active"], count=n_cells_total).astype(bool)
        grid = Grid(
            crs=CRS.from_wkt(meta["crs"]),
            x0=meta["x0"],
            y0=meta["y0"],
            cell_m=meta["cell_m"],
            nrows=meta["nrows"],
            ncols=meta["ncols"],
            active=active.reshape(meta["nrows"], meta["ncols"]),
        )
        n = len(z["node_x"])
        minutes = sp.csr_matrix((z["min_data"], z["min_indices"], z["min_indptr"]), shape=(n, n))
        metres = sp.csr_matrix((z["m_data"], z["m_indices"], z["m_indptr"]), shape=(n, n))
        return CostGraph(
            grid=grid,
            node_x=z["node_x"],
            node_y=z["node_y"],
            minutes=minutes,
            metres=metres,
            cell_pace=z["cell_pace"],
            n_road=int(z["n_road"]),
            mode=str(z["mode"]),
            description=json.loads(str(z["description"])),
        )


def save_matrix(matrix: SourceMatrix, directory: str | Path) -> None:
    """Write a :class:`SourceMatrix` as three ``.npy`` files in ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in (
        ("sources", matrix.sources),
        ("minutes", matrix.minutes),
        ("pred", matrix.pred),
    ):
        with atomic_path(directory / f"{name}.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, array)


def load_matrix(directory: str | Path, *, mmap: bool = True) -> SourceMatrix:
    """Read a matrix written by :func:`save_matrix`, memory-mapped by default."""
    directory = Path(directory)
    mode: Literal["r"] | None = "r" if mmap else None
    return SourceMatrix(
        sources=np.load(directory / "sources.npy"),
        minutes=np.load(directory / "minutes.npy", mmap_mode=mode),
        pred=np.load(directory / "pred.npy", mmap_mode=mode),
    )


def write_raster(
    path: str | Path, grid: Grid, band: np.ndarray, *, nodata: float | int, tags: dict | None = None
) -> None:
    """Write one band over ``grid`` as a compressed GeoTIFF (atomically)."""
    band = np.asarray(band)
    with (
        atomic_path(path) as tmp,
        rasterio.open(
            tmp,
            "w",
            driver="GTiff",
            height=grid.nrows,
            width=grid.ncols,
            count=1,
            dtype=band.dtype,
            crs=grid.crs.to_wkt(),
            transform=grid.transform,
            nodata=nodata,
            compress="deflate",
            tiled=True,
        ) as dst,
    ):
        dst.write(band, 1)
        if tags:
            dst.update_tags(**{k: str(v) for k, v in tags.items()})
