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
from pathlib import Path
from typing import BinaryIO, Callable

from .errors import LabliftError

CHUNK = 1 << 20
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
        sha = hashlib.sha256(data).hexdigest()
        self.claim(sha)  # before the existence check: a sweep then keeps it (recovery.py)
        # plain os.path on a known-good hex name: pathlib costs more than the check itself
        target = os.path.join(self.root, sha[:2], sha)
        if not os.path.exists(target):
            atomic_write_bytes(target, data)
        return sha

    def put_writer(self, write: Callable[[BinaryIO], None]) -> str:
        """Let `write` fill a temporary file; hash it; rename it into place."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.claim()  # the claim file first: it is how a sweep finds our temporary file
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=temp_prefix(), suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            sha = sha256_file(tmp)
            self.claim(sha)
            target = self.path(sha)
            if target.exists():
                _unlink_quietly(tmp)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)
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


def _copy_into(source: str | os.PathLike, f: BinaryIO) -> None:
    with open(source, "rb") as src:
        shutil.copyfileobj(src, f, CHUNK)


def _unlink_quietly(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
