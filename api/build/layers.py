"""Built layers loaded once (CLI start-up or API lifespan) and the nearest-service answer.

The calls into the travel-time engine that answer "which providers are nearest" live
here: :func:`load_layers` (graphs with the providers attached, memory-mapped matrices,
route indexes) and :func:`answer_nearest`.
"""

from __future__ import annotations

import gc
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import shapely

from api.build.manifest import NotBuiltError, read_manifest
from api.settings import Settings
from geo.costgraph import CostGraph, attach_points
from geo.crs import METRIC_CRS
from geo.nearest import (
    CLOSED_ORIGIN,
    NearestAnswer,
    ProviderTable,
    RouteIndex,
    index_routes,
    nearest_answer,
)
from geo.providers import public_mask
from geo.settlements import Gazetteer
from geo.store import load_graph, load_matrix
from geo.traveltime import SourceMatrix

__all__ = ["PUBLIC_FIELDS", "Layers", "answer_nearest", "load_layers"]


@dataclass
class Layers:
    """Everything a nearest-service query needs, loaded once."""

    manifest: dict
    providers: gpd.GeoDataFrame  # aligned with the matrix columns
    graphs: dict[tuple[str, str], CostGraph]
    matrices: dict[tuple[str, str], SourceMatrix]
    gazetteer: Gazetteer | None = None
    zone: np.ndarray | None = None  # conflict class per grid cell (0 low, 1 elevated, 2 high)
    #: route totals from every road vertex, per (mode, scenario) (see geo.nearest.RouteIndex)
    route_index: dict[tuple[str, str], RouteIndex] = field(default_factory=dict)
    table: ProviderTable | None = None  # the providers as plain records, prepared once
    _visible: dict[bool, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.table is None:
            self.table = ProviderTable.from_frame(self.providers)

    @property
    def provider_table(self) -> ProviderTable:
        """The providers as plain records (prepared in ``__post_init__``)."""
        if self.table is None:
            self.table = ProviderTable.from_frame(self.providers)
        return self.table

    @property
    def modes(self) -> list[str]:
        return sorted({m for m, _ in self.graphs})

    @property
    def scenarios(self) -> list[str]:
        return sorted({s for _, s in self.graphs})

    def visible(self, include_confidential: bool) -> np.ndarray:
        """Which matrix columns a requester may see (public only without a caseworker token)."""
        if include_confidential not in self._visible:
            self._visible[include_confidential] = (
                np.ones(len(self.providers), bool)
                if include_confidential
                else public_mask(self.providers)
            )
        return self._visible[include_confidential]


def load_layers(
    settings: Settings,
    *,
    gazetteer: Gazetteer | None = None,
    only: Collection[tuple[str, str]] | None = None,
    freeze: bool = True,
) -> Layers:
    """Load the graphs and memory-mapped matrices of every built (mode, scenario)
    (``only``: of these (mode, scenario) pairs, when built).

    Also sets up the route index of each (mode, scenario)
    (:func:`geo.nearest.index_routes`, filled per source on first use) so that a query
    only walks from the point to the nearest stop.  With ``freeze`` (a server), the
    loaded objects are then frozen out of the cyclic garbage collector (``gc.freeze``):
    they live as long as the process; a one-off computation passes ``freeze=False``.
    """
    root = settings.build_dir
    manifest = read_manifest(root)
    providers = gpd.read_parquet(root / "providers.parquet")
    metric = providers.to_crs(METRIC_CRS)
    px, py = metric.geometry.x.to_numpy(), metric.geometry.y.to_numpy()
    zone_path = root / "conflict" / "zone.npy"
    zone = np.load(zone_path) if zone_path.is_file() else None
    graphs, matrices, indexes = {}, {}, {}
    for mode in manifest.get("modes", []):
        for scenario in manifest.get("scenarios", []):
            if only is not None and (mode, scenario) not in only:
                continue
            tag = f"{mode}-{scenario}"
            base = load_graph(root / "graphs" / f"{tag}.npz")
            graph, _ = attach_points(base, px, py, keep_isolated=True)
            matrix = load_matrix(root / "matrices" / tag)
            graphs[(mode, scenario)] = graph
            matrices[(mode, scenario)] = matrix
            indexes[(mode, scenario)] = index_routes(graph, matrix, cell_zone=zone)
    if not graphs:
        raise NotBuiltError(f"the manifest in {root} lists no built mode; run `orienter build`")
    layers = Layers(
        manifest=manifest,
        providers=providers,
        graphs=graphs,
        matrices=matrices,
        gazetteer=gazetteer,
        zone=zone,
        route_index=indexes,
    )
    if freeze:
        # Everything loaded so far lives as long as the process: keep it out of the cyclic
        # garbage collector, whose full passes over it stalled a server for ~0.2 s (p99).
        gc.collect()
        gc.freeze()
    return layers


PUBLIC_FIELDS = (
    "id",
    "name",
    "type",
    "services",
    "travel_time_min",
    "distance_km",
    "straight_km",
    "reachable",
    "unreachable_reason",
    "location_precision",
    "lat",
    "lon",
    "town",
    "address",
    "phone",
    "opening_hours",
    "languages",
    "source",
    "source_date",
    "last_verified",
    "zone_class",
    "route_conflict",
    "scenario_effect",
    "baseline_travel_time_min",
)


def answer_nearest(
    layers: Layers,
    *,
    lon: float,
    lat: float,
    service: str | None,
    mode: str,
    scenario: str = "baseline",
    k: int = 5,
    include_confidential: bool = False,
    place: dict | None = None,
    routes: bool = False,
    method: Literal["matrix", "dijkstra"] = "matrix",
) -> dict:
    """The nearest-service answer as plain JSON-ready data.

    ``method="dijkstra"`` answers the same question with a full Dijkstra from the point
    instead of the stored matrix: the reference, for checks and benchmarks only.
    """
    if (mode, scenario) not in layers.graphs:
        raise ValueError(
            f"mode/scenario {mode}/{scenario} is not built; built: "
            f"{', '.join(f'{m}/{s}' for m, s in layers.graphs)}"
        )
    visible = layers.visible(include_confidential)
    found = _run(layers, mode, scenario, lon, lat, visible, service, k, routes, method)
    table = found.records
    zones = layers.zone is not None
    effects: list[str] | None = None
    base_times: list[float | None] | None = None
    if scenario != "baseline" and (mode, "baseline") in layers.graphs and table:
        ids = {r["id"] for r in table}
        same = visible & layers.providers["id"].isin(ids).to_numpy()
        base_found = _run(
            layers, mode, "baseline", lon, lat, same, service, len(ids), False, method
        )
        base = {r["id"]: r for r in base_found.records}
        effects = [_scenario_effect(r, base[r["id"]]) for r in table]
        base_times = [base[r["id"]]["travel_time_min"] for r in table]
    results = []
    for i, rec in enumerate(table):
        row = dict(rec)
        if zones:
            w = rec.get("route_worst_class")
            row["route_conflict"] = (
                None if w is None else {"worst_class": w, "km_by_class": rec["route_km_by_class"]}
            )
        if effects is not None and base_times is not None:
            row["scenario_effect"] = effects[i]
            row["baseline_travel_time_min"] = base_times[i]
        item = {f: row[f] for f in PUBLIC_FIELDS if f in row}
        if routes:
            line = found.routes[i] if found.routes is not None else None
            item["route"] = (
                None
                if line is None
                else shapely.geometry.mapping(shapely.set_precision(line, 1e-6))
            )
        results.append(item)
    query = {
        "lat": lat,
        "lon": lon,
        "service": service,
        "mode": mode,
        "scenario": scenario,
        "k": k,
        **found.entry,
    }
    if place is not None:
        query["place"] = place
    return {
        "query": query,
        "results": results,
        "data": {
            "roads": layers.manifest.get("inputs", {}).get("roads", {}).get("kind"),
            "built_at": layers.manifest.get("built_at"),
        },
    }


def _run(
    layers: Layers,
    mode: str,
    scenario: str,
    lon: float,
    lat: float,
    visible: np.ndarray,
    service: str | None,
    k: int,
    routes: bool,
    method: Literal["matrix", "dijkstra"],
) -> NearestAnswer:
    return nearest_answer(
        layers.graphs[(mode, scenario)],
        layers.matrices[(mode, scenario)],
        layers.provider_table,
        lon,
        lat,
        visible=visible,
        service=service,
        k=k,
        index=layers.route_index.get((mode, scenario)),
        cell_zone=layers.zone,
        with_routes=routes,
        method=method,
    )


def _scenario_effect(row: dict, base: dict) -> str:
    """How the scenario changed this provider's route against the baseline."""
    if not row["reachable"] and row["unreachable_reason"] == CLOSED_ORIGIN:
        return "unreachable: the point itself lies in a closed high-conflict zone"
    if not row["reachable"]:
        return (
            "unreachable: every route crosses a closed high-conflict zone"
            if base["reachable"]
            else "unreachable in the baseline too"
        )
    base_worst = base.get("route_worst_class")
    worst = row.get("route_worst_class")
    if base_worst == "high" and worst != "high":
        return "rerouted around the high-conflict zone"
    if (
        base["travel_time_min"] is not None
        and abs(row["travel_time_min"] - base["travel_time_min"]) < 0.05
    ):
        return "unchanged"
    return "slower through conflict zones"
