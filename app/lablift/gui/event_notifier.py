"""Desktop notifications for events that concern the user at this window.

    event_notifier.install(window)   # one line in MainWindow.__init__

Every POLL_MS (and soon after the window applied colleagues' changes) a worker reads the
audit entries since the last one seen and keeps those that concern the window's user
(core/notices.concerning: a reviewer hears of versions pending review, whoever registered or
trained a version of its decision and alerts, ops of alerts and challengers). Each is shown
as a system-tray message where the desktop has a tray, and always as a notice through
gui/notifications.py (the main window puts it in its status bar). The same worker sends the
webhook deliveries that are due (retries), where this user may. History is not replayed: the
first read only takes the chain's head. The GUI thread never reads the store.
"""

from __future__ import annotations

from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QSystemTrayIcon

from .notifications import notify
from .workers import Task, run_task, while_alive

POLL_MS = 5000
SOON_MS = 300  # after the window applied changes: they may be events for us
MAX_SHOWN = 3  # messages per read; the rest are summed up in one line


def _read(store, since: int | None) -> tuple[int, list[dict[str, Any]]]:
    """(the newest seq seen, the notices for store.user) - in a worker."""
    from ..core import notices, webhooks
    try:  # retries that fell due, from the first read on (the outbox keeps them whatever
        if webhooks.may_deliver(store):  # happens here); kick sends in its own thread
            webhooks.kick(store)
    except Exception:  # noqa: BLE001 - a notification must not fail on a delivery
        pass
    if since is None:
        return notices.head_seq(store), []
    entries = notices.events_since(store, since)
    # (only entries of the notified actions are read, so `since` moves only with them)
    return max([since] + [e["seq"] for e in entries]), notices.concerning(store, store.user,
                                                                         entries)


class EventNotifier(QObject):
    shown = Signal(list)  # the notices just shown (tests, a future notifications pane)

    def __init__(self, window, poll_ms: int = POLL_MS):
        super().__init__(window)
        self.window = window
        self.store = getattr(window, "store", None)
        self.since: int | None = None
        self.task: Task | None = None
        self.tray: QSystemTrayIcon | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self.poll)
        self.timer.start()
        for name in ("changes_applied", "store_changed"):
            signal = getattr(window, name, None)
            if signal is not None:
                signal.connect(lambda *_: QTimer.singleShot(SOON_MS, self.poll))
        QTimer.singleShot(0, self.poll)  # take the head now: only what comes after is news

    @while_alive
    def poll(self) -> None:
        store = getattr(self.window, "store", None)
        if store is None:
            return
        if store is not self.store:  # signed in as someone else, or another store
            self.store, self.since = store, None
        if self.task is not None and self.task.is_running():
            return
        since = self.since
        task = self.task = run_task(lambda progress, cancelled: _read(store, since))
        task.finished.connect(lambda result: self._on_read(store, result))
        task.failed.connect(lambda text: None)  # the next poll tries again; panes say why

    @while_alive
    def _on_read(self, store, result) -> None:
        if store is not self.store:
            return  # read from a store the window has left
        head, notices = result
        self.since = head
        if notices:
            self._show(notices)

    def _show(self, notices: list[dict[str, Any]]) -> None:
        for n in notices[:MAX_SHOWN]:
            notify(n["text"], "info", n["title"])
            self._tray_message(n["title"], n["text"])
        rest = len(notices) - MAX_SHOWN
        if rest > 0:
            text = f"and {rest} more event{'s' if rest != 1 else ''} for you (Audit log)"
            notify(text, "info", "Lablift")
            self._tray_message("Lablift", text)
        self.shown.emit(list(notices))

    def _tray_message(self, title: str, text: str) -> None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return
        if self.tray is None or not shiboken6.isValid(self.tray):
            self.tray = QSystemTrayIcon(self.window.windowIcon(), self)
            self.tray.setToolTip("Lablift")
            self.tray.show()
        self.tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 8000)

    def stop(self) -> None:
        self.timer.stop()
        if self.tray is not None and shiboken6.isValid(self.tray):
            self.tray.hide()


def install(window, poll_ms: int = POLL_MS) -> EventNotifier:
    """Start notifying `window`'s user of events that concern them; returns the notifier
    (also kept as window.event_notifier)."""
    notifier = EventNotifier(window, poll_ms)
    window.event_notifier = notifier
    return notifier
