"""Content-addressed files: named by their sha256, written atomically, verified on read."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
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


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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

    def path(self, sha: str) -> Path:
        if not (isinstance(sha, str) and _SHA.match(sha)):
            raise LabliftError(f"{sha!r} is not an artifact hash")
        return self.root / sha[:2] / sha

    def exists(self, sha: str) -> bool:
        return self.path(sha).exists()

    def put_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        # plain os.path on a known-good hex name: pathlib costs more than the check itself
        target = os.path.join(self.root, sha[:2], sha)
        if not os.path.exists(target):
            atomic_write_bytes(target, data)
        return sha

    def put_writer(self, write: Callable[[BinaryIO], None]) -> str:
        """Let `write` fill a temporary file; hash it; rename it into place."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            sha = sha256_file(tmp)
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
