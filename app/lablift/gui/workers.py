"""Background tasks for the GUI: run `fn(progress, cancelled)` in a QThreadPool thread.

The TaskState pattern (as Orange's widgets/utils/concurrent.py and superqt's thread_worker):

    task = run_task(lambda progress, cancelled: core.datasets.import_dataset(
        store, path, progress=progress, cancelled=cancelled))
    task.progress.connect(on_progress)   # (fraction 0..1, message), in the GUI thread
    task.finished.connect(on_result)     # fn's return value
    task.failed.connect(on_error)        # user-facing message (LabliftError text)
    task.cancelled.connect(on_cancel)    # fn raised core.errors.Cancelled after task.cancel()
    task.cancel()                        # sets the flag fn polls through `cancelled()`

Every public signal is emitted in the GUI thread (worker signals are queued to the Task, which
lives there), so slots may touch widgets. Exactly one of finished/failed/cancelled fires, then
`done`. The core Store keeps one SQLite connection per thread, so fn may use the pane's Store.
"""

from __future__ import annotations

import functools
import sys
import threading
import traceback
from typing import Any, Callable

import shiboken6

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Qt, Signal, Slot

from ..core.errors import Cancelled, LabliftError

Progress = Callable[[float, str], None]
IsCancelled = Callable[[], bool]

# Tasks stay referenced until they end: a garbage-collected Task would lose its signals.
_live: set["Task"] = set()


class _Emitter(QObject):
    """Signals emitted from the worker thread; only the owning Task listens (queued)."""
    progress = Signal(float, str)
    outcome = Signal(str, object)  # ("finished" | "failed" | "cancelled", payload)


class _Runnable(QRunnable):
    def __init__(self, fn: Callable[[Progress, IsCancelled], Any], emitter: _Emitter,
                 flag: threading.Event):
        super().__init__()
        self.setAutoDelete(True)
        self._fn, self._emitter, self._flag = fn, emitter, flag

    def run(self) -> None:
        emit = self._emitter
        try:
            result = self._fn(lambda f, m="": _safe_emit(emit.progress, float(f), str(m)),
                              self._flag.is_set)
        except Cancelled:
            _safe_emit(emit.outcome, "cancelled", None)
        except LabliftError as exc:
            _safe_emit(emit.outcome, "failed", str(exc))
        except Exception as exc:  # a bug, not a user error: keep the trace for the developer
            traceback.print_exc(file=sys.stderr)
            _safe_emit(emit.outcome, "failed", f"internal error ({type(exc).__name__}: {exc})")
        else:
            _safe_emit(emit.outcome, "finished", result)


def while_alive(method):
    """Skip a Task's late outcome once the widget is gone (the window closed and was deleted
    while a worker was still finishing)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not shiboken6.isValid(self):
            return None
        return method(self, *args, **kwargs)
    return wrapper


def _safe_emit(signal, *args) -> None:
    try:
        signal.emit(*args)
    except RuntimeError:  # the Task was deleted (app quitting): nobody is left to tell
        pass


class Task(QObject):
    """One background call. Create with `run_task`; lives in the GUI thread."""

    progress = Signal(float, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()  # after any of the three outcomes

    def __init__(self, fn: Callable[[Progress, IsCancelled], Any], parent: QObject | None = None):
        super().__init__(parent)
        self.state = "pending"  # running, finished, failed, cancelled
        self.result: Any = None
        self.error: str | None = None
        self._flag = threading.Event()
        self._emitter = _Emitter()
        # Queued: the handlers run in this object's (GUI) thread whatever thread emits.
        self._emitter.progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        self._emitter.outcome.connect(self._on_outcome, Qt.ConnectionType.QueuedConnection)
        self._runnable = _Runnable(fn, self._emitter, self._flag)

    def start(self, pool: QThreadPool | None = None) -> "Task":
        self.state = "running"
        _live.add(self)
        (pool or QThreadPool.globalInstance()).start(self._runnable)
        self._runnable = None  # the pool owns and deletes it
        return self

    def cancel(self) -> None:
        """Ask fn to stop; it raises Cancelled at its next `cancelled()` check."""
        self._flag.set()

    def is_cancel_requested(self) -> bool:
        return self._flag.is_set()

    def is_running(self) -> bool:
        return self.state == "running"

    @Slot(float, str)
    def _on_progress(self, fraction: float, message: str) -> None:
        if self.state == "running":
            self.progress.emit(fraction, message)

    @Slot(str, object)
    def _on_outcome(self, kind: str, payload: object) -> None:
        self.state = kind
        _live.discard(self)
        if kind == "finished":
            self.result = payload
            self.finished.emit(payload)
        elif kind == "failed":
            self.error = str(payload)
            self.failed.emit(self.error)
        else:
            self.cancelled.emit()
        self.done.emit()


def run_task(fn: Callable[[Progress, IsCancelled], Any], parent: QObject | None = None,
             pool: QThreadPool | None = None) -> Task:
    """Start `fn(progress, cancelled)` in a worker thread and return its Task.

    Connect the Task's signals right after this call: outcomes are queued to the GUI
    thread, so none can arrive before control returns to the event loop.
    """
    return Task(fn, parent).start(pool)


def cancel_all(timeout_ms: int = 5000) -> bool:
    """Cancel every live task and wait for the pool (at quit). True if all ended in time."""
    for task in list(_live):
        task.cancel()
    return QThreadPool.globalInstance().waitForDone(timeout_ms)
