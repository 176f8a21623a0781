"""Widgets the panes share: the empty state, the progress strip, and the layout every list pane
uses (a list and its detail side by side, or an empty state while there is nothing to list)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QPainter
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QSizePolicy, QSplitter, QStackedWidget, QVBoxLayout, QWidget)

from . import palette


class EmptyState(QWidget):
    """Shown while a pane has nothing to list: a bold title, a grey note and centred buttons.

    `buttons` are (attribute, caption) pairs; each button is set as that attribute, e.g.
    `go_button`. The note is `self.text`.
    """

    def __init__(self, title: str, text: str, buttons: list[tuple[str, str]], *,
                 wrap: bool = True, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        self.title = QLabel(title)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.title.setFont(font)
        self.text = QLabel(text)
        self.text.setStyleSheet(f"color: {palette.color('muted')};")
        for label in (self.title, self.text):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setWordWrap(wrap)
            layout.addWidget(label)
        layout.addSpacing(16)
        row = QHBoxLayout()
        row.addStretch(1)
        for attribute, caption in buttons:
            button = QPushButton(caption)
            button.setMinimumSize(160, 34)
            setattr(self, attribute, button)
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(3)


class ProgressStrip(QFrame):
    """A strip under a pane: what runs (`label`), how far (`bar`) and, when it can be stopped,
    `cancel_button` (else None). Hidden when idle."""

    def __init__(self, object_name: str, cancellable: bool = False, parent=None):
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setStyleSheet(f"#{object_name} {{ background: {palette.color('info_bg')}; "
                           f"border-top: 1px solid {palette.color('info_border')}; }}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 12, 6)
        self.label = ElidedLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setFixedWidth(260)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.bar)
        self.cancel_button = QPushButton("Cancel") if cancellable else None
        if self.cancel_button:
            layout.addWidget(self.cancel_button)
        self.hide()

    def finish(self, text: str) -> None:
        """The task ended: say how (`text`, e.g. "Import of a.csv failed"), empty the bar, and
        step aside until the next task shows the strip again."""
        self.label.setText(text)
        self.bar.setValue(0)
        if self.cancel_button:
            self.cancel_button.setEnabled(False)
        self.hide()


class ElidedLabel(QLabel):
    """One line that never widens its layout: cut with "…" in the middle when it does not fit
    (a long file path keeps its start and its name), whole in the tooltip."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)

    def paintEvent(self, event) -> None:
        rect = self.contentsRect()
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideMiddle,
                                              rect.width())
        # As QLabel paints its text, so a style sheet's colour still applies.
        self.style().drawItemText(QPainter(self), rect, int(self.alignment()), self.palette(),
                                  self.isEnabled(), shown, self.foregroundRole())


class ImportBar(ProgressStrip):
    """Progress of the running import, with Cancel (the Monitoring pane uses it too)."""

    def __init__(self, parent=None):
        super().__init__("importBar", cancellable=True, parent=parent)


def side_by_side(left: QWidget, right: QWidget, sizes: list[int]) -> QSplitter:
    """`left` and `right` in a splitter; the right side takes the spare width, neither collapses."""
    splitter = QSplitter(Qt.Orientation.Horizontal)
    splitter.addWidget(left)
    splitter.addWidget(right)
    splitter.setStretchFactor(0, 0)
    splitter.setStretchFactor(1, 1)
    splitter.setSizes(sizes)
    splitter.setChildrenCollapsible(False)
    return splitter


def empty_or_main(owner: QWidget, empty: QWidget, main: QWidget,
                  strip: QWidget | None = None) -> QStackedWidget:
    """Fill `owner` with pages: `empty` (page 0) while there is nothing to list, else `main`
    (page 1); `strip`, if given, below them."""
    pages = QStackedWidget()
    pages.addWidget(empty)
    pages.addWidget(main)
    layout = QVBoxLayout(owner)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(0)
    layout.addWidget(pages, 1)
    if strip is not None:
        layout.addWidget(strip)
    return pages


def section_heading(text: str) -> QLabel:
    """The bold, slightly larger title over a pane's list (Datasets, Models, Waiting for
    review)."""
    label = QLabel(text)
    font = QFont(label.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 1.2)
    label.setFont(font)
    return label
