"""The Approvals pane: the reviewer's queue of pending versions, each version's evidence, and
Approve / Reject with a comment (and an override reason when a check failed).

Who may decide comes from core.registry.decision_blockers, the rule approve/reject enforce,
so a disabled button shows the core's own reason (role, four-eyes, status). The store is only
read and written in workers: the queue, its checks and the user's role ("load"), the selected
version's evidence ("detail") and a decision ("decide"); a refusal goes through `notify`.
"Open run" and "Open data" ask the main window through `navigate`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import (QAbstractItemView, QFormLayout, QFrame, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPlainTextEdit, QPushButton,
                               QTableView, QVBoxLayout, QWidget)

from ...core import registry
from .. import context_menu, palette
from ..column_fit import fit_columns
from ..evidence import EvidenceView
from ..format import short_time
from ..pane import PaneBase
from ..tablemodels import ALIGN_LEFT, Column, RecordsTableModel, make_sort_proxy
from ..widgets import EmptyState, empty_or_main, section_heading, side_by_side
from ..workers import Task


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
            return palette.brush("bad") if failed else None
        if (role == Qt.ItemDataRole.ToolTipRole and index.isValid()
                and self.columns[index.column()].key == "ref"):  # what a narrow queue hides
            r = self.record(index.row())
            return (f"{r['ref']}, registered by {r.get('created_by')} on "
                    f"{short_time(r.get('created_at'))}; checks: {_checks_text(r.get('checks'))}")
        return super().data(index, role)


class DecisionBox(QFrame):
    """Comment, override reason (only when a check failed), Reject / Approve, and why not."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("decision")
        self.setStyleSheet(f"#decision {{ background: {palette.color('panel_bg')}; "
                           f"border-top: 1px solid {palette.color('panel_border')}; }}")
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
        self.reason.setStyleSheet(palette.css_warning())
        self.reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(palette.css_text("bad"))
        self.reject_button = QPushButton("Reject")
        self.approve_button = QPushButton("Approve")
        self.approve_button.setDefault(True)
        row.addStretch(1)
        for b in (self.reject_button, self.approve_button):
            b.setMinimumSize(110, 32)
            row.addWidget(b)
        layout.addLayout(row)
        # Under the buttons, the whole width: a long reason takes a few lines, not a column.
        layout.addWidget(self.reason)
        layout.addWidget(self.error)


def read_queue(store, keep: int | None) -> dict[str, Any]:
    """The worker's read for `refresh`: the queue with each version's gating checks (passed,
    failed), the user's role, and the evidence of `keep` if queued, else of the first."""
    rows = registry.approval_queue(store, store.user)
    for r in rows:
        gating = [c for c in registry.checks_of(store, r["id"]) if not c["informational"]]
        failed = sum(not c["passed"] for c in gating)
        r["checks"] = (len(gating) - failed, failed)
    ids = [r["id"] for r in rows]
    target = keep if keep in ids else (ids[0] if ids else None)
    return {"rows": rows, "role": store.role(),
            "detail": registry.version_detail(store, target) if target is not None else None}


class Pane(PaneBase):
    title = "Approvals"

    def __init__(self, store, parent=None):
        super().__init__(store, parent)
        self.detail: dict[str, Any] | None = None  # the shown version's evidence
        self.role: str | None = None
        self._selected: int | None = None  # the version selected (its evidence may be loading)
        self._wanted: int | str | None = None  # a version to select once the queue is loaded
        self._build()
        self.refresh()

    # -- layout -------------------------------------------------------------------
    def _build(self) -> None:
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(10, 10, 4, 10)
        self.queue_heading = section_heading("Waiting for review")
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
        context_menu.install(self.view, extra=self._context_actions, name="approvals")
        # Narrow: Registered, then By step aside (the version's tooltip has them).
        self.view_columns = fit_columns(self.view, main=0, optional=[2, 1])
        ll.addWidget(self.view, 1)
        self.user_note = QLabel()
        self.user_note.setWordWrap(True)
        self.user_note.setStyleSheet(palette.css_text("muted"))
        ll.addWidget(self.user_note)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(6, 10, 10, 0)
        rl.setSpacing(6)
        self.evidence = EvidenceView(first="checks")
        self.evidence.open_run.connect(lambda run_id: self.navigate.emit("experiments", run_id))
        self.evidence.open_dataset.connect(lambda dataset_id: self.navigate.emit("datasets",
                                                                                 dataset_id))
        rl.addWidget(self.evidence, 1)
        self.decision = DecisionBox()
        self.decision.approve_button.clicked.connect(lambda: self.approve())
        self.decision.reject_button.clicked.connect(lambda: self.reject())
        self.decision.override.textChanged.connect(lambda _t: self.decision.error.clear())
        self.decision.comment.textChanged.connect(self.decision.error.clear)
        rl.addWidget(self.decision)

        self.splitter = side_by_side(left, right, [400, 720])
        # A third of any change in width goes to the queue, the rest to the evidence.
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 2)
        left.setMinimumWidth(260)

        self.empty = EmptyState(
            "No versions waiting for review",
            "A version appears here when an analyst registers a run as a model version.\n"
            "Decided versions, their approvals and bundles are in the Registry pane.",
            [("go_button", "Go to Registry")])
        self.empty.go_button.clicked.connect(lambda: self.navigate.emit("registry", None))
        self.pages = empty_or_main(self, self.empty, self.splitter)

    # -- queue -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the queue in a worker; keep the selected version if still pending, else the
        first. The evidence is re-read even for the same version (its card may have changed)."""
        store = self.store
        keep = self._wanted if self._wanted is not None else self._selected
        self.start("load", lambda progress, cancelled: read_queue(store, keep), self._show_queue,
                   on_failed=lambda text: self.notify(f"Could not refresh {self.title}: {text}"))

    def _show_queue(self, queue: dict[str, Any]) -> None:
        rows, self.role = queue["rows"], queue["role"]
        wanted = self._wanted if self._wanted is not None else self._selected
        self._wanted = None
        self.model.set_records(rows)
        self.view.resizeColumnsToContents()
        header = self.view.horizontalHeader()
        for c in range(1, self.model.columnCount()):
            header.resizeSection(c, min(header.sectionSize(c) + 6, 200))
        # The attention column only when some queued version needs attention.
        self.view.setColumnHidden(4, not any(r.get("attention") for r in rows))
        self.queue_heading.setText(f"Waiting for review ({len(rows)})")
        self.user_note.setText(f"Signed in as {self.store.user} ({self.role or 'not registered'})"
                               f". Nobody may decide a version they trained or registered.")
        self.pages.setCurrentIndex(1 if rows else 0)
        if not rows:
            self.detail = self._selected = None
            return
        target = self._row_of(wanted)
        target = self._record(target if target is not None else 0)["id"]
        detail = queue["detail"]
        self._set_current(target)
        if detail is not None and detail["id"] == target:
            self._show_detail(detail)
        else:  # the first in the view's order is not the core's first
            self._show(target)

    def _record(self, proxy_row: int) -> dict[str, Any]:
        return self.model.record(self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row())

    def _row_of(self, ref: int | str | None) -> int | None:
        """The view row of the queued version `ref` (an id or NAME:VERSION), or None."""
        return next((r for r in range(self.proxy.rowCount())
                     if ref is not None and ref in (self._record(r)["id"],
                                                    self._record(r)["ref"])), None)

    def _set_current(self, version_id: int) -> None:
        """Select `version_id`'s row without reading its evidence (the caller does)."""
        self._selected = version_id
        self.view.selectionModel().setCurrentIndex(  # -> _on_current: already _selected
            self.proxy.index(self._row_of(version_id), 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)

    def _context_actions(self, rows: list[int]) -> list:
        """Right-click entries for the queued version under the cursor (it is selected)."""
        if not rows:
            return []
        v = self.model.record(rows[0])
        return [(f"Open run #{v['run_id']}",
                 lambda: self.navigate.emit("experiments", v["run_id"])),
                context_menu.lineage_entry(self, self.store, "version", v["ref"],
                                           self.navigate.emit)]

    def queue_refs(self) -> list[str]:
        """Refs in the queue, in view order."""
        return [self._record(r)["ref"] for r in range(self.proxy.rowCount())]

    def select_version(self, ref: int | str, reload: bool = False) -> bool:
        """Select a queued version by id or NAME:VERSION; False if it is not in the queue.
        While the queue is loading, the version is selected once it is loaded."""
        if self.is_busy("load"):
            self._wanted = ref
            return True
        row = self._row_of(ref)
        if row is None:
            return False
        vid = self._record(row)["id"]
        if reload or self._selected != vid:
            self._set_current(vid)
            self._show(vid)
        return True

    def show_ref(self, ref: Any) -> None:
        """Show queued version `ref`: what the main window calls on `navigate`."""
        self.select_version(ref)

    def selected_ref(self) -> tuple[str, int] | None:
        """The selected version (by id), for View → Lineage…"""
        return None if self._selected is None else ("version", self._selected)

    def _on_current(self, current, _previous=None) -> None:
        if current.isValid():
            vid = self.model.record(self.proxy.mapToSource(current).row())["id"]
            if self._selected != vid:
                self._show(vid)

    # -- evidence and decision ---------------------------------------------------------
    def _show(self, version_id: int) -> None:
        """Read version `version_id`'s evidence in a worker; the decision waits for it."""
        self._selected = version_id
        box = self.decision
        for button in (box.approve_button, box.reject_button):
            button.setEnabled(False)
            button.setToolTip("Reading the version…")
        store = self.store
        self.start("detail", lambda progress, cancelled: registry.version_detail(
            store, version_id), self._show_detail)

    def _show_detail(self, d: dict[str, Any]) -> None:
        if d["id"] != self._selected:
            return  # another version was selected meanwhile
        same = self.detail is not None and self.detail["id"] == d["id"]
        self.detail = d
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
        self._update_decision()

    def _update_decision(self) -> None:
        """Approve / Reject enabled unless the core's rule (role, four-eyes, status) forbids
        it, the reason as the tooltip; both disabled while a decision is being recorded."""
        d, box = self.detail, self.decision
        approve_why = d["blockers"]["approve"]
        reject_why = d["blockers"]["reject"]
        deciding = self.is_busy("decide")
        box.approve_button.setEnabled(not approve_why and not deciding)
        box.reject_button.setEnabled(not reject_why and not deciding)
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

    def approve(self) -> Task | None:
        """Approve the selected version with the comment (and override reason) in a worker;
        None if the pane refused first (no override reason where a check failed)."""
        d = self.detail
        if d is None:
            return None
        box = self.decision
        comment = box.comment.toPlainText().strip()
        override = box.override.text().strip() if d.get("failed_checks") else ""
        if d.get("failed_checks") and not override:
            box.error.setText(f"{d['ref']} failed {len(d['failed_checks'])} check(s): write an "
                              f"override reason to approve it anyway, or reject it.")
            box.override.setFocus()
            return None
        text = f"Approved {d['ref']}" + (" with an override of failing checks" if override
                                         else "") + (f": “{comment}”" if comment else "")
        store = self.store
        return self._decide(lambda: registry.approve(store, d["ref"], comment=comment,
                                                     override=override or None),
                            text, "Approval refused")

    def reject(self) -> Task | None:
        """Reject the selected version in a worker; the comment is required (None without)."""
        d = self.detail
        if d is None:
            return None
        box = self.decision
        comment = box.comment.toPlainText().strip()
        if not comment:
            box.error.setText(f"Rejecting {d['ref']} needs a comment saying why.")
            box.comment.setFocus()
            return None
        store = self.store
        return self._decide(lambda: registry.reject(store, d["ref"], comment),
                            f"Rejected {d['ref']}: “{comment}”", "Rejection refused")

    def _decide(self, fn, text: str, refused_title: str) -> Task:
        task = self.start("decide", lambda progress, cancelled: fn(),
                          lambda _result: self._decided(text),
                          on_failed=lambda why: self._refused(refused_title, why))
        self._update_decision()  # no second click while it is recorded
        return task

    def _decided(self, text: str) -> None:
        self.detail = self._selected = None  # the decided version left the queue: the next
        self.refresh()
        self.message.emit(text)

    def _refused(self, title: str, text: str) -> None:
        self.message.emit(f"{title}: {text}")
        self.notify(text, "warning", title)
        self.refresh()  # someone may have decided it meanwhile: show the store's state


def _one_verb(reason: str) -> str:
    # The core words a reason per verb; for the label, name both decisions once.
    return (reason.replace("cannot approve version", "cannot approve or reject version")
            .replace("approving needs the role", "approving or rejecting needs the role"))
