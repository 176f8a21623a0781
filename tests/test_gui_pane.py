"""gui/pane.py: one task per purpose (the newest wins), busy state, failures through the one
notification path, navigation by signal."""

from __future__ import annotations

import threading

import pytest

from lablift.core.errors import LabliftError
from gui_helpers import notices  # noqa: F401  (fixture)
from lablift.gui.pane import PaneBase


@pytest.fixture
def pane(qtbot):
    p = PaneBase(store=None)
    p.title = "Test"
    qtbot.addWidget(p)
    return p


def test_a_new_task_cancels_the_previous_one_of_its_purpose(qtbot, pane):
    release = threading.Event()
    got = []

    def slow(progress, cancelled):
        release.wait(5)
        if cancelled():
            from lablift.core.errors import Cancelled
            raise Cancelled("old")
        return "old"

    first = pane.start("load", slow, got.append)
    second = pane.start("load", lambda p, c: "new", got.append)
    other = pane.start("plots", lambda p, c: "plots", got.append)
    assert first.is_cancel_requested() and not other.is_cancel_requested()
    with qtbot.waitSignals([second.done, other.done], timeout=5000):
        pass
    release.set()
    with qtbot.waitSignal(first.done, timeout=5000):
        pass
    assert sorted(got) == ["new", "plots"]  # the cancelled task's outcome never arrives


def test_busy_follows_the_running_tasks(qtbot, pane):
    states = []
    pane.busy_changed.connect(states.append)
    gate = threading.Event()
    task = pane.start("export", lambda p, c: gate.wait(5))
    assert pane.is_busy() and pane.is_busy("export") and not pane.is_busy("load")
    gate.set()
    with qtbot.waitSignal(task.done, timeout=5000):
        pass
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=2000)
    assert states == [True, False]


def test_a_failure_goes_through_the_one_notification_path(qtbot, pane, notices):
    def boom(progress, cancelled):
        raise LabliftError("store /x is read-only for you: the change was not recorded")
    task = pane.start("import", boom)
    with qtbot.waitSignal(task.done, timeout=5000):
        pass
    (notice,) = notices
    assert notice.level == "error" and "read-only" in notice.text
    assert notice.title == "Test: import failed"
    handled = []
    task = pane.start("import", boom, on_failed=handled.append)
    with qtbot.waitSignal(task.done, timeout=5000):
        pass
    assert len(notices) == 1 and "read-only" in handled[0]


def test_info_goes_to_the_status_line_and_navigation_is_a_signal(qtbot, pane, notices):
    lines = []
    pane.message.connect(lines.append)
    pane.notify("Imported loans v1")
    assert lines == ["Imported loans v1"] and notices[0].level == "info"
    with qtbot.waitSignal(pane.navigate, timeout=1000) as blocker:
        pane.navigate.emit("experiments", 7)
    assert blocker.args == ["experiments", 7]
