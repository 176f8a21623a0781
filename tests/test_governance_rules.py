"""Governance rules that names, case and races used to slip past: aliases in any case,
four-eyes without case, an override that says why, export by ops, one version per run even
when two processes register it at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def trained(cli, sample_csv):
    for name, role in (("ann", "analyst"), ("bob", "reviewer"), ("olga", "ops")):
        assert cli("admin", "users", "add", name, "--role", role)[0] == 0
    assert cli("ann", "dataset", "import", str(sample_csv), "--name", "loans")[0] == 0
    code, out, err = cli("ann", "train", "--dataset", "loans", "--target", "approved",
                         "--algorithm", "logistic_regression", "--cv", "2", "--json")
    assert code == 0, err
    return json.loads(out)["id"]


@pytest.mark.parametrize("alias", ["Production", "PRODUCTION", " production ", "Champion"])
def test_approved_only_alias_in_any_case_refuses_a_pending_version(cli, trained, alias):
    assert cli("ann", "model", "register", str(trained), "--name", "loan")[0] == 0
    code, _, err = cli("olga", "model", "alias", "loan:1", alias)
    assert code == 1
    assert f"alias {alias.strip().lower()!r} may only point at an approved version" in err


def test_alias_is_stored_and_resolved_lower_case(cli, trained):
    assert cli("ann", "model", "register", str(trained), "--name", "loan")[0] == 0
    assert cli("bob", "model", "approve", "loan:1", "--comment", "fine")[0] == 0
    assert cli("olga", "model", "alias", "loan:1", "Production")[0] == 0
    code, out, _ = cli("olga", "model", "show", "loan:Production", "--json")
    assert code == 0 and json.loads(out)["aliases"] == ["production"]


def test_four_eyes_compares_names_without_case(cli, trained, store_engine):
    assert cli("admin", "users", "add", "Ann", "--role", "reviewer")[0] == 1  # same person
    assert cli("ann", "model", "register", str(trained), "--name", "loan")[0] == 0
    code, _, err = cli("admin", "users", "add", "ANN", "--role", "reviewer")
    assert code == 1 and "same person as 'ann'" in err
    # an admin acting under another spelling of the trainer's name is still the trainer
    code, _, err = cli("admin", "model", "approve", "loan:1", "--comment", "ok")
    assert code == 0, err  # admin did not train it
    assert cli("ann", "model", "register", str(trained), "--name", "other")[0] == 0
    code, _, err = cli("ANN", "model", "approve", "other:1", "--comment", "ok")
    # embedded: a claimed 'ANN' is ann; team: the database user ANN can never be registered
    assert code == 1 and ("four-eyes rule" if store_engine == "sqlite" else "not registered") \
        in err


@pytest.mark.parametrize("reason", [".", "ok", "fine fine", "   x   ", "1234567890123"])
def test_override_needs_a_reason_that_says_why(cli, trained, reason):
    assert cli("admin", "model", "gates", "loan", "--set", "roc_auc>=0.999")[0] == 0
    assert cli("ann", "model", "register", str(trained), "--name", "loan")[0] == 0
    code, _, err = cli("bob", "model", "approve", "loan:1", "--override", reason)
    assert code == 1 and "does not say why" in err
    code, _, err = cli("bob", "model", "approve", "loan:1", "--override",
                       "business accepts lower AUC for Q1 pilot")
    assert code == 0, err


def test_export_is_for_ops_not_reviewers(cli, trained, tmp_path):
    assert cli("ann", "model", "register", str(trained), "--name", "loan")[0] == 0
    assert cli("bob", "model", "approve", "loan:1", "--comment", "fine")[0] == 0
    code, _, err = cli("bob", "bundle", "export", "loan:1", "--out", str(tmp_path / "b"))
    assert code == 1 and "needs the role ops or admin; user 'bob' is reviewer" in err
    assert not (tmp_path / "b").exists()
    assert cli("olga", "bundle", "export", "loan:1", "--out", str(tmp_path / "b"))[0] == 0


def test_two_processes_registering_one_run_make_one_version(cli, trained, store_arg):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[1] / "app"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "lablift.cli", "--store", store_arg("ann"), "--user", "ann",
           "model", "register", str(trained), "--name", "loan"]
    for _ in range(3):
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        codes = sorted(code for code, _ in results)
        code, out, _ = cli("ann", "model", "list", "--json")
        assert codes == [0, 1], results
        assert all("internal error" not in err for _, err in results)
        versions = json.loads(cli("ann", "model", "show", "loan", "--json")[1])
        pending = [v for v in versions.get("versions", [versions])
                   if v.get("status") == "pending"]
        assert len(pending) == 1
        assert cli("bob", "model", "reject", "loan", "--comment", "again please")[0] == 0


@pytest.mark.embedded_only("a claimed name is traced by the OS login; a team store's user is the server's")
def test_every_entry_names_the_login_and_host_behind_a_claimed_user(cli, trained):
    import getpass
    import socket
    code, out, _ = cli("admin", "audit", "log", "--json")
    entries = json.loads(out)
    assert entries and all(e["origin"] == {"login": getpass.getuser(),
                                           "host": socket.gethostname()} for e in entries)
    assert {e["user"] for e in entries} >= {"admin", "ann"}  # the claimed names
    code, out, _ = cli("admin", "audit", "log")
    assert f"{getpass.getuser()}@{socket.gethostname()}" in out
