"""First contact: the sample project offered by an empty store.

`SampleProjectOffer(pane, button)` runs core.sample_project.create for the Datasets pane in a
worker (the pane's task "sample project"), with its progress and Cancel in a strip under the
pane; then the pane re-reads the store and says what was made and what to do next.

`install(window)` adds the one-time welcome to the main window: when the window opens an empty
store (at start, or File → Open… another one), a banner offers the sample project (or, to a
user whose role may not make it, the tour). Once the sample project is made, the banner says
what to do next, with a button to the Approvals pane. Each store is welcomed once per window.
"""

from __future__ import annotations

from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QPushButton

from .format import metric
from .widgets import ProgressStrip
from .workers import run_task, while_alive

PURPOSE = "sample project"
BUTTON_TIP = ("Import the bundled sample (2,000 loan applications), train two models on it and "
              "register the better one for review: about ten seconds")
WELCOME = ("<b>Welcome to Lablift.</b> This store is empty. A sample project fills every pane "
           "with real data in about ten seconds: the bundled loan applications, two trained runs "
           "and a model version waiting for review. Help → Tour walks through it by role.")
WELCOME_NO_ROLE = ("<b>Welcome to Lablift.</b> This store is empty: {why}. "
                   "Help → Tour shows what each role does, and where.")


METRIC_NAMES = {"roc_auc": "ROC AUC", "r2": "R²", "accuracy": "accuracy"}


def describe(made: dict[str, Any]) -> str:
    """One paragraph: what the sample project made."""
    ds, version = made["dataset"], made["version"]
    runs = " and ".join(
        f"run {r['id']} ({r['label'].lower()}, {METRIC_NAMES.get(r['metric'], r['metric'])} "
        f"{metric(r['value'], 3)})" for r in made["runs"])
    failed = [c["name"] for c in version["checks"]
              if not c["passed"] and not c.get("informational")]
    checks = f"failing {', '.join(failed)}" if failed else "its checks passed"
    return (f"Sample project created: dataset {ds['name']}:{ds['version']} "
            f"({ds['rows']:,} rows), {runs}; run {made['best_run']} is registered as "
            f"{version['ref']}, pending review ({checks}).")


def brief(made: dict[str, Any]) -> str:
    """What was made, short enough for the status bar."""
    return (f"Sample project created: {made['dataset']['name']}, runs "
            f"{' and '.join(str(r['id']) for r in made['runs'])}, "
            f"{made['version']['ref']} pending review")


class SampleProjectOffer(QObject):
    """'Create sample project' for a pane: the worker, its progress strip, the outcome."""

    started = Signal()
    created = Signal(dict)  # what core.sample_project.create returned
    ended = Signal()        # after created, a refusal, a failure or a cancel

    def __init__(self, pane, button=None):
        super().__init__(pane)
        self.pane = pane
        self.button = button
        self.last: dict[str, Any] | None = None
        self._held: list[tuple[QPushButton, bool]] = []  # buttons disabled while it runs
        self.strip = ProgressStrip("sampleProjectBar", cancellable=True)
        self.strip.cancel_button.clicked.connect(self.cancel)
        layout = pane.layout()
        if layout is not None:  # under the pane's pages, like its import strip
            layout.addWidget(self.strip)
        if button is not None:
            button.setToolTip(BUTTON_TIP)
            button.clicked.connect(self.start)

    def is_running(self) -> bool:
        return self.pane.is_busy(PURPOSE)

    def start(self) -> None:
        if self.is_running():
            return
        refusal = getattr(self.pane, "import_refusal", None)
        if refusal:  # the role rule, as the pane already read it
            self.pane.notify(refusal, "warning", "Sample project refused")
            return
        store = self.pane.store

        def work(progress, cancelled):
            from ..core import sample_project  # training: pandas, scikit-learn (not at start)
            why = sample_project.refusal(store)
            if why is not None:
                return {"refused": why}
            return sample_project.create(store, progress=progress, cancelled=cancelled)

        task = self.pane.start(PURPOSE, work, self._on_result, progress=self._on_progress,
                               on_failed=self._on_failed, on_cancelled=self._on_cancelled)
        task.done.connect(self._on_done)
        if self.button is not None:  # it and its siblings (import, open sample): one at a time
            row = self.button.parentWidget().findChildren(QPushButton)
            self._held = [(b, b.isEnabled()) for b in row]
            for b, _ in self._held:
                b.setEnabled(False)
        self.strip.label.setText("Creating the sample project…")
        self.strip.bar.setValue(0)
        self.strip.cancel_button.setEnabled(True)
        self.strip.cancel_button.setText("Cancel")
        self.strip.show()
        self.pane.message.emit("Creating the sample project…")
        self.started.emit()

    def cancel(self) -> None:
        if self.is_running():
            self.pane.cancel(PURPOSE)
            self.strip.cancel_button.setEnabled(False)
            self.strip.cancel_button.setText("Cancelling…")

    def _on_progress(self, fraction: float, text: str) -> None:
        self.strip.bar.setValue(round(fraction * 100))
        self.strip.label.setText(f"Creating the sample project: {text}")

    def _on_result(self, made: dict[str, Any]) -> None:
        if "refused" in made:
            self.pane.notify(made["refused"], "warning", "Sample project refused")
            return
        self.last = made
        self.pane.refresh()
        select = getattr(self.pane, "select_version", None)
        if callable(select):
            select(made["dataset"]["id"])  # once the list is re-read
        self.pane.notify(f"{brief(made)}. Next: {made['next'][1]}")
        self.created.emit(made)

    def _on_failed(self, text: str) -> None:
        self.pane.refresh()  # the steps completed before the failure stay, and show
        self.pane.notify(f"The sample project was not completed:\n\n{text}\n\nThe steps "
                         f"completed before this one stay in the store.", "error",
                         "Sample project failed")

    def _on_cancelled(self) -> None:
        self.pane.refresh()
        self.pane.notify("Sample project cancelled: any step completed before the cancel (the "
                         "dataset, a finished run) stays in the store, and a run stopped halfway "
                         "is recorded as cancelled")

    @while_alive
    def _on_done(self) -> None:
        self.strip.hide()
        may = getattr(self.pane, "import_refusal", None) is None
        for b, was in self._held:
            if shiboken6.isValid(b):
                b.setEnabled(was and may)
        self._held = []
        self.ended.emit()


class Welcome(QObject):
    """The main window's one-time welcome banner for an empty store (see the module doc)."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.showing = False  # the banner is ours (welcome or next steps)
        self._welcomed: set[str] = set()
        self._offer: SampleProjectOffer | None = None
        window.store_changed.connect(lambda _store: self.check())

    def offer(self) -> SampleProjectOffer | None:
        pane = self.window.panes.get("datasets")
        offer = getattr(pane, "sample_project", None)
        return offer if isinstance(offer, SampleProjectOffer) else None

    def check(self) -> None:
        """Read (in a worker) whether the store is empty and the user may make the sample
        project; welcome it if so and not done before."""
        store = self.window.store
        where = str(getattr(store, "url", None) or store.root)
        self._hook_offer()
        if where in self._welcomed:
            return

        def read(progress, cancelled):
            from ..core import sample_project
            empty = sample_project.is_empty(store)
            return {"empty": empty, "refusal": sample_project.refusal(store) if empty else None}

        task = run_task(read)
        task.finished.connect(lambda found: self._welcome(store, where, found))
        task.failed.connect(lambda text: None)  # a welcome is not worth a dialog

    @while_alive
    def _welcome(self, store, where: str, found: dict[str, Any]) -> None:
        if self.window.store is not store or not found["empty"]:
            return
        if not self.window.banner.isHidden():  # another banner (an alert) comes first
            return
        self._welcomed.add(where)
        offer = self.offer()
        if found["refusal"] is None and offer is not None:
            self._show(WELCOME, "Create sample project", self._create)
        else:
            why = found["refusal"] or "the Datasets pane is not available"
            self._show(WELCOME_NO_ROLE.format(why=why), "Open the tour", self._tour)

    def _show(self, text: str, action_text: str | None, action) -> None:
        self.window.set_banner(text, action_text, action)
        self.window.banner.label.setToolTip("")
        self.showing = True

    def _create(self) -> None:
        offer = self.offer()
        if offer is None:
            return
        self.window.select_pane("datasets")
        offer.start()

    def _tour(self) -> None:
        from .tour import show_tour
        show_tour(self.window)

    def _hook_offer(self) -> None:
        offer = self.offer()
        if offer is None or offer is self._offer:
            return
        self._offer = offer
        offer.started.connect(self._on_started)
        offer.created.connect(self._on_created)
        pages = getattr(offer.pane, "pages", None)
        if pages is not None:  # the store got data another way (an import): welcome done
            pages.currentChanged.connect(self._on_page)

    def _on_started(self) -> None:
        if self.showing and not self.window.banner.isHidden():  # not if dismissed
            self._show("Creating the sample project: its progress is at the bottom of the "
                       "Datasets pane.", None, None)

    def _on_created(self, made: dict[str, Any]) -> None:
        ref = made["version"]["ref"]
        offer = self._offer

        def open_approvals() -> None:
            if offer is not None and shiboken6.isValid(offer.pane):
                offer.pane.navigate.emit("approvals", ref)
        self._show(f"{describe(made)} <b>Next:</b> {made['next'][1]}.",
                   "Open Approvals", open_approvals)
        self.window.banner.label.setToolTip("\n".join(made["next"]))

    def _on_page(self, index: int) -> None:
        offer = self._offer
        if (index == 1 and self.showing and offer is not None and not offer.is_running()
                and offer.last is None):
            self.window.clear_banner()
            self.showing = False


def install(window) -> Welcome:
    """Give `window` its welcome (see the module doc) and check the store it opened."""
    welcome = Welcome(window)
    window.welcome = welcome
    welcome.check()
    return welcome
