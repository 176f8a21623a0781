"""The Experiments pane's Compare tab shows what `lablift run compare` prints: real widgets
offscreen, runs trained through core, the comparison read in the pane's worker."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QColor, QTextDocument

from lablift.core import datasets, gates, registry, training
from lablift.gui import palette
from lablift.gui.panes import experiments as xpane

from gui_helpers import TIMEOUT_MS, settled

LOWER = {"log_loss", "mae", "rmse", "mape"}  # lower is better, spelled out here


@pytest.fixture
def pane(qtbot, store):
    p = xpane.Pane(store)
    qtbot.addWidget(p)
    p.resize(1400, 900)  # wide: the chart beside the tables
    p.show()
    yield settled(qtbot, p)
    settled(qtbot, p)


def _reload(qtbot, pane):
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        pane.reload_runs()


def _grid(model) -> list[list[str]]:
    return [[model.index(r, c).data() or "" for c in range(model.columnCount())]
            for r in range(model.rowCount())]


def _headers(model) -> list[str]:
    return [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]


def _cli_line(text: str, cells: list[str]) -> bool:
    """Whether the CLI's text output has a table line made of exactly these cells."""
    pattern = r"^\s*" + r"\s+".join(re.escape(c) for c in cells if c) + r"\s*$"
    return any(re.match(pattern, line) for line in text.splitlines())


def _plain(label) -> str:
    doc = QTextDocument()
    doc.setHtml(label.text())
    return doc.toPlainText()


def _expected_verdict(metric: str, delta: float) -> str:
    if delta == 0:
        return "same"
    return "better" if (delta < 0) == (metric.removeprefix("cv.") in LOWER) else "worse"


def test_the_compare_tab_shows_the_cli_comparison_coloured_by_verdict(qtbot, pane, store, cli,
                                                                      sample_csv):
    ds = datasets.import_dataset(store, sample_csv, name="loans")
    spec = {"dataset": ds["id"], "target": "approved", "algorithm": "logistic_regression",
            "cv": 2}
    a = training.train(store, {**spec, "params": {"C": 1.0}})
    b = training.train(store, {**spec, "params": {"C": 0.05}})
    ra, rb = a["metrics"]["holdout"]["roc_auc"], b["metrics"]["holdout"]["roc_auc"]
    threshold = round((ra + rb) / 2, 6)  # A's version passes or fails it, B is not registered
    registry.set_gates(store, "loan", [gates.parse_gate(f"roc_auc>={threshold}")])
    registry.register(store, a["id"], "loan")
    _reload(qtbot, pane)

    # Select both runs as a user does, press Compare: the comparison is read in a worker.
    selection = pane.runs_view.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for row in range(pane.runs_model.rowCount()):
        selection.select(pane.runs_model.index(row, 0), flags)
    assert pane.compare_button.isEnabled()
    qtbot.mouseClick(pane.compare_button, Qt.MouseButton.LeftButton)
    task = pane.task("compare")
    assert task is not None and task.is_running()  # not computed on the GUI thread
    with qtbot.waitSignal(task.finished, timeout=TIMEOUT_MS):
        pass
    assert pane.tabs.currentIndex() == 1 and pane.compare_stack.currentIndex() == 1
    assert [r["id"] for r in pane.compared] == [a["id"], b["id"]]  # the older run is A

    code, text, err = cli("admin", "run", "compare", str(a["id"]), str(b["id"]))
    assert code == 0, err

    # Metrics: every row is a line of the CLI's table, with "↓" for "(lower is better)".
    metrics = pane.compare_metrics_model
    assert _headers(metrics) == ["metric", "A", "B", "B − A", "B vs A"]
    rows = _grid(metrics)
    assert len(rows) == len(pane.comparison["metrics"]) > 10
    for cells in rows:
        name = cells[0].replace(" ↓", " (lower is better)")
        assert _cli_line(text, [name, *cells[1:]]), cells
    by_name = {cells[0]: (r, cells) for r, cells in enumerate(rows)}
    good, bad = palette.qcolor("good"), palette.qcolor("bad")
    for metric, label in (("roc_auc", "roc_auc"), ("log_loss", "log_loss ↓"),
                          ("cv.accuracy", "cv.accuracy")):
        r, cells = by_name[label]
        source = "cv" if metric.startswith("cv.") else "holdout"
        name = metric.removeprefix("cv.")
        va = a["metrics"][source][name]
        vb = b["metrics"][source][name]
        va, vb = (va["mean"], vb["mean"]) if source == "cv" else (va, vb)
        assert cells[1] == f"{va:.4f}" and cells[2] == f"{vb:.4f}"
        verdict = _expected_verdict(metric, vb - va)
        assert cells[4] == verdict
        brush = metrics.index(r, 4).data(Qt.ItemDataRole.ForegroundRole)
        if verdict != "same":
            assert brush.color() == (good if verdict == "better" else bad), metric
            assert metrics.index(r, 3).data(Qt.ItemDataRole.ForegroundRole).color() == \
                brush.color()  # the delta in the verdict's colour too
        best = 1 if (va < vb) == (name in LOWER) else 2
        assert metrics.index(r, best).data(Qt.ItemDataRole.BackgroundRole) == \
            palette.brush(xpane.common.BEST_ROLE)
    tip = metrics.index(by_name["log_loss ↓"][0], 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "lower is better" in tip

    # Setup, the parameters that differ (C), the checks of A's version: the CLI's lines.
    setup = _grid(pane.compare_setup_model)
    assert [c[0] for c in setup] == ["status", "dataset", "task", "target", "algorithm",
                                     "holdout rows", "versions"]
    for cells in setup:
        assert _cli_line(text, cells), cells
    assert setup[5][2].endswith("same rows as A")
    assert setup[6][1:] == ["loan:1 pending", "not registered"]
    diff = _grid(pane.compare_params_model)
    assert ["C", "1", "0.05"] in diff
    assert pane.compare_tables.tabText(2) == f"Differences ({len(diff)})"
    assert "Equal in all runs: features=" not in pane.compare_equal.text()
    assert "seed=0" in pane.compare_equal.text()
    checks = _grid(pane.compare_checks_model)
    gate_row = next(r for r, c in enumerate(checks) if c[0].startswith("roc_auc >="))
    passed = ra >= threshold
    assert checks[gate_row][1] == ("pass" if passed else "FAIL") + f" {ra:.4f}"
    assert checks[gate_row][2] == "—"
    assert pane.compare_checks_model.index(gate_row, 1).data(
        Qt.ItemDataRole.BackgroundRole) == palette.brush("pass_bg" if passed else "fail_bg")
    for cells in checks:
        assert _cli_line(text, [c.replace("—", "-") for c in cells]), cells
    assert pane.compare_tables.isTabVisible(3) and not pane.compare_tables.isTabVisible(4)

    # The summary line as the CLI prints it; the chart overlays both runs' curves.
    summary = next(line for line in text.splitlines() if line.startswith("B vs A:"))
    assert summary in _plain(pane.compare_summary)
    qtbot.waitUntil(pane.compare_canvas.is_built, timeout=TIMEOUT_MS)  # shown: built
    roc = pane.compare_canvas.figure.axes[0]
    legend = [t.get_text() for t in roc.get_legend().get_texts()]
    assert any(f"#{a['id']}" in t for t in legend) and any(f"#{b['id']}" in t for t in legend)

    # The colours are palette roles, looked up when painted: they follow a theme switch.
    r = by_name["roc_auc"][0]
    verdict = rows[r][4]
    try:
        palette.apply("dark")
        brush = metrics.index(r, 4).data(Qt.ItemDataRole.ForegroundRole)
        dark = palette.ROLES["good" if verdict == "better" else "bad"][1]
        assert brush.color() == QColor(dark)
    finally:
        palette.apply("light")


def test_runs_of_different_tasks_and_a_cancelled_run_say_so(qtbot, pane, store, sample_csv):
    from lablift.core.errors import Cancelled
    ds = datasets.import_dataset(store, sample_csv, name="loans")
    a = training.train(store, {"dataset": ds["id"], "target": "approved",
                               "algorithm": "logistic_regression", "cv": 0})
    b = training.train(store, {"dataset": ds["id"], "target": "income", "algorithm": "ridge",
                               "cv": 0})
    calls = []

    def cancelled():  # a cancel once the run is recorded as running
        calls.append(1)
        return len(calls) > 3
    with pytest.raises(Cancelled):
        training.train(store, {"dataset": ds["id"], "target": "approved", "cv": 0,
                               "algorithm": "logistic_regression"}, cancelled=cancelled)
    (stopped,) = [r for r in training.list_runs(store) if r["status"] == "cancelled"]
    _reload(qtbot, pane)
    with qtbot.waitSignal(pane.compare([a["id"], b["id"], stopped["id"]]).finished,
                          timeout=TIMEOUT_MS):
        pass
    shown = _plain(pane.compare_summary)
    assert "note: the runs have different tasks (A classification, B regression, C " \
           "classification): their metrics do not compare" in shown
    assert f"note: C (run {stopped['id']}) is cancelled" in shown
    headers = _headers(pane.compare_metrics_model)
    assert headers == ["metric", "A", "B", "B − A", "B vs A", "C", "C − A", "C vs A"]
    for cells in _grid(pane.compare_metrics_model):
        assert cells[5:] == ["—", "—", "—"]  # the cancelled run has no metrics
    setup = _grid(pane.compare_setup_model)
    assert setup[0][1:] == ["finished", "finished", "cancelled"]
    assert setup[5][3] == "none"  # no holdout rows
    qtbot.waitUntil(pane.compare_canvas.is_built, timeout=TIMEOUT_MS)
    texts = [t.get_text() for ax in pane.compare_canvas.figure.axes for t in ax.texts]
    assert any("different tasks" in t and "no common plot" in t for t in texts)


def test_a_retrained_challenger_shows_its_comparison_with_the_champion(qtbot, pane, store,
                                                                       version, sample_csv,
                                                                       tmp_path, cli):
    from test_run_compare import retrained_challenger
    champion, challenger, out = retrained_challenger(store, version, sample_csv, tmp_path)
    _reload(qtbot, pane)
    with qtbot.waitSignal(pane.compare([champion, challenger]).finished, timeout=TIMEOUT_MS):
        pass
    assert pane.compare_tables.isTabVisible(4)
    assert f"B ({out['challenger']['ref']}) is a retrained challenger of loans:1 (A); both " \
           f"scored on the 150 rows the retrain held out" in pane.compare_retrain_title.text()
    code, text, err = cli("admin", "run", "compare", str(champion), str(challenger))
    assert code == 0, err
    rows = _grid(pane.compare_retrain_model)
    assert rows and {c[0] for c in rows} >= {"accuracy", "roc_auc"}
    for cells in rows:
        name = cells[0]
        assert _cli_line(text, [name.replace(" ↓", " (lower is better)"), *cells[1:]]) or \
            _cli_line(text, cells), cells


def test_a_narrow_window_puts_the_chart_in_a_tab_made_when_opened(qtbot, pane, store,
                                                                   sample_csv):
    ds = datasets.import_dataset(store, sample_csv, name="loans")
    ids = [training.train(store, {"dataset": ds["id"], "target": "approved", "cv": 0,
                                  "algorithm": algo})["id"]
           for algo in ("logistic_regression", "decision_tree")]
    _reload(qtbot, pane)
    pane.resize(900, 640)  # as a 1024 x 640 window leaves it
    with qtbot.waitSignal(pane.compare(ids).finished, timeout=TIMEOUT_MS):
        pass
    tables = pane.compare_tables
    qtbot.waitUntil(lambda: tables.tabText(tables.count() - 1) == "Curves", timeout=TIMEOUT_MS)
    metrics = pane.compare_metrics
    assert metrics.horizontalHeader().length() <= metrics.viewport().width() + 1  # no cut column
    assert not pane.compare_canvas.is_built()  # not shown yet: no chart made
    tables.setCurrentIndex(tables.count() - 1)
    qtbot.waitUntil(pane.compare_canvas.is_built, timeout=TIMEOUT_MS)
    assert len(pane.compare_canvas.figure.axes[1].get_lines()) == 2  # both runs' PR curves
    pane.resize(1600, 900)  # wide again: the chart beside the tables
    qtbot.waitUntil(lambda: tables.indexOf(pane.compare_canvas) == -1, timeout=TIMEOUT_MS)
    assert pane.compare_canvas.parent() is pane.compare_split
