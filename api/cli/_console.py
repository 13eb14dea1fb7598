"""Console output shared by the commands: messages, errors, progress bars, safe writes.

Messages are printed as they are, never wrapped at the terminal's width (a path in an
error stays on one line when the output goes to a file or a pipe) and never read as
Rich markup.  Exit codes: 2 when the command line itself is wrong (Click's usage errors,
:func:`usage_error`), 1 when the data, the build or the file system refuse it
(:func:`fail`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from api.errors import RequestError
from geo.store import atomic_path

__all__ = [
    "check_writable",
    "console",
    "err_console",
    "fail",
    "progress",
    "request_failed",
    "say",
    "usage_error",
    "warn",
    "write_output",
]

console = Console()
err_console = Console(stderr=True)


def say(text: str, *, err: bool = False) -> None:
    """Print one message line as it is (no wrapping, no markup)."""
    (err_console if err else console).print(Text(text), soft_wrap=True, highlight=False)


def warn(message: str) -> None:
    """Print ``Warning: message`` on stderr (no wrapping, no markup)."""
    text = Text.assemble(("Warning:", "yellow"), " ", str(message))
    err_console.print(text, soft_wrap=True, highlight=False)


def fail(message: str, *, code: int = 1) -> typer.Exit:
    """Print ``Error: message`` on stderr and return the Exit to raise (exit 1: the data,
    the build or the file system refuse the command)."""
    text = Text.assemble(("Error:", "bold red"), " ", str(message))
    err_console.print(text, soft_wrap=True, highlight=False)
    return typer.Exit(code)


def usage_error(message: str, *, option: str | None = None) -> typer.BadParameter:
    """A usage error to raise (exit 2), naming ``option`` when given."""
    return typer.BadParameter(message, param_hint=None if option is None else f"'{option}'")


def request_failed(error: RequestError, *, option: str | None = None) -> typer.Exit:
    """``error`` (a refused request) printed in English after the option at fault."""
    name = option or (f"--{error.parameter.replace('_', '-')}" if error.parameter else None)
    message = error.message("en")
    if error.parameter and message.startswith(f"{error.parameter}:"):
        message = message.split(":", 1)[1].strip()  # "add: ..." under the option's name
    return fail(f"{name}: {message}" if name else message)


@contextmanager
def progress() -> Iterator[Progress]:
    """A Rich progress bar for steps that can take more than a couple of seconds."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bar:
        yield bar


def check_writable(out: Path, *, option: str = "--out", directory_ok: bool = False) -> None:
    """Fail before any computation when ``out`` cannot be written.

    ``out`` is a file to create or replace (``directory_ok``: or a directory to create
    files in); its parent must exist and be writable.  Messages name ``option``.
    """
    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir() and not directory_ok:
        raise fail(f"{option} {out}: is a directory")
    if not parent.is_dir():
        raise fail(f"{option} {out}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise fail(f"{option} {out}: directory {parent} is not writable")


def write_output(out: Path, write: Callable[[Path], object], *, option: str = "--out") -> None:
    """Write ``out`` atomically: ``write(tmp)`` fills a temporary file beside it, which then
    replaces ``out`` (nothing half-written, the old file intact on failure).  The file is
    an ordinary document, readable as the umask allows; an OS error fails naming ``option``.
    """
    try:
        with atomic_path(out) as tmp:
            tmp.unlink()  # some writers (GDAL drivers) must create the file themselves
            write(tmp)
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)  # mkstemp's files are private (0600)
    except OSError as exc:
        raise fail(f"{option} {out}: cannot be written ({exc})") from exc


def write_documents(
    targets: list[str],
    make: Callable[[str], tuple[str, str, bytes]],
    out: Path,
    *,
    many: bool,
    what: str,
    file_name: Callable[[str, str], str],
    started: float,
) -> None:
    """Write one document to ``out``, or (``many``) every target's into the folder ``out``
    with a progress bar; ``make(target)`` gives (code, name, payload) and ``file_name(code,
    name)`` the file's name in the folder.  Each file is written atomically."""
    if not many:
        code, name, payload = make(targets[0])
        write_output(out, lambda tmp: tmp.write_bytes(payload))
        say(
            f"{name} ({code}): {out} "
            f"({len(payload) / 1024:.0f} KB, {time.perf_counter() - started:.1f} s)"
        )
        return
    out.mkdir(exist_ok=True)
    with progress() as bar:
        task = bar.add_task(what, total=len(targets))
        for target in targets:
            code, name, payload = make(target)
            write_output(out / file_name(code, name), _bytes_writer(payload))
            bar.advance(task)
    say(f"{len(targets)} {what} in {out} ({time.perf_counter() - started:.1f} s)", err=True)


def _bytes_writer(payload: bytes) -> Callable[[Path], object]:
    """A writer of ``payload`` for :func:`write_output` (bound now, not in a loop)."""
    return lambda tmp: tmp.write_bytes(payload)
