"""A team store: the lineage store in a PostgreSQL database, shared by a team.

The same API as the embedded Store (core/store/__init__.py), on one psycopg connection per
thread. What differs, and why:

- Identity is the server's: `user` is the session user libpq authenticated. A name asked
  for with --user or LABLIFT_USER that is not that user is refused, not silently ignored.
- The rules are the server's (migration 0004): a refused write comes back as the server's
  message, one line, as PermissionDenied.
- Audit entries are appended by the server (`lablift_audit`), which also takes the row
  witnesses; there are no client-side triggers.
- Write transactions take one advisory lock first, so Lablift's writers queue in one order
  (as BEGIN IMMEDIATE makes them on SQLite): the audit chain's lock is then never taken
  while another writer waits for a row this one holds, and no deadlock reaches a user.
- Artifacts live in the database (core/store/blobs.py) unless the store names a folder.
"""

from __future__ import annotations

import os
import threading
import weakref
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ..errors import LabliftError, NotFound, PermissionDenied
from . import ROLES, Store, decode_row, encode, is_url, migrate
from .sql import repository
from .team import _check_url, _scrub, mask_url

users_sql = repository("users")

WRITE_LOCK = 4242000001  # pg_advisory_xact_lock key every write transaction takes first


class Row:
    """A result row read by position or by column name, like sqlite3.Row."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: tuple):
        self._index, self._values = index, values

    def __getitem__(self, key):
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def keys(self):
        return self._index.keys()

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._index, self._values))!r})"


def _row_factory(cursor):
    if cursor.description is None:
        return tuple
    index = {c.name: i for i, c in enumerate(cursor.description)}
    return lambda values: Row(index, values)


class Connection:
    """The psycopg connection with every driver error turned into the line a user reads
    (translate), so no core module handles psycopg's exceptions itself."""

    __slots__ = ("raw", "store", "__weakref__")

    def __init__(self, raw, store: "TeamStore"):
        self.raw, self.store = raw, store

    def execute(self, sql: str, params: Any = None):
        try:
            return self.raw.execute(sql, params)
        except Exception as exc:
            raise translate(self.store, exc) from None

    def executemany(self, sql: str, params_seq) -> None:
        try:
            with self.raw.cursor() as cur:
                cur.executemany(sql, params_seq)
        except Exception as exc:
            raise translate(self.store, exc) from None

    def cursor(self, **kwargs) -> "Cursor":
        return Cursor(self.raw.cursor(**kwargs), self.store)

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def close(self) -> None:
        self.raw.close()

    def __del__(self):
        # The connection of a thread that ended goes with the thread's locals: hang up
        # (a short-lived worker per import would otherwise hold a server backend each).
        try:
            self.raw.close()
        except Exception:  # at interpreter exit the driver may already be gone
            pass


class Cursor:
    __slots__ = ("raw", "store")

    def __init__(self, raw, store: "TeamStore"):
        self.raw, self.store = raw, store

    def execute(self, sql: str, params: Any = None) -> "Cursor":
        try:
            self.raw.execute(sql, params)
        except Exception as exc:
            raise translate(self.store, exc) from None
        return self

    def __getattr__(self, name: str):
        return getattr(self.raw, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.raw.close()


def identity_message(asked: str, user: str, where: str) -> str:
    return (f"in a team store you are who the database server says: you connected to {where} "
            f"as {user!r}, so you cannot act as {asked!r}. To work as {asked!r}, connect as "
            f"that database user (postgresql://{asked}@host/dbname, with their password in "
            f"~/.pgpass or PGPASSWORD); leave --user and LABLIFT_USER unset")


class TeamStore(Store):
    """A lineage store in a PostgreSQL database (`postgresql://[user@]host[:port]/dbname`)."""

    engine = "postgresql"

    def __init__(self, root: str, user: str | None = None, journal: str | None = None,
                 on_wait: Callable[[str], None] | None = None):
        url = str(root if root is not None else os.environ.get("LABLIFT_STORE", ""))
        _check_url(url)
        self.url = url
        self.root = mask_url(url)  # what messages and titles show: never a password
        self.db_path = None
        self.on_wait = on_wait
        self.note = ""
        self.read_only = False
        self.artifacts = None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections = weakref.WeakSet()  # every thread's, for close()
        conn = self.conn
        self.database, self.user, self.server_version = conn.execute(
            "SELECT current_database(), session_user, current_setting('server_version')"
        ).fetchone()
        asked = user or os.environ.get("LABLIFT_USER")
        if asked and asked != self.user:
            self.close()
            raise LabliftError(identity_message(asked, self.user, self.root))
        self._check_schema()
        self._check_member()
        from .blobs import open_artifacts
        self.artifacts = open_artifacts(self)
        from .. import recovery
        recovery.reconcile(self)

    # -- connection -------------------------------------------------------
    def _connect(self):
        import psycopg
        try:
            raw = psycopg.connect(self.url, autocommit=True, connect_timeout=10,
                                  row_factory=_row_factory)
        except (psycopg.Error, ValueError) as exc:
            raise LabliftError(f"cannot connect to {self.root}: {_scrub(str(exc), self.url)}"
                               ) from None
        conn = Connection(raw, self)
        with self._lock:
            self._connections.add(conn)
        return conn

    @property
    def conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = self._connect()
            self._local.depth = 0
        return conn

    def tuple_cursor(self):
        """A cursor whose rows are plain tuples (the fast path of long listings)."""
        from psycopg.rows import tuple_row
        return self.conn.cursor(row_factory=tuple_row)

    @property
    def db(self):
        raise LabliftError("a team store has no sqlite-utils view")

    def close(self) -> None:
        with self._lock:
            connections, self._connections = list(self._connections), weakref.WeakSet()
        for conn in connections:
            try:
                conn.close()
            except Exception:  # closing a connection another thread broke: nothing to keep
                pass
        self._local = threading.local()

    def __del__(self):
        # A store dropped without close() still hangs up: the server holds a backend per
        # connection, and every worker thread that touched the store opened one.
        try:
            self.close()
        except Exception:  # at interpreter exit the driver may already be gone
            pass

    def _check_schema(self) -> None:
        current = self.schema_version()
        if current == 0:
            self.close()
            raise LabliftError(f"{self.root} is not a Lablift team store (no schema): an "
                               f"admin prepares an empty database with `lablift store init "
                               f"URL`")
        if current > migrate.HEAD:
            self.close()
            raise LabliftError(f"team store {self.root} has schema {current}, newer than this "
                               f"Lablift understands ({migrate.HEAD}): upgrade Lablift")
        if current < migrate.HEAD:
            self.close()
            raise LabliftError(f"team store {self.root} has schema {current} and this Lablift "
                               f"needs {migrate.HEAD}: an admin runs `lablift store migrate "
                               f"URL` (every workstation then needs this release)")

    def _check_member(self) -> None:
        """Someone the server lets in but who holds no Lablift role can read nothing: say so
        once, at open, instead of with the first permission error."""
        member = self.conn.execute(
            "SELECT pg_has_role('lablift_analyst', 'MEMBER') OR pg_has_role('lablift_reviewer',"
            " 'MEMBER') OR pg_has_role('lablift_ops', 'MEMBER') OR "
            "pg_has_role('lablift_admin', 'MEMBER')").fetchone()[0]
        if not member:
            self.close()
            raise PermissionDenied(
                f"user {self.user!r} is not registered in team store {self.root}: the server "
                f"let you in, but you hold no Lablift role; an admin adds you with `lablift "
                f"users add {self.user} --role analyst` (or reviewer, ops, admin)")

    def schema_version(self) -> int:
        conn = self.conn
        if conn.execute("SELECT to_regclass('public.alembic_version')").fetchone()[0] is None:
            return 0
        row = conn.execute("SELECT version_num FROM public.alembic_version").fetchone()
        return int(row[0]) if row and str(row[0]).isdigit() else 0

    def migrate(self) -> None:
        from . import team
        team.migrate(self.url)

    # -- transactions and SQL ----------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """BEGIN ... COMMIT (re-entrant), behind the one write lock (see the module doc).
        The server's deferred triggers run at COMMIT: a refusal there rolls back."""
        conn = self.conn
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            self._run(conn, "BEGIN")
            self._run(conn, f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
        self._local.depth = depth + 1
        try:
            yield conn
        except BaseException:
            self._local.depth = depth
            if depth == 0:
                _rollback(conn)
                drop = getattr(self.artifacts, "drop_own_pending", None)
                if drop is not None:
                    drop()
            raise
        self._local.depth = depth
        if depth == 0:
            uploaded = None
            try:
                upload = getattr(self.artifacts, "upload_pending", None)
                if upload is not None:
                    uploaded = upload(conn)
                self._run(conn, "COMMIT")
            except BaseException:
                _rollback(conn)
                if uploaded:
                    self.artifacts.keep_pending(uploaded)
                raise

    def _run(self, conn, sql: str):
        if isinstance(conn, Connection):
            return conn.execute(sql)
        try:
            return conn.execute(sql)
        except Exception as exc:
            raise translate(self, exc) from None

    def execute(self, sql: str, params: Any = ()):
        return self.conn.execute(sql.replace("?", "%s"), params or None)

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return [decode_row(r) for r in self.execute(sql, params).fetchall()]

    def query_one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        row = self.execute(sql, params).fetchone()
        return decode_row(row) if row is not None else None

    def insert(self, table: str, row: dict[str, Any]) -> int:
        cols = list(row)
        sql = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
               f"({', '.join('%s' for _ in cols)}) RETURNING *")
        found = self.conn.execute(sql, [encode(row[c]) for c in cols]).fetchone()
        return found["id"] if "id" in found.keys() else found[0]

    def update(self, table: str, where: dict[str, Any], values: dict[str, Any]) -> int:
        sets = ", ".join(f"{c} = %s" for c in values)
        conds = " AND ".join(f"{c} = %s" for c in where)
        params = [encode(v) for v in values.values()] + list(where.values())
        return self.conn.execute(f"UPDATE {table} SET {sets} WHERE {conds}", params).rowcount

    # -- users and roles ----------------------------------------------------
    def _write_user(self, name: str, role: str, existing: str | None) -> None:
        """The server creates (or grants) the database login role NAME with ROLE and audits
        it (lablift_set_role); its password is the DBA's business, never Lablift's."""
        users_sql.SET_ROLE.execute(self.conn, self.engine, {"name": name, "role": role})


def _rollback(conn) -> None:
    try:
        conn.execute("ROLLBACK")
    except Exception:  # a broken connection has nothing left to roll back
        pass


def translate(store: "TeamStore", exc: BaseException) -> BaseException:
    """A driver error as the one line a user reads (the server's rule, named)."""
    import psycopg
    if not isinstance(exc, psycopg.Error):
        return exc
    diag = getattr(exc, "diag", None)
    text = (diag.message_primary if diag is not None and diag.message_primary else str(exc))
    text = _scrub(text, store.url)
    state = getattr(exc, "sqlstate", None) or ""
    if state == "42501" or state == "P0001":  # insufficient_privilege, a rule's RAISE
        return PermissionDenied(f"refused by the team store's server: {text}")
    if state.startswith("23"):  # integrity: unique, foreign key, check
        return LabliftError(f"refused by the team store's server: {text}")
    if state.startswith("08") or isinstance(exc, psycopg.OperationalError):
        return LabliftError(f"the connection to team store {store.root} failed: {text}")
    return LabliftError(f"team store {store.root}: {text}")


__all__ = ["TeamStore", "Row", "translate", "identity_message", "is_url", "NotFound"]
