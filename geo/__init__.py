"""Orienter's geospatial library: loaders, travel-time, conflict and coverage layers.

``geo`` never imports ``web`` or ``api``, never reads settings or environment
variables, and never prints.  The modules are imported by name
(``from geo.traveltime import nearest_source_times``); this package re-exports the
entry points most callers need, the public Python API of the library
(docs/python-api.md lists each with an example): reading the data, the travel-time
graph and its labels, coverage tables, siting and what-ifs on arrays, conflict zones,
and the one public-provider mask.  The questions asked of a built directory
(``open_build``, ``coverage``, ``nearest``...) are in :mod:`api.services`.
"""

from importlib.metadata import PackageNotFoundError, version

from geo.boundaries import read_boundaries
from geo.costgraph import build_cost_graph, densify_roads
from geo.coverage import coverage_table
from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS
from geo.grid import make_grid
from geo.labels import NearestLabels, labels_surface, nearest_labels
from geo.nearest import nearest_providers, providers_offering
from geo.providers import public_mask, public_providers, read_providers
from geo.routes import rank_point
from geo.settlements import Gazetteer, read_settlements
from geo.siting import candidate_reach, greedy_sites, what_if_add
from geo.speeds import read_speed_table
from geo.traveltime import nearest_source_times
from geo.zones import ZONE_CLASSES, admin_summary, conflict_surface, zone_at, zone_polygons

try:
    #: The installed version of Orienter (package metadata).
    __version__ = version("orienter")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "GEOGRAPHIC_CRS",
    "METRIC_CRS",
    "ZONE_CLASSES",
    "Gazetteer",
    "NearestLabels",
    "__version__",
    "admin_summary",
    "build_cost_graph",
    "candidate_reach",
    "conflict_surface",
    "coverage_table",
    "densify_roads",
    "greedy_sites",
    "labels_surface",
    "make_grid",
    "nearest_labels",
    "nearest_providers",
    "nearest_source_times",
    "providers_offering",
    "public_mask",
    "public_providers",
    "rank_point",
    "read_boundaries",
    "read_providers",
    "read_settlements",
    "read_speed_table",
    "what_if_add",
    "zone_at",
    "zone_polygons",
]
