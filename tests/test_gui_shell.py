"""Main window, pane registry, banner, settings, background tasks, charts and `lablift gui --screenshot`."""

from __future__ import annotations

import threading

import pytest
from matplotlib.figure import Figure
from PySide6.QtCore import QSettings, QThread
from PySide6.QtGui import QImage

from lablift.cli import main
from lablift.core.errors import Cancelled, LabliftError
from lablift.gui import main_window as mw
from lablift.gui.app import _application
from lablift.gui.charts import ChartCanvas, plot_histogram
from lablift.gui.main_window import MainWindow
from lablift.gui.panes import PANE_NAMES
from lablift.gui.workers import run_task

TIMEOUT_MS = 20000


@pytest.fixture(autouse=True)
def _app(qapp):
    _application()  # names QSettings' organisation/application as the real app does
    QSettings().clear()


@pytest.fixture
def window(qtbot, store):
    w = MainWindow(store, restore_state=False)
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    yield w
    qtbot.waitUntil(lambda: not w.is_busy(), timeout=TIMEOUT_MS)


def test_main_window_opens_on_datasets_with_user_role_and_store(qtbot, window, store):
    assert window.pane_errors == {}  # every pane module that exists must open
    assert list(window.panes)[0] == "datasets"
    assert set(window.panes) <= set(PANE_NAMES)
    assert window.current_pane_name() == "datasets"
    assert window.nav.item(0).text() == "Datasets"
    # The role is read in a worker: the GUI thread never waits on the store.
    qtbot.waitUntil(lambda: window.user_label.text() == "User: admin (admin)",
                    timeout=TIMEOUT_MS)
    assert str(store.root) in window.store_label.text()


def test_status_bar_shows_other_users_role(qtbot, store, make_store):
    store.add_user("rita", "reviewer")
    w = MainWindow(make_store("rita"), restore_state=False)
    qtbot.addWidget(w)
    assert w.user_label.text() == "User: rita (reading your role…)"  # read in a worker
    with qtbot.waitSignal(w.status_read, timeout=TIMEOUT_MS):
        pass
    assert w.user_label.text() == "User: rita (reviewer)"


def test_missing_pane_modules_are_skipped_not_faked(monkeypatch):
    assert mw.load_pane_class("datasets").__module__ == "lablift.gui.panes.datasets"
    assert mw.load_pane_class("no_such_pane") is None


def test_banner_shows_and_hides_with_action(window):
    clicked = []
    window.set_banner("churn:3 needs attention: drift", "Show", lambda: clicked.append(1))
    assert window.banner.isVisible() and "drift" in window.banner.label.text()
    window.banner.action_button.click()
    assert clicked == [1]
    window.clear_banner()
    assert not window.banner.isVisible()


def test_select_unknown_pane_names_the_known_ones(window):
    with pytest.raises(LookupError, match="datasets"):
        window.select_pane("nope")


def test_window_geometry_and_pane_are_remembered(qtbot, store):
    w = MainWindow(store)
    qtbot.addWidget(w)
    # The offscreen screen is 800x600 and restoreGeometry() clamps to it, while the panes
    # need more width than that: vary (and compare) the height only.
    w.resize(w.minimumSizeHint().width(), w.minimumSizeHint().height() + 37)
    w.show()
    closed_height = w.height()
    w.close()
    assert QSettings().value("main/pane") == "datasets"
    w2 = MainWindow(store)
    qtbot.addWidget(w2)
    assert w2.height() == closed_height


# -- background tasks -------------------------------------------------------------

def test_task_reports_progress_and_result_in_gui_thread(qtbot):
    seen = []
    gui_thread = QThread.currentThread()

    def work(progress, cancelled):
        progress(0.5, "half")
        return threading.current_thread() is not threading.main_thread()

    task = run_task(work)
    task.progress.connect(lambda f, m: seen.append((f, m, QThread.currentThread() is gui_thread)))
    with qtbot.waitSignal(task.finished, timeout=TIMEOUT_MS) as blocker:
        pass
    assert blocker.args == [True]  # ran off the GUI thread
    assert seen == [(0.5, "half", True)]  # delivered on the GUI thread
    assert task.state == "finished"


def test_task_failure_carries_the_user_message(qtbot):
    def work(progress, cancelled):
        raise LabliftError("column 'x' is missing")

    task = run_task(work)
    with qtbot.waitSignal(task.failed, timeout=TIMEOUT_MS) as blocker:
        pass
    assert blocker.args == ["column 'x' is missing"] and task.state == "failed"


def test_task_bug_is_reported_as_internal_error(qtbot):
    task = run_task(lambda progress, cancelled: 1 / 0)
    with qtbot.waitSignal(task.failed, timeout=TIMEOUT_MS) as blocker:
        pass
    assert blocker.args[0].startswith("internal error (ZeroDivisionError")


def test_task_cancel_sets_the_flag_the_work_polls(qtbot):
    started = threading.Event()

    def work(progress, cancelled):
        started.set()
        for _ in range(2000):
            if cancelled():
                raise Cancelled("stopped")
            threading.Event().wait(0.005)
        return "ran to the end"

    task = run_task(work)
    assert started.wait(5)
    with qtbot.waitSignals([task.cancelled, task.done], timeout=TIMEOUT_MS):
        task.cancel()
    assert task.state == "cancelled" and task.result is None


# -- charts -------------------------------------------------------------------------

def test_plot_histogram_numeric_categorical_datetime_and_empty(qtbot):
    canvas = ChartCanvas()
    qtbot.addWidget(canvas)
    ax = canvas.clear()
    assert plot_histogram(ax, {"name": "age", "kind": "numeric", "histogram": {
        "counts": [1, 4, 2], "edges": [0.0, 1.0, 2.0, 3.0]}})
    assert [p.get_height() for p in ax.patches] == [1, 4, 2]
    assert ax.get_xlabel() == "age"
    canvas.redraw()

    ax = Figure().add_subplot()
    top = [{"value": "rent", "count": 9}, {"value": "own", "count": 3}]
    assert plot_histogram(ax, {"name": "home", "kind": "categorical", "unique": 5, "top": top})
    assert sorted(p.get_width() for p in ax.patches) == [3, 9]
    assert "top 2 of 5" in ax.get_title(loc="left")

    ax = Figure().add_subplot()
    day_ns = 86_400 * 10**9
    assert plot_histogram(ax, {"name": "when", "kind": "datetime", "dtype": "timestamp[ns]",
                               "histogram": {"counts": [2, 1], "temporal": True,
                                             "edges": [0, day_ns, 2 * day_ns]}})
    assert len(ax.patches) == 2 and ax.patches[0].get_width() == pytest.approx(1.0)  # one day

    ax = Figure().add_subplot()
    assert not plot_histogram(ax, {"name": "blank", "kind": "text"})


# -- lablift gui --screenshot ---------------------------------------------------------------

def test_screenshot_of_datasets_pane_writes_png(tmp_path, sample_csv, capsys):
    store_dir = tmp_path / "shot"
    assert main(["--store", str(store_dir), "dataset", "import", str(sample_csv)]) == 0
    png = tmp_path / "ds.png"
    assert main(["--store", str(store_dir), "gui", "--screenshot", str(png),
                 "--pane", "datasets"]) == 0
    assert png.stat().st_size > 10_000
    image = QImage(str(png))
    assert (image.width(), image.height()) == (1280, 800)
    # Not a blank window: many distinct colours (text, table grid, selection).
    colours = {image.pixel(x, y) for x in range(0, 1280, 7) for y in range(0, 800, 7)}
    assert len(colours) > 20


def test_screenshot_of_unknown_pane_exits_1(tmp_path, capsys):
    code = main(["--store", str(tmp_path / "s"), "gui", "--screenshot",
                 str(tmp_path / "x.png"), "--pane", "nope"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown pane 'nope'") and "datasets" in err
    assert not (tmp_path / "x.png").exists()


def test_gui_on_a_store_that_cannot_open_exits_1(tmp_path, capsys):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    code = main(["--store", str(not_a_folder), "gui", "--screenshot", str(tmp_path / "x.png")])
    assert code == 1
    assert "is not a folder" in capsys.readouterr().err


def test_gui_without_a_display_says_so_instead_of_aborting(monkeypatch, tmp_path, capsys):
    import sys as _sys
    if not _sys.platform.startswith("linux"):
        pytest.skip("display detection applies to Linux")
    from lablift.cli import main
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    assert main(["--store", str(tmp_path / "s"), "gui"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no display") and err.count("\n") == 1


def test_keyboard_shortcuts_switch_panes_find_and_help_and_are_shown_in_menus(qtbot, window):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QKeySequence
    window.show()
    qtbot.waitExposed(window)
    for number, name in enumerate(("datasets", "experiments", "registry", "approvals",
                                   "monitoring"), start=1):
        qtbot.keyClick(window, Qt.Key(Qt.Key.Key_0 + number),
                       Qt.KeyboardModifier.ControlModifier)
        assert window.current_pane_name() == name
        assert window.pane_actions[name].shortcut() == QKeySequence(f"Ctrl+{number}")
    messages = []
    window.statusBar().messageChanged.connect(messages.append)
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert "Nothing to search in this pane" in messages  # no dataset yet: no runs to filter
    from lablift.core import datasets
    from lablift.resources import SAMPLE_LOANS
    datasets.import_dataset(window.store, SAMPLE_LOANS, name="loans")
    pane = window.pane("experiments")
    window.refresh_current()
    qtbot.waitUntil(lambda: pane.filter_edit.isVisible(), timeout=10000)
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.focusWidget() is pane.filter_edit, timeout=2000)
    qtbot.keyClick(window, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: getattr(window, "help_box", None) is not None
                    and window.help_box.isVisible(), timeout=2000)
    assert "Reviewer" in window.help_box.text() and "Ctrl+4" in window.help_box.text()
    assert window.find_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Find)
    window.help_box.close()
