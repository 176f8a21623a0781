"""Help → Tour: the lifecycle, step by step, for each role (analyst, reviewer, ops).

A dock ("Tour", never modal) with a track per role: docked on the right when the window has
room, else floating in the window's corner farthest from what the step outlines. Each step names the
pane and its shortcut, says what to do there in the words of its buttons, and the role it
needs next to the current user's. Showing a step selects its pane (`window.select_pane`) and
outlines the widget it is about with `Highlight`, a frame drawn over the window that follows
the widget (the panes load in workers and switch pages, so it is looked up again while shown).
The user's role is read in a worker, again whenever the window opens another store or user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QPoint, QRect, Qt, QTimer
from PySide6.QtGui import QPainter, QPen
from PySide6.QtWidgets import (QDockWidget, QHBoxLayout, QLabel, QPushButton, QTabBar,
                               QVBoxLayout, QWidget)

from . import palette
from .workers import run_task, while_alive

FOLLOW_MS = 250  # how often the outline looks where its widget is now
PANEL_WIDTH = 300
FLOATING_SIZE = (320, 350)
MARGIN = 12  # between a floating panel and the window's edge
PANE_KEYS = {"datasets": "Ctrl+1", "experiments": "Ctrl+2", "registry": "Ctrl+3",
             "approvals": "Ctrl+4", "monitoring": "Ctrl+5"}
Locate = Callable[[QWidget], "QWidget | None"]


def first_visible(pane: QWidget, *paths: str) -> QWidget | None:
    """The first of the pane's widgets named by dotted attribute `paths` that is visible."""
    for path in paths:
        widget: Any = pane
        for name in path.split("."):
            widget = getattr(widget, name, None)
            if widget is None:
                break
        if isinstance(widget, QWidget) and shiboken6.isValid(widget) and widget.isVisible():
            return widget
    return None


@dataclass(frozen=True)
class Step:
    title: str
    pane: str
    text: str   # rich text, in the words the pane's buttons use
    role: tuple[str, ...] = ()  # roles that may do it (admin always may); () anyone
    targets: tuple[str, ...] = ()  # widgets to outline, the first visible one

    def locate(self, pane: QWidget) -> QWidget | None:
        return first_visible(pane, *self.targets)


TRACKS: dict[str, tuple[str, tuple[Step, ...]]] = {
    "analyst": ("Analyst", (
        Step("Bring in data", "datasets",
             "<b>Import…</b> (Ctrl+O) reads a CSV, TSV, Parquet or Excel file as a new dataset "
             "version; you can also drop files on the window. In an empty store, <b>Create "
             "sample project</b> imports the bundled loan applications and trains two runs for "
             "you. Select a version to see its <b>Data</b> and its <b>Profile</b>: each "
             "column's kind, missing values and a chart, with warnings.",
             ("analyst",), ("empty.project_button", "import_button")),
        Step("Train a model", "experiments",
             "Choose the <b>Dataset</b>, the <b>Target</b> column and an <b>Algorithm</b> with "
             "its <b>Hyperparameters</b>; <b>Sensitive</b> names a column for the fairness "
             "report. <b>Train</b> queues the run: runs train one after another in the "
             "background and <b>Cancel</b> stops the current one.",
             ("analyst",), ("train_button", "no_datasets.go_button")),
        Step("Compare runs", "experiments",
             "Select two or more runs in the <b>Runs</b> table (Ctrl/Shift+click) and press "
             "<b>Compare</b>: their metrics side by side, and the params that differ. Ctrl+F "
             "filters the runs.",
             (), ("compare_button", "no_datasets.go_button")),
        Step("Register the best run", "experiments",
             "Select a finished run; under <b>Run detail</b>, <b>Register…</b> makes it a new "
             "version of a model. Its checks (metric gates, and fairness when a sensitive "
             "column was given) run at once, and the version waits in Approvals for a "
             "reviewer: never you, as you registered it.",
             ("analyst",), ("register_button", "runs_view", "no_datasets.go_button")),
        Step("Follow your version", "registry",
             "<b>Models</b> lists every version with its status and aliases; on the right, its "
             "checks, fairness, model card and lineage. <b>Edit card…</b> fills in the model "
             "card the reviewer reads (analyst).",
             (), ("card_button", "tree", "empty.go_button")),
    )),
    "reviewer": ("Reviewer", (
        Step("The review queue", "approvals",
             "<b>Waiting for review</b> lists each pending version, who registered it and how "
             "many of its checks passed or failed.",
             ("reviewer",), ("view", "empty.go_button")),
        Step("Weigh the evidence", "approvals",
             "The tabs on the right hold the evidence: <b>Checks</b>, <b>Fairness</b>, "
             "<b>Model card</b>, <b>Lineage</b> (the run and the dataset version it came "
             "from), <b>vs production</b> and <b>History</b>.",
             ("reviewer",), ("evidence.tabs", "empty.go_button")),
        Step("Decide", "approvals",
             "Write a <b>Comment</b> (required to reject) and press <b>Approve</b> or "
             "<b>Reject</b>. A failing check blocks approval unless you give an <b>Override "
             "reason</b>. Nobody may decide a version they trained or registered.",
             ("reviewer",), ("decision.approve_button", "empty.go_button")),
        Step("What was decided", "registry",
             "Decided versions, their approvals (who, when, the comment) and their bundles stay "
             "in Registry; each decision is in the audit log.",
             (), ("tree", "empty.go_button")),
    )),
    "ops": ("Ops", (
        Step("Point production at it", "registry",
             "Select an approved version and press <b>Set alias…</b>: <b>production</b> may "
             "only point at an approved version.",
             ("ops",), ("alias_button", "empty.go_button")),
        Step("Export its bundle", "registry",
             "<b>Export bundle…</b> writes a folder that runs without Lablift: the model, "
             "<code>serve.py</code>, its schema, model card and lineage, and SHA256SUMS. Only an "
             "approved version is exported.",
             ("ops",), ("export_button", "empty.go_button")),
        Step("Watch it in production", "monitoring",
             "Choose the <b>Model version</b>, then <b>Ingest batch…</b> reads a CSV or Parquet "
             "batch, or a <code>serve.py --log</code> file. <b>Drift</b>, <b>Performance</b> "
             "and <b>Batches and data quality</b> show how live data compares with training.",
             ("ops", "analyst"), ("top.ingest_button", "no_batches_button",
                                  "empty.experiments_button")),
        Step("Alerts", "monitoring",
             "A drifting batch raises an alert: the version gets ⚠ and a banner across the "
             "window. On the <b>Alerts</b> tab, <b>Acknowledge</b> it once handled; "
             "<b>Retrain challenger…</b> (analyst) trains the same spec on the reference data "
             "plus the labelled batches: a pending challenger version.",
             ("ops", "analyst", "reviewer"), ("tabs", "empty.experiments_button")),
    )),
}
TRACK_OF_ROLE = {"analyst": "analyst", "reviewer": "reviewer", "ops": "ops"}


class Highlight(QWidget):
    """A coloured frame over `window` around one widget, following it while shown; it takes
    no clicks (they go to the widget under it)."""

    def __init__(self, window: QWidget):
        super().__init__(window)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._locate: Callable[[], QWidget | None] | None = None
        self.target: QWidget | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(FOLLOW_MS)
        self._timer.timeout.connect(self.follow)
        self.hide()

    def point_at(self, locate: Callable[[], QWidget | None]) -> None:
        self._locate = locate
        self.follow()
        self._timer.start()

    def clear(self) -> None:
        self._timer.stop()
        self._locate = self.target = None
        self.hide()

    def follow(self) -> None:
        window = self.parentWidget()
        target = self._locate() if self._locate is not None else None
        if target is None or not shiboken6.isValid(target) or not target.isVisible():
            self.target = None
            self.hide()
            return
        self.target = target
        rect = QRect(target.mapTo(window, QPoint(0, 0)), target.size()).adjusted(-4, -4, 4, 4)
        self.setGeometry(rect.intersected(window.rect()))
        self.show()
        self.raise_()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(palette.qcolor("outline"), 3))
        painter.drawRoundedRect(self.rect().adjusted(2, 2, -2, -2), 6, 6)


def _menu_path(window, *starts: str) -> str | None:
    """'File → Sign in as…' for the first menu action whose text starts with one of `starts`
    (the menus say what exists; this module does not assume another's actions)."""
    for menu_action in window.menuBar().actions():
        menu = menu_action.menu()
        if menu is None:
            continue
        for action in menu.actions():
            text = action.text().replace("&", "")
            if text.startswith(starts) and action.isVisible():
                return f"{menu_action.text().replace('&', '')} → {text}"
    return None


def read_people(store) -> dict[str, Any]:
    """The worker's read: the user's role and who holds each role (None when the store does
    not let this user list them)."""
    role = store.role()
    try:
        users = store.users()
    except Exception:  # a team store may not show its logins to everyone
        users = None
    return {"user": store.user, "role": role, "users": users}


class TourPanel(QDockWidget):
    """The Tour dock (see the module doc)."""

    def __init__(self, window):
        super().__init__("Tour", window)
        self.setObjectName("tourDock")
        self.window_ = window
        self.setAllowedAreas(Qt.DockWidgetArea.LeftDockWidgetArea
                             | Qt.DockWidgetArea.RightDockWidgetArea)
        self.people: dict[str, Any] | None = None
        self.track = "analyst"
        self.index = 0
        self.highlight = Highlight(window)
        body = QWidget()
        body.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        body.setObjectName("tourBody")  # a floating panel stands out from the window under it
        body.setStyleSheet(f"#tourBody {{ background: {palette.color('panel_bg')}; border: 1px "
                           f"solid {palette.color('info_border')}; }}")
        layout = QVBoxLayout(body)
        layout.setContentsMargins(10, 6, 10, 10)
        layout.setSpacing(8)
        self.tracks = QTabBar()
        self.tracks.setExpanding(True)
        self.track_keys = list(TRACKS)
        for key in self.track_keys:
            self.tracks.addTab(TRACKS[key][0])
        self.tracks.currentChanged.connect(lambda i: self.set_track(self.track_keys[i]))
        layout.addWidget(self.tracks)
        self.you = QLabel()
        self.you.setWordWrap(True)
        self.you.setStyleSheet(palette.css_text("muted"))
        layout.addWidget(self.you)
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        font = self.heading.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.heading.setFont(font)
        layout.addWidget(self.heading)
        self.where = QLabel()
        self.where.setStyleSheet(palette.css_text("accent"))
        layout.addWidget(self.where)
        self.body = QLabel()
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.RichText)
        self.body.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.body)
        self.needs = QLabel()
        self.needs.setWordWrap(True)
        self.needs.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.needs)
        layout.addStretch(1)
        buttons = QHBoxLayout()
        self.back_button = QPushButton("&Back")
        self.next_button = QPushButton("&Next")
        self.next_button.setDefault(True)
        self.back_button.clicked.connect(self.back)
        self.next_button.clicked.connect(self.next)
        buttons.addWidget(self.back_button)
        buttons.addStretch(1)
        buttons.addWidget(self.next_button)
        layout.addLayout(buttons)
        body.setMinimumWidth(250)
        self.setWidget(body)
        self.visibilityChanged.connect(self._on_visible)
        window.store_changed.connect(lambda _store: self.read_people())
        self.read_people()

    # -- who is touring -----------------------------------------------------------------
    def read_people(self) -> None:
        store = self.window_.store
        task = run_task(lambda progress, cancelled: read_people(store))
        task.finished.connect(self._on_people)
        task.failed.connect(self._on_people_failed)

    @while_alive
    def _on_people_failed(self, text: str) -> None:
        self.you.setText(f"Could not read your role: {text}")

    @while_alive
    def _on_people(self, people: dict[str, Any]) -> None:
        first = self.people is None
        self.people = people
        if first and people["role"] in TRACK_OF_ROLE:  # start on the user's own track
            self.set_track(TRACK_OF_ROLE[people["role"]])
        else:  # the words only: the user may have gone to another pane meanwhile
            self.show_step(select=False)

    def _holders(self, roles: tuple[str, ...]) -> list[str] | None:
        users = (self.people or {}).get("users")
        if users is None:
            return None
        # who holds the role itself first: an admin may too, but is not the example to give
        return ([u["name"] for u in users if u["role"] in roles]
                + [u["name"] for u in users if u["role"] == "admin" and "admin" not in roles])

    def _needs_text(self, step: Step) -> str:
        people = self.people
        if people is None:
            return f"<span style='color:{palette.color('muted')}'>Reading your role…</span>"
        user, role = people["user"], people["role"] or "not registered"
        if not step.role:
            return f"<span style='color:{palette.color('good')}'>Anyone may look here.</span>"
        need = " or ".join(step.role)
        if role == "admin" or role in step.role:
            return f"<span style='color:{palette.color('good')}'>Needs {need}: you may.</span>"
        track = TRACKS[self.track][0]
        text = f"You are {user} ({role}): these {track} steps need the role {need}"
        others = [n for n in self._holders(step.role) or [] if n.casefold() != user.casefold()]
        sign_in = _menu_path(self.window_, "Sign in")
        if others:
            text += f" (here: {', '.join(others[:3])})"
            text += f" — {sign_in}" if sign_in else self._switch_hint(others[0])
        elif self._holders(step.role) is not None:
            manage = _menu_path(self.window_, "Users and roles")
            how = manage or f"lablift users add NAME --role {step.role[0]}"
            text += f"; nobody here is one yet: an admin adds one ({how})."
        else:
            text += f" — {sign_in}" if sign_in else self._switch_hint("NAME")
        return f"<span style='color:{palette.color('warn')}'>{text}</span>"

    def _switch_hint(self, name: str) -> str:
        from .store_switching import is_team
        if is_team(self.window_.store):
            return " — connect as their database login (File → Connect to a team store…)."
        return f" — start Lablift as them: lablift --user {name}."

    # -- steps ----------------------------------------------------------------------------
    def steps(self) -> tuple[Step, ...]:
        return TRACKS[self.track][1]

    def current(self) -> Step:
        return self.steps()[self.index]

    def set_track(self, key: str) -> None:
        self.track, self.index = key, 0
        i = self.track_keys.index(key)
        if self.tracks.currentIndex() != i:
            self.tracks.blockSignals(True)
            self.tracks.setCurrentIndex(i)
            self.tracks.blockSignals(False)
        self.show_step()

    def next(self) -> None:
        if self.index + 1 < len(self.steps()):
            self.index += 1
            self.show_step()
        else:
            self.close()

    def back(self) -> None:
        if self.index > 0:
            self.index -= 1
            self.show_step()

    def show_step(self, select: bool = True) -> None:
        """Show the current step; with `select`, go to its pane and outline its widget."""
        steps, step = self.steps(), self.current()
        people = self.people
        you = "Reading who you are…" if people is None else (
            f"You are {people['user']} ({people['role'] or 'not registered'}).")
        self.you.setText(you)
        self.heading.setText(f"{self.index + 1} of {len(steps)}: {step.title}")
        pane = self.window_.panes.get(step.pane)
        title = getattr(pane, "title", None) or step.pane.capitalize()
        self.where.setText(f"Where: {title} ({PANE_KEYS.get(step.pane, '')})")
        self.body.setText(step.text)
        self.needs.setText(self._needs_text(step))
        self.back_button.setEnabled(self.index > 0)
        self.next_button.setText("&Finish" if self.index + 1 == len(steps) else "&Next")
        if not select or not self.isVisible():
            return
        try:
            pane = self.window_.select_pane(step.pane)
        except LookupError:
            self.highlight.clear()
            self.where.setText(f"Where: {title} (not available in this window)")
            return
        self.highlight.point_at(lambda: self._target(step))
        self.place()

    def _target(self, step: Step) -> QWidget | None:
        pane = self.window_.panes.get(step.pane)
        if pane is None or not shiboken6.isValid(pane) or not pane.isVisible():
            return None
        return step.locate(pane)

    def place(self) -> None:
        """A floating panel moves to the corner of the window farthest from the outlined
        widget, so that it never hides what the step is about (a docked one stays)."""
        if not self.isFloating():
            return
        window = self.window_
        frame = window.geometry()
        w, h = self.width(), self.height()
        corners = [QPoint(frame.right() - w - MARGIN, frame.bottom() - h - MARGIN),
                   QPoint(frame.left() + MARGIN, frame.bottom() - h - MARGIN),
                   QPoint(frame.right() - w - MARGIN, frame.top() + MARGIN),
                   QPoint(frame.left() + MARGIN, frame.top() + MARGIN)]
        target = self.highlight.target
        if target is not None and shiboken6.isValid(target):
            spot = QRect(target.mapToGlobal(QPoint(0, 0)), target.size()).center()
            corners.sort(key=lambda c: -((c.x() + w / 2 - spot.x()) ** 2
                                         + (c.y() + h / 2 - spot.y()) ** 2))
        self.move(corners[0])

    def _on_visible(self, visible: bool) -> None:
        if visible:
            self.show_step()
        else:
            self.highlight.clear()


def show_tour(window) -> TourPanel:
    """Help → Tour: show (or raise) the window's tour, docked on the right."""
    panel = window.findChild(TourPanel)
    if panel is None:
        panel = TourPanel(window)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, panel)
        central = window.centralWidget()
        if central.width() - central.minimumSizeHint().width() >= PANEL_WIDTH:
            window.resizeDocks([panel], [PANEL_WIDTH], Qt.Orientation.Horizontal)
        else:  # docked, it would push the window wider than the screen may be
            panel.setFloating(True)
            panel.resize(*FLOATING_SIZE)
    panel.show()
    panel.raise_()
    return panel
