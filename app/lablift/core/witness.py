"""Row witnesses: the audit chain records the content hash of every governed row it changes.

Each connection of a Store carries temporary triggers (invisible to anyone editing
lineage.db by hand) that note which governed rows a transaction touched. The audit entry
written in that transaction hashes those rows as they are at that moment and carries the
hashes in its details (`rows`). `audit verify` replays the chain to what every governed row
must hold and compares it with what the tables hold, so an edit that did not go through
Lablift shows as a row that differs, a row the log never mentions, or a row that vanished.

A row's digest omits NULL columns, so a migration that adds a nullable column leaves every
existing witness valid. Values are hashed as stored, JSON text byte for byte: any edit shows,
and an engine that keeps the same text and the same Python types (str, int, float) gives the
same digest (a copy of a store must keep JSON as text, not re-spell it).
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from typing import Any, Iterable, Iterator

# table -> primary key columns. Everything governance relies on is here; schema_version
# (migrations) and audit_log (the chain itself) are not rows of state.
GOVERNED: dict[str, tuple[str, ...]] = {
    "users": ("name",),
    "settings": ("key",),
    "datasets": ("id",),
    "sweeps": ("id",),
    "runs": ("id",),
    "models": ("name",),
    "model_versions": ("id",),
    "aliases": ("model", "alias"),
    "checks": ("id",),
    "approvals": ("id",),
    "bundles": ("id",),
    "batches": ("id",),
    "alerts": ("id",),
    "webhooks": ("id",),  # where events and their signatures go (migration 0007)
}
# A team store's non-admins may not read these (secrets): the server gives their digests.
SERVER_DIGESTS = ("webhooks",)
# The chain's own head is a cache of the last entry, checked by audit.verify itself.
UNWITNESSED_SETTINGS = ("audit_head",)
PENDING = "temp.witness_pending"
_FLOAT = struct.Struct(">d")


def row_key(table: str, pk: Iterable[Any]) -> str:
    """'runs:5', 'aliases:loan/production': the name a witness goes by."""
    return f"{table}:" + "/".join(str(v) for v in pk)


def row_digest(table: str, row: dict[str, Any]) -> str:
    # Length-prefixed "name:type:length:value" fields, names sorted: unambiguous whatever a
    # value holds, and cheaper than building JSON (this runs for every row a write touches).
    parts = [table.encode()]
    for column in sorted(row):
        value = row[column]
        kind = type(value)
        if value is None:
            continue
        if kind is str:
            tag, data = "s", value.encode("utf-8", "surrogatepass")
        elif kind is int or kind is bool:
            tag, data = "i", str(int(value)).encode()
        elif kind is float:  # the IEEE 754 bits, big-endian: exact, and what PostgreSQL's
            tag, data = "f", _FLOAT.pack(value).hex().encode()  # float8send() gives
        elif kind is bytes:
            tag, data = "b", value
        else:
            tag, data = "s", str(value).encode("utf-8", "surrogatepass")
        parts.append(f"\x00{column}:{tag}:{len(data)}:".encode())
        parts.append(data)
    return hashlib.sha256(b"".join(parts)).hexdigest()


def _where(table: str) -> str:
    return " AND ".join(f"{c} = ?" for c in GOVERNED[table])


def install_triggers(conn: sqlite3.Connection) -> None:
    """Per-connection TEMP triggers noting every governed row a statement touches."""
    # No key: an outer upsert's conflict handling would apply to the trigger's insert too.
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS witness_pending (tbl TEXT NOT NULL, k1, k2)")
    for table, pk in GOVERNED.items():
        def keys(ref: str) -> str:
            cols = [f"{ref}.{c}" for c in pk] + ["''"] * (2 - len(pk))
            return ", ".join(cols)
        skip = (f" WHEN {{ref}}.key NOT IN ({', '.join(repr(k) for k in UNWITNESSED_SETTINGS)})"
                if table == "settings" else "")
        for event, refs in (("INSERT", ("NEW",)), ("UPDATE", ("OLD", "NEW")),
                            ("DELETE", ("OLD",))):
            when = skip.format(ref=refs[-1])
            body = " ".join(f"INSERT INTO witness_pending VALUES "
                            f"('{table}', {keys(ref)});" for ref in refs)
            conn.execute(f"CREATE TEMP TRIGGER IF NOT EXISTS witness_{table}_{event.lower()} "
                         f"AFTER {event} ON main.{table}{when} BEGIN {body} END")


def has_pending(conn: sqlite3.Connection) -> bool:
    return conn.execute(f"SELECT 1 FROM {PENDING} LIMIT 1").fetchone() is not None


def pending_keys(conn: sqlite3.Connection) -> list[str]:
    return [row_key(t, (k1, k2)[:len(GOVERNED[t])])
            for t, k1, k2 in conn.execute(f"SELECT DISTINCT tbl, k1, k2 FROM {PENDING}")]


def take_pending(conn: sqlite3.Connection) -> dict[str, str | None]:
    """Digests of the rows this transaction touched (None: deleted); clears the note."""
    out: dict[str, str | None] = {}
    pending = conn.execute(f"SELECT DISTINCT tbl, k1, k2 FROM {PENDING}").fetchall()
    if not pending:
        return out
    for table, k1, k2 in pending:
        pk = (k1, k2)[:len(GOVERNED[table])]
        cur = conn.execute(f"SELECT * FROM main.{table} WHERE {_where(table)}", pk)
        row = cur.fetchone()
        out[row_key(table, pk)] = (
            row_digest(table, dict(zip([d[0] for d in cur.description], row)))
            if row is not None else None)
    conn.execute(f"DELETE FROM {PENDING}")
    return dict(sorted(out.items()))


def current_rows(conn: sqlite3.Connection, tables: Iterable[str] | None = None,
                 where: dict[str, tuple[str, tuple]] | None = None, engine: str = "sqlite"
                 ) -> Iterator[tuple[str, str]]:
    """(key, digest) of every governed row now in the tables (or those `where` selects;
    its clauses use ? placeholders, on either engine)."""
    schema = "main" if engine == "sqlite" else "public"
    for table in tables or GOVERNED:
        sql = f"SELECT * FROM {schema}.{table}"
        params: tuple = ()
        if where and table in where:
            clause, params = where[table]
            sql += f" WHERE {clause}"
        elif table == "settings":
            sql += f" WHERE key NOT IN ({', '.join('?' for _ in UNWITNESSED_SETTINGS)})"
            params = UNWITNESSED_SETTINGS
        if engine != "sqlite" and table in SERVER_DIGESTS and not (where and table in where):
            yield from ((k, d) for k, d in conn.execute(
                "SELECT k, d FROM public.lablift_witness_digests(%s)", (table,)))
            continue
        if engine != "sqlite":
            sql = sql.replace("?", "%s")
        cur = conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        idx = [names.index(c) for c in GOVERNED[table]]
        for row in cur:
            yield (row_key(table, [row[i] for i in idx]),
                   row_digest(table, dict(zip(names, row))))
