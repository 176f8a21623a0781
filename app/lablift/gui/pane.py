"""What every pane shares: background tasks by purpose, busy state, one feedback path, and
navigation by signal (see docs for the pattern; Orange's ConcurrentWidgetMixin, simpler).

    class Pane(PaneBase):
        title = "Datasets"

        def refresh(self):
            # the store is read in a worker; `show` runs on the GUI thread with the result
            self.start("load", lambda progress, cancelled: datasets.list_datasets(self.store),
                       self.show)

`start(purpose, fn, on_result)` cancels the task still running for that purpose and ignores
its late outcome, so the newest request wins; progress is wired once; a failure goes to
`notify` (a dialog naming what failed) unless `on_failed` handles it. `busy_changed(bool)`
follows whether any task runs. `navigate.emit(pane_name, ref)` asks the main window to
show another pane at `ref` (a run id, a version ref...), instead of calling into it.
"""

from __future__ import annotations

from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QThreadPool, Signal
from PySide6.QtWidgets import QWidget

from .notifications import notify
from .workers import IsCancelled, Progress, Task, run_task

Work = Callable[[Progress, IsCancelled], Any]


class PaneBase(QWidget):
    title = ""
    message = Signal(str)           # one status-bar line
    navigate = Signal(str, object)  # (pane name, ref): show that pane at ref
    busy_changed = Signal(bool)

    def __init__(self, store, parent=None):
        super().__init__(parent)
        self.store = store
        self._tasks: dict[str, Task] = {}
        self._busy = False

    # -- background tasks ------------------------------------------------------------------
    def start(self, purpose: str, fn: Work, on_result: Callable[[Any], None] | None = None,
              *, progress: Callable[[float, str], None] | None = None,
              on_failed: Callable[[str], None] | None = None,
              on_cancelled: Callable[[], None] | None = None,
              failure_title: str | None = None, pool: QThreadPool | None = None) -> Task:
        """Run `fn(progress, cancelled)` in a worker for `purpose` (see the module doc)."""
        previous = self._tasks.get(purpose)
        if previous is not None and previous.is_running():
            previous.cancel()
        task = run_task(fn, pool=pool)
        self._tasks[purpose] = task

        def current() -> bool:  # the newest task of its purpose, and the pane still alive
            return shiboken6.isValid(self) and self._tasks.get(purpose) is task

        if progress is not None:
            task.progress.connect(lambda f, m: progress(f, m) if current() else None)
        task.finished.connect(
            lambda result: on_result(result) if current() and on_result else None)

        def failed(text: str) -> None:
            if not current():
                return
            if on_failed is not None:
                on_failed(text)
            else:
                self.notify(text, "error", failure_title or f"{self.title}: {purpose} failed")
        task.failed.connect(failed)
        task.cancelled.connect(
            lambda: on_cancelled() if current() and on_cancelled else None)
        task.done.connect(lambda: self._ended(purpose, task))
        self._update_busy()
        return task

    def task(self, purpose: str) -> Task | None:
        return self._tasks.get(purpose)

    def is_busy(self, purpose: str | None = None) -> bool:
        if purpose is not None:
            found = self._tasks.get(purpose)
            return found is not None and found.is_running()
        return any(t.is_running() for t in self._tasks.values())

    def cancel(self, purpose: str | None = None) -> None:
        """Cancel the task of `purpose`, or every task of this pane."""
        for name, task in list(self._tasks.items()):
            if purpose is None or name == purpose:
                task.cancel()

    def _ended(self, purpose: str, task: Task) -> None:
        if not shiboken6.isValid(self):
            return
        if self._tasks.get(purpose) is task:
            del self._tasks[purpose]
        self._update_busy()

    def _update_busy(self) -> None:
        busy = self.is_busy()
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    # -- feedback ----------------------------------------------------------------------------
    def notify(self, text: str, level: str = "info", title: str = "") -> None:
        """Tell the user: info to the status bar, a refusal or failure in a dialog."""
        if level == "info":
            self.message.emit(text)
        notify(text, level, title or self.title, parent=self)

    def refresh(self) -> None:
        """Reload what the pane shows (override; read the store through `start`)."""
