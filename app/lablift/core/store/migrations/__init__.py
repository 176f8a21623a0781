"""Alembic migrations of the lineage store, for both engines (see env.py)."""
