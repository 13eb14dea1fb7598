"""`orienter places ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="Places commands.", no_args_is_help=True)
