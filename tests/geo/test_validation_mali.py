"""Calibrated car times on the real Mali data against observed journeys (integration).

Tolerance: the observed car range widened by 20% either side.  20% is the scatter of the
four calibration pairs around the free-flow times (OSRM free-flow / observed: 0.82 to
1.13, docs/travel-time.md "Validation"); a time outside that band is off by more than
the evidence itself varies.
"""

from __future__ import annotations

import pytest
from pyproj import Transformer

from geo.boundaries import read_boundaries
from geo.costgraph import build_cost_graph, densify_roads
from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS
from geo.grid import make_grid
from geo.roads import read_road_segments
from geo.settlements import Gazetteer, read_settlements
from geo.speeds import read_speed_table
from geo.trips import trips_from

pytestmark = pytest.mark.integration
TO_METRIC = Transformer.from_crs(GEOGRAPHIC_CRS, METRIC_CRS, always_xy=True)
TOLERANCE = 0.20
#: observed car journeys (data/validation/observed_journeys.csv): hours, low and high
OBSERVED_CAR_H = {"Mopti": (8.0, 10.0), "Segou": (2.5, 3.0)}


@pytest.fixture(scope="module")
def from_bamako(data_dir):
    """Car hours from Bamako to Mopti and Ségou under the calibrated and class profiles."""
    adm0 = read_boundaries(next((data_dir / "boundaries").glob("*adm0*.geojson")), level=0)
    grid = make_grid(
        adm0.to_crs(METRIC_CRS).union_all(), crs=METRIC_CRS, cell_m=1000, buffer_m=5000
    )
    roads = read_road_segments(next((data_dir / "roads").glob("*road_segments*.gpkg")))
    rv = densify_roads(roads.to_crs(METRIC_CRS), max_segment_m=500)
    gaz = Gazetteer.from_settlements(
        read_settlements(next((data_dir / "settlements").glob("*populated_places*.geojson")))
    )

    def xy(pcode):
        place = gaz.resolve(pcode)
        return TO_METRIC.transform(place["lon"], place["lat"])

    bamako = xy("ML090103000")
    towns = {"Mopti": xy("ML050000000"), "Segou": xy("ML040000000")}
    hours = {}
    for profile in ("calibrated", "class_table"):
        graph = build_cost_graph(grid, rv, read_speed_table(profile=profile), mode="car")
        trips = trips_from(
            graph, *bamako, [p[0] for p in towns.values()], [p[1] for p in towns.values()]
        )
        hours[profile] = {town: trip for town, trip in zip(towns, trips, strict=True)}
    return hours


@pytest.mark.parametrize("town", sorted(OBSERVED_CAR_H))
def test_calibrated_car_time_from_bamako_lies_in_the_observed_range(from_bamako, town):
    low, high = OBSERVED_CAR_H[town]
    trip = from_bamako["calibrated"][town]
    hours = trip.minutes / 60
    assert low * (1 - TOLERANCE) <= hours <= high * (1 + TOLERANCE), f"{town}: {hours:.2f} h"
    assert trip.offroad_m < 5_000  # both towns lie on the mapped corridor


def test_former_class_speeds_were_outside_the_range_that_calibration_fixed(from_bamako):
    # the finding: 50 km/h on every corridor put Bamako-Mopti at over 12.5 h
    before = from_bamako["class_table"]["Mopti"].minutes / 60
    after = from_bamako["calibrated"]["Mopti"].minutes / 60
    assert before > OBSERVED_CAR_H["Mopti"][1] * (1 + TOLERANCE) > after
    # same road, same length: only the speeds changed
    assert from_bamako["class_table"]["Mopti"].distance_m == pytest.approx(
        from_bamako["calibrated"]["Mopti"].distance_m, rel=0.02
    )
