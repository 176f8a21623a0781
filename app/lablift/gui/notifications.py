"""One path for what the GUI tells its user (as napari's utils/notifications.py).

Panes call `notify(text, level, title, parent)` instead of opening message boxes
themselves. Levels: "info" (a status-bar line), "warning" (a refusal: the rule, named) and
"error" (a failure). Handlers registered with `add_handler` receive every Notice (the main
window shows info in its status bar; a test collects them); warnings and errors are also
shown in a dialog, unless a handler returns True to say it has shown them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

LEVELS = ("info", "warning", "error")


@dataclass(frozen=True)
class Notice:
    text: str
    level: str = "info"
    title: str = ""


Handler = Callable[[Notice], "bool | None"]
_handlers: list[Handler] = []


def add_handler(handler: Handler) -> Callable[[], None]:
    """Register `handler`; returns the function that removes it."""
    _handlers.append(handler)
    return lambda: _handlers.remove(handler) if handler in _handlers else None


def notify(text: str, level: str = "info", title: str = "", parent=None) -> Notice:
    if level not in LEVELS:
        raise ValueError(f"notification level {level!r} is not one of {LEVELS}")
    notice = Notice(str(text), level, title)
    shown = False
    for handler in list(_handlers):
        shown = bool(handler(notice)) or shown
    if level != "info" and not shown:
        from PySide6.QtWidgets import QMessageBox
        box = QMessageBox.warning if level == "warning" else QMessageBox.critical
        box(parent, title or ("Not allowed" if level == "warning" else "Something failed"),
            notice.text)
    return notice
