"""The Registry pane: models and their versions (status, aliases, who, when, attention), the
selected version's lineage and evidence, and the ops actions: Set alias, Archive, Export bundle.

Whether the current user may act comes from the core's own checks (store.require_role with the
action and roles the core uses, and the core's status rules), so a disabled button's tooltip
and the note under the buttons give the same reason the core would refuse with.
Nothing here touches the store on the GUI thread: the list, the role checks and the selected
version's detail are read in a worker ("load", "detail"), and every action (alias, archive,
card, export) runs in one; a refusal goes through `notify`. "Open run" and "Open data" ask
the main window through `navigate`; a pane shown on its own opens the run in a dialog.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QMetaMethod, QSettings, Qt, QUrl
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QFont
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QHeaderView, QInputDialog, QLabel, QMessageBox, QPlainTextEdit,
                               QPushButton, QTextBrowser, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from ...core import bundles, modelcard, registry, training
from ...core.errors import LabliftError, PermissionDenied
from .. import context_menu, palette
from ..column_fit import fit_columns
from ..evidence import EvidenceView, fmt
from ..format import short_time
from ..pane import PaneBase
from ..widgets import EmptyState, ProgressStrip, empty_or_main, side_by_side
from ..workers import Task, while_alive

ID_ROLE = Qt.ItemDataRole.UserRole
COMMON_ALIASES = ("production", "staging", "champion", "challenger")
# (key, the action as the core names it, the roles the core lets do it besides admin)
ROLE_CHECKS = (("alias", "setting an alias", ("ops",)),
               ("archive", "archiving a model version", ("ops", "reviewer")),
               ("export", "exporting a bundle", ("ops",)),
               ("card", "editing a model card", ("analyst",)))


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


def export_into(store, ref: str, out: Path, progress) -> dict[str, Any]:
    """The export worker: `ref` into the new folder `out`, creating the folders above it when
    missing (a remembered export folder may have been removed); those are removed again if the
    export fails."""
    made = []
    for folder in reversed(out.parents):
        if not folder.exists():
            try:
                folder.mkdir()
            except OSError as exc:
                _remove_empty(made)
                raise LabliftError(f"cannot create the export folder {folder}: "
                                   f"{exc.strerror or exc}") from None
            made.append(folder)
    try:
        return bundles.export(store, ref, out, progress=progress)
    except BaseException:
        _remove_empty(made)
        raise


def _remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            pass


def open_folder(folder: Path) -> bool:
    """Show `folder` in the desktop's file manager."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


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
        note.setStyleSheet(palette.css_text("muted"))
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


def resolve_listed(ref: int | str | None, versions: list[dict[str, Any]]) -> int | None:
    """The id of the listed version `ref` names (an id, NAME:VERSION, NAME:ALIAS or NAME for
    its latest version), or None: the registry's own resolution, on what is listed."""
    if ref is None:
        return None
    text = str(ref).strip()
    if text.isdigit():
        return next((v["id"] for v in versions if v["id"] == int(text)), None)
    name, sep, tail = text.partition(":")
    mine = [v for v in versions if v["model"] == name]
    if not sep:
        return max(mine, key=lambda v: v["version"])["id"] if mine else None
    if tail.isdigit():
        return next((v["id"] for v in mine if v["version"] == int(tail)), None)
    return next((v["id"] for v in mine if tail.lower() in (v.get("aliases") or [])), None)


def read_registry(store, keep: int | str | None) -> dict[str, Any]:
    """The worker's read for `refresh`: versions, models, the role checks, and the detail of
    `keep` if listed, else of the first model's latest version."""
    versions = registry.list_versions(store)
    models = registry.list_models(store)
    target = resolve_listed(keep, versions)
    if target is None and versions:
        first = versions[0]["model"]
        target = [v for v in versions if v["model"] == first][-1]["id"]
    return {"versions": versions, "models": models, "role": store.role(),
            "refusals": {key: _role_refusal(store, action, *roles)
                         for key, action, roles in ROLE_CHECKS},
            "detail": registry.version_detail(store, target) if target is not None else None}


class Pane(PaneBase):
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
        heading = QLabel("Models")
        bold = QFont(heading.font())
        bold.setBold(True)
        bold.setPointSizeF(bold.pointSizeF() * 1.2)
        heading.setFont(bold)
        ll.addWidget(heading)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Model / version", "Status", "Aliases", "By", "Created"])
        for column, tip in enumerate(["Model name and its versions", "Status of the version",
                                      "Aliases pointing at the version", "Registered by",
                                      "When the version was registered"]):
            self.tree.headerItem().setToolTip(column, tip)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # names keep both ends
        # Narrow: Created, then By, then Aliases step aside (each row's tooltip has them).
        self.tree_columns = fit_columns(self.tree, main=0, optional=[4, 3, 2])
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
        context_menu.install(self.tree, extra=self._context_actions, name="registry")
        ll.addWidget(self.tree, 1)
        self.legend = QLabel("⚠ = needs attention (e.g. a monitoring alert)")
        self.legend.setStyleSheet(palette.css_text("faint"))
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
        models = {m["name"]: m for m in self.models}
        self.tree.blockSignals(True)
        self.tree.clear()
        by_model: dict[str, list[dict]] = {}
        for v in versions:
            by_model.setdefault(v["model"], []).append(v)
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
                fg, bg = palette.badge(v["status"])
                child.setForeground(1, QBrush(QColor(fg)))
                child.setBackground(1, QBrush(QColor(bg)))
                child.setTextAlignment(1, Qt.AlignmentFlag.AlignCenter)
                tip = (f"{v['ref']}: {v['status']}, run {v['run_id']}, registered by "
                       f"{v['created_by']} on {short_time(v['created_at'])}"
                       + (f", aliases {', '.join(v['aliases'])}" if v["aliases"] else ""))
                if v.get("approver"):
                    tip += f", approved by {v['approver']}"
                if v.get("attention"):
                    tip += f"\nNeeds attention: {v['attention']}"
                    child.setForeground(0, palette.brush("warn"))
                child.setToolTip(0, tip)
                top.addChild(child)
            self.tree.addTopLevelItem(top)
            top.setFirstColumnSpanned(True)
        self.tree.expandAll()
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
        out = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            out += [top.child(j) for j in range(top.childCount())]
        return out

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
        for button in (self.alias_button, self.archive_button, self.export_button,
                       self.card_button):
            button.setEnabled(False)
            button.setToolTip("Reading the version…")
        store = self.store
        self.start("detail", lambda progress, cancelled: registry.version_detail(
            store, version_id), self._show_detail)

    def _show_detail(self, detail: dict[str, Any]) -> None:
        if detail["id"] != self._selected:
            return  # another version was selected meanwhile
        self.detail = detail
        self.evidence.show_detail(detail)
        self._update_actions()

    def _update_actions(self) -> None:
        d = self.detail
        status, ref = d["status"], d["ref"]
        alias = self._role_refusals.get("alias")
        if alias is None and status in ("rejected", "archived"):
            alias = f"version {ref} is {status}: no alias may point at it"
        archive = self._role_refusals.get("archive")
        if archive is None and status == "archived":
            archive = f"version {ref} is already archived"
        if archive is None and d.get("aliases"):
            archive = (f"version {ref} is aliased as {', '.join(d['aliases'])}: move or remove "
                       f"the alias before archiving it")
        export = self._role_refusals.get("export")
        if export is None and status != "approved":
            export = f"version {ref} is {status}: only an approved version can be exported"
        if export is None and self.is_busy("export"):
            export = "an export is running"
        card = self._role_refusals.get("card")
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
        card_note = card if self.role in ("analyst", "admin") else None
        notes = [f"{label}: {why}" for label, why in (("Set alias", alias), ("Archive", archive),
                                                      ("Export", export),
                                                      ("Edit card", card_note)) if why]
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
        for button in (self.alias_button, self.archive_button, self.export_button,
                       self.card_button):
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

    # -- export --------------------------------------------------------------------------------
    @property
    def export_task(self) -> Task | None:
        """The running export, if any."""
        return self.task("export")

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
        if not d or self.is_busy("export"):
            return None
        store, ref, out = self.store, d["ref"], Path(out)
        task = self.start(
            "export", lambda progress, cancelled: export_into(store, ref, out, progress),
            lambda result, r=ref: self._on_exported(r, result),
            progress=self._on_export_progress,
            on_failed=lambda msg, r=ref: self._on_export_failed(r, msg))
        task.done.connect(lambda: self._on_export_done(task, ref))
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
        box = self._dialog(QMessageBox.Icon.Information, "Bundle exported",
                           f"{ref} was exported to\n{result['path']}\n\n{len(result['files'])} "
                           f"files, manifest sha256 {result['manifest_sha256'][:16]}…\nCheck it "
                           f"with `lablift bundle verify {result['path']}`.")
        folder = Path(result["path"])
        self.open_folder_button = box.addButton("Open folder", QMessageBox.ButtonRole.ActionRole)
        self.open_folder_button.setToolTip(str(folder))
        self.open_folder_button.setProperty("folder", str(folder))
        self.open_folder_button.clicked.connect(lambda: open_folder(folder))

    def _on_export_failed(self, ref: str, message: str) -> None:
        self.message.emit(f"Export of {ref} failed")
        self.notify(f"Could not export {ref}:\n\n{message}", "error", "Export failed")

    @while_alive
    def _on_export_done(self, task: Task | None = None, ref: str = "") -> None:
        ended = {"finished": "done"}.get(task.state, task.state) if task else "ended"
        self.export_bar.finish(f"Export of {ref}: {ended}")
        self.refresh()  # the lineage gains the bundle; refresh keeps the selection
