"""The DESIGN scenario through the command line: alice trains and registers, four-eyes refuses
her approval, bob approves, carol cannot, aliases, gates with --override, reject needs a comment."""

import json

import pytest



def _json(out):
    return json.loads(out)


@pytest.fixture
def scenario(cli, sample_csv):
    """admin adds alice/bob/carol/olga; alice imports the sample, trains and registers."""
    assert cli("admin", "users", "add", "alice", "--role", "analyst")[0] == 0
    assert cli("admin", "users", "add", "bob", "--role", "reviewer")[0] == 0
    assert cli("admin", "users", "add", "carol", "--role", "analyst")[0] == 0
    assert cli("admin", "users", "add", "olga", "--role", "ops")[0] == 0
    code, out, err = cli("alice", "dataset", "import", str(sample_csv), "--name", "loans")
    assert code == 0, err
    code, out, err = cli("alice", "train", "--dataset", "loans", "--target", "approved",
                         "--algorithm", "logistic_regression", "--cv", "2",
                         "--sensitive", "gender", "--json")
    assert code == 0, err
    run_id = _json(out)["id"]
    code, out, err = cli("alice", "model", "register", str(run_id), "--name", "loan",
                         "--description", "baseline", "--json")
    assert code == 0, err
    v = _json(out)
    assert (v["name"], v["version"], v["status"], v["run_id"], v["created_by"]) == (
        "loan", 1, "pending", run_id, "alice")
    return run_id


def test_design_scenario(cli, scenario):
    run_id = scenario
    code, out, err = cli("alice", "model", "approve", "loan:1", "--comment", "mine")
    assert code == 1 and out == ""
    assert err.startswith("error: four-eyes rule: alice trained run "
                          f"{run_id} and registered it and cannot approve version loan:1")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1

    code, out, err = cli("carol", "model", "approve", "loan:1")
    assert code == 1 and "needs the role reviewer or admin; user 'carol' is analyst" in err

    code, out, err = cli("olga", "model", "alias", "loan:1", "production")
    assert code == 1
    assert "alias 'production' may only point at an approved version; loan:1 is pending" in err

    code, out, err = cli("bob", "model", "approve", "loan:1", "--comment", "fairness table OK")
    assert code == 0, err
    assert "loan:1 approved by bob" in out

    code, out, err = cli("bob", "model", "show", "loan:1", "--json")
    assert code == 0, err
    d = _json(out)
    assert (d["name"], d["version"], d["status"], d["run_id"], d["created_by"]) == (
        "loan", 1, "approved", run_id, "alice")
    assert d["approver"] == "bob" and d["comment"] == "fairness table OK"
    assert d["override_reason"] is None
    names = [c["name"] for c in d["checks"]]
    assert "fairness report (gender)" in names
    assert "demographic_parity_ratio >= 0.8 (gender)" in names
    assert d["fairness"]["sensitive"] == "gender"
    assert d["lineage"]["approvals"][0]["user"] == "bob"

    code, out, err = cli("olga", "model", "alias", "loan:1", "production")
    assert code == 0, err
    assert "loan:production -> version 1" in out
    code, out, err = cli("bob", "model", "show", "loan:production", "--json")
    assert _json(out)["aliases"] == ["production"] and _json(out)["version"] == 1

    code, out, err = cli("bob", "model", "list", "--json")
    rows = _json(out)
    assert rows == [{**rows[0], "name": "loan", "version": 1, "status": "approved",
                     "approver": "bob", "aliases": ["production"]}]

    code, out, err = cli("admin", "audit", "verify")
    assert code == 0 and "audit log intact" in out


def test_failing_gate_needs_override(cli, scenario):
    run_id = scenario
    code, out, err = cli("alice", "model", "gates", "loan", "--set", "roc_auc>=0.99")
    assert code == 1 and "setting model gates needs the role admin" in err
    code, out, err = cli("admin", "model", "gates", "loan", "--set", "roc_auc>=0.99",
                         "f1>=0.1", "--json")
    assert code == 0, err
    assert _json(out)["gates"][0] == {"metric": "roc_auc", "op": ">=", "threshold": 0.99}
    # Version 1 was registered before the gate: the superseding run is registered again.
    cli("bob", "model", "reject", "loan:1", "--comment", "re-check against the new gate")
    code, out, err = cli("alice", "model", "register", str(run_id), "--name", "loan")
    assert code == 0, err
    assert "[FAIL] roc_auc >= 0.99" in out and "[pass] f1 >= 0.1" in out

    code, out, err = cli("bob", "model", "approve", "loan:2", "--comment", "ok")
    assert code == 1
    assert "failed 1 check: roc_auc >= 0.99 (value 0." in err and "--override" in err
    code, out, err = cli("bob", "model", "show", "loan:2", "--json")
    assert _json(out)["status"] == "pending"

    code, out, err = cli("bob", "model", "approve", "loan:2", "--comment", "ok",
                         "--override", "AUC gate is aspirational; signed off for the pilot")
    assert code == 0, err
    code, out, err = cli("bob", "model", "show", "loan:2", "--json")
    d = _json(out)
    assert d["status"] == "approved"
    assert d["override_reason"] == "AUC gate is aspirational; signed off for the pilot"
    assert d["failed_checks"] == ["roc_auc >= 0.99"]
    code, out, err = cli("bob", "model", "show", "loan:2")
    assert "[FAIL] roc_auc >= 0.99" in out
    assert "[OVERRIDE: AUC gate is aspirational; signed off for the pilot]" in out
    code, out, err = cli("admin", "audit", "log", "--json")
    approve = next(e for e in _json(out) if e["action"] == "version.approve")
    assert approve["details"]["override_reason"].startswith("AUC gate is aspirational")


def test_reject_requires_comment(cli, scenario):
    with pytest.raises(SystemExit) as exc:  # argparse: a usage error exits 2
        cli("bob", "model", "reject", "loan:1")
    assert exc.value.code == 2
    code, out, err = cli("bob", "model", "reject", "loan:1", "--comment", " ")
    assert code == 1 and "needs a comment" in err
    code, out, err = cli("bob", "model", "reject", "loan:1", "--comment", "too few rows",
                         "--json")
    assert code == 0, err
    d = _json(out)
    assert d["status"] == "rejected" and d["decided_by"] == "bob"
    assert d["comment"] == "too few rows" and d["approver"] is None
    code, out, err = cli("olga", "model", "alias", "loan:1", "staging")
    assert code == 1 and "rejected: no alias" in err


def test_card_archive_and_refs(cli, scenario, tmp_path):
    code, out, err = cli("alice", "model", "card", "loan:1", "--set",
                         "intended_use=Pre-screening of loan applications by trained staff.")
    assert code == 0, err
    assert "Pre-screening of loan applications" in out and "## Intended use" in out
    out_file = tmp_path / "card.md"
    code, out, err = cli("bob", "model", "card", "loan:1", "--out", str(out_file))
    assert code == 0 and out_file.read_text().startswith("# Model card: loan:1")
    cli("bob", "model", "approve", "loan:1", "--comment", "ok")
    code, out, err = cli("alice", "model", "card", "loan:1", "--set", "caveats=late edit")
    assert code == 1 and "frozen" in err
    code, out, err = cli("bob", "model", "show", "loan:7")
    assert code == 1 and "versions of loan: 1" in err
    code, out, err = cli("alice", "model", "archive", "loan:1")
    assert code == 1 and "archiving a model version needs the role" in err
    code, out, err = cli("olga", "model", "archive", "loan:1", "--json")
    assert code == 0 and _json(out)["status"] == "archived"


def test_policy_unalias_and_list_text(cli, scenario):
    code, out, err = cli("admin", "model", "policy", "--fairness-gates",
                         "demographic_parity_ratio>=0.9", "--json")
    assert code == 0, err
    assert _json(out)["fairness_gates"] == [
        {"metric": "demographic_parity_ratio", "op": ">=", "threshold": 0.9}]
    code, out, err = cli("bob", "model", "policy", "--default-gates", "f1>=0.1")
    assert code == 1 and "needs the role admin; user 'bob' is reviewer" in err
    cli("bob", "model", "approve", "loan:1", "--comment", "ok")
    assert cli("olga", "model", "alias", "loan:1", "champion")[0] == 0
    code, out, err = cli("olga", "model", "list")
    assert "champion" in out.splitlines()[1] and "approved" in out.splitlines()[1]
    code, out, err = cli("olga", "model", "unalias", "loan", "champion")
    assert code == 0 and "removed loan:champion (was version 1)" in out
    code, out, err = cli("olga", "model", "show", "loan:champion")
    assert code == 1 and "no alias 'champion'" in err
