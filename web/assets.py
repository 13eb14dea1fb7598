"""The JavaScript and CSS the maps need, vendored so that nothing comes from a CDN.

Field laptops are often offline and no CDN is reachable from the app's host, so every asset
a folium map uses is kept under ``web/static/vendor/<package>/`` (see the README there for
versions and licences) and used in one of two modes:

- **served**: the map's HTML links ``/static/vendor/...`` (the app mounts ``web/static`` at
  ``/static``). Build the map with :class:`OfflineMap` (and :class:`OfflineMarkerCluster`,
  :class:`OfflineFullscreen`) and render it as usual.
- **standalone**: :func:`standalone_html` renders the map and inlines every script and style
  sheet, with the images that the style sheets reference as ``data:`` URIs, so that a file
  sent by e-mail opens with no network at all.

folium's own defaults pull jQuery, Bootstrap, Font Awesome and awesome-markers from CDNs;
:class:`OfflineMap` drops them. Maps draw markers as SVG circles or ``DivIcon`` instead of
awesome-markers, and the few places where folium's templates call jQuery (``$(html)[0]`` in
popups, ``$(document).ready``) are served by a ten-line shim (:data:`NO_JQUERY_SHIM`).
"""

from __future__ import annotations

import base64
import mimetypes
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import folium
from branca.element import Element, Figure
from folium import plugins

__all__ = [
    "ASSETS",
    "NO_JQUERY_SHIM",
    "STATIC_URL",
    "VENDOR_DIR",
    "Asset",
    "OfflineFullscreen",
    "OfflineMap",
    "OfflineMarkerCluster",
    "asset_path",
    "asset_url",
    "inline_assets",
    "standalone_html",
]

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
STATIC_URL = "/static/vendor"


@dataclass(frozen=True)
class Asset:
    """One vendored file: ``name`` is its folium header key, ``path`` is under VENDOR_DIR."""

    name: str
    path: str
    kind: str  # "js" or "css"


LEAFLET_JS = Asset("leaflet", "leaflet/leaflet.js", "js")
LEAFLET_CSS = Asset("leaflet_css", "leaflet/leaflet.css", "css")
MARKERCLUSTER_JS = Asset("markerclusterjs", "leaflet.markercluster/leaflet.markercluster.js", "js")
MARKERCLUSTER_CSS = Asset("markerclustercss", "leaflet.markercluster/MarkerCluster.css", "css")
MARKERCLUSTER_DEFAULT_CSS = Asset(
    "markerclusterdefaultcss", "leaflet.markercluster/MarkerCluster.Default.css", "css"
)
FULLSCREEN_JS = Asset("Control.Fullscreen.js", "leaflet.fullscreen/Control.FullScreen.js", "js")
FULLSCREEN_CSS = Asset("Control.FullScreen.css", "leaflet.fullscreen/Control.FullScreen.css", "css")

#: Every vendored asset, in load order (Leaflet first).
ASSETS: tuple[Asset, ...] = (
    LEAFLET_JS,
    LEAFLET_CSS,
    MARKERCLUSTER_JS,
    MARKERCLUSTER_CSS,
    MARKERCLUSTER_DEFAULT_CSS,
    FULLSCREEN_JS,
    FULLSCREEN_CSS,
)

#: What folium's templates need from jQuery, without jQuery: ``$(html)[0]`` parses one element
#: (popups) and ``$(document).ready(fn)``. Defined only when no real jQuery is on the page.
NO_JQUERY_SHIM = """<script>
window.$ = window.$ || function (x) {
  if (x === document) {
    return {ready: function (fn) {
      if (document.readyState !== "loading") { fn(); }
      else { document.addEventListener("DOMContentLoaded", fn); }
    }};
  }
  var t = document.createElement("template");
  t.innerHTML = String(x).trim();
  return [t.content.firstElementChild];
};
</script>"""


def asset_path(asset: Asset) -> Path:
    """The vendored file of ``asset`` on disk."""
    return VENDOR_DIR / asset.path


def asset_url(asset: Asset, *, base: str = STATIC_URL) -> str:
    """The URL the app serves ``asset`` at (``/static/vendor/leaflet/leaflet.js``)."""
    return f"{base.rstrip('/')}/{asset.path}"


def _links(*assets: Asset) -> list[tuple[str, str]]:
    return [(a.name, asset_url(a)) for a in assets]


class OfflineMap(folium.Map):
    """A ``folium.Map`` that loads Leaflet from the app (no jQuery, Bootstrap or Font Awesome).

    Same arguments as ``folium.Map``; ``tiles`` defaults to ``None`` so that nothing is fetched
    unless a tile layer is added on purpose, and ``min_zoom``/``max_zoom`` bind the map itself
    (folium passes them to the tile layer only; with no tiles, marker clustering needs them).
    """

    default_js = _links(LEAFLET_JS)
    default_css = _links(LEAFLET_CSS)

    #: The document language, set by :func:`web.maps.new_map` (read by ``map_html``).
    orienter_lang: str = "fr"

    def __init__(
        self,
        location: Any = None,
        *,
        tiles: Any = None,
        min_zoom: int = 3,
        max_zoom: int = 18,
        **kwargs: Any,
    ) -> None:
        super().__init__(location, tiles=tiles, min_zoom=min_zoom, max_zoom=max_zoom, **kwargs)
        self.options["min_zoom"] = min_zoom
        self.options["max_zoom"] = max_zoom

    def render(self, **kwargs: Any) -> Any:
        figure = self.get_root()
        if isinstance(figure, Figure):
            figure.header.add_child(Element(NO_JQUERY_SHIM), name="orienter_no_jquery")
        return super().render(**kwargs)


class OfflineMarkerCluster(plugins.MarkerCluster):
    """``folium.plugins.MarkerCluster`` with the vendored Leaflet.markercluster."""

    default_js = _links(MARKERCLUSTER_JS)
    default_css = _links(MARKERCLUSTER_CSS, MARKERCLUSTER_DEFAULT_CSS)


class OfflineFullscreen(plugins.Fullscreen):
    """``folium.plugins.Fullscreen`` with the vendored leaflet.fullscreen."""

    default_js = _links(FULLSCREEN_JS)
    default_css = _links(FULLSCREEN_CSS)


_CSS_URL = re.compile(r"""url\((['"]?)(?!data:|#|https?:)([^'")]+)\1\)""")
_SOURCE_MAP = re.compile(r"^//# sourceMappingURL=.*$", re.MULTILINE)


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".svg":
        mime = "image/svg+xml"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


@cache
def _inline_text(asset: Asset) -> str:
    """The file's text ready to inline: images as data: URIs, no source-map comment."""
    path = asset_path(asset)
    text = path.read_text(encoding="utf-8")
    if asset.kind == "css":
        text = _CSS_URL.sub(lambda m: f'url("{_data_uri(path.parent / m.group(2))}")', text)
    else:
        text = _SOURCE_MAP.sub("", text)
        # An inline script ends at the first "</script", whatever the JS means by it.
        text = text.replace("</script", "<\\/script")
    return text


def inline_assets(html: str, *, base: str = STATIC_URL) -> str:
    """Replace each link to a vendored asset in ``html`` by the asset's content.

    Raises
    ------
    ValueError
        When a ``/static/vendor/`` link is left that is not a known asset, so a page that
        would not work offline is never written.
    """
    for asset in ASSETS:
        url = asset_url(asset, base=base)
        if asset.kind == "js":
            tag = f'<script src="{url}"></script>'
            inlined = f"<script>{_inline_text(asset)}</script>"
        else:
            tag = f'<link rel="stylesheet" href="{url}"/>'
            inlined = f"<style>{_inline_text(asset)}</style>"
        html = html.replace(tag, inlined)
    left = re.findall(r"""(?:src|href)=["']([^"']*/static/vendor/[^"']*)""", html)
    if left:
        raise ValueError(f"assets not inlined (unknown to web.assets.ASSETS): {sorted(set(left))}")
    return html


def standalone_html(m: folium.Map, *, lang: str = "fr", title: str | None = None) -> str:
    """The map as one self-contained HTML document (every script and style inlined).

    ``lang`` sets the document language; ``title`` its ``<title>``.
    """
    html = m.get_root().render()
    html = inline_assets(html)
    html = html.replace("<html>", f'<html lang="{lang}">', 1)
    if title:
        from html import escape

        html = html.replace("<head>", f"<head>\n<title>{escape(title)}</title>", 1)
    return html
