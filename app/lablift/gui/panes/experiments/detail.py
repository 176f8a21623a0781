"""Run detail: the header, metrics, params, spec and environment of the shown run, its plots,
and what can be done with it (reproduce, register)."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QHBoxLayout, QInputDialog, QLabel, QPlainTextEdit, QPushButton,
                               QSplitter, QStackedWidget, QTabWidget, QVBoxLayout, QWidget)

from ....core import evaluation, training
from ... import palette
from ...experiment_charts import run_panels
from ...format import short_name, short_time
from ...workers import while_alive
from .common import (MONO, RIGHT, Cell, GridModel, fmt_duration, fmt_metric,
                     grid_view, html, note, state_color, text_of)
from .job_queue import Job
from .run_panels import RunPanels

try:
    from ....core import registry as core_registry
except ImportError:  # the registry is optional for this pane
    core_registry = None


def metric_cells(run: dict[str, Any]) -> list[list[Cell]]:
    """Rows of the Metrics tab: name, holdout value, CV mean ± std."""
    metrics = run.get("metrics") or {}
    holdout, cv = metrics.get("holdout") or {}, metrics.get("cv") or {}
    if not holdout and not cv:
        return []
    names = list(evaluation.metric_names(run.get("task") or "classification"))
    names += [n for n in list(holdout) + list(cv) if n not in names]
    rows = []
    for n in names:
        c = cv.get(n) or {}
        mean, std = c.get("mean"), c.get("std")
        cv_text = "—" if mean is None else f"{fmt_metric(mean)} ± {std or 0:.3f}"
        rows.append([Cell(n), Cell(fmt_metric(holdout.get(n)), align=RIGHT),
                     Cell(cv_text, align=RIGHT)])
    return rows


def param_cells(run: dict[str, Any]) -> list[list[Cell]]:
    """Rows of the Params tab; the ones set in the spec (not library defaults) in bold."""
    chosen = set((run.get("spec") or {}).get("params") or {})
    return [[Cell(k, bold=k in chosen), Cell(text_of(v), bold=k in chosen)]
            for k, v in sorted((run.get("params") or {}).items())]


class RunDetail:
    """The run-detail part of the Experiments pane."""

    def _build_detail(self) -> QWidget:
        self._shown_run: int | None = None
        self._shown_key: tuple | None = None
        self.shown_run: dict[str, Any] | None = None
        self.detail_stack = QStackedWidget()
        self.detail_empty = note("Select a run to see its metrics and plots.")
        self.detail_stack.addWidget(self.detail_empty)
        page = QWidget()
        outer = QHBoxLayout(page)
        outer.setContentsMargins(6, 6, 6, 6)
        info = QWidget()
        il = QVBoxLayout(info)
        il.setContentsMargins(0, 0, 0, 0)
        il.setSpacing(4)
        self.detail_header = QLabel()
        self.detail_header.setTextFormat(Qt.TextFormat.RichText)
        self.detail_header.setWordWrap(True)
        self.detail_header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        il.addWidget(self.detail_header)
        buttons = QHBoxLayout()
        self.reproduce_button = QPushButton("Reproduce")
        self.reproduce_button.setToolTip("Re-train from the recorded data, spec and seed and "
                                         "check the holdout predictions are identical")
        self.reproduce_button.clicked.connect(self.reproduce_selected)
        self.register_button = QPushButton("Register…")
        self.register_button.setToolTip("Register this run as a new version of a model")
        self.register_button.clicked.connect(self.register_selected)
        if core_registry is None or not hasattr(core_registry, "register"):
            self.register_button.hide()  # not setVisible(True): unparented, it would be a window
        buttons.addWidget(self.reproduce_button)
        buttons.addWidget(self.register_button)
        buttons.addStretch(1)
        il.addLayout(buttons)
        self.info_tabs = QTabWidget()
        self.info_tabs.setDocumentMode(True)
        row_height = self.fontMetrics().height() + 6
        self.metrics_model = GridModel(["Metric", "Holdout", "CV mean ± std"], self)
        self.params_model = GridModel(["Parameter", "Value"], self)
        self.metrics_table = grid_view(self.metrics_model, row_height)
        self.params_table = grid_view(self.params_model, row_height)
        self.spec_text = QPlainTextEdit()
        self.env_text = QPlainTextEdit()
        for t in (self.spec_text, self.env_text):
            t.setReadOnly(True)
            t.setFont(MONO)
            t.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.info_tabs.addTab(self.metrics_table, "Metrics")
        self.info_tabs.addTab(self.params_table, "Params")
        self.info_tabs.addTab(self.spec_text, "Spec")
        self.info_tabs.addTab(self.env_text, "Env")
        self.info_tabs.setTabToolTip(3, "Environment: Python, platform, package versions, "
                                        "artifacts")
        il.addWidget(self.info_tabs, 1)
        self.detail_canvas = RunPanels()
        self.detail_canvas.done.connect(self._maybe_loaded)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(info)
        split.addWidget(self.detail_canvas)
        split.setSizes([240, 700])
        split.setChildrenCollapsible(False)
        # A fifth of any change in width goes to the tables, the rest to the plots.
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 4)
        info.setMinimumWidth(220)
        outer.addWidget(split)
        self.detail_split = split
        self.detail_stack.addWidget(page)
        return self.detail_stack

    def current_run_id(self) -> int | None:
        return self._shown_run

    def _show_run(self, run_id: int | None) -> None:
        """Show run `run_id`: the run is read in a worker, then its plots in another."""
        self._shown_run = run_id
        if run_id is None:
            self._shown_key = None
            self.detail_stack.setCurrentIndex(0)
            return
        store = self.store
        task = self.start("run", lambda progress, cancelled: training.get_run(store, run_id),
                          self._on_run, on_failed=lambda msg: self._on_run_failed(run_id, msg))
        task.done.connect(self._maybe_loaded)

    def _on_run_failed(self, run_id: int, message: str) -> None:
        if run_id == self._shown_run:
            self._shown_key = None
            self.detail_empty.setText(message)
            self.detail_stack.setCurrentIndex(0)

    def _on_run(self, run: dict[str, Any]) -> None:
        if run["id"] != self._shown_run:
            return
        self.detail_stack.setCurrentIndex(1)
        finished = run["status"] == "finished"
        self.reproduce_button.setEnabled(finished and not self._has_job_for(run["id"]))
        self._register_finished = finished
        self._update_register_button()
        # Matplotlib draws on the GUI thread (one panel per turn, see RunPanels): a reload of the
        # runs table that leaves the same run selected must not redraw it.
        key = (run["id"], run["status"], run.get("predictions_sha256"))
        if key == self._shown_key:
            return
        self._shown_key = key
        self.shown_run = run
        record = self.run_record(run["id"])
        full = record["dataset"] if record else f"#{run['dataset_id']}"
        name = short_name(full)  # a long dataset name must not widen the column (whole in the tip)
        self.detail_header.setToolTip(f"dataset {full}" if name != full else "")
        extra = ""
        if run.get("reproduces"):
            extra += f" · reproduces run {run['reproduces']}"
        if run.get("sweep_id"):
            extra += f" · sweep {run['sweep_id']}"
        self.detail_header.setText(
            f"<span style='font-size:12pt'><b>Run {run['id']}</b> · {run['algorithm']}</span> "
            f"<span style='color:{state_color(run['status'])}'>"
            f"<b>{run['status']}</b></span><br>"
            f"<span style='color:{palette.color('muted')}'>{name} → {run['target']} "
            f"({run['task']}), seed {run['seed']}</span><br>"
            f"<span style='color:{palette.color('faint')}'>{short_time(run['created_at'])} by "
            f"{run['created_by']} · {fmt_duration(run.get('duration_s'))}{extra}</span>"
            + (f"<br><span style='color:{palette.color('bad')}'>{html(run.get('error') or '')}"
               f"</span>"
               if not finished and run.get("error") else ""))
        self.metrics_model.set_grid(metric_cells(run))
        self.metrics_table.resizeColumnsToContents()
        self.params_model.set_grid(param_cells(run))
        self.params_table.resizeColumnsToContents()
        self.spec_text.setPlainText(json.dumps(run.get("spec") or {}, indent=2, default=str))
        env = dict(run.get("environment") or {})
        env["predictions_sha256"] = run.get("predictions_sha256")
        env["artifacts"] = run.get("artifacts")
        self.env_text.setPlainText(json.dumps(env, indent=2, default=str))
        if not finished:
            self.detail_canvas.show_message(f"Run {run['id']} is {run['status']}: no plots")
            return
        # The plots artifact is read (hash-checked) and decoded in a worker; the panels then
        # draw one per event-loop turn.
        store = self.store
        task = self.start("plots", lambda progress, cancelled: training.load_plots(store, run),
                          lambda plots: self._on_plots(run, key, plots),
                          on_failed=lambda msg: self._on_plots_failed(run, key, msg))
        task.done.connect(self._maybe_loaded)

    def _on_plots(self, run: dict[str, Any], key: tuple, plots: dict[str, Any]) -> None:
        if key == self._shown_key:  # else another run was selected meanwhile
            self.detail_canvas.show_panels(run_panels(run, plots))

    def _on_plots_failed(self, run: dict[str, Any], key: tuple, message: str) -> None:
        if key == self._shown_key:  # a missing or corrupt artifact: say so, keep the pane alive
            self.detail_canvas.show_message(
                f"The plots of run {run['id']} cannot be read: {message}")

    def _detail_busy(self) -> bool:
        return self.is_busy("run") or self.is_busy("plots") or self.detail_canvas.is_busy()

    def _has_job_for(self, run_id: int) -> bool:
        return any(j.kind == "reproduce" and j.run_id == run_id and j.state in ("queued", "running")
                   for j in self.jobs)

    # -- reproduce and register ---------------------------------------------------------------
    def reproduce_selected(self) -> Job | None:
        run_id = self._shown_run
        if run_id is None:
            return None
        job = self._enqueue(Job("reproduce", f"Reproduce run {run_id}", run_id=run_id))
        self.reproduce_button.setEnabled(False)
        return job

    def _report_reproduce(self, result: dict[str, Any]) -> None:
        rid, new = result["run_id"], result.get("new_run_id")
        if result.get("identical"):
            text = (f"Run {rid} reproduced exactly: run {new} has identical holdout predictions "
                    f"(sha256 {result['predictions_sha256']['new'][:12]}…).")
            self._log(text)
            self.notify(text, "info", "Reproduced")
        else:
            changes = result.get("changes") or ["the predictions differ"]
            text = (f"Run {rid} was NOT reproduced exactly"
                    + (f" (new run {new})" if new else "") + ". What changed:\n\n• "
                    + "\n• ".join(changes))
            self._log(text.replace("\n\n", " ").replace("\n", " "))
            self.message.emit(f"Run {rid} was not reproduced exactly")
            self.notify(text, "warning", "Not reproduced")

    register_refusal: str | None = None  # why this user may not register (None: may)
    _register_finished = False

    def set_register_refusal(self, refusal: str | None) -> None:
        self.register_refusal = refusal
        self._update_register_button()

    def _update_register_button(self) -> None:
        """Register… is for a finished run, one registration at a time, and the roles that may
        register (disabled before the first click, the core's reason as its tooltip)."""
        if not hasattr(self, "_register_tip"):
            self._register_tip = self.register_button.toolTip()
        self.register_button.setEnabled(self._register_finished and not self.is_busy("register")
                                        and self.register_refusal is None)
        self.register_button.setToolTip(self.register_refusal or self._register_tip)

    def register_selected(self) -> None:
        run_id = self._shown_run
        if run_id is None or core_registry is None:
            return
        run = self.run_record(run_id) or self.shown_run or {}
        suggestion = f"{run.get('target')}_{run.get('algorithm')}".replace("-", "_")
        name, ok = QInputDialog.getText(self, "Register model",
                                        f"Register run {run_id} as a new version of model:",
                                        text=suggestion)
        if not ok or not name.strip():
            return
        self.register(run_id, name.strip())

    def register(self, run_id: int, name: str):
        store = self.store
        task = self.start(
            "register", lambda progress, cancelled: core_registry.register(store, run_id, name),
            self._on_registered, on_failed=lambda msg: self.notify(
                f"Run {run_id} was not registered as {name}:\n\n{msg}", "error",
                "Register failed"))
        self.register_button.setEnabled(False)
        task.done.connect(self._on_register_done)
        return task

    @while_alive
    def _on_register_done(self) -> None:
        self._update_register_button()

    def _on_registered(self, version: dict[str, Any]) -> None:
        checks = version.get("checks") or []
        failed = [c for c in checks if not c.get("passed")]
        text = (f"Registered run {version['run_id']} as {version['model']}:{version['version']} "
                f"({version['status']}); {len(checks) - len(failed)} of {len(checks)} checks "
                f"passed" + ("; failing: " + ", ".join(c["name"] for c in failed) if failed
                             else ""))
        self._log(text)
        self.notify(text, "info", "Registered")
