"""Approvals pane: the queue, the evidence page, approve / reject from the pane, overrides,
and disabled buttons with the core's reason (role, four-eyes). Real widgets, real runs."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from lablift.cli import main
from lablift.core import audit, registry, training
from lablift.gui.panes import approvals as apane

from gui_helpers import notices, pane_opener, settled  # noqa: F401  (a fixture)
from registry_gui_helpers import Stores, build_template

TIMEOUT_MS = 60000


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("approvals") / "store")


@pytest.fixture
def stores(template, tmp_path):
    s = Stores(template, tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def open_pane(qtbot):
    opened = []
    yield pane_opener(qtbot, apane.Pane, opened)
    for p in opened:
        settled(qtbot, p)


def _click(qtbot, button):
    assert button.isEnabled(), button.toolTip()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    settled(qtbot, button.window())  # the decision is recorded in a worker


def _table(table) -> list[list[str]]:
    model = table.model()
    return [[model.index(r, c).data() for c in range(model.columnCount())]
            for r in range(model.rowCount())]


def _actions(store, entity):
    return [(e["action"], e["user"], e["details"]) for e in
            reversed(audit.entries(store, entity=entity))]


def test_queue_and_evidence_page_for_a_reviewer(stores, open_pane):
    alice = stores("alice")
    registry.register(alice, 1, "loan")
    bob = stores("bob")
    pane = open_pane(bob)

    assert pane.pages.currentWidget() is pane.splitter
    assert pane.queue_refs() == ["loan:1"]
    assert pane.queue_heading.text() == "Waiting for review (1)"
    assert pane.detail["ref"] == "loan:1"  # the first item is selected by default
    ev = pane.evidence
    assert "loan:1" in ev.header.text() and "pending" in ev.header.text()

    # Metrics against gates: the default fairness gate (four-fifths ratio), passed.
    gates = _table(ev.gates_table)
    assert len(gates) == 1 and gates[0][0].startswith("demographic_parity_ratio >= 0.8")
    assert gates[0][2] == "≥ 0.8" and gates[0][3] == "pass"
    run = training.get_run(bob, 1)
    metrics = {row[0]: row for row in _table(ev.metrics_table)}
    assert set(metrics) == set(run["metrics"]["holdout"])
    assert float(metrics["roc_auc"][1]) == pytest.approx(run["metrics"]["holdout"]["roc_auc"],
                                                         abs=1e-4)
    assert "No metric gates are configured" in ev.checks_note.text()
    assert "File → Settings… → Gates" in ev.checks_note.text()

    # Fairness: per-group table equal to the stored report, the chart with the four-fifths line.
    report = registry.version_detail(bob, "loan:1")["fairness"]
    rows = {r[0]: r for r in _table(ev.fairness_table)}
    assert set(rows) == {"female", "male", "overall"}
    for g in report["groups"]:
        assert int(rows[g["group"]][1]) == g["count"]
        assert float(rows[g["group"]][2]) == pytest.approx(g["selection_rate"], abs=1e-4)
    ax = ev.fairness_chart.figure.axes[0]
    assert len(ax.patches) == 2 * 3  # two groups x (selection rate, TPR, FPR)
    top = max(g["selection_rate"] for g in report["groups"])
    line = ax.collections[0].get_segments()[0]
    assert line[0][1] == pytest.approx(0.8 * top)
    assert "screening heuristic" in ev.fairness_note.text()
    assert "gender" in ev.fairness_summary.text()

    # Model card (Markdown rendered), lineage chain, no production to compare against.
    card = ev.card_browser.toPlainText()
    assert "Model card: loan:1" in card and "Intended use" in card and "Quantitative" in card
    chain = ev.lineage.text()
    sha = bob.query_one("SELECT sha256 FROM datasets WHERE id = 1")["sha256"]
    assert "loans:1" in chain and sha[:12] in chain and "run #1" in chain
    assert "no decision yet" in chain and "not exported" in chain
    assert "No production version of loan" in ev.diff_summary.text()

    box = pane.decision
    assert box.approve_button.isEnabled() and box.reject_button.isEnabled()
    assert box.reason.isHidden() and box.override.isHidden()  # no failed check


def test_approve_from_the_pane_records_and_empties_the_queue(qtbot, stores, open_pane):
    registry.register(stores("alice"), 1, "loan")
    bob = stores("bob")
    pane = open_pane(bob)
    messages = []
    pane.message.connect(messages.append)
    pane.decision.comment.setPlainText("metrics and fairness fine")
    _click(qtbot, pane.decision.approve_button)

    v = registry.resolve_version(bob, "loan:1")
    assert v["status"] == "approved"
    action, user, details = _actions(bob, "model_version:loan:1")[-1]
    assert (action, user, details["comment"]) == ("version.approve", "bob",
                                                  "metrics and fairness fine")
    assert messages[-1].startswith("Approved loan:1")
    assert pane.queue_refs() == [] and pane.pages.currentWidget() is pane.empty
    assert pane.empty.isVisible()
    assert audit.verify(bob).ok


def test_reject_needs_a_comment_then_rejects(qtbot, stores, open_pane):
    alice = stores("alice")
    registry.register(alice, 1, "loan")
    registry.register(alice, 2, "loan")
    bob = stores("bob")
    pane = open_pane(bob)
    assert pane.queue_refs() == ["loan:1", "loan:2"]
    assert pane.select_version("loan:2")
    settled(qtbot, pane)
    assert pane.detail["ref"] == "loan:2"
    before = len(audit.entries(bob))

    _click(qtbot, pane.decision.reject_button)  # empty comment
    assert registry.resolve_version(bob, "loan:2")["status"] == "pending"
    assert "needs a comment" in pane.decision.error.text()
    assert len(audit.entries(bob)) == before  # nothing written

    pane.decision.comment.setPlainText("C=0.1 underfits; keep version 1")
    assert pane.decision.error.text() == ""  # typing clears the refusal
    _click(qtbot, pane.decision.reject_button)
    v = registry.version_detail(bob, "loan:2")
    assert v["status"] == "rejected" and v["comment"] == "C=0.1 underfits; keep version 1"
    assert _actions(bob, "model_version:loan:2")[-1][:2] == ("version.reject", "bob")
    assert pane.queue_refs() == ["loan:1"] and pane.detail["ref"] == "loan:1"


def test_failed_check_shows_override_field_and_requires_it(qtbot, stores, open_pane):
    registry.set_gates(stores("admin"), "strict", [{"metric": "roc_auc", "op": ">=",
                                                     "threshold": 0.99}])
    registry.register(stores("alice"), 1, "strict")
    bob = stores("bob")
    pane = open_pane(bob)
    box = pane.decision
    assert not box.override.isHidden()
    gates = {r[0]: r for r in _table(pane.evidence.gates_table)}
    assert gates["roc_auc >= 0.99"][3] == "FAIL"
    assert "1 of 2 checks failed" in pane.evidence.checks_summary.text()
    assert pane.model.data(pane.model.index(0, 3)) == "1 passed, 1 failed"

    _click(qtbot, box.approve_button)  # no override reason
    assert registry.resolve_version(bob, "strict:1")["status"] == "pending"
    assert "override reason" in box.error.text()

    box.override.setText("holdout too small to trust; monitored closely")
    _click(qtbot, box.approve_button)
    d = registry.version_detail(bob, "strict:1")
    assert d["status"] == "approved"
    assert d["override_reason"] == "holdout too small to trust; monitored closely"
    details = _actions(bob, "model_version:strict:1")[-1][2]
    assert details["overridden_checks"] == ["roc_auc >= 0.99"]


def test_author_sees_disabled_buttons_with_the_four_eyes_reason(stores, open_pane):
    alice = stores("alice")
    registry.register(alice, 1, "loan")
    pane = open_pane(alice)
    box = pane.decision
    assert not box.approve_button.isEnabled() and not box.reject_button.isEnabled()
    assert "four-eyes" in box.reason.text() and "four-eyes" in box.approve_button.toolTip()
    # The same text as the rule the core enforces.
    core = registry.decision_blockers(alice, "loan:1")
    assert box.approve_button.toolTip() == "\n".join(core)
    assert not box.comment.isEnabled()


def test_admin_who_registered_is_blocked_by_four_eyes_only(stores, open_pane):
    admin = stores("admin")
    registry.register(admin, 1, "loan")  # admin may register; alice trained the run
    pane = open_pane(admin)
    text = pane.decision.reason.text()
    assert not pane.decision.approve_button.isEnabled()
    assert "four-eyes" in text and "registered it" in text and "needs the role" not in text


def test_analyst_who_did_not_train_is_refused_by_role(stores, open_pane):
    registry.register(stores("alice"), 1, "loan")
    pane = open_pane(stores("carol"))
    box = pane.decision
    assert not box.approve_button.isEnabled() and not box.reject_button.isEnabled()
    assert "reviewer or admin" in box.reason.text() and "carol" in box.reason.text()
    assert "four-eyes" not in box.reason.text()


def test_version_decided_meanwhile_is_refused_with_a_dialog(qtbot, stores, open_pane,
                                                            notices):
    registry.register(stores("alice"), 1, "loan")
    bob = stores("bob")
    pane = open_pane(bob)
    registry.approve(stores("rita"), "loan:1", comment="rita was faster")
    _click(qtbot, pane.decision.approve_button)
    assert [(n.level, n.title) for n in notices] == [("warning", "Approval refused")]
    assert "approve" in notices[0].text
    assert registry.version_detail(bob, "loan:1")["approver"] == "rita"
    assert pane.queue_refs() == []  # the queue re-read the store


def test_diff_against_production(stores, open_pane):
    registry.register(stores("alice"), 1, "loan")
    registry.approve(stores("bob"), "loan:1")
    registry.set_alias(stores("olga"), "loan:1", "production")
    registry.register(stores("alice"), 2, "loan")
    pane = open_pane(stores("bob"))
    ev = pane.evidence
    assert "Compared with production <b>loan:1</b>" in ev.diff_summary.text()
    rows = {r[0]: r for r in _table(ev.diff_metrics)}
    r1, r2 = training.get_run(pane.store, 1), training.get_run(pane.store, 2)
    delta = r2["metrics"]["holdout"]["roc_auc"] - r1["metrics"]["holdout"]["roc_auc"]
    assert rows["roc_auc"][3] == f"{delta:+.4f}"
    assert [r[0] for r in _table(ev.diff_params)] == ["C"]


def test_empty_queue_and_screenshots(tmp_path, stores, capsys):
    png = tmp_path / "empty.png"
    assert main(["--store", str(stores.root), "--user", "bob", "gui", "--screenshot",
                 str(png), "--pane", "approvals"]) == 0
    registry.register(stores("alice"), 1, "loan")
    full = tmp_path / "queue.png"
    assert main(["--store", str(stores.root), "--user", "bob", "gui", "--screenshot",
                 str(full), "--pane", "approvals"]) == 0
    a, b = QImage(str(png)), QImage(str(full))
    assert (b.width(), b.height()) == (1280, 800)
    colours = {b.pixel(x, y) for x in range(0, 1280, 7) for y in range(0, 800, 7)}
    assert len(colours) > 40  # tables, chart, badges: not a blank page
    assert a != b


def test_empty_state_text(stores, open_pane):
    pane = open_pane(stores("bob"))
    assert pane.pages.currentWidget() is pane.empty
    assert pane.queue_heading.text() == "Waiting for review (0)"
    labels = [w.text() for w in pane.empty.findChildren(type(pane.queue_heading))]
    assert "No versions waiting for review" in labels


def test_empty_queue_links_to_the_registry(qtbot, stores):
    from lablift.gui.main_window import MainWindow
    window = MainWindow(stores("bob"), restore_state=False)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    pane = window.select_pane("approvals")
    settled(qtbot, pane)
    qtbot.mouseClick(pane.empty.go_button, Qt.MouseButton.LeftButton)
    assert window.current_pane_name() == "registry"
    for p in window.panes.values():  # let every pane's first load end before teardown
        if hasattr(p, "is_busy"):
            qtbot.waitUntil(lambda p=p: not p.is_busy(), timeout=20000)


def test_fairness_chart_for_multiclass_and_regression_reports():
    from matplotlib.figure import Figure

    from lablift.gui.evidence import plot_group_rates
    multi = {"task": "classification", "mode": "multiclass (one-vs-rest, worst class)",
             "sensitive": "g", "four_fifths": {"threshold": 0.8},
             "per_class": {"a": {}, "b": {}, "c": {}},
             "groups": [{"group": "x", "count": 40, "selection_rate": {"a": 0.5, "b": 0.3,
                                                                        "c": 0.0}},
                        {"group": "y", "count": 60, "selection_rate": {"a": 0.25, "b": 0.3,
                                                                        "c": 0.0}}]}
    ax = Figure(layout="constrained").add_subplot()
    assert plot_group_rates(ax, multi)
    assert sorted(round(p.get_height(), 2) for p in ax.patches) == [0, 0, 0.25, 0.3, 0.3, 0.5]
    # One four-fifths mark per class with a positive rate (a and b), at 0.8 x the top group.
    ys = sorted(seg[0][1] for coll in ax.collections for seg in coll.get_segments())
    assert ys == pytest.approx([0.24, 0.4])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]

    reg = {"task": "regression", "sensitive": "region",
           "groups": [{"group": "n", "count": 5, "mae": 1.0, "rmse": 2.0},
                      {"group": "s", "count": 7, "mae": 3.0, "rmse": 4.0}]}
    ax = Figure(layout="constrained").add_subplot()
    assert plot_group_rates(ax, reg)
    assert sorted(p.get_height() for p in ax.patches) == [1.0, 2.0, 3.0, 4.0]
    assert len(ax.collections) == 0  # no four-fifths line for error metrics
    assert not plot_group_rates(Figure().add_subplot(), {"groups": []})


def test_history_tab_lists_the_versions_audit_entries(stores, open_pane):
    registry.register(stores("alice"), 1, "loan")
    pane = open_pane(stores("bob"))
    rows = _table(pane.evidence.history_table)
    assert [(r[2], r[3]) for r in rows] == [("alice", "version.register")]
    assert "run: 1" in rows[0][4]


def test_refresh_rereads_the_evidence_and_keeps_the_reviewers_comment(qtbot, stores,
                                                                       open_pane):
    alice = stores("alice")
    registry.register(alice, 1, "loan")
    pane = open_pane(stores("bob"))
    pane.decision.comment.setPlainText("half written")
    pane.evidence.select_tab("card")
    from lablift.core import modelcard
    modelcard.set_card_fields(alice, "loan:1", {"caveats": "Not for small-business loans."})
    pane.refresh()  # what the main window does when the pane is shown again
    settled(qtbot, pane)
    assert "Not for small-business loans." in pane.evidence.card_browser.toPlainText()
    assert pane.decision.comment.toPlainText() == "half written"
    assert pane.evidence.tabs.currentIndex() == pane.evidence.tab_index["card"]


def test_open_data_and_run_ask_the_main_window_through_navigate(qtbot, stores):
    from lablift.gui.main_window import MainWindow
    registry.register(stores("alice"), 1, "loan")
    window = MainWindow(stores("bob"), restore_state=False)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    pane = settled(qtbot, window.select_pane("approvals"))
    with qtbot.waitSignal(pane.navigate, timeout=TIMEOUT_MS) as asked:
        qtbot.mouseClick(pane.evidence.lineage.data_button, Qt.MouseButton.LeftButton)
    assert asked.args == ["datasets", 1]
    assert window.current_pane_name() == "datasets"
    datasets_pane = window.pane("datasets")
    qtbot.waitUntil(lambda: datasets_pane.selected_id() == 1, timeout=TIMEOUT_MS)

    window.select_pane("approvals")
    settled(qtbot, pane)
    with qtbot.waitSignal(pane.navigate, timeout=TIMEOUT_MS) as asked:
        qtbot.mouseClick(pane.evidence.lineage.run_button, Qt.MouseButton.LeftButton)
    assert asked.args == ["experiments", 1]
    assert window.current_pane_name() == "experiments"
    experiments = window.pane("experiments")
    if hasattr(experiments, "selected_run_ids"):
        qtbot.waitUntil(lambda: experiments.selected_run_ids() == [1], timeout=TIMEOUT_MS)
    for p in window.panes.values():  # let every pane's loads end before teardown
        if hasattr(p, "is_busy"):
            qtbot.waitUntil(lambda p=p: not p.is_busy(), timeout=TIMEOUT_MS)
