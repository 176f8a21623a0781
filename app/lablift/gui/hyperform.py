"""A hyperparameter form generated from the algorithm catalogue (core.catalogue descriptions).

int -> QSpinBox, float -> QDoubleSpinBox (ranges from the catalogue), choice -> QComboBox,
bool -> QCheckBox. A nullable number (e.g. max_depth) shows "none" at the bottom of its range
(Qt's specialValueText idiom). Tooltips carry the help text and the allowed values.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QAbstractSpinBox, QCheckBox, QComboBox, QDoubleSpinBox,
                               QFormLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from ..core import catalogue
from . import palette

INT_LIMIT = 2**31 - 1  # QSpinBox holds a C int


def _choice_text(value: Any) -> str:
    return "none" if value is None else str(value)


def _decimals(low: float, high: float) -> int:
    # Enough decimals to reach the lower bound (1e-6 -> 6), at least 3 for ordinary values.
    smallest = min(v for v in (abs(low), abs(high), 1.0) if v > 0) if (low or high) else 1.0
    return max(3, min(8, int(math.ceil(-math.log10(smallest))) + 1 if smallest < 1 else 3))


class HyperparameterForm(QWidget):
    """The hyperparameters of one algorithm for one task; `values()` / `set_values()`."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.algorithm: str | None = None
        self.task: str | None = None
        self.params: list[catalogue.Hyperparameter] = []
        self.editors: dict[str, QWidget] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setVerticalSpacing(4)
        outer.addLayout(self.form)
        buttons = QHBoxLayout()
        self.empty_label = QLabel("This algorithm has no tunable hyperparameters.")
        self.empty_label.setStyleSheet(palette.css_text("faint"))
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip("Put every hyperparameter back to the catalogue default")
        self.reset_button.clicked.connect(self.reset)
        buttons.addWidget(self.empty_label, 1)
        buttons.addStretch(0)
        buttons.addWidget(self.reset_button)
        outer.addLayout(buttons)

    # -- building -----------------------------------------------------------------------
    def set_algorithm(self, algorithm: str, task: str) -> None:
        """Rebuild the form for `algorithm` doing `task` (catalogue defaults)."""
        algo = catalogue.get(algorithm)
        self.algorithm, self.task = algorithm, task
        self.params = algo.hyperparameters(task)
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        for p in self.params:
            editor = self._editor(p)
            tip = f"<b>{p.name}</b>: {p.help}<br>Allowed: {p.rule()}<br>Default: " \
                  f"{_choice_text(p.default)}"
            editor.setToolTip(tip)
            label = QLabel(p.name)
            label.setToolTip(tip)
            self.editors[p.name] = editor
            self.form.addRow(label, editor)
        self.empty_label.setVisible(not self.params)
        self.reset_button.setEnabled(bool(self.params))
        self.reset()

    def _editor(self, p: catalogue.Hyperparameter) -> QWidget:
        if p.type == "bool":
            box = QCheckBox()
            box.toggled.connect(self.changed)
            return box
        if p.type == "choice":
            combo = QComboBox()
            for c in p.choices:
                combo.addItem(_choice_text(c))
            combo.currentIndexChanged.connect(self.changed)
            return combo
        if p.type == "int":
            spin = QSpinBox()
            low, high = int(p.low), int(min(p.high, INT_LIMIT))
            if p.nullable:  # the value below the range means None
                low -= 1
                spin.setSpecialValueText("none")
            spin.setRange(low, high)
        else:
            spin = QDoubleSpinBox()
            spin.setDecimals(_decimals(p.low, p.high))
            low = p.low
            if p.nullable:
                low = p.low - 1
                spin.setSpecialValueText("none")
            spin.setRange(low, p.high)
            if p.log:
                spin.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        spin.setKeyboardTracking(False)
        spin.setAccelerated(True)
        spin.valueChanged.connect(self.changed)
        return spin

    # -- values -------------------------------------------------------------------------
    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def reset(self) -> None:
        self.set_values(self.defaults())

    def set_values(self, values: dict[str, Any]) -> None:
        """Show `values` (names not in the form are ignored; each is checked by the catalogue)."""
        for p in self.params:
            if p.name not in values:
                continue
            value = p.coerce(values[p.name], self.algorithm)
            editor = self.editors[p.name]
            editor.blockSignals(True)
            if p.type == "bool":
                editor.setChecked(bool(value))
            elif p.type == "choice":
                editor.setCurrentIndex(list(p.choices).index(value))
            elif value is None:
                editor.setValue(editor.minimum())
            else:
                editor.setValue(value)
            editor.blockSignals(False)
        self.changed.emit()

    def values(self) -> dict[str, Any]:
        """Every hyperparameter as the catalogue expects it (None for a "none" number)."""
        out: dict[str, Any] = {}
        for p in self.params:
            editor = self.editors[p.name]
            if p.type == "bool":
                out[p.name] = editor.isChecked()
            elif p.type == "choice":
                out[p.name] = p.choices[editor.currentIndex()]
            elif p.nullable and editor.value() == editor.minimum():
                out[p.name] = None
            else:
                out[p.name] = int(editor.value()) if p.type == "int" else float(editor.value())
        return out

    def changed_values(self) -> dict[str, Any]:
        """Only the values that differ from the defaults (what a run's spec needs)."""
        defaults = self.defaults()
        return {k: v for k, v in self.values().items() if v != defaults.get(k)}
