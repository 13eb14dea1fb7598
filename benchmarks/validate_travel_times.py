#!/usr/bin/env python
"""Orienter's car travel times against OSRM routes and observed journeys, per speed profile.

Run from the repository root, with the data directory named::

    ORIENTER_DATA_DIR=../shared/data .venv/bin/python benchmarks/validate_travel_times.py \\
        [--out report.md] [--json report.json] [--profiles class_table free_flow calibrated]

The car graph is built as ``orienter build`` builds it (same grid, buffer, roads and
densification; ``api.pipeline``), once per speed profile and season.  Each trip is timed
with :func:`geo.trips.trips_from` (a plain Dijkstra from the origin's entries) between:

1. the ends of every OSRM route of ``roads/*osrm_routes*.gpkg`` whose two ends lie in
   Mali (reference: its free-flow ``route_min``);
2. the towns of ``data/validation/observed_journeys.csv`` (located by P-code in the
   gazetteer; reference: the middle of the reported range; rainy-season rows against
   the rainy-season graph).

It then recomputes the calibration factor on the free-flow profile (the rows marked for
calibration whose Orienter path runs at least 90% on mapped roads, one ratio per pair)
and prints a Markdown report: the calibration, the median ratio Orienter/reference per
group and profile, and one line per route and per journey.  Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pyproj import Transformer  # noqa: E402

from api.build.manifest import GRID_BUFFER_M  # noqa: E402
from api.build.roads import choose_roads, load_roads  # noqa: E402
from api.datasets import find_dataset  # noqa: E402
from api.settings import Settings  # noqa: E402
from geo.boundaries import read_boundaries  # noqa: E402
from geo.costgraph import RoadVertices, build_cost_graph, densify_roads  # noqa: E402
from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS  # noqa: E402
from geo.grid import Grid, make_grid  # noqa: E402
from geo.settlements import Gazetteer, read_settlements  # noqa: E402
from geo.speeds import read_speed_table  # noqa: E402
from geo.trips import trips_from  # noqa: E402
from geo.validation import (  # noqa: E402
    calibrate_source_speed_factor,
    pair_key,
    pair_medians,
    ratio_summary,
    read_observed_journeys,
    read_osrm_routes,
)

JOURNEYS = REPO / "data" / "validation" / "observed_journeys.csv"
MAX_OFFROAD_SHARE = 0.10
TO_METRIC = Transformer.from_crs(GEOGRAPHIC_CRS, METRIC_CRS, always_xy=True)


def load_network(settings: Settings) -> tuple[Grid, RoadVertices, object, str]:
    """Grid, densified roads and country (EPSG:4326) exactly as the build makes them."""
    adm0_path = find_dataset(settings, "adm0")
    if adm0_path is None:
        raise SystemExit(f"no ADM0 boundary under {settings.data_dir / 'boundaries'}")
    adm0 = read_boundaries(adm0_path, level=0)
    grid = make_grid(
        adm0.to_crs(METRIC_CRS).union_all(),
        crs=METRIC_CRS,
        cell_m=settings.grid_cell_m,
        buffer_m=GRID_BUFFER_M,
    )
    kind, paths = choose_roads(settings)
    roads = densify_roads(
        load_roads(kind, paths).to_crs(METRIC_CRS), max_segment_m=settings.grid_cell_m / 2
    )
    return grid, roads, adm0.union_all(), f"{kind}: {', '.join(p.name for p in paths)}"


def locate_journeys(journeys: pd.DataFrame, gazetteer: Gazetteer) -> pd.DataFrame:
    """Add lon/lat of both towns, found by P-code; SystemExit naming any P-code not found."""
    out = journeys.copy()
    for end in ("from", "to"):
        lon, lat = [], []
        for pcode in out[f"{end}_pcode"]:
            place = gazetteer.resolve(pcode)
            if place is None:
                raise SystemExit(f"{JOURNEYS}: {end}_pcode {pcode!r} is not in the gazetteer")
            lon.append(place["lon"])
            lat.append(place["lat"])
        out[f"{end}_lon"], out[f"{end}_lat"] = lon, lat
    return out


def time_trips(graph, frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Orienter's trip for every row (from_lon/lat -> to_lon/lat): one Dijkstra per origin."""
    fx, fy = TO_METRIC.transform(frame["from_lon"].to_numpy(), frame["from_lat"].to_numpy())
    tx, ty = TO_METRIC.transform(frame["to_lon"].to_numpy(), frame["to_lat"].to_numpy())
    cols = {k: np.full(len(frame), np.nan) for k in ("min", "km", "road_min", "offroad_km")}
    origins = pd.Series(list(zip(np.round(fx, 1), np.round(fy, 1), strict=True)))
    for (ox, oy), rows in origins.groupby(origins).groups.items():
        idx = np.asarray(rows)
        for i, trip in zip(idx, trips_from(graph, ox, oy, tx[idx], ty[idx]), strict=True):
            cols["min"][i] = trip.minutes
            cols["km"][i] = trip.distance_m / 1000
            cols["road_min"][i] = trip.road_minutes
            cols["offroad_km"][i] = trip.offroad_m / 1000
    return pd.DataFrame({f"{prefix}_{k}": v for k, v in cols.items()}, index=frame.index)


def run_profiles(
    grid, roads, speeds_path, profiles: list[str], osrm: pd.DataFrame, journeys: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Time every route and journey under each profile; the dry graph for OSRM routes."""
    osrm_parts, journey_parts, described = [osrm], [journeys], {}
    rainy = journeys["season"] == "rainy"
    for name in profiles:
        speeds = read_speed_table(speeds_path, profile=name)
        described[name] = {
            "car_source_speed_factor": speeds.source_speed_factor("car"),
            "meaning_fr": speeds.time_meaning("fr", season="dry"),
            "meaning_en": speeds.time_meaning("en", season="dry"),
        }
        parts = []
        for season, rows in (("dry", ~rainy), ("rainy", rainy)):
            if not rows.any():
                continue
            t = time.perf_counter()
            graph = build_cost_graph(grid, roads, speeds, mode="car", season=season)
            if season == "dry":
                osrm_parts.append(time_trips(graph, osrm, name))
            parts.append(time_trips(graph, journeys[rows], name))
            print(f"  {name} {season}: {time.perf_counter() - t:.0f} s", file=sys.stderr)
            del graph
        journey_parts.append(pd.concat(parts).loc[journeys.index])
    return pd.concat(osrm_parts, axis=1), pd.concat(journey_parts, axis=1), described


def calibration_rows(journeys: pd.DataFrame, free_flow: str) -> pd.Series:
    """Rows that calibrate: marked yes, car, not from days, mostly on mapped roads."""
    offroad_share = journeys[f"{free_flow}_offroad_km"] / journeys[f"{free_flow}_km"]
    return (
        journeys["use_for_calibration"]
        & (journeys["mode"] == "car/4x4")
        & ~journeys["from_days"]
        & (journeys["season"] != "rainy")
        & (offroad_share <= MAX_OFFROAD_SHARE)
    )


def journey_groups(j: pd.DataFrame, free_flow: str) -> dict[str, pd.Series]:
    """Named subsets of the observed journeys for the summary table."""
    on_roads = j[f"{free_flow}_offroad_km"] / j[f"{free_flow}_km"] <= MAX_OFFROAD_SHARE
    insecure = j["from_days"] | (j["year"] > 2012)
    dry = j["season"] != "rainy"
    car, bus = j["mode"] == "car/4x4", j["mode"] == "bus"
    return {
        "observed car, calibration pairs": calibration_rows(j, free_flow),
        "observed car, dry, on mapped roads, to 2012": car & dry & on_roads & ~insecure,
        "observed car, dry, off the mapped roads": car & dry & ~on_roads & ~j["from_days"],
        "observed bus, dry, to 2012": bus & dry & ~insecure,
        "rainy season (car and bus)": ~dry & ~insecure,
        "after 2012 or given in days": insecure,
    }


def summary_table(osrm, journeys, profiles, free_flow) -> list[dict]:
    """Median ratio Orienter/reference per group and profile (journeys: per pair first)."""
    out = []
    for name in profiles:
        s = ratio_summary(osrm[f"{name}_min"] / osrm["osrm_minutes"])
        out.append({"group": "OSRM routes, both ends in Mali", "profile": name, **s})
    pair = pair_key(journeys["from_town"], journeys["to_town"])
    for group, rows in journey_groups(journeys, free_flow).items():
        for name in profiles:
            ratio = journeys[f"{name}_min"] / (journeys["reference_h"] * 60)
            per_pair = pair_medians(ratio[rows], pair[rows])
            out.append({"group": group, "profile": name, **ratio_summary(per_pair)})
    return out


def fmt_h(minutes: float) -> str:
    """Minutes as ``7 h 42``."""
    if not np.isfinite(minutes):
        return "unreachable"
    h, m = divmod(round(minutes), 60)
    return f"{h} h {m:02d}"


def markdown(osrm, journeys, summary, calibration, profiles, meta) -> str:
    """The report."""
    before, after = profiles[0], profiles[-1]
    lines = [
        "# Travel-time validation (car)",
        "",
        f"Run {meta['date']}, code {meta['commit']}, roads {meta['roads']}, "
        f"cell {meta['cell_m']:.0f} m, speed table `{meta['speeds']}`.",
        "",
        "Profiles: "
        + "; ".join(
            f"`{n}` (car source-speed factor {d['car_source_speed_factor']}): {d['meaning_en']}"
            for n, d in meta["profiles"].items()
        ),
        "",
        "## Calibration (free-flow profile, observed car journeys on mapped roads)",
        "",
        f"{calibration.n_pairs} pairs; factor making the median ratio 1: "
        f"{calibration.raw:.3f} (leave one pair out: {calibration.leave_one_out[0]:.3f}"
        f"-{calibration.leave_one_out[1]:.3f}); rounded and capped at 1: "
        f"**{calibration.factor:.2f}**; the table's `calibrated` profile uses "
        f"{meta['profiles'].get('calibrated', {}).get('car_source_speed_factor')}.",
        "",
        "| pair | free-flow / observed |",
        "|---|---|",
        *[f"| {p} | {r:.2f} |" for p, r in calibration.pair_ratios.items()],
        "",
        "## Median ratio Orienter / reference",
        "",
        "| group | " + " | ".join(f"`{p}`" for p in profiles) + " |",
        "|---|" + "---|" * len(profiles),
    ]
    for group in dict.fromkeys(r["group"] for r in summary):
        cells = []
        for p in profiles:
            s = next(r for r in summary if r["group"] == group and r["profile"] == p)
            cells.append(
                "n/a"
                if s["n"] == 0
                else f"{s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f}, n={s['n']})"
            )
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    lines += ["", "## Observed journeys", ""]
    lines += journey_lines(journeys, before, after)
    lines += ["", "## OSRM routes with both ends in Mali", ""]
    lines += osrm_lines(osrm, before, after)
    return "\n".join(lines) + "\n"


def journey_lines(j: pd.DataFrame, before: str, after: str) -> list[str]:
    """One Markdown line per observed journey."""
    out = [
        f"| from | to | mode | season | year | observed | `{before}` | ratio | `{after}` | ratio "
        "| off-road km | calibration | source |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in j.sort_values(["from_town", "to_town", "mode", "season"]).iterrows():
        obs = f"{r['hours_min']:g}" + (
            f"-{r['hours_max']:g}"
            if np.isfinite(r["hours_max"]) and r["hours_max"] != r["hours_min"]
            else ""
        )
        ref = r["reference_h"] * 60
        use = r["calibration_use"]
        out.append(
            f"| {r['from_town']} | {r['to_town']} | {r['mode']} | {r['season']} | "
            f"{r['year_of_source'] or '?'} | {obs} h | {fmt_h(r[f'{before}_min'])} | "
            f"{r[f'{before}_min'] / ref:.2f} | {fmt_h(r[f'{after}_min'])} | "
            f"{r[f'{after}_min'] / ref:.2f} | {r[f'{after}_offroad_km']:.0f} | {use} | "
            f"[{r['source_title']}]({r['source_url']}) |"
        )
    return out


def osrm_lines(o: pd.DataFrame, before: str, after: str) -> list[str]:
    """One Markdown line per OSRM route."""
    out = [
        f"| route | OSRM km | OSRM | `{before}` | ratio | `{after}` | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in o.iterrows():
        out.append(
            f"| {r['from_label']} - {r['to_label']} | {r['osrm_distance_m'] / 1000:.0f} | "
            f"{fmt_h(r['osrm_minutes'])} | {fmt_h(r[f'{before}_min'])} | "
            f"{r[f'{before}_min'] / r['osrm_minutes']:.2f} | {fmt_h(r[f'{after}_min'])} | "
            f"{r[f'{after}_min'] / r['osrm_minutes']:.2f} |"
        )
    return out


def label_nodes(osrm: pd.DataFrame, gazetteer: Gazetteer) -> pd.DataFrame:
    """Name each route end after the nearest town (place class <= 4), with the distance
    when it is over 5 km."""
    towns = gazetteer.places[gazetteer.places["place_class"] <= 4]
    tx, ty = TO_METRIC.transform(towns.geometry.x.to_numpy(), towns.geometry.y.to_numpy())
    out = osrm.copy()
    for end in ("from", "to"):
        x, y = TO_METRIC.transform(out[f"{end}_lon"].to_numpy(), out[f"{end}_lat"].to_numpy())
        d = np.hypot(x[:, None] - tx[None, :], y[:, None] - ty[None, :])
        names = towns["name"].to_numpy()[d.argmin(axis=1)]
        out[f"{end}_label"] = [
            str(n) if km <= 5 else f"near {n} ({km:.0f} km)"
            for n, km in zip(names, d.min(axis=1) / 1000, strict=True)
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("ORIENTER_DATA_DIR"))
    parser.add_argument("--journeys", type=Path, default=JOURNEYS)
    parser.add_argument("--speeds", type=Path, default=None, help="speed table (TOML)")
    parser.add_argument(
        "--profiles",
        nargs="+",
        default=["class_table", "free_flow", "calibrated"],
        help="profiles to compare, the former default first and the new one last",
    )
    parser.add_argument("--free-flow-profile", default="free_flow")
    parser.add_argument("--cell-m", type=float, default=1000.0)
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    parser.add_argument("--json", type=Path, help="write every figure here (JSON)")
    args = parser.parse_args(argv)
    if args.data_dir is None:
        parser.error("set ORIENTER_DATA_DIR or pass --data-dir")
    if args.free_flow_profile not in args.profiles:
        parser.error("--free-flow-profile must be one of --profiles")
    settings = Settings(data_dir=args.data_dir, grid_cell_m=args.cell_m)
    t0 = time.perf_counter()
    grid, roads, country, roads_label = load_network(settings)
    gazetteer = Gazetteer.from_settlements(read_settlements(find_dataset(settings, "settlements")))
    osrm_path = next((args.data_dir / "roads").glob("*osrm_routes*.gpkg"), None)
    if osrm_path is None:
        raise SystemExit(f"no OSRM routes (*osrm_routes*.gpkg) under {args.data_dir / 'roads'}")
    osrm = label_nodes(read_osrm_routes(osrm_path, country), gazetteer)
    journeys = locate_journeys(read_observed_journeys(args.journeys), gazetteer)
    osrm, journeys, described = run_profiles(
        grid, roads, args.speeds, args.profiles, osrm, journeys
    )
    ff = args.free_flow_profile
    cal = calibration_rows(journeys, ff)
    journeys["calibration_use"] = np.where(
        cal,
        "yes",
        np.where(
            journeys["use_for_calibration"],
            f"off the mapped roads (over {MAX_OFFROAD_SHARE:.0%} of the way)",
            journeys["calibration_note"],
        ),
    )
    rows = journeys[cal]
    calibration = calibrate_source_speed_factor(
        rows[f"{ff}_road_min"],
        rows[f"{ff}_min"] - rows[f"{ff}_road_min"],
        rows["reference_h"] * 60,
        pair_key(rows["from_town"], rows["to_town"]),
    )
    summary = summary_table(osrm, journeys, args.profiles, ff)
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip(),
        "roads": roads_label,
        "cell_m": args.cell_m,
        "speeds": str(args.speeds or "geo/speeds.toml"),
        "profiles": described,
        "seconds": round(time.perf_counter() - t0),
    }
    report = markdown(osrm, journeys, summary, calibration, args.profiles, meta)
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    if args.json:
        figures = {
            "meta": meta,
            "calibration": {
                "factor": calibration.factor,
                "raw": calibration.raw,
                "leave_one_out": calibration.leave_one_out,
                "pair_ratios": calibration.pair_ratios.to_dict(),
            },
            "summary": summary,
            "osrm": osrm.to_dict(orient="records"),
            "journeys": journeys.drop(columns=["quote"]).to_dict(orient="records"),
        }
        args.json.write_text(json.dumps(figures, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
