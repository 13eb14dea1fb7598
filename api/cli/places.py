"""`orienter places ...` commands: search the settlements gazetteer."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from api.cli._console import console, fail, say
from api.cli._options import JsonFlag, TableFormat, TableFormatOption
from api.services import places
from api.settings import get_settings
from geo.errors import DataFileError
from geo.settlements import Gazetteer

__all__ = ["app", "load_gazetteer", "search"]

app = typer.Typer(help="Search the settlements gazetteer.", no_args_is_help=True)


def load_gazetteer() -> Gazetteer:
    """The gazetteer of the configured data directory (raises DataFileError when missing)."""
    return places.load_gazetteer(get_settings())


@app.command("search")
def search(
    name: Annotated[str, typer.Argument(help="Place name (accents and small typos are fine).")],
    region: Annotated[
        str | None, typer.Option("--region", help="Restrict to an ADM1 or ADM2 P-code, e.g. ML05.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="How many matches.")] = 5,
    fmt: TableFormatOption = TableFormat.table,
    as_json: JsonFlag = False,
) -> None:
    """Print the best matches for NAME with P-code, région, lon, lat."""
    try:
        result = load_gazetteer().search(name, region=region, limit=limit)
    except (DataFileError, ValueError) as exc:
        raise fail(str(exc)) from exc
    if as_json or fmt is TableFormat.json:
        records = json.loads(result.to_json(orient="records", force_ascii=False))
        typer.echo(
            json.dumps(
                {"query": name, "region": region, "results": records}, ensure_ascii=False, indent=2
            )
        )
        return
    if result.empty:
        say(f"No place matches {name!r}.")
        raise typer.Exit(1)
    table = Table("P-code", "Nom", "Région", "Cercle", "lon", "lat", "score")
    for r in result.itertuples(index=False):
        table.add_row(
            r.pcode,
            r.name,
            str(r.adm1_name),
            str(r.adm2_name),
            f"{r.lon:.5f}",
            f"{r.lat:.5f}",
            f"{r.score:.0f}",
        )
    console.print(table)
