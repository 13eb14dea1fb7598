"""The ``orienter`` command line (root Typer app: :mod:`api.cli.root`).

``app`` and ``main`` load lazily, so a command module, or the old ``api.cli._console`` path
that ``api/cli/data.py`` and ``api/cli/providers.py`` still use, can import
:mod:`api.cli._console` without importing every command first.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from api.cli import root

        return getattr(root, name)
    raise AttributeError(f"module 'api.cli' has no attribute {name!r}")
