"""Runs as flat records, the filter language over them (roc_auc>0.8 algorithm=knn ...), and the
pane's filter box."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLineEdit

from ... import palette
from .common import text_of

FILTER_HELP = ("Filter: any text, or field expressions such as roc_auc>0.8  algorithm=random_forest"
               "  cv.r2>=0.5  max_depth=none  (space = and)")


def flatten_run(run: dict[str, Any], dataset_names: dict[int, str]) -> dict[str, Any]:
    """One runs-table record: display columns plus `fields` (every param and metric) for filters."""
    metrics = run.get("metrics") or {}
    holdout, cv = metrics.get("holdout") or {}, metrics.get("cv") or {}
    rec = {"id": run["id"], "status": run["status"],
           "dataset": dataset_names.get(run["dataset_id"], f"#{run['dataset_id']}"),
           "algorithm": run.get("algorithm"), "target": run.get("target"),
           "task": run.get("task"), "seed": run.get("seed"), "who": run.get("created_by"),
           "when": run.get("created_at"), "duration_s": run.get("duration_s"),
           "sweep_id": run.get("sweep_id")}
    fields: dict[str, Any] = {k: v for k, v in rec.items()}
    fields["created_by"] = rec["who"]
    fields["duration"] = rec["duration_s"]
    for name, value in (run.get("params") or {}).items():
        fields[name.lower()] = value
    for name, value in holdout.items():
        rec[f"m.{name}"] = value
        fields[name.lower()] = value
        fields[f"holdout.{name}".lower()] = value
    for name, summary in cv.items():
        mean = (summary or {}).get("mean")
        rec[f"cv.{name}"] = mean
        fields[f"cv.{name}".lower()] = mean
        fields[f"cv_{name}".lower()] = mean
    rec["fields"] = fields
    rec["text"] = " ".join(f"{k}={text_of(v)}" for k, v in fields.items()).lower()
    return rec


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

    def matches(self, rec: dict[str, Any]) -> bool:
        if self.field is None:
            return self.value in rec["text"]
        fields = rec["fields"]
        if self.field not in fields:
            return False
        have = fields[self.field]
        want = self.value
        if want in ("none", "null", ""):
            return (have is None) == (self.op in ("=", "=="))
        if have is None:
            return False
        if isinstance(have, (int, float)) and not isinstance(have, bool):
            try:
                number = float(want)
            except ValueError:
                return False
            return _OPS[self.op](float(have), number)
        if self.op in ("=", "=="):
            return text_of(have).lower() == want
        if self.op == "!=":
            return text_of(have).lower() != want
        return _OPS[self.op](text_of(have).lower(), want)


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


def known_fields(records: Sequence[dict[str, Any]]) -> set[str]:
    known: set[str] = set()
    for rec in records:
        known.update(rec["fields"])
    return known


def filter_records(records: Sequence[dict[str, Any]], text: str,
                   known: set[str] | None = None) -> tuple[set[int] | None, list[str]]:
    """Ids of the records matching `text` (None = no filter) and the unknown field names."""
    terms = parse_filter(text)
    if not terms:
        return None, []
    if known is None:
        known = known_fields(records)
    unknown = sorted({t.field for t in terms if t.field is not None and t.field not in known})
    ids = {rec["id"] for rec in records if all(t.matches(rec) for t in terms)}
    return ids, unknown


class RunFilter:
    """The filter box over the runs table (a part of the Experiments pane)."""

    def _build_filter(self) -> QLineEdit:
        self._known: set[str] | None = None  # the records' field names, once per load
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
        text = self.filter_edit.text()
        records = self.runs_model.records()
        if self._known is None:  # once per load, not per keystroke
            self._known = known_fields(records)
        ids, unknown = filter_records(records, text, self._known)
        self.runs_proxy.set_accepted(ids)
        total = len(records)
        shown = total if ids is None else len(ids)  # runs, not rows: sweeps group theirs
        text = f"{shown:,} of {total:,} runs" if ids is not None else f"{total:,} runs"
        if unknown:
            text += f" · unknown field {', '.join(unknown)}"
        self.count_label.setText(text)
        self.count_label.setStyleSheet(palette.css_text("bad" if unknown else "muted"))
