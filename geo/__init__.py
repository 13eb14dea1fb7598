"""Orienter's geospatial library: loaders, travel-time, conflict and coverage layers.

``geo`` never imports ``web`` or ``api``, never reads settings or environment
variables, and never prints.
"""
