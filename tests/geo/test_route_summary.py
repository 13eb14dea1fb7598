"""Route summaries (geo.route_summary): walks that stop at a summarized label give what
the whole walk gives, and summaries made with other inputs are never used."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.costgraph import build_cost_graph
from geo.labels import nearest_labels
from geo.route_summary import load_summaries, save_summaries, summarize, zone_fingerprint
from geo.routes import walk_routes
from tests.geo.test_labels import SPEEDS, _grid, networks


def _every_label(labels):
    starts, slots = np.nonzero(labels.source >= 0)
    return starts, labels.ids[labels.source[starts, slots]]


def _assert_same_walks(a, b) -> None:
    np.testing.assert_allclose(a.metres_by_class, b.metres_by_class, rtol=1e-12, atol=1e-6)
    np.testing.assert_array_equal(a.worst_class, b.worst_class)
    np.testing.assert_array_equal(a.seed_node, b.seed_node)
    np.testing.assert_allclose(a.road_metres, b.road_metres, rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(a.road_minutes, b.road_minutes, rtol=1e-12, atol=1e-9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.sampled_from([1, 2, 3, 7]), st.booleans())
def test_a_walk_that_stops_at_a_summary_gives_the_whole_walks_figures(net, every, zones):
    """Every label of every node, summaries every 1, 2, 3 or 7 steps, with conflict
    classes or without: the same metres per class, worst class, seed and road part."""
    graph, x, y, k, rng = net
    labels = nearest_labels(graph, x, y, k=k, ids=np.arange(10, 10 + len(x)))
    classes = rng.integers(0, 3, graph.n_nodes).astype(np.int8) if zones else None
    summary = summarize(graph, labels, classes, every=every)
    starts, ids = _every_label(labels)
    whole = walk_routes(graph, labels, starts, ids, node_class=classes)
    short = walk_routes(
        graph, dataclasses.replace(labels, summary=summary), starts, ids, node_class=classes
    )
    _assert_same_walks(whole, short)
    if every == 1 and len(starts):  # every label one step or more from its seed is kept
        assert len(summary.seed) == int((whole.seed_node != starts).sum())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_summaries_made_with_other_classes_are_not_used(net):
    """Summaries bound to one class array, walked with another (zones rebuilt): the
    walk goes the whole way with the classes it is given."""
    graph, x, y, k, rng = net
    labels = nearest_labels(graph, x, y, k=k, ids=np.arange(10, 10 + len(x)))
    old = rng.integers(0, 3, graph.n_nodes).astype(np.int8)
    new = rng.integers(0, 3, graph.n_nodes).astype(np.int8)
    stale = dataclasses.replace(labels, summary=summarize(graph, labels, old, every=1))
    starts, ids = _every_label(labels)
    _assert_same_walks(
        walk_routes(graph, labels, starts, ids, node_class=new),
        walk_routes(graph, stale, starts, ids, node_class=new),
    )
    # nor with an equal copy of the classes: only the very array they were bound to
    assert not stale.summary.fits(labels, old.copy(), 3)
    assert stale.summary.fits(labels, old, 3)


def _small():
    graph = build_cost_graph(_grid(6, 70), None, SPEEDS, mode="walk")
    labels = nearest_labels(graph, np.array([500.0]), np.array([500.0]), k=2, ids=np.array([0]))
    return graph, labels


def test_saved_summaries_load_only_with_the_zones_and_labels_they_were_made_with(tmp_path):
    graph, labels = _small()
    zone = np.zeros(graph.n_cells, np.int8)
    classes = np.zeros(graph.n_nodes, np.int8)
    summary = summarize(graph, labels, classes, every=8)
    assert len(summary.seed)  # chains of up to 70 cells: some labels are kept
    made_with = {"zone": zone_fingerprint(zone), "labels": "key-1"}
    save_summaries({("public", "medical"): summary}, tmp_path / "s", made_with)
    loaded = load_summaries(tmp_path / "s", made_with, classes)
    got = loaded[("public", "medical")]
    for a, b in zip(summary.arrays(), got.arrays(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert got.node_class is classes
    other_zone = zone.copy()
    other_zone[0] = 2
    assert (
        load_summaries(tmp_path / "s", {**made_with, "zone": zone_fingerprint(other_zone)}, classes)
        == {}
    )
    assert load_summaries(tmp_path / "s", {**made_with, "labels": "key-2"}, classes) == {}
    assert load_summaries(tmp_path / "missing", made_with, classes) == {}
    meta = json.loads((tmp_path / "s" / "meta.json").read_text())
    meta["version"] = 0
    (tmp_path / "s" / "meta.json").write_text(json.dumps(meta))
    assert load_summaries(tmp_path / "s", made_with, classes) == {}
    with pytest.raises(ValueError, match="every"):
        summarize(graph, labels, classes, every=0)


def test_zone_fingerprint_tells_zones_apart():
    zone = np.zeros((3, 4), np.int8)
    assert zone_fingerprint(None) is None
    assert zone_fingerprint(zone) == zone_fingerprint(zone.copy())
    assert zone_fingerprint(zone) != zone_fingerprint(zone.reshape(4, 3))
    assert zone_fingerprint(zone) != zone_fingerprint(zone.astype(np.int16))
    changed = zone.copy()
    changed[1, 1] = 1
    assert zone_fingerprint(zone) != zone_fingerprint(changed)
