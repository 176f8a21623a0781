"""The filter language over the runs (roc_auc>0.8 algorithm=knn ...), evaluated on the
runs' columns (runs_data.RunsData) in a worker, and the pane's filter box."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLineEdit

from ... import palette

FILTER_HELP = ("Filter: any text, or field expressions such as roc_auc>0.8  algorithm=random_forest"
               "  cv.r2>=0.5  max_depth=none  (space = and)")


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne, "==": operator.eq,
    "=": operator.eq, ">": operator.gt, "<": operator.lt}
_TERM = re.compile(r"^([A-Za-z_][\w.]*)(>=|<=|!=|==|=|>|<)(.*)$")
_SPACES_AROUND_OP = re.compile(r"\s*(>=|<=|!=|==|=|>|<)\s*")


@dataclass
class Term:
    field: str | None  # None: free text matched against every column
    op: str
    value: str

    def mask(self, data) -> np.ndarray:
        """Which runs of `data` (a RunsData) match: a field compares as a number when the
        run's value is one, else as lowercased text; a run without the field never matches."""
        if self.field is None:
            want = self.value
            return np.fromiter((want in t for t in data.text()), bool, data.n)
        found = data.field(self.field)
        want = self.value
        if want in ("none", "null", ""):
            return found.present & (found.none == (self.op in ("=", "==")))
        valued = found.present & ~found.none
        out = np.zeros(data.n, bool)
        try:
            number = float(want)
        except ValueError:
            number = None
        if number is not None:
            with np.errstate(invalid="ignore"):
                out |= valued & found.numeric & _OPS[self.op](found.number, number)
        text = valued & ~found.numeric
        if text.any():
            words = found.text[text]
            out[text] = np.fromiter((_OPS[self.op](w, want) for w in words), bool, len(words))
        return out


def parse_filter(text: str) -> list[Term]:
    """'roc_auc > 0.8 forest' -> [Term('roc_auc','>','0.8'), Term(None,'','forest')]."""
    text = _SPACES_AROUND_OP.sub(r"\1", text.strip().lower())
    terms = []
    for token in text.split():
        m = _TERM.match(token)
        if m:
            terms.append(Term(m.group(1), m.group(2), m.group(3).strip("'\"")))
        else:
            terms.append(Term(None, "", token))
    return terms


class RunFilter:
    """The filter box over the runs table (a part of the Experiments pane)."""

    def _build_filter(self) -> QLineEdit:
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(150)
        self._filter_timer.timeout.connect(self.apply_filter)
        edit = self.filter_edit = QLineEdit()
        edit.setPlaceholderText(FILTER_HELP)
        edit.setToolTip(
            "Free text matches any column, param or metric.\n"
            "FIELD OP VALUE with OP one of = != > >= < <= compares one field:\n"
            "  metrics (holdout): roc_auc accuracy f1 r2 rmse ...; CV means: cv.roc_auc\n"
            "  params: n_estimators max_depth C ...; columns: status algorithm dataset "
            "target who id\n"
            "Terms separated by spaces must all match.")
        edit.setClearButtonEnabled(True)
        edit.textChanged.connect(lambda _t: self._filter_timer.start())
        return edit

    def apply_filter(self) -> None:
        """Filter by the box's text: matched in a worker, shown when it is done
        (runs_arranged)."""
        self._filter_timer.stop()  # typed, then asked for: once is enough
        self.arrange_runs()

    def show_count(self, shown: int, total: int, filtered: bool, unknown: list[str]) -> None:
        # runs, not rows: sweeps group theirs
        text = f"{shown:,} of {total:,} runs" if filtered else f"{total:,} runs"
        if unknown:
            text += f" · unknown field {', '.join(unknown)}"
        self.count_label.setText(text)
        self.count_label.setStyleSheet(palette.css_text("bad" if unknown else "muted"))
