"""The run-detail panels of the Experiments pane: one render per event-loop turn, fixed margins."""

import pytest

from lablift.gui.experiment_charts import panel_margins, run_panels
from lablift.gui.panes.experiments import RunPanels

PLOTS = {"confusion_matrix": {"labels": [0, 1], "matrix": [[5, 1], [2, 7]]},
         "roc": [{"class": 1, "fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1], "auc": 0.7}],
         "pr": [{"class": 1, "recall": [0, 0.5, 1], "precision": [1, 0.8, 0.6],
                 "average_precision": 0.8}],
         "importance": [{"feature": "a_rather_long_feature_name", "mean": 0.1, "std": 0.01},
                        {"feature": "b", "mean": 0.0, "std": 0.0}]}


@pytest.fixture
def panels(qtbot):
    w = RunPanels()
    qtbot.addWidget(w)
    w.resize(600, 460)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_panels_render_in_order_after_the_calling_turn(qtbot, panels):
    renders = []  # (canvas index, panels already rendered when it rendered)
    for i, canvas in enumerate(panels.canvases):
        canvas.mpl_connect("draw_event", lambda _e, i=i: renders.append(i))
    with qtbot.waitSignal(panels.done, timeout=10_000):
        panels.show_panels(run_panels({"task": "classification"}, PLOTS))
        assert panels.is_busy() and not renders  # nothing drawn in the calling turn
    assert renders == [0, 1, 2, 3]
    titles = [ax.get_title(loc="left") for ax in panels.figure.axes]
    assert titles[:3] == ["Confusion matrix (holdout)", "ROC (holdout)",
                          "Precision-recall (holdout)"]
    assert not panels.is_busy()
    assert all(c.figure.get_layout_engine() is None for c in panels.canvases)


def test_margins_leave_room_for_long_labels(qtbot, panels):
    with qtbot.waitSignal(panels.done, timeout=10_000):
        panels.show_panels(run_panels({"task": "classification"}, PLOTS))
    imp = panels.canvases[3]
    left, _bottom, _right, top = panel_margins(imp.figure.axes[0])
    roc_left = panel_margins(panels.canvases[1].figure.axes[0])[0]
    assert left > roc_left + 40  # the 16-character feature labels need more than "0.5"
    box = imp.figure.axes[0].get_position()
    assert box.x0 * imp.figure.bbox.width == pytest.approx(left, abs=1)
    assert (1 - box.y1) * imp.figure.bbox.height == pytest.approx(top, abs=1)


def test_a_panel_that_fails_says_so_and_the_others_draw(qtbot, panels):
    bad = dict(PLOTS, importance=[{"feature": "a"}])  # no "mean"
    with qtbot.waitSignal(panels.done, timeout=10_000):
        panels.show_panels(run_panels({"task": "classification"}, bad))
    texts = [t.get_text() for t in panels.canvases[3].figure.axes[0].texts]
    assert any(t.startswith("This plot cannot be drawn") for t in texts)
    assert panels.canvases[1].figure.axes[0].get_legend() is not None


def test_message_replaces_the_panels(qtbot, panels):
    with qtbot.waitSignal(panels.done, timeout=1_000):
        panels.show_message("Run 3 is failed: no plots")
    assert panels.currentIndex() == 0 and "no plots" in panels.message.text()
    assert not panels.is_busy()


def test_canvases_are_made_with_the_first_plots_not_with_the_widget(qtbot):
    w = RunPanels()
    qtbot.addWidget(w)
    w.resize(600, 460)
    w.show()
    qtbot.waitExposed(w)
    assert not w.is_built() and not w.is_busy()
    with qtbot.waitSignal(w.done, timeout=1_000):
        w.show_message("Run 3 is failed: no plots")
    assert not w.is_built()  # a message needs no matplotlib canvas
    with qtbot.waitSignal(w.done, timeout=10_000):
        w.show_panels(run_panels({"task": "classification"}, PLOTS))
        assert w.is_busy()
    assert w.is_built() and w.currentIndex() == 1
    assert [c.figure.axes[0].get_title(loc="left") for c in w.canvases][:2] == [
        "Confusion matrix (holdout)", "ROC (holdout)"]


def test_newer_plots_replace_ones_still_waiting(qtbot, panels):
    first = run_panels({"task": "classification"}, PLOTS)
    second = run_panels({"task": "regression", "target": "y"},
                        {"actual_vs_predicted": {"actual": [1, 2, 3], "predicted": [1, 2, 2]}})
    with qtbot.waitSignal(panels.done, timeout=10_000):
        panels.show_panels(first)
        panels.show_panels(second)  # in the same turn: only the newest draws
    titles = [c.figure.axes[0].get_title(loc="left") for c in panels.canvases]
    assert "Confusion matrix (holdout)" not in titles
