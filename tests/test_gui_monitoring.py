"""Monitoring pane on a real trained, registered and approved version of the sample loan model:
ingest from the pane (file and options dialogs patched), charts drawn with the expected titles
and artists, alerts, the attention banner in the main window, acknowledge, retrain."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import shiboken6
from matplotlib.image import AxesImage
from matplotlib.patches import StepPatch
from PySide6.QtCore import QThreadPool, Qt
from PySide6.QtWidgets import QFileDialog

from lablift.core import audit, monitoring, registry, training
from lablift.core.datasets import import_dataset
from lablift.core.store import Store
from lablift.gui.main_window import MainWindow
from lablift.gui.panes import monitoring as mpane
from lablift.resources import SAMPLE_LOANS

from gui_helpers import notices  # noqa: F401  (a fixture: what the pane tells its user)

TIMEOUT_MS = 60000
USERS = {"alice": "analyst", "bob": "reviewer", "olga": "ops"}
# the columns test_monitoring.py shifts; the others keep the training distribution
SHIFTED = {"age", "income", "employment_years", "credit_score", "loan_amount", "home_ownership"}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """loans:1, trained and registered by alice (analyst), approved by bob (reviewer)."""
    root = tmp_path_factory.mktemp("monitoring") / "store"
    admin = Store(root, user="admin")
    for name, role in USERS.items():
        admin.add_user(name, role)
    alice = Store(root, user="alice")
    ds = import_dataset(alice, SAMPLE_LOANS, name="loans")
    run = training.train(alice, {"dataset": ds["id"], "target": "approved",
                                 "algorithm": "logistic_regression", "cv": 2})
    assert run["status"] == "finished"
    registry.register(alice, run["id"], "loans")
    bob = Store(root, user="bob")
    registry.approve(bob, "loans:1", comment="checked")
    for s in (bob, alice, admin):
        s.close()
    return root


@pytest.fixture
def stores(template, tmp_path):
    root = tmp_path / "store"
    shutil.copytree(template, root)
    opened = []

    def open_as(user: str) -> Store:
        s = Store(root, user=user)
        opened.append(s)
        return s
    yield open_as
    for s in opened:
        s.close()


@pytest.fixture
def shifted_csv(tmp_path):
    loans = pd.read_csv(SAMPLE_LOANS)
    b = loans.sample(400, random_state=1).reset_index(drop=True)
    b["age"] = b["age"] + 15
    b["income"] = b["income"] * 1.8
    b["employment_years"] = b["employment_years"] + 8
    b["credit_score"] = b["credit_score"] - 90
    b["loan_amount"] = b["loan_amount"] * 2
    b["home_ownership"] = "rent"
    flip = np.arange(len(b)) % 2 == 0  # concept drift: the accuracy drops too
    b.loc[flip, "approved"] = 1 - b.loc[flip, "approved"]
    path = tmp_path / "shifted.csv"
    b.to_csv(path, index=False)
    return path


def _wait_for_workers(qtbot, widgets) -> None:
    """Before the stores close: the widgets' tasks have ended (pytest-qt may already have
    deleted a widget closed at teardown; its workers still run in the pool)."""
    for w in widgets:
        qtbot.waitUntil(lambda: not shiboken6.isValid(w) or not w.is_busy(), timeout=TIMEOUT_MS)
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


@pytest.fixture
def open_window(qtbot):
    opened = []

    def _open(store, pane: str = "monitoring"):
        w = MainWindow(store, restore_state=False)
        qtbot.addWidget(w)
        w.resize(1280, 800)
        w.show()
        p = w.select_pane(pane)
        opened.append(w)
        qtbot.waitUntil(lambda: not p.is_busy(), timeout=TIMEOUT_MS)
        return w, p
    yield _open
    _wait_for_workers(qtbot, opened)


@pytest.fixture
def open_pane(qtbot):
    opened = []

    def _open(store):
        p = mpane.Pane(store)
        qtbot.addWidget(p)
        p.resize(1120, 720)
        p.show()
        opened.append(p)
        qtbot.waitUntil(lambda: not p.is_busy(), timeout=TIMEOUT_MS)
        return p
    yield _open
    _wait_for_workers(qtbot, opened)


def _titles(canvas) -> list[str]:
    return [t for ax in canvas.figure.axes for t in (ax.get_title("left"), ax.get_title("center"),
                                                     ax.get_title("right")) if t]


def _texts(canvas) -> str:
    return " ".join(t.get_text() for ax in canvas.figure.axes for t in ax.texts)


def _legend(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def test_no_versions_explains_what_to_do(open_pane, tmp_path):
    empty = Store(tmp_path / "empty", user="admin")
    pane = open_pane(empty)
    assert pane.pages.currentWidget() is pane.empty
    assert "register" in pane.empty_text.text()
    assert pane.selected_ref() is None
    empty.close()


def test_version_without_batches_shows_ingest_hint_and_first_with_batches_is_chosen(
        stores, open_pane, shifted_csv):
    alice = stores("alice")
    pane = open_pane(alice)
    assert pane.version_refs() == ["loans:1"]
    assert pane.content.currentWidget() is pane.no_batches
    assert pane.no_batches_text.text() == mpane.NO_BATCHES
    assert pane.top.version_combo.currentText() == "loans:1 — approved · 0 batches"
    # another model sorts first, but the version with batches is shown by default
    registry.register(alice, 1, "aaa")
    monitoring.ingest(alice, "loans:1", shifted_csv, label="approved")
    pane2 = open_pane(alice)
    assert pane2.version_refs() == ["aaa:1", "loans:1"]
    assert pane2.selected_ref() == "loans:1"
    assert pane2.content.currentWidget() is pane2.tabs
    assert pane2.top.version_combo.currentText().startswith("⚠ loans:1")


def test_ingest_shifted_labelled_batch_from_the_pane(qtbot, stores, open_window, shifted_csv,
                                                    monkeypatch):
    alice = stores("alice")
    window, pane = open_window(alice)
    assert not window.banner.isVisible()
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(shifted_csv), "")))
    asked = {}

    def fake_ask(parent, path, columns, label=None, timestamp=None, **_advanced):
        asked.update(path=path, columns=columns, label=label, timestamp=timestamp)
        return {"label": "approved", "timestamp": None, "window": None}
    monkeypatch.setattr(mpane.IngestOptionsDialog, "ask", staticmethod(fake_ask))
    with qtbot.waitSignal(pane.loaded, timeout=TIMEOUT_MS):
        qtbot.mouseClick(pane.top.ingest_button, Qt.MouseButton.LeftButton)
        assert pane.progress_bar.isVisible() and not pane.top.ingest_button.isEnabled()
    # the options dialog was offered the file's columns, with the model's target as label
    assert "approved" in asked["columns"] and "income" in asked["columns"]
    assert asked["label"] == "approved" and asked["timestamp"] is None
    assert not pane.progress_bar.isVisible() and pane.top.ingest_button.isEnabled()

    stored = monitoring.report(alice, "loans:1")
    assert len(stored["batches"]) == 1
    batch = stored["batches"][0]
    assert pane.content.currentWidget() is pane.tabs
    assert pane.batches_tab.batches_model.rowCount() == 1
    assert pane.drift_tab.batch_combo.count() == 1
    assert pane.batches_tab.batches_model.record(0)["id"] == batch["id"]
    assert "dataset drift" in pane.batches_tab.batches_model.record(0)["drift_text"]
    assert f"Batch #{batch['id']}" in pane.notice.text() and pane.notice.isVisible()

    # drift share: a red (dataset drift) bar and the 0.5 threshold line
    (share_ax,) = pane.drift_tab.share_chart.figure.axes
    assert share_ax.get_title("left") == "Drift share per batch"
    assert [p.get_height() for p in share_ax.patches] == [pytest.approx(batch["drift_share"])]
    assert any(list(line.get_ydata()) == [0.5, 0.5] for line in share_ax.lines)
    assert "dataset drift" in _legend(share_ax) and "threshold 0.5" in _legend(share_ax)

    # heatmap: features x batches of PSI, the drifted cells marked, a colorbar beside it
    heat_ax = pane.drift_tab.heatmap_ax
    assert heat_ax.get_title("right") == "Feature drift across batches (colour: PSI)"
    assert len(pane.drift_tab.heatmap_chart.figure.axes) == 2  # + colorbar
    (image,) = [a for a in heat_ax.get_children() if isinstance(a, AxesImage)]
    assert image.get_array().shape == (len(pane.features), 1)
    assert pane.features[-1] == "prediction"
    marks = heat_ax.collections[0].get_offsets()
    marked = {pane.features[int(y)] for _, y in marks}
    drifted = {n for n, c in pane.data["cells"][batch["id"]].items() if c["drifted"]}
    assert marked == drifted and SHIFTED <= marked
    psi = {c["name"]: c["psi"] for c in monitoring.batch_view(
        monitoring.get_batch(alice, batch["id"]))["columns"]}
    assert image.get_array()[pane.features.index("income"), 0] == pytest.approx(psi["income"])

    # the first drifted feature's distribution: reference vs batch
    assert pane.drift_tab.feature == "age"
    (dist_ax,) = pane.drift_tab.dist_chart.figure.axes
    assert dist_ax.get_title("left").startswith(f"age in batch #{batch['id']} vs reference")
    assert sum(isinstance(p, StepPatch) for p in dist_ax.patches) == 2
    assert any(t.startswith("reference (training") for t in _legend(dist_ax))

    # metrics: the batch's accuracy against the holdout line and the alert level
    run = training.get_run(alice, registry.resolve_version(alice, "loans:1")["run_id"])
    holdout = run["metrics"]["holdout"]["accuracy"]
    assert pane.performance_tab.metric_combo.currentText() == "accuracy"
    (metric_ax,) = pane.performance_tab.metric_chart.figure.axes
    assert metric_ax.get_title("left") == "accuracy over time (labelled batches)"
    ys = [list(line.get_ydata()) for line in metric_ax.lines]
    assert [stored["metrics"]["series"]["accuracy"][0]["value"]] in ys
    assert [holdout, holdout] in ys
    assert f"holdout {holdout:.3g}" in _legend(metric_ax)
    # no gate on loans: the alert level (holdout - tolerance) is drawn; the batch is below it
    assert [holdout - 0.05, holdout - 0.05] in ys
    assert len(metric_ax.collections[0].get_offsets()) == 1
    assert "beyond the alert level" in _legend(metric_ax)
    # no prediction log: the latency chart says where latency comes from
    assert "serve.py --log" in _texts(pane.performance_tab.latency_chart)

    # alerts: drift and performance, both open
    kinds = {a["kind"] for a in pane.alerts_tab.alerts_model.records()}
    assert kinds == {a["kind"] for a in batch_alerts(alice, batch["id"])} >= {"drift", "metric"}
    assert pane.tabs.tabText(2) == f"Alerts ({len(kinds)} open)"
    # data-quality findings of the new batch (ages beyond the training range, ...)
    checks = {(f["check"], f["column"]) for f in pane.batches_tab.findings_model.records()}
    assert ("out_of_range", "age") in checks
    # the banner in the main window, whatever pane is open (read in a worker)
    qtbot.waitUntil(window.banner.isVisible, timeout=TIMEOUT_MS)
    text = window.banner.label.text()
    assert text.startswith(f"⚠ loans:1 needs attention: batch {batch['id']}")
    assert "dataset drift" in text
    window.select_pane("datasets")
    assert window.banner.isVisible()
    window.banner.action_button.click()
    assert window.current_pane_name() == "monitoring"


def batch_alerts(store, batch_id: int) -> list[dict]:
    return store.query("SELECT * FROM alerts WHERE batch_id = ?", (batch_id,))


def test_selecting_a_feature_redraws_the_histogram(qtbot, stores, open_pane, shifted_csv):
    alice = stores("alice")
    batch = monitoring.ingest(alice, "loans:1", shifted_csv, label="approved")
    pane = open_pane(alice)
    # from the list: a categorical feature as bars of shares
    pane.drift_tab.feature_list.setCurrentRow(pane.features.index("home_ownership"))
    (ax,) = pane.drift_tab.dist_chart.figure.axes
    assert ax.get_title("left").startswith("home_ownership in batch #")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "rent" in labels
    hist = monitoring.batch_histogram(alice, batch["id"], "home_ownership")
    rent = hist["categories"].index("rent")
    widths = sorted(p.get_width() for p in ax.patches)
    assert hist["current"][rent] / sum(hist["current"]) == pytest.approx(1.0)
    assert widths[-1] == pytest.approx(1.0)
    # from the heatmap: a click on income's cell
    i = pane.features.index("income")
    pane.drift_tab.on_heatmap_click(SimpleNamespace(inaxes=pane.drift_tab.heatmap_ax, xdata=0.1,
                                                    ydata=i - 0.2))
    assert pane.drift_tab.feature == "income"
    assert pane.drift_tab.feature_list.currentRow() == i
    (ax,) = pane.drift_tab.dist_chart.figure.axes
    assert ax.get_title("left").startswith("income in batch #")
    step = [p for p in ax.patches if isinstance(p, StepPatch)]
    edges = monitoring.batch_histogram(alice, batch["id"], "income")["edges"]
    assert list(step[0].get_data().edges) == pytest.approx(edges)
    outline = [p for p in pane.drift_tab.heatmap_ax.patches if p.get_gid() == "selected-cell"]
    assert outline and outline[0].get_xy() == (-0.5, i - 0.5)


def test_acknowledge_clears_alerts_attention_and_banner(qtbot, stores, open_window,
                                                        shifted_csv):
    alice = stores("alice")
    monitoring.ingest(alice, "loans:1", shifted_csv, label="approved")
    olga = stores("olga")  # ops may acknowledge
    window, pane = open_window(olga)
    qtbot.waitUntil(window.banner.isVisible, timeout=TIMEOUT_MS)  # read in a worker
    pane.tabs.setCurrentIndex(2)
    ids = [a["id"] for a in pane.alerts_tab.open_alerts()]
    assert len(ids) >= 2 and not pane.alerts_tab.ack_button.isEnabled()
    pane.alerts_tab.select_alerts(ids[:1])
    assert pane.alerts_tab.ack_button.isEnabled()
    with qtbot.waitSignal(pane.loaded, timeout=TIMEOUT_MS):
        qtbot.mouseClick(pane.alerts_tab.ack_button, Qt.MouseButton.LeftButton)
    assert len(pane.alerts_tab.open_alerts()) == len(ids) - 1
    assert registry.resolve_version(olga, "loans:1")["attention"]  # one still open
    assert window.banner.isVisible()
    pane.alerts_tab.select_alerts(ids[1:])
    assert pane.alerts_tab.ack_button.text() == (f"Acknowledge {len(ids) - 1}" if len(ids) > 2
                                      else "Acknowledge")
    with qtbot.waitSignal(pane.loaded, timeout=TIMEOUT_MS):
        qtbot.mouseClick(pane.alerts_tab.ack_button, Qt.MouseButton.LeftButton)
    assert pane.alerts_tab.open_alerts() == []
    assert {a["acknowledged_by"] for a in pane.alerts_tab.alerts_model.records()} == {"olga"}
    assert pane.tabs.tabText(2) == "Alerts"
    assert registry.resolve_version(olga, "loans:1")["attention"] is None
    qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=TIMEOUT_MS)
    assert not pane.top.version_combo.currentText().startswith("⚠")
    actions = [e["action"] for e in audit.entries(olga)]
    assert actions.count("monitor.acknowledge") == len(ids)


def test_retrain_from_the_pane_registers_a_pending_challenger(qtbot, stores, open_window,
                                                              shifted_csv):
    alice = stores("alice")
    batch = monitoring.ingest(alice, "loans:1", shifted_csv, label="approved")
    window, pane = open_window(alice)
    qtbot.mouseClick(pane.top.retrain_button, Qt.MouseButton.LeftButton)
    confirm = pane.retrain_confirmation  # what is trained on what data, before anything runs
    assert confirm.isVisible() and pane.retrain_task is None
    assert [b["id"] for b in confirm.batches] == [batch["id"]]
    with qtbot.waitSignal(pane.loaded, timeout=TIMEOUT_MS):  # the refresh after retraining
        qtbot.mouseClick(confirm.ok_button, Qt.MouseButton.LeftButton)
        task = pane.retrain_task
        with qtbot.waitSignal(task.finished, timeout=TIMEOUT_MS):
            pass
    result = task.result
    challenger = registry.resolve_version(alice, "loans:2")
    assert challenger["status"] == "pending"
    assert challenger["challenger_of"] == registry.resolve_version(alice, "loans:1")["id"]
    assert challenger["lineage"]["batches"] == [batch["id"]]
    assert pane.version_refs() == ["loans:1", "loans:2"] and pane.selected_ref() == "loans:1"
    dialog = pane.retrain_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.windowTitle() == "Challenger loans:2 registered"
    rows = {r["metric"]: r for r in dialog.rows}
    comparison = result["comparison"]
    assert comparison["batch_id"] == batch["id"]
    assert rows["accuracy"]["champion"] == comparison["champion"]["accuracy"]
    assert rows["accuracy"]["challenger"] == comparison["challenger"]["accuracy"]
    assert dialog.table.model().rowCount() == len(comparison["champion"])
    # the challenger goes through Approvals (four-eyes): one click there
    dialog.approvals_button.click()
    assert window.current_pane_name() == "approvals"
    assert [(v["model"], v["version"]) for v in registry.approval_queue(alice)] == [("loans", 2)]


def test_refusals_by_role_become_dialogs_and_change_nothing(qtbot, stores, open_pane,
                                                            shifted_csv, notices):
    bob = stores("bob")  # a reviewer may not ingest nor retrain
    pane = open_pane(bob)
    task = pane.ingest_file(str(shifted_csv), label="approved")
    with qtbot.waitSignal(task.failed, timeout=TIMEOUT_MS):
        pass
    refusal = notices[-1]
    assert refusal.level == "warning" and refusal.title == "Ingest refused"
    assert "ingesting monitoring batches needs the role ops or analyst or admin" in \
        refusal.text
    assert "Nothing was changed" in refusal.text
    assert monitoring.report(bob, "loans:1")["batches"] == []
    olga = stores("olga")  # ops may ingest but not retrain
    pane2 = open_pane(olga)
    task = pane2.ingest_file(str(shifted_csv), label="approved")
    with qtbot.waitSignal(pane2.loaded, timeout=TIMEOUT_MS):
        pass
    assert task.state == "finished" and pane2.batches_tab.batches_model.rowCount() == 1
    task = pane2.retrain()
    with qtbot.waitSignal(task.failed, timeout=TIMEOUT_MS):
        pass
    assert notices[-1].level == "warning"
    assert "retraining a model needs the role analyst" in notices[-1].text
    assert [v["version"] for v in registry.list_versions(olga)] == [1]


def test_actions_a_role_may_not_take_are_disabled_with_the_reason(qtbot, stores, open_pane,
                                                                   shifted_csv):
    bob = stores("bob")  # a reviewer: neither ingest nor retrain, but acknowledge
    pane = open_pane(bob)
    ingest_refusal = ("Ingesting monitoring batches needs the role ops or analyst or admin; "
                      "user 'bob' is reviewer")
    for button in (pane.top.ingest_button, pane.no_batches_button):
        assert not button.isEnabled() and button.toolTip() == ingest_refusal
    assert not pane.top.retrain_button.isEnabled()
    assert pane.top.retrain_button.toolTip() == (
        "Retraining a model needs the role analyst or admin; user 'bob' is reviewer")
    qtbot.mouseClick(pane.top.ingest_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(pane.top.retrain_button, Qt.MouseButton.LeftButton)
    assert not pane.is_busy() and pane.retrain_confirmation is None
    olga = stores("olga")  # ops: ingest and acknowledge, not retrain
    pane2 = open_pane(olga)
    assert pane2.top.ingest_button.isEnabled()
    assert "needs the role analyst" in pane2.top.retrain_button.toolTip()
    assert not pane2.top.retrain_button.isEnabled()
    alice = stores("alice")  # an analyst may retrain once there is a labelled batch
    pane3 = open_pane(alice)
    assert not pane3.top.retrain_button.isEnabled()
    assert "no labelled batches" in pane3.top.retrain_button.toolTip()
    with qtbot.waitSignal(pane3.loaded, timeout=TIMEOUT_MS):
        pane3.ingest_file(str(shifted_csv), label="approved")
    assert pane3.top.retrain_button.isEnabled() and pane3.top.ingest_button.isEnabled()
    # the reviewer may acknowledge the alerts the batch raised
    pane.refresh()
    qtbot.waitUntil(lambda: not pane.is_busy() and bool(pane.alerts_tab.open_alerts()),
                    timeout=TIMEOUT_MS)
    pane.alerts_tab.select_alerts([a["id"] for a in pane.alerts_tab.open_alerts()])
    assert pane.alerts_tab.ack_button.isEnabled()
    assert not pane.top.ingest_button.isEnabled()


def test_an_unregistered_user_may_take_no_action(qtbot, stores, open_pane, shifted_csv):
    monitoring.ingest(stores("alice"), "loans:1", shifted_csv, label="approved")
    pane = open_pane(stores("zed"))  # not a user of the store: may read, nothing else
    assert pane.alerts_tab.open_alerts()
    pane.alerts_tab.select_alerts([a["id"] for a in pane.alerts_tab.open_alerts()])
    for button in (pane.top.ingest_button, pane.top.retrain_button,
                   pane.alerts_tab.ack_button):
        assert not button.isEnabled()
        assert button.toolTip().startswith("User 'zed' is not registered in store")


def test_retrain_asks_first_and_cancel_changes_nothing(qtbot, stores, open_pane, shifted_csv):
    alice = stores("alice")
    batch = monitoring.ingest(alice, "loans:1", shifted_csv, label="approved")
    monitoring.ingest(alice, "loans:1", shifted_csv)  # unlabelled: not learnt from
    pane = open_pane(alice)
    qtbot.mouseClick(pane.top.retrain_button, Qt.MouseButton.LeftButton)
    dialog = pane.retrain_confirmation
    assert dialog.isVisible() and dialog.windowTitle() == "Retrain a challenger of loans:1"
    assert dialog.ok_button.text() == "Retrain"
    run = training.get_run(alice, registry.resolve_version(alice, "loans:1")["run_id"])
    text = dialog.summary.text()
    assert f"run #{run['id']}: logistic_regression" in text and "<b>approved</b>" in text
    assert f"{len(run['spec']['features'])} features" in text
    assert f"dataset loans:1 ({pd.read_csv(SAMPLE_LOANS).shape[0]:,} rows" in text
    assert "1 labelled batch (400 labelled rows)" in text
    table = dialog.table.model()
    assert table.rowCount() == 1 and table.record(0)["id"] == batch["id"]
    qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Cancel),
                     Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert pane.retrain_task is None and not pane.is_busy()
    assert [v["version"] for v in registry.list_versions(alice)] == [1]


def test_cancel_ingest_leaves_the_store_unchanged(qtbot, stores, open_pane, shifted_csv):
    alice = stores("alice")
    pane = open_pane(alice)
    messages = []
    pane.message.connect(messages.append)
    task = pane.ingest_file(str(shifted_csv), label="approved")
    with qtbot.waitSignal(task.cancelled, timeout=TIMEOUT_MS):
        qtbot.mouseClick(pane.progress_bar.cancel_button, Qt.MouseButton.LeftButton)
    assert monitoring.report(alice, "loans:1")["batches"] == []
    assert messages[-1] == "Ingest of shifted.csv cancelled; nothing was changed"
    assert not pane.progress_bar.isVisible() and pane.top.ingest_button.isEnabled()


def test_windows_from_a_timestamp_column_chart_over_time(qtbot, stores, open_pane, tmp_path):
    loans = pd.read_csv(SAMPLE_LOANS)
    b = loans.sample(300, random_state=5).reset_index(drop=True)
    start = pd.Timestamp("2026-03-02T00:00:00Z")
    b["ts"] = [(start + pd.Timedelta(hours=i)).isoformat() for i in range(len(b))]
    path = tmp_path / "timed.csv"
    b.to_csv(path, index=False)
    alice = stores("alice")
    pane = open_pane(alice)
    assert mpane.peek_columns(str(path))[-1] == "ts"
    pane.ingest_file(str(path), label="approved", timestamp="ts", window="week")
    with qtbot.waitSignal(pane.loaded, timeout=TIMEOUT_MS):
        pass
    assert [r["window_text"] for r in pane.batches_tab.batches_model.records()] == [
        "week of 2026-03-02", "week of 2026-03-09"]
    (share_ax,) = pane.drift_tab.share_chart.figure.axes
    ticks = [t.get_text() for t in share_ax.get_xticklabels()]
    assert [t.split("\n")[1] for t in ticks] == ["wk 03-02", "wk 03-09"]
    (metric_ax,) = pane.performance_tab.metric_chart.figure.axes
    assert len(metric_ax.lines[0].get_xdata()) == 2
    assert "2 batches" in pane.notice.text()


def test_prediction_log_latency_and_volume_chart(qtbot, stores, open_pane, tmp_path):
    import json
    loans = pd.read_csv(SAMPLE_LOANS)
    features = [c for c in loans.columns if c not in ("approved", "applicant_id")]
    rows = loans.sample(60, random_state=4).reset_index(drop=True)
    log = tmp_path / "predictions.jsonl"
    with open(log, "w") as f:  # serve.py's --log line format, two days
        for i, r in rows.iterrows():
            f.write(json.dumps({"timestamp": f"2026-03-0{2 + i // 30}T10:00:00.000+00:00",
                                "request_id": f"req-{i}", "row": 0, "model": "loans:1",
                                "inputs": {c: (r[c].item() if hasattr(r[c], "item") else r[c])
                                           for c in features},
                                "prediction": int(r["approved"]),
                                "latency_ms": 5.0 + i}) + "\n")
    cols = mpane.peek_columns(str(log))
    assert set(features) <= set(cols) and "latency_ms" in cols and "inputs" not in cols
    alice = stores("alice")
    batches = monitoring.ingest(alice, "loans:1", log, window="day")["batches"]
    pane = open_pane(alice)
    # p99 about 34 ms on day 2: within the 100 ms budget, so no latency alert
    assert "latency" not in {a["kind"] for a in pane.alerts_tab.alerts_model.records()}
    lat_ax, volume_ax = pane.performance_tab.latency_chart.figure.axes
    assert lat_ax.get_title("left") == "Latency per batch (prediction logs)"
    lines = {line.get_label(): list(line.get_ydata()) for line in lat_ax.lines}
    for key in ("p50", "p95", "p99"):
        assert lines[key] == pytest.approx([b["ops"]["latency_ms"][key] for b in batches])
    assert lines["p99 budget 100 ms"] == [100.0, 100.0]
    assert [p.get_height() for p in volume_ax.patches] == [30, 30]
    assert volume_ax.get_ylabel() == "requests per batch"
    assert lat_ax.get_ylabel() == "latency (ms)"
    # no labels in a log: the metric chart says how to get metrics
    assert "label column" in _texts(pane.performance_tab.metric_chart)


def test_metric_chart_draws_the_models_gate(qtbot, stores, open_pane, shifted_csv):
    from lablift.core import gates
    registry.set_gates(stores("admin"), "loans", [gates.parse_gate("roc_auc>=0.6")])
    alice = stores("alice")
    batch = monitoring.ingest(alice, "loans:1", shifted_csv, label="approved")
    pane = open_pane(alice)
    assert pane.performance_tab.metric_combo.currentText() == "roc_auc"  # the gated metric first
    (ax,) = pane.performance_tab.metric_chart.figure.axes
    ys = {line.get_label(): list(line.get_ydata()) for line in ax.lines}
    assert ys["gate >= 0.6"] == [0.6, 0.6]
    assert ys["roc_auc on the batch"] == [pytest.approx(batch["metrics"]["roc_auc"])]
    fails = batch["metrics"]["roc_auc"] < 0.6
    assert ("fails the gate" in _legend(ax)) == fails
    pane.performance_tab.metric_combo.setCurrentText("accuracy")
    (ax,) = pane.performance_tab.metric_chart.figure.axes
    assert ax.get_title("left") == "accuracy over time (labelled batches)"
    assert not any(line.get_label().startswith("gate") for line in ax.lines)
