"""Choosing the drift test per column in the ingest options dialog (issue 6).

Which tests are offered follows core/drift.py: KS and Wasserstein need a numeric column
(drift.NUMERIC_ONLY), so a categorical column never offers them. Beyond what drift.py
rejects, two tests that would silently measure something else are not offered: the Z-test
compares the share of one value, so it needs a column with at most 2 values; chi-squared,
Jensen-Shannon and Z count each distinct value, so a numeric column offers them only when it
has at most drift.LOW_CARDINALITY values (where drift.py itself treats it like a category).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFrame, QGridLayout, QHBoxLayout, QLabel,
                               QPushButton, QScrollArea, QToolButton, QVBoxLayout, QWidget)

from ..core import catalogue, datasets, drift
from . import palette

DEFAULT = None  # the combo's data for "use the default"
TEST_TEXT = {
    "ks": "KS (Kolmogorov-Smirnov, p-value)",
    "wasserstein": "Wasserstein / reference std (distance)",
    "chisquare": "chi² (p-value)",
    "z": "Z-test, two proportions (p-value)",
    "jensenshannon": "Jensen-Shannon (distance)",
    "psi": "PSI (distance)",
}
COUNT_TESTS = ("chisquare", "z", "jensenshannon")  # per-value counts
MAX_ROWS = 10  # columns listed before the list scrolls
SCROLL_ROWS = 8  # rows shown when it scrolls (the dialog fits a small screen)


def drift_inputs(store, run: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's input columns that drift is measured on: [{name, kind, n_values}].

    kind is the one monitoring uses (core.inputs.input_schema splits features with
    catalogue.column_groups); n_values is the dataset profile's distinct count (None if
    unknown). Only the profile is read, not the training rows, so this is cheap.
    """
    dataset = datasets.get(store, run["dataset_id"])
    profile = dataset["profile"]
    features = run["spec"]["features"]
    numeric, categorical, _ = catalogue.column_groups(profile, features)
    unique = {c["name"]: c.get("unique") for c in profile["columns"]}
    out = []
    for name in features:
        if name in numeric or name in categorical:
            out.append({"name": name, "kind": "numeric" if name in numeric else "categorical",
                        "n_values": unique.get(name)})
    return out


def test_choices(kind: str, n_values: int | None = None) -> list[str]:
    """The tests offered for a column, in drift.TESTS order (see the module docstring)."""
    out = []
    for test in drift.TESTS:
        if kind != "numeric" and test in drift.NUMERIC_ONLY:
            continue  # drift.py refuses these
        if kind == "numeric" and test in COUNT_TESTS and (
                n_values is None or n_values > drift.LOW_CARDINALITY):
            continue
        if test == "z" and n_values is not None and n_values > 2:
            continue
        out.append(test)
    return out


class DriftTestsPanel(QWidget):
    """A collapsed "Advanced: drift test per column" section: one combo per input column."""

    changed = Signal()

    def __init__(self, inputs: list[dict[str, Any]], configured: dict[str, str] | None = None,
                 parent=None):
        super().__init__(parent)
        configured = configured or {}
        self.combos: dict[str, QComboBox] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(4)
        head = QHBoxLayout()
        self.toggle = QToolButton()
        self.toggle.setText("Advanced: drift test per column")
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setAutoRaise(True)
        self.toggle.clicked.connect(lambda: self.set_expanded(not self.is_expanded()))
        self.summary = QLabel()
        self.summary.setStyleSheet(palette.css_text("muted"))
        head.addWidget(self.toggle)
        head.addWidget(self.summary, 1)
        outer.addLayout(head)

        self.body = QFrame()
        self.body.setFrameShape(QFrame.Shape.StyledPanel)
        bl = QVBoxLayout(self.body)
        bl.setContentsMargins(8, 6, 8, 6)
        hint = QLabel("“default” picks the test as Evidently does (KS or chi² up to 1000 "
                      "training rows, else Wasserstein or Jensen-Shannon). Only tests that "
                      "fit the column are listed; PSI is reported beside every test.")
        hint.setWordWrap(True)
        hint.setStyleSheet(palette.css_text("muted"))
        bl.addWidget(hint)
        grid_host = QWidget()
        grid = QGridLayout(grid_host)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(3)
        grid.setColumnStretch(2, 1)
        for row, col in enumerate(inputs):
            name, kind, n = col["name"], col["kind"], col.get("n_values")
            grid.addWidget(QLabel(name), row, 0)
            kind_text = kind if n is None else f"{kind}, {n:,} values"
            kind_label = QLabel(kind_text)
            kind_label.setStyleSheet(palette.css_text("faint"))
            grid.addWidget(kind_label, row, 1)
            combo = QComboBox()
            # shrinkable: the long names show in the popup, the dialog stays narrow
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(18)
            setting = configured.get(name)
            combo.addItem(f"default ({setting}, from settings)" if setting
                          else "default (auto)", DEFAULT)
            for test in test_choices(kind, n):
                combo.addItem(TEST_TEXT.get(test, test), test)
            combo.setAccessibleName(f"drift test for {name}")
            combo.currentIndexChanged.connect(self._update_summary)
            grid.addWidget(combo, row, 2)
            self.combos[name] = combo
        self.grid, self.grid_host, self.scroll = grid, grid_host, None
        if len(inputs) <= MAX_ROWS:
            bl.addWidget(grid_host)
        else:  # long schemas scroll; sized in _fit_scroll once the combos are polished
            self.scroll = QScrollArea()
            self.scroll.setWidget(grid_host)
            self.scroll.setWidgetResizable(True)
            self.scroll.setFrameShape(QFrame.Shape.NoFrame)
            self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            bl.addWidget(self.scroll)
        reset_row = QHBoxLayout()
        reset_row.addStretch(1)
        self.reset_button = QPushButton("All default")
        self.reset_button.clicked.connect(self.reset)
        reset_row.addWidget(self.reset_button)
        bl.addLayout(reset_row)
        outer.addWidget(self.body)
        self.body.setVisible(False)
        if not inputs:
            self.toggle.setEnabled(False)
        self._update_summary()

    def set_expanded(self, expanded: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded
                                 else Qt.ArrowType.RightArrow)
        self.body.setVisible(expanded)
        if expanded:
            self._fit_scroll()
        win = self.window()
        if win is not None and win is not self:
            win.adjustSize()

    def _fit_scroll(self) -> None:
        """SCROLL_ROWS whole rows high, and wide enough that the scrollbar covers no combo."""
        if self.scroll is None:
            return
        hint = self.grid_host.sizeHint()
        spacing = self.grid.verticalSpacing()
        pitch = (hint.height() + spacing) / max(len(self.combos), 1)
        self.scroll.setFixedHeight(round(SCROLL_ROWS * pitch - spacing) + 2)
        self.scroll.setMinimumWidth(hint.width()
                                    + self.scroll.verticalScrollBar().sizeHint().width() + 6)

    def is_expanded(self) -> bool:
        return self.body.isVisibleTo(self)

    def choices(self, name: str) -> list[str]:
        """The tests offered for `name` (without the default entry)."""
        combo = self.combos[name]
        return [combo.itemData(i) for i in range(1, combo.count())]

    def set_test(self, name: str, test: str | None) -> None:
        combo = self.combos[name]
        i = combo.findData(test)
        if i < 0:
            raise ValueError(f"drift test {test!r} is not offered for column {name!r}")
        combo.setCurrentIndex(i)

    def tests(self) -> dict[str, str]:
        """{column: test} for the columns not left at the default."""
        return {name: combo.currentData() for name, combo in self.combos.items()
                if combo.currentData() is not DEFAULT}

    def reset(self) -> None:
        for combo in self.combos.values():
            combo.setCurrentIndex(0)

    def _update_summary(self, *_: Any) -> None:
        chosen = self.tests()
        if not self.combos:
            self.summary.setText("(no model inputs in this file)")
        elif not chosen:
            self.summary.setText("all columns: default")
        else:
            listed = ", ".join(f"{c} → {t}" for c, t in list(chosen.items())[:3])
            more = f" +{len(chosen) - 3} more" if len(chosen) > 3 else ""
            self.summary.setText(f"{listed}{more}")
        self.changed.emit()
