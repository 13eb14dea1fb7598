"""Read the road network of an OpenStreetMap file (PBF or XML) with pyosmium.

One streaming pass of libosmium over the file: node locations go to its in-memory
``flex_mem`` index, ways without a ``highway`` tag are dropped in C++ before Python sees
them, and the kept ways land in flat arrays (:class:`geo.osm._ways.RawWays`) that are cut
into road stretches with numpy.  PBF and XML (``.osm``, ``.osm.gz``, ``.osm.bz2``) take the
same path and give the same rows for the same data.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Collection, Sequence
from pathlib import Path

import geopandas as gpd

from geo.errors import DataFileError
from geo.osm._checks import check_bbox, check_classes, check_path, no_roads_error
from geo.osm._frame import osm_frame
from geo.osm._ways import RawWays, Ways, clean_ways, pieces_geometry, split_at_junctions
from geo.osm.tags import classify_way

__all__ = ["OSM_SUFFIXES", "read_osm_roads"]

logger = logging.getLogger(__name__)

#: File name endings read by :func:`read_osm_roads`, with libosmium's format for each.
_FORMATS: dict[str, str] = {
    ".osm.pbf": "pbf",
    ".pbf": "pbf",
    ".osm.bz2": "osm.bz2",
    ".osm.gz": "osm.gz",
    ".osm.xml": "osm",
    ".osm": "osm",
    ".xml": "osm",
}
OSM_SUFFIXES: tuple[str, ...] = tuple(_FORMATS)


def osm_format(file: Path) -> str:
    """libosmium's format name for ``file`` (``pbf``, ``osm``, ``osm.gz``, ``osm.bz2``).

    Raises
    ------
    DataFileError
        The file name has none of :data:`OSM_SUFFIXES`.
    """
    name = file.name.lower()
    for suffix, fmt in _FORMATS.items():
        if name.endswith(suffix):
            return fmt
    raise DataFileError(
        f"{file}: unknown OSM file type; expected one of {OSM_SUFFIXES} "
        "(use read_line_roads for GeoPackage, GeoJSON or Shapefile layers)"
    )


def _collect_ways(file: Path, fmt: str, classes: frozenset[str] | None) -> RawWays:
    """Stream ``file`` once and keep the road ways with their node ids and locations.

    The per-node work is three attribute reads and three appends to typed arrays; the
    verdict on a way's tags is computed once per distinct (highway, area, surface) triple.
    """
    import osmium

    raw = RawWays(fixed_point=True)
    refs, xs, ys = raw.refs.append, raw.x.append, raw.y.append
    verdicts: dict[tuple[str | None, str | None, str | None], tuple[str, int] | None] = {}
    processor = (
        osmium.FileProcessor(osmium.io.File(str(file), fmt), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations("flex_mem")
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    for way in processor:
        if not isinstance(way, osmium.osm.Way):  # pragma: no cover - filtered out above
            continue
        raw.n_highway_ways += 1
        tags = way.tags
        key = (tags.get("highway"), tags.get("area"), tags.get("surface"))
        if key in verdicts:
            kept = verdicts[key]
        else:
            kept = verdicts[key] = classify_way(
                {"highway": key[0], "area": key[1], "surface": key[2]}, classes
            )
        if kept is None:
            continue
        for node in way.nodes:
            location = node.location
            refs(node.ref)
            xs(location.x)
            ys(location.y)
        raw.add(way.id, kept)
    return raw


def _read(
    file: Path, bbox: tuple[float, float, float, float] | None, classes: frozenset[str] | None
) -> tuple[gpd.GeoDataFrame, Ways]:
    fmt = osm_format(file)
    kind = "PBF" if fmt == "pbf" else "XML"
    try:
        raw = _collect_ways(file, fmt, classes)
    except (RuntimeError, OSError, ValueError) as exc:
        raise DataFileError(f"{file}: not a readable OSM {kind} file ({exc})") from exc
    ways = clean_ways(raw, bbox)
    if not len(ways.way_id):
        raise no_roads_error(file, bbox, classes)
    way_index, start, stop = split_at_junctions(ways.refs, ways.offsets)
    frame = osm_frame(
        u=ways.refs[start],
        v=ways.refs[stop],
        way_index=way_index,
        geometry=pieces_geometry(ways.lon, ways.lat, start, stop),
        ways=ways,
        file=file,
    )
    return frame, ways


def report_dropped(file: Path, ways: Ways, frame: gpd.GeoDataFrame, *, stacklevel: int) -> None:
    """Warn about ways dropped for missing nodes; log what was kept."""
    if len(ways.missing_nodes):
        warnings.warn(
            f"{file.name}: {len(ways.missing_nodes)} road way(s) reference nodes missing from "
            f"the file and were dropped (e.g. way {ways.missing_nodes[0]}); cut extracts with "
            "complete ways (osmium extract -s complete_ways)",
            stacklevel=stacklevel + 1,
        )
    logger.info(
        "%s: %d highway ways, %d kept, %d road stretches",
        file.name,
        ways.n_highway_ways,
        len(ways.way_id),
        len(frame),
    )


def read_osm_roads(
    path: str | os.PathLike[str],
    *,
    bbox: Sequence[float] | None = None,
    classes: Collection[str] | None = None,
) -> gpd.GeoDataFrame:
    """Read the road network of an OpenStreetMap file.

    Parameters
    ----------
    path
        ``.osm.pbf`` / ``.pbf`` (a whole country extract such as Geofabrik's
        ``mali-latest.osm.pbf``) or OSM XML: ``.osm`` / ``.osm.xml`` / ``.xml`` /
        ``.osm.bz2`` / ``.osm.gz`` (JOSM saves, Overpass downloads).  Both are streamed
        with pyosmium; coordinates are OSM's 1e-7 degree fixed point.
    bbox
        ``(west, south, east, north)`` in degrees: keep only ways whose line touches this
        box.  Kept ways are not cut at the box.
    classes
        Keep only ways of these road classes (see :data:`geo.roads.ROAD_CLASSES`).

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:4326, one row per road stretch between two junctions: ``u``, ``v`` (int64
        OSM node ids), ``road_class``, ``paved`` (boolean, NA without a known ``surface``),
        ``length_m`` (geodesic on WGS84, metres), ``source``, ``osm_way_id`` (int64),
        ``geometry`` (LineString from ``u`` to ``v`` in the way's node order).  Ways are
        cut at nodes shared with another kept way and at their ends; a closed way gives a
        row with ``u == v``.  Rows are sorted by ``osm_way_id``, ``u``, ``v``.

    Raises
    ------
    DataFileError
        The file is missing, empty, corrupt, of an unknown type, or holds no road (after
        the ``bbox``/``classes`` filters).

    Warns
    -----
    UserWarning
        Ways that reference nodes missing from the file (an extract cut without complete
        ways) are dropped, with a warning.

    Notes
    -----
    Splitting rule: a way is cut at every node that is not a plain pass-through vertex of
    one way: nodes used by two or more kept ways (or twice by one way), and the first and
    last node of every kept way.  This is osmnx's topological simplification
    (``simplify_graph``) with every way end kept as an endpoint, so each row belongs to
    exactly one OSM way and carries one class and one surface; :mod:`geo.osm.oracle` reads
    XML through osmnx and the tests check that both give the same rows.  Ways are filtered
    (class, bounding box) *before* splitting: a road is not cut where a dropped way
    touches it.
    """
    bbox_checked = check_bbox(bbox)
    classes_checked = check_classes(classes)
    file = check_path(path)
    frame, ways = _read(file, bbox_checked, classes_checked)
    report_dropped(file, ways, frame, stacklevel=2)
    return frame
