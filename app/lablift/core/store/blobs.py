"""Artifacts of a team store, kept in the database itself: one server is all a team runs,
and `pg_dump` backs up everything.

Content-addressed like the folder store (core/artifacts.py): a blob is named by its sha256,
stored once, in 1 MiB chunks (so a 1 GB dataset never needs 1 GB of memory on either side),
and verified against its name on every read. Reads that need a file (Parquet is read by
path) are materialised once into the user's cache folder, named by the hash and checked
again on every use, so a cached copy can be shared by every store without trust.

A blob is written in the caller's transaction when there is one (it commits with the row
that names it), otherwise in its own; `ON CONFLICT DO NOTHING` on the header makes two
writers of the same content agree. A team store created with a shared folder for its
artifacts (`store init URL --artifacts DIR`) uses the folder store there instead.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.dialects import postgresql

from ..artifacts import (CHUNK, ArtifactCorrupt, ArtifactStore, _SHA, atomic_write_bytes,
                         sha256_file, temp_prefix)
from ..errors import LabliftError
from .schema import blob_chunks, blobs
from .sql import Statement

if TYPE_CHECKING:
    from .server import TeamStore

ARTIFACTS_SETTING = "artifacts_dir"  # set by `store init --artifacts DIR`

CLAIM = Statement(postgresql.insert(blobs).values(
    sha256=bindparam("sha256"), size=bindparam("size"), chunks=bindparam("chunks"),
    created_at=bindparam("created_at"), created_by=bindparam("created_by"))
    .on_conflict_do_nothing(index_elements=["sha256"]).returning(blobs.c.sha256))
CHUNK_INSERT = Statement(insert(blob_chunks).values(
    sha256=bindparam("sha256"), n=bindparam("n"), data=bindparam("data")))
HEADER = Statement(select(blobs.c.size, blobs.c.chunks).where(
    blobs.c.sha256 == bindparam("sha256")))
CHUNK_READ = Statement(select(blob_chunks.c.data).where(
    blob_chunks.c.sha256 == bindparam("sha256"), blob_chunks.c.n == bindparam("n")))
COUNT = Statement(select(func.count(), func.coalesce(func.sum(blobs.c.size), 0)))
ALL = Statement(select(blobs.c.sha256).order_by(blobs.c.sha256))


def open_artifacts(store: "TeamStore"):
    folder = store.setting(ARTIFACTS_SETTING)
    if folder:
        return ArtifactStore(Path(folder))
    return DatabaseArtifacts(store)


def cache_dir() -> Path:
    import platformdirs
    return platformdirs.user_cache_path("lablift", appauthor=False) / "artifacts"


class DatabaseArtifacts:
    """The ArtifactStore API (put_bytes, put_writer, put_file, read_bytes, verified_path,
    exists, path) over the store's blobs tables."""

    def __init__(self, store: "TeamStore"):
        self.store = store
        self.root = cache_dir()  # where verified copies for reading by path are kept

    # -- writing ------------------------------------------------------------
    def put_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        view = memoryview(data)
        self._put(sha, len(data), (view[i:i + CHUNK] for i in range(0, len(data), CHUNK)))
        return sha

    def put_writer(self, write: Callable[[BinaryIO], None]) -> str:
        """Let `write` fill a local temporary file; hash it; stream it in."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=temp_prefix(), suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            return self.put_file(tmp)
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass

    def put_file(self, source: str | os.PathLike) -> str:
        sha = sha256_file(source)
        size = os.path.getsize(source)

        def chunks():
            with open(source, "rb") as f:
                while chunk := f.read(CHUNK):
                    yield chunk
        self._put(sha, size, chunks())
        return sha

    def _put(self, sha: str, size: int, chunks) -> None:
        from . import utcnow
        store = self.store
        with store.transaction() if store._local.__dict__.get("depth") else _own(store) as conn:
            claimed = CLAIM.execute(conn, store.engine, {
                "sha256": sha, "size": size, "chunks": -(-size // CHUNK) if size else 0,
                "created_at": utcnow(), "created_by": store.user}).fetchone()
            if claimed is None:
                return  # stored already (or by a writer that just committed it)
            text = CHUNK_INSERT.sql(store.engine)[0]
            with conn.raw.cursor() as cur:
                for n, chunk in enumerate(chunks):
                    cur.execute(text, {"sha256": sha, "n": n, "data": bytes(chunk)})

    def claim(self, sha: str | None = None) -> None:
        """Nothing to claim: a blob is written in one transaction, so a killed writer leaves
        none half-written (the folder store's claims exist for its temporary files)."""

    def claim_dir(self, path: Path) -> None:
        """An export's temporary folder is recorded in its bundles row (host, pid,
        tmp_path), which recovery reads on this host; no claim file is kept."""

    # -- reading ------------------------------------------------------------
    def path(self, sha: str) -> Path:
        if not (isinstance(sha, str) and _SHA.match(sha)):
            raise LabliftError(f"{sha!r} is not an artifact hash")
        return self.root / sha[:2] / sha

    def exists(self, sha: str) -> bool:
        return self._header(sha) is not None

    def _header(self, sha: str):
        self.path(sha)
        return HEADER.execute(self.store.conn, self.store.engine, {"sha256": sha}).fetchone()

    def _chunks(self, sha: str):
        header = self._header(sha)
        if header is None:
            raise LabliftError(f"artifact {sha[:12]} is missing from team store "
                               f"{self.store.root}")
        conn = self.store.conn
        for n in range(header[1]):
            row = CHUNK_READ.execute(conn, self.store.engine, {"sha256": sha, "n": n}).fetchone()
            if row is None:
                raise ArtifactCorrupt(f"artifact {sha[:12]} in team store {self.store.root} is "
                                      f"incomplete: chunk {n} of {header[1]} is missing")
            yield row[0]

    def read_bytes(self, sha: str, verify: bool = True) -> bytes:
        cached = self.path(sha)
        if cached.exists() and sha256_file(cached) == sha:
            return cached.read_bytes()
        data = b"".join(bytes(c) for c in self._chunks(sha))
        if verify and hashlib.sha256(data).hexdigest() != sha:
            raise ArtifactCorrupt(f"artifact {sha[:12]} in team store {self.store.root} is "
                                  f"corrupt: its content no longer matches its sha256")
        return data

    def verified_path(self, sha: str) -> Path:
        """A local copy of the artifact, checked against its name (fetched once, in
        chunks, to the cache folder)."""
        target = self.path(sha)
        if target.exists() and sha256_file(target) == sha:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=temp_prefix(), suffix=".tmp")
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as f:
                for chunk in self._chunks(sha):
                    h.update(chunk)
                    f.write(chunk)
            if h.hexdigest() != sha:
                raise ArtifactCorrupt(f"artifact {sha[:12]} in team store {self.store.root} "
                                      f"is corrupt: its content no longer matches its sha256")
            os.replace(tmp, target)
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        return target

    def write_cached(self, sha: str, data: bytes) -> None:
        atomic_write_bytes(self.path(sha), data)


class _own:
    """A transaction of its own for a blob written outside any (no write lock: a large
    blob must not hold up everyone else's writes)."""

    def __init__(self, store: "TeamStore"):
        self.store = store

    def __enter__(self):
        self.conn = self.store.conn
        self.store._run(self.conn.raw, "BEGIN")
        return self.conn

    def __exit__(self, kind, exc, tb):
        if kind is None:
            self.store._run(self.conn.raw, "COMMIT")
        else:
            self.conn.raw.execute("ROLLBACK")
        return False
