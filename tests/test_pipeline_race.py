"""Two CI jobs racing: two `lablift pipeline run FILE` processes started together on new
inputs train once and register exactly one version; the second waits for the first one's
fit and reuses its run and version (same exit code as a rerun). Real processes, both
engines."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from lablift.resources import SAMPLE_LOANS
from test_pipeline import BASE

APP = Path(__file__).resolve().parents[1] / "app"


def test_two_pipeline_runs_started_together_register_one_version(cli, store_arg, tmp_path):
    code, _, err = cli("admin", "users", "add", "ci", "--role", "analyst")
    assert code == 0, err
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    shutil.copyfile(SAMPLE_LOANS, root / "data" / "loans.csv")
    path = root / "lablift.toml"
    path.write_text(BASE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(APP)}
    where = store_arg("ci")
    argv = [sys.executable, "-m", "lablift.cli", "--store", where, "--user", "ci",
            "pipeline", "run", str(path), "--json"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes == [4, 4], outs  # both: needs review, as a rerun would say
    results = [json.loads(out) for out, _ in outs]
    assert {r["version"]["ref"] for r in results} == {"loan:1"}
    assert len({r["run_id"] for r in results}) == 1  # the version's run, for both
    assert len({r["dataset"]["id"] for r in results}) == 1

    code, out, err = cli("admin", "model", "list", "loan", "--json")
    assert code == 0, err
    versions = json.loads(out)  # exactly one: no duplicate version of the same inputs
    assert [(v["version"], v["run_id"]) for v in versions] == [(1, results[0]["run_id"])]
    registered = [r for r in results
                  if {s["step"]: s for s in r["steps"]}["register"]["status"] == "done"]
    assert len(registered) == 1
    other = next(r for r in results if r is not registered[0])
    reg = {s["step"]: s for s in other["steps"]}["register"]
    assert reg["status"] == "reused" and reg["version"] == "loan:1", reg
    code, out, err = cli("admin", "run", "list", "--json")
    runs = json.loads(out)
    trained = [r for r in results if {s["step"]: s for s in r["steps"]}["train"]["status"]
               == "done"]
    # trained once: the second waited on the spec's lock for the first one's fit
    assert len(runs) == len(trained) == 1
    train = {s["step"]: s for s in other["steps"]}["train"]
    assert train["status"] == "reused" and train["run_id"] == results[0]["run_id"], train

    # a rerun now reuses everything
    rerun = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 4, rerun.stderr
    again = json.loads(rerun.stdout)
    assert again["reused"] is True and again["version"]["ref"] == "loan:1"
    assert again["run_id"] == results[0]["run_id"]
    code, out, err = cli("admin", "audit", "verify")
    assert code == 0, err + out
