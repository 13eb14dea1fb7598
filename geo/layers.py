"""Built travel-time layers: the label sets of one (mode, scenario), on disk and in memory.

A layer is a graph (no provider in it) and, for each *audience* and *service*, the
:class:`~geo.labels.NearestLabels` of the providers of that audience offering that
service:

- ``public`` sets hold public providers only (:func:`geo.providers.public_mask`); their
  ids are rows of the public provider table.  Every public answer, figure and map is
  computed from them alone, so adding a confidential record to the directory changes
  no public file and no public answer.
- ``confidential`` sets hold the confidential providers; their ids continue the public
  rows (row ``n_public + i`` of the combined table).  Only a caseworker's answers merge
  them in.

Services are :data:`SERVICE_KEYS` plus :data:`OTHER` (located providers offering none
of them), so that "any service" is the merge of every set of an audience.

Layout of a layer directory: ``<audience>/<service>/`` per set, one ``.npy`` per array
(:func:`geo.store.save_labels`), memory-mapped when loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.costgraph import CostGraph
from geo.crs import METRIC_CRS
from geo.labels import DEFAULT_K, NearestLabels, labels_surface, nearest_labels, surface_without
from geo.nearest import providers_offering
from geo.providers import SERVICES, public_mask
from geo.store import atomic_dir, load_labels, save_labels

__all__ = [
    "AUDIENCES",
    "OTHER",
    "SERVICE_KEYS",
    "Layer",
    "ProviderTables",
    "compute_sets",
    "load_sets",
    "save_sets",
    "set_rows",
]

#: The services a query or a figure may ask for: the One-Stop Centre type, then services.
SERVICE_KEYS: tuple[str, ...] = ("one_stop_centre", *SERVICES)
#: The set of located providers that offer none of :data:`SERVICE_KEYS`.
OTHER = "other"
AUDIENCES: tuple[str, ...] = ("public", "confidential")


@dataclass(frozen=True, eq=False)
class ProviderTables:
    """The located providers split by audience: ``public`` rows first, then
    ``confidential`` ones (the combined table a caseworker's answers use)."""

    public: gpd.GeoDataFrame
    confidential: gpd.GeoDataFrame

    @classmethod
    def split(cls, providers: gpd.GeoDataFrame) -> ProviderTables:
        """Split located providers with :func:`geo.providers.public_mask` (fails closed)."""
        mask = public_mask(providers)
        return cls(
            public=providers[mask].reset_index(drop=True),
            confidential=providers[~mask].reset_index(drop=True),
        )

    def frame(self, audience: str) -> gpd.GeoDataFrame:
        """The rows of one audience."""
        if audience not in AUDIENCES:
            raise ValueError(f"audience={audience!r}; allowed: {', '.join(AUDIENCES)}")
        return self.public if audience == "public" else self.confidential

    def offset(self, audience: str) -> int:
        """Row of the combined table where ``audience``'s rows start."""
        return 0 if audience == "public" else len(self.public)

    def combined(self) -> gpd.GeoDataFrame:
        """Public rows then confidential rows: what the confidential sets' ids point into."""
        if not len(self.confidential):
            return self.public
        return gpd.GeoDataFrame(
            pd.concat([self.public, self.confidential], ignore_index=True),
            geometry="geometry",
            crs=self.public.crs or self.confidential.crs,
        )


def set_rows(providers: pd.DataFrame, service: str) -> np.ndarray:
    """Rows of ``providers`` in the set of ``service`` (:data:`OTHER`: in no service)."""
    if service == OTHER:
        anything = np.zeros(len(providers), dtype=bool)
        for key in SERVICE_KEYS:
            anything |= providers_offering(providers, key)
        return np.flatnonzero(~anything)
    if service not in SERVICE_KEYS:
        raise ValueError(f"service={service!r}; allowed: {', '.join((*SERVICE_KEYS, OTHER))}")
    return np.flatnonzero(providers_offering(providers, service))


def _metric_xy(frame: gpd.GeoDataFrame, crs: object) -> tuple[np.ndarray, np.ndarray]:
    if not len(frame):
        return np.empty(0), np.empty(0)
    metric = frame.to_crs(crs)
    return metric.geometry.x.to_numpy(), metric.geometry.y.to_numpy()


def compute_sets(
    graph: CostGraph,
    tables: ProviderTables,
    *,
    k: int = DEFAULT_K,
    audiences: Iterable[str] = AUDIENCES,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> dict[tuple[str, str], NearestLabels]:
    """The label sets of every (audience, service) with at least one provider.

    Sets are computed ``workers`` at a time in threads (the compiled loop releases the
    GIL), each about ``k`` Dijkstra passes over the graph; ``progress(done, total)`` is
    called as each set is done.
    """
    crs = graph.grid.crs if graph.grid.crs is not None else METRIC_CRS
    jobs = []
    for audience in audiences:
        frame = tables.frame(audience)
        x, y = _metric_xy(frame, crs)
        for service in (*SERVICE_KEYS, OTHER):
            rows = set_rows(frame, service)
            if len(rows):
                ids = rows.astype(np.int64) + tables.offset(audience)
                jobs.append(((audience, service), x[rows], y[rows], ids))

    def run(job):  # type: ignore[no-untyped-def]
        key, jx, jy, ids = job
        return key, nearest_labels(graph, jx, jy, k=k, ids=ids)

    out: dict[tuple[str, str], NearestLabels] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for key, labels in pool.map(run, jobs):
            out[key] = labels
            if progress is not None:
                progress(len(out), len(jobs))
    return out


def save_sets(sets: Mapping[tuple[str, str], NearestLabels], directory: str | Path) -> None:
    """Write every set under ``directory/<audience>/<service>/`` (the directory replaced whole)."""
    with atomic_dir(Path(directory)) as tmp:
        for (audience, service), labels in sets.items():
            save_labels(labels, tmp / audience / service)


def load_sets(directory: str | Path, *, mmap: bool = True) -> dict[tuple[str, str], NearestLabels]:
    """Read the sets written by :func:`save_sets` (per-node arrays memory-mapped)."""
    directory = Path(directory)
    out: dict[tuple[str, str], NearestLabels] = {}
    for audience in AUDIENCES:
        for path in sorted((directory / audience).glob("*/")):
            if (path / "source.npy").is_file():
                out[(audience, path.name)] = load_labels(path, mmap=mmap)
    return out


@dataclass(frozen=True, eq=False)
class Layer:
    """One (mode, scenario): its graph, label sets and conflict class per node."""

    graph: CostGraph
    sets: Mapping[tuple[str, str], NearestLabels]
    node_class: np.ndarray | None = None

    def visible(self, service: str | None, *, caseworker: bool) -> list[NearestLabels]:
        """The sets a requester may see: public ones, and confidential ones for a
        caseworker; one service's, or every service's (``None``)."""
        audiences = AUDIENCES if caseworker else ("public",)
        services = (*SERVICE_KEYS, OTHER) if service is None else (service,)
        return [self.sets[(a, s)] for a in audiences for s in services if (a, s) in self.sets]

    def surface(self, service: str, *, caseworker: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Minutes to the nearest provider of ``service`` per node (float32, inf none) and
        its row (-1 none): public providers, or everyone's for a caseworker."""
        minutes = np.full(self.graph.n_nodes, np.inf, dtype=np.float32)
        nearest = np.full(self.graph.n_nodes, -1, dtype=np.int64)
        for labels in self.visible(service, caseworker=caseworker):
            m, n = labels_surface(labels)
            better = m < minutes
            minutes = np.where(better, m, minutes)
            nearest = np.where(better, n, nearest)
        return minutes, nearest

    def surface_without(
        self, service: str, remove_id: int, *, caseworker: bool = False
    ) -> np.ndarray:
        """Minutes to the nearest provider of ``service`` per node (float32) when the public
        provider ``remove_id`` (a row of the public table) is gone: its places fall to
        their second-nearest label, exactly, without a rebuild."""
        public = self.sets.get(("public", service))
        if public is None or not (public.ids == remove_id).any():
            raise ValueError(f"remove_id={remove_id!r} is no public provider of {service!r}")
        minutes = surface_without(public, remove_id)
        if caseworker and ("confidential", service) in self.sets:
            other, _ = labels_surface(self.sets[("confidential", service)])
            minutes = np.minimum(minutes, other)
        return minutes
