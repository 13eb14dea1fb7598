"""Built layers loaded once (CLI start-up or API lifespan) and the nearest-service answer.

Per (mode, scenario) a :class:`geo.layers.Layer`: the graph and the label sets, memory
mapped (several server processes share one copy in the page cache).  A public answer is
computed from the public sets and the public provider table only; a caseworker's merges
the confidential sets and says so (``query.includes_confidential``).
"""

from __future__ import annotations

import gc
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from api.build.manifest import NotBuiltError, read_manifest
from api.settings import Settings
from geo.costgraph import CostGraph
from geo.freshness import freshness_flags
from geo.layers import Layer, load_sets
from geo.nearest import CLOSED_ORIGIN, NearestAnswer, ProviderTable, nearest_answer
from geo.route_summary import load_summaries, zone_fingerprint
from geo.routes import node_classes
from geo.settlements import Gazetteer
from geo.speeds import read_speed_table
from geo.store import load_graph
from geo.zones import scenario_assumption

__all__ = [
    "PUBLIC_FIELDS",
    "Layers",
    "NotBuiltError",
    "answer_nearest",
    "load_layers",
    "time_meaning",
]


def time_meaning(manifest: dict, lang: str = "fr") -> str:
    """What a build's travel times mean (its speed profile and season), in ``lang``: the
    one sentence the finder, referral sheets, pathways and briefings print."""
    speeds = manifest.get("inputs", {}).get("speeds", {})
    try:
        table = read_speed_table(speeds.get("path"), profile=speeds.get("profile"))
    except (OSError, ValueError):  # the table moved: the default one's wording
        table = read_speed_table()
    season = manifest.get("parameters", {}).get("season", "dry")
    return table.time_meaning(lang, season=season)


@dataclass
class Layers:
    """Everything a nearest-service query needs, loaded once."""

    manifest: dict
    providers: gpd.GeoDataFrame  # public providers: the rows public label ids point into
    confidential: gpd.GeoDataFrame  # confidential ones: rows len(providers) + i
    layers: dict[tuple[str, str], Layer]
    gazetteer: Gazetteer | None = None
    zone: np.ndarray | None = None  # conflict class per grid cell (0 low, 1 elevated, 2 high)
    public_table: ProviderTable | None = None
    combined_table: ProviderTable | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.public_table is None:
            self.public_table = ProviderTable.from_frame(self.providers)
        if self.combined_table is None:
            both = (
                gpd.GeoDataFrame(
                    pd.concat([self.providers, self.confidential], ignore_index=True),
                    geometry="geometry",
                    crs=self.providers.crs,
                )
                if len(self.confidential)
                else self.providers
            )
            self.combined_table = ProviderTable.from_frame(both)

    @property
    def graphs(self) -> dict[tuple[str, str], CostGraph]:
        """The graph of every built (mode, scenario)."""
        return {key: layer.graph for key, layer in self.layers.items()}

    @property
    def modes(self) -> list[str]:
        return sorted({m for m, _ in self.layers})

    @property
    def scenarios(self) -> list[str]:
        return sorted({s for _, s in self.layers})

    @property
    def conflict_window(self) -> dict | None:
        """The events the conflict zones come from: ``start``, ``end`` (ISO dates) and
        ``source`` (ACLED or UCDP GED, from the event file's name); None without zones."""
        conflict = self.manifest.get("conflict") or {}
        if not (conflict.get("start") and conflict.get("end")):
            return None
        path = str((self.manifest.get("inputs", {}).get("conflict") or {}).get("path") or "")
        name = path.rsplit("/", 1)[-1].lower()
        source = (
            "ACLED" if "acled" in name else "UCDP GED" if "ged" in name or "ucdp" in name else None
        )
        return {"start": conflict["start"], "end": conflict["end"], "source": source}

    def scenario_assumes(self, scenario: str) -> dict[str, str] | None:
        """What ``scenario`` assumes, in French and English (None for the baseline)."""
        window = self.conflict_window or {}
        found = {
            lang: scenario_assumption(
                scenario,
                lang,
                start=window.get("start"),
                end=window.get("end"),
                source=window.get("source"),
            )
            for lang in ("fr", "en")
        }
        return None if found["fr"] is None else found  # type: ignore[return-value]

    @property
    def k(self) -> int:
        """The most providers an answer can list (labels kept per place by the build)."""
        return int(self.manifest.get("parameters", {}).get("nearest_k", 5))

    def time_meaning(self, lang: str = "fr") -> str:
        """What this build's travel times mean (speed profile and season), in ``lang``."""
        key = ("time_meaning", lang)
        if key not in self._cache:
            self._cache[key] = time_meaning(self.manifest, lang)
        return self._cache[key]

    def freshness(self, include_confidential: bool) -> dict[str, dict]:
        """Per provider id: status, evidence date and the "à vérifier" flag as of today
        (:func:`geo.freshness.freshness_flags`), computed once a day per audience."""
        key = ("freshness", include_confidential, date.today())
        if key not in self._cache:
            frame = self.table(include_confidential).frame
            flags = freshness_flags(frame, as_of=key[2]) if len(frame) else None
            out: dict[str, dict] = {}
            if flags is not None:
                for pid, row in zip(frame["id"].astype(str), flags.to_dict("records"), strict=True):
                    out[pid] = {k: _plain_value(v) for k, v in row.items()}
            self._cache = {k: v for k, v in self._cache.items() if k[0] != "freshness"}
            self._cache[key] = out
        return self._cache[key]

    def table(self, include_confidential: bool) -> ProviderTable:
        """The provider rows a requester's answers may name."""
        found = self.combined_table if include_confidential else self.public_table
        assert found is not None  # set in __post_init__
        return found


def _step_key(manifest: dict, tag: str) -> str | None:
    """The key the labels of ``tag`` were built with (None if the manifest has none)."""
    entry = manifest.get("steps", {}).get(f"labels:{tag}")
    return entry.get("key") if isinstance(entry, dict) else None


def load_layers(
    settings: Settings,
    *,
    gazetteer: Gazetteer | None = None,
    only: Collection[tuple[str, str]] | None = None,
    freeze: bool = True,
) -> Layers:
    """Load the graph and the memory-mapped label sets of every built (mode, scenario)
    (``only``: of these (mode, scenario) pairs, when built).

    With ``freeze`` (a server), the loaded objects are then frozen out of the cyclic
    garbage collector (``gc.freeze``): they live as long as the process; a one-off
    computation passes ``freeze=False``.
    """
    root = settings.build_dir
    manifest = read_manifest(root)
    providers = gpd.read_parquet(root / "providers.parquet")
    confidential_path = root / "providers_confidential.parquet"
    confidential = (
        gpd.read_parquet(confidential_path)
        if confidential_path.is_file()
        else providers.iloc[0:0].copy()
    )
    zone_path = root / "conflict" / "zone.npy"
    zone = np.load(zone_path) if zone_path.is_file() else None
    zone_made = zone_fingerprint(zone)  # what the route summaries must have been made with
    layers: dict[tuple[str, str], Layer] = {}
    for mode in manifest.get("modes", []):
        for scenario in manifest.get("scenarios", []):
            if only is not None and (mode, scenario) not in only:
                continue
            tag = f"{mode}-{scenario}"
            if not (root / "graphs" / tag / "meta.json").is_file():
                raise NotBuiltError(f"{root} lists {tag} but holds no graph of it; rebuild")
            graph = load_graph(root / "graphs" / tag)
            sets = load_sets(root / "labels" / tag)
            classes = None if zone is None else node_classes(graph, zone)
            # the route summaries made with these labels and these zones, if the build
            # kept them (else the walks go the whole way: slower, the same answers)
            made_with = {"zone": zone_made, "labels": _step_key(manifest, tag)}
            summaries = load_summaries(root / "summaries" / tag, made_with, classes)
            sets = {
                name: replace(labels, summary=summaries[name]) if name in summaries else labels
                for name, labels in sets.items()
            }
            layers[(mode, scenario)] = Layer(graph, sets, classes)
    if not layers:
        raise NotBuiltError(f"the manifest in {root} lists no built mode; run `orienter build`")
    loaded = Layers(
        manifest=manifest,
        providers=providers,
        confidential=confidential,
        layers=layers,
        gazetteer=gazetteer,
        zone=zone,
    )
    if freeze:
        # Everything loaded so far lives as long as the process: keep it out of the cyclic
        # garbage collector, whose full passes over it stalled a server for ~0.2 s (p99).
        gc.collect()
        gc.freeze()
    return loaded


PUBLIC_FIELDS = (
    "id",
    "name",
    "type",
    "services",
    "travel_time_min",
    "distance_km",
    "straight_km",
    "offroad_km",
    "offroad_min",
    "time_flags",
    "same_site",
    "reachable",
    "unreachable_reason",
    "location_precision",
    "lat",
    "lon",
    "town",
    "address",
    "phone",
    "opening_hours",
    # the display fields' English (the directory's own, for the English pages)
    "name_en",
    "town_en",
    "address_en",
    "opening_hours_en",
    "languages",
    "source",
    "source_date",
    "last_verified",
    "verified_by",
    "status",
    "status_date",
    "confidence",
    "evidence_date",
    "needs_verification",
    "unconfirmed_since",
    "zone_class",
    "route_conflict",
    "scenario_effect",
    "scenario_effect_code",
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
    method: Literal["labels", "dijkstra"] = "labels",
    provider_ids: Sequence[str] | None = None,
) -> dict:
    """The nearest-service answer as plain JSON-ready data.

    ``method="dijkstra"`` answers the same question with a full Dijkstra from the point
    instead of the labels: the reference, for checks and benchmarks only.
    ``provider_ids`` times these providers (directory ids), however far, instead of the
    ``k`` nearest: a full search from the point.

    Raises
    ------
    ValueError
        An unbuilt mode/scenario, ``k`` above :attr:`Layers.k`, or a provider id that is
        not one the requester may see (unknown and confidential ids alike).
    """
    if (mode, scenario) not in layers.layers:
        raise ValueError(
            f"mode/scenario {mode}/{scenario} is not built; built: "
            f"{', '.join(f'{m}/{s}' for m, s in layers.layers)}"
        )
    only: list[int] | None = None
    if provider_ids is not None:
        only = _rows_of(layers, provider_ids, include_confidential)
        k = len(only)
    elif not 1 <= k <= layers.k:
        raise ValueError(f"k must be 1 to {layers.k} (providers kept per place by the build)")
    found = _run(
        layers, mode, scenario, lon, lat, service, k, routes, method, include_confidential, only
    )
    table = found.records
    zones = layers.zone is not None
    effects: list[tuple[str, str]] | None = None
    base_times: list[float | None] | None = None
    if scenario != "baseline" and (mode, "baseline") in layers.layers and table:
        base = _baseline_of(layers, mode, lon, lat, service, found, method, include_confidential)
        effects = [_scenario_effect(r, base[r["id"]]) for r in table]
        base_times = [base[r["id"]]["travel_time_min"] for r in table]
    results = []
    fresh = layers.freshness(include_confidential)
    for i, rec in enumerate(table):
        row = {**rec, **fresh.get(str(rec.get("id")), {})}
        if zones:
            w = rec.get("route_worst_class")
            row["route_conflict"] = (
                None if w is None else {"worst_class": w, "km_by_class": rec["route_km_by_class"]}
            )
        if effects is not None and base_times is not None:
            row["scenario_effect_code"], row["scenario_effect"] = effects[i]
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
        "includes_confidential": bool(include_confidential),
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
            "time_meaning": {lang: layers.time_meaning(lang) for lang in ("fr", "en")},
            "conflict": layers.conflict_window,
            "scenario_assumes": layers.scenario_assumes(scenario),
        },
    }


def _run(
    layers: Layers,
    mode: str,
    scenario: str,
    lon: float,
    lat: float,
    service: str | None,
    k: int,
    routes: bool,
    method: Literal["labels", "dijkstra"],
    include_confidential: bool,
    only_ids: list[int] | None = None,
) -> NearestAnswer:
    layer = layers.layers[(mode, scenario)]
    return nearest_answer(
        layer.graph,
        layer.visible(service, caseworker=include_confidential),
        layers.table(include_confidential),
        lon,
        lat,
        k=k,
        node_class=layer.node_class,
        with_routes=routes,
        method=method,
        only_ids=only_ids,
    )


def _plain_value(value: object) -> object:
    """A JSON-ready scalar: numpy to Python, NaN/NA to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    try:
        if value is not None and not isinstance(value, str | bool | int | float) and pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _rows_of(layers: Layers, provider_ids: Sequence[str], include_confidential: bool) -> list[int]:
    """Rows of the requester's table for these directory ids (a ValueError otherwise)."""
    table = layers.table(include_confidential).frame
    rows = {str(pid): i for i, pid in enumerate(table["id"].astype(str))}
    missing = [pid for pid in provider_ids if str(pid) not in rows]
    if missing or not provider_ids:
        raise ValueError("provider_ids: no provider with this id among those you may see")
    return [rows[str(pid)] for pid in provider_ids]


def _baseline_of(
    layers: Layers,
    mode: str,
    lon: float,
    lat: float,
    service: str | None,
    found: NearestAnswer,
    method: Literal["labels", "dijkstra"],
    include_confidential: bool,
) -> dict[str, dict]:
    """The baseline record of every provider of a scenario answer, by id.

    The baseline's own top-k (a lookup) holds most of them; a provider the scenario
    brought forward from further down is timed by a full search from the point.
    """
    args = (layers, mode, "baseline", lon, lat, service)
    top = _run(*args, layers.k, False, method, include_confidential)
    base = {r["id"]: r for r in top.records}  # an unreachable one here is truly unreachable
    missing = [int(i) for i, r in zip(found.ids, found.records, strict=True) if r["id"] not in base]
    if missing:
        extra = _run(*args, len(missing), False, "dijkstra", include_confidential, missing)
        base.update({r["id"]: r for r in extra.records})
    return base


def _scenario_effect(row: dict, base: dict) -> tuple[str, str]:
    """How the scenario changed this provider's route against the baseline: a code (for
    pages to translate) and an English phrase."""
    if not row["reachable"] and row["unreachable_reason"] == CLOSED_ORIGIN:
        return "closed_origin", "unreachable: the point itself lies in a closed high-conflict zone"
    if not row["reachable"]:
        if base["reachable"]:
            return "cut_off", "unreachable: every route crosses a closed high-conflict zone"
        return "unreachable_baseline", "unreachable in the baseline too"
    base_worst = base.get("route_worst_class")
    worst = row.get("route_worst_class")
    if base_worst == "high" and worst != "high":
        return "rerouted", "rerouted around the high-conflict zone"
    if (
        base["travel_time_min"] is not None
        and abs(row["travel_time_min"] - base["travel_time_min"]) < 0.05
    ):
        return "unchanged", "unchanged"
    return "slower", "slower through conflict zones"


def build_dir_ok(path: Path) -> bool:
    """True when ``path`` holds a manifest."""
    return (path / "manifest.json").is_file()
