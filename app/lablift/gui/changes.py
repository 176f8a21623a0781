"""Colleagues' changes, heard in the background: a ChangeFeed runs core's ChangeWatcher.

    feed = ChangeFeed(store_location, since=seq_the_panes_have_seen)
    feed.changed.connect(on_changes)   # list of {seq, action, entity}, in the GUI thread
    feed.state.connect(on_state)       # ("live" | "retrying" | "stopped", one-line text)
    feed.start(); ...; feed.stop()

The watcher's blocking `wait` runs in a worker (workers.run_task) on a pool of its own, so it
never holds one of the global pool's few threads that the panes' loads need, and never runs
on the GUI thread. It waits at most WAIT_S at a time, so `stop()` (or workers.cancel_all at
quit) ends it within that. A broken connection (the server restarted, the folder went away)
is reported as "retrying" and the watcher is reopened with a growing pause; whatever changed
meanwhile is announced once it is back (one entry with action "resync").
"""

from __future__ import annotations

import threading
import time
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Qt, Signal, Slot

from ..core.errors import Cancelled
from .connect import scrub
from .workers import Task, _safe_emit, run_task, while_alive

WAIT_S = 0.5  # longest a stop waits for the watcher's current wait to end
POLL_S = 0.5  # an embedded store's head is read this often
RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)  # pauses before reopening a broken watcher

_pool: QThreadPool | None = None


def feed_pool() -> QThreadPool:
    """The feeds' own threads (one per open window, plus one just stopping)."""
    global _pool
    if _pool is None:
        _pool = QThreadPool()
        _pool.setMaxThreadCount(8)
    return _pool


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:299] + "…"


class _Relay(QObject):
    """Signals the worker emits; queued to the feed in the GUI thread."""
    entries = Signal(object)
    state = Signal(str, str)


class ChangeFeed(QObject):
    changed = Signal(list)  # new audit entries (oldest first), in the GUI thread
    state = Signal(str, str)  # "live" | "retrying" | "stopped", and a line saying why

    def __init__(self, location: str, since: int | None = None, parent: QObject | None = None,
                 wait_s: float = WAIT_S, poll_s: float = POLL_S):
        super().__init__(parent)
        self.location = str(location)
        self.since = since
        self.wait_s, self.poll_s = wait_s, poll_s
        self.status = "stopped"
        self.status_text = ""
        self.last_seq: int | None = since
        self.task: Task | None = None
        self._ended = threading.Event()  # set by the worker as its very last act
        self._relay = _Relay()
        self._relay.entries.connect(self._on_entries, Qt.ConnectionType.QueuedConnection)
        self._relay.state.connect(self._on_state, Qt.ConnectionType.QueuedConnection)

    # -- control (GUI thread) ------------------------------------------------------------
    def start(self) -> "ChangeFeed":
        if self.task is not None and self.task.is_running():
            return self
        relay, location, since = self._relay, self.location, self.since
        wait_s, poll_s = self.wait_s, self.poll_s
        ended = self._ended = threading.Event()
        task = self.task = run_task(
            lambda progress, cancelled: _watch(location, since, relay, cancelled,
                                               wait_s, poll_s, ended),
            pool=feed_pool())
        task.done.connect(self._on_done)
        return self

    def stop(self) -> None:
        """Ask the worker to end (within wait_s); returns at once."""
        if self.task is not None:
            self.task.cancel()

    def wait_stopped(self, timeout_s: float) -> bool:
        """After stop(): block until the worker has closed its watcher (at quit only, so the
        process never ends under a thread still inside the driver). True if it has."""
        return self.task is None or self._ended.wait(timeout_s)

    def is_running(self) -> bool:
        return self.task is not None and self.task.is_running() \
            and not self.task.is_cancel_requested()

    # -- from the worker (queued) ------------------------------------------------------------
    @Slot(object)
    @while_alive
    def _on_entries(self, entries: list[dict[str, Any]]) -> None:
        if self.task is None or self.task.is_cancel_requested():
            return  # stopped meanwhile: nobody asked any more
        seqs = [e.get("seq") for e in entries if isinstance(e.get("seq"), int)]
        if seqs:
            self.last_seq = max(seqs)
        self.changed.emit(list(entries))

    @Slot(str, str)
    @while_alive
    def _on_state(self, status: str, text: str) -> None:
        if self.task is not None and self.task.is_cancel_requested() and status != "stopped":
            return
        self.status, self.status_text = status, text
        self.state.emit(status, text)

    @while_alive
    def _on_done(self) -> None:
        task = self.task
        if task is not None and task.state == "failed":
            self._on_state("stopped", f"live updates stopped: {task.error}")
        else:
            self.status, self.status_text = "stopped", ""
            self.state.emit("stopped", "")


def _watch(location: str, since: int | None, relay: _Relay, cancelled, wait_s: float,
           poll_s: float, ended: threading.Event) -> None:
    """The worker: wait for new entries until cancelled, reopening the watcher when it breaks."""
    from ..core.store.changes import ChangeWatcher
    watcher = None
    seen = since  # the last entry the GUI has shown (None: whatever is there now)
    failures = 0
    try:
        while not cancelled():
            try:
                if watcher is None:
                    watcher = ChangeWatcher(location, poll_s=poll_s)
                    if seen is not None and watcher.seq != seen:
                        # Changed while nobody listened (before the first start, or while
                        # the connection was down): one refresh covers it.
                        _safe_emit(relay.entries, [{"seq": watcher.seq, "action": "resync",
                                                    "entity": ""}])
                    seen = watcher.seq
                    failures = 0
                    _safe_emit(relay.state, "live", "")
                new = watcher.wait(wait_s)
            except Exception as exc:  # the watcher reads with the raw drivers: any error
                _close(watcher)
                watcher = None
                pause = RETRY_S[min(failures, len(RETRY_S) - 1)]
                failures += 1
                _safe_emit(relay.state, "retrying",
                           f"live updates paused: {scrub(one_line(exc), location)} (retrying "
                           f"in {pause:g} s)")
                _sleep(pause, cancelled)
                continue
            if new:
                seen = new[-1]["seq"]
                _safe_emit(relay.entries, new)
    finally:
        _close(watcher)
        ended.set()
    raise Cancelled("change feed stopped")


def _close(watcher) -> None:
    if watcher is not None:
        try:
            watcher.close()
        except Exception:  # closing a connection that already broke: nothing to keep
            pass


def _sleep(seconds: float, cancelled) -> None:
    end = time.monotonic() + seconds
    step = threading.Event()
    while not cancelled() and time.monotonic() < end:
        step.wait(min(0.1, end - time.monotonic()))
