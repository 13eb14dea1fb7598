"""Orienter's outer layer: settings, the build, the services (with the Python API for
notebooks in :mod:`api.services`), the command line and the HTTP app."""

from geo import __version__

__all__ = ["__version__"]
