"""Read road networks from local files into Orienter's road schema.

Two readers return the same schema (see ``docs/architecture.md``, "Roads"): one row per
road stretch between two graph nodes, with columns ``u``, ``v`` (int64 node ids),
``road_class``, ``paved`` (nullable boolean), ``length_m`` (geodesic, WGS84), ``source``,
``osm_way_id`` and a LineString ``geometry`` from node ``u`` to node ``v``, in EPSG:4326.

- :func:`read_osm_roads` (:mod:`geo.osm.reader`) reads OpenStreetMap files, ``.osm.pbf``
  (a whole country extract such as Geofabrik's ``mali-latest.osm.pbf``) and OSM XML
  (``.osm``, ``.osm.gz``, ``.osm.bz2``), streamed with pyosmium and a node location index.
- :func:`read_line_roads` (:mod:`geo.osm.lines`) reads any line layer (GeoPackage, GeoJSON,
  Shapefile) with a road-class column; node ids come from endpoint coordinates.
- :mod:`geo.osm.tags` maps OSM tags to road classes and paved flags;
  :mod:`geo.osm.oracle` reads OSM XML through osmnx, the reference the tests hold the
  streaming reader to.
"""

from geo.osm.lines import CLASS_COLUMN_CANDIDATES, read_line_roads
from geo.osm.reader import OSM_SUFFIXES, read_osm_roads
from geo.osm.tags import ROAD_CLASSES, paved_from_surface, road_class_from_highway

__all__ = [
    "CLASS_COLUMN_CANDIDATES",
    "OSM_SUFFIXES",
    "ROAD_CLASSES",
    "paved_from_surface",
    "read_line_roads",
    "read_osm_roads",
    "road_class_from_highway",
]
