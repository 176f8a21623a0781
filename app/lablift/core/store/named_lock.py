"""One process at a time for a named piece of long work, across every process that opens the
store: two `lablift pipeline run`s training the same spec, for one. The write lock cannot do
this (it is held for a transaction, not for a minute of fitting).

- Embedded store: an exclusive lock (flock; msvcrt on Windows) on a file under
  `<store>/.locks/`, named by the sha256 of the lock's name.
- Team store: a session-level PostgreSQL advisory lock on a connection of its own, keyed by
  the same digest (pair form, first key LOCK_CLASS, so it never meets the write lock's key).

The operating system or the server lets go when the process dies, so a crash never leaves
it held, and nothing needs reconciling at the next open.
"""

from __future__ import annotations

import hashlib
import os
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from . import Store

LOCKS_DIR = ".locks"
LOCK_CLASS = 4243  # pg_advisory_lock(LOCK_CLASS, key): the write lock is one bigint key


def _digest(name: str) -> bytes:
    return hashlib.sha256(name.encode("utf-8")).digest()


@contextmanager
def hold(store: "Store", name: str, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the lock `name` for the block; when another process holds it, call on_wait()
    once, then wait for it."""
    if store.engine == "sqlite":
        with _file_lock(store, _digest(name).hex(), on_wait):
            yield
    else:
        key = int.from_bytes(_digest(name)[:4], "big", signed=True)
        with _advisory_lock(store, key, on_wait):
            yield


@contextmanager
def _file_lock(store: "Store", digest: str, on_wait) -> Iterator[None]:
    from ..errors import LabliftError
    folder = store.root / LOCKS_DIR
    try:
        folder.mkdir(exist_ok=True)
        fd = os.open(folder / f"{digest}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise LabliftError(f"cannot take a lock in {folder}: {exc.strerror or exc}") from None
    try:
        if not _try_lock(fd):
            if on_wait is not None:
                on_wait()
            _wait_lock(fd)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _wait_lock(fd: int) -> None:
        while not _try_lock(fd):
            time.sleep(0.2)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _wait_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)


@contextmanager
def _advisory_lock(store: "Store", key: int, on_wait) -> Iterator[None]:
    conn = store._connect()  # its own session: the lock outlives the store's transactions
    try:
        got = conn.execute("SELECT pg_try_advisory_lock(%s::int4, %s::int4)",
                           (LOCK_CLASS, key)).fetchone()
        if not got[0]:
            if on_wait is not None:
                on_wait()
            conn.execute("SELECT pg_advisory_lock(%s::int4, %s::int4)", (LOCK_CLASS, key)).fetchone()
        yield
    finally:
        conn.close()  # ending the session releases the lock
