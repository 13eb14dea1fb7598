"""Tests for geo.osm: OpenStreetMap files and generic line layers in the road schema."""

from __future__ import annotations

import bz2
import gzip
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import LineString, MultiLineString, Point

from geo.errors import DataFileError, DataValidationError
from geo.osm import (
    ROAD_CLASSES,
    paved_from_surface,
    read_line_roads,
    read_osm_roads,
    road_class_from_highway,
)
from geo.osm.oracle import read_osm_roads_osmnx

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "osm" / "junctions.osm"
GEOD = Geod(ellps="WGS84")
SCHEMA = ["u", "v", "road_class", "paved", "length_m", "source", "osm_way_id", "geometry"]

# (way, u, v) -> node ids along the stretch, road class, paved; read off the fixture by hand.
EXPECTED = {
    (100, 1, 3): ([1, 2, 3], "primary", True),  # not cut at node 2 (only the proposed way)
    (100, 3, 4): ([3, 4], "primary", True),  # node 3: track crossing, node 4: loop
    (100, 4, 5): ([4, 5], "primary", True),
    (101, 10, 3): ([10, 11, 3], "track", False),
    (101, 3, 13): ([3, 12, 13], "track", False),
    (102, 4, 4): ([4, 20, 21, 22, 4], "residential", None),
    (103, 5, 7): ([5, 6, 7], "primary", None),  # primary_link, oneway=-1: way order kept
    (104, 30, 32): ([30, 31, 32], "path", False),
    (109, 70, 70): ([70, 71, 72, 70], "path", None),  # isolated ring footway
}


def fixture_nodes(path: Path = FIXTURE) -> dict[int, tuple[float, float]]:
    """Node id -> (lon, lat), read independently of geo.osm."""
    root = ET.parse(path).getroot()
    return {int(n.get("id")): (float(n.get("lon")), float(n.get("lat"))) for n in root.iter("node")}


def to_pbf(xml: Path, pbf: Path) -> Path:
    """Convert an OSM XML file to PBF with pyosmium (offline)."""
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(xml)):
            writer.add(obj)
    return pbf


@pytest.fixture(scope="module")
def fixture_pbf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return to_pbf(FIXTURE, tmp_path_factory.mktemp("osm") / "junctions.osm.pbf")


def by_key(roads: gpd.GeoDataFrame) -> dict[tuple[int, int, int], Any]:
    return {(int(r.osm_way_id), int(r.u), int(r.v)): r for r in roads.itertuples()}


def assert_same_roads(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> None:
    """Same rows (source aside): ids, classes, paved, geometry exactly; lengths to 1e-6."""
    cols = ["u", "v", "road_class", "paved", "osm_way_id"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    np.testing.assert_allclose(a["length_m"], b["length_m"], rtol=1e-6)
    assert list(a.geometry.to_wkb()) == list(b.geometry.to_wkb())


# ----------------------------------------------------------------------------- tag mapping


@pytest.mark.parametrize(
    ("highway", "expected"),
    [
        ("motorway", "motorway"),
        ("trunk_link", "trunk"),
        ("primary_link", "primary"),
        ("Secondary", "secondary"),
        ("tertiary_link", "tertiary"),
        ("unclassified", "unclassified"),
        ("residential", "residential"),
        ("living_street", "residential"),
        ("service", "residential"),
        ("track", "track"),
        ("track_grade3", "track"),
        ("path", "path"),
        ("footway", "path"),
        ("bridleway", "path"),
        ("steps", "path"),
        ("pedestrian", "path"),
        ("road", "unknown"),
        ("busway", "unknown"),
        (None, "unknown"),
        ("proposed", None),
        ("construction", None),
        ("abandoned", None),
        ("platform", None),
        ("raceway", None),
        ("bus_stop", None),
        ("corridor", None),
        ("elevator", None),
    ],
)
def test_road_class_from_highway(highway: str | None, expected: str | None) -> None:
    assert road_class_from_highway(highway) == expected


@pytest.mark.parametrize(
    ("surface", "expected"),
    [
        ("paved", True),
        ("asphalt", True),
        ("concrete", True),
        ("concrete:plates", True),
        ("paving_stones", True),
        ("unpaved", False),
        ("gravel", False),
        ("dirt", False),
        ("ground", False),
        ("sand", False),
        ("earth", False),
        ("compacted", False),
        ("laterite", False),
        ("asphalt;concrete", True),
        ("asphalt;gravel", None),
        ("mystery", None),
        (None, None),
        ("", None),
    ],
)
def test_paved_from_surface(surface: str | None, expected: bool | None) -> None:
    assert paved_from_surface(surface) is expected


# ----------------------------------------------------------------------------- OSM XML / PBF


def test_xml_rows_split_at_junctions_with_classes_and_surfaces() -> None:
    roads = read_osm_roads(FIXTURE)
    assert list(roads.columns) == SCHEMA
    assert roads.crs.to_epsg() == 4326
    assert set(by_key(roads)) == set(EXPECTED)
    nodes = fixture_nodes()
    for key, row in by_key(roads).items():
        path, road_class, paved = EXPECTED[key]
        assert row.road_class == road_class, key
        assert (None if pd.isna(row.paved) else bool(row.paved)) is paved, key
        assert list(row.geometry.coords) == [nodes[n] for n in path], key
        lon, lat = zip(*(nodes[n] for n in path), strict=True)
        assert row.length_m == pytest.approx(GEOD.line_length(lon, lat), rel=1e-9), key
    assert set(roads["source"]) == {"OpenStreetMap (junctions.osm)"}


def test_schema_dtypes() -> None:
    roads = read_osm_roads(FIXTURE)
    assert roads["u"].dtype == np.int64
    assert roads["v"].dtype == np.int64
    assert roads["osm_way_id"].dtype == np.int64
    assert roads["paved"].dtype == "boolean"
    assert roads["length_m"].dtype == np.float64
    assert set(roads["road_class"]) <= set(ROAD_CLASSES)
    assert roads.index.equals(pd.RangeIndex(len(roads)))


def test_dropped_ways_are_absent_and_do_not_split() -> None:
    roads = read_osm_roads(FIXTURE)
    assert not set(roads["osm_way_id"]) & {105, 108, 110}  # proposed, area, building
    used = set(roads["u"]) | set(roads["v"])
    assert 2 not in used  # shared with highway=proposed only
    assert 6 not in used  # shared with a building only


def test_pbf_gives_the_same_rows_as_xml(fixture_pbf: Path) -> None:
    xml, pbf = read_osm_roads(FIXTURE), read_osm_roads(fixture_pbf)
    assert_same_roads(pbf, xml)
    assert set(pbf["source"]) == {"OpenStreetMap (junctions.osm.pbf)"}


def test_compressed_xml(tmp_path: Path) -> None:
    packed = tmp_path / "junctions.osm.bz2"
    packed.write_bytes(bz2.compress(FIXTURE.read_bytes()))
    assert_same_roads(read_osm_roads(packed), read_osm_roads(FIXTURE))
    gzipped = tmp_path / "JUNCTIONS.OSM.GZ"  # suffixes are matched whatever their case
    gzipped.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    assert_same_roads(read_osm_roads(gzipped), read_osm_roads(FIXTURE))
    plain_xml = tmp_path / "junctions.xml"
    plain_xml.write_bytes(FIXTURE.read_bytes())
    assert_same_roads(read_osm_roads(plain_xml), read_osm_roads(FIXTURE))


def test_xml_through_pyosmium_equals_the_osmnx_oracle(tmp_path: Path) -> None:
    """The streaming reader and osmnx give identical rows on the fixture, filtered or not."""
    packed = tmp_path / "junctions.osm.bz2"
    packed.write_bytes(bz2.compress(FIXTURE.read_bytes()))
    for options in (
        {},
        {"classes": ["track", "path"]},
        {"bbox": (-7.9985, 12.6408, -7.9975, 12.6425)},
    ):
        oracle = read_osm_roads_osmnx(FIXTURE, **options)
        for path in (FIXTURE, packed):
            fast = read_osm_roads(path, **options)
            assert_same_roads(fast, oracle)
            assert fast["length_m"].tolist() == oracle["length_m"].tolist(), (path, options)
    assert set(read_osm_roads_osmnx(packed)["source"]) == {"OpenStreetMap (junctions.osm.bz2)"}


def test_osmnx_oracle_reads_only_xml(fixture_pbf: Path) -> None:
    with pytest.raises(DataFileError, match="not an OSM XML file name"):
        read_osm_roads_osmnx(fixture_pbf)


def test_classes_filter_applies_before_splitting(fixture_pbf: Path) -> None:
    for path in (FIXTURE, fixture_pbf):
        roads = read_osm_roads(path, classes=["primary"])
        assert set(by_key(roads)) == {(100, 1, 5), (103, 5, 7)}, path
    assert_same_roads(
        read_osm_roads(FIXTURE, classes={"track", "path"}),
        read_osm_roads(fixture_pbf, classes={"track", "path"}),
    )


def test_bbox_keeps_whole_ways_touching_it(fixture_pbf: Path) -> None:
    # Box around the north half of the track only: the track is kept whole, the primary
    # and the loop do not touch it.
    bbox = (-7.9985, 12.6408, -7.9975, 12.6425)
    for path in (FIXTURE, fixture_pbf):
        roads = read_osm_roads(path, bbox=bbox)
        assert set(by_key(roads)) == {(101, 10, 13)}, path


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="bbox"):
        read_osm_roads(FIXTURE, bbox=(12.6, -8.0, 12.7, -7.9))  # lat/lon swapped: south > north
    with pytest.raises(TypeError, match="bbox"):
        read_osm_roads(FIXTURE, bbox=(1, 2, 3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="highway"):
        read_osm_roads(FIXTURE, classes=["highway"])
    with pytest.raises(TypeError, match="classes"):
        read_osm_roads(FIXTURE, classes="primary")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("corrupt.osm.pbf", b"this is not a protocol buffer" * 20),
        ("corrupt.osm", b"<osm version='0.6'><node id='1' lat='1' lon='1'><way"),
        ("empty.osm.pbf", b""),
        ("empty.osm", b""),
        ("notosm.osm", b"<html><body>404</body></html>"),
        ("roads.txt", b"some text"),
    ],
)
def test_unreadable_files_raise_data_file_error_naming_the_file(
    tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataFileError, match=name):
        read_osm_roads(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"nowhere\.osm\.pbf.*not found"):
        read_osm_roads(tmp_path / "nowhere.osm.pbf")


def test_file_without_roads(tmp_path: Path) -> None:
    xml = tmp_path / "buildings.osm"
    xml.write_text(
        '<osm version="0.6">'
        '<node id="1" lat="12.6" lon="-8.0"/><node id="2" lat="12.6" lon="-7.99"/>'
        '<node id="3" lat="12.61" lon="-7.99"/>'
        '<way id="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="1"/>'
        '<tag k="building" v="yes"/></way>'
        '<way id="2"><nd ref="1"/><nd ref="3"/><tag k="highway" v="construction"/></way>'
        "</osm>"
    )
    pbf = to_pbf(xml, tmp_path / "buildings.osm.pbf")
    for path in (xml, pbf):
        with pytest.raises(DataFileError, match=f"{path.name}.*no road"):
            read_osm_roads(path)
    with pytest.raises(DataFileError, match=r"no road.*bbox"):
        read_osm_roads(FIXTURE, bbox=(0.0, 0.0, 1.0, 1.0))


def test_ways_with_missing_nodes_are_dropped_with_a_warning(tmp_path: Path) -> None:
    xml = tmp_path / "cut.osm"
    xml.write_text(
        '<osm version="0.6">'
        '<node id="1" lat="12.6" lon="-8.0"/><node id="2" lat="12.6" lon="-7.99"/>'
        '<node id="3" lat="12.61" lon="-7.99"/>'
        '<way id="7"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="track"/></way>'
        '<way id="8"><nd ref="2"/><nd ref="99"/><tag k="highway" v="primary"/></way>'
        "</osm>"
    )
    pbf = to_pbf(xml, tmp_path / "cut.osm.pbf")
    for path in (xml, pbf):
        with pytest.warns(UserWarning, match=r"1 road way.*missing.*way 8"):
            roads = read_osm_roads(path)
        # way 8 is gone, so node 2 is no junction and the track stays in one piece
        assert set(by_key(roads)) == {(7, 1, 3)}, path
    with pytest.warns(UserWarning, match=r"1 road way.*missing.*way 8"):
        assert_same_roads(read_osm_roads_osmnx(xml), roads)


QUIRKS = {  # way id -> node ids, then expected stretches (way, u, v) -> node ids
    1: [1, 2, 1, 3],  # back and forth: node 2 has one neighbour
    2: [4, 5, 6, 5, 7],  # the way runs through node 5 twice
    3: [8, 9, 9, 10],  # consecutive duplicate node
    4: [11, 12, 13],  # ways 4 and 5 are digitised twice
    5: [11, 12, 13],
    6: [14, 15, 16, 14],  # closed way, touched by way 7 at node 15
    7: [15, 17],
}
QUIRK_STRETCHES = {
    (1, 1, 2): [1, 2],
    (1, 2, 1): [2, 1],
    (1, 1, 3): [1, 3],
    (2, 4, 5): [4, 5],
    (2, 5, 6): [5, 6],
    (2, 6, 5): [6, 5],
    (2, 5, 7): [5, 7],
    (3, 8, 10): [8, 9, 10],
    (4, 11, 12): [11, 12],
    (4, 12, 13): [12, 13],
    (5, 11, 12): [11, 12],
    (5, 12, 13): [12, 13],
    (6, 14, 15): [14, 15],
    (6, 15, 14): [15, 16, 14],
    (7, 15, 17): [15, 17],
}


def test_digitising_quirks(tmp_path: Path) -> None:
    nodes = "".join(
        f'<node id="{i}" lat="{12.6 + 0.001 * (i % 5):.7f}" lon="{-8.0 + 0.001 * i:.7f}"/>'
        for i in range(1, 18)
    )
    ways = ""
    for way_id, refs in QUIRKS.items():
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        ways += f'<way id="{way_id}">{nds}<tag k="highway" v="track"/></way>'
    xml = tmp_path / "quirks.osm"
    xml.write_text(f'<osm version="0.6">{nodes}{ways}</osm>')
    pbf = to_pbf(xml, tmp_path / "quirks.osm.pbf")
    located = fixture_nodes(xml)
    assert_same_roads(read_osm_roads(xml), read_osm_roads_osmnx(xml))
    for path in (xml, pbf):
        roads = read_osm_roads(path)
        assert sorted(by_key(roads)) == sorted(QUIRK_STRETCHES), path
        for key, row in by_key(roads).items():
            assert list(row.geometry.coords) == [located[n] for n in QUIRK_STRETCHES[key]]


# Random networks full of digitising quirks: closed ways, ways that cross themselves or
# run back and forth, consecutive duplicate nodes, shared nodes, overlapping ways, oneway
# tags, dropped classes.  osmnx (XML) and the streaming reader (PBF) must agree row by row.


def random_osm_xml(seed: int, path: Path) -> Path:
    rng = np.random.default_rng(seed)
    n_nodes = 60
    lon = np.round(-8.0 + rng.uniform(0, 0.05, n_nodes), 7)
    lat = np.round(12.6 + rng.uniform(0, 0.05, n_nodes), 7)
    highways = ["primary", "track", "residential", "footway", "service", "proposed", "road"]
    lines = ['<osm version="0.6" generator="test">']
    lines += [f'<node id="{i + 1}" lat="{lat[i]:.7f}" lon="{lon[i]:.7f}"/>' for i in range(n_nodes)]
    for way_id in range(1, 41):
        size = int(rng.integers(2, 9))
        refs = [int(r) for r in rng.integers(1, n_nodes + 1, size)]
        quirk = rng.random()
        if quirk < 0.15:
            refs.append(refs[0])  # closed
        elif quirk < 0.25:
            refs.insert(1, refs[1])  # consecutive duplicate
        elif quirk < 0.3 and size >= 3:
            refs[2] = refs[0]  # back and forth
        tags = {"highway": str(rng.choice(highways))}
        if rng.random() < 0.3:
            tags["oneway"] = str(rng.choice(["yes", "-1"]))
        if rng.random() < 0.4:
            tags["surface"] = str(rng.choice(["asphalt", "dirt", "gravel", "weird"]))
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        tag_xml = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        lines.append(f'<way id="{way_id}">{nds}{tag_xml}</way>')
    lines.append("</osm>")
    path.write_text("\n".join(lines))
    return path


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_random_networks_pbf_equals_osmnx(tmp_path: Path, seed: int) -> None:
    xml = random_osm_xml(seed, tmp_path / f"random{seed}.osm")
    pbf = to_pbf(xml, tmp_path / f"random{seed}.osm.pbf")
    from_xml, from_pbf = read_osm_roads_osmnx(xml), read_osm_roads(pbf)
    assert_same_roads(from_pbf, from_xml)
    assert_same_roads(read_osm_roads(xml), from_xml)  # XML streamed like PBF
    # every stretch runs from u to v, and interior vertices are not used anywhere else
    nodes = fixture_nodes(xml)
    for row in from_xml.itertuples():
        coords = list(row.geometry.coords)
        assert coords[0] == nodes[row.u] and coords[-1] == nodes[row.v]
    np.testing.assert_allclose(
        from_xml["length_m"],
        [GEOD.geometry_length(g) for g in from_xml.geometry],
        rtol=1e-9,
    )


# ----------------------------------------------------------------------------- line layers


def line_layer(tmp_path: Path, **columns: list[object]) -> Path:
    """GeoJSON with three features: a primary, a MultiLineString track, a crossing path.

    The track's first part starts 6e-8 degree from the end of the primary, across a
    1e-7 grid line (same node);
    the path crosses the primary without sharing a vertex (no split there).
    """
    geometry = [
        LineString([(-8.0, 12.6), (-7.99, 12.6)]),
        MultiLineString(
            [
                [(-7.99, 12.60000006), (-7.98, 12.61)],
                [(-7.98, 12.61), (-7.97, 12.62), (-7.96, 12.62)],
            ]
        ),
        LineString([(-7.995, 12.59), (-7.995, 12.61)]),
    ]
    data = {"fclass": ["primary", "track_grade2", "footway"], **columns}
    path = tmp_path / "roads.geojson"
    gpd.GeoDataFrame(data, geometry=geometry, crs="EPSG:4326").to_file(path, driver="GeoJSON")
    return path


def test_line_layer_with_fclass_and_multilinestring(tmp_path: Path) -> None:
    path = line_layer(tmp_path, surface=["asphalt", None, "dirt"], osm_id=["11", "12", "13"])
    roads = read_line_roads(path)
    assert list(roads.columns) == SCHEMA
    assert roads.crs.to_epsg() == 4326
    assert list(roads["road_class"]) == ["primary", "track", "track", "path"]
    assert list(roads["paved"].astype(object).fillna("NA")) == [True, "NA", "NA", False]
    assert list(roads["osm_way_id"]) == [11, 12, 12, 13]
    assert roads["u"].dtype == np.int64 and roads["v"].dtype == np.int64
    u, v = roads["u"].tolist(), roads["v"].tolist()
    assert v[0] == u[1]  # 6e-8 degree apart: one node
    assert v[1] == u[2]  # the two parts of the MultiLineString meet
    assert len(set(u + v)) == 6  # the crossing path shares no node
    for row in roads.itertuples():
        lon, lat = shapely.get_coordinates(row.geometry).T
        assert row.length_m == pytest.approx(GEOD.line_length(lon, lat), rel=1e-9)
    assert set(roads["source"]) == {"roads.geojson"}


def test_shapefile_like_geofabrik(tmp_path: Path) -> None:
    geojson = read_line_roads(line_layer(tmp_path, osm_id=["11", "12", "13"]))
    gpd.read_file(tmp_path / "roads.geojson").to_file(tmp_path / "gis_osm_roads_free_1.shp")
    shp = read_line_roads(tmp_path / "gis_osm_roads_free_1.shp")
    assert_same_roads(shp, geojson)
    assert set(shp["source"]) == {"gis_osm_roads_free_1.shp"}


def test_line_layer_node_ids_do_not_depend_on_row_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(42)
    points = rng.uniform([-8.0, 12.5], [-7.9, 12.6], size=(8, 2))
    lines = [LineString([points[a], points[b]]) for a, b in rng.integers(0, 8, size=(20, 2))]
    lines = [g for g in lines if g.length > 0]
    frame = gpd.GeoDataFrame({"highway": ["track"] * len(lines)}, geometry=lines, crs=4326)
    order = rng.permutation(len(frame))
    frame.to_file(tmp_path / "a.gpkg")
    frame.iloc[order].to_file(tmp_path / "b.gpkg")
    a, b = read_line_roads(tmp_path / "a.gpkg"), read_line_roads(tmp_path / "b.gpkg")
    pd.testing.assert_frame_equal(
        a[["u", "v"]].iloc[order].reset_index(drop=True), b[["u", "v"]].reset_index(drop=True)
    )
    # same point, same id; different points, different ids
    ends = np.concatenate(
        [shapely.get_coordinates(shapely.get_point(a.geometry, i)) for i in (0, -1)]
    )
    ids = np.concatenate([a["u"], a["v"]])
    keys = {tuple(p): i for p, i in zip(ends.round(9).tolist(), ids.tolist(), strict=True)}
    assert len(set(keys.values())) == len(keys)


def test_line_layer_reprojects_and_uses_class_column(tmp_path: Path) -> None:
    line = gpd.GeoSeries([LineString([(-8.0, 12.6), (-7.9, 12.7)])], crs=4326)
    utm = gpd.GeoDataFrame({"kind": ["trunk"]}, geometry=line.to_crs(32629))
    utm.to_file(tmp_path / "utm.gpkg")
    roads = read_line_roads(tmp_path / "utm.gpkg", class_column="kind")
    assert roads.crs.to_epsg() == 4326
    assert roads.loc[0, "road_class"] == "trunk"
    assert roads.loc[0, "length_m"] == pytest.approx(
        GEOD.line_length([-8.0, -7.9], [12.6, 12.7]), rel=1e-6
    )


def test_line_layer_without_class_column_warns(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["a"]}, geometry=[LineString([(-8.0, 12.6), (-7.9, 12.7)])], crs=4326
    )
    frame.to_file(tmp_path / "noclass.gpkg")
    with pytest.warns(UserWarning, match="no road class column"):
        roads = read_line_roads(tmp_path / "noclass.gpkg")
    assert list(roads["road_class"]) == ["unknown"]
    assert roads["paved"].isna().all()
    assert roads["osm_way_id"].isna().all()


def test_line_layer_drops_non_roads_with_a_warning(tmp_path: Path) -> None:
    path = line_layer(tmp_path)
    frame = gpd.read_file(path)
    frame.loc[2, "fclass"] = "proposed"
    frame.to_file(tmp_path / "some.gpkg")
    with pytest.warns(UserWarning, match=r"not roads \['proposed'\]"):
        roads = read_line_roads(tmp_path / "some.gpkg")
    assert list(roads["road_class"]) == ["primary", "track", "track"]


def test_line_layer_errors(tmp_path: Path) -> None:
    path = line_layer(tmp_path)
    with pytest.raises(DataFileError, match=r"roads\.geojson.*no class column 'kind'"):
        read_line_roads(path, class_column="kind")
    with pytest.raises(DataFileError, match="no layer 'edges'"):
        read_line_roads(path, layer="edges")
    with pytest.raises(DataFileError, match=r"missing\.gpkg.*not found"):
        read_line_roads(tmp_path / "missing.gpkg")
    bad = tmp_path / "bad.gpkg"
    bad.write_bytes(b"not a geopackage at all")
    with pytest.raises(DataFileError, match=r"bad\.gpkg"):
        read_line_roads(bad)
    points = gpd.GeoDataFrame({"fclass": ["primary"]}, geometry=[Point(-8, 12.6)], crs=4326)
    points.to_file(tmp_path / "points.gpkg")
    with pytest.raises(DataFileError, match="no line features"):
        read_line_roads(tmp_path / "points.gpkg")


def test_line_layer_lists_every_non_line_row(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"highway": ["primary", "track", "path"]},
        geometry=[LineString([(-8, 12.6), (-7.9, 12.6)]), Point(-8, 12.6), Point(-7.9, 12.6)],
        crs=4326,
    )
    frame.to_file(tmp_path / "mixed.geojson", driver="GeoJSON")
    with pytest.raises(DataValidationError) as info:
        read_line_roads(tmp_path / "mixed.geojson")
    assert [p.row for p in info.value.problems] == [1, 2]


def test_line_layer_picks_the_only_line_layer(tmp_path: Path) -> None:
    gpkg = tmp_path / "net.gpkg"
    gpd.GeoDataFrame({"node": [1]}, geometry=[Point(-8, 12.6)], crs=4326).to_file(
        gpkg, layer="nodes"
    )
    gpd.GeoDataFrame(
        {"highway": ["primary"]}, geometry=[LineString([(-8, 12.6), (-7.9, 12.6)])], crs=4326
    ).to_file(gpkg, layer="edges")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        roads = read_line_roads(gpkg)
    assert list(roads["road_class"]) == ["primary"]
    assert set(roads["source"]) == {"net.gpkg (layer edges)"}


def test_line_layer_endpoints_3e7_degree_apart_are_different_nodes(tmp_path: Path) -> None:
    lines = [
        LineString([(-8.0, 12.6), (-7.99, 12.6)]),
        LineString([(-7.99, 12.6000003), (-7.98, 12.61)]),
    ]
    gpd.GeoDataFrame({"highway": ["track"] * 2}, geometry=lines, crs=4326).to_file(
        tmp_path / "apart.gpkg"
    )
    roads = read_line_roads(tmp_path / "apart.gpkg")
    assert len(set(roads["u"]) | set(roads["v"])) == 4


@pytest.mark.integration
def test_real_junction_layer_node_ids_match_the_authors(data_dir: Path) -> None:
    """Krantz's road segments: coordinate-derived ids give exactly the author's 258 nodes."""
    path = data_dir / "roads" / "mali_road_segments_krantz_smoothed.gpkg"
    with pytest.warns(UserWarning, match="no road class column"):
        roads = read_line_roads(path)
    edges = gpd.read_file(path, layer="edges")
    nodes = gpd.read_file(path, layer="nodes").set_index("node")
    starts = shapely.get_coordinates(shapely.get_point(roads.geometry.values, 0))
    ours: dict[int, int] = {}
    for i, (a, b) in enumerate(zip(edges["from"], edges["to"], strict=True)):
        at_a = np.allclose(starts[i], nodes.loc[a, ["lon", "lat"]].astype(float), atol=1e-6)
        first, last = (a, b) if at_a else (b, a)
        for author, node in ((first, roads["u"].iloc[i]), (last, roads["v"].iloc[i])):
            assert ours.setdefault(int(author), int(node)) == node
    assert len(ours) == len(set(ours.values())) == 258
    np.testing.assert_allclose(roads["length_m"], edges["length_km"] * 1000, rtol=1e-9)
