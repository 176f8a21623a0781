"""The sweep dialog: grid or random search over the train form's hyperparameters, each one
fixed at the form's value or varied (a list of values, or a range / choices to sample), run
locally or on the Dask scheduler named in the settings.

What it describes is checked here with the catalogue's own rules (and core.sweeps.check_space),
so a refusal names the hyperparameter before anything is queued; the pane queues the sweep.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QDialog, QDialogButtonBox, QFormLayout,
                               QFrame, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QRadioButton, QScrollArea, QSpinBox, QStackedWidget, QVBoxLayout,
                               QWidget)

from ....core import catalogue, sweeps
from ....core.errors import LabliftError
from ... import palette
from ...notifications import notify
from ...settings import SCHEDULER_KEY, local_workers_setting, scheduler_setting
from .common import bold, text_of
from .job_queue import Job
from .train_form import SWEEP_TIP

DASK_KEY = SCHEDULER_KEY  # "compute/dask_scheduler", set in File → Settings… → Compute
NO_DASK_TIP = ("No Dask scheduler is set: enter its address (tcp://host:8786) in "
               "File → Settings… → Compute")
FIXED, VALUES, RANGE, CHOICES = range(4)  # pages of a parameter's editor


def default_workers() -> int:
    """The settings' local workers (min(2, cores) unless set; -1 there is every core)."""
    cores = os.cpu_count() or 1
    n = local_workers_setting()
    return cores if n == -1 else max(1, min(n, cores))


@dataclass
class SweepPlan:
    """What the dialog asks core.sweeps.sweep to do."""
    mode: str  # grid | random
    runs: int
    grid: dict[str, list] = field(default_factory=dict)
    random: int | None = None
    space: dict[str, dict] | None = None
    seed: int = 0
    backend: str = "local"
    n_jobs: int = 1
    scheduler: str | None = None

    @property
    def varied(self) -> list[str]:
        return list(self.grid or self.space or {})


def _split(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _suggested_values(p: catalogue.Hyperparameter, value: Any) -> str:
    """A starting list for the grid: every choice, or the value and its neighbours."""
    if p.type == "bool":
        return "true, false"
    if p.type == "choice":
        return ", ".join(text_of(c) for c in p.choices)
    if value is None:
        return "none"
    if p.log and value > 0:
        near = [value / 10, value, value * 10]
        return ", ".join(text_of(v) for v in near if p.low <= v <= p.high)
    return text_of(value)


class ParamRow:
    """One hyperparameter's widgets: name, Vary, and its editor for the mode."""

    def __init__(self, p: catalogue.Hyperparameter, value: Any, on_change):
        self.p, self.value = p, value
        tip = f"<b>{p.name}</b>: {p.help}<br>Allowed: {p.rule()}"
        self.label = QLabel(p.name)
        self.label.setToolTip(tip)
        self.vary = QCheckBox()
        self.vary.setToolTip(f"Sweep {p.name} (unchecked: every run uses {text_of(value)})")
        self.vary.toggled.connect(on_change)
        self.stack = QStackedWidget()
        fixed = QLabel(f"{text_of(value)}  (the form's value)")
        fixed.setStyleSheet(f"color: {palette.color('faint')};")
        fixed.setToolTip("Every run uses this value; check Vary to sweep it")
        self.values_edit = QLineEdit(_suggested_values(p, value))
        self.values_edit.setPlaceholderText("values, comma-separated")
        self.values_edit.setToolTip(f"Values to try, comma-separated; each must be {p.rule()}")
        range_box = QWidget()
        rl = QHBoxLayout(range_box)
        rl.setContentsMargins(0, 0, 0, 0)
        low, high = p.search or (p.low, p.high)
        self.low_edit = QLineEdit("" if low is None else text_of(low))
        self.high_edit = QLineEdit("" if high is None else text_of(high))
        for edit, which in ((self.low_edit, "lowest"), (self.high_edit, "highest")):
            edit.setToolTip(f"The {which} value sampled; {p.rule()}")
        self.log_box = QCheckBox("log")
        self.log_box.setChecked(bool(p.log))
        self.log_box.setToolTip("Sample evenly in the logarithm (for scales like 0.001…1000)")
        rl.addWidget(self.low_edit, 1)
        rl.addWidget(QLabel("to"))
        rl.addWidget(self.high_edit, 1)
        rl.addWidget(self.log_box)
        self.choices_edit = QLineEdit(_suggested_values(p, value) if p.type in ("choice", "bool")
                                      else "")
        self.choices_edit.setPlaceholderText("choices, comma-separated")
        self.choices_edit.setToolTip(f"Choices sampled with equal chance; {p.rule()}")
        for page in (fixed, self.values_edit, range_box, self.choices_edit):
            self.stack.addWidget(page)
        for edit in (self.values_edit, self.low_edit, self.high_edit, self.choices_edit):
            edit.textChanged.connect(on_change)
        self.log_box.toggled.connect(on_change)

    @property
    def numeric(self) -> bool:
        return self.p.type in ("int", "float")

    def show_mode(self, mode: str) -> None:
        if not self.vary.isChecked():
            page = FIXED
        elif mode == "grid":
            page = VALUES
        else:
            page = RANGE if self.numeric else CHOICES
        self.stack.setCurrentIndex(page)

    def grid_values(self, algorithm: str) -> list:
        texts = _split(self.values_edit.text())
        if not texts:
            raise LabliftError(f"{self.p.name}: give at least one value (comma-separated)")
        return list(dict.fromkeys(self.p.coerce(t, algorithm) for t in texts))

    def range_entry(self) -> dict:
        if not self.numeric:
            return {"choices": _split(self.choices_edit.text())}
        entry: dict[str, Any] = {"log": self.log_box.isChecked()}
        for key, edit in (("low", self.low_edit), ("high", self.high_edit)):
            text = edit.text().strip()
            if not text:
                raise LabliftError(f"{self.p.name}: give the {key} end of the range")
            try:
                entry[key] = self.p.coerce(text, "")
            except LabliftError:
                raise LabliftError(f"{self.p.name} {key} must be {self.p.rule()}, got "
                                   f"{text!r}") from None
        return entry


class SweepDialog(QDialog):
    """Describe a sweep; `plan()` checks it; Start accepts only a valid one (`accepted_plan`)."""

    def __init__(self, algorithm: str, task: str, values: dict[str, Any], seed: int,
                 what: str, parent=None):
        super().__init__(parent)
        self.algorithm, self.task = algorithm, task
        self.accepted_plan: SweepPlan | None = None
        algo = catalogue.get(algorithm)
        self.setWindowTitle(f"Sweep {algo.label.lower()}")
        layout = QVBoxLayout(self)
        heading = QLabel(f"Sweep {algo.label.lower()}")
        bold(heading, 1.2)
        layout.addWidget(heading)
        sub = QLabel(what)
        sub.setStyleSheet(f"color: {palette.color('muted')};")
        sub.setWordWrap(True)
        layout.addWidget(sub)

        mode_row = QHBoxLayout()
        self.grid_radio = QRadioButton("Grid")
        self.grid_radio.setToolTip("Every combination of the listed values is one run")
        self.random_radio = QRadioButton("Random")
        self.random_radio.setToolTip("Runs sample each varied hyperparameter from its range")
        self.mode_group = QButtonGroup(self)
        for b in (self.grid_radio, self.random_radio):
            self.mode_group.addButton(b)
            mode_row.addWidget(b)
        self.grid_radio.setChecked(True)
        self.trials = QSpinBox()
        self.trials.setRange(1, sweeps.MAX_CONFIGS)
        self.trials.setValue(10)
        self.trials.setToolTip("How many configurations to sample (one run each)")
        self.seed = QSpinBox()
        self.seed.setRange(0, 999999)
        self.seed.setValue(seed)
        self.seed.setToolTip("Seeds the sampling, and (as the form's Seed) the split and the "
                             "estimators")
        self.random_options = QWidget()
        ro = QHBoxLayout(self.random_options)
        ro.setContentsMargins(12, 0, 0, 0)
        for text, w in (("Trials", self.trials), ("Seed", self.seed)):
            ro.addWidget(QLabel(text))
            ro.addWidget(w)
        mode_row.addWidget(self.random_options)
        mode_row.addStretch(1)
        mode_form = QFormLayout()
        mode_form.addRow("Search", mode_row)
        layout.addLayout(mode_form)

        params_box = QGroupBox("Hyperparameters")
        grid = QGridLayout()
        grid.setColumnStretch(2, 1)
        grid.setVerticalSpacing(4)
        for c, title in enumerate(("Parameter", "Vary", "Value, values (grid) or range (random)")):
            head = QLabel(title)
            head.setStyleSheet(f"color: {palette.color('muted')};")
            grid.addWidget(head, 0, c)
        self.rows: dict[str, ParamRow] = {}
        for n, p in enumerate(algo.hyperparameters(task), start=1):
            row = self.rows[p.name] = ParamRow(p, values.get(p.name, p.default), self._changed)
            grid.addWidget(row.label, n, 0)
            grid.addWidget(row.vary, n, 1, alignment=Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(row.stack, n, 2)
        inner = QWidget()
        inner_layout = QVBoxLayout(inner)
        inner_layout.setContentsMargins(0, 0, 0, 0)
        inner_layout.addLayout(grid)
        inner_layout.addStretch(1)
        if not self.rows:
            inner_layout.insertWidget(0, QLabel("This algorithm has no hyperparameters to sweep."))
        scroll = QScrollArea()
        scroll.setWidget(inner)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        pl = QVBoxLayout(params_box)
        pl.addWidget(scroll)
        layout.addWidget(params_box, 1)

        where_box = QGroupBox("Where")
        wl = QGridLayout(where_box)
        self.local_radio = QRadioButton("Local")
        self.local_radio.setToolTip("Worker processes on this computer")
        self.workers = QSpinBox()
        self.workers.setRange(1, max(1, os.cpu_count() or 1))
        self.workers.setValue(default_workers())
        self.workers.setSuffix(" workers")
        self.workers.setToolTip("Runs computed at once (each in its own process)")
        self.scheduler = scheduler_setting() or ""
        self.dask_radio = QRadioButton("Dask")
        self.dask_label = QLabel(self.scheduler or "no scheduler set (File → Settings… → "
                                 "Compute)")
        self.dask_label.setStyleSheet(f"color: {palette.color('muted')};")
        if self.scheduler:
            self.dask_radio.setToolTip(f"Runs computed on the Dask cluster at {self.scheduler} "
                                       "(File → Settings… → Compute)")
        else:
            self.dask_radio.setEnabled(False)
            self.dask_radio.setToolTip(NO_DASK_TIP)
        self.dask_label.setToolTip(self.dask_radio.toolTip())
        self.where_group = QButtonGroup(self)
        self.where_group.addButton(self.local_radio)
        self.where_group.addButton(self.dask_radio)
        self.local_radio.setChecked(True)
        wl.addWidget(self.local_radio, 0, 0)
        wl.addWidget(self.workers, 0, 1)
        wl.addWidget(self.dask_radio, 1, 0)
        wl.addWidget(self.dask_label, 1, 1)
        wl.setColumnStretch(2, 1)
        layout.addWidget(where_box)

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start_button = self.buttons.addButton("Start sweep",
                                                   QDialogButtonBox.ButtonRole.AcceptRole)
        self.start_button.setDefault(True)
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self.mode_group.buttonToggled.connect(lambda *_a: self._changed())
        self.where_group.buttonToggled.connect(lambda *_a: self._changed())
        self.trials.valueChanged.connect(self._changed)
        self.resize(620, min(720, 330 + 34 * len(self.rows)))
        self._changed()

    # -- state ---------------------------------------------------------------------------
    def mode(self) -> str:
        return "grid" if self.grid_radio.isChecked() else "random"

    def set_mode(self, mode: str) -> None:
        (self.grid_radio if mode == "grid" else self.random_radio).setChecked(True)

    def vary(self, name: str, on: bool = True) -> ParamRow:
        row = self.rows[name]
        row.vary.setChecked(on)
        return row

    def _changed(self, *_args) -> None:
        mode = self.mode()
        self.random_options.setVisible(mode == "random")
        self.workers.setEnabled(self.local_radio.isChecked())
        for row in self.rows.values():
            row.show_mode(mode)
        plan, errors = self.plan()
        if errors:
            self.summary.setText(errors[0])
            self.summary.setStyleSheet(f"color: {palette.color('bad')};")
        else:
            where = (f"on Dask at {plan.scheduler}" if plan.backend == "dask"
                     else f"locally with {plan.n_jobs} worker{'s' * (plan.n_jobs > 1)}")
            how = (" × ".join(f"{len(v)} {k}" for k, v in plan.grid.items())
                   if plan.mode == "grid" else f"sampling {', '.join(plan.varied)}")
            self.summary.setText(f"Starts {plan.runs} run{'s' * (plan.runs != 1)} ({how}), "
                                 f"{where}.")
            self.summary.setStyleSheet(f"color: {palette.color('good')};")
        self.start_button.setToolTip(self.summary.text())

    def plan(self) -> tuple[SweepPlan | None, list[str]]:
        """The sweep described, or (None, errors naming each hyperparameter or field)."""
        mode, errors = self.mode(), []
        varied = [row for row in self.rows.values() if row.vary.isChecked()]
        if not varied:
            errors.append("Check Vary beside at least one hyperparameter to sweep it.")
        dask = self.dask_radio.isChecked()
        plan = SweepPlan(mode=mode, runs=0, backend="dask" if dask else "local",
                         n_jobs=-1 if dask else self.workers.value(),
                         scheduler=self.scheduler if dask else None, seed=self.seed.value())
        if mode == "grid":
            for row in varied:
                try:
                    plan.grid[row.p.name] = row.grid_values(self.algorithm)
                except LabliftError as exc:
                    errors.append(str(exc))
            plan.runs = math.prod(len(v) for v in plan.grid.values()) if plan.grid else 0
            if plan.runs > sweeps.MAX_CONFIGS:
                errors.append(f"The grid has {plan.runs:,} combinations; at most "
                              f"{sweeps.MAX_CONFIGS:,}.")
        else:
            space = {}
            for row in varied:
                try:
                    space[row.p.name] = row.range_entry()
                except LabliftError as exc:
                    errors.append(str(exc))
            try:
                plan.space = sweeps.check_space(self.algorithm, self.task, space)
            except LabliftError as exc:
                errors.append(str(exc))
            plan.random = plan.runs = self.trials.value()
        return (None, errors) if errors else (plan, [])

    def start(self) -> None:
        plan, errors = self.plan()
        if errors:
            notify("Please fix these first:\n\n• " + "\n• ".join(errors), "warning",
                   "Cannot start the sweep", parent=self)
            return
        self.accepted_plan = plan
        self.accept()


class SweepLauncher:
    """The Experiments pane part that opens the dialog on the form's selection and queues the
    sweep as one job (needs the train form, `notify` and `_enqueue`)."""

    sweep_dialog: SweepDialog | None = None
    sweep_refusal: str | None = None  # why this user may not sweep (None: may)

    def set_sweep_refusal(self, refusal: str | None) -> None:
        self.sweep_refusal = refusal
        self.sweep_button.setEnabled(refusal is None)
        self.sweep_button.setToolTip(refusal or SWEEP_TIP)

    def open_sweep_dialog(self) -> SweepDialog | None:
        """The dialog over the form's dataset, target, features and algorithm (its values as
        the fixed ones), or None after naming what to fix first."""
        if self.sweep_refusal:
            self.notify(self.sweep_refusal, "warning", "Cannot sweep")
            return None
        spec, errors = self.build_spec()
        if errors:
            self.notify("Please fix these first:\n\n• " + "\n• ".join(errors), "warning",
                        "Cannot sweep")
            return None
        label = (f"{self.dataset_combo.currentText()} → {spec['target']} · "
                 f"{self.algorithm_combo.currentText()}")
        what = (f"{self.dataset_combo.currentText()} → {spec['target']}, "
                f"{len(spec['features'])} features, CV {spec['cv'] or 'off'}: one run per "
                f"configuration, grouped under the sweep in the runs table.")
        if self.sweep_dialog is not None:
            self.sweep_dialog.deleteLater()
        dialog = self.sweep_dialog = SweepDialog(spec["algorithm"], self.chosen_task(),
                                                 self.hyperform.values(), spec["seed"], what,
                                                 parent=self)
        dialog.accepted.connect(lambda: self.start_sweep(spec, dialog.accepted_plan, label))
        dialog.open()
        return dialog

    def start_sweep(self, spec: dict[str, Any], plan: SweepPlan, label: str) -> Job:
        """Queue `plan` over `spec` (the form's values fix what the sweep does not vary)."""
        spec = {**spec, "params": {k: v for k, v in spec["params"].items()
                                   if k not in plan.varied}}
        if plan.mode == "random":
            spec["seed"] = plan.seed
        extra = {"grid": plan.grid or None, "random": plan.random, "space": plan.space,
                 "n_jobs": plan.n_jobs, "backend": plan.backend, "scheduler": plan.scheduler}
        return self._enqueue(Job("sweep", f"{label} · {plan.mode} sweep, {plan.runs} runs",
                                 spec=spec, extra=extra))
