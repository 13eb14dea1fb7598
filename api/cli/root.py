"""The ``orienter`` command line: one root Typer app, one module per command group.

Errors are printed by Click as plain text (``rich_markup_mode=None``): a usage error
reads ``Error: Invalid value for '--level': 'adm9' is not one of 'adm1', 'adm2', 'adm3'.``
on one line whatever the terminal's width, and exits 2.
"""

from __future__ import annotations

import logging

import typer

from api.cli import (
    brief,
    build,
    conflict,
    coverage,
    data,
    export,
    map,
    nearest,
    pathway,
    places,
    providers,
    roads,
    route,
    serve,
    site,
)

app = typer.Typer(
    help="Orienter: GBV/SEA survivor services in Mali, travel times and conflict.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(data.app, name="data", help="Obtain and check the data directory.")
app.add_typer(
    providers.app,
    name="providers",
    help="The provider directory: validate, import, export, status, verification rounds.",
)
app.add_typer(places.app, name="places", help="Search the settlements gazetteer.")
app.add_typer(conflict.app, name="conflict", help="Conflict zones and summaries.")
app.add_typer(roads.app, name="roads", help="Export the road graph (GraphML, GeoPackage).")
app.command("build")(build.build)
app.command("nearest")(nearest.nearest)
app.command("route")(route.route)
app.command("serve")(serve.serve)
app.command("up")(serve.up)
app.command("coverage")(coverage.coverage)
app.command("site")(site.site)
app.command("map")(map.map_command)
app.command("export")(export.export_command)
app.command("brief")(brief.brief)
app.command("pathway")(pathway.pathway)


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
