"""`orienter data ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="Data commands.", no_args_is_help=True)
