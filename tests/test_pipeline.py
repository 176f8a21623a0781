"""`lablift pipeline run | validate | init` through lablift.cli.main, on both engines: a
first run trains and registers, a rerun with nothing changed reuses every step, changed data
imports and trains again, gates and monitoring settings need admin, a failing gate exits 3,
an approved version is exported on the next run; every file error names the key."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from lablift.cli import main
from lablift.core import sweeps
from lablift.resources import SAMPLE_LOANS

BASE = """\
[data]
path = "data/loans.csv"
name = "loans"

[train]
target = "approved"
features = ["age", "income", "credit_score", "loan_amount", "home_ownership"]
algorithm = "logistic_regression"
cv = 2
test_size = 0.25
seed = 3

[model]
name = "loan"
description = "from the pipeline"
"""


@pytest.fixture
def project(tmp_path):
    """A folder with data/loans.csv (the sample) and a writer for lablift.toml."""
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    shutil.copyfile(SAMPLE_LOANS, root / "data" / "loans.csv")

    def write(text: str = BASE) -> str:
        (root / "lablift.toml").write_text(text, encoding="utf-8")
        return str(root / "lablift.toml")
    write.root = root
    return write


@pytest.fixture
def team(cli):
    """admin adds ci (analyst: the CI login), rita (reviewer) and otto (ops)."""
    for name, role in (("ci", "analyst"), ("rita", "reviewer"), ("otto", "ops")):
        code, _, err = cli("admin", "users", "add", name, "--role", role)
        assert code == 0, err
    return cli


def run_json(cli, user, path, *extra):
    code, out, err = cli(user, "pipeline", "run", path, "--json", *extra)
    assert code != 1, err
    return code, json.loads(out)


def steps(result) -> dict:
    return {s["step"]: s for s in result["steps"]}


def run_count(cli) -> int:
    code, out, err = cli("admin", "run", "list", "--json")
    assert code == 0, err
    return len(json.loads(out))


def test_first_run_trains_and_a_rerun_reuses_everything(team, project):
    cli, path = team, project()
    code, first = run_json(cli, "ci", path)
    assert code == 4 and first["outcome"] == "needs_review" and first["exit_code"] == 4
    s = steps(first)
    assert [x["step"] for x in first["steps"]] == ["data", "train", "gates", "register",
                                                    "monitoring", "export"]
    assert (s["data"]["status"], s["train"]["status"], s["register"]["status"]) == (
        "done", "done", "done")
    assert s["gates"]["status"] == s["monitoring"]["status"] == s["export"]["status"] \
        == "skipped"
    assert first["reused"] is False
    assert first["version"]["ref"] == "loan:1" and first["version"]["status"] == "pending"
    assert first["version"]["created_by"] == "ci" and first["version"]["checks_passed"]
    assert s["train"]["run_id"] == first["run_id"] == first["version"]["run_id"]
    assert run_count(cli) == 1

    code, again = run_json(cli, "ci", path)
    assert code == 4 and again["reused"] is True
    s2 = steps(again)
    assert (s2["data"]["status"], s2["train"]["status"], s2["register"]["status"]) == (
        "reused", "reused", "reused")
    assert "nothing retrained" in s2["train"]["detail"]
    assert (again["run_id"], again["version"]["id"], again["dataset"]) == (
        first["run_id"], first["version"]["id"], first["dataset"])
    assert run_count(cli) == 1
    code, out, _ = cli("admin", "dataset", "list", "--json")
    assert [d["version"] for d in json.loads(out)] == [1]

    assert cli("ci", "pipeline", "run", path, "--allow-pending")[0] == 0
    code, out, err = cli("ci", "pipeline", "run", path)
    assert code == 4 and "needs review (exit 4)" in out
    assert "train      reused" in out and "model approve loan:1" in out
    assert run_count(cli) == 1


def test_changed_data_imports_a_new_version_and_trains_again(team, project):
    cli, path = team, project()
    _, first = run_json(cli, "ci", path)
    csv_path = project.root / "data" / "loans.csv"
    rows = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join(rows[:-200]) + "\n")  # 200 fewer rows
    code, second = run_json(cli, "ci", path)
    assert code == 4
    s = steps(second)
    assert (s["data"]["status"], s["train"]["status"], s["register"]["status"]) == (
        "done", "done", "done")
    assert second["dataset"]["version"] == 2 and second["dataset"]["rows"] == 1800
    assert second["dataset"]["sha256"] != first["dataset"]["sha256"]
    assert second["run_id"] != first["run_id"] and second["version"]["ref"] == "loan:2"
    assert run_count(cli) == 2

    # a changed spec on unchanged data trains too; putting it back reuses the first run
    project(BASE.replace("seed = 3", "seed = 4"))
    _, third = run_json(cli, "ci", path)
    assert steps(third)["data"]["status"] == "reused"
    assert steps(third)["train"]["status"] == "done" and run_count(cli) == 3
    project()
    _, back = run_json(cli, "ci", path)
    assert steps(back)["train"]["status"] == "reused" and back["run_id"] == second["run_id"]
    assert run_count(cli) == 3


def test_approved_version_is_exported_on_the_next_run(team, project):
    cli, path = team, project(BASE + '\n[export]\nfolder = "out/bundles"\n')
    _, first = run_json(cli, "ci", path)
    assert steps(first)["export"]["status"] == "skipped"
    assert "pending" in steps(first)["export"]["detail"]
    assert not (project.root / "out").exists()
    code, out, err = cli("rita", "model", "approve", "loan:1", "--comment", "checked")
    assert code == 0, err

    # the analyst CI login may not export: a clear refusal, nothing written
    code, out, err = cli("ci", "pipeline", "run", path)
    assert code == 1 and out == ""
    assert err.startswith("error: ") and "[export] loan:1 is approved and due for export" \
        in err and "needs the role ops or admin; user 'ci' is analyst" in err
    assert not (project.root / "out").exists()
    code, result = run_json(cli, "ci", path, "--no-export")  # the analyst job's way
    assert code == 0 and result["outcome"] == "done" and result["bundle"] is None
    assert "--no-export" in steps(result)["export"]["detail"]
    assert not (project.root / "out").exists()

    # ops can: data, run and version are reused (no analyst role needed), then export
    code, done = run_json(cli, "otto", path)
    assert code == 0 and done["outcome"] == "done"
    s = steps(done)
    assert [s[k]["status"] for k in ("data", "train", "register", "export")] == [
        "reused", "reused", "reused", "done"]
    bundle = project.root / "out" / "bundles" / "loan-1"
    assert done["bundle"]["path"] == str(bundle) and (bundle / "MLmodel").is_file()
    code, out, err = cli("otto", "bundle", "verify", str(bundle))
    assert code == 0, err

    code, again = run_json(cli, "otto", path)
    assert code == 0 and steps(again)["export"]["status"] == "reused"
    assert again["bundle"]["id"] == done["bundle"]["id"]
    code, out, _ = cli("admin", "bundle", "list", "--json")
    assert len(json.loads(out)) == 1
    assert run_count(cli) == 1
    assert cli("admin", "audit", "verify")[0] == 0


def test_gates_need_admin_and_a_failing_gate_exits_3(team, project):
    cli = team
    path = project(BASE.replace('description = "from the pipeline"',
                                'gates = ["roc_auc>=0.999", {metric = "cv.accuracy", '
                                'op = ">=", threshold = 0.5}]'))
    code, out, err = cli("ci", "pipeline", "run", path)
    assert code == 1 and out == ""
    assert "[model] gates (roc_auc >= 0.999; cv.accuracy >= 0.5) differ from model loan's " \
           "(none); changing them needs the role admin, user 'ci' is analyst" in err
    assert run_count(cli) == 0  # refused before anything was imported or trained
    code, out, _ = cli("admin", "dataset", "list", "--json")
    assert json.loads(out) == []

    code, result = run_json(cli, "admin", path)
    assert code == 3 and result["outcome"] == "checks_failed"
    assert steps(result)["gates"]["status"] == "done"
    assert result["version"]["failed_checks"] == ["roc_auc >= 0.999"]
    code, out, _ = cli("admin", "model", "gates", "loan", "--json")
    assert "roc_auc" in out

    # gates now equal the model's: the analyst's run goes through, and still fails them
    code, again = run_json(cli, "ci", path)
    assert code == 3 and steps(again)["gates"]["status"] == "skipped"
    assert again["reused"] is True and run_count(cli) == 1
    code, out, err = cli("ci", "pipeline", "run", path)
    assert code == 3 and "checks failed (exit 3)" in out


def test_monitoring_settings_are_applied_by_admin_only(team, project):
    cli = team
    path = project(BASE + "\n[monitoring]\ndrift_share = 0.3\nlatency_p99_ms = 250\n")
    code, out, err = cli("ci", "pipeline", "run", path)
    assert code == 1 and "[monitoring] drift_share, latency_p99_ms differ from the store's " \
        "settings; changing them needs the role admin" in err
    code, result = run_json(cli, "admin", path)
    assert code == 4 and steps(result)["monitoring"]["status"] == "done"
    code, out, _ = cli("admin", "monitor", "settings", "--json")
    values = json.loads(out)
    assert values["drift_share"] == 0.3 and values["latency_p99_ms"] == 250
    code, again = run_json(cli, "ci", path)  # unchanged now: any role
    assert code == 4 and steps(again)["monitoring"]["status"] == "skipped"


def test_a_sweep_registers_its_best_run_and_a_rerun_reuses_the_sweep(team, project):
    cli = team
    path = project(BASE.replace('algorithm = "logistic_regression"',
                                'algorithm = "decision_tree"')
                   + "\n[sweep]\ngrid = { max_depth = [2, 4, \"none\"] }\njobs = 1\n")
    code, first = run_json(cli, "ci", path)
    assert code == 4 and first["sweep_id"] is not None
    code, out, _ = cli("admin", "run", "list", "--sweep", str(first["sweep_id"]), "--json")
    runs = json.loads(out)
    assert len(runs) == 3
    best, _ = sweeps.best_run("classification", runs)
    assert first["run_id"] == best == first["version"]["run_id"]
    code, again = run_json(cli, "ci", path)
    assert steps(again)["train"]["status"] == "reused" and again["sweep_id"] == first["sweep_id"]
    assert run_count(cli) == 3


def test_a_rejected_version_is_not_registered_again(team, project):
    cli, path = team, project()
    run_json(cli, "ci", path)
    assert cli("rita", "model", "reject", "loan:1", "--comment", "income is stale")[0] == 0
    code, out, err = cli("ci", "pipeline", "run", path)
    assert code == 1 and out == ""
    assert "run 1 was version loan:1, rejected by rita; change the data or the spec" in err
    project(BASE.replace("seed = 3", "seed = 5"))
    code, result = run_json(cli, "ci", path)
    assert code == 4 and result["version"]["ref"] == "loan:2"


# -- validation (no store) -----------------------------------------------------------------------
ERRORS = [
    (("algorithm = \"logistic_regression\"", "algorithm = \"xgb\""),
     "lablift.toml: [train] algorithm 'xgb' is not one of: "),
    (("algorithm =", "algoritm ="),
     "lablift.toml: [train] unknown key 'algoritm' (did you mean 'algorithm'?)"),
    (("[train]", "[trian]"), "lablift.toml: unknown section [trian] (did you mean [train]?)"),
    (('target = "approved"\n', ""), "lablift.toml: [train] target is required"),
    (('target = "approved"', 'target = "aproved"'),
     "lablift.toml: [train] target 'aproved' is not a column of data/loans.csv (did you mean "
     "approved?)"),
    (('"age",', '"agee",'), "lablift.toml: [train] features 'agee' is not a column"),
    (('features = [', 'features = ["approved", '),
     "lablift.toml: [train] features include the target 'approved'"),
    (("test_size = 0.25", "test_size = 1.5"),
     "lablift.toml: [train] test_size must be a number between 0 and 1"),
    (("cv = 2", 'cv = "two"'), "lablift.toml: [train] cv must be a whole number"),
    (("seed = 3", "seed = 3\n[train.params]\nC = -1"),
     "lablift.toml: [train.params] parameter C of logistic_regression must be"),
    (("seed = 3", "seed = 3\n[train.params]\nn_estimators = 5"),
     "lablift.toml: [train.params] unknown parameter 'n_estimators' of logistic_regression"),
    (('data/loans.csv', 'data/missing.csv'),
     "lablift.toml: [data] path 'data/missing.csv' is not a file"),
    (('name = "loan"', 'name = "1 loan"'), "lablift.toml: [model] name: model name '1 loan'"),
    (('description = "from the pipeline"', 'gates = ["auc>=0.8"]'),
     "lablift.toml: [model] gates[0]: gate metric 'auc' is unknown"),
    (('description = "from the pipeline"', 'gates = "roc_auc>=0.8"'),
     "lablift.toml: [model] gates must be a list"),
    (('description = "from the pipeline"', 'gates = [{metric = "roc_auc", op = ">"}]'),
     "lablift.toml: [model] gates[0]: gate on roc_auc: op must be one of >=, <="),
    (("[model]", "[sweep]\ngrid = { C = [1, 2] }\nrandom = 3\n[model]"),
     "lablift.toml: [sweep] give either grid"),
    (("[model]", "[sweep]\ngrid = { C = [1, 2] }\njobs = 0\n[model]"),
     "lablift.toml: [sweep] jobs must be -1"),
    (("[model]", "[sweep]\ngrid = { max_deep = [1, 2] }\n[model]"),
     "lablift.toml: [sweep.grid] "),
    (("[model]", "[monitoring]\ndrift_shar = 0.4\n[model]"),
     "lablift.toml: [monitoring] unknown key 'drift_shar' (did you mean 'drift_share'?)"),
    (("[model]", "[monitoring]\ndrift_share = 4\n[model]"),
     "lablift.toml: [monitoring] drift_share: monitoring setting drift_share: 4 is outside"),
    (("[model]", "[export]\nfolder = \"data/loans.csv\"\n[model]"),
     "lablift.toml: [export] folder 'data/loans.csv' is a file"),
    (("[model]", "[export]\ndir = \"x\"\n[model]"),
     "lablift.toml: [export] unknown key 'dir'"),
    (('name = "loans"', 'name = "loans'), "lablift.toml: is not valid TOML: "),
    (("[model]", 'model = "loan"\n[model]'),
     "lablift.toml: [train] unknown key 'model'"),
]


@pytest.mark.parametrize("change, message", ERRORS, ids=[e[1][14:60] for e in ERRORS])
def test_every_file_error_names_the_file_and_the_key(project, monkeypatch, capsys, change,
                                                     message):
    old, new = change
    assert old in BASE
    project(BASE.replace(old, new, 1))
    monkeypatch.chdir(project.root)
    code = main(["pipeline", "validate", "lablift.toml"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.startswith("error: " + message), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    # run refuses the file with the same words
    code = main(["--store", str(project.root / "store"), "pipeline", "run", "lablift.toml"])
    out, err2 = capsys.readouterr()
    assert code == 1 and err2 == err


def test_validate_accepts_the_file_and_init_writes_a_valid_example(project, tmp_path,
                                                                   monkeypatch, capsys):
    assert main(["pipeline", "validate", project(), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["valid"] and summary["features"][0] == "age"
    assert summary["mode"] == "train" and summary["export"] is None

    where = tmp_path / "fresh"
    where.mkdir()
    monkeypatch.chdir(where)
    assert main(["pipeline", "init"]) == 0
    out = capsys.readouterr().out
    assert "wrote " + str(where / "lablift.toml") in out and "sample_loans.csv" in out
    with open(where / "sample_loans.csv", newline="") as f:
        assert next(csv.reader(f))[-1] == "approved"
    assert main(["pipeline", "validate", "lablift.toml"]) == 0
    assert capsys.readouterr().out.startswith("ok: lablift.toml: train random_forest")
    assert main(["pipeline", "init"]) == 1
    assert "lablift.toml exists; pass --force" in capsys.readouterr().err
    # every key the example sets is documented
    text = (where / "lablift.toml").read_text()
    docs = (Path(__file__).resolve().parents[1] / "docs" / "pipeline.md").read_text()
    import tomllib
    for section, table in tomllib.loads(text).items():
        assert f"[{section}]" in docs
        for key in table:
            assert f"`{key}`" in docs, key
