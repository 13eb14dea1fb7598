"""Coverage under capacity: providers take people in travel-time order until full."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geo._validate import as_1d

__all__ = ["CapacityResult", "capacity_coverage"]


@dataclass(frozen=True)
class CapacityResult:
    """People served per provider and per cell under provider capacities.

    Attributes
    ----------
    served_by_provider
        People taken by each provider (<= its capacity).
    served_per_cell
        People of each cell served by some provider.
    unserved_per_cell
        People of each cell left unserved (no room within reach).
    """

    served_by_provider: np.ndarray
    served_per_cell: np.ndarray
    unserved_per_cell: np.ndarray

    @property
    def served(self) -> float:
        """People served in total."""
        return float(self.served_per_cell.sum())

    @property
    def unserved(self) -> float:
        """People not served in total."""
        return float(self.unserved_per_cell.sum())


def capacity_coverage(
    minutes: np.ndarray,
    population: np.ndarray,
    capacity: np.ndarray,
    *,
    max_minutes: float = np.inf,
) -> CapacityResult:
    """Providers with a capacity take people in travel-time order until full.

    The rule (a global travel-time order, the AccessMod coverage idea made order-free):
    all (cell, provider) pairs with a time <= ``max_minutes`` are taken in increasing
    time (ties: lower provider column, then lower cell); at each pair the provider takes
    as many of the cell's remaining people as it has room for.  So everyone goes to the
    nearest provider that still has room when they are reached, and a provider that
    fills up stops taking people beyond that time.  The result is computed by deferred
    acceptance (cells propose to providers nearest first, providers keep their nearest
    people up to capacity), which gives exactly the same allocation as the pair loop
    (both sides rank pairs by the same time) without a Python loop over the pairs.

    Parameters
    ----------
    minutes
        Per-provider times, shape (n_cells, n_providers) (a :class:`SourceMatrix`
        ``minutes`` sliced to the cells and the service's columns); ``inf`` = unreachable.
    population
        People per cell, shape (n_cells,).
    capacity
        People each provider can serve, shape (n_providers,); ``inf`` = no limit.
    max_minutes
        Nobody travels longer than this to be served.

    Returns
    -------
    CapacityResult
    """
    pop = as_1d(population, "population")
    cap = as_1d(capacity, "capacity")
    m = np.asarray(minutes)
    if m.ndim != 2 or m.shape != (len(pop), len(cap)):
        raise ValueError(
            f"minutes must have shape (n_cells, n_providers) = ({len(pop)}, {len(cap)}), "
            f"got {m.shape}"
        )
    if (cap < 0).any() or np.isnan(cap).any():
        raise ValueError("capacity must be >= 0 (inf for no limit)")
    if (pop < 0).any() or (~np.isfinite(pop)).any():
        raise ValueError("population must be finite and >= 0")
    if not max_minutes > 0:
        raise ValueError(f"max_minutes must be > 0, got {max_minutes!r}")
    n_cells, n_prov = m.shape
    if n_prov == 0:
        return CapacityResult(np.zeros(0), np.zeros(n_cells), pop.copy())
    parcels = _Parcels.of(pop)
    unserved = np.zeros(n_cells)
    while parcels.proposing.any():
        _propose(parcels, m, max_minutes, unserved)
        _accept(parcels, cap, n_prov)
    held = (parcels.prov >= 0) & (parcels.amt > 0)
    served_by = np.bincount(parcels.prov[held], weights=parcels.amt[held], minlength=n_prov)
    served_cell = np.bincount(parcels.cell[held], weights=parcels.amt[held], minlength=n_cells)
    return CapacityResult(served_by.astype(float), served_cell.astype(float), unserved)


@dataclass
class _Parcels:
    """Parcels of people: a cell's people, split when a provider fills up inside it."""

    cell: np.ndarray  # the cell of each parcel
    amt: np.ndarray  # its people
    last_t: np.ndarray  # time of the last provider it proposed to
    last_j: np.ndarray  # column of that provider
    proposing: np.ndarray  # proposes in the next round
    prov: np.ndarray  # provider holding it (-1 none)
    time: np.ndarray  # its time to that provider

    @classmethod
    def of(cls, pop: np.ndarray) -> _Parcels:
        cell = np.flatnonzero(pop > 0)
        n = len(cell)
        return cls(
            cell=cell,
            amt=pop[cell].copy(),
            last_t=np.full(n, -np.inf),
            last_j=np.full(n, -1, dtype=np.int64),
            proposing=np.ones(n, dtype=bool),
            prov=np.full(n, -1, dtype=np.int64),
            time=np.full(n, np.inf),
        )


_CHUNK = 65536  # parcels per block of rows read from the matrix (bounded memory)


def _propose(p: _Parcels, m: np.ndarray, max_minutes: float, unserved: np.ndarray) -> None:
    """Every proposing parcel goes to its next-nearest provider within ``max_minutes``;
    a parcel with none left is unserved."""
    cols = np.arange(m.shape[1])
    idx = np.flatnonzero(p.proposing)
    for start in range(0, len(idx), _CHUNK):
        part = idx[start : start + _CHUNK]
        rows = np.asarray(m[p.cell[part]], dtype=np.float64)
        lt, lj = p.last_t[part, None], p.last_j[part, None]
        ok = (rows <= max_minutes) & ((rows > lt) | ((rows == lt) & (cols[None, :] > lj)))
        rows = np.where(ok, rows, np.inf)
        best = np.argmin(rows, axis=1)
        t = rows[np.arange(len(part)), best]
        none = ~np.isfinite(t)
        np.add.at(unserved, p.cell[part[none]], p.amt[part[none]])
        p.amt[part[none]] = 0.0
        p.prov[part] = np.where(none, -1, best)
        p.time[part] = np.where(none, np.inf, t)
    p.proposing[:] = False


def _accept(p: _Parcels, cap: np.ndarray, n_prov: int) -> None:
    """Each provider keeps its nearest parcels up to capacity; the rest propose again."""
    cols = np.arange(n_prov)
    live = np.flatnonzero((p.prov >= 0) & (p.amt > 0))
    order = live[np.lexsort((p.cell[live], p.time[live], p.prov[live]))]
    prov = p.prov[order]
    amt = p.amt[order]
    starts = np.searchsorted(prov, cols)
    cum = np.cumsum(amt)
    before = cum - amt - np.concatenate([[0.0], cum])[starts[prov]]
    room = np.maximum(cap[prov] - before, 0.0)
    kept = np.minimum(amt, room)
    rejected = amt - kept
    split = (kept > 0) & (rejected > 0)
    out = (kept == 0) & (rejected > 0)
    # whole parcels rejected propose again from where they were
    ro = order[out]
    p.last_t[ro], p.last_j[ro] = p.time[ro], p.prov[ro]
    p.prov[ro], p.proposing[ro] = -1, True
    # split parcels: the kept part stays, the rest becomes a new proposing parcel
    so = order[split]
    if len(so):
        p.amt[so] = kept[split]
        p.cell = np.concatenate([p.cell, p.cell[so]])
        p.amt = np.concatenate([p.amt, rejected[split]])
        p.last_t = np.concatenate([p.last_t, p.time[so]])
        p.last_j = np.concatenate([p.last_j, p.prov[so]])
        p.prov = np.concatenate([p.prov, np.full(len(so), -1, dtype=np.int64)])
        p.time = np.concatenate([p.time, np.full(len(so), np.inf)])
        p.proposing = np.concatenate([p.proposing, np.ones(len(so), dtype=bool)])
