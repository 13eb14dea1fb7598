"""QGIS styles (QML): the XML QGIS reads, with Orienter's colours, classes and labels."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from web import package_styles as styles
from web.maps_style import CONFLICT_COLOURS, TIME_COLOURS, TYPE_COLOURS
from web.qml import (
    Category,
    Fill,
    Marker,
    Range,
    RasterClass,
    Rule,
    categorized_fill_qml,
    graduated_fill_qml,
    raster_classes_qml,
    rule_points_qml,
    single_fill_qml,
)


def _parse(qml: str) -> ET.Element:
    assert qml.startswith("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>")
    root = ET.fromstring(qml.split("\n", 1)[1])
    assert root.tag == "qgis" and root.get("version", "").startswith("3.")
    return root


def _props(layer: ET.Element) -> dict[str, str]:
    """Properties of a symbol layer, checking the <Option> map and <prop> pairs agree."""
    option = {o.get("name"): o.get("value") for o in layer.find("Option").findall("Option")}
    legacy = {p.get("k"): p.get("v") for p in layer.findall("prop")}
    assert option == legacy
    return option


def test_single_fill_colour_opacity_and_hatch():
    root = _parse(single_fill_qml(Fill("#3F007D", opacity=0.5, brush="b_diagonal")))
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "singleSymbol"
    layer = renderer.find("symbols/symbol/layer")
    assert layer.get("class") == "SimpleFill" and layer.get("pass") == "0"
    props = _props(layer)
    assert props["color"] == "63,0,125,128"
    assert props["style"] == "b_diagonal"


def test_categorized_and_graduated_hold_every_class_in_order():
    cats = [Category("a", "A", Fill("#000000")), Category("b", "B", Fill("#FFFFFF"))]
    root = _parse(categorized_fill_qml("kind", cats))
    renderer = root.find("renderer-v2")
    assert renderer.get("attr") == "kind"
    assert [
        (c.get("value"), c.get("label"), c.get("symbol")) for c in renderer.iter("category")
    ] == [
        ("a", "A", "0"),
        ("b", "B", "1"),
    ]
    assert [s.get("name") for s in renderer.find("symbols")] == ["0", "1"]
    ranges = [Range(0, 0.5, "low", Fill("#000000")), Range(0.5, 1, "high", Fill("#FFFFFF"))]
    root = _parse(graduated_fill_qml("share", ranges))
    found = [(float(r.get("lower")), float(r.get("upper"))) for r in root.iter("range")]
    assert found == [(0.0, 0.5), (0.5, 1.0)]


def test_rule_points_with_ground_size_expression():
    marker = Marker(
        "#D55E00",
        size=10000,
        opacity=0,
        outline_style="dash",
        size_unit="RenderMetersInMapUnits",
        size_expression='2 * "uncertainty_m"',
    )
    root = _parse(rule_points_qml([Rule("\"type\" = 'ngo'", "NGO", (marker, Marker("#000000")))]))
    rule = root.find("renderer-v2/rules/rule")
    assert rule.get("filter") == "\"type\" = 'ngo'" and rule.get("label") == "NGO"
    layers = root.findall("renderer-v2/symbols/symbol/layer")
    assert len(layers) == 2
    props = _props(layers[0])
    assert props["size_unit"] == "RenderMetersInMapUnits" and props["color"].endswith(",0")
    size = layers[0].find("data_defined_properties//Option[@name='size']")
    values = {o.get("name"): o.get("value") for o in size}
    assert values == {"active": "true", "expression": '2 * "uncertainty_m"', "type": "3"}


def test_raster_classes_are_discrete_with_an_open_last_class():
    classes = [RasterClass(30, "#1A9850", "< 30 min"), RasterClass(math.inf, "#D73027", "more")]
    root = _parse(raster_classes_qml(classes, opacity=0.8))
    renderer = root.find("pipe/rasterrenderer")
    assert renderer.get("type") == "singlebandpseudocolor" and renderer.get("opacity") == "0.8"
    shader = renderer.find("rastershader/colorrampshader")
    assert shader.get("colorRampType") == "DISCRETE"
    assert [(i.get("value"), i.get("color")) for i in shader] == [
        ("30", "#1a9850"),
        ("inf", "#d73027"),
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: single_fill_qml(Fill("red")), "colour='red'"),
        (lambda: single_fill_qml(Fill("#FFFFFF", opacity=2)), "opacity=2"),
        (lambda: single_fill_qml(Fill("#FFFFFF", brush="dots")), "brush='dots'"),
        (lambda: categorized_fill_qml("a", []), "categories"),
        (lambda: graduated_fill_qml("a", [Range(1, 0, "x", Fill("#FFFFFF"))]), "lower 1"),
        (lambda: rule_points_qml([Rule("TRUE", "x")]), "no marker"),
        (
            lambda: raster_classes_qml(
                [RasterClass(60, "#FFFFFF", "a"), RasterClass(30, "#FFFFFF", "b")]
            ),
            "must increase",
        ),
        (lambda: rule_points_qml([Rule("TRUE", "x", (Marker("#FFFFFF", size=0),))]), "size=0"),
    ],
)
def test_bad_values_are_named(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call()


# --------------------------------------------------------------------------- Orienter's


def test_providers_style_tells_approximate_locations_apart():
    root = _parse(styles.providers_qml(["ngo", "one_stop_centre", "unheard_of"], lang="en"))
    rules = root.findall("renderer-v2/rules/rule")
    labels = [r.get("label") for r in rules]
    # types in the palette's order, each precise then approximate; unknown types as "other"
    assert labels[:2] == ["One Stop Centre", "One Stop Centre (approximate location)"]
    assert labels[2:4] == ["NGO", "NGO (approximate location)"] and len(rules) == 6
    symbols = root.findall("renderer-v2/symbols/symbol")
    precise, approx = symbols[0].findall("layer"), symbols[1].findall("layer")
    assert len(precise) == 1 and _props(precise[0])["outline_style"] == "solid"
    assert len(approx) == 2
    assert {_props(layer)["outline_style"] for layer in approx} == {"dash"}
    assert _props(approx[0])["size_unit"] == "RenderMetersInMapUnits"
    r, g, b = (int(TYPE_COLOURS["one_stop_centre"][i : i + 2], 16) for i in (1, 3, 5))
    assert _props(precise[0])["color"] == f"{r},{g},{b},255"
    assert styles.APPROXIMATE_EXPRESSION in rules[1].get("filter")
    assert f"NOT ({styles.APPROXIMATE_EXPRESSION})" in rules[0].get("filter")


def test_coverage_style_matches_the_web_map_classes():
    root = _parse(styles.coverage_qml(120, lang="fr"))
    renderer = root.find("renderer-v2")
    assert renderer.get("attr") == "share_within_120"
    ranges = [(float(r.get("lower")), float(r.get("upper"))) for r in renderer.iter("range")]
    assert len(ranges) == 5 and ranges[0][0] == 0 and ranges[-1][1] == 1
    # a unit at exactly 20 % (shares rounded to 1e-4) is in the second class, as on the web
    assert ranges[0][1] < 0.2 < ranges[1][1]
    assert next(r.get("label") for r in renderer.iter("range")) == "0–20\u00a0%"


def test_zone_isochrone_and_raster_styles():
    zones = _parse(styles.zones_qml(lang="en"))
    assert [c.get("value") for c in zones.iter("category")] == list(CONFLICT_COLOURS)
    low = zones.find("renderer-v2/symbols/symbol/layer")
    assert _props(low)["style"] == "no"  # the low class is an outline only
    iso = _parse(styles.isochrones_qml(lang="fr"))
    assert [c.get("value") for c in iso.iter("category")] == ["30", "60", "120", "300"]
    tt = _parse(styles.travel_time_qml(lang="en"))
    items = list(tt.find("pipe/rasterrenderer/rastershader/colorrampshader"))
    assert [i.get("value") for i in items] == ["30", "60", "120", "300", "inf"]
    assert [i.get("color") for i in items] == [c.lower() for c in TIME_COLOURS[:5]]
    pop = _parse(styles.population_qml([0.5, 10, 100, 1000], lang="fr"))
    labels = [i.get("label") for i in pop.iter("item")]
    assert labels[0] == "≤ 0,5" and labels[-1] == "> 1\u202f000"
    with pytest.raises(ValueError, match="breaks"):
        styles.population_qml([1, 2, 3, 4, 5])
