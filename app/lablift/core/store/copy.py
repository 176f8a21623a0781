"""`lablift store copy SRC DST`: a store, every row and artifact, into an empty store of
either engine; then the target is checked against the source.

Rows are copied verbatim, the audit log included, so every witness in the chain still
matches its row on the target (JSON is text on both engines; core/witness.py) and the
target's chain contains the source's head. One `store.copy` entry is appended at the end.

- Into a team store: the target is an EMPTY database; the schema is built and every row
  written in ONE transaction by the connecting role, which becomes the tables' owner (as
  with `store init`). The server's rules are switched off for that transaction only
  (ALTER TABLE ... DISABLE TRIGGER USER, which only the owner may do and nobody else sees
  happen): the rows were decided under the source's rules and carry their own names. Each
  of the source's users becomes a login role with its Lablift role granted; passwords stay
  the DBA's business. A failure rolls everything back, roles included.
- Into an embedded store: a folder that does not exist or is empty; it is built beside it
  under a temporary name and renamed into place when complete.

Then: `audit verify` on the target, the source's head found in the target's chain, the
same number of rows in every table, and every artifact read back and hashed.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from ..artifacts import CHUNK, ArtifactStore, sha256_file
from ..errors import LabliftError
from . import Store, is_url, migrate
from .blobs import CHUNK_INSERT, DatabaseArtifacts

# Tables copied row for row, parents before children (foreign keys); the schema's own
# bookkeeping (alembic_version, schema_version) is the target's, artifacts go separately.
TABLES = ("users", "settings", "audit_log", "datasets", "sweeps", "runs", "models",
          "model_versions", "aliases", "checks", "approvals", "bundles", "batches", "alerts",
          "webhooks")  # governed (witnessed); the delivery log is the source's own
SERIAL = ("datasets", "sweeps", "runs", "model_versions", "checks", "approvals", "bundles",
          "batches", "alerts", "webhooks")


def _columns(table: str) -> list[str]:
    from .schema import metadata
    return [c.name for c in metadata.tables[table].columns]


def _select(table: str) -> str:
    from .schema import metadata
    t = metadata.tables[table]
    order = ", ".join(f'"{c.name}"' for c in t.primary_key.columns)
    return (f"SELECT {', '.join(chr(34) + c + chr(34) for c in _columns(table))} "
            f"FROM {table} ORDER BY {order}")


def _rows(store: Store, table: str) -> Iterator[tuple]:
    cur = store.tuple_cursor()
    cur.execute(_select(table))
    while batch := cur.fetchmany(2000):
        yield from batch


def _artifacts(store: Store) -> list[str]:
    """Every artifact hash the store holds."""
    arts = store.artifacts
    if isinstance(arts, DatabaseArtifacts):
        from .blobs import ALL
        return [r[0] for r in ALL.execute(store.conn, store.engine).fetchall()]
    out = []
    root = Path(arts.root)
    if root.is_dir():
        for sub in sorted(root.iterdir()):
            if sub.is_dir() and len(sub.name) == 2 and not sub.name.startswith("."):
                out += [p.name for p in sorted(sub.iterdir()) if len(p.name) == 64
                        and p.name.startswith(sub.name)]
    return out


def _chunks(store: Store, sha: str) -> Iterator[bytes]:
    """The artifact's bytes in pieces, checked against its name as they pass."""
    import hashlib
    h = hashlib.sha256()
    arts = store.artifacts
    pieces = ((bytes(c) for c in arts._chunks(sha)) if isinstance(arts, DatabaseArtifacts)
              else _file_pieces(arts.path(sha)))
    for piece in pieces:
        h.update(piece)
        yield piece
    if h.hexdigest() != sha:
        raise LabliftError(f"artifact {sha[:12]} of the source store is corrupt (its content "
                           f"does not match its name): nothing was copied")


def _file_pieces(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def _size(store: Store, sha: str) -> int:
    arts = store.artifacts
    if isinstance(arts, DatabaseArtifacts):
        return arts._header(sha)[0]
    return os.path.getsize(arts.path(sha))


def counts(store: Store) -> dict[str, int]:
    return {t: store.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}


def copy(src: str, dst: str, user: str | None = None,
         progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    from .. import audit
    say = progress or (lambda message: None)
    started = time.perf_counter()
    source = Store(src, user=user)
    try:
        checked = audit.verify(source)
        if not checked.ok:
            raise LabliftError(f"the source store {source.root} does not verify, so it is not "
                               f"copied: {checked.summary()}")
        head = audit.head(source)
        before = counts(source)
        shas = _artifacts(source)
        say(f"copying {sum(before.values())} rows and {len(shas)} artifacts from "
            f"{source.root}")
        details = {"from": str(source.root), "engine": source.engine, "head": head,
                   "rows": before, "artifacts": len(shas)}
        if is_url(dst):
            size = _into_team(source, dst, shas, details)
        else:
            size = _into_embedded(source, Path(dst).expanduser(), shas, details)
    finally:
        source.close()
    copied_s = time.perf_counter() - started
    say("checking the copy")
    result = check(src, dst, user, head, before, shas)
    result.update(seconds=round(copied_s, 3), artifact_bytes=size,
                  mb_per_s=round(size / 1e6 / copied_s, 1) if copied_s else None)
    return result


def check(src: str, dst: str, user: str | None, head: dict, before: dict[str, int],
          shas: list[str]) -> dict[str, Any]:
    """The target against what was copied: chain, head, row counts, artifacts."""
    from .. import audit
    target = Store(dst, user=user if not is_url(dst) else None)
    try:
        verified = audit.verify(target, head=head["hash"] if head["seq"] else None)
        if not verified.ok:
            raise LabliftError(f"the copy at {target.root} does not verify: "
                               f"{verified.summary()}")
        after = counts(target)
        # the copy adds its own audit entry (and may have made the audit head's row)
        expected = {**before, "audit_log": before["audit_log"] + 1}
        differ = {t: (expected[t], after[t]) for t in TABLES
                  if t not in ("settings",) and expected[t] != after[t]}
        if differ:
            raise LabliftError("the copy's row counts differ from the source's: " + ", ".join(
                f"{t} {a} → {b}" for t, (a, b) in differ.items()))
        missing = [s for s in shas if not _verified(target, s)]
        if missing:
            raise LabliftError(f"{len(missing)} artifacts are missing or corrupt in the copy "
                               f"(first {missing[0][:12]})")
        return {"source": src if not is_url(src) else _masked(src),
                "target": str(target.root), "engine": target.engine, "rows": after,
                "artifacts": len(shas), "audit_entries": verified.entries,
                "head": audit.head(target), "verified": True}
    finally:
        target.close()


def _masked(url: str) -> str:
    from .team import mask_url
    return mask_url(url)


def _verified(store: Store, sha: str) -> bool:
    try:
        for _ in _chunks(store, sha):
            pass
        return True
    except LabliftError:
        return False


# -- into a team store -----------------------------------------------------------------------------
def _into_team(source: Store, url: str, shas: list[str], details: dict) -> int:
    from . import team
    return team._in_transaction(url, "store copy",
                                lambda conn: _team_work(conn, url, source, shas, details))


def _team_work(conn, url: str, source: Store, shas: list[str], details: dict) -> int:
    import sqlalchemy as sa
    from psycopg import sql

    from .. import audit
    from . import team, utcnow
    raw = conn.connection.driver_connection
    database, me = team.prepare_empty(conn, url, "store copy")
    for table in (*TABLES, "blobs", "blob_chunks"):
        raw.execute(f"ALTER TABLE public.{table} DISABLE TRIGGER USER")
    for table in TABLES:
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in _columns(table))
        with raw.cursor() as cur, cur.copy(sql.SQL("COPY public.{} ({}) FROM STDIN").format(
                sql.Identifier(table), cols)) as out:
            for row in _rows(source, table):
                out.write_row(row)
    for table in SERIAL:
        raw.execute(sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), "
                            "COALESCE((SELECT MAX(id) FROM public.{}), 0) + 1, false)")
                    .format(sql.Literal(f"public.{table}"), sql.Identifier(table)))
    for name, role in raw.execute("SELECT name, role FROM public.users").fetchall():
        if not raw.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone():
            raw.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        raw.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(f"lablift_{role}"),
                                                     sql.Identifier(name)))
    size = 0
    insert = CHUNK_INSERT.sql("postgresql")[0]
    now = utcnow()
    with raw.cursor() as cur:
        for sha in shas:
            length = _size(source, sha)
            cur.execute("INSERT INTO public.blobs (sha256, size, chunks, created_at, "
                        "created_by) VALUES (%s, %s, %s, %s, %s)",
                        (sha, length, -(-length // CHUNK), now, me))
            for n, piece in enumerate(_chunks(source, sha)):
                cur.execute(insert, {"sha256": sha, "n": n, "data": piece})
            size += length
    for table in (*TABLES, "blobs", "blob_chunks"):
        raw.execute(f"ALTER TABLE public.{table} ENABLE TRIGGER USER")
    conn.execute(sa.select(sa.func.lablift_audit(
        "store.copy", f"store:{database}", audit._details_json(
            {**details, "origin": audit.origin()}))))
    return size


# -- into an embedded store --------------------------------------------------------------------------
def _into_embedded(source: Store, dst: Path, shas: list[str], details: dict) -> int:
    from .. import audit
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise LabliftError(f"{dst} is not empty: `store copy` makes a new store, into a folder "
                           f"that does not exist yet or is empty")
    building = dst.with_name(f".{dst.name}.copying-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    try:
        building.mkdir(parents=True)
        db = building / "lineage.db"
        first = sqlite3.connect(db)
        first.execute("PRAGMA journal_mode = wal")
        first.close()
        migrate.upgrade_sqlite(db, lambda conn, revision: None, 30.0)
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN IMMEDIATE")
        for table in TABLES:
            cols = _columns(table)
            conn.executemany(
                f"INSERT INTO {table} ({', '.join(chr(34) + c + chr(34) for c in cols)}) "
                f"VALUES ({', '.join('?' for _ in cols)})", _rows(source, table))
        conn.execute("COMMIT")
        conn.close()
        files = ArtifactStore(building / "artifacts")
        size = 0
        for sha in shas:
            target = files.path(sha)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            with open(tmp, "wb") as f:
                for piece in _chunks(source, sha):
                    f.write(piece)
                    size += len(piece)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        if dst.exists():
            dst.rmdir()
        os.replace(building, dst)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    copied = Store(dst, user=source.user)
    try:
        audit.append(copied, "store.copy", f"store:{dst}", details)
    finally:
        copied.close()
    return size


__all__ = ["copy", "check", "counts", "sha256_file"]
