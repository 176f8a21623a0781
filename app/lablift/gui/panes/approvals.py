"""The Approvals pane: the reviewer's queue of pending versions, each version's evidence, and
Approve / Reject with a comment (and an override reason when a check failed).

Who may decide comes from core.registry.decision_blockers, the rule approve/reject enforce,
so a disabled button shows the core's own reason (role, four-eyes, status). The queue and the
evidence are a few indexed SQLite reads (well under a millisecond here), so they run on the
GUI thread; a decision is one short transaction.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (QAbstractItemView, QFormLayout, QFrame, QHBoxLayout,
                               QHeaderView,
                               QLabel, QLineEdit, QMessageBox, QPlainTextEdit, QPushButton,
                               QTableView, QVBoxLayout, QWidget)

from ...core import registry
from ...core.errors import LabliftError
from ..evidence import EvidenceView
from ..tablemodels import ALIGN_LEFT, Column, RecordsTableModel, make_sort_proxy
from ..widgets import EmptyState, empty_or_main, side_by_side
from .datasets import short_time

ERROR_STYLE = "color: #842029;"
REASON_STYLE = "color: #6b4e00; background: #fff3cd; padding: 4px;"


def _checks_text(value: Any) -> str:
    passed, failed = value or (0, 0)
    if not passed + failed:
        return "no gates"
    return f"{passed} passed, {failed} failed" if failed else f"{passed} passed"


class QueueModel(RecordsTableModel):
    """The queue's rows; a version with a failed check shows its count in red."""

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if (role == Qt.ItemDataRole.ForegroundRole and index.isValid()
                and self.columns[index.column()].key == "checks"):
            failed = (self.record(index.row()).get("checks") or (0, 0))[1]
            return QBrush(QColor("#a12622")) if failed else None
        return super().data(index, role)


class DecisionBox(QFrame):
    """Comment, override reason (only when a check failed), Reject / Approve, and why not."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("decision")
        self.setStyleSheet("#decision { background: #f3f5f8; border-top: 1px solid #cfd8e3; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.comment = QPlainTextEdit()
        self.comment.setPlaceholderText("What you checked; required to reject")
        self.comment.setFixedHeight(self.fontMetrics().height() * 2 + 14)
        self.comment.setTabChangesFocus(True)
        form.addRow("Comment:", self.comment)
        self.override_label = QLabel("Override reason:")
        self.override = QLineEdit()
        self.override.setPlaceholderText("Why approve although a check failed (recorded and "
                                         "shown with the approval)")
        form.addRow(self.override_label, self.override)
        layout.addLayout(form)
        row = QHBoxLayout()
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        self.reason.setStyleSheet(REASON_STYLE)
        self.reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        texts = QVBoxLayout()
        texts.addWidget(self.reason)
        texts.addWidget(self.error)
        row.addLayout(texts, 1)
        self.reject_button = QPushButton("Reject")
        self.approve_button = QPushButton("Approve")
        self.approve_button.setDefault(True)
        for b in (self.reject_button, self.approve_button):
            b.setMinimumSize(110, 32)
            row.addWidget(b, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(row)


class Pane(QWidget):
    title = "Approvals"
    message = Signal(str)

    def __init__(self, store, parent=None):
        super().__init__(parent)
        self.store = store
        self.detail: dict[str, Any] | None = None
        self.last_dialog: QMessageBox | None = None
        self._build()
        self.refresh()

    # -- layout -------------------------------------------------------------------
    def _build(self) -> None:
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(10, 10, 4, 10)
        self.queue_heading = QLabel("Waiting for review")
        bold = QFont(self.queue_heading.font())
        bold.setBold(True)
        bold.setPointSizeF(bold.pointSizeF() * 1.2)
        self.queue_heading.setFont(bold)
        ll.addWidget(self.queue_heading)
        self.model = QueueModel([
            Column("ref", "Version"),
            Column("created_by", "By", tooltip="registered by"),
            Column("created_at", "Registered", fmt=short_time),
            Column("checks", "Checks", fmt=_checks_text, align=ALIGN_LEFT,
                   tooltip="gating checks passed / failed at registration"),
            Column("attention", "⚠", fmt=lambda v: f"⚠ {v}" if v else "",
                   tooltip="needs attention (e.g. a monitoring alert)"),
        ])
        self.proxy = make_sort_proxy(self.model, self)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # the core's order: oldest first
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        self.view.horizontalHeader().setStretchLastSection(False)
        self.view.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.view.selectionModel().currentRowChanged.connect(self._on_current)
        ll.addWidget(self.view, 1)
        self.user_note = QLabel()
        self.user_note.setWordWrap(True)
        self.user_note.setStyleSheet("color: #666;")
        ll.addWidget(self.user_note)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(6, 10, 10, 0)
        rl.setSpacing(6)
        self.evidence = EvidenceView(first="checks")
        self.evidence.open_run.connect(self._open_run)
        self.evidence.open_dataset.connect(self._open_dataset)
        rl.addWidget(self.evidence, 1)
        self.decision = DecisionBox()
        self.decision.approve_button.clicked.connect(lambda: self.approve())
        self.decision.reject_button.clicked.connect(lambda: self.reject())
        self.decision.override.textChanged.connect(lambda _t: self.decision.error.clear())
        self.decision.comment.textChanged.connect(self.decision.error.clear)
        rl.addWidget(self.decision)

        self.splitter = side_by_side(left, right, [450, 670])
        left.setMinimumWidth(300)

        self.empty = EmptyState(
            "No versions waiting for review",
            "A version appears here when an analyst registers a run as a model version.\n"
            "Decided versions, their approvals and bundles are in the Registry pane.",
            [("go_button", "Go to Registry")])
        self.empty.go_button.clicked.connect(self._go_registry)
        self.pages = empty_or_main(self, self.empty, self.splitter)

    # -- queue -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the queue; keep the selected version if still pending, else the first."""
        keep = self.detail["id"] if self.detail else None
        rows = registry.approval_queue(self.store, self.store.user)
        for r in rows:
            gating = [c for c in registry.checks_of(self.store, r["id"])
                      if not c["informational"]]
            failed = sum(not c["passed"] for c in gating)
            r["checks"] = (len(gating) - failed, failed)
        self.model.set_records(rows)
        self.view.resizeColumnsToContents()
        header = self.view.horizontalHeader()
        for c in range(1, self.model.columnCount()):
            header.resizeSection(c, min(header.sectionSize(c) + 6, 200))
        # The attention column only when some queued version needs attention.
        self.view.setColumnHidden(4, not any(r.get("attention") for r in rows))
        n = len(rows)
        self.queue_heading.setText(f"Waiting for review ({n})")
        role = self.store.role() or "not registered"
        self.user_note.setText(f"Signed in as {self.store.user} ({role}). Nobody may decide a "
                               f"version they trained or registered.")
        self.pages.setCurrentIndex(1 if rows else 0)
        if not rows:
            self.detail = None
            return
        ids = [r["id"] for r in rows]
        # Re-read the evidence even for the same version (an analyst may have edited its card).
        self.select_version(keep if keep in ids else self._row_id(0), reload=True)

    def _row_id(self, proxy_row: int) -> int:
        return self.model.record(self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row())["id"]

    def queue_refs(self) -> list[str]:
        """Refs in the queue, in view order."""
        return [self.model.record(self.proxy.mapToSource(self.proxy.index(r, 0)).row())["ref"]
                for r in range(self.proxy.rowCount())]

    def select_version(self, ref: int | str, reload: bool = False) -> bool:
        """Select a queued version by id or NAME:VERSION; False if it is not in the queue."""
        for r in range(self.proxy.rowCount()):
            rec = self.model.record(self.proxy.mapToSource(self.proxy.index(r, 0)).row())
            if ref in (rec["id"], rec["ref"]):
                self.view.selectionModel().setCurrentIndex(
                    self.proxy.index(r, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows)
                if reload or not self.detail or self.detail["id"] != rec["id"]:
                    self._show(rec["id"])
                return True
        return False

    def _on_current(self, current, _previous=None) -> None:
        if current.isValid():
            rec = self.model.record(self.proxy.mapToSource(current).row())
            if not self.detail or self.detail["id"] != rec["id"]:
                self._show(rec["id"])

    # -- evidence and decision ---------------------------------------------------------
    def _show(self, version_id: int) -> None:
        same = self.detail is not None and self.detail["id"] == version_id
        d = self.detail = registry.version_detail(self.store, version_id)
        tab = self.evidence.tabs.currentIndex()
        self.evidence.show_detail(d)
        box = self.decision
        if same:  # re-read: keep what the reviewer was reading and typing
            self.evidence.tabs.setCurrentIndex(tab)
        else:
            box.comment.clear()
            box.override.clear()
            box.error.clear()
        failed = d.get("failed_checks") or []
        box.override_label.setVisible(bool(failed))
        box.override.setVisible(bool(failed))
        if failed:
            what = (f"{len(failed)} check{'s' if len(failed) > 1 else ''} failed "
                    f"({'; '.join(failed)})")
            box.override.setPlaceholderText(f"Required to approve: {what}. Why approve anyway?")
            box.override.setToolTip(f"{what}: approving needs a reason, recorded and shown "
                                    f"with the approval")
        approve_why = d["blockers"]["approve"]
        reject_why = d["blockers"]["reject"]
        box.approve_button.setEnabled(not approve_why)
        box.reject_button.setEnabled(not reject_why)
        box.approve_button.setToolTip("\n".join(approve_why) or f"Approve {d['ref']}")
        box.reject_button.setToolTip("\n".join(reject_why) or f"Reject {d['ref']} (comment "
                                                               f"required)")
        # One rule for both verbs: name it once.
        reasons = [_one_verb(r) for r in (approve_why or reject_why)]
        can_act = not (approve_why and reject_why)
        box.comment.setEnabled(can_act)
        box.override.setEnabled(can_act)
        box.reason.setText("You cannot decide this version:\n" + "\n".join(
            f"• {r}" for r in reasons) if reasons else "")
        box.reason.setVisible(bool(reasons))

    def approve(self) -> bool:
        """Approve the selected version with the comment (and override reason). True if done."""
        d = self.detail
        if d is None:
            return False
        box = self.decision
        comment = box.comment.toPlainText().strip()
        override = box.override.text().strip() if d.get("failed_checks") else ""
        if d.get("failed_checks") and not override:
            box.error.setText(f"{d['ref']} failed {len(d['failed_checks'])} check(s): write an "
                              f"override reason to approve it anyway, or reject it.")
            box.override.setFocus()
            return False
        try:
            registry.approve(self.store, d["ref"], comment=comment, override=override or None)
        except LabliftError as exc:
            self._refused("Approval refused", str(exc))
            return False
        text = f"Approved {d['ref']}" + (" with an override of failing checks" if override
                                         else "") + (f": “{comment}”" if comment else "")
        self._decided(text)
        return True

    def reject(self) -> bool:
        """Reject the selected version; the comment is required. True if done."""
        d = self.detail
        if d is None:
            return False
        box = self.decision
        comment = box.comment.toPlainText().strip()
        if not comment:
            box.error.setText(f"Rejecting {d['ref']} needs a comment saying why.")
            box.comment.setFocus()
            return False
        try:
            registry.reject(self.store, d["ref"], comment)
        except LabliftError as exc:
            self._refused("Rejection refused", str(exc))
            return False
        self._decided(f"Rejected {d['ref']}: “{comment}”")
        return True

    def _decided(self, text: str) -> None:
        self.detail = None  # the decided version left the queue: select the next one
        self.refresh()
        self.message.emit(text)

    def _refused(self, title: str, text: str) -> None:
        self.message.emit(f"{title}: {text}")
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok,
                          self)
        box.open()  # window-modal, does not block the event loop
        self.last_dialog = box
        if self.detail:  # someone may have decided it meanwhile: show the store's state
            self.refresh()

    def _go_registry(self) -> None:
        win = self.window()
        if hasattr(win, "select_pane") and "registry" in getattr(win, "panes", {}):
            win.select_pane("registry")

    # -- one click to the run and the data ---------------------------------------------
    def _open_run(self, run_id: int) -> None:
        from .registry import open_run
        open_run(self, run_id)

    def _open_dataset(self, dataset_id: int) -> None:
        from .registry import open_dataset
        open_dataset(self, dataset_id)


def _one_verb(reason: str) -> str:
    # The core words a reason per verb; for the label, name both decisions once.
    return (reason.replace("cannot approve version", "cannot approve or reject version")
            .replace("approving needs the role", "approving or rejecting needs the role"))
