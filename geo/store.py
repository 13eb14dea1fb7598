"""Save and load built travel-time layers: graphs and labels (``.npy``), rasters (GeoTIFF).

Graphs and labels are directories of plain ``.npy`` files so the API can memory-map
them: server processes share one copy in the page cache, and a query reads a few rows
from disk instead of holding every layer in memory.  Directories are replaced whole.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
import scipy.sparse as sp
from pyproj import CRS

from geo.costgraph import CostGraph
from geo.grid import Grid
from geo.labels import NearestLabels

__all__ = [
    "atomic_dir",
    "atomic_path",
    "load_graph",
    "load_labels",
    "plain_array",
    "save_graph",
    "save_labels",
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


_GRAPH_ARRAYS = ("node_x", "node_y", "cell_pace", "minutes", "metres", "indices", "indptr")


def save_graph(graph: CostGraph, directory: str | Path) -> None:
    """Write ``graph`` as a directory: ``meta.json`` (grid, mode) and one ``.npy`` per array.

    Plain ``.npy`` files so that :func:`load_graph` can memory-map them: several server
    processes then share one copy in the page cache.  Minutes and metres share one CSR
    structure (metres as float32: centimetres are enough).  The directory is replaced
    whole (written beside it, then renamed), so a reader never sees half a graph.
    """
    directory = Path(directory)
    g = graph.grid
    meta = {
        "crs": g.crs.to_wkt(),
        "x0": g.x0,
        "y0": g.y0,
        "cell_m": g.cell_m,
        "nrows": g.nrows,
        "ncols": g.ncols,
        "n_road": int(graph.n_road),
        "mode": graph.mode,
        "description": graph.description,
    }
    arrays = {
        "active": np.packbits(g.active, axis=None),
        "node_x": graph.node_x,
        "node_y": graph.node_y,
        "cell_pace": graph.cell_pace,
        "minutes": graph.minutes.data,
        "metres": np.asarray(graph.metres.data, dtype=np.float32),
        "indices": graph.minutes.indices,
        "indptr": graph.minutes.indptr,
    }
    with atomic_dir(directory) as tmp:
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", np.asarray(array))


def load_graph(directory: str | Path, *, mmap: bool = True) -> CostGraph:
    """Read a graph written by :func:`save_graph`, its arrays memory-mapped by default."""
    directory = Path(directory)
    meta_path = directory / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{directory} holds no saved graph (meta.json); rebuild")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    mode: Literal["r"] | None = "r" if mmap else None
    z = {
        name: plain_array(np.load(directory / f"{name}.npy", mmap_mode=mode))
        for name in _GRAPH_ARRAYS
    }
    n_cells_total = meta["nrows"] * meta["ncols"]
    active = np.unpackbits(np.load(directory / "active.npy"), count=n_cells_total).astype(bool)
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
    return CostGraph(
        grid=grid,
        node_x=z["node_x"],
        node_y=z["node_y"],
        minutes=_csr(z["minutes"], z["indices"], z["indptr"], n),
        metres=_csr(z["metres"], z["indices"], z["indptr"], n),
        cell_pace=z["cell_pace"],
        n_road=int(meta["n_road"]),
        mode=str(meta["mode"]),
        description=dict(meta["description"]),
    )


def _csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, n: int) -> sp.csr_matrix:
    """A CSR matrix over (possibly memory-mapped) arrays, without copying them."""
    matrix = sp.csr_matrix((n, n), dtype=data.dtype)
    matrix.data, matrix.indices, matrix.indptr = data, indices, indptr
    return matrix


_LABEL_ARRAYS = ("source", "minutes", "pred", "ids", "x", "y", "entered")


def save_labels(labels: NearestLabels, directory: str | Path) -> None:
    """Write :class:`~geo.labels.NearestLabels` as one ``.npy`` per array (replaced whole)."""
    with atomic_dir(Path(directory)) as tmp:
        for name in _LABEL_ARRAYS:
            np.save(tmp / f"{name}.npy", np.asarray(getattr(labels, name)))


def load_labels(directory: str | Path, *, mmap: bool = True) -> NearestLabels:
    """Read labels written by :func:`save_labels`; the per-node arrays memory-mapped."""
    directory = Path(directory)
    mode: Literal["r"] | None = "r" if mmap else None
    per_node = {"source", "minutes", "pred"}
    arrays: dict[str, Any] = {
        # plain views of the memory maps: shared pages, without np.memmap's slow indexing
        name: plain_array(
            np.load(directory / f"{name}.npy", mmap_mode=mode if name in per_node else None)
        )
        for name in _LABEL_ARRAYS
    }
    return NearestLabels(**arrays)


def plain_array(array: np.ndarray) -> np.ndarray:
    """An ``np.memmap`` as a plain ndarray over the same mapped buffer (no copy)."""
    return array.view(np.ndarray) if isinstance(array, np.memmap) else array


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; it replaces ``path`` whole only if the
    block succeeds (an old ``path`` is removed after the new one is in place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; readers need the usual mode
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old."))
            os.rmdir(old)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


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
