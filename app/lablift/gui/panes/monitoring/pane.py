"""The Monitoring pane: one model version's production batches against its training data.

The version picker, "Ingest batch…" and "Retrain challenger" on top; below, the tabs (Drift,
Performance, Alerts, Batches and data quality, one module each) or what to do while there is
nothing to show. Every store read and write runs in a worker through `PaneBase.start`, and an
action the user's role may not take is disabled, the core's refusal as its tooltip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QStackedWidget, QTabWidget, QVBoxLayout, QWidget

from ....core import monitoring
from ....core.errors import LabliftError, PermissionDenied
from ... import context_menu, palette
from ...pane import PaneBase
from ...widgets import EmptyState, ImportBar, empty_or_main
from ...workers import Task, while_alive
from .alerts_tab import AlertsTab
from .batches_tab import BatchesTab
from .common import NO_BATCHES, PREDICTION, ingest_summary, plural, sentence
from .data import load_monitoring, load_versions
from .dialogs import RetrainConfirmDialog, RetrainDialog, ask_ingest, labelled_batches
from .drift_tab import DriftTab
from .performance_tab import PerformanceTab
from .version_bar import VersionBar, version_ref

INGEST_TIP = ("Measure a CSV/Parquet batch or a serve.py --log file against this version's "
              "training data")
RETRAIN_TIP = ("Train the same spec on the training data plus the labelled batches; registered "
               "as a pending challenger")
READING = "Reading the store…"
WRITES = ("ingest", "retrain")  # one at a time; they lock the version picker
ALERTS_TAB, BATCHES_TAB = 2, 3


class Pane(PaneBase):
    title = "Monitoring"
    loaded = Signal()  # a version's report was drawn

    def __init__(self, store, parent=None):
        super().__init__(store, parent)
        self.data: dict[str, Any] | None = None
        self.features: list[str] = []
        self.batches: list[dict[str, Any]] = []
        self.batch_index: int | None = None
        self.refusals: dict[str, str | None] | None = None  # None until the role is read
        self.retrain_confirmation: RetrainConfirmDialog | None = None
        self.retrain_dialog: RetrainDialog | None = None
        self._versions: list[dict[str, Any]] = []
        self._select_batch_after_load: int | None = None
        self._wanted: str | None = None  # a ref select_version could not find in the list
        self._ref: str | None = None
        self._build()
        self._update_actions()
        self.refresh()

    # -- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        self.empty = EmptyState(
            "No registered model versions",
            "Monitoring measures production data against a registered model version.\n"
            "Train a run in Experiments and register it (Registry); then ingest production "
            "batches\nor serve.py prediction logs here to see drift, performance and latency.",
            [("experiments_button", "Open Experiments")])
        self.empty_text = self.empty.text
        self.empty.experiments_button.clicked.connect(lambda: self._go("experiments"))
        main = QWidget()
        layout = QVBoxLayout(main)
        layout.setContentsMargins(10, 8, 10, 4)
        layout.setSpacing(6)
        self.top = VersionBar()
        self.top.version_chosen.connect(self._show_version)
        self.top.ingest_button.clicked.connect(self.choose_and_ingest)
        self.top.retrain_button.clicked.connect(self.ask_retrain)
        layout.addWidget(self.top)
        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.setTextFormat(Qt.TextFormat.RichText)
        self.notice.setStyleSheet(f"#notice {{ background: {palette.color('info_bg')}; border: "
                                  f"1px solid {palette.color('info_border')};"
                                  " padding: 4px 8px; }")
        self.notice.linkActivated.connect(
            lambda link: self.tabs.setCurrentIndex(ALERTS_TAB if link == "alerts"
                                                   else BATCHES_TAB))
        self.notice.hide()
        layout.addWidget(self.notice)

        self.no_batches = EmptyState("No batches yet", NO_BATCHES,
                                     [("ingest_button", "Ingest batch…")])
        self.no_batches_title, self.no_batches_text = self.no_batches.title, self.no_batches.text
        self.no_batches_button = self.no_batches.ingest_button
        self.no_batches_button.clicked.connect(self.choose_and_ingest)
        self.drift_tab = DriftTab()
        self.performance_tab = PerformanceTab()
        self.alerts_tab = AlertsTab()
        self.batches_tab = BatchesTab()
        self.drift_tab.batch_chosen.connect(self.select_batch)
        self.batches_tab.batch_chosen.connect(self.select_batch)
        self.alerts_tab.acknowledge_requested.connect(self.acknowledge)
        for view, extra, name in (
                (self.batches_tab.batches_view, self._batch_actions, "batches"),
                (self.batches_tab.findings_view, self._context_actions, "findings"),
                (self.alerts_tab.alerts_view, self._alert_actions, "alerts"),
                (self.drift_tab.feature_list, self._context_actions, "drift")):
            context_menu.install(view, extra=extra, name=name)
        self.tabs = QTabWidget()
        for tab, name in ((self.drift_tab, "Drift"), (self.performance_tab, "Performance"),
                          (self.alerts_tab, "Alerts"),
                          (self.batches_tab, "Batches and data quality")):
            self.tabs.addTab(tab, name)
        self.content = QStackedWidget()
        self.content.addWidget(self.no_batches)
        self.content.addWidget(self.tabs)
        self.content.setCurrentWidget(self.tabs)  # "Reading the store…" until the versions come
        self.drift_tab.show_message(READING)
        layout.addWidget(self.content, 1)

        self.progress_bar = ImportBar()
        self.progress_bar.cancel_button.clicked.connect(self._cancel_writing)
        self.pages = empty_or_main(self, self.empty, main, self.progress_bar)
        self.pages.setCurrentIndex(1)

    # -- what the user may do now ----------------------------------------------------------
    def _why_not(self, action: str) -> str | None:
        """Why `action` is not available now (None: it is)."""
        if self.refusals is None:
            return READING
        if self.refusals.get(action):
            return sentence(self.refusals[action])
        if self._ref is None:
            return "No model version is selected"
        if action == "retrain":
            if self.data is None:
                return READING
            if not labelled_batches(self.batches):
                return (f"{self._ref} has no labelled batches to learn from: ingest one with a "
                        f"label column")
        return None

    def _writing(self) -> bool:
        return any(self.is_busy(purpose) for purpose in WRITES)

    def _update_actions(self) -> None:
        writing = self._writing()
        self.top.version_combo.setEnabled(not writing)
        for buttons, action, tip in (
                ((self.top.ingest_button, self.no_batches_button), "ingest", INGEST_TIP),
                ((self.top.retrain_button,), "retrain", RETRAIN_TIP)):
            why = self._why_not(action)
            for button in buttons:
                button.setEnabled(why is None and not writing)
                button.setToolTip(why or tip)
        self.alerts_tab.busy = self.is_busy("acknowledge")
        self.alerts_tab.set_refusal(None if self.refusals is None
                                    else self.refusals.get("acknowledge"))

    # -- versions -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the versions (and the user's role) in a worker; keep the selected version,
        else show the first with batches."""
        store, want = self.store, self._wanted
        self.start("versions", lambda progress, cancelled: load_versions(store, want),
                   self._show_versions, on_failed=self._on_versions_failed)

    def _on_versions_failed(self, message: str) -> None:
        self.notify(f"Could not read the model versions: {message}")
        if self.data is None:
            self.drift_tab.show_message(f"Could not read the model versions:\n{message}")

    def _show_versions(self, result: dict[str, Any]) -> None:
        versions, counts = result["versions"], result["counts"]
        self._versions, self.refusals = versions, result["refusals"]
        if result["want"] is not None and result["want"] == self._wanted:
            self._wanted = None
            if result["error"]:
                self.notify(f"Cannot show {result['want']}: {result['error']}")
        keep = result["found"] or self._ref
        self.top.fill(versions, counts)
        self.pages.setCurrentIndex(1 if versions else 0)
        if not versions:
            self.cancel("load")
            self._ref = self.data = None
            self._update_actions()
            return
        refs = self.top.refs()
        with_batches = [version_ref(v) for v in versions if counts.get(v["id"])]
        chosen = keep if keep in refs else (with_batches[0] if with_batches else refs[0])
        self.top.choose(chosen)
        self._show_version(chosen, force=True)

    # -- right-click menus (context_menu) ------------------------------------------------------
    def _context_actions(self, _rows: list[int]) -> list:
        return [context_menu.lineage_entry(self, self.store, "version", self._ref,
                                           self.navigate.emit,
                                           text=f"Open lineage of {self._ref or 'the version'}")]

    def _batch_actions(self, rows: list[int]) -> list:
        entries = []
        if rows and rows[0] < len(self.batches):
            batch_id = self.batches[rows[0]]["id"]
            entries.append(context_menu.lineage_entry(
                self, self.store, "batch", batch_id, self.navigate.emit,
                text=f"Open lineage of batch #{batch_id}"))
        return entries + self._context_actions(rows)

    def _alert_actions(self, rows: list[int]) -> list:
        tab, why = self.alerts_tab, None
        if tab.refusal:
            why = sentence(tab.refusal)
        elif not tab.chosen():
            why = "None of the selected alerts is open"
        elif tab.busy:
            why = "Alerts are being acknowledged"
        return [(tab.ack_button.text(), tab.ack_button.click, why, tab.ack_button.toolTip()),
                None] + self._context_actions(rows)

    def version_refs(self) -> list[str]:
        return self.top.refs()

    def selected_ref(self) -> str | None:
        return self._ref

    def select_version(self, ref: str) -> bool:
        """Show NAME:VERSION, or any ref the registry resolves. True if it was listed and is
        shown; else False, and the ref is resolved with the versions re-read in a worker: shown
        when found, a status line when not."""
        if ref in self.version_refs():
            self.top.choose(ref)
            self._show_version(ref)
            return True
        self._wanted = ref
        self.refresh()
        return False

    def _show_version(self, ref: str, force: bool = False) -> None:
        if ref == self._ref and not force:
            return
        if ref != self._ref:
            self.notice.hide()
            self.data = None
            self.batch_index = self.drift_tab.feature = None
        self._ref = ref
        self.top.show_info(next((v for v in self._versions if version_ref(v) == ref), {}))
        self._update_actions()
        self.reload()

    # -- the report --------------------------------------------------------------------------
    def reload(self, select_batch: int | None = None) -> None:
        """Read the selected version's report in a worker, then draw it."""
        if self._ref is None:
            return
        if select_batch is not None:
            self._select_batch_after_load = select_batch
        if self.data is None:
            self.drift_tab.show_message("Loading…")
        store, ref = self.store, self._ref
        self.start("load", lambda progress, cancelled: load_monitoring(store, ref),
                   self._on_loaded, on_failed=self._on_load_failed)

    def _on_load_failed(self, message: str) -> None:
        self.notify(f"Could not read the monitoring report: {message}")
        self.drift_tab.share_chart.show_message(f"Could not read the report:\n{message}")

    def _on_loaded(self, data: dict[str, Any]) -> None:
        if data["ref"] != self._ref:
            return  # an older selection's report
        self.data = data
        report = data["report"]
        self.batches = report["batches"]
        self.features = list(report["features"])
        if any(PREDICTION in cells for cells in data["cells"].values()):
            self.features.append(PREDICTION)
        self.content.setCurrentIndex(1 if self.batches else 0)
        if not self.batches:
            self.no_batches_title.setText(f"No batches for {self._ref} yet")
        self.batches_tab.show_report(report, self.batches)
        open_n = self.alerts_tab.show_alerts(report["alerts"])
        self.tabs.setTabText(ALERTS_TAB, f"Alerts ({open_n} open)" if open_n else "Alerts")
        self.performance_tab.show_report(report, self.batches)
        self.drift_tab.show_report(data, self.batches, self.features)
        want, self._select_batch_after_load = self._select_batch_after_load, None
        ids = [b["id"] for b in self.batches]
        keep, self.batch_index = self.batch_index, None
        if ids:
            if want in ids:
                index = ids.index(want)
            elif keep is not None and keep < len(ids):
                index = keep  # a reload of the same version keeps its place
            else:
                index = len(ids) - 1  # the latest batch
            self.select_batch(index)
        self._update_actions()
        self.loaded.emit()

    def select_batch(self, index: int) -> None:
        """Show batch `index` in the Drift and Batches tabs."""
        if not self.batches or not (0 <= index < len(self.batches)):
            return
        self.batch_index = index
        self.batches_tab.show_batch(index)
        self.drift_tab.show_batch(index)

    # -- ingest -------------------------------------------------------------------------------
    def choose_and_ingest(self) -> None:
        """Ask for a batch file and its options (modal dialogs), then ingest it."""
        if self._ref is None:
            return
        chosen = ask_ingest(self, self._ref, self.data, self.notify)
        if chosen is not None:
            path, options = chosen
            self.ingest_file(path, **options)

    def ingest_file(self, path: str, label: str | None = None, timestamp: str | None = None,
                    window: str | None = None,
                    tests: dict[str, str] | None = None) -> Task | None:
        """Ingest `path` for the selected version in a worker (progress, Cancel). The core
        checks the role: a refusal is a warning, and nothing changes."""
        if self._ref is None or self._writing():
            return None
        store, ref, name = self.store, self._ref, Path(path).name
        return self._write(
            "ingest", lambda progress, cancelled: monitoring.ingest(
                store, ref, path, label=label, timestamp=timestamp, window=window,
                tests=tests, progress=progress, cancelled=cancelled),
            lambda result: self._on_ingested(ref, name, result), f"Ingesting {name}",
            f"Ingest of {name} cancelled; nothing was changed",
            lambda msg: f"Could not ingest {path}\n\n{msg}\n\nNothing was changed in the store.")

    @property
    def ingest_task(self) -> Task | None:
        """The running ingest (the main window names it when switching stores)."""
        return self.task("ingest")

    def _on_ingested(self, ref: str, name: str, result: dict[str, Any]) -> None:
        batches = result.get("batches") if "batches" in result else [result]
        self.notice.setText(ingest_summary(name, batches))
        self.notice.show()
        self.notify(f"Ingested {plural(len(batches), 'batch', 'es')} for {ref}")
        self._select_batch_after_load = batches[-1]["id"]
        self._store_changed()

    # -- acknowledge --------------------------------------------------------------------------
    def acknowledge(self, ids: list[int]) -> Task | None:
        """Acknowledge alerts `ids` in a worker (the core checks the role); the pane then
        re-reads the versions, whose "needs attention" mark may be gone."""
        if not ids or self.is_busy("acknowledge"):
            return None
        store, ref = self.store, self._ref

        def work(progress, cancelled) -> dict[str, Any]:
            done, left, stopped = 0, None, None
            for alert_id in ids:
                try:
                    left = monitoring.acknowledge(store, alert_id).get("open_alerts")
                except LabliftError as exc:  # the ones before it stay acknowledged
                    stopped = (str(exc), isinstance(exc, PermissionDenied))
                    break
                done += 1
            return {"done": done, "left": left, "stopped": stopped}
        task = self.start("acknowledge", work, lambda r: self._on_acknowledged(ref, r))
        task.done.connect(self._update_actions)
        self._update_actions()
        return task

    def _on_acknowledged(self, ref: str | None, result: dict[str, Any]) -> None:
        if result["stopped"]:
            text, refused = result["stopped"]
            self.notify(text, "warning" if refused else "error",
                        "Acknowledge refused" if refused else "Acknowledge failed")
        if result["done"]:
            text = f"Acknowledged {plural(result['done'], 'alert')}"
            if result["left"] == 0:
                text += f"; {ref} no longer needs attention"
            self.notify(text)
            self._store_changed()

    # -- retrain --------------------------------------------------------------------------------
    def ask_retrain(self) -> RetrainConfirmDialog | None:
        """Show what a retrain would train on what data; "Retrain" starts it, Cancel does not."""
        if self._ref is None or self.data is None or self._writing():
            return None
        ref = self._ref
        dialog = self.retrain_confirmation = RetrainConfirmDialog(
            self, ref, self.data["training"], self.batches)
        dialog.accepted.connect(lambda: self.retrain(ref))
        dialog.open()  # window-modal without blocking the event loop
        return dialog

    def retrain(self, ref: str | None = None) -> Task | None:
        """Retrain a challenger of `ref` (default: the selected version) in a worker."""
        ref = ref or self._ref
        if ref is None or self._writing():
            return None
        store = self.store
        return self._write(
            "retrain", lambda progress, cancelled: monitoring.retrain(
                store, ref, progress=progress, cancelled=cancelled),
            self._on_retrained, f"Retraining a challenger of {ref}",
            f"Retraining {ref} cancelled")

    @property
    def retrain_task(self) -> Task | None:
        return self.task("retrain")

    def _on_retrained(self, result: dict[str, Any]) -> None:
        ch = result["challenger"]
        self.notify(f"Challenger {ch['ref']} registered ({ch['status']}); it needs approval")
        self.refresh()
        dialog = self.retrain_dialog = RetrainDialog(self, result)
        dialog.approvals_button.clicked.connect(lambda: (dialog.accept(),
                                                         self._go("approvals", ch["ref"])))
        dialog.open()

    # -- a write and its progress -------------------------------------------------------------
    def _write(self, purpose: str, work, on_result, doing: str, cancelled: str,
               failure=str) -> Task:
        """Run the store write `purpose` in a worker, shown in the progress strip ("doing: step",
        Cancel). Its failure, `failure(message)`, is a warning when the role refused it."""
        task = self.start(purpose, work, on_result,
                          progress=lambda f, m: self._progress(f, f"{doing}: {m}"),
                          on_failed=lambda msg: self._write_failed(purpose, failure(msg)),
                          on_cancelled=lambda: self.notify(cancelled))
        self.progress_bar.label.setText(f"{doing}…")
        self.progress_bar.bar.setValue(0)
        self.progress_bar.cancel_button.setEnabled(True)
        self.progress_bar.cancel_button.setText("Cancel")
        self.progress_bar.show()
        task.done.connect(lambda: self._write_done(task, doing))
        self._update_actions()
        return task

    def _progress(self, fraction: float, text: str) -> None:
        self.progress_bar.bar.setValue(round(fraction * 100))
        self.progress_bar.label.setText(text)

    @while_alive
    def _write_done(self, task: Task | None = None, doing: str = "") -> None:
        if not self._writing():
            ended = {"finished": "done"}.get(task.state, task.state) if task else "ended"
            self.progress_bar.finish(f"{doing}: {ended}")
        self._update_actions()

    def _cancel_writing(self) -> None:
        for purpose in WRITES:
            if self.is_busy(purpose):
                self.cancel(purpose)
                self.progress_bar.cancel_button.setEnabled(False)
                self.progress_bar.cancel_button.setText("Cancelling…")

    def _write_failed(self, action: str, text: str) -> None:
        """A refusal the pane knew of (the role) is a warning; anything else an error."""
        what = action.capitalize()
        refused = bool(self.refusals and self.refusals.get(action))
        self.notify(text, "warning" if refused else "error",
                    f"{what} refused" if refused else f"{what} failed")

    # -- the main window ----------------------------------------------------------------------
    def _store_changed(self) -> None:
        """After an ingest or acknowledge: batch counts and attention marks changed."""
        self.refresh()
        refresh = getattr(self.window(), "refresh_attention", None)
        if callable(refresh):  # the banner across the window (main_window.py)
            refresh()

    def _go(self, pane: str, ref: str | None = None) -> None:
        """Ask the main window for pane `pane` at `ref` (a version ref, or None)."""
        self.navigate.emit(pane, ref)
