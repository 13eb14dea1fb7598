"""Old home of :mod:`api.cli.places`, kept for ``api/cli_providers.py`` (which calls
``cli_places.load_gazetteer()``).

Remove once ``api/cli_providers.py`` has moved into ``api/cli/`` (see docs/architecture.md).
"""

from api.cli.places import load_gazetteer

__all__ = ["load_gazetteer"]
