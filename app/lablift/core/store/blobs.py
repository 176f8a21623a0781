"""Artifacts of a team store, kept in the database itself: one server is all a team runs,
and `pg_dump` backs up everything.

Content-addressed like the folder store (core/artifacts.py): a blob is named by its sha256,
stored once, in 1 MiB chunks (so a 1 GB dataset never needs 1 GB of memory on either side),
and verified against its name on every read. Reads that need a file (Parquet is read by
path) are materialised once into the user's cache folder, named by the hash and checked
again on every use, so a cached copy can be shared by every store without trust.

A blob is uploaded by the next commit of the store, in the transaction of the row that names
it (see put_bytes); `ON CONFLICT DO NOTHING` on the header makes two writers of the same
content agree. A team store created with a shared folder for its
artifacts (`store init URL --artifacts DIR`) uses the folder store there instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
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
        self._lock = threading.Lock()
        self._pending: dict[str, bytes | Path] = {}  # put, not yet uploaded (see put_bytes)
        self._owner: dict[str, int] = {}  # sha -> the thread that put it

    # -- writing ------------------------------------------------------------
    # A put keeps the bytes locally (in memory, or in the cache folder for a file) and the
    # next COMMIT of this store uploads them in the same transaction as the row that names
    # them (TeamStore.transaction calls upload_pending): a cancelled import or a killed
    # process leaves nothing in the database, and a row never names a blob not yet there.
    def put_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        with self._lock:
            self._pending[sha] = data
            self._owner[sha] = threading.get_ident()
        return sha

    def put_many(self, datas) -> list[str]:
        return [self.put_bytes(data) for data in datas]  # uploaded together by the commit

    def put_writer(self, write: Callable[[BinaryIO], None]) -> str:
        """Let `write` fill a temporary file in the cache; hash it; keep it there."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=temp_prefix(), suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            return self._keep(tmp)
        finally:
            _unlink_quietly(tmp)

    def put_file(self, source: str | os.PathLike) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=temp_prefix(), suffix=".tmp")
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            return self._keep(tmp)
        finally:
            _unlink_quietly(tmp)

    def _keep(self, tmp: str) -> str:
        sha = sha256_file(tmp)
        target = self.path(sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)  # a cache entry: checked by its hash on every use
        with self._lock:
            self._pending[sha] = target
            self._owner[sha] = threading.get_ident()
        return sha

    def upload_pending(self, conn) -> dict:
        """Write what was put since the last commit, in `conn`'s open transaction; returns
        what it wrote (for keep_pending if that transaction fails)."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._owner = {}
        try:
            for sha, held in pending.items():
                if isinstance(held, bytes):
                    view = memoryview(held)
                    self._upload(conn, sha, len(held),
                                 (view[i:i + CHUNK] for i in range(0, len(held), CHUNK)))
                else:
                    self._upload(conn, sha, os.path.getsize(held), _file_chunks(held, sha))
        except BaseException:
            self.keep_pending(pending)
            raise
        return pending

    def keep_pending(self, pending: dict) -> None:
        """The COMMIT that uploaded them failed: upload them with the next one."""
        with self._lock:
            self._pending = {**pending, **self._pending}

    def drop_own_pending(self) -> None:
        """This thread's transaction rolled back: what this thread put was for it, so it is
        not uploaded later (what other threads put is theirs to record, e.g. an import's
        Parquet written by a worker thread for the row the importing thread commits)."""
        me = threading.get_ident()
        with self._lock:
            for sha in [s for s, t in self._owner.items() if t == me]:
                self._pending.pop(sha, None)
                self._owner.pop(sha, None)

    def _upload(self, conn, sha: str, size: int, chunks) -> None:
        from . import utcnow
        store = self.store
        claimed = CLAIM.execute(conn, store.engine, {
            "sha256": sha, "size": size, "chunks": -(-size // CHUNK) if size else 0,
            "created_at": utcnow(), "created_by": store.user}).fetchone()
        if claimed is None:
            return  # stored already (or by a writer that just committed it)
        text = CHUNK_INSERT.sql(store.engine)[0]
        with conn.cursor() as cur:
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

    def discard(self, sha: str) -> None:
        """Forget an artifact put but not to be recorded (a cancelled import's): it is not
        uploaded, and its cached copy goes. One already in the database stays (another
        row may name it; blobs are never deleted)."""
        with self._lock:
            self._pending.pop(sha, None)
            self._owner.pop(sha, None)
        _unlink_quietly(self.path(sha))

    def exists(self, sha: str) -> bool:
        return sha in self._pending or self._header(sha) is not None

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
        held = self._pending.get(sha)
        if isinstance(held, bytes):
            return held
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
        held = self._pending.get(sha)
        if isinstance(held, bytes):
            atomic_write_bytes(target, held)
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


def _file_chunks(path: Path, sha: str):
    """A cached file's bytes in chunks, checked against its name as they pass (the cache is
    the user's folder: what goes into the team store must be what was hashed)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            yield chunk
    if h.hexdigest() != sha:
        raise ArtifactCorrupt(f"the local copy {path} changed before it was stored: not "
                              f"recorded")


def _unlink_quietly(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
