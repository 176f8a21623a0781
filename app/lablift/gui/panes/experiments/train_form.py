"""The training form: dataset version, target, task, features, algorithm and hyperparameters,
split and seed; the spec it describes is checked before anything is queued."""

from __future__ import annotations

from typing import Any, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QFrame, QGroupBox,
                               QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QScrollArea, QSpinBox, QVBoxLayout, QWidget)

from ....core import catalogue, datasets
from ....core.errors import LabliftError
from ... import context_menu, palette
from ...hyperform import HyperparameterForm
from .common import bold
from .job_queue import Job

ID_ROLE = Qt.ItemDataRole.UserRole
SWEEP_TIP = ("Grid or random search over these hyperparameters: one run per configuration, "
             "grouped under the sweep in the runs table")


def _spin(widget, tip: str, low, high, value, step=None):
    widget.setRange(low, high)
    if step is not None:
        widget.setSingleStep(step)
    widget.setValue(value)
    widget.setToolTip(tip)
    return widget


class TrainForm:
    """The form part of the Experiments pane (needs `start`, `notify` and `_enqueue`)."""

    def _build_form(self) -> QWidget:
        """The scrolling form with Train under it."""
        self._dataset_ids: list[int] = []
        self._dataset: dict[str, Any] | None = None  # the chosen version, with its profile
        self._checked: dict[str, bool] = {}
        self._inferred_task = "classification"
        self._loading_dataset: int | None = None
        self._wanted_dataset: int | None = None  # asked for by another pane, not listed yet
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(10, 10, 10, 6)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        body_layout.addLayout(form)
        # No stretch below: the spare height goes to the Features list (the one row that
        # grows, see _build_features), so a tall window shows more columns to pick from.
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(4)
        heading = QLabel("Train a model")
        bold(heading, 1.2)
        form.addRow(heading)
        self.dataset_combo = QComboBox()
        self.dataset_combo.setToolTip("Dataset version (NAME:VERSION) to train on")
        self.dataset_combo.currentIndexChanged.connect(self._on_dataset)
        form.addRow("Dataset", self.dataset_combo)
        self.target_combo = QComboBox()
        self.target_combo.setToolTip("The column the model predicts")
        self.target_combo.currentIndexChanged.connect(self._on_target)
        form.addRow("Target", self.target_combo)
        self.task_combo = QComboBox()
        self.task_combo.addItem("auto", None)
        self.task_combo.addItem("classification", "classification")
        self.task_combo.addItem("regression", "regression")
        self.task_combo.setToolTip("Inferred from the target; choose one to override")
        self.task_combo.currentIndexChanged.connect(self._on_task)
        form.addRow("Task", self.task_combo)
        form.addRow("Features", self._build_features())
        self.sensitive_combo = QComboBox()
        self.sensitive_combo.setToolTip("Optional column for the fairness report (e.g. gender)")
        form.addRow("Sensitive", self.sensitive_combo)
        self.algorithm_combo = QComboBox()
        self.algorithm_combo.currentIndexChanged.connect(self._on_algorithm)
        form.addRow("Algorithm", self.algorithm_combo)
        self.hyper_box = QGroupBox("Hyperparameters")
        hl = QVBoxLayout(self.hyper_box)
        hl.setContentsMargins(8, 6, 8, 6)
        self.hyperform = HyperparameterForm()
        hl.addWidget(self.hyperform)
        form.addRow(self.hyper_box)

        split = QHBoxLayout()
        self.test_size = _spin(QDoubleSpinBox(), "Fraction of rows held out for the final "
                               "evaluation (stratified for classification)", 0.05, 0.9, 0.2, 0.05)
        self.test_size.setDecimals(2)
        self.cv_folds = _spin(QSpinBox(), "k-fold cross-validation on the training rows (off: "
                              "holdout only)", 1, 20, 5)
        self.cv_folds.setSpecialValueText("off")
        self.seed = _spin(QSpinBox(), "Random seed of the split, the folds and the estimator",
                          0, 999999, 0)
        for label, w in (("Test", self.test_size), ("CV", self.cv_folds), ("Seed", self.seed)):
            lab = QLabel(label)
            lab.setToolTip(w.toolTip())
            split.addWidget(lab)
            split.addWidget(w, 1)
        form.addRow(split)  # spans both columns: three spin boxes need the width

        for combo in (self.dataset_combo, self.target_combo, self.task_combo,
                      self.sensitive_combo, self.algorithm_combo):
            # Long names must not widen the form past its column (they elide instead).
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)

        scroll = QScrollArea()
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Train stays visible under the scrolling form, whatever its length.
        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.train_button.setMinimumHeight(32)
        self.train_button.setToolTip("Queue a run with these settings; runs train one after "
                                     "another in the background")
        self.train_button.clicked.connect(self.train)
        self.sweep_button = QPushButton("Sweep…")
        self.sweep_button.setMinimumHeight(32)
        self.sweep_button.setToolTip(SWEEP_TIP)
        self.sweep_button.clicked.connect(self.open_sweep_dialog)  # SweepLauncher
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 4)
        tl.setSpacing(4)
        tl.addWidget(scroll, 1)
        train_row = QHBoxLayout()
        train_row.setContentsMargins(10, 0, 10, 0)
        train_row.addWidget(self.train_button, 1)
        train_row.addWidget(self.sweep_button)
        tl.addLayout(train_row)
        return top

    def _build_features(self) -> QWidget:
        box = QWidget()
        fl = QVBoxLayout(box)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.setSpacing(2)
        self.features_list = QListWidget()
        self.features_list.setToolTip("Columns the model uses. Datetime, text and id-like "
                                      "columns are off by default.")
        self.features_list.setMinimumHeight(120)
        self.features_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Middle: 'sensor_…_03_calibrated  (numeric)' tells long, similar names apart.
        self.features_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.features_list.itemChanged.connect(self._on_feature_toggled)
        context_menu.install(self.features_list, name="features")
        fl.addWidget(self.features_list)
        fbuttons = QHBoxLayout()
        self.features_count = QLabel()
        self.features_count.setStyleSheet(palette.css_text("muted"))
        fbuttons.addWidget(self.features_count, 1)
        for text, on in (("All", True), ("None", False)):
            b = QPushButton(text)
            b.setFlat(True)
            b.setStyleSheet(f"QPushButton {{ color: {palette.color('accent')}; padding: 0 6px; }}")
            b.clicked.connect(lambda _c=False, on=on: self._check_all(on))
            fbuttons.addWidget(b)
        fl.addLayout(fbuttons)
        return box

    # -- datasets: the list comes with the runs (see Pane.reload_runs), a profile on choice -----
    def _show_datasets(self, rows: list[dict[str, Any]]) -> None:
        ids = [r["id"] for r in rows]
        self.pages.setCurrentIndex(1 if rows else 0)
        if ids == self._dataset_ids:
            return
        keep = self.dataset_combo.currentData()
        previous = set(self._dataset_ids)
        self._dataset_ids = ids
        self.dataset_combo.blockSignals(True)
        self.dataset_combo.clear()
        for r in rows:
            self.dataset_combo.addItem(f"{r['name']}:{r['version']}", r["id"])
        self.dataset_combo.blockSignals(False)
        if not rows:
            self._dataset = None
            return
        # The newest version is chosen at first, and again when a new one was imported since
        # (that is the one the user came to train on); otherwise the choice is kept.
        added = [r for r in rows if r["id"] not in previous]
        newest = max(added or rows, key=lambda r: (r["created_at"], r["id"]))["id"]
        chosen = keep if keep in ids and not (added and previous) else newest
        if self._wanted_dataset in ids:
            chosen, self._wanted_dataset = self._wanted_dataset, None
        self.dataset_combo.setCurrentIndex(ids.index(chosen))
        if self._dataset is None or self._dataset["id"] != chosen:
            self._on_dataset()

    def choose_dataset(self, dataset_id: int) -> None:
        """Put dataset version `dataset_id` in the form (Datasets → Train on this dataset)."""
        if dataset_id in self._dataset_ids:
            self.dataset_combo.setCurrentIndex(self._dataset_ids.index(dataset_id))
        else:  # imported since the list was read: chosen when the reload brings it
            self._wanted_dataset = dataset_id
            self.reload_runs()

    def _on_dataset(self, *_args) -> None:
        """Read the chosen version's profile in a worker; the form follows it when it arrives."""
        dataset_id = self.dataset_combo.currentData()
        if dataset_id is None:
            return
        if self._loading_dataset == dataset_id and self.is_busy("dataset"):
            return  # already on its way
        self._loading_dataset = dataset_id
        store = self.store
        self.start("dataset", lambda progress, cancelled: datasets.get(store, dataset_id),
                   self._on_dataset_loaded)

    def _on_dataset_loaded(self, dataset: dict[str, Any]) -> None:
        if dataset["id"] != self.dataset_combo.currentData():
            return  # another version was chosen meanwhile
        self._dataset = dataset
        columns = self._columns()
        names = [c["name"] for c in columns]
        keep = self.target_combo.currentText()
        self.target_combo.blockSignals(True)
        self.target_combo.clear()
        for c in columns:
            self.target_combo.addItem(c["name"])
            self.target_combo.setItemData(self.target_combo.count() - 1,
                                          f"{c['name']}: {c['kind']} ({c['dtype']})",
                                          Qt.ItemDataRole.ToolTipRole)
        self.target_combo.blockSignals(False)
        keep_sensitive = self.sensitive_combo.currentText()
        self.sensitive_combo.clear()
        self.sensitive_combo.addItem("(none)", None)
        for n in names:
            self.sensitive_combo.addItem(n, n)
        if keep_sensitive in names:
            self.sensitive_combo.setCurrentText(keep_sensitive)
        if names:
            # The last column is the usual place for a label.
            self.target_combo.setCurrentIndex(names.index(keep) if keep in names
                                              else len(names) - 1)
        self._on_target()

    def _columns(self) -> list[dict[str, Any]]:
        return (self._dataset or {}).get("profile", {}).get("columns", [])

    # -- target, features, task, algorithm ---------------------------------------------------
    def _on_target(self, *_args) -> None:
        target = self.target_combo.currentText()
        by_name = {c["name"]: c for c in self._columns()}
        col = by_name.get(target)
        inferred = catalogue.infer_task(col) if col else "classification"
        self.task_combo.setItemText(0, f"auto ({inferred})")
        self._inferred_task = inferred
        self.features_list.blockSignals(True)
        self.features_list.clear()
        rows = (self._dataset or {}).get("profile", {}).get("rows", 0)
        for c in self._columns():
            if c["name"] == target:
                continue
            item = QListWidgetItem(f"{c['name']}  ({c['kind']})")
            item.setData(ID_ROLE, c["name"])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            default = c["kind"] not in catalogue.EXCLUDED_KINDS and c.get("missing", 0) < rows
            checked = self._checked.get(c["name"], default)
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            tip = f"{c['name']}: {c['kind']}, {c['dtype']}"
            if not default:
                tip += " (off by default: " + (
                    "all missing" if c.get("missing", 0) >= rows else f"{c['kind']} column") + ")"
                item.setForeground(palette.brush("faint"))
            item.setToolTip(tip)
            self.features_list.addItem(item)
        self.features_list.blockSignals(False)
        self._update_feature_count()
        self._on_task()

    def _on_feature_toggled(self, item: QListWidgetItem) -> None:
        self._checked[item.data(ID_ROLE)] = item.checkState() == Qt.CheckState.Checked
        self._update_feature_count()

    def _check_all(self, on: bool) -> None:
        self._check(lambda _name: on)

    def set_features(self, names: Sequence[str]) -> None:
        """Check exactly `names` (used by tests and by "train again with these settings")."""
        wanted = set(names)
        self._check(lambda name: name in wanted)

    def _check(self, on) -> None:
        self.features_list.blockSignals(True)
        for i in range(self.features_list.count()):
            item = self.features_list.item(i)
            checked = on(item.data(ID_ROLE))
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            self._checked[item.data(ID_ROLE)] = checked
        self.features_list.blockSignals(False)
        self._update_feature_count()

    def _update_feature_count(self) -> None:
        n = len(self.checked_features())
        self.features_count.setText(f"{n} of {self.features_list.count()} checked")

    def checked_features(self) -> list[str]:
        return [self.features_list.item(i).data(ID_ROLE) for i in range(self.features_list.count())
                if self.features_list.item(i).checkState() == Qt.CheckState.Checked]

    def chosen_task(self) -> str:
        """classification or regression: the one chosen, else the one inferred from the target."""
        return self.task_combo.currentData() or self._inferred_task

    def _on_task(self, *_args) -> None:
        task = self.chosen_task()
        keep = self.algorithm_combo.currentData()
        self.algorithm_combo.blockSignals(True)
        self.algorithm_combo.clear()
        for algo in catalogue.algorithms(task):
            self.algorithm_combo.addItem(algo.label, algo.name)
        names = [a.name for a in catalogue.algorithms(task)]
        chosen = keep if keep in names else catalogue.DEFAULT_ALGORITHM[task]
        self.algorithm_combo.setCurrentIndex(names.index(chosen))
        self.algorithm_combo.blockSignals(False)
        self._on_algorithm()

    def _on_algorithm(self, *_args) -> None:
        name = self.algorithm_combo.currentData()
        if name is None:
            return
        algo = catalogue.get(name)
        task = self.chosen_task()
        self.algorithm_combo.setToolTip(f"{algo.label}: {algo.estimators.get(task, '')}")
        if self.hyperform.algorithm != name or self.hyperform.task != task:
            self.hyperform.set_algorithm(name, task)
        self.hyper_box.setTitle(f"Hyperparameters of {algo.label.lower()}")

    def set_algorithm(self, name: str) -> None:
        index = self.algorithm_combo.findData(name)
        if index < 0:
            raise LookupError(f"algorithm {name} is not offered for {self.chosen_task()}")
        self.algorithm_combo.setCurrentIndex(index)

    def set_target(self, name: str) -> None:
        index = self.target_combo.findText(name)
        if index < 0:
            raise LookupError(f"no column {name}")
        self.target_combo.setCurrentIndex(index)

    # -- the spec, and Train -------------------------------------------------------------------
    def build_spec(self) -> tuple[dict[str, Any] | None, list[str]]:
        """The spec the form describes, or (None, errors) — checked before any work starts."""
        errors = []
        dataset_id = self.dataset_combo.currentData()
        target = self.target_combo.currentText()
        algorithm = self.algorithm_combo.currentData()
        features = self.checked_features()
        task = self.chosen_task()
        if dataset_id is None:
            errors.append("Choose a dataset version (import one in the Datasets pane).")
        elif (self._dataset or {}).get("id") != dataset_id:
            errors.append("The columns of the chosen dataset version are still being read; "
                          "try again in a moment.")
        if not target:
            errors.append("Choose a target column.")
        by_name = {c["name"]: c for c in self._columns()}
        if not features:
            errors.append("Check at least one feature column.")
        elif all(by_name[f]["kind"] == "datetime" for f in features if f in by_name):
            errors.append("Datetime columns are not used as features: check at least one "
                          "numeric, categorical or boolean column.")
        col = by_name.get(target)
        if col and task == "regression" and col["kind"] != "numeric":
            errors.append(f"Regression needs a numeric target; {target} is {col['kind']}. "
                          f"Choose classification.")
        params = self.hyperform.values()
        if algorithm is None:
            errors.append(f"Choose an algorithm for {task}.")
        else:
            try:
                params = catalogue.validate_params(algorithm, task, params)
            except LabliftError as exc:
                errors.append(str(exc))
        cv = self.cv_folds.value()
        if errors:
            return None, errors
        spec = {"dataset_id": dataset_id, "target": target, "features": features,
                "algorithm": algorithm, "params": params,
                "task": self.task_combo.currentData(),
                "test_size": round(self.test_size.value(), 4),
                "cv": 0 if cv <= 1 else cv, "seed": self.seed.value(),
                "sensitive": self.sensitive_combo.currentData()}
        return spec, []

    train_refusal: str | None = None  # why this user may not train (None: may)

    def set_train_refusal(self, refusal: str | None) -> None:
        """Disable Train before the first click for a role that may not, saying why."""
        self.train_refusal = refusal
        self.train_button.setEnabled(refusal is None)
        if not hasattr(self, "_train_tip"):
            self._train_tip = self.train_button.toolTip()
        self.train_button.setToolTip(refusal or self._train_tip)

    def train(self) -> Job | None:
        """Queue a run with the form's settings (a refusal names what to fix; nothing queued)."""
        if self.train_refusal:
            self.notify(self.train_refusal, "warning", "Cannot train")
            return None
        spec, errors = self.build_spec()
        if errors:
            self.notify("Please fix these first:\n\n• " + "\n• ".join(errors), "warning",
                        "Cannot train")
            return None
        label = (f"{self.dataset_combo.currentText()} → {spec['target']} · "
                 f"{self.algorithm_combo.currentText()}")
        return self._enqueue(Job("train", label, spec=spec))
