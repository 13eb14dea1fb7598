"""Orienter's geospatial library: loaders, travel-time, conflict and coverage layers.

``geo`` never imports ``web`` or ``api``, never reads settings or environment
variables, and never prints.  The modules are imported by name
(``from geo.traveltime import nearest_source_times``); this package re-exports the
few entry points most callers need.
"""

from geo.boundaries import read_boundaries
from geo.costgraph import build_cost_graph, densify_roads
from geo.grid import make_grid
from geo.labels import NearestLabels, labels_surface, nearest_labels
from geo.nearest import nearest_providers
from geo.providers import public_providers, read_providers
from geo.routes import rank_point
from geo.settlements import Gazetteer, read_settlements
from geo.speeds import read_speed_table
from geo.traveltime import nearest_source_times

__all__ = [
    "Gazetteer",
    "NearestLabels",
    "build_cost_graph",
    "densify_roads",
    "labels_surface",
    "make_grid",
    "nearest_labels",
    "nearest_providers",
    "nearest_source_times",
    "public_providers",
    "rank_point",
    "read_boundaries",
    "read_providers",
    "read_settlements",
    "read_speed_table",
]
