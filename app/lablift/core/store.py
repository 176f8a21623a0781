"""The lineage store: one folder with `lineage.db` (SQLite) and `artifacts/`.

sqlite-utils gives us the schema tooling and queries. Writes go through
`Store.transaction()` (BEGIN IMMEDIATE ... COMMIT) with plain SQL, because
sqlite-utils' own write helpers commit on their own and would end our
transaction early.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import platformdirs
import sqlite_utils

from .artifacts import ArtifactStore
from .errors import LabliftError, NotFound, PermissionDenied

ROLES = ("analyst", "reviewer", "ops", "admin")
BUSY_TIMEOUT_S = 30.0
JSON_COLUMNS = {
    "schema", "profile", "spec", "params", "metrics", "artifacts", "environment",
    "tags", "gates", "details", "lineage", "result", "columns_json", "value",
}


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def default_store_dir() -> Path:
    env = os.environ.get("LABLIFT_STORE")
    if env:
        return Path(env).expanduser()
    return platformdirs.user_data_path("lablift", appauthor=False) / "store"


def current_user(explicit: str | None = None) -> str:
    if explicit:
        return explicit
    env = os.environ.get("LABLIFT_USER")
    if env:
        return env
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): still a usable name
        return "user"


# Each migration runs in one transaction; the list index + 1 is the schema version.
def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT first and break the migration's transaction.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _m1_initial(conn: sqlite3.Connection) -> None:
    _run_script(
        conn,
        """
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE users (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('analyst','reviewer','ops','admin')),
            created_at TEXT NOT NULL, created_by TEXT);
        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, user TEXT NOT NULL,
            action TEXT NOT NULL, entity TEXT NOT NULL, details TEXT NOT NULL,
            prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
        CREATE TABLE datasets (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL,
            sha256 TEXT NOT NULL, artifact TEXT NOT NULL,
            source_path TEXT, source_format TEXT, encoding TEXT, delimiter TEXT,
            rows INTEGER NOT NULL, columns INTEGER NOT NULL,
            schema TEXT NOT NULL, profile TEXT NOT NULL,
            created_at TEXT NOT NULL, created_by TEXT NOT NULL,
            UNIQUE (name, version), UNIQUE (name, sha256));
        CREATE TABLE sweeps (
            id INTEGER PRIMARY KEY, dataset_id INTEGER NOT NULL REFERENCES datasets(id),
            spec TEXT NOT NULL, status TEXT NOT NULL, best_run_id INTEGER,
            backend TEXT, created_at TEXT NOT NULL, created_by TEXT NOT NULL, finished_at TEXT);
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY, dataset_id INTEGER NOT NULL REFERENCES datasets(id),
            sweep_id INTEGER REFERENCES sweeps(id), reproduces INTEGER REFERENCES runs(id),
            status TEXT NOT NULL, task TEXT, algorithm TEXT, target TEXT,
            spec TEXT NOT NULL, params TEXT NOT NULL, metrics TEXT NOT NULL DEFAULT '{}',
            artifacts TEXT NOT NULL DEFAULT '{}', environment TEXT NOT NULL DEFAULT '{}',
            seed INTEGER, predictions_sha256 TEXT, error TEXT,
            created_by TEXT NOT NULL, created_at TEXT NOT NULL,
            started_at TEXT, finished_at TEXT, duration_s REAL, host TEXT, pid INTEGER);
        CREATE INDEX runs_dataset ON runs(dataset_id);
        CREATE INDEX runs_sweep ON runs(sweep_id);
        CREATE TABLE models (
            name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '',
            gates TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL, created_by TEXT NOT NULL);
        CREATE TABLE model_versions (
            id INTEGER PRIMARY KEY, model TEXT NOT NULL REFERENCES models(name),
            version INTEGER NOT NULL, run_id INTEGER NOT NULL REFERENCES runs(id),
            status TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '{}', card TEXT, attention TEXT,
            archived INTEGER NOT NULL DEFAULT 0, challenger_of INTEGER REFERENCES model_versions(id),
            lineage TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL, created_by TEXT NOT NULL, UNIQUE (model, version));
        CREATE TABLE aliases (
            model TEXT NOT NULL REFERENCES models(name), alias TEXT NOT NULL,
            version_id INTEGER NOT NULL REFERENCES model_versions(id),
            set_by TEXT NOT NULL, set_at TEXT NOT NULL, PRIMARY KEY (model, alias));
        CREATE TABLE checks (
            id INTEGER PRIMARY KEY, version_id INTEGER NOT NULL REFERENCES model_versions(id),
            kind TEXT NOT NULL, name TEXT NOT NULL, passed INTEGER NOT NULL,
            details TEXT NOT NULL, created_at TEXT NOT NULL);
        CREATE TABLE approvals (
            id INTEGER PRIMARY KEY, version_id INTEGER NOT NULL REFERENCES model_versions(id),
            decision TEXT NOT NULL, user TEXT NOT NULL, comment TEXT NOT NULL DEFAULT '',
            override_reason TEXT, at TEXT NOT NULL);
        CREATE TABLE bundles (
            id INTEGER PRIMARY KEY, version_id INTEGER NOT NULL REFERENCES model_versions(id),
            path TEXT NOT NULL, manifest_sha256 TEXT NOT NULL,
            created_by TEXT NOT NULL, created_at TEXT NOT NULL);
        CREATE TABLE batches (
            id INTEGER PRIMARY KEY, version_id INTEGER NOT NULL REFERENCES model_versions(id),
            source_path TEXT, sha256 TEXT, artifact TEXT, rows INTEGER, window TEXT,
            label_column TEXT, timestamp_column TEXT, drift_share REAL, dataset_drift INTEGER,
            result TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL, created_by TEXT NOT NULL);
        CREATE INDEX batches_version ON batches(version_id);
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY, version_id INTEGER NOT NULL REFERENCES model_versions(id),
            batch_id INTEGER REFERENCES batches(id), kind TEXT NOT NULL, message TEXT NOT NULL,
            created_at TEXT NOT NULL, acknowledged_by TEXT, acknowledged_at TEXT);
        """
    )


def _m2_run_details(conn: sqlite3.Connection) -> None:
    # Run timings per stage, notes and per-fold CV metrics (experiments).
    conn.execute("ALTER TABLE runs ADD COLUMN details TEXT NOT NULL DEFAULT '{}'")


MIGRATIONS = [_m1_initial, _m2_run_details]


class Store:
    """A lineage store folder. Cheap to open; one SQLite connection per thread."""

    def __init__(self, root: str | os.PathLike | None = None, user: str | None = None,
                 journal: str | None = None):
        self.root = Path(root).expanduser() if root is not None else default_store_dir()
        self.user = current_user(user)
        if self.root.exists() and not self.root.is_dir():
            raise LabliftError(f"store {self.root} is not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "lineage.db"
        self.artifacts = ArtifactStore(self.root / "artifacts")
        self._local = threading.local()
        self._journal_request = journal or os.environ.get("LABLIFT_JOURNAL")
        self._open()

    # -- connection -------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            self._local.depth = 0
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils view of this thread's connection, for reads and schema work."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite_utils.Database(self.conn)
            self._local.db = db
        return db

    def _open(self) -> None:
        new = not self.db_path.exists() or self.db_path.stat().st_size == 0
        try:
            conn = self.conn
            if new:
                mode = (self._journal_request or "wal").lower()
                if mode not in ("wal", "delete"):
                    raise LabliftError(f"journal mode {mode!r} is not one of: wal, delete")
                conn.execute(f"PRAGMA journal_mode = {mode}")
            else:
                mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version "
                         "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        except sqlite3.DatabaseError as exc:
            raise LabliftError(f"{self.db_path} is not a Lablift store: {exc}") from None
        self.migrate()
        with self.transaction():
            # The user who creates the store is its admin.
            if self.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0:
                self.set_setting("journal_mode", mode)
                self.execute("INSERT INTO users (name, role, created_at, created_by) "
                             "VALUES (?, 'admin', ?, ?)", (self.user, utcnow(), self.user))
                from .audit import append
                append(self, "store.create", f"store:{self.root}", {"admin": self.user,
                                                                   "journal_mode": mode})
        self.mark_interrupted_runs()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            self._local.db = None

    # -- schema -----------------------------------------------------------
    def schema_version(self) -> int:
        row = self.conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return row[0] or 0

    def migrate(self) -> None:
        """Apply pending migrations in order, each in one transaction."""
        while True:
            with self.transaction():
                current = self.schema_version()
                if current > len(MIGRATIONS):
                    raise LabliftError(
                        f"store {self.root} has schema {current}, newer than this Lablift "
                        f"understands ({len(MIGRATIONS)}): upgrade Lablift")
                if current == len(MIGRATIONS):
                    return
                MIGRATIONS[current](self.conn)
                self.conn.execute("INSERT INTO schema_version VALUES (?, ?)",
                                  (current + 1, utcnow()))

    # -- transactions and SQL ----------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; re-entrant (inner blocks join the outer one)."""
        conn = self.conn
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            conn.execute("BEGIN IMMEDIATE")
        self._local.depth = depth + 1
        try:
            yield conn
        except BaseException:
            self._local.depth = depth
            if depth == 0:
                conn.execute("ROLLBACK")
            raise
        self._local.depth = depth
        if depth == 0:
            conn.execute("COMMIT")

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def insert(self, table: str, row: dict[str, Any]) -> int:
        cols = list(row)
        values = [_encode(row[c]) for c in cols]
        sql = (f"INSERT INTO {table} ({', '.join(cols)}) "
               f"VALUES ({', '.join('?' for _ in cols)})")
        return self.conn.execute(sql, values).lastrowid

    def update(self, table: str, where: dict[str, Any], values: dict[str, Any]) -> int:
        sets = ", ".join(f"{c} = ?" for c in values)
        conds = " AND ".join(f"{c} = ?" for c in where)
        params = [_encode(v) for v in values.values()] + list(where.values())
        return self.conn.execute(f"UPDATE {table} SET {sets} WHERE {conds}", params).rowcount

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return [decode_row(r) for r in self.conn.execute(sql, params).fetchall()]

    def query_one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        row = self.conn.execute(sql, params).fetchone()
        return decode_row(row) if row is not None else None

    # -- settings -----------------------------------------------------------
    def setting(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        self.execute("INSERT INTO settings (key, value) VALUES (?, ?) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                     (key, json.dumps(value)))

    # -- users and roles ----------------------------------------------------
    def role(self, user: str | None = None) -> str | None:
        row = self.conn.execute("SELECT role FROM users WHERE name = ?",
                                (user or self.user,)).fetchone()
        return row[0] if row else None

    def require_role(self, action: str, *roles: str) -> str:
        """Refuse `action` unless the current user has one of `roles` (admin always may)."""
        role = self.role()
        if role is None:
            raise PermissionDenied(
                f"user {self.user!r} is not registered in store {self.root}; an admin can add "
                f"them with `lablift users add {self.user} --role analyst`")
        if role != "admin" and role not in roles:
            raise PermissionDenied(
                f"{action} needs the role {' or '.join(dict.fromkeys(roles + ('admin',)))}; "
                f"user {self.user!r} is {role}")
        return role

    def add_user(self, name: str, role: str) -> None:
        from .audit import append
        if role not in ROLES:
            raise LabliftError(f"role {role!r} is not one of: {', '.join(ROLES)}")
        name = name.strip()
        if not name:
            raise LabliftError("a user name cannot be empty")
        self.require_role("adding users", "admin")
        with self.transaction():
            existing = self.role(name)
            if existing == role:
                return
            self.execute("INSERT INTO users (name, role, created_at, created_by) VALUES (?,?,?,?) "
                         "ON CONFLICT(name) DO UPDATE SET role = excluded.role",
                         (name, role, utcnow(), self.user))
            append(self, "user.role", f"user:{name}", {"role": role, "previous": existing})

    def users(self) -> list[dict[str, Any]]:
        return self.query("SELECT name, role, created_at, created_by FROM users ORDER BY name")

    # -- runs left running by a dead process ----------------------------------
    def mark_interrupted_runs(self) -> int:
        """A run whose process on this host is gone is marked interrupted, never left half-written."""
        host = socket.gethostname()
        rows = self.query("SELECT id, pid FROM runs WHERE status = 'running' AND host = ?", (host,))
        dead = [r["id"] for r in rows if r["pid"] != os.getpid() and not _pid_alive(r["pid"])]
        if dead:
            with self.transaction():
                for run_id in dead:
                    self.execute("UPDATE runs SET status = 'interrupted', finished_at = ?, "
                                 "error = 'the process running it ended before it finished' "
                                 "WHERE id = ? AND status = 'running'", (utcnow(), run_id))
        return len(dead)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _encode(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    return value


def decode_row(row: sqlite3.Row | dict) -> dict[str, Any]:
    out = dict(row)
    for key, value in out.items():
        if key in JSON_COLUMNS and isinstance(value, str):
            try:
                out[key] = json.loads(value)
            except ValueError:
                pass
    return out


def require(row: dict | None, what: str) -> dict:
    if row is None:
        raise NotFound(f"{what} not found")
    return row
