"""Alias rollback (issue 12, "Safe rollouts"): `model alias NAME production --rollback` moves
the alias back to its previous target that it may still point at, from the history the audit
chain keeps; audited, refused with the history when there is nowhere to go, on both engines
(the team store's server-side alias rules apply to the move as to any other)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from lablift.core import audit, registry, training
from lablift.core.datasets import import_dataset
from lablift.core.errors import LabliftError, PermissionDenied

SPEC = {"dataset": "loans", "target": "approved", "algorithm": "logistic_regression", "cv": 2}


@pytest.fixture
def loans(make_store, sample_csv):
    """loan:1..3 registered by alice from three runs, all approved by bob; olga is ops."""
    admin = make_store("admin")
    for name, role in (("alice", "analyst"), ("bob", "reviewer"), ("olga", "ops")):
        admin.add_user(name, role)
    alice = make_store("alice")
    import_dataset(alice, sample_csv, name="loans")
    for c in (1.0, 0.3, 0.1):
        run = training.train(alice, {**SPEC, "params": {"C": c}})
        registry.register(alice, run["id"], "loan")
    bob = make_store("bob")
    for v in (1, 2, 3):
        registry.approve(bob, f"loan:{v}", comment="checked")
    return {"alice": alice, "bob": bob, "olga": make_store("olga"), "admin": admin}


def _production(store) -> int:
    return registry.resolve_version(store, "loan:production")["version"]


def test_rollback_steps_back_through_the_history_audited(loans):
    olga = loans["olga"]
    for v in (1, 2, 3):
        registry.set_alias(olga, f"loan:{v}", "production")
    out = registry.rollback_alias(olga, "loan", "production")
    assert (out["from"], out["to"], out["version"], out["previous"]) == ("loan:3", "loan:2",
                                                                          2, 3)
    assert _production(olga) == 2
    last = audit.entries(olga, limit=1)[0]
    assert (last["action"], last["user"], last["entity"]) == ("alias.set", "olga", "model:loan")
    assert last["details"] == {"alias": "production", "old": "loan:3", "new": "loan:2",
                               "rollback": True}
    # A second rollback goes further back, not forward to the version just rolled back from.
    assert registry.rollback_alias(olga, "loan", "production")["to"] == "loan:1"
    assert _production(olga) == 1
    with pytest.raises(LabliftError) as refused:
        registry.rollback_alias(olga, "loan", "production")
    assert str(refused.value) == (
        "loan has no earlier approved version for 'production' to roll back to (history: "
        "loan:1, loan:2, loan:3, rolled back to loan:2, rolled back to loan:1)")
    # The history, oldest first, as the chain recorded it.
    moves = registry.alias_history(olga, "loan", "production")
    assert [(m["move"], m["from"], m["to"], m["user"]) for m in moves] == [
        ("set", None, "loan:1", "olga"), ("set", "loan:1", "loan:2", "olga"),
        ("set", "loan:2", "loan:3", "olga"), ("rolled back", "loan:3", "loan:2", "olga"),
        ("rolled back", "loan:2", "loan:1", "olga")]
    assert audit.verify(olga).ok
    # The version's own history (the History tab) shows the moves to and from it.
    history = registry.version_detail(olga, "loan:2", card=False)["history"]
    assert [(e["action"], e["details"].get("old"), e["details"].get("new"))
            for e in history if e["action"] == "alias.set"] == [
        ("alias.set", "loan:2", "loan:1"), ("alias.set", "loan:3", "loan:2"),
        ("alias.set", "loan:2", "loan:3"), ("alias.set", "loan:1", "loan:2")]
    assert [e["action"] for e in history][-2:] == ["version.approve", "version.register"]


def test_rollback_skips_versions_archived_since(loans):
    olga = loans["olga"]
    for v in (1, 2, 3):
        registry.set_alias(olga, f"loan:{v}", "production")
    registry.archive(olga, "loan:2")  # production moved on from it: it may be archived
    plan = registry.rollback_plan(olga, "loan", "production")
    assert (plan["from"], plan["to"]) == ("loan:3", "loan:1")
    assert plan["skipped"] == [{"ref": "loan:2", "status": "archived"}]
    out = registry.rollback_alias(olga, "loan", "production")
    assert out["to"] == "loan:1" and out["skipped"] == ["loan:2"]
    assert _production(olga) == 1
    # Rolled back past loan:3 and loan:2: they are off the stack, whatever their status.
    with pytest.raises(LabliftError) as refused:
        registry.rollback_alias(olga, "loan", "production")
    assert str(refused.value).endswith("(history: loan:1, loan:2, loan:3, rolled back to "
                                       "loan:1)")
    registry.set_alias(olga, "loan:3", "production")
    registry.archive(olga, "loan:1")
    with pytest.raises(LabliftError) as refused:
        registry.rollback_alias(olga, "loan", "production")
    assert str(refused.value).endswith("(history: loan:1, loan:2, loan:3, rolled back to "
                                       "loan:1, loan:3; loan:1 is archived)")
    assert _production(olga) == 3


def test_rollback_refusals(loans):
    olga, alice = loans["olga"], loans["alice"]
    with pytest.raises(LabliftError, match=r"loan has no alias 'production' to roll back "
                                           r"\(history: none recorded\)"):
        registry.rollback_alias(olga, "loan", "production")
    registry.set_alias(olga, "loan:1", "production")
    with pytest.raises(LabliftError, match=r"no earlier approved version for 'production' "
                                           r"to roll back to \(history: loan:1\)"):
        registry.rollback_alias(olga, "loan", "Production")
    registry.set_alias(olga, "loan:2", "production")
    with pytest.raises(PermissionDenied, match="setting an alias needs the role ops"):
        registry.rollback_alias(alice, "loan", "production")
    # The GUI's confirmation named a target: a rollback that would now go elsewhere refuses.
    with pytest.raises(LabliftError, match="now goes to loan:1, not loan:3"):
        registry.rollback_alias(olga, "loan", "production", expect="loan:3")
    assert _production(olga) == 2
    # A removal is a gap: the set after it rolls back to what came before the removal.
    registry.remove_alias(olga, "loan", "production")
    registry.set_alias(olga, "loan:3", "production")
    assert registry.rollback_alias(olga, "loan", "production", expect="loan:2")["to"] == "loan:2"


def test_any_alias_rolls_back_under_its_own_rule(loans):
    olga, alice = loans["olga"], loans["alice"]
    run = training.train(alice, {**SPEC, "params": {"C": 0.05}})
    registry.register(alice, run["id"], "loan")  # loan:4, pending
    registry.set_alias(olga, "loan:1", "staging")
    registry.set_alias(olga, "loan:4", "staging")  # staging may point at a pending version
    registry.set_alias(olga, "loan:2", "staging")
    assert registry.rollback_alias(olga, "loan", "staging")["to"] == "loan:4"
    assert registry.resolve_version(olga, "loan:staging")["status"] == "pending"
    registry.archive(olga, "loan:1")
    with pytest.raises(LabliftError, match="loan has no earlier version that is not rejected "
                                           "or archived for 'staging' to roll back to"):
        registry.rollback_alias(olga, "loan", "staging")


def test_cli_rollback(loans, cli):
    for v in (1, 2):
        assert cli("olga", "model", "alias", f"loan:{v}", "production")[0] == 0
    code, out, err = cli("olga", "model", "alias", "loan", "production", "--rollback")
    assert code == 0, err
    assert out.strip() == "loan:production rolled back -> version 1 (was version 2)"
    code, out, err = cli("olga", "model", "alias", "loan", "production", "--rollback")
    assert code == 1 and out == ""
    assert err.strip() == ("error: loan has no earlier approved version for 'production' to "
                           "roll back to (history: loan:1, loan:2, rolled back to loan:1)")
    code, _, err = cli("olga", "model", "alias", "loan:2", "production", "--rollback")
    assert code == 1 and "with --rollback give the model name (loan), not 'loan:2'" in err
    assert cli("olga", "model", "alias", "loan:2", "production")[0] == 0
    code, out, err = cli("olga", "model", "alias", "loan", "production", "--rollback",
                         "--json")
    assert code == 0, err
    got = json.loads(out)
    assert (got["from"], got["to"], got["rollback"]) == ("loan:2", "loan:1", True)
    code, _, err = cli("alice", "model", "alias", "loan", "production", "--rollback")
    assert code == 1 and "setting an alias needs the role ops" in err
    assert "Traceback" not in err


def test_a_move_while_the_rollback_runs_never_moves_twice(loans):
    """An admin moves production (the transaction still open) while olga rolls back: the
    rollback waits for the write (SQLite's write lock, the team store's advisory write lock)
    and plans from what was committed, so it goes back from the admin's move, not from the
    target olga saw before."""
    olga, admin = loans["olga"], loans["admin"]
    for v in (1, 2):
        registry.set_alias(olga, f"loan:{v}", "production")
    entered, release, outcome = threading.Event(), threading.Event(), {}

    def mover():
        with admin.transaction():
            registry.set_alias(admin, "loan:1", "production")
            entered.set()
            release.wait(10)

    def roller():
        try:
            outcome["ok"] = registry.rollback_alias(olga, "loan", "production")
        except LabliftError as exc:
            outcome["error"] = str(exc)

    first = threading.Thread(target=mover)
    first.start()
    assert entered.wait(10)
    second = threading.Thread(target=roller)
    second.start()
    time.sleep(1.0)  # the rollback waits for the write lock meanwhile
    release.set()
    first.join(10)
    second.join(30)
    moves = registry.alias_history(olga, "loan", "production")
    assert (outcome["ok"]["from"], outcome["ok"]["to"]) == ("loan:1", "loan:2")
    assert [(m["move"], m["to"]) for m in moves] == [
        ("set", "loan:1"), ("set", "loan:2"), ("set", "loan:1"), ("rolled back", "loan:2")]
    assert audit.verify(olga).ok


def test_a_client_outside_lablift_moving_the_alias_makes_the_rollback_refuse(
        loans, store_engine, store_arg):
    """psql as an ops user moves production without Lablift's write lock: the rollback, which
    planned from the target it saw, waits on the row, sees it moved, and refuses."""
    if store_engine != "postgresql":
        pytest.skip("another client writing a team store directly")
    import psycopg
    olga = loans["olga"]
    for v in (1, 2):
        registry.set_alias(olga, f"loan:{v}", "production")
    v1 = registry.resolve_version(olga, "loan:1")["id"]
    outcome = {}

    def roller():
        try:
            outcome["ok"] = registry.rollback_alias(olga, "loan", "production")
        except LabliftError as exc:
            outcome["error"] = str(exc)

    with psycopg.connect(store_arg("admin")) as conn:  # one transaction until the block ends
        conn.execute("UPDATE aliases SET version_id = %s WHERE model = 'loan' AND alias = "
                     "'production'", (v1,))
        conn.execute("SELECT lablift_audit(%s, %s, %s)", (
            "alias.set", "model:loan", json.dumps({"alias": "production", "old": "loan:2",
                                                   "new": "loan:1"})))
        second = threading.Thread(target=roller)
        second.start()
        time.sleep(1.0)  # the rollback planned loan:2 -> loan:1 and waits on the row
    second.join(30)
    assert outcome == {"error": "loan:production was moved meanwhile; look again and retry"}
    assert [m["to"] for m in registry.alias_history(olga, "loan", "production")] == [
        "loan:1", "loan:2", "loan:1"]
    assert audit.verify(olga).ok
