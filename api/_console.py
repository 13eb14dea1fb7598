"""Old home of :mod:`api.cli._console`, kept for ``api/cli_data.py`` and ``api/cli_providers.py``.

Remove once those two modules have moved into ``api/cli/`` (see docs/architecture.md).
"""

from api.cli._console import check_writable, console, err_console, fail, progress

__all__ = ["check_writable", "console", "err_console", "fail", "progress"]
