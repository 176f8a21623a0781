"""What the settings pages share: the page protocol the dialog drives, a field's message
line, a list of rules with Remove (model/view), and the note a page shows when the store's
roles do not let the user change it."""

from __future__ import annotations

from html import escape
from typing import Any, Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QTableView, QVBoxLayout, QWidget)

from ..pane import PaneBase
from ..tablemodels import Column, RecordsTableModel
from .machine import message_style

VISIBLE_ROWS = 5


class SettingsPage(PaneBase):
    """One section of the dialog. Store pages read the store in `refresh` (a worker); on Apply
    the dialog takes `prepare()` on the GUI thread and runs `write(store, payload)` in its
    worker; machine pages keep QSettings in `save()`. `problems()` checks the edits on the
    GUI thread (no store) before anything is written, showing each message by its field."""

    changed = Signal()  # an edit: the dialog re-checks whether there is anything to apply
    store_level = False

    def has_changes(self) -> bool:
        return False

    def problems(self) -> list[str]:
        return []

    def prepare(self) -> Any:
        """What `write` will send, taken from the widgets; None: nothing to write."""
        return None

    def write(self, store, payload: Any) -> Any:  # in a worker: no widget here
        return None

    def written(self, result: Any) -> None:
        """On the GUI thread, after `write`: `result` is the new baseline."""

    def save(self) -> None:
        """Machine pages: keep the edits (QSettings)."""

    def discard(self) -> None:
        """Cancel: undo what was shown before it was kept (a theme preview)."""

    def set_store(self, store) -> None:
        self.cancel()
        self.store = store
        self.refresh()

    def read_store(self, reading: str, what: str, read: Callable[[Any], Any],
                   show: Callable[[Any], None]) -> None:
        """A store page's refresh: nothing to edit until `read(store)` answers in a worker,
        then `show(result)`; a failure is said in the page's status and through notify."""
        self.baseline = None  # until the store answers there is nothing to edit or save
        self.body.setEnabled(False)
        self.status.setText(f"Reading {reading}…")
        self.status.show()

        def failed(text: str) -> None:
            self.status.setText(f"Could not read {what}: {text}")
            self.status.show()
            self.notify(text, "error", f"Settings: reading {what} failed")
        store = self.store
        self.start("load", lambda progress, cancelled: read(store), show, on_failed=failed)


def muted(label: QLabel) -> QLabel:
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)  # follows the theme
    label.setWordWrap(True)
    return label


class FieldMessage(QLabel):
    """The line under a field saying what is wrong with it (hidden when nothing is)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.hide()

    def show_problem(self, text: str | None) -> None:
        self.setText(f"⚠ {text}" if text else "")
        self.setStyleSheet(message_style("error") if text else "")
        self.setVisible(bool(text))

    def show_ok(self, text: str) -> None:
        self.setText(text)
        self.setStyleSheet(message_style("ok"))
        self.setVisible(bool(text))

    def problem(self) -> str | None:
        return self.text()[2:] if not self.isHidden() and self.text().startswith("⚠") else None


class RefusalNote(QLabel):
    """Above a store page a user may not change: the core's reason, in words."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.hide()

    def show_reason(self, reason: str | None) -> None:
        self.setText(f"<b>Read only</b>: {escape(reason, quote=False)}" if reason else "")
        self.setStyleSheet(message_style("warning") if reason else "")
        self.setVisible(bool(reason))


class RuleList(QWidget):
    """Rows (dicts) in a table view with a Remove button; `rows()` is what it holds now."""

    changed = Signal()

    def __init__(self, columns: Sequence[Column], empty_text: str, accessible: str,
                 stretch: int = 0, parent=None):
        super().__init__(parent)
        self.model = RecordsTableModel(columns)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setAccessibleName(accessible)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().hide()
        self.view.setWordWrap(False)  # long text is elided; the tooltip has all of it
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.empty = muted(QLabel(empty_text))
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected rows")
        self.remove_button.clicked.connect(self.remove_selected)
        self.view.selectionModel().selectionChanged.connect(self._update)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        row = QHBoxLayout()
        row.addWidget(self.empty, 1)
        row.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignRight)
        layout.addLayout(row)
        self._update()

    def rows(self) -> list[dict]:
        return self.model.records()

    def set_rows(self, rows: Sequence[dict]) -> None:
        self.model.set_records(rows)
        self._update()

    def add(self, row: dict, same: Callable[[dict], bool] | None = None) -> None:
        """Append `row`, replacing any row `same` says it supersedes."""
        kept = [r for r in self.rows() if not (same and same(r))]
        self.set_rows(kept + [row])
        self.changed.emit()

    def remove_selected(self) -> None:
        chosen = {i.row() for i in self.view.selectionModel().selectedRows()}
        if not chosen:
            return
        self.set_rows([r for i, r in enumerate(self.rows()) if i not in chosen])
        self.changed.emit()

    def _update(self, *_: Any) -> None:
        rows = len(self.rows())
        self.empty.setVisible(not rows)
        self.view.setVisible(bool(rows))  # an empty table is only a grey box: say it instead
        self.remove_button.setVisible(bool(rows))
        self.remove_button.setEnabled(self.view.selectionModel().hasSelection())
        shown = min(max(rows, 1), VISIBLE_ROWS)  # then it scrolls
        self.view.setFixedHeight(self.view.horizontalHeader().sizeHint().height()
                                 + shown * self.view.verticalHeader().defaultSectionSize()
                                 + 2 * self.view.frameWidth())
