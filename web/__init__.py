"""Orienter's pages and maps: folium maps, static maps and Jinja2 pages built from ``geo``
results, the message catalogues and the one number formatter."""

from geo import __version__

__all__ = ["__version__"]
