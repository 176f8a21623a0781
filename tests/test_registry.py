"""Registry core: register, checks, four-eyes approvals, overrides, aliases, archive, evidence."""

import shutil

import pytest

from lablift.core import audit, fairness, gates, registry, training
from lablift.core.datasets import import_dataset
from lablift.core.errors import LabliftError, NotFound, PermissionDenied
from lablift.core.store import Store

USERS = {"alice": "analyst", "bob": "reviewer", "carol": "analyst", "olga": "ops",
         "rita": "reviewer"}


@pytest.fixture(scope="module")
def base_store(tmp_path_factory, request):
    """Users, the sample data and three real runs (trained once per module, copied per test):
    run 1 good classifier with sensitive=gender, run 2 a weak one (only `age`), run 3 a
    regression on income with sensitive=region. alice trained all three."""
    from lablift.resources import SAMPLE_LOANS
    root = tmp_path_factory.mktemp("registry") / "store"
    admin = Store(root, user="admin")
    for name, role in USERS.items():
        admin.add_user(name, role)
    alice = Store(root, user="alice")
    import_dataset(alice, SAMPLE_LOANS, name="loans")
    base = {"dataset": "loans", "target": "approved", "algorithm": "logistic_regression",
            "cv": 2, "sensitive": "gender"}
    training.train(alice, base)
    training.train(alice, {**base, "features": ["age"]})
    training.train(alice, {"dataset": "loans", "target": "income", "algorithm": "ridge",
                           "cv": 2, "sensitive": "region",
                           "features": ["age", "employment_years", "credit_score"]})
    alice.close()
    admin.close()
    return root


@pytest.fixture
def as_user(base_store, tmp_path):
    root = tmp_path / "store"
    shutil.copytree(base_store, root)
    opened = []

    def _open(user):
        s = Store(root, user=user)
        opened.append(s)
        return s
    yield _open
    for s in opened:
        s.close()


def _audit_actions(store):
    return [e["action"] for e in reversed(audit.entries(store))]


def test_register_creates_pending_version_with_checks(as_user):
    alice = as_user("alice")
    v = registry.register(alice, 1, "loan", description="first", tags={"team": "risk"})
    assert (v["model"], v["version"], v["status"], v["run_id"]) == ("loan", 1, "pending", 1)
    assert v["created_by"] == "alice" and v["tags"] == {"team": "risk"}
    kinds = {c["kind"] for c in v["checks"]}
    assert kinds == {"info", "fairness_report", "fairness"}
    info = next(c for c in v["checks"] if c["kind"] == "info")
    assert "no metric gates" in info["details"]["note"] and info["passed"]
    # The fairness check in the store equals the report computed from the holdout artifact.
    run = training.get_run(alice, 1)
    hold = training.load_holdout(alice, run)
    expected = fairness.report("classification", hold["y_true"], hold["y_pred"],
                               hold["sensitive"], classes=run["spec"]["classes"])
    stored = next(c for c in v["checks"] if c["kind"] == "fairness_report")["details"]["report"]
    assert stored["demographic_parity_ratio"] == pytest.approx(
        expected["demographic_parity_ratio"])
    assert {g["group"] for g in stored["groups"]} == {"female", "male"}
    gate = next(c for c in v["checks"] if c["kind"] == "fairness")
    assert gate["details"]["threshold"] == 0.8 and gate["details"]["value"] == pytest.approx(
        expected["demographic_parity_ratio"])
    assert gate["passed"] == (expected["demographic_parity_ratio"] >= 0.8)
    v2 = registry.register(alice, 2, "loan")
    assert v2["version"] == 2
    assert v["lineage"]["dataset"]["sha256"] == alice.query_one(
        "SELECT sha256 FROM datasets WHERE id = 1")["sha256"]
    assert _audit_actions(alice)[-3:] == ["model.create", "version.register", "version.register"]
    assert audit.verify(alice).ok


def test_register_refusals_leave_store_unchanged(as_user):
    alice, bob = as_user("alice"), as_user("bob")
    before = alice.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    with pytest.raises(NotFound, match="run 99"):
        registry.register(alice, 99, "loan")
    with pytest.raises(LabliftError, match="model name 'bad name'"):
        registry.register(alice, 1, "bad name")
    with pytest.raises(PermissionDenied, match="registering a model needs the role analyst"):
        registry.register(bob, 1, "loan")
    assert alice.execute("SELECT COUNT(*) FROM model_versions").fetchone()[0] == 0
    assert alice.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == before
    registry.register(alice, 1, "loan")
    with pytest.raises(LabliftError, match="run 1 is already version loan:1"):
        registry.register(alice, 1, "loan")


def test_four_eyes_whatever_the_role(as_user):
    alice, admin, bob = as_user("alice"), as_user("admin"), as_user("bob")
    registry.register(alice, 1, "loan")
    with pytest.raises(PermissionDenied, match="four-eyes rule: alice trained run 1 and "
                                               "registered it and cannot approve version loan:1"):
        registry.approve(alice, "loan:1")
    # Even a reviewer (or admin) who registered it cannot: admin registers alice's run 2.
    registry.register(admin, 2, "other")
    with pytest.raises(PermissionDenied, match="four-eyes rule: admin registered it and cannot "
                                               "reject version other:1"):
        registry.reject(admin, "other:1", "no")
    # alice promoted to reviewer still cannot approve what she trained.
    admin.add_user("alice", "reviewer")
    with pytest.raises(PermissionDenied, match="four-eyes rule: alice trained run 2"):
        registry.approve(alice, "other:1")
    assert registry.decision_blockers(bob, "loan:1") == []
    assert registry.resolve_version(bob, "loan:1")["status"] == "pending"
    assert alice.execute("SELECT COUNT(*) FROM approvals").fetchone()[0] == 0


def test_role_needed_to_approve(as_user):
    alice, carol = as_user("alice"), as_user("carol")
    registry.register(alice, 1, "loan")
    with pytest.raises(PermissionDenied, match="approving needs the role reviewer or admin; "
                                               "user 'carol' is analyst") as exc:
        registry.approve(carol, "loan:1")
    assert "four-eyes" not in str(exc.value)


def test_approve_records_and_audits(as_user):
    alice, bob = as_user("alice"), as_user("bob")
    registry.register(alice, 1, "loan")
    v = registry.approve(bob, "loan:1", comment="checked the fairness table")
    assert v["status"] == "approved"
    d = registry.version_detail(bob, "loan:1")
    assert (d["approver"], d["comment"], d["override_reason"]) == (
        "bob", "checked the fairness table", None)
    assert d["card_frozen"] is True
    last = audit.entries(bob, limit=1)[0]
    assert (last["action"], last["user"], last["entity"]) == ("version.approve", "bob",
                                                              "model_version:loan:1")
    assert last["details"]["comment"] == "checked the fairness table"
    with pytest.raises(PermissionDenied, match="loan:1 is approved: only a pending version"):
        registry.approve(as_user("rita"), "loan:1")


def test_reject_needs_comment_and_is_final(as_user):
    alice, bob, olga = as_user("alice"), as_user("bob"), as_user("olga")
    registry.register(alice, 1, "loan")
    with pytest.raises(LabliftError, match="needs a comment"):
        registry.reject(bob, "loan:1", "  ")
    assert registry.resolve_version(bob, "loan:1")["status"] == "pending"
    registry.reject(bob, "loan:1", "holdout too small")
    assert registry.resolve_version(bob, "loan:1")["status"] == "rejected"
    with pytest.raises(PermissionDenied, match="is rejected"):
        registry.approve(as_user("rita"), "loan:1")
    with pytest.raises(LabliftError, match="rejected: no alias"):
        registry.set_alias(olga, "loan:1", "staging")
    # Superseded by registering again: a new version, the rejected one untouched.
    v2 = registry.register(alice, 1, "loan")
    assert v2["version"] == 2 and v2["lineage"]["supersedes"] == "loan:1"
    assert registry.resolve_version(bob, "loan:1")["status"] == "rejected"


def test_failing_gate_blocks_without_override(as_user):
    admin, alice, bob = as_user("admin"), as_user("alice"), as_user("bob")
    registry.set_gates(admin, "loan", [gates.parse_gate("roc_auc>=0.99"),
                                       gates.parse_gate("cv.accuracy>=0.5")])
    v = registry.register(alice, 1, "loan")
    by_name = {c["name"]: c for c in v["checks"]}
    auc = training.get_run(alice, 1)["metrics"]["holdout"]["roc_auc"]
    assert by_name["roc_auc >= 0.99"]["passed"] is False
    assert by_name["roc_auc >= 0.99"]["details"]["value"] == pytest.approx(auc)
    assert by_name["cv.accuracy >= 0.5"]["passed"] is True
    with pytest.raises(LabliftError, match=r"failed 1 check: roc_auc >= 0.99 \(value "):
        registry.approve(bob, "loan:1", comment="looks fine")
    assert registry.resolve_version(bob, "loan:1")["status"] == "pending"
    registry.approve(bob, "loan:1", comment="pilot", override="pilot on 5% of traffic")
    d = registry.version_detail(bob, "loan:1")
    assert d["status"] == "approved" and d["override_reason"] == "pilot on 5% of traffic"
    assert d["failed_checks"] == ["roc_auc >= 0.99"]
    row = bob.query_one("SELECT override_reason FROM approvals WHERE version_id = ?", (d["id"],))
    assert row["override_reason"] == "pilot on 5% of traffic"
    details = audit.entries(bob, limit=1)[0]["details"]
    assert details["overridden_checks"] == ["roc_auc >= 0.99"]
    assert "override of failing checks" in d["model_card"]


def test_gates_validation_and_admin_only(as_user):
    admin, alice = as_user("admin"), as_user("alice")
    with pytest.raises(PermissionDenied, match="setting model gates needs the role admin; "
                                               "user 'alice' is analyst"):
        registry.set_gates(alice, "loan", [{"metric": "roc_auc", "op": ">=", "threshold": 0.7}])
    for bad, msg in [("auc>=0.8", "gate metric 'auc' is unknown"),
                     ("roc_auc>=high", "threshold must be a number"),
                     ("roc_auc=0.8", "is not METRIC>=VALUE"),
                     ("log_loss>=production", "lower is better; write log_loss<=production")]:
        with pytest.raises(LabliftError, match=msg):
            gates.parse_gate(bad)
    assert gates.parse_gate("log_loss<=production+0.02") == {
        "metric": "log_loss", "no_worse_than": "production", "tolerance": 0.02}
    assert registry.get_gates(admin, "loan") == []
    registry.set_gates(admin, "loan", [gates.parse_gate("f1>=0.5")])
    assert registry.get_gates(admin, "loan") == [{"metric": "f1", "op": ">=", "threshold": 0.5}]
    assert _audit_actions(admin)[-1] == "model.gates"


def test_no_worse_than_production_scores_same_holdout(as_user):
    admin, alice, bob, olga = (as_user(u) for u in ("admin", "alice", "bob", "olga"))
    registry.set_gates(admin, "loan", [gates.parse_gate("roc_auc>=production-0.01")])
    v1 = registry.register(alice, 1, "loan")
    first = next(c for c in v1["checks"] if c["name"].startswith("roc_auc no worse"))
    assert first["passed"] and "no production version yet" in first["details"]["note"]
    registry.approve(bob, "loan:1", comment="ok")
    registry.set_alias(olga, "loan:1", "production")
    v2 = registry.register(alice, 2, "loan")  # only `age`: a much weaker model
    check = next(c for c in v2["checks"] if c["name"].startswith("roc_auc no worse"))
    run1, run2 = training.get_run(alice, 1), training.get_run(alice, 2)
    # Same dataset, seed and target: the same holdout rows, so production scored on the
    # candidate's rows reproduces production's own holdout figure.
    assert "candidate's 400 holdout rows" in check["details"]["comparison"]
    assert check["details"]["production_value"] == pytest.approx(
        run1["metrics"]["holdout"]["roc_auc"])
    assert check["details"]["value"] == pytest.approx(run2["metrics"]["holdout"]["roc_auc"])
    assert check["passed"] is False and check["details"]["delta"] < -0.01
    d = registry.version_detail(bob, "loan:2")
    assert d["production"] == "loan:1" and d["diff"]["against"] == "loan:1"
    assert d["diff"]["features_removed"] and "age" not in d["diff"]["features_removed"]
    roc = d["diff"]["metrics"]["holdout"]["roc_auc"]
    assert roc["delta"] == pytest.approx(roc["candidate"] - roc["production"])
    assert d["diff"]["dataset_changed"] is False


def test_fairness_gate_threshold_is_a_setting(as_user):
    admin, alice = as_user("admin"), as_user("alice")
    registry.set_policy(admin, fairness_gates=[
        {"metric": "demographic_parity_ratio", "op": ">=", "threshold": 0.9999},
        {"metric": "equalized_odds_difference", "op": "<=", "threshold": 0.0001}])
    v = registry.register(alice, 1, "loan")
    fair = [c for c in v["checks"] if c["kind"] == "fairness"]
    assert len(fair) == 2 and not any(c["passed"] for c in fair)
    assert "screening heuristic" in fair[0]["details"]["note"]


def test_regression_fairness_is_error_by_group(as_user):
    alice = as_user("alice")
    v = registry.register(alice, 3, "income")
    report = next(c for c in v["checks"] if c["kind"] == "fairness_report")["details"]["report"]
    assert report["task"] == "regression" and report["sensitive"] == "region"
    hold = training.load_holdout(alice, 3)
    for g in report["groups"]:
        part = hold[hold["sensitive"] == g["group"]]
        assert g["mae"] == pytest.approx(float((part["y_pred"] - part["y_true"]).abs().mean()))
    # The four-fifths default is for classifiers: a regressor gets the report only.
    assert not [c for c in v["checks"] if c["kind"] == "fairness"]
    admin = as_user("admin")
    registry.set_gates(admin, "income2", [gates.parse_gate("mae_ratio>=0.5"),
                                          gates.parse_gate("demographic_parity_ratio>=0.8")])
    v2 = registry.register(alice, 3, "income2")
    by = {c["details"]["metric"]: c for c in v2["checks"] if c["kind"] == "fairness"}
    assert by["mae_ratio"]["details"]["value"] == pytest.approx(report["mae_ratio"])
    assert by["mae_ratio"]["passed"] == (report["mae_ratio"] >= 0.5)
    dp = by["demographic_parity_ratio"]
    assert dp["passed"] is False and "does not apply to a regression run" in dp["details"]["note"]


def test_aliases_roles_and_production_needs_approval(as_user):
    alice, bob, olga = as_user("alice"), as_user("bob"), as_user("olga")
    registry.register(alice, 1, "loan")
    registry.register(alice, 2, "loan")
    with pytest.raises(LabliftError, match="alias 'production' may only point at an approved "
                                           "version; loan:1 is pending"):
        registry.set_alias(olga, "loan:1", "production")
    with pytest.raises(PermissionDenied, match="setting an alias needs the role ops"):
        registry.set_alias(alice, "loan:1", "staging")
    assert registry.set_alias(olga, "loan:1", "staging")["changed"]
    registry.approve(bob, "loan:1", comment="ok")
    registry.approve(bob, "loan:2", comment="ok")
    registry.set_alias(olga, "loan:1", "production")
    moved = registry.set_alias(olga, "loan:2", "production")
    assert moved["previous"] == 1 and moved["version"] == 2
    last = audit.entries(olga, limit=1)[0]
    assert last["action"] == "alias.set"
    assert last["details"] == {"alias": "production", "old": "loan:1",
                                           "new": "loan:2"}
    assert registry.resolve_version(olga, "loan:production")["version"] == 2
    assert registry.resolve_version(olga, "loan:staging")["version"] == 1
    assert registry.resolve_version(olga, "loan")["version"] == 2
    with pytest.raises(NotFound, match="no alias 'champion'"):
        registry.resolve_version(olga, "loan:champion")
    with pytest.raises(NotFound, match="versions of loan: 1, 2"):
        registry.resolve_version(olga, "loan:9")
    with pytest.raises(NotFound, match="model 'nope' not found"):
        registry.resolve_version(olga, "nope:1")
    assert {m["name"]: m["aliases"] for m in registry.list_models(olga)} == {
        "loan": {"production": 2, "staging": 1}}


def test_archive(as_user):
    alice, bob, olga = as_user("alice"), as_user("bob"), as_user("olga")
    registry.register(alice, 1, "loan")
    registry.approve(bob, "loan:1", comment="ok")
    registry.set_alias(olga, "loan:1", "production")
    with pytest.raises(LabliftError, match="aliased as production"):
        registry.archive(olga, "loan:1")
    with pytest.raises(PermissionDenied):
        registry.archive(alice, "loan:1")
    registry.remove_alias(olga, "loan", "production")
    v = registry.archive(olga, "loan:1")
    assert v["status"] == "archived" and v["archived"] == 1
    with pytest.raises(LabliftError, match="already archived"):
        registry.archive(olga, "loan:1")
    with pytest.raises(LabliftError, match="archived: no alias"):
        registry.set_alias(olga, "loan:1", "production")


def test_attention_is_audited(as_user):
    alice = as_user("alice")
    v = registry.register(alice, 1, "loan")
    assert registry.mark_attention(alice, v["id"], "drift on income")["attention"] == \
        "drift on income"
    assert registry.version_detail(alice, "loan:1")["attention"] == "drift on income"
    assert registry.clear_attention(alice, v["id"], "retrained")["attention"] is None
    assert _audit_actions(alice)[-2:] == ["version.attention", "version.attention_cleared"]


def test_version_detail_has_lineage_and_bundles(as_user):
    alice, bob = as_user("alice"), as_user("bob")
    v = registry.register(alice, 1, "loan")
    registry.approve(bob, "loan:1", comment="ok")
    with bob.transaction():  # a bundle row as core/bundles.py records it
        bob.insert("bundles", {"version_id": v["id"], "path": "/tmp/b", "manifest_sha256": "ab",
                               "created_by": "bob", "created_at": "now"})
        audit.append(bob, "bundle.export", "model_version:loan:1", {})
    d = registry.version_detail(bob, "loan:1")
    lin = d["lineage"]
    assert lin["dataset"]["name"] == "loans" and lin["run"]["id"] == 1
    assert lin["version"] == "loan:1"
    assert [a["user"] for a in lin["approvals"]] == ["bob"]
    assert lin["bundles"][0]["path"] == "/tmp/b"
    assert d["run"]["algorithm"] == "logistic_regression"
    assert set(d["run"]["metrics"]) == {"holdout", "cv"}
    assert d["diff"] is None  # no production alias yet
    assert [h["action"] for h in d["history"]] == ["bundle.export", "version.approve",
                                                   "version.register"]
    summaries = [registry.summary(r) for r in registry.list_versions(bob, "loan")]
    assert summaries[0]["approver"] == "bob" and summaries[0]["status"] == "approved"


def test_decision_race_only_one_wins(as_user, monkeypatch):
    alice, bob, rita = as_user("alice"), as_user("bob"), as_user("rita")
    registry.register(alice, 1, "loan")
    registry.approve(bob, "loan:1", comment="first")
    # rita's checks ran while the version was still pending (before bob's write landed):
    # the guarded UPDATE inside the transaction still refuses her decision.
    monkeypatch.setattr(registry, "decision_blockers", lambda *a, **k: [])
    with pytest.raises(LabliftError, match="loan:1 is no longer pending"):
        registry.reject(rita, "loan:1", "late")
    assert rita.execute("SELECT COUNT(*) FROM approvals").fetchone()[0] == 1
    assert registry.resolve_version(rita, "loan:1")["status"] == "approved"
    assert audit.verify(rita).ok


def test_unfinished_run_cannot_be_registered(as_user):
    alice = as_user("alice")
    with pytest.raises(LabliftError):
        training.train(alice, {"dataset": "loans", "target": "approved", "cv": 2,
                               "algorithm": "logistic_regression"}, cancelled=lambda: True)
    run_id = alice.execute("SELECT MAX(id) FROM runs").fetchone()[0]
    assert training.get_run(alice, run_id)["status"] == "cancelled"
    with pytest.raises(LabliftError, match=f"run {run_id} is cancelled: only a finished run"):
        registry.register(alice, run_id, "loan")


def test_approval_queue_and_blockers_for_the_gui(as_user):
    alice, bob, carol = as_user("alice"), as_user("bob"), as_user("carol")
    registry.register(alice, 1, "loan")
    registry.register(alice, 2, "loan")
    queue = registry.approval_queue(bob)
    assert [q["ref"] for q in queue] == ["loan:1", "loan:2"]
    assert all(q["blockers"] == [] for q in queue)
    assert registry.approval_queue(alice)[0]["blockers"][0].startswith("four-eyes rule: alice")
    assert registry.approval_queue(carol)[0]["blockers"] == [
        "approving needs the role reviewer or admin; user 'carol' is analyst"]
    d = registry.version_detail(alice, "loan:1")
    assert "four-eyes" in d["blockers"]["approve"][0]
    assert "cannot reject" in d["blockers"]["reject"][0]
    registry.approve(bob, "loan:1", comment="ok")
    assert [q["ref"] for q in registry.approval_queue(bob)] == ["loan:2"]
    assert "is approved" in registry.version_detail(bob, "loan:1")["blockers"]["approve"][-1]


def test_store_policy_defaults_apply_and_are_audited(as_user):
    admin, alice = as_user("admin"), as_user("alice")
    assert registry.policy(admin)["fairness_gates"] == gates.DEFAULT_FAIRNESS_GATES
    with pytest.raises(PermissionDenied, match="setting the gate policy needs the role admin"):
        registry.set_policy(alice, default_gates=[])
    with pytest.raises(LabliftError, match="fairness gates must name fairness metrics, not f1"):
        registry.set_policy(admin, fairness_gates=[gates.parse_gate("f1>=0.2")])
    registry.set_policy(admin, default_gates=[gates.parse_gate("accuracy>=0.99")],
                        fairness_gates=[gates.parse_gate("equalized_odds_difference<=0.5")])
    assert _audit_actions(admin)[-1] == "policy.gates"
    v = registry.register(alice, 1, "loan")  # no gates of its own: the store default applies
    names = {c["name"]: c["passed"] for c in v["checks"]}
    assert names["accuracy >= 0.99"] is False
    assert "equalized_odds_difference <= 0.5 (gender)" in names
    assert not any(n.startswith("demographic_parity_ratio") for n in names)
    # A model's own gates replace the store default metric gates.
    registry.set_gates(admin, "loan2", [gates.parse_gate("accuracy>=0.1")])
    v2 = registry.register(alice, 1, "loan2")
    assert {c["name"] for c in v2["checks"] if c["kind"] == "metric"} == {"accuracy >= 0.1"}
