"""Apply the Alembic migrations (migrations/) to an embedded store, all in one transaction.

Revisions are numbered 0001, 0002, ...; revision N is schema N. Stores made before Alembic
record their schema only in `schema_version` (1..3): they are stamped at that revision
first. Every applied revision also adds its number to `schema_version`, so an older Lablift
still refuses a newer store by number. Revision 0003 is where row witnesses begin: an older
store's rows are witnessed as found (one audit entry) in the same transaction; revision 0007
does the same for the webhook rows an older store holds.

One transaction, begun with BEGIN IMMEDIATE before the revision is read: two processes
opening an old store at once migrate it once, and a kill leaves it at the old revision.

Alembic is imported only when a store is behind: opening a current store costs one query.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Callable

HEAD = 8  # the newest revision; tests/test_schema.py checks it against migrations/
WITNESS_REVISION = 3
WEBHOOKS_WITNESS_REVISION = 7  # webhooks became governed rows
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def revision(conn: sqlite3.Connection) -> int:
    """The store's schema number: Alembic's revision, else the pre-Alembic schema_version."""
    tables = {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
        "('alembic_version', 'schema_version')")}
    if "alembic_version" in tables:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if row and str(row[0]).isdigit():
            return int(row[0])
    if "schema_version" in tables:
        return conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
    return 0


def upgrade_sqlite(db_path: Path, baseline: Callable[[sqlite3.Connection, int], None],
                   busy_timeout_s: float) -> None:
    """Bring the SQLite store at `db_path` to HEAD; `baseline(conn, revision)` runs inside
    the transaction of a witness revision when an older store crosses it."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import StaticPool

    raw = sqlite3.connect(db_path, timeout=busy_timeout_s, isolation_level=None,
                          check_same_thread=False)
    raw.execute("PRAGMA foreign_keys = ON")
    try:
        engine = create_engine("sqlite://", creator=lambda: raw, poolclass=StaticPool)

        @event.listens_for(engine, "begin")
        def _begin(connection):  # SQLite's DDL is transactional: take the write lock first
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with engine.begin() as connection:
            start = revision(raw)  # read under the write lock
            if start >= HEAD:
                return
            if start and not _has_alembic(raw):
                raw.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL "
                            "PRIMARY KEY)")
                raw.execute("INSERT INTO alembic_version VALUES (?)", (f"{start:04d}",))

            def applied(ctx, step, heads, run_args) -> None:
                number = int(step.up_revision_id)
                raw.execute("CREATE TABLE IF NOT EXISTS schema_version "
                            "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
                raw.execute("INSERT OR IGNORE INTO schema_version VALUES "
                            "(?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))", (number,))
                if number in (WITNESS_REVISION, WEBHOOKS_WITNESS_REVISION) and start > 0:
                    baseline(raw, number)

            config.attributes["connection"] = connection
            config.attributes["on_version_apply"] = applied
            command.upgrade(config, f"{HEAD:04d}")
    finally:
        raw.close()


def _has_alembic(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                        "name = 'alembic_version'").fetchone() is not None
