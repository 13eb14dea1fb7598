"""Built layers loaded once (CLI start-up or API lifespan) and the nearest-service answer."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from api.settings import Settings
from geo.costgraph import CostGraph, attach_points
from geo.crs import METRIC_CRS
from geo.nearest import CLOSED_ORIGIN, nearest_providers
from geo.settlements import Gazetteer
from geo.store import load_graph, load_matrix
from geo.traveltime import SourceMatrix

__all__ = ["Layers", "NotBuiltError", "answer_nearest", "load_layers", "token_is_valid"]


class NotBuiltError(FileNotFoundError):
    """The build directory holds no built layers."""


@dataclass
class Layers:
    """Everything a nearest-service query needs, loaded once."""

    manifest: dict
    providers: gpd.GeoDataFrame  # aligned with the matrix columns
    graphs: dict[tuple[str, str], CostGraph]
    matrices: dict[tuple[str, str], SourceMatrix]
    gazetteer: Gazetteer | None = None
    zone: np.ndarray | None = None  # conflict class per grid cell (0 low, 1 elevated, 2 high)

    @property
    def modes(self) -> list[str]:
        return sorted({m for m, _ in self.graphs})

    @property
    def scenarios(self) -> list[str]:
        return sorted({s for _, s in self.graphs})


def load_layers(settings: Settings, *, gazetteer: Gazetteer | None = None) -> Layers:
    """Load the graphs and memory-mapped matrices of every built (mode, scenario)."""
    root = settings.build_dir
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise NotBuiltError(f"no built layers in {root}; run `orienter build` first")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    providers = gpd.read_parquet(root / "providers.parquet")
    metric = providers.to_crs(METRIC_CRS)
    px, py = metric.geometry.x.to_numpy(), metric.geometry.y.to_numpy()
    graphs, matrices = {}, {}
    for mode in manifest.get("modes", []):
        for scenario in manifest.get("scenarios", []):
            tag = f"{mode}-{scenario}"
            base = load_graph(root / "graphs" / f"{tag}.npz")
            graphs[(mode, scenario)], _ = attach_points(base, px, py, keep_isolated=True)
            matrices[(mode, scenario)] = load_matrix(root / "matrices" / tag)
    if not graphs:
        raise NotBuiltError(f"the manifest in {root} lists no built mode; run `orienter build`")
    zone_path = root / "conflict" / "zone.npy"
    return Layers(
        manifest=manifest,
        providers=providers,
        graphs=graphs,
        matrices=matrices,
        gazetteer=gazetteer,
        zone=np.load(zone_path) if zone_path.is_file() else None,
    )


def token_is_valid(token: str | None, hashes: list[str]) -> bool:
    """Constant-time check of a caseworker token against configured SHA-256 hex digests."""
    if not token:
        return False
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
    ok = False
    for h in hashes:
        ok |= hmac.compare_digest(digest, h.strip().lower())
    return ok


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
) -> dict:
    """The nearest-service answer as plain JSON-ready data."""
    if (mode, scenario) not in layers.graphs:
        raise ValueError(
            f"mode/scenario {mode}/{scenario} is not built; built: "
            f"{', '.join(f'{m}/{s}' for m, s in layers.graphs)}"
        )
    providers = layers.providers
    visible = (
        np.ones(len(providers), bool)
        if include_confidential
        else ~providers["confidential"].astype(bool).to_numpy()
    )

    def run(scen: str, mask: np.ndarray, count: int):
        return nearest_providers(
            layers.graphs[(mode, scen)],
            layers.matrices[(mode, scen)],
            providers,
            lon,
            lat,
            visible=mask,
            service=service,
            k=count,
            with_routes=routes or layers.zone is not None,
            cell_zone=layers.zone,
        )

    found = run(scenario, visible, k)
    table = found.results
    if layers.zone is not None and "route_worst_class" in table:
        table["route_conflict"] = [
            None if w is None else {"worst_class": w, "km_by_class": kmc}
            for w, kmc in zip(table["route_worst_class"], table["route_km_by_class"], strict=True)
        ]
    if scenario != "baseline" and (mode, "baseline") in layers.graphs and len(table):
        ids = set(table["id"])
        same = visible & providers["id"].isin(ids).to_numpy()
        base = run("baseline", same, len(ids)).results.set_index("id")
        effects, base_times = [], []
        for row in table.itertuples():
            b = base.loc[row.id]
            base_times.append(b["travel_time_min"])
            effects.append(_scenario_effect(row, b))
        table["baseline_travel_time_min"] = base_times
        table["scenario_effect"] = effects
    results = []
    for i, row in enumerate(table.to_dict("records")):
        item = {f: _plain(row.get(f)) for f in PUBLIC_FIELDS if f in row}
        if routes:
            line = found.routes.geometry.iloc[i]
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


def _scenario_effect(row, base) -> str:
    """How the scenario changed this provider's route against the baseline."""
    if not row.reachable and row.unreachable_reason == CLOSED_ORIGIN:
        return "unreachable: the point itself lies in a closed high-conflict zone"
    if not row.reachable:
        return (
            "unreachable: every route crosses a closed high-conflict zone"
            if base["reachable"]
            else "unreachable in the baseline too"
        )
    base_worst = base.get("route_worst_class")
    worst = getattr(row, "route_worst_class", None)
    if base_worst == "high" and worst != "high":
        return "rerouted around the high-conflict zone"
    if abs(row.travel_time_min - base["travel_time_min"]) < 0.05:
        return "unchanged"
    return "slower through conflict zones"


def _plain(value):
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    try:
        import pandas as pd

        if value is not None and not isinstance(value, list | dict | str) and pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def build_dir_ok(path: Path) -> bool:
    """True when ``path`` holds a manifest."""
    return (path / "manifest.json").is_file()
