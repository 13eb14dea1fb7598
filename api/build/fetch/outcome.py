"""What happened to one source of a fetch run (:class:`Outcome`, :class:`Status`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

__all__ = ["Outcome", "Status"]


class Status(Enum):
    """What happened to one source; the value is what the CLI shows."""

    DOWNLOADED = "downloaded"
    RESUMED = "resumed and completed"
    COPIED = "copied from the mirror"
    VERIFIED = "already present and verified"
    PRESENT = "present (not fetched by Orienter, not verified)"
    ALTERNATIVE = "not fetched: a coarser layer is present"
    MANUAL = "not fetched by Orienter"
    NOT_IN_MIRROR = "not in the mirror"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    """The result for one source: ``status``, a one-line ``message`` and the file(s)."""

    key: str
    status: Status
    message: str
    paths: tuple[Path, ...] = ()

    @property
    def failed(self) -> bool:
        """True when a transfer was attempted and did not succeed."""
        return self.status is Status.FAILED
