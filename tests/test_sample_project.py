"""The sample project (core/sample_project.py, `lablift sample-project`): an empty store gets a
dataset, two runs and a version pending review through the ordinary, audited core calls; a
store with work in it, a role that may not train, and a cancel are handled as the rules say.
Embedded stores only: the steps are the core's own, tested on both engines elsewhere."""

from __future__ import annotations

import json

import pytest

from lablift.cli import main
from lablift.cli.sample_project import describe
from lablift.core import audit, datasets, registry, sample_project, training
from lablift.core.errors import Cancelled, LabliftError, PermissionDenied
from lablift.core.store import Store


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One real sample project (the shipped algorithms and folds), made by the store's first
    user (its admin), with the progress it reported."""
    store = Store(tmp_path_factory.mktemp("sample") / "store", user="ana")
    seen: list[tuple[float, str]] = []
    result = sample_project.create(store, progress=lambda f, m: seen.append((f, m)))
    yield store, result, seen
    store.close()


def test_an_empty_store_gets_a_dataset_two_runs_and_a_pending_version(made):
    store, result, seen = made
    [ds] = datasets.list_datasets(store)
    assert (ds["name"], ds["version"], ds["rows"], ds["created_by"]) == (
        sample_project.DATASET, 1, 2000, "ana")
    runs = training.list_runs(store, full=True)
    assert sorted(r["algorithm"] for r in runs) == ["logistic_regression", "random_forest"]
    assert all(r["status"] == "finished" and r["created_by"] == "ana" for r in runs)
    assert {r["spec"]["sensitive"] for r in runs} == {"gender"}
    [version] = registry.list_versions(store, sample_project.MODEL)
    assert (version["version"], version["status"], version["created_by"]) == (1, "pending", "ana")
    # the better run by cross-validated ROC AUC is the one registered
    auc = {r["id"]: r["metrics"]["cv"]["roc_auc"]["mean"] for r in runs}
    assert version["run_id"] == max(auc, key=auc.get) == result["best_run"]
    assert registry.checks_of(store, version["id"])  # the default checks ran
    assert result["version"]["ref"] == "loans-sample:1"
    assert [r["id"] for r in result["runs"]] == sorted(auc)
    assert "Approvals" in result["next"][1] and "loans-sample:1" in result["next"][1]
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(m.startswith("Random forest: ") for _, m in seen)


def test_every_step_is_audited_and_the_chain_verifies(made):
    store = made[0]
    check = audit.verify(store)
    assert check.ok, check.reason or check.problems
    actions = [e["action"] for e in sorted(audit.entries(store), key=lambda e: e["seq"])]
    assert [a for a in actions if a not in ("store.create", "user.role")] == [
        "dataset.import", "run.start", "run.finish", "run.start", "run.finish", "model.create",
        "version.register"]
    assert all(e["user"] == "ana" for e in audit.entries(store))


def test_four_eyes_holds_for_whoever_made_it(made):
    store, result, _ = made
    reasons = registry.decision_blockers(store, result["version"]["ref"])
    assert any("four-eyes" in r for r in reasons)
    assert "nobody else here is a reviewer" in result["next"][2]


def test_a_store_with_work_in_it_is_refused_and_left_as_it_was(made):
    store = made[0]
    before = sample_project.contents(store)
    with pytest.raises(LabliftError, match="only in an empty store.*1 dataset version, 2 runs"):
        sample_project.create(store)
    assert sample_project.contents(store) == before


def test_a_user_who_may_not_train_is_refused_with_the_rule(tmp_path):
    admin = Store(tmp_path / "store", user="admin")
    admin.add_user("rita", "reviewer")
    rita = Store(tmp_path / "store", user="rita")
    with pytest.raises(PermissionDenied, match="needs the role analyst or admin; user 'rita' "
                                               "is reviewer"):
        sample_project.create(rita)
    assert sample_project.is_empty(admin)


def test_a_cancel_between_steps_keeps_what_was_completed(tmp_path):
    store = Store(tmp_path / "store", user="ana")
    imported = []

    def progress(fraction, message):
        if message.startswith("Imported"):  # the import is committed: cancel before training
            imported.append(message)
    with pytest.raises(Cancelled, match="before training the logistic regression: dataset "
                                        "sample_loans:1 stay"):
        sample_project.create(store, progress=progress, cancelled=lambda: bool(imported))
    assert sample_project.contents(store) == {"datasets": 1, "runs": 0, "models": 0}
    assert audit.verify(store).ok
    assert "only in an empty store" in sample_project.refusal(store)


def test_cli_prints_what_it_made_and_refuses_a_second_time(tmp_path, capsys, monkeypatch):
    # cheap runs: the real ones are the module fixture's; this is about the command
    monkeypatch.setattr(sample_project, "RUNS", (("dummy", {}),
                                                 ("decision_tree", {"max_depth": 3})))
    monkeypatch.setattr(sample_project, "CV_FOLDS", 0)
    where = str(tmp_path / "store")
    assert main(["--store", where, "--user", "ana", "sample-project"]) == 0
    out = capsys.readouterr().out
    assert "imported sample_loans:1 (id 1, 2000 rows x 12 columns)" in out
    assert "trained run 1: dummy baseline" in out and "trained run 2: decision tree" in out
    assert "registered loans-sample:1 from run 2: pending review" in out
    assert "Open Approvals as a reviewer to approve loans-sample:1" in out
    assert main(["--store", where, "--user", "ana", "sample-project", "--json"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the sample project is made only in an empty store")


def test_cli_text_marks_the_registered_run_and_json_serialises(made):
    store, result, _ = made
    text = describe(result)
    assert json.loads(json.dumps(result, default=str))["version"]["status"] == "pending"
    assert "<- registered" in text.splitlines()[result["best_run"]]
