"""The ``orienter`` command line: one root Typer app, one module per command group."""

from __future__ import annotations

import logging

import typer

from api import cli_data, cli_providers, cli_roads
from api.cli import conflict as cli_conflict
from api.cli import coverage as cli_coverage
from api.cli import export as cli_export
from api.cli import map as cli_map
from api.cli import nearest as cli_engine
from api.cli import places as cli_places
from api.cli import route as cli_route
from api.services import briefings as briefs

app = typer.Typer(
    help="Orienter: GBV/SEA survivor services in Mali, travel times and conflict.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(cli_data.app, name="data", help="Obtain and check the data directory.")
app.add_typer(
    cli_providers.app,
    name="providers",
    help="The provider directory: validate, import, export, status, verification rounds.",
)
app.add_typer(cli_places.app, name="places", help="Search the settlements gazetteer.")
app.add_typer(cli_conflict.app, name="conflict", help="Conflict zones and summaries.")
app.add_typer(cli_roads.app, name="roads", help="Export the road graph (GraphML, GeoPackage).")
app.command("build")(cli_engine.build)
app.command("nearest")(cli_engine.nearest)
app.command("route")(cli_route.route)
app.command("serve")(cli_engine.serve)
app.command("up")(cli_engine.up)
app.command("coverage")(cli_coverage.coverage)
app.command("site")(cli_coverage.site)
app.command("map")(cli_map.map_command)
app.command("export")(cli_export.export_command)
app.command("brief")(briefs.brief)


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
