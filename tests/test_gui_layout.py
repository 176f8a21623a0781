"""Every pane at 1024x640 and 1920x1080 on a realistic store with long names and a 40-column
dataset: the window keeps the size asked for, no label is cut, headers show their text or carry
it in a tooltip, chart text neither overlaps nor runs off the figure, and the Features list of
the training form grows with the window."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.text import Text
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QTableView, QTreeView

from lablift.core import datasets, monitoring, registry, training
from lablift.core.store import Store
from lablift.gui.main_window import MainWindow
from lablift.gui.widgets import ElidedLabel
from lablift.resources import SAMPLE_LOANS

import bundle_helpers
from gui_helpers import settled

SMALL, LARGE = (1024, 640), (1920, 1080)
LONG_DATASET = "quarterly_customer_churn_prediction_dataset_with_a_very_long_name"
LONG_MODEL = "customer_churn_prediction_model_for_enterprise_accounts"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """build_world, plus a 40-feature dataset with long names, a run on it registered under a
    long model name, and two monitoring batches (one shifted) for loans:1."""
    root = tmp_path_factory.mktemp("layout")
    w = bundle_helpers.build_world(root)
    ana, oscar = w["ana"], w["oscar"]
    rng = np.random.default_rng(0)
    wide = pd.DataFrame({f"sensor_measurement_channel_{i:02d}_calibrated_value":
                         rng.normal(i, 1.0, 300) for i in range(40)})
    wide["target_outcome_flag"] = (wide.iloc[:, 0] + rng.normal(0, 1, 300) > 0).astype(int)
    wide.to_csv(root / "wide.csv", index=False)
    datasets.import_dataset(ana, root / "wide.csv", name=LONG_DATASET)
    run = training.train(ana, {"dataset": LONG_DATASET, "target": "target_outcome_flag",
                               "algorithm": "logistic_regression", "cv": 0})
    registry.register(ana, run["id"], LONG_MODEL)
    loans = pd.read_csv(SAMPLE_LOANS)
    for i in range(2):
        batch = loans.sample(300, random_state=i).reset_index(drop=True)
        if i:
            batch["age"] += 15
            batch["income"] *= 1.8
        batch.to_csv(root / f"batch{i}.csv", index=False)
        monitoring.ingest(oscar, "loans:1", root / f"batch{i}.csv", label="approved")
    for s in (ana, oscar, w["store"]):
        s.close()
    return root / "store"


@pytest.fixture(scope="module")
def window(qapp, world):
    """One main window for the module (the panes only read): each test picks its pane."""
    store = Store(world, user="ana")
    w = MainWindow(store, restore_state=False)
    w.show()
    yield w
    deadline = time.monotonic() + 60
    while w.is_busy() and time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.01)
    w.close()
    w.deleteLater()
    qapp.processEvents()
    store.close()


def at(qtbot, window, size, pane=None):
    window.resize(*size)
    qtbot.waitUntil(lambda: window.size().toTuple() == size, timeout=5000)
    if pane is not None:
        settled(qtbot, pane)
    qtbot.wait(30)  # queued layout passes and re-fitted texts


def shown(widget):
    return widget.isVisible() and widget.width() > 0


# -- what is measured --------------------------------------------------------------------------
def cut_labels(root) -> list[str]:
    """Labels whose text is wider (or, wrapped, taller) than the label; elided ones excepted."""
    out = []
    for label in root.findChildren(QLabel):
        if not shown(label) or not label.text() or isinstance(label, ElidedLabel):
            continue
        rect = label.contentsRect()
        doc = QTextDocument()
        doc.setDefaultFont(label.font())
        doc.setDocumentMargin(0)
        rich = label.textFormat() == Qt.TextFormat.RichText or (
            label.textFormat() == Qt.TextFormat.AutoText and "<" in label.text())
        if rich:
            doc.setHtml(label.text())
        else:
            doc.setPlainText(label.text())
        if label.wordWrap():
            doc.setTextWidth(rect.width())
            too_wide = doc.idealWidth() > rect.width() + 1  # an unbreakable word
            too_tall = doc.size().height() > rect.height() + 2
            if too_wide or too_tall:
                out.append(f"{label.text()[:60]!r} wraps to {doc.idealWidth():.0f}x"
                           f"{doc.size().height():.0f} in {rect.width()}x{rect.height()}")
        else:
            width = doc.idealWidth() if rich else max(
                label.fontMetrics().horizontalAdvance(line) for line in label.text().split("\n"))
            if width > rect.width() + 1:
                out.append(f"{label.text()[:60]!r} needs {width:.0f} px, has {rect.width()}")
    return out


def cut_headers(root) -> list[str]:
    """Header sections narrower than their text that do not carry it in a tooltip."""
    out = []
    for view in root.findChildren(QTableView) + root.findChildren(QTreeView):
        if not shown(view) or view.model() is None:
            continue
        header = view.header() if isinstance(view, QTreeView) else view.horizontalHeader()
        if header.isHidden():
            continue
        model = view.model()
        for section in range(header.count()):
            if header.isSectionHidden(section) or header.sectionSize(section) == 0:
                continue
            text = model.headerData(section, Qt.Orientation.Horizontal) or ""
            lines = str(text).split("\n")
            need = max(header.fontMetrics().horizontalAdvance(line) for line in lines) + 8
            if need <= header.sectionSize(section):
                continue
            tip = model.headerData(section, Qt.Orientation.Horizontal,
                                   Qt.ItemDataRole.ToolTipRole) or ""
            if not tip or not all(line.rstrip("…")[:8] in str(tip) for line in lines):
                out.append(f"{type(view).__name__} section {section} {text!r}: "
                           f"{header.sectionSize(section)} px < {need} px, tooltip {tip!r}")
    return out


def _in_view(axis, tick) -> bool:
    low, high = sorted(axis.get_view_interval())
    return low - 1e-9 <= tick.get_loc() <= high + 1e-9


def drawn_problems(canvas) -> list[str]:
    """What the canvas' last draw showed wrongly: tick labels that overlap a neighbour, texts
    that leave the figure. Measured inside the draw (a draw_event), where the texts are the ones
    shown: a shortened title is restored whole once the draw is done."""
    found: list[list[str]] = []
    cid = canvas.mpl_connect("draw_event", lambda event: found.append(_measure(canvas.figure,
                                                                               event.renderer)))
    canvas.draw()
    canvas.mpl_disconnect(cid)
    return found[-1] if found else ["no draw"]


def _measure(figure, renderer) -> list[str]:
    out = []
    edge = figure.bbox
    ticks = set()
    for ax in figure.axes:
        legend = ax.get_legend()
        if legend is not None and not legend.get_visible():  # its texts are not drawn either
            ticks.update(id(t) for t in legend.get_texts())
        if not ax.axison:
            continue
        for axis, vertical in ((ax.xaxis, False), (ax.yaxis, True)):
            every = axis.get_major_ticks() + axis.get_minor_ticks()
            ticks.update(id(label) for t in every for label in (t.label1, t.label2))
            labels = [t.label1 for t in axis.get_major_ticks()
                      if _in_view(axis, t) and t.label1.get_visible() and t.label1.get_text()]
            for label in labels:  # drawn tick labels stay inside the figure too
                box = label.get_window_extent(renderer)
                if box.x0 < edge.x0 - 1 or box.x1 > edge.x1 + 1:
                    out.append(f"tick label {label.get_text()!r} leaves its figure: "
                               f"{box.x0:.0f}..{box.x1:.0f} of {edge.width:.0f}")
            if not vertical and labels and labels[0].get_rotation() % 180:
                continue  # slanted labels: their bounding boxes overlap by design
            boxes = sorted((t.get_window_extent(renderer) for t in labels),
                           key=lambda b: b.y0 if vertical else b.x0)
            for a, b in zip(boxes, boxes[1:]):
                if (b.y0 < a.y1 - 0.5) if vertical else (b.x0 < a.x1 - 0.5):
                    out.append(f"{ax.get_title('left') or ax.get_title()!r}: tick labels "
                               f"overlap at {a.bounds} / {b.bounds}")
                    break
    for text in figure.findobj(Text):
        if id(text) in ticks or not text.get_visible() or not text.get_text() or text.get_wrap():
            continue
        box = text.get_window_extent(renderer)
        if box.width and (box.x0 < edge.x0 - 1 or box.x1 > edge.x1 + 1):
            out.append(f"{text.get_text()!r} leaves its figure: {box.x0:.0f}..{box.x1:.0f} "
                       f"of {edge.width:.0f}")
    return out


def chart_problems(root) -> list[str]:
    return [p for canvas in root.findChildren(FigureCanvasQTAgg) if shown(canvas)
            for p in drawn_problems(canvas)]


def check(window, pane) -> None:
    assert cut_labels(pane) == []
    assert cut_headers(pane) == []
    assert chart_problems(pane) == []


# -- the panes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_datasets_profile_of_a_wide_dataset_fits(qtbot, window, size):
    pane = settled(qtbot, window.select_pane("datasets"))
    at(qtbot, window, size, pane)
    assert window.size().toTuple() == size  # no pane is wider than the window allows
    pane.tabs.setCurrentIndex(1)  # Profile: the newest (40-column) version's first column
    at(qtbot, window, size, pane)
    check(window, pane)
    loans = [pane.tree.topLevelItem(i) for i in range(pane.tree.topLevelItemCount())
             if pane.tree.topLevelItem(i).text(0) == "loans"][0]
    pane.select_version(loans.child(0).data(0, Qt.ItemDataRole.UserRole))
    settled(qtbot, pane)
    rows = [pane.profile_proxy.index(r, 0).data() for r in range(pane.profile_proxy.rowCount())]
    pane.profile_view.selectRow(rows.index("income"))  # the histogram whose ticks ran together
    at(qtbot, window, size, pane)
    (ax,) = pane.chart.figure.axes
    assert ax.get_title(loc="left") == "income  (numeric)"  # whole, whatever is shown
    check(window, pane)


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_registry_and_its_evidence_fit(qtbot, window, size):
    pane = settled(qtbot, window.select_pane("registry"))
    pane.select_version(f"{LONG_MODEL}:1")
    at(qtbot, window, size, pane)
    assert window.size().toTuple() == size
    for key in ("lineage", "checks", "card", "history"):
        pane.evidence.select_tab(key)
        at(qtbot, window, size, pane)
        check(window, pane)
    assert LONG_MODEL in pane.evidence.header.toolTip()  # what a narrow header cuts


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_approvals_fit(qtbot, window, size):
    pane = settled(qtbot, window.select_pane("approvals"))
    at(qtbot, window, size, pane)
    check(window, pane)
    assert pane.decision.reason.text()  # ana may not decide: the reason shows, whole


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_monitoring_tabs_fit(qtbot, window, size):
    pane = settled(qtbot, window.select_pane("monitoring"))
    for tab in range(pane.tabs.count()):
        pane.tabs.setCurrentIndex(tab)
        at(qtbot, window, size, pane)
        check(window, pane)


def test_experiments_fit_and_the_features_list_grows(qtbot, window):
    pane = window.select_pane("experiments")
    qtbot.waitUntil(lambda: pane.features_list.count() == 40, timeout=60000)  # the wide one

    def rows_shown() -> float:
        return pane.features_list.viewport().height() / pane.features_list.sizeHintForRow(0)

    shown_at = {}
    for size in (SMALL, LARGE):
        at(qtbot, window, size, pane)
        assert window.size().toTuple() == size
        check(window, pane)
        shown_at[size] = rows_shown()
    assert shown_at[SMALL] >= 4
    assert shown_at[LARGE] >= shown_at[SMALL] + 10  # was eight rows whatever the height
