"""QGIS layer styles (QML) built from plain values: data in, XML text out.

QGIS reads a layer's default style from a ``.qml`` file beside a data file, or from the
``layer_styles`` table of a GeoPackage.  This module writes the few renderers Orienter's
exports need, in the QML dialect of QGIS 3.22 (read by every later 3.x release):

- :func:`single_fill_qml` one fill symbol for every polygon;
- :func:`categorized_fill_qml` one fill symbol per value of a field;
- :func:`graduated_fill_qml` one fill symbol per range of a numeric field;
- :func:`rule_points_qml` one marker symbol per rule (a QGIS expression), each marker
  made of one or more :class:`Marker` layers;
- :func:`raster_classes_qml` a one-band raster in colour classes (discrete pseudocolour).

Colours are ``#RRGGBB`` strings; sizes are millimetres on the screen unless a marker says
``size_unit="RenderMetersInMapUnits"`` (metres on the ground).  Symbol properties are
written both as ``<Option>`` maps (QGIS 3.16 and later) and ``<prop>`` pairs (earlier).

Example
-------
>>> qml = single_fill_qml(Fill("#3F007D", opacity=0.4))
>>> qml.startswith("<!DOCTYPE qgis")
True
"""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "QGIS_VERSION",
    "Category",
    "Fill",
    "Marker",
    "Range",
    "RasterClass",
    "Rule",
    "categorized_fill_qml",
    "graduated_fill_qml",
    "raster_classes_qml",
    "rule_points_qml",
    "single_fill_qml",
]

#: The QGIS release whose QML dialect is written.
QGIS_VERSION = "3.22.16-Białowieża"
_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
_PEN_STYLES = ("solid", "dash", "dot", "dash dot", "no")
_BRUSHES = ("solid", "no", "b_diagonal", "f_diagonal", "diagonal_x", "horizontal", "cross")
_SHAPES = ("circle", "square", "diamond", "triangle", "star", "cross")


def _rgba(colour: str, opacity: float = 1.0, *, name: str = "colour") -> str:
    """``#RRGGBB`` and an opacity (0-1) as QGIS's ``r,g,b,a``."""
    if not isinstance(colour, str) or not _HEX.match(colour):
        raise ValueError(f"{name}={colour!r}: give a colour as #RRGGBB")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity={opacity!r}: give a value from 0 to 1")
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"{r},{g},{b},{round(opacity * 255)}"


def _check(value: str, allowed: Sequence[str], name: str) -> str:
    if value not in allowed:
        raise ValueError(f"{name}={value!r}: use one of {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class Fill:
    """A polygon fill: colour, opacity, brush (``solid``, ``no``, hatches) and outline."""

    colour: str
    opacity: float = 1.0
    outline: str = "#555555"
    outline_width_mm: float = 0.26
    outline_style: str = "solid"
    brush: str = "solid"

    def properties(self) -> dict[str, str]:
        """The SimpleFill symbol-layer properties."""
        _check(self.brush, _BRUSHES, "brush")
        _check(self.outline_style, _PEN_STYLES, "outline_style")
        return {
            "color": _rgba(self.colour, self.opacity),
            "joinstyle": "bevel",
            "offset": "0,0",
            "offset_unit": "MM",
            "outline_color": _rgba(self.outline, name="outline"),
            "outline_style": self.outline_style,
            "outline_width": f"{self.outline_width_mm:g}",
            "outline_width_unit": "MM",
            "style": self.brush,
        }


@dataclass(frozen=True)
class Marker:
    """One marker layer: a shape of ``size`` (``size_unit``: ``MM`` on screen, or
    ``RenderMetersInMapUnits`` on the ground), a fill and an outline.

    ``size_expression``: a QGIS expression giving the size per feature (in ``size_unit``).
    """

    colour: str
    size: float = 3.0
    shape: str = "circle"
    opacity: float = 1.0
    outline: str = "#FFFFFF"
    outline_width_mm: float = 0.4
    outline_style: str = "solid"
    size_unit: str = "MM"
    size_expression: str | None = None

    def properties(self) -> dict[str, str]:
        """The SimpleMarker symbol-layer properties."""
        _check(self.shape, _SHAPES, "shape")
        _check(self.outline_style, _PEN_STYLES, "outline_style")
        _check(self.size_unit, ("MM", "RenderMetersInMapUnits"), "size_unit")
        if not self.size > 0:
            raise ValueError(f"size={self.size!r}: give a size > 0")
        return {
            "angle": "0",
            "color": _rgba(self.colour, self.opacity),
            "horizontal_anchor_point": "1",
            "joinstyle": "bevel",
            "name": self.shape,
            "offset": "0,0",
            "offset_unit": "MM",
            "outline_color": _rgba(self.outline, name="outline"),
            "outline_style": self.outline_style,
            "outline_width": f"{self.outline_width_mm:g}",
            "outline_width_unit": "MM",
            "scale_method": "diameter",
            "size": f"{self.size:g}",
            "size_unit": self.size_unit,
            "vertical_anchor_point": "1",
        }


@dataclass(frozen=True)
class Category:
    """A value of the categorised field, its legend label and fill."""

    value: str
    label: str
    fill: Fill


@dataclass(frozen=True)
class Range:
    """``lower <= value <= upper`` (the first matching range wins), its label and fill."""

    lower: float
    upper: float
    label: str
    fill: Fill


@dataclass(frozen=True)
class Rule:
    """Features where ``expression`` (a QGIS expression) is true, drawn with ``markers``
    (bottom first); ``expression="ELSE"`` catches the features no other rule took."""

    expression: str
    label: str
    markers: tuple[Marker, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class RasterClass:
    """Cells with values up to ``upper`` (and above the previous class) in ``colour``;
    ``upper=math.inf`` for the last, open class."""

    upper: float
    colour: str
    label: str


# --------------------------------------------------------------------------- XML helpers


def _options(parent: ET.Element, props: dict[str, str]) -> None:
    """Write ``props`` both as an ``<Option type="Map">`` and as ``<prop>`` pairs."""
    option = ET.SubElement(parent, "Option", type="Map")
    for key, value in props.items():
        ET.SubElement(option, "Option", name=key, type="QString", value=value)
    for key, value in props.items():
        ET.SubElement(parent, "prop", k=key, v=value)


def _size_property(parent: ET.Element, expression: str) -> None:
    """A data-defined ``size`` (QGIS property collection) computed by ``expression``."""
    ddp = ET.SubElement(parent, "data_defined_properties")
    root = ET.SubElement(ddp, "Option", type="Map")
    ET.SubElement(root, "Option", name="name", type="QString", value="")
    props = ET.SubElement(root, "Option", name="properties", type="Map")
    size = ET.SubElement(props, "Option", name="size", type="Map")
    ET.SubElement(size, "Option", name="active", type="bool", value="true")
    ET.SubElement(size, "Option", name="expression", type="QString", value=expression)
    ET.SubElement(size, "Option", name="type", type="int", value="3")
    ET.SubElement(root, "Option", name="type", type="QString", value="collection")


def _symbol(parent: ET.Element, name: str, kind: str, layers: Sequence[Fill | Marker]) -> None:
    symbol = ET.SubElement(
        parent,
        "symbol",
        type=kind,
        name=name,
        alpha="1",
        clip_to_extent="1",
        force_rhr="0",
    )
    for layer in layers:
        cls = "SimpleFill" if isinstance(layer, Fill) else "SimpleMarker"
        element = ET.SubElement(
            symbol, "layer", {"class": cls, "enabled": "1", "locked": "0", "pass": "0"}
        )
        _options(element, layer.properties())
        if isinstance(layer, Marker) and layer.size_expression:
            _size_property(element, layer.size_expression)


def _document(*, raster: bool = False) -> ET.Element:
    return ET.Element(
        "qgis",
        version=QGIS_VERSION,
        styleCategories="AllStyleCategories" if raster else "Symbology",
    )


def _text(root: ET.Element) -> str:
    ET.indent(root, space=" ")
    return _DOCTYPE + ET.tostring(root, encoding="unicode") + "\n"


def _renderer(root: ET.Element, kind: str, **attributes: str) -> ET.Element:
    renderer = ET.SubElement(
        root,
        "renderer-v2",
        {
            "type": kind,
            "symbollevels": "0",
            "forceraster": "0",
            "enableorderby": "0",
            **attributes,
        },
    )
    return renderer


def _tail(root: ET.Element, renderer: ET.Element) -> None:
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "featureBlendMode").text = "0"
    ET.SubElement(root, "layerOpacity").text = "1"


# --------------------------------------------------------------------------- renderers


def single_fill_qml(fill: Fill) -> str:
    """QML drawing every polygon with ``fill``."""
    root = _document()
    renderer = _renderer(root, "singleSymbol")
    _symbol(ET.SubElement(renderer, "symbols"), "0", "fill", [fill])
    _tail(root, renderer)
    return _text(root)


def categorized_fill_qml(attribute: str, categories: Sequence[Category]) -> str:
    """QML drawing polygons by the value of ``attribute`` (text compared as written)."""
    if not categories:
        raise ValueError("categories must not be empty")
    root = _document()
    renderer = _renderer(root, "categorizedSymbol", attr=attribute)
    cats = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    for i, cat in enumerate(categories):
        ET.SubElement(
            cats, "category", value=str(cat.value), symbol=str(i), label=cat.label, render="true"
        )
        _symbol(symbols, str(i), "fill", [cat.fill])
    _tail(root, renderer)
    return _text(root)


def graduated_fill_qml(attribute: str, ranges: Sequence[Range]) -> str:
    """QML drawing polygons by the range of the numeric ``attribute`` they fall in.

    Features whose value is null or outside every range are not drawn.
    """
    if not ranges:
        raise ValueError("ranges must not be empty")
    for r in ranges:
        if not r.lower <= r.upper:
            raise ValueError(f"range {r.label!r}: lower {r.lower} > upper {r.upper}")
    root = _document()
    renderer = _renderer(root, "graduatedSymbol", attr=attribute, graduatedMethod="GraduatedColor")
    ranges_el = ET.SubElement(renderer, "ranges")
    symbols = ET.SubElement(renderer, "symbols")
    for i, r in enumerate(ranges):
        ET.SubElement(
            ranges_el,
            "range",
            lower=f"{r.lower:.6f}",
            upper=f"{r.upper:.6f}",
            symbol=str(i),
            label=r.label,
            render="true",
        )
        _symbol(symbols, str(i), "fill", [r.fill])
    ET.SubElement(renderer, "mode", name="manual")
    _tail(root, renderer)
    return _text(root)


def rule_points_qml(rules: Sequence[Rule]) -> str:
    """QML drawing points by rules, each a QGIS expression and one or more markers.

    Rules are tried in order and every matching rule draws (QGIS's rule-based renderer);
    write exclusive expressions, and ``ELSE`` last for the rest.
    """
    if not rules:
        raise ValueError("rules must not be empty")
    root = _document()
    renderer = _renderer(root, "RuleRenderer")
    rules_el = ET.SubElement(renderer, "rules", key="{orienter-root}")
    symbols = ET.SubElement(renderer, "symbols")
    for i, rule in enumerate(rules):
        if not rule.markers:
            raise ValueError(f"rule {rule.label!r} has no marker")
        ET.SubElement(
            rules_el,
            "rule",
            filter=rule.expression,
            symbol=str(i),
            label=rule.label,
            key=f"{{orienter-rule-{i}}}",
        )
        _symbol(symbols, str(i), "marker", rule.markers)
    _tail(root, renderer)
    return _text(root)


def raster_classes_qml(
    classes: Sequence[RasterClass], *, opacity: float = 1.0, band: int = 1
) -> str:
    """QML drawing one raster band in discrete colour classes (no-data cells transparent).

    ``classes`` in increasing ``upper`` order; a cell takes the first class whose
    ``upper`` is at least its value.
    """
    if not classes:
        raise ValueError("classes must not be empty")
    uppers = [c.upper for c in classes]
    if any(b <= a for a, b in itertools.pairwise(uppers)):
        raise ValueError(f"class upper bounds must increase, got {uppers}")
    _rgba("#000000", opacity)
    root = _document(raster=True)
    pipe = ET.SubElement(root, "pipe")
    provider = ET.SubElement(pipe, "provider")
    ET.SubElement(
        provider,
        "resampling",
        enabled="false",
        maxOversampling="2",
        zoomedInResamplingMethod="nearestNeighbour",
        zoomedOutResamplingMethod="nearestNeighbour",
    )
    finite = [u for u in uppers if math.isfinite(u)]
    renderer = ET.SubElement(
        pipe,
        "rasterrenderer",
        type="singlebandpseudocolor",
        band=str(band),
        opacity=f"{opacity:g}",
        alphaBand="-1",
        classificationMin="0",
        classificationMax=f"{max(finite) if finite else 0:g}",
        nodataColor="",
    )
    ET.SubElement(renderer, "rasterTransparency")
    limits = ET.SubElement(renderer, "minMaxOrigin")
    for tag, text in (
        ("limits", "None"),
        ("extent", "WholeRaster"),
        ("statAccuracy", "Estimated"),
        ("cumulativeCutLower", "0.02"),
        ("cumulativeCutUpper", "0.98"),
        ("stdDevFactor", "2"),
    ):
        ET.SubElement(limits, tag).text = text
    shader = ET.SubElement(ET.SubElement(renderer, "rastershader"), "colorrampshader")
    shader.attrib.update(
        colorRampType="DISCRETE",
        classificationMode="1",
        clip="0",
        labelPrecision="0",
        minimumValue="0",
        maximumValue=f"{max(finite) if finite else 0:g}",
    )
    for c in classes:
        _rgba(c.colour, name="colour")
        ET.SubElement(
            shader,
            "item",
            alpha="255",
            color=c.colour.lower(),
            label=c.label,
            value="inf" if math.isinf(c.upper) else f"{c.upper:g}",
        )
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(
        pipe,
        "huesaturation",
        colorizeBlue="128",
        colorizeGreen="128",
        colorizeOn="0",
        colorizeRed="255",
        colorizeStrength="100",
        grayscaleMode="0",
        invertColors="0",
        saturation="0",
    )
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    ET.SubElement(pipe, "resamplingStage").text = "resamplingFilter"
    ET.SubElement(root, "blendMode").text = "0"
    return _text(root)
