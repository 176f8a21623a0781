"""The Registry pane: models and their versions (status, aliases, who, when, attention), the
selected version's lineage and evidence, and the ops actions: Set alias, Archive, Export bundle.

Whether the current user may act comes from the core's own checks (store.require_role with the
action and roles the core uses, and the core's status rules), so a disabled button's tooltip
and the note under the buttons give the same reason the core would refuse with.
The export runs in a worker; the other reads and writes are short SQLite statements.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QHeaderView, QInputDialog, QLabel, QMessageBox, QPlainTextEdit,
                               QPushButton, QTextBrowser, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from ...core import bundles, modelcard, registry, training
from ...core.errors import LabliftError, PermissionDenied
from ..evidence import STATUS_COLOURS, EvidenceView, fmt
from ..widgets import EmptyState, ProgressStrip, empty_or_main, side_by_side
from ..workers import Task, run_task
from .datasets import short_time

ID_ROLE = Qt.ItemDataRole.UserRole
COMMON_ALIASES = ("production", "staging", "champion", "challenger")


# -- one click from a version to its run and its data (shared with the Approvals pane) ----------
def _main_window(widget: QWidget):
    win = widget.window()
    return win if hasattr(win, "select_pane") and hasattr(win, "pane") else None


def open_run(widget: QWidget, run_id: int) -> None:
    """Show run `run_id` in the Experiments pane if it can select runs, else in a dialog."""
    win = _main_window(widget)
    pane = win.pane("experiments") if win else None
    if pane is not None and callable(getattr(pane, "select_run", None)):
        win.select_pane("experiments")  # its refresh reloads the runs in a worker
        if pane.select_run(run_id) is not False:
            return
        reload = getattr(pane, "reload_runs", None)  # not listed yet: select once loaded
        if callable(reload):
            try:
                reload(select=run_id)
                return
            except TypeError:
                pass
    try:
        run = training.get_run(widget.store, run_id)
    except LabliftError as exc:
        QMessageBox.warning(widget, "Run", str(exc))
        return
    dialog = RunDialog(run, widget)
    widget.run_dialog = dialog
    dialog.open()


def open_dataset(widget: QWidget, dataset_id: int) -> None:
    """Switch to the Datasets pane and select dataset version `dataset_id`."""
    win = _main_window(widget)
    pane = win.pane("datasets") if win else None
    select = getattr(pane, "select_version", None) or getattr(pane, "select_dataset", None)
    if callable(select):
        win.select_pane("datasets")
        select(dataset_id)
        return
    if hasattr(widget, "message"):
        widget.message.emit(f"dataset version {dataset_id}: the Datasets pane is not available")


def run_markdown(run: dict[str, Any]) -> str:
    spec = run.get("spec") or {}
    m = run.get("metrics") or {}
    hold, cv = m.get("holdout") or {}, m.get("cv") or {}
    env = run.get("environment") or {}
    lines = [f"# Run {run['id']}: {run.get('algorithm')}", "",
             f"- **Status**: {run.get('status')}; {run.get('task')} of `{run.get('target')}` "
             f"on dataset version {run.get('dataset_id')}",
             f"- **Trained by** {run.get('created_by')} on {short_time(run.get('created_at'))}"
             f" in {fmt(run.get('duration_s'), 3)} s; seed {run.get('seed')}, test size "
             f"{spec.get('test_size')}, {spec.get('cv')} CV folds",
             f"- **Features** ({len(spec.get('features') or [])}): "
             + ", ".join(f"`{f}`" for f in spec.get("features") or []),
             f"- **Sensitive column**: {spec.get('sensitive') or 'none'}",
             f"- **Environment**: Python {env.get('python', '–')}, Lablift "
             f"{env.get('lablift', '–')}", "", "## Metrics", "",
             "| metric | holdout | cv mean | cv std |", "|---|---|---|---|"]
    for k in list(hold) + [k for k in cv if k not in hold]:
        c = cv.get(k) or {}
        lines.append(f"| {k} | {fmt(hold.get(k))} | {fmt(c.get('mean'))} | {fmt(c.get('std'))} |")
    lines += ["", "## Parameters", "", "| parameter | value |", "|---|---|"]
    lines += [f"| {k} | {fmt(v)} |" for k, v in sorted((run.get("params") or {}).items())]
    return "\n".join(lines) + "\n"


class RunDialog(QDialog):
    """A run's spec, metrics and parameters, when no Experiments pane can show it."""

    def __init__(self, run: dict[str, Any], parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Run {run['id']}")
        self.resize(640, 560)
        layout = QVBoxLayout(self)
        self.browser = QTextBrowser()
        self.browser.setMarkdown(run_markdown(run))
        layout.addWidget(self.browser)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class CardDialog(QDialog):
    """The narrative fields of a pending version's model card (the facts come from lineage)."""

    def __init__(self, ref: str, card: dict[str, Any], parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Model card of {ref}")
        self.resize(640, 620)
        layout = QVBoxLayout(self)
        note = QLabel("Facts (metrics, data, fairness, lineage) are filled in from the store. "
                      "Write the narrative sections here; they freeze once the version is "
                      "approved or rejected. Markdown is allowed.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #555;")
        layout.addWidget(note)
        form = QFormLayout()
        self.fields: dict[str, QPlainTextEdit] = {}
        for key, title in modelcard.NARRATIVE_FIELDS.items():
            edit = QPlainTextEdit(card.get(key) or "")
            edit.setTabChangesFocus(True)
            self.fields[key] = edit
            form.addRow(f"{title}:", edit)
        layout.addLayout(form, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def values(self) -> dict[str, str]:
        return {k: e.toPlainText() for k, e in self.fields.items()}


# -- pane pieces -----------------------------------------------------------------------------------
def _role_refusal(store, action: str, *roles: str) -> str | None:
    """The core's refusal for a role check (no write), or None if the user may."""
    try:
        store.require_role(action, *roles)
    except PermissionDenied as exc:
        return str(exc)
    return None


class Pane(QWidget):
    title = "Registry"
    message = Signal(str)

    def __init__(self, store, parent=None):
        super().__init__(parent)
        self.store = store
        self.detail: dict[str, Any] | None = None
        self.export_task: Task | None = None
        self.last_dialog: QMessageBox | None = None
        self.run_dialog: QDialog | None = None
        self.card_dialog: CardDialog | None = None
        self.reasons: dict[str, str | None] = {}
        self._build()
        self.refresh()

    # -- layout ---------------------------------------------------------------------
    def _build(self) -> None:
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(10, 10, 4, 10)
        heading = QLabel("Models")
        bold = QFont(heading.font())
        bold.setBold(True)
        bold.setPointSizeF(bold.pointSizeF() * 1.2)
        heading.setFont(bold)
        ll.addWidget(heading)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Model / version", "Status", "Aliases", "By", "Created"])
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setStyleSheet("QTreeWidget::item { padding: 3px 2px; }")
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, 5):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setMinimumWidth(180)  # narrow windows scroll the columns, not the window
        self.tree.currentItemChanged.connect(self._on_current)
        ll.addWidget(self.tree, 1)
        self.legend = QLabel("⚠ = needs attention (e.g. a monitoring alert)")
        self.legend.setStyleSheet("color: #777;")
        self.legend.setWordWrap(True)
        ll.addWidget(self.legend)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(6, 10, 10, 6)
        actions = QHBoxLayout()
        self.alias_button = QPushButton("Set alias…")
        self.archive_button = QPushButton("Archive")
        self.export_button = QPushButton("Export bundle…")
        self.card_button = QPushButton("Edit card…")
        self.alias_button.clicked.connect(self.ask_alias)
        self.archive_button.clicked.connect(self.ask_archive)
        self.export_button.clicked.connect(self.ask_export)
        self.card_button.clicked.connect(self.edit_card)
        for b in (self.alias_button, self.archive_button, self.export_button, self.card_button):
            actions.addWidget(b)
        actions.addStretch(1)
        rl.addLayout(actions)
        self.reason_label = QLabel()
        self.reason_label.setWordWrap(True)
        self.reason_label.setStyleSheet("color: #6b4e00;")
        self.reason_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        rl.addWidget(self.reason_label)
        self.evidence = EvidenceView(first="lineage")
        self.evidence.open_run.connect(lambda rid: open_run(self, rid))
        self.evidence.open_dataset.connect(lambda did: open_dataset(self, did))
        rl.addWidget(self.evidence, 1)

        self.splitter = side_by_side(left, right, [450, 670])
        left.setMinimumWidth(200)

        self.empty = EmptyState(
            "No models registered yet",
            "Train a run in Experiments and register it as a model version "
            "(or `lablift model register RUN --name NAME`).\nIts versions, aliases, "
            "lineage and bundles then appear here.",
            [("go_button", "Go to Experiments")])
        self.empty.go_button.clicked.connect(lambda: self._go("experiments"))
        self.export_bar = ProgressStrip("exportBar")
        self.pages = empty_or_main(self, self.empty, self.splitter, self.export_bar)

    # -- tree -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read models and versions; keep the selected version, else the first model's
        latest version."""
        keep = self.detail["id"] if self.detail else None
        versions = registry.list_versions(self.store)
        models = {m["name"]: m for m in registry.list_models(self.store)}
        self.tree.blockSignals(True)
        self.tree.clear()
        by_model: dict[str, list[dict]] = {}
        for v in versions:
            by_model.setdefault(v["model"], []).append(v)
        first_ids = []
        for name, vs in by_model.items():
            m = models.get(name) or {}
            alias_text = ", ".join(f"{a}→{n}" for a, n in (m.get("aliases") or {}).items())
            count = f"{len(vs)} version{'s' if len(vs) != 1 else ''}"
            # One spanned cell, so a long model name is never clipped by the columns.
            top = QTreeWidgetItem([f"{name}   ({count}" + (f"; {alias_text})" if alias_text
                                                            else ")")])
            top.setToolTip(0, f"model {name}: {count}" + (f", aliases {alias_text}"
                                                           if alias_text else ""))
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            top.setData(0, ID_ROLE, vs[-1]["id"])
            for v in reversed(vs):  # newest first
                label = f"v{v['version']}"
                if v.get("attention"):
                    label = f"⚠ {label}"
                child = QTreeWidgetItem([label, v["status"], ", ".join(v["aliases"]),
                                         v["created_by"], short_time(v["created_at"])])
                child.setData(0, ID_ROLE, v["id"])
                fg, bg = STATUS_COLOURS.get(v["status"], ("#333", "#fff"))
                child.setForeground(1, QBrush(QColor(fg)))
                child.setBackground(1, QBrush(QColor(bg)))
                child.setTextAlignment(1, Qt.AlignmentFlag.AlignCenter)
                tip = f"{v['ref']}: {v['status']}, run {v['run_id']}"
                if v.get("approver"):
                    tip += f", approved by {v['approver']}"
                if v.get("attention"):
                    tip += f"\nNeeds attention: {v['attention']}"
                    child.setForeground(0, QBrush(QColor("#8a4b00")))
                child.setToolTip(0, tip)
                top.addChild(child)
            self.tree.addTopLevelItem(top)
            top.setFirstColumnSpanned(True)
            first_ids.append(vs[-1]["id"])
        self.tree.expandAll()
        self.tree.blockSignals(False)
        self.pages.setCurrentIndex(1 if versions else 0)
        if not versions:
            self.detail = None
            return
        ids = {v["id"] for v in versions}
        self.detail = None
        self.select_version(keep if keep in ids else first_ids[0])

    def version_items(self) -> list[QTreeWidgetItem]:
        out = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            out += [top.child(j) for j in range(top.childCount())]
        return out

    def select_version(self, ref: int | str) -> bool:
        """Select a version by id or NAME:VERSION (or NAME:ALIAS); False if not listed."""
        try:
            vid = registry.resolve_version(self.store, ref)["id"]
        except LabliftError:
            return False
        for item in self.version_items():
            if item.data(0, ID_ROLE) == vid:
                self.tree.setCurrentItem(item)
                if not self.detail or self.detail["id"] != vid:
                    self._show(vid)
                return True
        return False

    def _on_current(self, current: QTreeWidgetItem | None, _previous=None) -> None:
        if current is None:
            return
        if current.parent() is None and current.childCount():
            self.tree.setCurrentItem(current.child(0))  # a model: show its latest version
            return
        vid = current.data(0, ID_ROLE)
        if not self.detail or self.detail["id"] != vid:
            self._show(vid)

    # -- the selected version ------------------------------------------------------------
    def _show(self, version_id: int) -> None:
        d = self.detail = registry.version_detail(self.store, version_id)
        self.evidence.show_detail(d)
        self._update_actions()

    def _update_actions(self) -> None:
        d = self.detail
        store = self.store
        status, ref = d["status"], d["ref"]
        alias = _role_refusal(store, "setting an alias", "ops")
        if alias is None and status in ("rejected", "archived"):
            alias = f"version {ref} is {status}: no alias may point at it"
        archive = _role_refusal(store, "archiving a model version", "ops", "reviewer")
        if archive is None and status == "archived":
            archive = f"version {ref} is already archived"
        if archive is None and d.get("aliases"):
            archive = (f"version {ref} is aliased as {', '.join(d['aliases'])}: move or remove "
                       f"the alias before archiving it")
        export = _role_refusal(store, "exporting a bundle", "ops", "reviewer")
        if export is None and status != "approved":
            export = f"version {ref} is {status}: only an approved version can be exported"
        if export is None and self.is_busy():
            export = "an export is running"
        card = _role_refusal(store, "editing a model card", "analyst")
        if card is None and status != "pending":
            card = (f"the model card of {ref} is frozen: the version is {status} (narrative "
                    f"fields can only be edited while it is pending)")
        self.reasons = {"alias": alias, "archive": archive, "export": export, "card": card}
        for key, button, ok_tip in (
                ("alias", self.alias_button, "Point an alias (production, staging, …) at this "
                                             "version; production needs an approved version"),
                ("archive", self.archive_button, "Archive this version"),
                ("export", self.export_button, "Export a bundle that runs without Lablift"),
                ("card", self.card_button, "Write the model card's narrative sections "
                                           "(intended use, factors, ethics, caveats)")):
            why = self.reasons[key]
            button.setEnabled(why is None)
            button.setToolTip(why or ok_tip)
        # The card note only for those who could edit cards: reviewers and ops need not care.
        card_note = card if store.role() in ("analyst", "admin") else None
        notes = [f"{label}: {why}" for label, why in (("Set alias", alias), ("Archive", archive),
                                                      ("Export", export),
                                                      ("Edit card", card_note)) if why]
        self.reason_label.setText("\n".join(notes))
        self.reason_label.setVisible(bool(notes))

    def _go(self, pane: str) -> None:
        win = _main_window(self)
        if win is not None and pane in win.panes:
            win.select_pane(pane)

    def open_run(self) -> None:
        if self.detail:
            open_run(self, self.detail["run_id"])

    def open_data(self) -> None:
        if self.detail and self.detail.get("dataset"):
            open_dataset(self, self.detail["dataset"]["id"])

    # -- actions ---------------------------------------------------------------------------
    def _dialog(self, icon, title: str, text: str) -> QMessageBox:
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.open()  # window-modal without blocking the event loop
        self.last_dialog = box
        return box

    def _refused(self, title: str, text: str) -> None:
        self.message.emit(f"{title}: {text}")
        self._dialog(QMessageBox.Icon.Warning, title, text)

    def ask_alias(self) -> None:
        if not self.detail:
            return
        d = self.detail
        model = next((m for m in registry.list_models(self.store) if m["name"] == d["model"]), {})
        choices = list(dict.fromkeys(list(COMMON_ALIASES) + list(model.get("aliases") or {})))
        alias, ok = QInputDialog.getItem(
            self, "Set alias", f"Point an alias of {d['model']} at {d['ref']} ({d['status']}).\n"
            f"production and champion may only point at an approved version.", choices, 0, True)
        if ok and alias.strip():
            self.set_alias(alias.strip())

    def set_alias(self, alias: str) -> bool:
        d = self.detail
        if not d:
            return False
        try:
            result = registry.set_alias(self.store, d["ref"], alias)
        except LabliftError as exc:
            self._refused("Alias refused", str(exc))
            return False
        if result["changed"]:
            prev = (f" (was version {result['previous']})" if result.get("previous") else "")
            text = f"{d['model']}:{alias} now points at {d['ref']}{prev}"
        else:
            text = f"{d['model']}:{alias} already points at {d['ref']}"
        self.refresh()
        self.message.emit(text)
        return True

    def ask_archive(self) -> None:
        if not self.detail:
            return
        ref = self.detail["ref"]
        answer = QMessageBox.question(
            self, "Archive version", f"Archive {ref}? It stays in the store with its lineage "
            f"and audit history, but no alias may point at it again.")
        if answer == QMessageBox.StandardButton.Yes:
            self.archive()

    def archive(self) -> bool:
        d = self.detail
        if not d:
            return False
        try:
            registry.archive(self.store, d["ref"])
        except LabliftError as exc:
            self._refused("Archive refused", str(exc))
            return False
        self.refresh()
        self.message.emit(f"Archived {d['ref']}")
        return True

    def edit_card(self) -> CardDialog | None:
        """Open the narrative-field editor of the selected (pending) version's card."""
        d = self.detail
        if not d:
            return None
        dialog = self.card_dialog = CardDialog(d["ref"], d.get("card") or {}, self)
        dialog.accepted.connect(lambda r=d["ref"], dl=dialog: self.save_card(r, dl.values()))
        dialog.open()
        return dialog

    def save_card(self, ref: str, fields: dict[str, str]) -> bool:
        try:
            modelcard.set_card_fields(self.store, ref, fields)
        except LabliftError as exc:
            self._refused("Model card not saved", str(exc))
            return False
        self.detail = None
        self.refresh()
        self.select_version(ref)
        self.evidence.select_tab("card")
        self.message.emit(f"Model card of {ref} saved")
        return True

    # -- export --------------------------------------------------------------------------------
    def ask_export(self) -> None:
        if not self.detail:
            return
        settings = QSettings()
        start = str(settings.value("registry/export_dir", str(Path.home())))
        parent = QFileDialog.getExistingDirectory(
            self, f"Folder to export {self.detail['ref']} into", start)
        if parent:
            settings.setValue("registry/export_dir", parent)
            self.export_bundle(self.bundle_path(parent))

    def bundle_path(self, parent: str | Path) -> Path:
        """A new folder under `parent` for the selected version's bundle (never an existing one:
        the core refuses to write over a path)."""
        d = self.detail
        base = Path(parent) / f"{d['model']}-v{d['version']}"
        out, n = base, 2
        while out.exists():
            out = base.with_name(f"{base.name}-{n}")
            n += 1
        return out

    def export_bundle(self, out: str | Path) -> Task | None:
        d = self.detail
        if not d or self.is_busy():
            return None
        store, ref, out = self.store, d["ref"], Path(out)
        task = self.export_task = run_task(
            lambda progress, cancelled: bundles.export(store, ref, out, progress=progress))
        task.progress.connect(self._on_export_progress)
        task.finished.connect(lambda result, r=ref: self._on_exported(r, result))
        task.failed.connect(lambda msg, r=ref: self._on_export_failed(r, msg))
        task.done.connect(self._on_export_done)
        self.export_bar.label.setText(f"Exporting {ref} to {out}…")
        self.export_bar.bar.setValue(0)
        self.export_bar.show()
        self.export_button.setEnabled(False)
        return task

    def _on_export_progress(self, fraction: float, text: str) -> None:
        self.export_bar.bar.setValue(round(fraction * 100))
        self.export_bar.label.setText(f"Exporting: {text}")

    def _on_exported(self, ref: str, result: dict) -> None:
        self.message.emit(f"Exported {ref} to {result['path']}")
        self._dialog(QMessageBox.Icon.Information, "Bundle exported",
                     f"{ref} was exported to\n{result['path']}\n\n{len(result['files'])} files, "
                     f"manifest sha256 {result['manifest_sha256'][:16]}…\nCheck it with "
                     f"`lablift bundle verify {result['path']}`.")

    def _on_export_failed(self, ref: str, message: str) -> None:
        self.message.emit(f"Export of {ref} failed")
        self._dialog(QMessageBox.Icon.Critical, "Export failed",
                     f"Could not export {ref}:\n\n{message}")

    def _on_export_done(self) -> None:
        self.export_bar.hide()
        self.refresh()  # the lineage gains the bundle; refresh keeps the selection

    def is_busy(self) -> bool:
        return self.export_task is not None and self.export_task.is_running()

