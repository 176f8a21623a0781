"""The Registry pane: the models tree beside the selected version's evidence, and the ops
actions on top: Set alias, Roll back production, Archive, Export bundle, Edit card.

Whether the current user may act comes from the core's own checks (store.require_role with the
action and roles the core uses, its status rules, its rollback plan), so a disabled button's
tooltip and the note under the buttons give the same reason the core would refuse with.
Nothing here touches the store on the GUI thread: the list, the role checks and the selected
version's detail are read in a worker ("load", "detail"), and every action (alias, rollback,
archive, card, export) runs in one; a refusal goes through `notify`. "Open run" and "Open
data" ask the main window through `navigate`; a pane shown on its own opens the run in a
dialog.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QMetaMethod, Qt
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QInputDialog, QLabel, QMessageBox,
                               QPushButton, QTreeWidgetItem, QVBoxLayout, QWidget)

from ....core import modelcard, registry, training
from ... import context_menu, palette
from ...evidence import EvidenceView
from ...pane import PaneBase
from ...widgets import EmptyState, ProgressStrip, empty_or_main, section_heading, side_by_side
from ...workers import Task
from . import actions
from .common import COMMON_ALIASES, ID_ROLE, ROLLBACK_ALIAS
from .data import read_detail, read_registry, resolve_listed
from .dialogs import CardDialog, RunDialog, rollback_question
from .export import ExportActions
from .tree import fill_tree, make_tree, version_items


class Pane(ExportActions, PaneBase):
    title = "Registry"

    def __init__(self, store, parent=None):
        super().__init__(store, parent)
        self.detail: dict[str, Any] | None = None  # the shown version's detail
        self.last_dialog: QMessageBox | None = None
        self.open_folder_button: QPushButton | None = None  # on the "Bundle exported" dialog
        self.run_dialog: QDialog | None = None
        self.card_dialog: CardDialog | None = None
        self.reasons: dict[str, str | None] = {}
        self.role: str | None = None
        self.versions: list[dict[str, Any]] = []
        self.models: list[dict[str, Any]] = []
        self._role_refusals: dict[str, str | None] = {}
        self._selected: int | None = None  # the version selected (its detail may be loading)
        self._wanted: int | str | None = None  # a version to select once the list is loaded
        self._build()
        self.refresh()
    # -- layout ---------------------------------------------------------------------

    def _build(self) -> None:
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(10, 10, 4, 10)
        heading = section_heading("Models")
        ll.addWidget(heading)
        self.tree, self.tree_columns = make_tree()
        self.tree.currentItemChanged.connect(self._on_current)
        context_menu.install(self.tree, extra=self._context_actions, name="registry")
        ll.addWidget(self.tree, 1)
        self.legend = QLabel("⚠ = needs attention (e.g. a monitoring alert)")
        self.legend.setStyleSheet(palette.css_text("faint"))
        self.legend.setWordWrap(True)
        ll.addWidget(self.legend)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(6, 10, 10, 6)
        row = QHBoxLayout()
        self.alias_button = QPushButton("Set alias…")
        self.rollback_button = QPushButton(f"Roll back {ROLLBACK_ALIAS}…")
        self.archive_button = QPushButton("Archive")
        self.export_button = QPushButton("Export bundle…")
        self.card_button = QPushButton("Edit card…")
        self.alias_button.clicked.connect(self.ask_alias)
        self.rollback_button.clicked.connect(self.ask_rollback)
        self.archive_button.clicked.connect(self.ask_archive)
        self.export_button.clicked.connect(self.ask_export)
        self.card_button.clicked.connect(self.edit_card)
        for b in self.action_buttons().values():
            row.addWidget(b)
        row.addStretch(1)
        rl.addLayout(row)
        self.reason_label = QLabel()
        self.reason_label.setWordWrap(True)
        self.reason_label.setStyleSheet(palette.css_text("warn"))
        self.reason_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        rl.addWidget(self.reason_label)
        self.evidence = EvidenceView(first="lineage")
        self.evidence.card_hint = ("_Not written yet: press **Edit card…** above to write it "
                                   "(an analyst, while the version is pending)._")
        self.evidence.open_run.connect(self.show_run)
        self.evidence.open_dataset.connect(self.show_dataset)
        rl.addWidget(self.evidence, 1)

        self.splitter = side_by_side(left, right, [400, 720])
        # A third of any change in width goes to the list: a small window keeps room for the
        # evidence, a wide one shows long model names whole.
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 2)
        left.setMinimumWidth(200)

        self.empty = EmptyState(
            "No models registered yet",
            "Train a run in Experiments and register it as a model version "
            "(or `lablift model register RUN --name NAME`).\nIts versions, aliases, "
            "lineage and bundles then appear here.",
            [("go_button", "Go to Experiments")])
        self.empty.go_button.clicked.connect(lambda: self.navigate.emit("experiments", None))
        self.export_bar = ProgressStrip("exportBar")
        self.pages = empty_or_main(self, self.empty, self.splitter, self.export_bar)

    def action_buttons(self) -> dict[str, QPushButton]:
        return {"alias": self.alias_button, "rollback": self.rollback_button,
                "archive": self.archive_button, "export": self.export_button,
                "card": self.card_button}

    # -- tree -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read models and versions in a worker; keep the selected version, else the first
        model's latest version."""
        store = self.store
        keep = self._wanted if self._wanted is not None else self._selected
        self.start("load", lambda progress, cancelled: read_registry(store, keep),
                   self._show_listing,
                   on_failed=lambda text: self.notify(f"Could not refresh {self.title}: {text}"))

    def _show_listing(self, listing: dict[str, Any]) -> None:
        versions, self.versions, self.models = (listing["versions"], listing["versions"],
                                                listing["models"])
        self.role, self._role_refusals = listing["role"], listing["refusals"]
        # What to show: asked for while loading, else what is selected now (a click since
        # the refresh began wins over the version the worker read).
        wanted = self._wanted if self._wanted is not None else self._selected
        self._wanted = None
        self.tree.blockSignals(True)
        fill_tree(self.tree, versions, self.models)
        self.pages.setCurrentIndex(1 if versions else 0)
        detail = listing["detail"]
        if detail is None:
            self.tree.blockSignals(False)
            self.detail = self._selected = None
            return
        self._selected = detail["id"]
        self.tree.setCurrentItem(self._item(detail["id"]))
        self.tree.blockSignals(False)
        self._show_detail(detail)
        if resolve_listed(wanted, versions) not in (None, detail["id"]):
            self.select_version(wanted)

    def version_items(self) -> list[QTreeWidgetItem]:
        return version_items(self.tree)

    def _item(self, version_id: int) -> QTreeWidgetItem | None:
        return next((i for i in self.version_items() if i.data(0, ID_ROLE) == version_id), None)

    def select_version(self, ref: int | str) -> bool:
        """Select a version by id or NAME:VERSION (or NAME:ALIAS); False if not listed. While
        the list is loading, the version is selected once it is loaded."""
        if self.is_busy("load"):
            self._wanted = ref
            return True
        item = self._item(resolve_listed(ref, self.versions))
        if item is None:
            return False
        self.tree.setCurrentItem(item)  # -> _on_current, unless it is already current
        if self._selected != item.data(0, ID_ROLE):
            self._show(item.data(0, ID_ROLE))
        return True

    def show_ref(self, ref: Any) -> None:
        """Show version `ref`: what the main window calls on `navigate`."""
        self.select_version(ref)

    def selected_ref(self) -> tuple[str, int] | None:
        """The selected version (by id), for View → Lineage…"""
        return None if self._selected is None else ("version", self._selected)

    def _on_current(self, current: QTreeWidgetItem | None, _previous=None) -> None:
        if current is None:
            return
        if current.parent() is None and current.childCount():
            self.tree.setCurrentItem(current.child(0))  # a model: show its latest version
            return
        vid = current.data(0, ID_ROLE)
        if self._selected != vid:
            self._show(vid)

    # -- the selected version ------------------------------------------------------------
    def _show(self, version_id: int) -> None:
        """Read version `version_id`'s detail in a worker; the actions wait for it."""
        self._selected = version_id
        for button in self.action_buttons().values():
            button.setEnabled(False)
            button.setToolTip("Reading the version…")
        store = self.store
        self.start("detail", lambda progress, cancelled: read_detail(store, version_id),
                   self._show_detail)

    def _show_detail(self, detail: dict[str, Any]) -> None:
        if detail["id"] != self._selected:
            return  # another version was selected meanwhile
        self.detail = detail
        self.evidence.show_detail(detail)
        self._update_actions()

    def _update_actions(self) -> None:
        d = self.detail
        self.reasons = actions.reasons(d, self._role_refusals, self.is_busy("export"))
        for key, button in self.action_buttons().items():
            why = self.reasons[key]
            button.setEnabled(why is None)
            button.setToolTip(why or actions.ok_tip(key, d))
        notes = actions.notes(self.reasons, self.role)
        self.reason_label.setText("\n".join(notes))
        self.reason_label.setVisible(bool(notes))

    # -- one click to the run and the data -------------------------------------------------
    def _navigator(self) -> bool:
        """Whether a main window listens to `navigate` (else the pane is shown on its own)."""
        return self.isSignalConnected(QMetaMethod.fromSignal(self.navigate))

    def show_run(self, run_id: int) -> None:
        """Run `run_id` in the Experiments pane; on its own, the pane opens it in a dialog."""
        if self._navigator():
            self.navigate.emit("experiments", run_id)
            return
        store = self.store
        self.start("run", lambda progress, cancelled: training.get_run(store, run_id),
                   self._open_run_dialog,
                   on_failed=lambda text: self.notify(text, "warning", "Run"))

    def _open_run_dialog(self, run: dict[str, Any]) -> None:
        dialog = self.run_dialog = RunDialog(run, self)
        dialog.open()

    def show_dataset(self, dataset_id: int) -> None:
        if self._navigator():
            self.navigate.emit("datasets", dataset_id)
        else:
            self.notify(f"dataset version {dataset_id}: the Datasets pane is not available")

    def _context_actions(self, _rows: list[int]) -> list:
        """Right-click entries for the version under the cursor (it is selected first); its
        actions are the buttons', enabled and explained exactly as they are."""
        item = self.tree.currentItem()
        vid = item.data(0, ID_ROLE) if item is not None else None
        v = next((v for v in self.versions if v["id"] == vid), None)
        if v is None:
            return []
        entries = [(f"Open run #{v['run_id']}", lambda: self.show_run(v["run_id"])),
                   context_menu.lineage_entry(self, self.store, "version", v["ref"],
                                              self.navigate.emit), None]
        for button in self.action_buttons().values():
            entries.append((button.text(), button.click,
                            None if button.isEnabled() else button.toolTip(), button.toolTip()))
        return entries

    def open_run(self) -> None:
        if self.detail:
            self.show_run(self.detail["run_id"])

    def open_data(self) -> None:
        if self.detail and self.detail.get("dataset"):
            self.show_dataset(self.detail["dataset"]["id"])

    # -- actions ---------------------------------------------------------------------------
    def _dialog(self, icon, title: str, text: str) -> QMessageBox:
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.open()  # window-modal without blocking the event loop
        self.last_dialog = box
        return box

    def _act(self, purpose: str, fn, done, title: str) -> Task:
        """Run the action `fn()` in a worker; `done(result)` on success, the core's refusal
        through `notify` (a warning titled `title`) otherwise; the list is re-read either way."""
        def refused(text: str) -> None:
            self.message.emit(f"{title}: {text}")
            self.notify(text, "warning", title)
            self.refresh()
        return self.start(purpose, lambda progress, cancelled: fn(), done, on_failed=refused)

    def ask_alias(self) -> None:
        if not self.detail:
            return
        d = self.detail
        model = next((m for m in self.models if m["name"] == d["model"]), {})
        choices = list(dict.fromkeys(list(COMMON_ALIASES) + list(model.get("aliases") or {})))
        alias, ok = QInputDialog.getItem(
            self, "Set alias", f"Point an alias of {d['model']} at {d['ref']} ({d['status']}).\n"
            f"production and champion may only point at an approved version.", choices, 0, True)
        if ok and alias.strip():
            self.set_alias(alias.strip())

    def set_alias(self, alias: str) -> Task | None:
        """Point `alias` at the selected version (in a worker)."""
        d = self.detail
        if not d:
            return None

        def done(result: dict) -> None:
            if result["changed"]:
                prev = (f" (was version {result['previous']})" if result.get("previous")
                        else "")
                text = f"{d['model']}:{alias} now points at {d['ref']}{prev}"
            else:
                text = f"{d['model']}:{alias} already points at {d['ref']}"
            self.refresh()
            self.message.emit(text)
        store = self.store
        return self._act("alias", lambda: registry.set_alias(store, d["ref"], alias), done,
                         "Alias refused")

    def ask_rollback(self) -> None:
        """Confirm, naming the alias and from -> to, then roll back."""
        plan = ((self.detail or {}).get("rollback") or {}).get("plan")
        if not plan:
            return
        answer = QMessageBox.question(self, f"Roll back {plan['alias']}",
                                      rollback_question(plan))
        if answer == QMessageBox.StandardButton.Yes:
            self.rollback(plan)

    def rollback(self, plan: dict[str, Any]) -> Task:
        """Roll the plan's alias back to the version the confirmation named (in a worker): the
        core refuses if it would now go elsewhere."""
        def done(result: dict) -> None:
            self.refresh()
            self.message.emit(f"{result['model']}:{result['alias']} rolled back from "
                              f"{result['from']} to {result['to']}")
        store = self.store
        return self._act("rollback", lambda: registry.rollback_alias(
            store, plan["model"], plan["alias"], expect=plan["to"]), done, "Rollback refused")

    def ask_archive(self) -> None:
        if not self.detail:
            return
        ref = self.detail["ref"]
        answer = QMessageBox.question(
            self, "Archive version", f"Archive {ref}? It stays in the store with its lineage "
            f"and audit history, but no alias may point at it again.")
        if answer == QMessageBox.StandardButton.Yes:
            self.archive()

    def archive(self) -> Task | None:
        """Archive the selected version (in a worker)."""
        d = self.detail
        if not d:
            return None

        def done(_result) -> None:
            self.refresh()
            self.message.emit(f"Archived {d['ref']}")
        store = self.store
        return self._act("archive", lambda: registry.archive(store, d["ref"]), done,
                         "Archive refused")

    def edit_card(self) -> CardDialog | None:
        """Open the narrative-field editor of the selected (pending) version's card."""
        d = self.detail
        if not d:
            return None
        dialog = self.card_dialog = CardDialog(d["ref"], d.get("card") or {}, self)
        dialog.accepted.connect(lambda r=d["ref"], dl=dialog: self.save_card(r, dl.values()))
        dialog.open()
        return dialog

    def save_card(self, ref: str, fields: dict[str, str]) -> Task:
        """Save the card's narrative fields (in a worker); the card tab shows them."""
        def done(_result) -> None:
            self._selected = None  # re-read the version's detail, card and all
            self._wanted = ref
            self.refresh()
            self.evidence.select_tab("card")
            self.message.emit(f"Model card of {ref} saved")
        store = self.store
        return self._act("card", lambda: modelcard.set_card_fields(store, ref, fields), done,
                         "Model card not saved")

