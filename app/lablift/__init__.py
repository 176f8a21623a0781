"""Lablift: a desktop model lifecycle manager on a local lineage store."""

__version__ = "0.1.0"
