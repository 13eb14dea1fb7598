"""Where to put the next centres: greedy maximal covering (MCLP) and quick what-ifs.

The AccessMod "scaling up" and spopt ``MCLP`` question: given the providers that exist,
which N of the candidate sites bring the most people within ``threshold_min``?

- :func:`candidate_reach` (geometry -> sparse coverage): the candidates are attached to
  the graph (:func:`geo.costgraph.attach_points`) and one Dijkstra *bounded at the
  threshold* runs from each, so only the cells within reach are visited;
- :func:`greedy_sites` (arithmetic, testable on a 3x4 array): each step picks the
  candidate whose covered and not yet covered people are most, and reports that gain;
- :func:`what_if_add` / :func:`what_if_remove`: the new surface for one added provider
  (the minimum of the existing surface and the candidate's bounded times) or one removed
  provider (the minimum over the other columns of the per-provider matrix).

Greedy MCLP is not guaranteed optimal, but its covered population is at least
``1 - 1/e`` (63 %) of the optimum's (Nemhauser, Wolsey & Fisher 1978).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from geo.costgraph import CostGraph, attach_points
from geo.traveltime import nearest_source_times

__all__ = [
    "CandidateReach",
    "candidate_reach",
    "existing_surface",
    "greedy_sites",
    "site_centres",
    "what_if_add",
    "what_if_remove",
]


@dataclass(frozen=True, eq=False)
class CandidateReach:
    """Cells each candidate reaches within the threshold, and in how many minutes.

    Attributes
    ----------
    graph
        The graph with the candidates attached (after the input graph's nodes).
    nodes
        Node id of each candidate in ``graph``; -1 when it cannot enter the graph.
    minutes
        Sparse (n_candidates, n_cells) matrix of minutes (float64), only entries
        <= ``threshold_min``; a reached cell at 0 minutes is stored as ``1e-9``.
    threshold_min
        The bound of the Dijkstra runs, minutes.
    """

    graph: CostGraph
    nodes: np.ndarray
    minutes: sp.csr_matrix
    threshold_min: float

    def covers(self) -> sp.csr_matrix:
        """Boolean (n_candidates, n_cells): cell within the threshold of the candidate."""
        out = self.minutes.copy()
        out.data = np.ones_like(out.data)
        return out.astype(bool)

    def times(self, k: int) -> np.ndarray:
        """Minutes from candidate ``k`` to every cell (inf beyond the threshold)."""
        row = self.minutes.getrow(k)
        out = np.full(self.minutes.shape[1], np.inf)
        out[row.indices] = row.data
        return out


def candidate_reach(
    graph: CostGraph,
    x: np.ndarray,
    y: np.ndarray,
    *,
    threshold_min: float,
    chunk: int = 16,
) -> CandidateReach:
    """Attach candidate points and run one Dijkstra per candidate, bounded at the threshold.

    Parameters
    ----------
    graph
        Travel-time graph (providers may already be attached).
    x, y
        Candidate coordinates in the graph CRS (metres).
    threshold_min
        Minutes: the Dijkstra ``limit``; cells beyond are not visited.
    chunk
        Candidates per Dijkstra call (bounds the dense output: chunk x nodes float64).

    Returns
    -------
    CandidateReach
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D of the same length, got {x.shape} and {y.shape}")
    if len(x) == 0:
        raise ValueError("no candidate sites: pass at least one point")
    if not (np.isfinite(threshold_min) and threshold_min > 0):
        raise ValueError(f"threshold_min must be positive finite minutes, got {threshold_min!r}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk!r}")
    attached, nodes = attach_points(graph, x, y, keep_isolated=False)
    n_cells = graph.n_cells
    rows, cols, vals = [], [], []
    ok = np.flatnonzero(nodes >= 0)
    for start in range(0, len(ok), chunk):
        part = ok[start : start + chunk]
        dist = dijkstra(attached.minutes, directed=True, indices=nodes[part], limit=threshold_min)
        dist = np.atleast_2d(dist)[:, :n_cells]
        r, c = np.nonzero(np.isfinite(dist))
        rows.append(part[r])
        cols.append(c)
        vals.append(np.maximum(dist[r, c], 1e-9))
    data = np.concatenate(vals) if vals else np.empty(0)
    matrix = sp.csr_matrix(
        (
            data,
            (
                np.concatenate(rows) if rows else np.empty(0, np.int64),
                np.concatenate(cols) if cols else np.empty(0, np.int64),
            ),
        ),
        shape=(len(x), n_cells),
    )
    return CandidateReach(
        graph=attached, nodes=nodes, minutes=matrix, threshold_min=float(threshold_min)
    )


def existing_surface(graph: CostGraph, sources: np.ndarray) -> np.ndarray:
    """Minutes from every cell to the nearest of ``sources`` (node ids); inf without any."""
    sources = np.asarray(sources, dtype=np.int64)
    sources = sources[sources >= 0]
    if len(sources) == 0:
        return np.full(graph.n_cells, np.inf)
    minutes, _ = nearest_source_times(graph, sources)
    return np.asarray(minutes[: graph.n_cells], dtype=np.float64)


def greedy_sites(
    covers: sp.spmatrix | np.ndarray,
    population: np.ndarray,
    covered: np.ndarray,
    *,
    n: int,
) -> pd.DataFrame:
    """Greedy maximal covering: pick ``n`` candidates, each adding the most uncovered people.

    Parameters
    ----------
    covers
        Boolean (n_candidates, n_cells): candidate covers cell (within the threshold).
    population
        People per cell.
    covered
        Boolean per cell: already within the threshold of an existing provider.
    n
        Number of sites to choose (fewer are returned when no candidate adds anyone).

    Returns
    -------
    pandas.DataFrame
        One row per chosen site, in order: ``step`` (1…), ``candidate`` (row of
        ``covers``), ``gain_population`` (people newly covered by this site, given the
        sites chosen before it), ``covered_population`` (running total).  Ties go to the
        lower candidate row.
    """
    pop = np.asarray(population, dtype=float)
    done = np.asarray(covered, dtype=bool).copy()
    a = sp.csr_matrix(covers, dtype=float)
    if pop.ndim != 1 or done.shape != pop.shape or a.shape[1] != len(pop):
        raise ValueError(
            f"covers {a.shape}, population {pop.shape} and covered {done.shape} must agree "
            "on the number of cells"
        )
    if (pop < 0).any() or (~np.isfinite(pop)).any():
        raise ValueError("population must be finite and >= 0")
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    total = float(pop[done].sum())
    rows = []
    chosen = np.zeros(a.shape[0], dtype=bool)
    for step in range(1, int(n) + 1):
        gains = a @ np.where(done, 0.0, pop)
        gains[chosen] = -1.0
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break
        newly = a.getrow(best).indices
        newly = newly[~done[newly]]
        gain = float(pop[newly].sum())
        done[newly] = True
        chosen[best] = True
        total += gain
        rows.append(
            {"step": step, "candidate": best, "gain_population": gain, "covered_population": total}
        )
    return pd.DataFrame(
        rows, columns=["step", "candidate", "gain_population", "covered_population"]
    )


def site_centres(
    graph: CostGraph,
    existing_sources: np.ndarray,
    candidate_x: np.ndarray,
    candidate_y: np.ndarray,
    population: np.ndarray,
    *,
    n: int,
    threshold_min: float,
) -> tuple[pd.DataFrame, CandidateReach, np.ndarray]:
    """Choose ``n`` of the candidates maximising the people newly within ``threshold_min``.

    Parameters
    ----------
    graph
        Travel-time graph with the existing providers attached.
    existing_sources
        Node ids of the providers that stay (may be empty).
    candidate_x, candidate_y
        Candidate sites, graph CRS (metres).
    population
        People per grid cell, node order.
    n
        Number of new centres.
    threshold_min
        Coverage threshold, minutes.

    Returns
    -------
    sites, reach, baseline_minutes
        The :func:`greedy_sites` table; the candidates' bounded reach; minutes from each
        cell to the nearest existing provider, on the graph with the candidates attached
        (so the baseline and the candidates use the very same graph).
    """
    pop = np.asarray(population, dtype=float)
    if pop.shape != (graph.n_cells,):
        raise ValueError(
            f"population must hold one value per grid cell ({graph.n_cells}), got {pop.shape}"
        )
    reach = candidate_reach(graph, candidate_x, candidate_y, threshold_min=threshold_min)
    base = existing_surface(reach.graph, existing_sources)
    sites = greedy_sites(reach.covers(), pop, base <= threshold_min, n=n)
    return sites, reach, base


def what_if_add(existing_minutes: np.ndarray, candidate_minutes: np.ndarray) -> np.ndarray:
    """Surface with one more provider: the cell-wise minimum of the two.

    With ``candidate_minutes`` from a bounded run (:meth:`CandidateReach.times`), the
    result is exact for every time up to the bound and an upper bound beyond it.
    """
    a = np.asarray(existing_minutes, dtype=float)
    b = np.asarray(candidate_minutes, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"existing_minutes {a.shape} and candidate_minutes {b.shape} differ")
    return np.fmin(a, b)


def what_if_remove(
    matrix_minutes: np.ndarray, columns: Sequence[int] | np.ndarray, remove: int
) -> np.ndarray:
    """Surface of ``columns`` without ``remove``: the minimum over the remaining columns.

    ``matrix_minutes`` is a per-provider matrix (rows = nodes or cells), e.g.
    ``SourceMatrix.minutes``; inf everywhere when no column is left.
    """
    cols = np.asarray(columns, dtype=np.int64)
    if remove not in set(cols.tolist()):
        raise ValueError(f"remove={remove!r} is not one of columns {cols.tolist()[:10]}")
    left = cols[cols != remove]
    m = np.asarray(matrix_minutes)
    if len(left) == 0:
        return np.full(m.shape[0], np.inf)
    return np.asarray(m[:, left].min(axis=1), dtype=np.float64)
