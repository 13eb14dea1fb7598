"""Route summaries: what the rest of a route adds up to, kept for one label in every few
steps of each label chain, so a nearest answer's route walks stop early.

A nearest answer walks each of its routes along the labels' predecessors
(:func:`geo.routes.walk_routes`) to add up its metres per conflict class, its metres and
minutes on roads, its worst class and where it leaves the graph: on the national build
some 900 steps a route, a quarter of the answer's time.  The build keeps those figures
for every label that lies a multiple of :data:`EVERY` steps from its seed (marked in a
bit set, with a count of the marks before each 64 bits), so a walk goes at most
``EVERY`` steps and adds the summary of the first marked label it meets: the same
figures (sums in another order: within 1e-9 of a metre or minute).

The per-class metres depend on the conflict class of every node, so a summary is kept
with the fingerprint of the conflict zones it was made with (:func:`zone_fingerprint`)
and of its label set; loaded against other zones or labels it is not used (the walk
goes the whole way), never wrong.  Walks that keep their nodes (a route's line) never
use summaries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from geo import _walks
from geo.costgraph import CostGraph
from geo.labels import NearestLabels, RouteSummary
from geo.routes import walk_arrays
from geo.store import atomic_dir, plain_array

__all__ = [
    "EVERY",
    "SUMMARY_VERSION",
    "RouteSummary",
    "load_summaries",
    "save_summaries",
    "summarize",
    "zone_fingerprint",
]

#: Steps between two summarized labels of a chain: a walk takes at most this many.
EVERY = 64
#: Bump when the summary files change meaning.
SUMMARY_VERSION = 1

_FILES = ("words", "rank", "per_class", "road", "worst", "seed")


def summarize(
    graph: CostGraph,
    labels: NearestLabels,
    node_class: np.ndarray | None,
    *,
    n_classes: int = 3,
    every: int = EVERY,
) -> RouteSummary:
    """The summaries of ``labels`` on ``graph``: every label ``every``, ``2 * every``...
    steps from its seed.  ``node_class`` as for :func:`geo.routes.walk_routes`."""
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    width = n_classes if node_class is not None else 1
    depth, per_class, road, worst, seed = _walks.summarize_labels(
        *walk_arrays(graph, labels, node_class), width
    )
    flat = depth.ravel()
    keys = np.flatnonzero((flat > 0) & (flat % every == 0))  # ascending: the rows' order
    n_words = -(-flat.size // 64)
    words = np.zeros(n_words, np.uint64)
    np.bitwise_or.at(words, keys >> 6, np.left_shift(np.uint64(1), (keys & 63).astype(np.uint64)))
    counts = np.bincount(keys >> 6, minlength=n_words)
    rank = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return RouteSummary(
        words=words,
        rank=rank,
        per_class=np.ascontiguousarray(per_class.reshape(-1, width)[keys]),
        road=np.ascontiguousarray(road.reshape(-1, 2)[keys]),
        worst=worst.ravel()[keys].astype(np.int8),
        seed=seed.ravel()[keys].astype(np.int64),
        node_class=node_class,
    )


def zone_fingerprint(zone: np.ndarray | None) -> str | None:
    """SHA-256 of a conflict zone raster (its dtype, shape and cells); None without."""
    if zone is None:
        return None
    a = np.ascontiguousarray(zone)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def save_summaries(
    summaries: Mapping[tuple[str, str], RouteSummary], directory: str | Path, meta: dict
) -> None:
    """Write ``directory/<audience>/<service>/*.npy`` and ``meta.json`` (what they were
    made with: :func:`load_summaries` checks it), the directory replaced whole."""
    with atomic_dir(Path(directory)) as tmp:
        for (audience, service), summary in summaries.items():
            if not len(summary.seed):  # chains all shorter than EVERY: nothing to keep
                continue
            out = tmp / audience / service
            out.mkdir(parents=True)
            for name, array in zip(_FILES, summary.arrays(), strict=True):
                np.save(out / f"{name}.npy", array)
        (tmp / "meta.json").write_text(
            json.dumps({**meta, "version": SUMMARY_VERSION, "every": EVERY}, indent=2),
            encoding="utf-8",
        )


def load_summaries(
    directory: str | Path, expected: dict, node_class: np.ndarray | None
) -> dict[tuple[str, str], RouteSummary]:
    """The summaries under ``directory`` (memory-mapped), bound to ``node_class``; none
    ({}) when they are missing or were made with other inputs than ``expected`` (the
    meta written by :func:`save_summaries`: zones, labels)."""
    directory = Path(directory)
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if meta.get("version") != SUMMARY_VERSION or any(
        meta.get(name) != value for name, value in expected.items()
    ):
        return {}
    out: dict[tuple[str, str], RouteSummary] = {}
    for path in sorted(directory.glob("*/*/")):
        if not (path / "words.npy").is_file():
            continue
        # plain views of the memory maps (shared pages, without np.memmap's slow indexing)
        a = {name: plain_array(np.load(path / f"{name}.npy", mmap_mode="r")) for name in _FILES}
        out[(path.parent.name, path.name)] = RouteSummary(
            words=a["words"],
            rank=a["rank"],
            per_class=a["per_class"],
            road=a["road"],
            worst=a["worst"],
            seed=a["seed"],
            node_class=node_class,
        )
    return out
