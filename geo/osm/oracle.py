"""The osmnx reading of OSM XML, kept as the reference the streaming reader is tested against.

:func:`read_osm_roads_osmnx` parses the XML with the standard library, builds an osmnx graph
of the kept ways and simplifies it with every way end kept as an endpoint; the rows must
equal those of :func:`geo.osm.read_osm_roads` (pyosmium) for the same file.  It holds the
whole file in memory and is about 15 times slower (``benchmarks/RESULTS.md``): use it to
check, not to load a country.
"""

from __future__ import annotations

import bz2
import gzip
import math
import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import geopandas as gpd
import networkx as nx
import numpy as np

from geo.errors import DataFileError
from geo.osm._checks import check_bbox, check_classes, check_path, no_roads_error
from geo.osm._frame import osm_frame
from geo.osm._ways import RawWays, Ways, clean_ways
from geo.osm.reader import report_dropped
from geo.osm.tags import classify_way

__all__ = ["XML_SUFFIXES", "read_osm_roads_osmnx"]

XML_SUFFIXES = (".osm", ".osm.xml", ".xml", ".osm.bz2", ".osm.gz")
_WAY_END_ATTR = "orienter_way_end"


@contextmanager
def _open_xml(file: Path) -> Iterator[IO[bytes] | gzip.GzipFile]:
    name = file.name.lower()
    if name.endswith(".bz2"):
        with bz2.open(file, "rb") as handle:
            yield handle
    elif name.endswith(".gz"):
        with gzip.open(file, "rb") as handle:
            yield handle
    else:
        with file.open("rb") as handle:
            yield handle


def _collect_xml_ways(file: Path, classes: frozenset[str] | None) -> RawWays:
    """Parse ``file`` (OSM XML) for the road ways, their tags, nodes and node locations."""
    nodes: dict[int, tuple[float, float]] = {}
    ways: list[tuple[int, list[int], tuple[str, int]]] = []
    raw = RawWays(fixed_point=False)
    try:
        with _open_xml(file) as handle:
            root_seen = False
            for event, element in ET.iterparse(handle, events=("start", "end")):
                if event == "start":
                    if not root_seen and element.tag != "osm":
                        raise DataFileError(
                            f"{file}: not OSM XML (root <{element.tag}>, not <osm>)"
                        )
                    root_seen = True
                    continue
                if element.tag == "node":
                    attrib = element.attrib
                    nodes[int(attrib["id"])] = (float(attrib["lon"]), float(attrib["lat"]))
                    element.clear()
                elif element.tag == "way":
                    tags = {t.attrib["k"]: t.attrib["v"] for t in element.iter("tag")}
                    raw.n_highway_ways += "highway" in tags
                    kept = classify_way(tags, classes)
                    if kept is not None:
                        refs = [int(nd.attrib["ref"]) for nd in element.iter("nd")]
                        ways.append((int(element.attrib["id"]), refs, kept))
                    element.clear()
    except DataFileError:
        raise
    except (ET.ParseError, KeyError, ValueError, OSError, EOFError) as exc:
        raise DataFileError(
            f"{file}: not a readable OSM XML file ({type(exc).__name__}: {exc})"
        ) from exc
    nowhere = (math.nan, math.nan)
    for way_id, refs, kept in ways:
        raw.refs.extend(refs)
        located = [nodes.get(r, nowhere) for r in refs]
        raw.x.extend(p[0] for p in located)
        raw.y.extend(p[1] for p in located)
        raw.add(way_id, kept)
    return raw


def _write_osm_xml(ways: Ways, target: Path) -> Path:
    """Write ``ways`` and their nodes as OSM XML (coordinates as exact float reprs)."""
    refs, first = np.unique(ways.refs, return_index=True)
    with target.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n')
        for ref, lon, lat in zip(
            refs.tolist(), ways.lon[first].tolist(), ways.lat[first].tolist(), strict=True
        ):
            out.write(f'<node id="{ref}" lat="{lat!r}" lon="{lon!r}"/>\n')
        offsets = ways.offsets.tolist()
        for i, way_id in enumerate(ways.way_id.tolist()):
            nds = "".join(
                f'<nd ref="{r}"/>' for r in ways.refs[offsets[i] : offsets[i + 1]].tolist()
            )
            out.write(f'<way id="{way_id}">{nds}<tag k="highway" v="road"/></way>\n')
        out.write("</osm>\n")
    return target


def _read_xml(
    file: Path, bbox: tuple[float, float, float, float] | None, classes: frozenset[str] | None
) -> tuple[gpd.GeoDataFrame, Ways]:
    """OSM XML through osmnx: graph of the kept ways, simplified, one row per stretch."""
    import osmnx as ox

    ways = clean_ways(_collect_xml_ways(file, classes), bbox)
    if not len(ways.way_id):
        raise no_roads_error(file, bbox, classes)
    # osmnx reads only the kept ways: dropped ways (proposed roads, buildings, ways with
    # nodes missing from a cut extract, ...) neither cut the kept ones nor break its parser.
    with tempfile.TemporaryDirectory(prefix="orienter-osm-") as tmp:
        kept_xml = _write_osm_xml(ways, Path(tmp) / "kept.osm")
        try:
            graph = ox.graph_from_xml(kept_xml, bidirectional=True, simplify=False, retain_all=True)
        except Exception as exc:  # pragma: no cover - the file was just written and checked
            raise DataFileError(f"{file}: osmnx could not read its road ways ({exc})") from exc
    # Every way end is an endpoint (so closed ways are cut at their first node, too).
    ends = np.concatenate([ways.refs[ways.offsets[:-1]], ways.refs[ways.offsets[1:] - 1]])
    nx.set_node_attributes(graph, dict.fromkeys(ends.tolist(), True), name=_WAY_END_ATTR)
    simple = ox.simplify_graph(
        graph, node_attrs_include=[_WAY_END_ATTR], edge_attrs_differ=["osmid"]
    )
    edges = ox.graph_to_gdfs(simple, nodes=False, fill_edge_geometry=True).reset_index()

    # bidirectional=True gives each stretch twice; reversed == False follows the way's nodes.
    forward = edges[edges["reversed"].map(lambda r: r is False or r is np.False_)]
    if forward["osmid"].map(lambda o: isinstance(o, list)).any():  # pragma: no cover
        raise RuntimeError(f"{file}: osmnx merged several ways into one edge; please report it")
    row_of_way = {way_id: i for i, way_id in enumerate(ways.way_id.tolist())}
    frame = osm_frame(
        u=forward["u"].to_numpy(),
        v=forward["v"].to_numpy(),
        way_index=forward["osmid"].map(row_of_way).to_numpy(dtype=np.int64),
        geometry=np.asarray(forward.geometry.values, dtype=object),
        ways=ways,
        file=file,
    )
    return frame, ways


def read_osm_roads_osmnx(
    path: str | os.PathLike[str],
    *,
    bbox: Sequence[float] | None = None,
    classes: Collection[str] | None = None,
) -> gpd.GeoDataFrame:
    """Read an OSM XML file through osmnx, in the road schema of :func:`read_osm_roads`.

    Parameters
    ----------
    path
        ``.osm`` / ``.osm.xml`` / ``.xml`` / ``.osm.bz2`` / ``.osm.gz`` OSM XML.
    bbox, classes
        As for :func:`geo.osm.read_osm_roads`.

    Returns
    -------
    geopandas.GeoDataFrame
        The same rows, in the same order, as :func:`geo.osm.read_osm_roads` (coordinates
        with at most 7 decimals, as OSM writes them, give identical geometries).

    Raises
    ------
    DataFileError
        Missing, empty or corrupt file, not an XML file name, or no road left.
    """
    bbox_checked = check_bbox(bbox)
    classes_checked = check_classes(classes)
    file = check_path(path)
    if not file.name.lower().endswith(XML_SUFFIXES):
        raise DataFileError(f"{file}: not an OSM XML file name; expected one of {XML_SUFFIXES}")
    frame, ways = _read_xml(file, bbox_checked, classes_checked)
    report_dropped(file, ways, frame, stacklevel=2)
    return frame
