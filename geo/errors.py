"""Domain exceptions of the ``geo`` library.

Each subclasses a built-in so callers that only know ``ValueError`` still catch it
(the osmnx ``_errors.py`` pattern).  Messages name the file, row, field or argument
and say how to fix the problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "CRSMismatchError",
    "DataFileError",
    "DataProblem",
    "DataValidationError",
    "UnreachableError",
]


class CRSMismatchError(ValueError):
    """Two layers in a binary operation do not share a CRS."""


class DataFileError(ValueError):
    """A data file is missing, unreadable or lacks required columns."""


@dataclass(frozen=True)
class DataProblem:
    """One problem found in a data file: which row, which field, why."""

    row: int | None
    field: str | None
    reason: str
    ident: str | None = None

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.ident:
            where.append(f"id {self.ident!r}")
        if self.field:
            where.append(f"field {self.field!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.reason}" if prefix else self.reason


class DataValidationError(ValueError):
    """A data file has invalid rows; ``problems`` lists every one of them."""

    def __init__(self, source: str, problems: Iterable[DataProblem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n{lines}")


class UnreachableError(ValueError):
    """No route exists between a point and a provider under the given scenario."""
