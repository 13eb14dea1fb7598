"""A seeded synthetic national OpenStreetMap extract of Mali's road network (benchmark input).

Run (writes the file and ``<out>.json`` with its statistics; about a minute at full size)::

    ORIENTER_DATA_DIR=../shared/data .venv/bin/python benchmarks/make_osm_extract.py \\
        --out benchmarks/data/mali-synthetic.osm.pbf

``benchmarks/data/`` is ignored by git: never commit the generated files.  The output format
follows the name (``.osm.pbf``, ``.osm``, ``.osm.bz2``, ``.osm.gz``), written with pyosmium.

How the network is made (everything in Orienter's metric CRS, then rounded to OSM's 1e-7
degree):

- Mali's outline is read from the data directory's ADM0 boundary at run time.
- Village sites are drawn inside it, denser in the south (Sahel and Sudanian zones) than in
  the Sahara (weight 1 south of 14 N, decaying with latitude to 2 % in the far north), plus
  the approximate positions of 17 real towns (Bamako, Sikasso, Ségou, Mopti, Gao,
  Tombouctou, Kidal, ...).
- Every village is linked to its 3 nearest neighbours, and isolated groups to the main
  network, so the network is one connected component, as a rural track network is.
- A skeleton is grown on those links: the minimum spanning tree of the 17 towns, routed
  along the links, becomes trunk; the shortest routes from the next 60 towns to the
  skeleton primary, from the next 240 secondary, from the rest tertiary.  Other links are
  unclassified (more often in the south) or track, a few footpaths.
- Links wiggle (two random harmonics) with a node every 50 m and are cut into ways of
  about 900 m, as OSM ways are cut at bridges and tag changes.
- Node and way ids are spread over 64-bit ranges like real OSM ids (random gaps; nodes
  from about 1.2e9 to 1e10), so the reader's node index works as on a real extract.
- Towns get a jittered street grid (110 m blocks, a node between junctions, ways of three
  blocks) whose size falls with rank (Bamako about 18 km across); the grid's centre is the
  village node the rural links reach, so towns and tracks form one network.
- Things the road reader must skip: ``place=*`` tags on village nodes, shop and amenity
  nodes, buildings, rivers, land-use areas, ``highway=proposed`` / ``construction`` ways
  (some touching road nodes: they must not cut roads) and ``area=yes`` pedestrian squares.

Class mix (ASSUMED, not measured: there is no internet here to query taginfo).  Mali's OSM
road data, like that of its Sahel neighbours, was largely mapped in humanitarian mapping
campaigns that traced tracks between villages and the streets of towns from imagery, so by
number of ways it is mostly ``track``, ``residential`` and ``unclassified``, with few
``primary``, ``secondary`` and ``trunk`` ways; by length, tracks and unclassified roads carry
most of the network.  At full size the generator gives, by number of highway ways, about
56 % track, 20 % unclassified, 12 % residential, 3 % footway, 3 % tertiary, 3 % service and
under 3 % trunk, secondary and primary together; by length, tracks and unclassified roads
are 85 %.  The statistics file gives the shares actually produced.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from pyproj import Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra, minimum_spanning_tree
from scipy.spatial import cKDTree

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS  # noqa: E402

#: Approximate positions (lon, lat) of real towns, largest first: the trunk skeleton joins them.
CITIES: dict[str, tuple[float, float]] = {
    "Bamako": (-8.00, 12.64),
    "Sikasso": (-5.67, 11.32),
    "Ségou": (-6.27, 13.45),
    "Mopti": (-4.19, 14.49),
    "Koutiala": (-5.46, 12.39),
    "Kayes": (-11.43, 14.45),
    "Kati": (-8.07, 12.74),
    "Gao": (-0.04, 16.27),
    "San": (-4.90, 13.30),
    "Bougouni": (-7.48, 11.42),
    "Tombouctou": (-3.01, 16.77),
    "Kita": (-9.49, 13.04),
    "Koulikoro": (-7.56, 12.86),
    "Nioro du Sahel": (-9.59, 15.23),
    "Ménaka": (2.40, 15.92),
    "Kidal": (1.41, 18.44),
    "Taoudénit": (-3.98, 22.68),
}
CLASSES = ("trunk", "primary", "secondary", "tertiary", "unclassified", "track", "path")
_RANK = {c: i for i, c in enumerate(CLASSES)}


@dataclass(frozen=True)
class Params:
    """Sizes of the synthetic network (``scale`` multiplies the counts)."""

    n_villages: int = 62_000
    n_towns: int = 1_400
    neighbours: int = 3
    rural_node_spacing_m: float = 50.0
    rural_way_m: float = 900.0
    block_m: float = 110.0
    largest_town_blocks: int = 160
    town_size_exponent: float = 0.55
    blocks_per_town_way: int = 3
    n_buildings: int = 20_000
    n_pois: int = 3_000
    n_rivers: int = 40
    n_landuse: int = 300
    n_proposed: int = 600

    def scaled(self, scale: float) -> Params:
        """The same network with counts multiplied by ``scale`` (at least a few of each)."""

        def s(n: int, low: int) -> int:
            return max(low, round(n * scale))

        return replace(
            self,
            n_villages=s(self.n_villages, 40),
            n_towns=s(self.n_towns, len(CITIES)),
            largest_town_blocks=max(9, round(self.largest_town_blocks * min(1.0, scale**0.5))),
            n_buildings=s(self.n_buildings, 10),
            n_pois=s(self.n_pois, 10),
            n_rivers=s(self.n_rivers, 2),
            n_landuse=s(self.n_landuse, 2),
            n_proposed=s(self.n_proposed, 6),
        )


class Network:
    """Nodes (metric x/y, id = index + 1) and ways (node-id lists with tags) being built."""

    def __init__(self) -> None:
        self.x: list[np.ndarray] = []
        self.y: list[np.ndarray] = []
        self.n_nodes = 0
        self.node_tags: dict[int, dict[str, str]] = {}
        self.way_refs: list[np.ndarray] = []
        self.way_tags: list[dict[str, str]] = []

    def add_nodes(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Append nodes; returns their ids."""
        ids = np.arange(self.n_nodes + 1, self.n_nodes + 1 + len(x), dtype=np.int64)
        self.x.append(np.asarray(x, dtype=float))
        self.y.append(np.asarray(y, dtype=float))
        self.n_nodes += len(x)
        return ids

    def add_way(self, refs: np.ndarray, tags: dict[str, str]) -> None:
        """Append a way through node ids ``refs``."""
        self.way_refs.append(np.asarray(refs, dtype=np.int64))
        self.way_tags.append(tags)

    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        """All node coordinates, in id order."""
        return np.concatenate(self.x), np.concatenate(self.y)


def country_outline(data_dir: Path, bbox: tuple[float, float, float, float] | None = None):
    """Mali's ADM0 polygon in the metric CRS, read from the data directory.

    With ``bbox`` (west, south, east, north, degrees), only its part inside the box: a
    regional extract such as an Overpass download.
    """
    import geopandas as gpd
    import shapely

    from api.datasets import find_dataset
    from api.settings import Settings

    path = find_dataset(Settings(data_dir=data_dir), "adm0")
    if path is None:
        raise SystemExit(f"no ADM0 boundary under {data_dir}/boundaries (set ORIENTER_DATA_DIR)")
    country = gpd.read_file(path)
    if bbox is not None:
        country = gpd.clip(country, shapely.box(*bbox))
        if country.empty:
            raise SystemExit(f"--bbox {bbox} does not overlap Mali")
    return country.to_crs(METRIC_CRS).union_all(), path


def sample_villages(poly, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` village sites inside ``poly``, thinning with latitude north of 14 N."""
    import shapely

    to_geo = Transformer.from_crs(METRIC_CRS, GEOGRAPHIC_CRS, always_xy=True)
    minx, miny, maxx, maxy = poly.bounds
    xs, ys, got = [], [], 0
    while got < n:
        x = rng.uniform(minx, maxx, 4 * n)
        y = rng.uniform(miny, maxy, 4 * n)
        _, lat = to_geo.transform(x, y)
        weight = np.clip(np.exp(-(np.asarray(lat) - 14.0) / 1.6), 0.02, 1.0)
        keep = (rng.random(len(x)) < weight) & shapely.contains_xy(poly, x, y)
        xs.append(x[keep])
        ys.append(y[keep])
        got += int(keep.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def village_links(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Pairs (i, j), i < j: each village to its ``k`` nearest, then every group joined."""
    n = len(x)
    tree = cKDTree(np.column_stack([x, y]))
    _, idx = tree.query(np.column_stack([x, y]), k=k + 1)
    a = np.repeat(np.arange(n), k)
    b = idx[:, 1:].ravel()
    pairs = np.unique(np.sort(np.column_stack([a, b]), axis=1), axis=0)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    n_groups, label = connected_components(graph, directed=False)
    if n_groups > 1:
        main = np.bincount(label).argmax()
        in_main = np.flatnonzero(label == main)
        main_tree = cKDTree(np.column_stack([x[in_main], y[in_main]]))
        extra = []
        for group in range(n_groups):
            if group == main:
                continue
            members = np.flatnonzero(label == group)
            dist, near = main_tree.query(np.column_stack([x[members], y[members]]))
            best = int(dist.argmin())
            extra.append(sorted((int(members[best]), int(in_main[near[best]]))))
        pairs = np.unique(np.vstack([pairs, np.asarray(extra)]), axis=0)
    return pairs


class _LinkGraph:
    """The village links as a symmetric sparse graph weighted by straight length (m)."""

    def __init__(self, pairs: np.ndarray, length_m: np.ndarray, n: int) -> None:
        rows = np.r_[pairs[:, 0], pairs[:, 1]]
        cols = np.r_[pairs[:, 1], pairs[:, 0]]
        weights = np.r_[length_m, length_m]
        self.csr = coo_matrix((weights, (rows, cols)), shape=(n, n)).tocsr()
        self.link_of = {(int(i), int(j)): e for e, (i, j) in enumerate(pairs.tolist())}
        self.n_links = len(pairs)

    def routes(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Links on the shortest routes from each of ``targets`` to the nearest source."""
        _, pred, _ = dijkstra(self.csr, indices=sources, min_only=True, return_predecessors=True)
        used = np.zeros(self.n_links, dtype=bool)
        for node in targets.tolist():
            while pred[node] >= 0:
                prev = int(pred[node])
                e = self.link_of[(min(prev, node), max(prev, node))]
                if used[e]:
                    break
                used[e] = True
                node = prev
        return used


def classify_links(
    pairs: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    lat: np.ndarray,
    n_cities: int,
    n_towns: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Road class of every link: trunk skeleton, routes from towns, tracks and the rest."""
    n = len(x)
    length_m = np.hypot(x[pairs[:, 0]] - x[pairs[:, 1]], y[pairs[:, 0]] - y[pairs[:, 1]])
    rank = np.full(len(pairs), _RANK["track"])
    south = (lat[pairs[:, 0]] < 14.0) & (lat[pairs[:, 1]] < 14.0)
    unclassified = rng.random(len(pairs)) < np.where(south, 0.40, 0.15)
    rank[unclassified] = _RANK["unclassified"]
    short = length_m < np.quantile(length_m, 0.08)
    rank[short & (rng.random(len(pairs)) < 0.5)] = _RANK["path"]
    # trunk: the cities' minimum spanning tree, each tree edge routed along the links
    cities = np.arange(n_cities)
    straight = np.hypot(x[cities, None] - x[None, cities], y[cities, None] - y[None, cities])
    tree = minimum_spanning_tree(straight).tocoo()  # empty with a single city
    graph = _LinkGraph(pairs, length_m, n)
    for a, b in zip(tree.row.tolist(), tree.col.tolist(), strict=True):
        used = graph.routes(np.array([a]), np.array([b]))
        rank[used] = np.minimum(rank[used], _RANK["trunk"])
    tiers = (("primary", 60), ("secondary", 240), ("tertiary", n_towns))
    reached = n_cities
    for road_class, upto in tiers:
        upto = min(max(upto, reached), n_towns)
        used = graph.routes(np.arange(reached), np.arange(reached, upto))
        rank[used] = np.minimum(rank[used], _RANK[road_class])
        reached = upto
    return rank


def add_rural_links(
    net: Network,
    village_ids: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    pairs: np.ndarray,
    rank: np.ndarray,
    p: Params,
    rng: np.random.Generator,
) -> None:
    """Wiggly polylines along the links, a node every ``rural_node_spacing_m``, cut into ways."""
    ax, ay = x[pairs[:, 0]], y[pairs[:, 0]]
    bx, by = x[pairs[:, 1]], y[pairs[:, 1]]
    length = np.hypot(bx - ax, by - ay)
    n_seg = np.maximum(1, np.round(length / p.rural_node_spacing_m).astype(np.int64))
    n_inner = n_seg - 1
    link = np.repeat(np.arange(len(pairs)), n_inner)
    k = np.arange(int(n_inner.sum())) - np.repeat(np.cumsum(n_inner) - n_inner, n_inner) + 1
    t = k / n_seg[link]
    amp1, amp2 = rng.normal(0, 0.04, len(pairs)), rng.normal(0, 0.015, len(pairs))
    phase = rng.uniform(0, 2 * np.pi, len(pairs))
    offset = (
        length[link]
        * np.sin(np.pi * t)
        * (amp1[link] + amp2[link] * np.sin(3 * np.pi * t + phase[link]))
    )
    ux, uy = (bx - ax) / length, (by - ay) / length
    px = ax[link] + t * (bx - ax)[link] - uy[link] * offset + rng.normal(0, 4, len(t))
    py = ay[link] + t * (by - ay)[link] + ux[link] * offset + rng.normal(0, 4, len(t))
    inner_ids = net.add_nodes(px, py)
    starts = np.cumsum(n_inner) - n_inner
    per_way = max(1, round(p.rural_way_m / p.rural_node_spacing_m))
    surfaces = _surface_tags(rank, rng)
    for e in range(len(pairs)):
        refs = np.concatenate(
            [
                [village_ids[pairs[e, 0]]],
                inner_ids[starts[e] : starts[e] + n_inner[e]],
                [village_ids[pairs[e, 1]]],
            ]
        )
        tags = {"highway": CLASSES[rank[e]], **surfaces[e]}
        if tags["highway"] == "path":
            tags["highway"] = "footway" if e % 3 == 0 else "path"
        for lo in range(0, len(refs) - 1, per_way):
            net.add_way(refs[lo : lo + per_way + 1], tags)


def _surface_tags(rank: np.ndarray, rng: np.random.Generator) -> list[dict[str, str]]:
    draw = rng.random(len(rank))
    out: list[dict[str, str]] = []
    for r, u in zip(rank.tolist(), draw.tolist(), strict=True):
        c = CLASSES[r]
        if c in ("trunk", "primary"):
            out.append({"surface": "asphalt"} if u < 0.9 else {})
        elif c in ("secondary", "tertiary"):
            out.append({"surface": "asphalt" if u < 0.3 else "unpaved"} if u < 0.7 else {})
        elif c == "track":
            tags = {"tracktype": "grade3"} if u < 0.2 else {}
            if u > 0.7:
                tags["surface"] = ("dirt", "sand", "ground")[int(u * 1000) % 3]
            out.append(tags)
        else:
            out.append({"surface": "dirt"} if u < 0.1 else {})
    return out


def add_town(
    net: Network,
    centre_id: int,
    cx: float,
    cy: float,
    m: int,
    main_class: str,
    p: Params,
    rng: np.random.Generator,
) -> None:
    """A jittered ``m`` x ``m`` street grid centred on node ``centre_id`` (at cx, cy)."""
    half = m // 2
    angle = rng.uniform(0, np.pi / 2)
    cos, sin = np.cos(angle), np.sin(angle)

    def place(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gx, gy = (j - half) * p.block_m, (i - half) * p.block_m
        jitter = rng.normal(0, 8, (2, len(gx)))
        return cx + cos * gx - sin * gy + jitter[0], cy + sin * gx + cos * gy + jitter[1]

    ii, jj = np.divmod(np.arange(m * m), m)
    grid_ids = net.add_nodes(*place(ii, jj)).reshape(m, m)
    grid_ids[half, half] = centre_id  # the rural links reach the town here
    # a node halfway along each block edge, rows (i, j + 0.5) then columns (i + 0.5, j)
    ri, rj = np.divmod(np.arange(m * (m - 1)), m - 1)
    row_mid = net.add_nodes(*place(ri, rj + 0.5)).reshape(m, m - 1)
    col_mid = net.add_nodes(*place(rj + 0.5, ri)).reshape(m, m - 1)
    step = p.blocks_per_town_way
    kinds = ("residential", "residential", "residential", "residential", "service", "footway")
    for line in range(m):
        for along, mids in ((grid_ids[line], row_mid[line]), (grid_ids[:, line], col_mid[line])):
            refs = np.empty(2 * m - 1, dtype=np.int64)
            refs[0::2], refs[1::2] = along, mids
            for lo in range(0, m - 1, step):
                hi = min(lo + step, m - 1)
                if line == half:
                    highway = main_class
                else:
                    highway = kinds[int(rng.integers(len(kinds)))]
                    if rng.random() < 0.05:
                        highway = "unclassified"
                net.add_way(refs[2 * lo : 2 * hi + 1], {"highway": highway})


def add_noise(
    net: Network,
    x: np.ndarray,
    y: np.ndarray,
    village_ids: np.ndarray,
    p: Params,
    rng: np.random.Generator,
) -> None:
    """Objects the road reader must skip: tagged nodes, buildings, rivers, non-roads."""
    for i, vid in enumerate(village_ids.tolist()):
        net.node_tags[vid] = {"place": "town" if i < 300 else "village", "name": f"Village {vid}"}
    pick = rng.integers(0, len(x), p.n_pois)
    poi = net.add_nodes(
        x[pick] + rng.normal(0, 60, p.n_pois), y[pick] + rng.normal(0, 60, p.n_pois)
    )
    for pid in poi.tolist():
        net.node_tags[pid] = {
            "amenity": ("clinic", "school", "marketplace", "place_of_worship")[pid % 4]
        }
    square = np.array([[0, 0], [12, 0], [12, 10], [0, 10]], dtype=float)
    for _ in range(p.n_buildings):
        v = int(rng.integers(len(x)))
        bx, by = x[v] + rng.normal(0, 150), y[v] + rng.normal(0, 150)
        ids = net.add_nodes(bx + square[:, 0], by + square[:, 1])
        net.add_way(np.r_[ids, ids[:1]], {"building": "yes"})
    for r in range(p.n_rivers):
        v = int(rng.integers(len(x)))
        steps = rng.normal(0, 400, (120, 2)).cumsum(axis=0)
        ids = net.add_nodes(x[v] + 300 + steps[:, 0], y[v] + steps[:, 1])
        net.add_way(ids, {"waterway": "river" if r % 2 else "stream", "name": f"River {r}"})
    for _ in range(p.n_landuse):
        v = int(rng.integers(len(x)))
        ring = net.add_nodes(
            x[v] + np.array([0, 900, 900, 0]) - 450, y[v] + np.array([0, 0, 700, 700]) - 350
        )
        net.add_way(np.r_[ring, ring[:1]], {"landuse": "farmland"})
    for q in range(p.n_proposed):
        a = int(rng.integers(len(x)))
        mid = net.add_nodes(np.array([x[a] + 700.0]), np.array([y[a] + 500.0]))
        refs = np.r_[village_ids[a], mid]  # touches a road node: must not cut the road there
        tag = {"highway": "proposed"} if q % 6 else {"highway": "construction"}
        net.add_way(refs, tag)
    for _ in range(max(1, p.n_proposed // 10)):
        v = int(rng.integers(len(x)))
        ring = net.add_nodes(
            x[v] + np.array([20.0, 60, 60, 20]), y[v] + np.array([20.0, 20, 60, 60])
        )
        net.add_way(np.r_[ring, ring[:1]], {"highway": "pedestrian", "area": "yes"})


def build_network(poly, p: Params, seed: int) -> tuple[Network, dict]:
    """The whole synthetic network, with counts for the statistics file."""
    import shapely

    rng = np.random.default_rng(seed)
    to_metric = Transformer.from_crs(GEOGRAPHIC_CRS, METRIC_CRS, always_xy=True)
    to_geo = Transformer.from_crs(METRIC_CRS, GEOGRAPHIC_CRS, always_xy=True)
    cx, cy = to_metric.transform(*np.array(list(CITIES.values())).T)
    inside = shapely.contains_xy(poly, cx, cy)
    cx, cy = cx[inside], cy[inside]
    sx, sy = sample_villages(poly, p.n_villages, rng)
    x, y = np.r_[cx, sx], np.r_[cy, sy]
    _, lat = to_geo.transform(x, y)
    # towns: the cities, then village sites in the south first (where Mali's towns are)
    order = np.r_[
        np.arange(len(cx)),
        len(cx) + np.argsort(np.asarray(lat[len(cx) :]) + rng.normal(0, 1.5, len(sx))),
    ]
    x, y, lat = x[order], y[order], np.asarray(lat)[order]
    net = Network()
    village_ids = net.add_nodes(x, y)
    pairs = village_links(x, y, p.neighbours)
    n_towns = min(p.n_towns, len(x))
    rank = classify_links(pairs, x, y, lat, max(1, len(cx)), n_towns, rng)
    add_rural_links(net, village_ids, x, y, pairs, rank, p, rng)
    n_rural_ways = len(net.way_refs)
    for t in range(n_towns):
        m = max(5, round(p.largest_town_blocks * (t + 1) ** -p.town_size_exponent)) | 1
        main = "primary" if t < len(cx) else ("tertiary" if t < 300 else "unclassified")
        add_town(net, int(village_ids[t]), float(x[t]), float(y[t]), m, main, p, rng)
    n_town_ways = len(net.way_refs) - n_rural_ways
    add_noise(net, x, y, village_ids, p, rng)
    counts = {
        "villages": len(x),
        "towns": n_towns,
        "village_links": len(pairs),
        "rural_ways": n_rural_ways,
        "town_ways": n_town_ways,
    }
    return net, counts


def write_extract(net: Network, out: Path) -> dict:
    """Write ``net`` with pyosmium (format from the suffix); statistics of the roads written."""
    import osmium

    x, y = net.xy()
    lon, lat = Transformer.from_crs(METRIC_CRS, GEOGRAPHIC_CRS, always_xy=True).transform(x, y)
    lon, lat = np.round(lon, 7), np.round(lat, 7)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part" + "".join(out.suffixes[-2:]))
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    km_by_class: dict[str, float] = {}
    ways_by_class: dict[str, int] = {}
    n_other = 0
    gaps = np.random.default_rng(len(lon)).integers(1, 1700, len(lon) + len(net.way_refs))
    osm_node_id = 1_200_000_000 + np.cumsum(gaps[: len(lon)])  # index i + 1 -> OSM id
    osm_way_id = 80_000_000 + np.cumsum(gaps[len(lon) :] // 4 + 1)
    with osmium.SimpleWriter(str(part), overwrite=True) as writer:
        node = osmium.osm.mutable.Node
        tags_of = net.node_tags
        for i, (nid, lo, la) in enumerate(
            zip(osm_node_id.tolist(), lon.tolist(), lat.tolist(), strict=True), start=1
        ):
            writer.add_node(node(id=nid, location=(lo, la), tags=tags_of.get(i, {})))
        way = osmium.osm.mutable.Way
        lengths = _way_lengths_km(net.way_refs, lon, lat, geod)
        for w, (refs, tags) in enumerate(zip(net.way_refs, net.way_tags, strict=True), start=1):
            writer.add_way(
                way(id=int(osm_way_id[w - 1]), nodes=osm_node_id[refs - 1].tolist(), tags=tags)
            )
            highway = tags.get("highway")
            if highway is None or highway in ("proposed", "construction") or "area" in tags:
                n_other += 1
                continue
            ways_by_class[highway] = ways_by_class.get(highway, 0) + 1
            km_by_class[highway] = km_by_class.get(highway, 0.0) + lengths[w - 1]
    os.replace(part, out)
    total_ways = sum(ways_by_class.values())
    return {
        "nodes": len(lon),
        "highway_ways": total_ways,
        "highway_km": round(sum(km_by_class.values()), 1),
        "other_ways": n_other,
        "tagged_nodes": len(net.node_tags),
        "ways_by_class": dict(sorted(ways_by_class.items(), key=lambda kv: -kv[1])),
        "share_of_ways": {
            k: round(v / total_ways, 4)
            for k, v in sorted(ways_by_class.items(), key=lambda kv: -kv[1])
        },
        "km_by_class": {
            k: round(v, 1) for k, v in sorted(km_by_class.items(), key=lambda kv: -kv[1])
        },
    }


def _way_lengths_km(refs: list[np.ndarray], lon: np.ndarray, lat: np.ndarray, geod) -> list[float]:
    sizes = np.array([len(r) for r in refs])
    flat = np.concatenate(refs) - 1
    way_of = np.repeat(np.arange(len(refs)), sizes)
    same = way_of[:-1] == way_of[1:]
    a, b = flat[:-1][same], flat[1:][same]
    _, _, dist = geod.inv(lon[a], lat[a], lon[b], lat[b])
    return (np.bincount(way_of[:-1][same], weights=dist, minlength=len(refs)) / 1000).tolist()


def make_extract(
    out: Path,
    data_dir: Path,
    *,
    seed: int = 2026,
    scale: float = 1.0,
    bbox: tuple[float, float, float, float] | None = None,
) -> dict:
    """Generate the extract at ``out`` and write ``<out>.json``; returns its statistics."""
    started = time.perf_counter()
    poly, adm0 = country_outline(data_dir, bbox)
    params = Params().scaled(scale) if scale != 1.0 else Params()
    net, counts = build_network(poly, params, seed)
    stats = write_extract(net, out)
    stats |= {
        "file": str(out),
        "bytes": out.stat().st_size,
        "seed": seed,
        "scale": scale,
        "bbox": bbox,
        "adm0": adm0.name,
        "seconds": round(time.perf_counter() - started, 1),
        **counts,
        "params": asdict(params),
    }
    Path(str(out) + ".json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    return stats


def main(argv: list[str] | None = None) -> None:
    """Command line: ``--out FILE [--seed N] [--scale F] [--data-dir DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/data/mali-synthetic.osm.pbf")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply the counts (1 = national)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("ORIENTER_DATA_DIR", REPO.parent / "shared" / "data")),
    )
    parser.add_argument(
        "--bbox",
        type=float,
        nargs=4,
        metavar=("WEST", "SOUTH", "EAST", "NORTH"),
        help="only the part of Mali in this box (degrees): a regional extract",
    )
    args = parser.parse_args(argv)
    bbox = tuple(args.bbox) if args.bbox else None
    stats = make_extract(args.out, args.data_dir, seed=args.seed, scale=args.scale, bbox=bbox)
    print(
        json.dumps({k: v for k, v in stats.items() if k != "params"}, indent=2, ensure_ascii=False)
    )


if __name__ == "__main__":
    main()
