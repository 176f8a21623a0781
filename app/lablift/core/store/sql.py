"""SQLAlchemy Core statements compiled once per engine and run on the raw driver connection.

Repositories (core/store/*.py) write their SQL as Core constructs over schema.py, so one
statement serves SQLite and PostgreSQL. Executing through SQLAlchemy's Connection costs
~20-40 µs a statement in Python, more than the statement itself on SQLite, and recording a
run takes a dozen statements: so a Statement compiles its construct once per dialect (SQL
text, parameter order, defaults) and then hands that text straight to sqlite3 or psycopg.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

_DIALECTS = {"sqlite": sqlite.dialect(paramstyle="qmark"),
             "postgresql": postgresql.psycopg.dialect()}


class Statement:
    """One Core construct; `.sql(engine)` compiles it for that engine once."""

    __slots__ = ("construct", "_compiled")

    def __init__(self, construct):
        self.construct = construct
        self._compiled: dict[str, tuple[str, tuple[str, ...], dict[str, Any], bool]] = {}

    def sql(self, engine: str) -> tuple[str, tuple[str, ...], dict[str, Any], bool]:
        """(SQL text, parameter names, default values, positional?)."""
        compiled = self._compiled.get(engine)
        if compiled is None:
            c = self.construct.compile(dialect=_DIALECTS[engine],
                                       compile_kwargs={"render_postcompile": True})
            # positional: the parameter order; named: every name (a missing value is NULL)
            order = tuple(c.positiontup) if c.positional else tuple(c.params)
            defaults = {k: v for k, v in c.params.items() if v is not None}
            compiled = self._compiled[engine] = (c.string, order, defaults, c.positional)
        return compiled

    def execute(self, conn, engine: str, params: dict[str, Any] | None = None):
        """Run on a raw DBAPI connection (sqlite3 or psycopg); returns the cursor."""
        text, names, defaults, positional = self.sql(engine)
        values = {**defaults, **params} if params else defaults
        if positional:
            return conn.execute(text, tuple(values.get(k) for k in names))
        return conn.execute(text, {k: values.get(k) for k in names})


def inserted_id(cursor, engine: str) -> int:
    """The new row's key: SQLite's rowid, or the RETURNING column PostgreSQL's insert has."""
    return cursor.lastrowid if engine == "sqlite" else cursor.fetchone()[0]
