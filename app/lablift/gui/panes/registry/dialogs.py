"""The Registry pane's dialogs: a run on its own (when no Experiments pane can show it), the
model card's narrative fields, and the text of the rollback confirmation."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QLabel, QPlainTextEdit,
                               QTextBrowser, QVBoxLayout)

from ....core import modelcard
from ... import palette
from ...evidence import fmt
from ...format import short_time


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


def rollback_question(plan: dict[str, Any]) -> str:
    """The confirmation of a rollback: the alias, from which version to which, what it skips."""
    skipped = list(plan.get("skipped") or [])
    text = (f"Roll back {plan['model']}:{plan['alias']} from {plan['from']} to {plan['to']}?\n\n"
            f"{plan['to']} is the alias's previous target that it may still point at"
            + (" (skipping " + ", ".join(f"{s['ref']}, {s['status']}" for s in skipped) + ")"
               if skipped else "")
            + ". The move is recorded in the audit log; rolling back again goes further back.")
    return text
