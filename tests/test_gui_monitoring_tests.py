"""Ingest options dialog: the drift test chosen per column reaches the stored batch.

The real IngestOptionsDialog is built by the pane; only its modal exec() is replaced by a
function that picks tests in the dialog's combos and accepts (as a user would)."""

from __future__ import annotations

import pandas as pd
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QFileDialog

from lablift.core import drift, monitoring, registry, training
from lablift.core.datasets import import_dataset
from lablift.core.store import Store
from lablift.gui import drift_tests
from lablift.gui.panes import monitoring as mpane
from lablift.resources import SAMPLE_LOANS

TIMEOUT_MS = 60000


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """loans:1 trained and registered by alice (analyst)."""
    root = tmp_path_factory.mktemp("drift_tests") / "store"
    admin = Store(root, user="admin")
    admin.add_user("alice", "analyst")
    alice = Store(root, user="alice")
    ds = import_dataset(alice, SAMPLE_LOANS, name="loans")
    run = training.train(alice, {"dataset": ds["id"], "target": "approved",
                                 "algorithm": "logistic_regression", "cv": 2})
    assert run["status"] == "finished"
    registry.register(alice, run["id"], "loans")
    alice.close()
    admin.close()
    return root


@pytest.fixture
def alice(template, tmp_path):
    import shutil
    root = tmp_path / "store"
    shutil.copytree(template, root)
    s = Store(root, user="alice")
    yield s
    s.close()


@pytest.fixture
def batch_csv(tmp_path):
    b = pd.read_csv(SAMPLE_LOANS).sample(300, random_state=3).reset_index(drop=True)
    b["income"] = b["income"] * 1.5
    path = tmp_path / "batch.csv"
    b.to_csv(path, index=False)
    return path


def test_choices_follow_drift_py():
    # categorical: never the numeric-only tests; Z only for two values
    assert drift_tests.test_choices("categorical", 5) == ["chisquare", "jensenshannon", "psi"]
    assert drift_tests.test_choices("categorical", 2) == ["chisquare", "z", "jensenshannon",
                                                          "psi"]
    # continuous numeric: no per-value count tests
    assert drift_tests.test_choices("numeric", 700) == ["ks", "wasserstein", "psi"]
    # low-cardinality numeric is treated like a category by drift.py: counts are fine
    assert set(drift_tests.test_choices("numeric", 4)) == set(drift.TESTS) - {"z"}
    for kind, n in (("categorical", 3), ("categorical", 2), ("numeric", 3), ("numeric", 50)):
        for test in drift_tests.test_choices(kind, n):  # every offered test runs in drift.py
            assert test in drift.TESTS
            assert not (kind != "numeric" and test in drift.NUMERIC_ONLY)


def test_chosen_tests_reach_the_stored_batch(qtbot, alice, batch_csv, monkeypatch):
    pane = mpane.Pane(alice)
    qtbot.addWidget(pane)
    pane.resize(1120, 720)
    pane.show()
    qtbot.waitUntil(lambda: not pane.is_busy() and pane.data is not None, timeout=TIMEOUT_MS)
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(batch_csv), "")))
    seen = {}

    def fake_exec(dialog):
        panel = dialog.drift_tests
        seen["collapsed"] = not panel.is_expanded()
        qtbot.mouseClick(panel.toggle, Qt.MouseButton.LeftButton)
        seen["expanded"] = panel.is_expanded()
        seen["columns"] = list(panel.combos)
        seen["income"] = panel.choices("income")
        seen["purpose"] = panel.choices("purpose")
        seen["gender"] = panel.choices("gender")
        with pytest.raises(ValueError):
            panel.set_test("purpose", "ks")  # not offered for a categorical column
        panel.set_test("income", "psi")
        panel.set_test("purpose", "chisquare")
        panel.set_test("region", "jensenshannon")
        panel.set_test("region", None)  # back to the default
        seen["summary"] = panel.summary.text()
        seen["label"] = dialog.label_combo.currentText()
        return QDialog.DialogCode.Accepted
    monkeypatch.setattr(mpane.IngestOptionsDialog, "exec", fake_exec)
    with qtbot.waitSignal(pane.loaded, timeout=TIMEOUT_MS):
        qtbot.mouseClick(pane.top.ingest_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT_MS)

    assert seen["collapsed"] and seen["expanded"]
    features = training.get_run(alice, registry.resolve_version(alice, "loans:1")["run_id"]
                                )["spec"]["features"]
    assert seen["columns"] == [f for f in features if f in seen["columns"]]
    assert {"income", "purpose", "gender", "age"} <= set(seen["columns"])
    assert seen["income"] == ["ks", "wasserstein", "psi"]
    assert "ks" not in seen["purpose"] and "wasserstein" not in seen["purpose"]
    assert "z" not in seen["purpose"] and "z" in seen["gender"]
    assert "income → psi" in seen["summary"] and "purpose → chisquare" in seen["summary"]
    assert seen["label"] == "approved"

    (batch,) = monitoring.report(alice, "loans:1")["batches"]
    stored = monitoring.get_batch(alice, batch["id"])["result"]["drift"]["columns"]
    cols = {c["name"]: c for c in stored}
    assert cols["income"]["test"] == "psi"
    assert cols["income"]["statistic"] == pytest.approx(cols["income"]["psi"])
    assert cols["purpose"]["test"] == "chisquare" and cols["purpose"]["p_value"] is not None
    others = [c for n, c in cols.items() if n not in ("income", "purpose")]
    assert others
    for c in others:  # left at the default: the test drift.py picks on its own
        assert c["test"] == drift.default_test(c["n_reference"], c["n_values"], c["kind"]), c
    # the pane's feature list names the chosen test
    features = pane.drift_tab.feature_list
    texts = {features.item(i).data(Qt.ItemDataRole.UserRole): features.item(i).text()
             for i in range(features.count())}
    assert "PSI " in texts["income"].split("income", 1)[1]
    assert "chi²" in texts["purpose"]


def test_default_only_passes_no_tests(qtbot, alice, batch_csv):
    inputs = drift_tests.drift_inputs(alice, training.get_run(alice, 1))
    dialog = mpane.IngestOptionsDialog(None, str(batch_csv), ["income", "purpose", "approved"],
                                       "approved", None, inputs, {"purpose": "psi"})
    qtbot.addWidget(dialog)
    # only the file's columns are listed; a configured setting is named in the default entry
    assert list(dialog.drift_tests.combos) == ["income", "purpose"]
    assert dialog.drift_tests.combos["purpose"].itemText(0) == "default (psi, from settings)"
    assert dialog.options()["tests"] is None
    dialog.drift_tests.set_test("income", "ks")
    assert dialog.options()["tests"] == {"income": "ks"}
    dialog.drift_tests.reset()
    assert dialog.options()["tests"] is None
