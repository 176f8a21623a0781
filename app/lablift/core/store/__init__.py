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
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import platformdirs

from .. import witness
from . import migrate
from ..artifacts import ArtifactStore
from ..errors import LabliftError, NotFound, PermissionDenied
from .sql import repository

if TYPE_CHECKING:
    import sqlite_utils

settings_sql = repository("settings")
users_sql = repository("users")

ROLES = ("analyst", "reviewer", "ops", "admin")
BUSY_TIMEOUT_S = 30.0
LOCK_WAIT_S = float(os.environ.get("LABLIFT_LOCK_WAIT_S", "120"))
JSON_COLUMNS = {
    "schema", "profile", "spec", "params", "metrics", "artifacts", "environment",
    "tags", "gates", "details", "lineage", "result", "columns_json", "value", "files",
}


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def is_url(location: str | os.PathLike) -> bool:
    """A team store is named by a URL (postgresql://...), an embedded one by a folder."""
    return "://" in str(location)


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


class Store:
    """A lineage store folder. Cheap to open; one SQLite connection per thread.

    `on_wait(message)` is called once when a write has to wait for another process's lock
    (the CLI prints it); `note` says why a store opened read-only.
    """

    engine = "sqlite"  # which dialect core/store/sql.py compiles statements for

    def __new__(cls, root: str | os.PathLike | None = None, *args, **kwargs):
        # Store(URL) is a team store (server.py); Store(folder) this embedded one.
        if cls is Store and is_url(root if root is not None
                                   else os.environ.get("LABLIFT_STORE", "")):
            from .server import TeamStore
            return super().__new__(TeamStore)
        return super().__new__(cls)

    def __init__(self, root: str | os.PathLike | None = None, user: str | None = None,
                 journal: str | None = None, on_wait: Callable[[str], None] | None = None):
        self.root = Path(root).expanduser() if root is not None else default_store_dir()
        self.user = current_user(user)
        self.on_wait = on_wait
        self.note = ""
        self.read_only = False
        if self.root.exists() and not self.root.is_dir():
            raise LabliftError(f"store {self.root} is not a folder")
        self.db_path = self.root / "lineage.db"
        if not self.root.exists():
            try:
                self.root.mkdir(parents=True)
            except OSError as exc:
                raise LabliftError(_folder_fault(self.root, exc)) from None
        elif not os.access(self.root, os.W_OK) or (
                self.db_path.exists() and not os.access(self.db_path, os.W_OK)):
            if not self.db_path.exists():
                raise LabliftError(f"cannot create a store in {self.root}: the folder is "
                                   f"read-only for you")
            self.read_only = True
            self.note = (f"store {self.root} is read-only for you: reading works, every "
                         f"change is refused")
        self.artifacts = ArtifactStore(self.root / "artifacts")
        self._local = threading.local()
        self._journal_request = journal or os.environ.get("LABLIFT_JOURNAL")
        self._witnessing = False
        self._open()

    # -- connection -------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            # immutable=1 when even the WAL index cannot be created beside a read-only file
            uri = self.db_path.absolute().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
            try:
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:
                conn.close()
                conn = sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None,
                                       check_same_thread=False)
        else:
            conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if not self.read_only:
            conn.execute("PRAGMA synchronous = NORMAL")
            if self._witnessing:
                witness.install_triggers(conn)
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
            import sqlite_utils  # 0.4 s (it imports pandas): only for what uses it
            db = sqlite_utils.Database(self.conn)
            self._local.db = db
        return db

    def _open(self) -> None:
        """Open without taking the write lock unless there is something to write: a new
        store, a migration, or what a dead process left half-done."""
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
            has_versions = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                        "name IN ('schema_version', 'alembic_version')"
                                        ).fetchone()
            if not new and not has_versions:
                tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
                if tables:
                    raise LabliftError(f"{self.db_path} is an SQLite database but not a "
                                       f"Lablift store (it has no schema_version table)")
        except sqlite3.DatabaseError as exc:
            raise LabliftError(f"{self.db_path} is not a Lablift store: {exc}") from None
        if self.schema_version() < migrate.HEAD:
            if self.read_only:
                raise LabliftError(f"store {self.root} has schema {self.schema_version()} and "
                                   f"needs an upgrade to {migrate.HEAD}, but it is read-only "
                                   f"for you: open it once with write access")
            self.migrate()
        self._check_not_newer()
        self._witnessing = not self.read_only
        if self._witnessing:
            witness.install_triggers(self.conn)
        if self.read_only:
            return
        if self.value(users_sql.COUNT) == 0:
            with self.transaction():
                # The user who creates the store is its admin.
                if self.value(users_sql.COUNT) == 0:
                    self.set_setting("journal_mode", mode)
                    self.run(users_sql.UPSERT, name=self.user, role="admin",
                             created_at=utcnow(), created_by=self.user)
                    from ..audit import append
                    append(self, "store.create", f"store:{self.root}",
                           {"admin": self.user, "journal_mode": mode})
        from .. import recovery
        recovery.reconcile(self)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            self._local.db = None

    # -- schema -----------------------------------------------------------
    def schema_version(self) -> int:
        return migrate.revision(self.conn)

    def _check_not_newer(self) -> None:
        current = self.schema_version()
        if current > migrate.HEAD:
            raise LabliftError(
                f"store {self.root} has schema {current}, newer than this Lablift "
                f"understands ({migrate.HEAD}): upgrade Lablift")

    def migrate(self) -> None:
        """Apply pending migrations (Alembic; core/store/migrate.py) in one transaction."""
        self._check_not_newer()
        try:
            migrate.upgrade_sqlite(self.db_path, self._witness_baseline, BUSY_TIMEOUT_S)
        except sqlite3.OperationalError as exc:
            raise LabliftError(f"store {self.root} could not be upgraded to schema "
                               f"{migrate.HEAD}: {fault_message(self, exc)}") from None

    def _witness_baseline(self, conn: sqlite3.Connection, revision: int = 3) -> None:
        """An older store's rows, witnessed as found at the upgrade (one audit entry, inside
        the migration's transaction), so that from here on every edit outside Lablift shows.
        The chain before stays as it was."""
        if revision == migrate.WEBHOOKS_WITNESS_REVISION:
            from .. import audit, webhook_baseline
            details = webhook_baseline.baseline_witnesses(conn)  # rows their entries describe
            if details:
                audit.write_entry(conn, self.user, "audit.baseline", f"store:{self.root}",
                                  {"schema": revision, **details})
            return
        if conn.execute("SELECT 1 FROM audit_log WHERE instr(details, '\"witness\"') > 0 "
                        "LIMIT 1").fetchone():
            # Rows were witnessed before: a schema number set back by hand must not get a
            # fresh baseline over rows edited meanwhile. Verify names those rows instead.
            return
        rows = dict(witness.current_rows(conn, [t for t in witness.GOVERNED
                                                if t != "webhooks"]))  # not made yet at 0003
        if rows:
            from .. import audit
            audit.write_entry(conn, self.user, "audit.baseline", f"store:{self.root}",
                              {"schema": migrate.WITNESS_REVISION,
                               audit.WITNESS_KEY: dict(sorted(rows.items()))})

    # -- transactions and SQL ----------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; re-entrant (inner blocks join the outer one).

        A governed row changed without an audit entry in the same transaction is a bug: the
        transaction is rolled back rather than leave a change the chain does not witness."""
        if self.read_only:
            raise LabliftError(self.note)
        conn = self.conn
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            self._begin(conn)
        self._local.depth = depth + 1
        try:
            yield conn
            # (nothing written since the last audit entry drained the note: no need to look)
            if depth == 0 and self._witnessing and \
                    conn.total_changes != getattr(self._local, "witnessed_at", -1) and \
                    witness.has_pending(conn):
                raise RuntimeError("unwitnessed change of governed rows "
                                   f"{', '.join(witness.pending_keys(conn)[:5])}")
        except BaseException:
            self._local.depth = depth
            if depth == 0:
                conn.execute("ROLLBACK")
                if self._witnessing:
                    conn.execute(f"DELETE FROM {witness.PENDING}")
            raise
        self._local.depth = depth
        if depth == 0:
            try:
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                conn.execute("ROLLBACK")
                raise LabliftError(fault_message(self, exc)) from None

    def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, waiting for another process's write lock with one message."""
        try:
            conn.execute("PRAGMA busy_timeout = 200")
            waited = 0.0
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise LabliftError(fault_message(self, exc)) from None
                    if waited == 0.0 and self.on_wait is not None:
                        self.on_wait(f"waiting for another Lablift process to finish writing "
                                     f"to {self.root}…")
                    waited += 0.2 + 1.0
                    if waited >= LOCK_WAIT_S:
                        raise LabliftError(
                            f"store {self.root} is busy: another process has held its write "
                            f"lock for more than {LOCK_WAIT_S:.0f} s; try again when it has "
                            f"finished") from None
                    conn.execute("PRAGMA busy_timeout = 1000")
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")

    def run(self, statement, **params):
        """Execute a repository Statement on this thread's connection; returns the cursor."""
        return statement.execute(self.conn, self.engine, params)

    def tuple_cursor(self):
        """A cursor whose rows are plain tuples (the fast path of long listings)."""
        cur = self.conn.cursor()
        cur.row_factory = None
        return cur

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def insert(self, table: str, row: dict[str, Any]) -> int:
        cols = list(row)
        values = [encode(row[c]) for c in cols]
        sql = (f"INSERT INTO {table} ({', '.join(cols)}) "
               f"VALUES ({', '.join('?' for _ in cols)})")
        return self.conn.execute(sql, values).lastrowid

    def update(self, table: str, where: dict[str, Any], values: dict[str, Any]) -> int:
        sets = ", ".join(f"{c} = ?" for c in values)
        conds = " AND ".join(f"{c} = ?" for c in where)
        params = [encode(v) for v in values.values()] + list(where.values())
        return self.conn.execute(f"UPDATE {table} SET {sets} WHERE {conds}", params).rowcount

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return [decode_row(r) for r in self.conn.execute(sql, params).fetchall()]

    def rows(self, statement, **params) -> list[dict[str, Any]]:
        """A repository Statement's rows (core/store/sql.py), JSON columns decoded."""
        return [decode_row(r) for r in
                statement.execute(self.conn, self.engine, params).fetchall()]

    def row(self, statement, **params) -> dict[str, Any] | None:
        found = statement.execute(self.conn, self.engine, params).fetchone()
        return decode_row(found) if found is not None else None

    def value(self, statement, **params) -> Any:
        """The first column of the first row, or None."""
        found = statement.execute(self.conn, self.engine, params).fetchone()
        return found[0] if found is not None else None

    def query_one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        row = self.conn.execute(sql, params).fetchone()
        return decode_row(row) if row is not None else None

    # -- settings -----------------------------------------------------------
    def setting(self, key: str, default: Any = None) -> Any:
        row = self.run(settings_sql.GET, key=key).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        self.run(settings_sql.UPSERT, key=key, value=json.dumps(value))

    # -- users and roles ----------------------------------------------------
    def role(self, user: str | None = None) -> str | None:
        return self.value(users_sql.ROLE_OF, name=user or self.user)

    def require_role(self, action: str, *roles: str) -> str:
        """Refuse `action` unless the current user has one of `roles` (admin always may)."""
        role = self.role()
        if role is None:
            raise PermissionDenied(
                f"user {self.user!r} is not registered in store {self.root}; an admin can add "
                f"them with `lablift users add {self.user} --role {roles[0]}`")
        if role != "admin" and role not in roles:
            raise PermissionDenied(
                f"{action} needs the role {' or '.join(dict.fromkeys(roles + ('admin',)))}; "
                f"user {self.user!r} is {role}")
        return role

    def add_user(self, name: str, role: str) -> None:
        if role not in ROLES:
            raise LabliftError(f"role {role!r} is not one of: {', '.join(ROLES)}")
        name = name.strip()
        if not name:
            raise LabliftError("a user name cannot be empty")
        self.require_role("adding users", "admin")
        with self.transaction():
            twin = self.row(users_sql.TWIN, name=name)
            if twin:
                # four-eyes compares names without case: 'Ann' and 'ann' are one person
                raise LabliftError(f"user {name!r} would be the same person as {twin['name']!r}"
                                   f" (names are compared without case); use {twin['name']!r}")
            existing = self.role(name)
            if existing == role:
                return
            self._write_user(name, role, existing)

    def _write_user(self, name: str, role: str, existing: str | None) -> None:
        from ..audit import append
        self.run(users_sql.UPSERT, name=name, role=role, created_at=utcnow(),
                 created_by=self.user)
        append(self, "user.role", f"user:{name}", {"role": role, "previous": existing})

    def users(self) -> list[dict[str, Any]]:
        return self.rows(users_sql.ALL)

def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def fault_message(store: "Store", exc: sqlite3.Error) -> str:
    """One line for a fault of the database file itself, naming the store."""
    text = str(exc)
    if _is_busy(exc):
        return (f"store {store.root} is busy: another process holds its lock; try again when "
                f"it has finished")
    if "readonly" in text.replace(" ", "").lower():
        return f"store {store.root} is read-only for you: the change was not recorded"
    if "disk" in text.lower() and "full" in text.lower():
        return f"the disk holding store {store.root} is full: the change was not recorded"
    return f"store {store.db_path} cannot be used: {text}"


def _folder_fault(path: Path, exc: OSError) -> str:
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            return f"cannot create store {path}: {parent} is a file, not a folder"
    return f"cannot create store {path}: {exc.strerror or exc}"


def encode(value: Any) -> Any:
    """A value as its column holds it: dicts and lists as JSON text."""
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
