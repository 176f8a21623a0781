"""Progress that ends cleanly, and two comforts: the progress strips of import, training, ingest
and export end empty with how the task ended; a run shows in the runs table the moment it
starts; the training log follows its newest line; export makes its folder and offers to open
it; the model card's empty sections point at Edit card…, not at a command."""

from __future__ import annotations

import shutil
import threading

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices

from lablift.core import training
from lablift.core.datasets import import_dataset
from lablift.core.store import Store
from lablift.gui.panes import datasets as dpane
from lablift.gui.panes import experiments as xpane
from lablift.gui.panes.experiments import job_queue
from lablift.gui.panes import monitoring as mpane
from lablift.gui.panes import registry as rpane
from lablift.resources import SAMPLE_LOANS

import bundle_helpers
from gui_helpers import TIMEOUT_MS, notices, pane_opener, settled  # noqa: F401 (a fixture)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """build_world once: loans:1 approved (exported by oscar, ops), loans:2 pending."""
    root = tmp_path_factory.mktemp("progress")
    w = bundle_helpers.build_world(root)
    for s in (w["store"], w["ana"], w["oscar"]):
        s.close()
    return root / "store"


@pytest.fixture
def world(template, tmp_path):
    """`open_as(user)`: a Store on a fresh copy of the template (tests write to it)."""
    root = tmp_path / "store"
    shutil.copytree(template, root)
    opened = []

    def open_as(user: str) -> Store:
        opened.append(Store(root, user=user))
        return opened[-1]
    yield open_as
    for s in opened:
        s.close()


@pytest.fixture
def open_pane(qtbot):
    opened = []
    yield lambda cls, store: pane_opener(qtbot, cls, opened)(store)
    for p in opened:
        settled(qtbot, p)


def test_a_failing_import_after_a_good_one_ends_the_strip_saying_so(qtbot, tmp_path, open_pane,
                                                                   notices):
    pane = open_pane(dpane.Pane, Store(tmp_path / "fresh", user="ana"))
    bad = tmp_path / "header_only.csv"
    bad.write_text("a,b,c\n")
    messages, values = [], []
    pane.message.connect(messages.append)
    pane.import_bar.bar.valueChanged.connect(values.append)
    pane.import_files([str(SAMPLE_LOANS), str(bad)])  # one after the other, from the queue
    assert pane.import_bar.isVisible()
    qtbot.waitUntil(lambda: bool(notices) and not pane.is_busy(), timeout=TIMEOUT_MS)
    assert max(values) == 100  # the good one filled the bar...
    bar = pane.import_bar
    assert bar.isHidden() and bar.bar.value() == 0  # ...and the strip ended empty
    assert bar.label.text() == "Import of header_only.csv failed"
    assert messages[-1] == "Import of header_only.csv failed"
    assert [n.title for n in notices] == ["Import failed"]
    assert pane.version_ids() and len(pane.version_ids()) == 1  # the good one stays


@pytest.fixture
def experiments(qtbot, tmp_path, open_pane, monkeypatch):
    """An Experiments pane on the sample loans whose training waits for `release.set()` once
    the run is recorded (the first step a recorded run reports)."""
    store = Store(tmp_path / "exp", user="ana")
    import_dataset(store, SAMPLE_LOANS, name="loans")
    release = threading.Event()
    real = training.compute

    def held(p, progress=None, cancelled=None):
        progress(0.01, "Held by the test")
        assert release.wait(30)
        return real(p, progress, cancelled)
    monkeypatch.setattr(training, "compute", held)
    # The fit in this process (the queue's path where no training process can run), so the
    # test holds and breaks it; tests/test_gui_train_process.py covers the process path.
    monkeypatch.setattr(job_queue, "train_runner", lambda: None)
    monkeypatch.setattr(job_queue, "_runner", None)
    pane = open_pane(xpane.Pane, store)
    pane.set_target("approved")
    pane.set_algorithm("logistic_regression")
    pane.cv_folds.setValue(0)
    pane.release = release
    yield pane
    release.set()
    for job in pane.jobs:
        if job.task is not None and job.task.is_running():
            qtbot.waitUntil(lambda t=job.task: not t.is_running(), timeout=TIMEOUT_MS)


def statuses(pane) -> list[str]:
    """The status column of the runs table, top to bottom."""
    model = pane.runs_model
    return [model.record(row)["status"] for row in range(model.rowCount())]


def test_a_run_shows_as_running_while_it_trains_and_the_log_follows(qtbot, experiments):
    pane = experiments
    pane.log.appendPlainText("\n".join(f"earlier line {i}" for i in range(200)))
    job = pane.train()
    assert job is not None
    qtbot.waitUntil(lambda: statuses(pane) == ["running"],
                    timeout=TIMEOUT_MS)  # listed while its fit is held: it has not ended
    assert job.state == "running" and pane.progress_bar.value() == 1
    scroll = pane.log.verticalScrollBar()
    assert scroll.maximum() > 0 and scroll.value() == scroll.maximum()
    scroll.setValue(0)  # the user scrolled up to read; the next lines bring the end back
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        with qtbot.waitSignal(job.task.finished, timeout=TIMEOUT_MS):
            pane.release.set()
    assert statuses(pane) == ["finished"]
    assert scroll.value() == scroll.maximum()  # the newest line is in view
    assert "finished in" in pane.log.toPlainText().splitlines()[-1]
    assert pane.progress_bar.value() == 0 and not pane.progress_bar.isTextVisible()
    assert pane.activity_label.text() == f"Finished: {job.label}"


def test_a_failed_run_ends_the_job_strip_saying_so(qtbot, experiments, monkeypatch, notices):
    pane = experiments

    def broken(p, progress=None, cancelled=None):
        progress(0.4, "Fitting on the training rows")
        raise RuntimeError("the estimator gave up")
    monkeypatch.setattr(training, "compute", broken)
    job = pane.train()
    with qtbot.waitSignal(job.task.failed, timeout=TIMEOUT_MS):
        pass
    settled(qtbot, pane)
    assert pane.progress_bar.value() == 0
    assert pane.activity_label.text() == f"Failed: {job.label}"
    assert statuses(pane) == ["failed"]
    assert [n.title for n in notices] == ["Training failed"]


def test_a_failing_ingest_ends_the_strip_saying_so(qtbot, world, open_pane, tmp_path, notices):
    pane = open_pane(mpane.Pane, world("oscar"))
    broken = tmp_path / "batch.parquet"
    broken.write_bytes(b"not parquet at all")
    task = pane.ingest_file(str(broken), label="approved")
    assert task is not None and pane.progress_bar.isVisible()
    with qtbot.waitSignal(task.failed, timeout=TIMEOUT_MS):
        pass
    settled(qtbot, pane)
    strip = pane.progress_bar
    assert strip.isHidden() and strip.bar.value() == 0
    assert strip.label.text() == "Ingesting batch.parquet: failed"
    assert notices and str(broken) in notices[-1].text
    assert pane.top.ingest_button.isEnabled()


def test_export_makes_its_folder_and_offers_to_open_it(qtbot, world, open_pane, tmp_path,
                                                       monkeypatch):
    pane = open_pane(rpane.Pane, world("oscar"))
    pane.select_version("loans:1")
    settled(qtbot, pane)
    out = tmp_path / "exports" / "not" / "there" / "loans-v1"  # its parents do not exist yet
    task = pane.export_bundle(out)
    with qtbot.waitSignal(task.finished, timeout=TIMEOUT_MS):
        pass
    settled(qtbot, pane)
    assert (out / "SHA256SUMS").is_file()
    strip = pane.export_bar
    assert strip.isHidden() and strip.bar.value() == 0
    assert strip.label.text() == "Export of loans:1: done"
    button = pane.open_folder_button
    assert button is not None and button.text() == "Open folder"
    assert button in pane.last_dialog.buttons() and button.property("folder") == str(out)
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url)
                                                                  or True))
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert opened == [QUrl.fromLocalFile(str(out))]


def test_a_failed_export_leaves_no_folders_behind(qtbot, world, open_pane, tmp_path, notices):
    pane = open_pane(rpane.Pane, world("oscar"))
    pane.select_version("loans:2")  # pending: the core refuses to export it
    settled(qtbot, pane)
    out = tmp_path / "made" / "for" / "nothing" / "loans-v2"
    task = pane.export_bundle(out)
    with qtbot.waitSignal(task.failed, timeout=TIMEOUT_MS):
        pass
    settled(qtbot, pane)
    assert not (tmp_path / "made").exists()
    assert [n.title for n in notices] == ["Export failed"]
    assert pane.export_bar.label.text() == "Export of loans:2: failed"


def test_an_unwritten_model_card_points_at_edit_card(qtbot, world, open_pane):
    pane = open_pane(rpane.Pane, world("ana"))
    pane.select_version("loans:2")  # pending, its narrative sections not written
    settled(qtbot, pane)
    pane.evidence.select_tab("card")
    card = pane.evidence.card_browser.toPlainText()
    assert "Edit card…" in card and "lablift model card" not in card
    assert pane.card_button.text() == "Edit card…" and pane.card_button.isEnabled()
