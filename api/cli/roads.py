"""`orienter roads ...` commands: the road network for osmnx, networkx and GIS users."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli._console import check_writable, console, fail
from api.settings import get_settings
from geo.errors import DataFileError, DataValidationError

app = typer.Typer(help="Road network commands.", no_args_is_help=True)


def _read_roads(roads_file: Path | None):
    """The road layer: ``roads_file`` when given, else the one the build uses."""
    from geo.osm import OSM_SUFFIXES, read_line_roads, read_osm_roads

    if roads_file is not None:
        if roads_file.name.lower().endswith(OSM_SUFFIXES):
            return read_osm_roads(roads_file), str(roads_file)
        return read_line_roads(roads_file), str(roads_file)
    from api.build.roads import choose_roads, load_roads

    kind, paths = choose_roads(get_settings())
    return load_roads(kind, paths), ", ".join(str(p) for p in paths)


@app.command("export")
def export(
    out: Annotated[
        Path,
        typer.Option("--out", help="File to write (.graphml or .gpkg).", show_default=False),
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="graphml|gpkg",
            help="Output format; default from the --out suffix.",
            show_default=False,
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option("--mode", help="Mode whose times fill `travel_time` and `speed_kph`."),
    ] = "car",
    season: Annotated[
        str | None,
        typer.Option(
            "--season",
            metavar="dry|rainy",
            help="Season of the speeds; default ORIENTER_SEASON.",
            show_default=False,
        ),
    ] = None,
    roads_file: Annotated[
        Path | None,
        typer.Option(
            "--roads",
            help="Road file to export (OSM .osm.pbf/.osm/.osm.gz/.osm.bz2, or a line layer); "
            "default: the road data the build uses.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Export the road graph as GraphML or GeoPackage, with travel times for every mode.

    Edges carry `length` (m), `highway` (road class), `travel_time_<mode>` and
    `speed_kph_<mode>` for each mode of the speed table (seconds and km/h, as osmnx), and
    `travel_time` for --mode.  Every road is two-way, as in Orienter's travel-time graph.
    Load it with `osmnx.load_graphml(F)` or open the GeoPackage in QGIS.
    """
    from geo.roadgraph import GRAPH_FORMATS, write_road_graph
    from geo.speeds import read_speed_table

    settings = get_settings()
    kind = fmt if fmt is not None else GRAPH_FORMATS.get(out.suffix.lower())
    if kind not in GRAPH_FORMATS.values():
        raise fail(
            f"--format must be graphml or gpkg (or --out must end in .graphml or .gpkg); "
            f"got --format {fmt} for --out {out}",
            code=2,
        )
    check_writable(out)
    try:
        speeds = read_speed_table(settings.speeds)
        speeds.mode(mode)
    except ValueError as exc:
        raise fail(f"--mode: {exc}", code=2) from exc
    chosen_season = season or settings.season
    if chosen_season not in ("dry", "rainy"):
        raise fail(f"--season must be dry or rainy, got {season!r}", code=2)
    try:
        roads, source = _read_roads(roads_file)
        written = write_road_graph(
            roads, out, speeds=speeds, fmt=kind, season=chosen_season, mode=mode
        )
    except (DataFileError, DataValidationError) as exc:
        raise fail(str(exc)) from exc
    n_loops = int((roads["u"] == roads["v"]).sum())
    n_edges = 2 * len(roads) - n_loops
    console.print(
        f"Wrote {written} ({kind}): {n_edges:,} edges (both directions of {len(roads):,} road "
        f"stretches) from {source}; travel_time = {mode}, {chosen_season} season; "
        f"travel_time_<mode> for {', '.join(speeds.modes)}.",
        highlight=False,
        soft_wrap=True,
    )
