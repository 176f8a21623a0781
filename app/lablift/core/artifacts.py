"""Content-addressed files: named by their sha256, written atomically, verified on read.

A process that writes artifacts claims each one first, in `artifacts/.claims/HOST-PID`
(one hash a line), and names its temporary files with its pid. A clean exit removes the
claim file; one left by a dead process tells the next open exactly which artifacts and
temporary files to check for being left unreferenced (core/recovery.py), so nothing a live
process is about to record is ever swept.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import socket
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

from .errors import LabliftError

CHUNK = 1 << 20
SMALL = 1 << 16  # put_many hashes artifacts up to this size in the calling thread
_SHA = re.compile(r"[0-9a-f]{64}\Z")  # a regex: ~10x faster than a per-character check


class ArtifactCorrupt(LabliftError):
    """An artifact's bytes no longer match the hash it is named by."""


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


CLAIMS_DIR = ".claims"


def temp_prefix(pid: int | None = None) -> str:
    """`.incoming.PID.`: whose temporary file it is (the pid is checked before sweeping)."""
    return f".incoming.{os.getpid() if pid is None else pid}."


def _hexdigest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()  # releases the GIL past 2 KB


def _at_once(fn: Callable, items: Sequence) -> None:
    """fn on every item at once: the first here, the others in threads; raises the first
    error once all are done."""
    if not items:
        return
    futures = [_file_threads().submit(fn, item) for item in items[1:]]
    try:
        fn(items[0])
    finally:
        wait(futures)
    for future in futures:
        future.result()


def fsync_dir(path: str | os.PathLike) -> None:
    """Make the names in a folder durable (a rename is not, until its folder is fsynced)."""
    if os.name == "nt":  # Windows cannot open a folder to fsync it; NTFS journals names
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def _file_threads() -> ThreadPoolExecutor:
    """Threads that hash a large artifact while it is written and fsync files at once
    (hashlib and fsync release the GIL). A new pool after a fork."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lablift-artifacts")
            _pool_pid = os.getpid()
        return _pool


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


class ArtifactStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._claims = None
        self._claims_pid = None
        self._claims_lock = threading.Lock()

    def claims_path(self, host: str | None = None, pid: int | None = None) -> Path:
        return (self.root / CLAIMS_DIR /
                f"{host or socket.gethostname()}-{os.getpid() if pid is None else pid}")

    def claim(self, sha: str | None = None) -> None:
        """Note that this process is about to name `sha` in a row (see the module doc);
        without `sha`, only make sure the claim file exists (before a temporary file)."""
        with self._claims_lock:
            if self._claims is None or self._claims_pid != os.getpid():  # new or forked
                path = self.claims_path()
                path.parent.mkdir(parents=True, exist_ok=True)
                self._claims = open(path, "a", encoding="ascii")
                self._claims_pid = os.getpid()
                atexit.register(self._release, path, self._claims, os.getpid())
            if sha is not None:
                self._claims.write(sha + "\n")
                self._claims.flush()

    def claim_dir(self, path: Path) -> None:
        """A temporary folder outside the store (a bundle being written) this process owns."""
        self.claim()
        with self._claims_lock:
            self._claims.write(f"dir {Path(path).absolute()}\n")
            self._claims.flush()

    @staticmethod
    def _release(path: Path, handle, pid: int) -> None:
        # A clean exit (not a forked child's): what this process wrote and did not record
        # it discarded itself; a killed process leaves the file for the next open.
        if os.getpid() == pid:
            handle.close()
            _unlink_quietly(path)

    def path(self, sha: str) -> Path:
        if not (isinstance(sha, str) and _SHA.match(sha)):
            raise LabliftError(f"{sha!r} is not an artifact hash")
        return self.root / sha[:2] / sha

    def exists(self, sha: str) -> bool:
        return self.path(sha).exists()

    def discard(self, sha: str) -> None:
        """Remove an artifact the caller knows no row names (a cancelled import's)."""
        _unlink_quietly(self.path(sha))

    def put_bytes(self, data: bytes) -> str:
        return self.put_many([data])[0]

    def put_many(self, datas: Sequence[bytes]) -> list[str]:
        """Store several artifacts (a run's three), each durable before the row naming it
        commits. Every new one is written to a temporary file and fsynced at once (the
        largest here, while a thread hashes it; the others in threads: creating, writing
        and fsyncing files all wait on the disk), then renamed into place in order and
        their folders fsynced at once. Overlapping fsyncs share the disk's cache flushes."""
        shas: list[str | None] = [None] * len(datas)
        hashing: dict[int, Future] = {}  # a large artifact's sha, computed meanwhile
        folder_of: dict[int, str] = {}  # a new artifact -> where its temporary file goes
        for i, data in enumerate(datas):
            if len(data) > SMALL:  # its folder is known once hashed: its temp goes in the root
                hashing[i] = _file_threads().submit(_hexdigest, data)
                folder_of[i] = str(self.root)
                continue
            shas[i] = sha = _hexdigest(data)
            self.claim(sha)  # before the existence check: a sweep then keeps it
            # plain os.path on a known-good hex name: pathlib costs more than the check
            if not os.path.exists(os.path.join(self.root, sha[:2], sha)):
                folder_of[i] = os.path.join(self.root, sha[:2])
        temps: dict[int, str] = {}  # fsynced temporary files, not yet renamed
        folders: set[str] = set()  # to fsync once the names are made
        try:
            if folder_of:
                self.claim()  # the claim file first: it is how a sweep finds our temp files
                first, *rest = sorted(folder_of, key=lambda i: -len(datas[i]))
                staging = {i: _file_threads().submit(self._stage, datas[i], folder_of[i])
                           for i in rest}
                try:
                    temps[first], made = self._stage(datas[first], folder_of[first])
                    folders.update(made)
                finally:
                    wait(staging.values())
                    for i, future in staging.items():
                        if future.exception() is None:
                            temps[i], made = future.result()
                            folders.update(made)
                for future in staging.values():
                    future.result()  # the first failure, once every file is accounted for
            for i, future in hashing.items():
                shas[i] = sha = future.result()
                self.claim(sha)
                if os.path.exists(os.path.join(self.root, sha[:2], sha)):  # stored already
                    _unlink_quietly(temps.pop(i))
            for i in sorted(temps):  # the same order every time (the kill harness counts)
                target = os.path.join(self.root, shas[i][:2], shas[i])
                folder = os.path.dirname(target)
                if not os.path.isdir(folder):
                    os.makedirs(folder, exist_ok=True)
                    folders.add(os.path.dirname(folder))
                os.replace(temps[i], target)
                del temps[i]
                folders.add(folder)  # the new name's folder is what makes a rename durable
        except BaseException:
            wait(hashing.values())
            for tmp in temps.values():
                _unlink_quietly(tmp)
            raise
        _at_once(fsync_dir, sorted(folders))
        return shas

    @staticmethod
    def _stage(data: bytes, folder: str) -> tuple[str, list[str]]:
        """`data` in a new fsynced temporary file of this process in `folder`; with the
        folders whose entries changed beyond it (a folder made for it: its parent)."""
        made = []
        if not os.path.isdir(folder):
            os.makedirs(folder, exist_ok=True)
            made.append(os.path.dirname(folder))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=temp_prefix(), suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            _unlink_quietly(tmp)
            raise
        return tmp, made

    def put_writer(self, write: Callable[[BinaryIO], None]) -> str:
        """Let `write` fill a temporary file, hashed as it is written; rename it into place."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.claim()  # the claim file first: it is how a sweep finds our temporary file
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=temp_prefix(), suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                hashing = _HashingFile(f)
                write(hashing)
                f.flush()
                os.fsync(f.fileno())
                sha = hashing.hexdigest(os.fstat(f.fileno()).st_size)
            sha = sha or sha256_file(tmp)  # the writer did more than append: read it back
            self.claim(sha)
            target = self.path(sha)
            if target.exists():
                _unlink_quietly(tmp)
            else:
                folders = {str(self.root), str(target.parent)}
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)
                for folder in folders:
                    fsync_dir(folder)
            return sha
        except BaseException:
            _unlink_quietly(tmp)
            raise

    def put_file(self, source: str | os.PathLike) -> str:
        return self.put_writer(lambda f: _copy_into(source, f))

    def read_bytes(self, sha: str, verify: bool = True) -> bytes:
        path = self.path(sha)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise LabliftError(f"artifact {sha[:12]} is missing from {self.root}") from None
        if verify and hashlib.sha256(data).hexdigest() != sha:
            raise ArtifactCorrupt(f"artifact {path} is corrupt: its content no longer matches "
                                  f"its sha256")
        return data

    def verified_path(self, sha: str) -> Path:
        """The artifact's path, after checking its bytes against its name."""
        path = self.path(sha)
        if not path.exists():
            raise LabliftError(f"artifact {sha[:12]} is missing from {self.root}")
        if sha256_file(path) != sha:
            raise ArtifactCorrupt(f"artifact {path} is corrupt: its content no longer matches "
                                  f"its sha256")
        return path


class _HashingFile:
    """The file put_writer hands out, hashed as it is written (no second read); a writer
    that does more than append (seek, truncate, the raw descriptor) loses the hash."""

    _UNTRACKED = frozenset({"seek", "truncate", "fileno", "raw", "detach"})

    def __init__(self, f: BinaryIO):
        self._f, self._h, self._n = f, hashlib.sha256(), 0

    def write(self, data) -> int:
        n = self._f.write(data)
        if self._h is not None:
            try:
                self._h.update(memoryview(data).cast("B")[:n])
                self._n += n
            except (TypeError, ValueError):  # not a plain buffer: hash by reading back
                self._h = None
        return n

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def hexdigest(self, size: int) -> str | None:
        """The sha256 of what was written, if that is the whole `size`-byte file."""
        return self._h.hexdigest() if self._h is not None and self._n == size else None

    def __getattr__(self, name: str):
        if name == "__fspath__":  # no path to write to behind our back (pyarrow asks)
            raise AttributeError(name)
        if name in self._UNTRACKED:
            self._h = None
        return getattr(self._f, name)


def _copy_into(source: str | os.PathLike, f: BinaryIO) -> None:
    with open(source, "rb") as src:
        shutil.copyfileobj(src, f, CHUNK)


def _unlink_quietly(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
