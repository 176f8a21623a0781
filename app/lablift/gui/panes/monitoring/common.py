"""What the Monitoring pane's modules share: names, texts and small HTML helpers."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel

from ... import palette

PREDICTION = "prediction"  # the model's output, drawn as one more feature
NO_BATCHES = "Ingest a production batch or a serve.py prediction log to see drift."


def bold(label: QLabel, scale: float = 1.2) -> QLabel:
    font = QFont(label.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * scale)
    label.setFont(font)
    return label


def status_badge(status: str) -> str:
    fg, bg = palette.badge(status)
    return (f"<span style='background:{bg}; color:{fg}; font-weight:600'>&nbsp;{status}"
            f"&nbsp;</span>")


def esc(text: Any) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def plural(n: int, word: str, suffix: str = "s") -> str:
    """'1 batch', '3 batches' (suffix 'es'), '0 alerts'."""
    return f"{n:,} {word}{suffix if n != 1 else ''}"


def sentence(text: str) -> str:
    """`text` with a capital first letter (a core refusal shown as a tooltip)."""
    return text[:1].upper() + text[1:]


def ingest_summary(name: str, batches: list[dict[str, Any]]) -> str:
    """One line on what an ingest of file `name` found, linking to its alerts and findings."""
    n_alerts = sum(len(b.get("alerts") or []) for b in batches)
    n_findings = sum(len(b.get("quality") or []) for b in batches)
    drifted = [b for b in batches if b.get("dataset_drift")]
    if len(batches) == 1:
        b = batches[0]
        head = (f"<b>Batch #{b['id']}</b> from {esc(name)}: {b['rows']:,} rows, "
                f"{b.get('n_drifted') or 0} of {b.get('n_columns') or 0} features drifted"
                + (f" — <b style='color:{palette.color('bad')}'>dataset drift</b>"
                   if drifted else ""))
    else:
        head = (f"<b>{len(batches)} batches</b> (#{batches[0]['id']}–#{batches[-1]['id']}) "
                f"from {esc(name)}; {len(drifted)} with dataset drift")
    parts = [head]
    if n_alerts:
        parts.append(f"<a href='alerts'>{plural(n_alerts, 'alert')}</a>")
    parts.append(f"<a href='quality'>{plural(n_findings, 'data-quality finding')}</a>"
                 if n_findings else "no data-quality findings")
    return " · ".join(parts)
