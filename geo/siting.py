"""Where to put the next centres: greedy maximal covering (MCLP) and quick what-ifs.

The AccessMod "scaling up" and spopt ``MCLP`` question: given the providers that exist,
which N of the candidate sites bring the most people within ``threshold_min``?

- :func:`candidate_reach` (geometry -> sparse coverage): one Dijkstra per candidate,
  *bounded at the threshold*, each entering the graph as a provider would
  (:func:`geo.labels.bounded_reach`), so only the cells within reach are visited and no
  candidate shortens another's routes;
- :func:`greedy_sites` (arithmetic, testable on a 3x4 array): each step picks the
  candidate whose covered and not yet covered people are most, and reports that gain;
- :func:`what_if_add`: the new surface for one added provider (the minimum of the
  existing surface and the candidate's bounded times).  Removing a provider is
  :func:`geo.labels.surface_without` (its second-nearest labels).

Greedy MCLP is not guaranteed optimal, but its covered population is at least
``1 - 1/e`` (63 %) of the optimum's (Nemhauser, Wolsey & Fisher 1978).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from geo.costgraph import CostGraph
from geo.labels import Reach, bounded_reach, labels_surface, nearest_labels

__all__ = [
    "CandidateReach",
    "candidate_reach",
    "existing_surface",
    "greedy_sites",
    "site_centres",
    "what_if_add",
]

#: The candidates' bounded reach (:class:`geo.labels.Reach`).
CandidateReach = Reach


def candidate_reach(
    graph: CostGraph,
    x: np.ndarray,
    y: np.ndarray,
    *,
    threshold_min: float,
) -> Reach:
    """One Dijkstra per candidate point, bounded at the threshold.

    Parameters
    ----------
    graph
        Travel-time graph.
    x, y
        Candidate coordinates in the graph CRS (metres).
    threshold_min
        Minutes: the bound of each run; cells beyond are not visited.

    Returns
    -------
    Reach
        ``minutes`` (n_candidates x n_cells, only entries <= the threshold) and
        ``entered`` (False for a candidate outside the grid or in a closed cell).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D of the same length, got {x.shape} and {y.shape}")
    if len(x) == 0:
        raise ValueError("no candidate sites: pass at least one point")
    if not (np.isfinite(threshold_min) and threshold_min > 0):
        raise ValueError(f"threshold_min must be positive finite minutes, got {threshold_min!r}")
    return bounded_reach(graph, x, y, limit_min=float(threshold_min))


def existing_surface(graph: CostGraph, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Minutes from every cell to the nearest of the providers at (x, y) (graph CRS);
    inf everywhere without any."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    if len(x) == 0:
        return np.full(graph.n_cells, np.inf)
    minutes, _ = labels_surface(nearest_labels(graph, x, y, k=1))
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
    existing_x: np.ndarray,
    existing_y: np.ndarray,
    candidate_x: np.ndarray,
    candidate_y: np.ndarray,
    population: np.ndarray,
    *,
    n: int,
    threshold_min: float,
) -> tuple[pd.DataFrame, Reach, np.ndarray]:
    """Choose ``n`` of the candidates maximising the people newly within ``threshold_min``.

    Parameters
    ----------
    graph
        Travel-time graph.
    existing_x, existing_y
        The providers that stay (graph CRS; may be empty).
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
        cell to the nearest existing provider.
    """
    pop = np.asarray(population, dtype=float)
    if pop.shape != (graph.n_cells,):
        raise ValueError(
            f"population must hold one value per grid cell ({graph.n_cells}), got {pop.shape}"
        )
    reach = candidate_reach(graph, candidate_x, candidate_y, threshold_min=threshold_min)
    base = existing_surface(graph, existing_x, existing_y)
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
