"""`lablift run compare A B [C ...] [--markdown | --json]`: real runs trained through core on
both engines; exact figures, deltas and verdicts, Markdown that is a well-formed table, the
JSON document, and errors as one `error:` line with exit 1."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lablift.core import datasets, gates, registry, run_compare, training
from lablift.core.errors import Cancelled
from lablift.core.run_compare_format import md_escape, md_table, to_markdown

APP = str(Path(__file__).resolve().parents[1] / "app")
LOWER = {"log_loss", "mae", "rmse", "mape"}  # the metrics where lower is better, spelled out


@pytest.fixture
def runs(store, sample_csv):
    """A: logistic regression C=1; B: the same spec with C=0.05 (same split, so the same
    holdout rows); C: a random forest with another seed (other rows). loan:1 = A and loan:2 =
    B, registered under a roc_auc gate between their two figures: A passes, B fails."""
    ds = datasets.import_dataset(store, sample_csv, name="loans")
    spec = {"dataset": ds["id"], "target": "approved", "algorithm": "logistic_regression",
            "cv": 2}
    a = training.train(store, {**spec, "params": {"C": 1.0}})
    b = training.train(store, {**spec, "params": {"C": 0.05}})
    c = training.train(store, {**spec, "algorithm": "random_forest", "seed": 1,
                               "params": {"n_estimators": 20}})
    assert a["status"] == b["status"] == c["status"] == "finished"
    ra, rb = a["metrics"]["holdout"]["roc_auc"], b["metrics"]["holdout"]["roc_auc"]
    assert ra != rb
    threshold = round((ra + rb) / 2, 6)
    registry.set_gates(store, "loan", [gates.parse_gate(f"roc_auc>={threshold}")])
    registry.register(store, a["id"], "loan")
    registry.register(store, b["id"], "loan")
    return {"A": a, "B": b, "C": c, "threshold": threshold, "A_passes": ra >= threshold}


def holdout(run) -> dict:
    return run["metrics"]["holdout"]


def expected_verdict(metric: str, delta: float) -> str:
    if delta == 0:
        return "same"
    lower = metric.removeprefix("cv.") in LOWER
    return "better" if (delta < 0) == lower else "worse"


def test_core_comparison_has_every_metric_its_delta_and_direction(store, runs):
    a, b = runs["A"], runs["B"]
    cmp = run_compare.compare(store, [a["id"], b["id"]])
    assert [r["id"] for r in cmp["runs"]] == [a["id"], b["id"]]
    assert [r["label"] for r in cmp["runs"]] == ["A", "B"]
    assert cmp["baseline"] == a["id"] and cmp["task"] == "classification"
    by_name = {m["metric"]: m for m in cmp["metrics"]}
    assert set(by_name) == set(holdout(a)) | {f"cv.{n}" for n in a["metrics"]["cv"]}
    for name, value in holdout(a).items():
        m = by_name[name]
        assert m["values"] == [value, holdout(b)[name]]
        assert m["deltas"][1] == holdout(b)[name] - value
        assert m["verdicts"] == [None, expected_verdict(name, m["deltas"][1])]
        assert m["direction"] == ("lower" if name in LOWER else "higher")
    cv = by_name["cv.log_loss"]
    assert cv["values"] == [a["metrics"]["cv"]["log_loss"]["mean"],
                            b["metrics"]["cv"]["log_loss"]["mean"]]
    assert cv["std"][0] == a["metrics"]["cv"]["log_loss"]["std"]
    # the same spec and seed: both were scored on the same holdout rows, all of them
    rows = len(training.load_holdout(store, a))
    assert [r["holdout"]["rows"] for r in cmp["runs"]] == [rows, rows]
    assert cmp["holdout"]["same_rows"] is True
    assert cmp["holdout"]["runs"] == [{"label": "B", "run": b["id"], "same_rows": True,
                                       "shared_rows": rows}]
    assert cmp["holdout"]["note"] == f"all runs were scored on the same {rows} holdout rows " \
                                     f"of loans:1"
    # only C differs; everything else of the spec and the params is equal, collapsed
    assert cmp["differences"] == [{"name": "C", "kind": "param", "values": [1.0, 0.05],
                                   "set": [True, True]}]
    equal = {e["name"]: e["value"] for e in cmp["equal"]}
    assert equal["seed"] == 0 and equal["cv"] == 2 and equal["max_iter"] == 1000
    # the checks of loan:1 and loan:2, the gate A passes and B fails
    gate = f"roc_auc >= {runs['threshold']:g}"
    row = next(c for c in cmp["checks"] if c["name"] == gate)
    assert [(x["version"], x["passed"]) for x in row["results"]] == \
        [("loan:1", runs["A_passes"]), ("loan:2", not runs["A_passes"])]
    assert cmp["runs"][1]["versions"][0]["failed_checks"] == \
        ([gate] if runs["A_passes"] else [])
    s = cmp["summary"][0]
    verdicts = [expected_verdict(n, holdout(b)[n] - v) for n, v in holdout(a).items()]
    assert (s["better"], s["worse"], s["same"]) == tuple(
        verdicts.count(v) for v in ("better", "worse", "same"))
    assert s["primary"]["metric"] == "roc_auc"
    assert cmp["notes"] == []


def test_text_table_prints_the_figures_deltas_and_verdicts(cli, runs):
    a, b = runs["A"], runs["B"]
    code, out, err = cli("admin", "run", "compare", str(a["id"]), str(b["id"]))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"run comparison: A = run {a['id']}, B = run {b['id']}; deltas are " \
                       f"against A"
    cells = {line.split("  ")[0].strip(): line.split() for line in lines if line.strip()}
    for name, value in holdout(a).items():
        other = holdout(b)[name]
        label = name + (" (lower is better)" if name in LOWER else "")
        row = next(line for line in lines if line.startswith(label + " "))
        delta = other - value
        assert row.split()[-4:] == [f"{value:.4f}", f"{other:.4f}", f"{delta:+.4f}",
                                    expected_verdict(name, delta)]
    assert cells["C"] == ["C", "1", "0.05"]
    assert cells["status"] == ["status", "finished", "finished"]
    assert cells["versions"] == ["versions", "loan:1", "pending", "loan:2", "pending"]
    gate = f"roc_auc >= {runs['threshold']:g}"
    row = next(line for line in lines if line.startswith(gate)).split()[-4:]
    ra, rb = holdout(a)["roc_auc"], holdout(b)["roc_auc"]
    mark = ("pass", "FAIL") if runs["A_passes"] else ("FAIL", "pass")
    assert row == [mark[0], f"{ra:.4f}", mark[1], f"{rb:.4f}"]
    equal = next(line for line in lines if line.startswith("equal in all runs: "))
    assert "seed=0" in equal and "max_iter=1000" in equal and "C=" not in equal


def _cells(line: str) -> list[str]:
    """A Markdown table row's cells: split on pipes that are not escaped."""
    assert line.startswith("| ") and line.endswith(" |"), line
    return [c.strip() for c in re.split(r"(?<!\\)\|", line[1:-1])]


def _tables(markdown: str) -> list[list[list[str]]]:
    tables, current = [], None
    for line in markdown.splitlines():
        if line.startswith("|"):
            if current is None:
                current = []
                tables.append(current)
            current.append(_cells(line))
        else:
            current = None
    return tables


def test_markdown_is_well_formed_with_escaped_cells(cli, runs, store):
    a, b = runs["A"], runs["B"]
    code, out, err = cli("admin", "run", "compare", str(a["id"]), str(b["id"]), "--markdown")
    assert code == 0, err
    assert out.splitlines()[0] == (f"### Run comparison: run {a['id']} (A, loan:1 pending) vs "
                                   f"run {b['id']} (B, loan:2 pending)")
    tables = _tables(out)
    assert len(tables) == 4  # setup, metrics, parameters, checks
    for t in tables:
        assert len({len(row) for row in t}) == 1, t  # one column count per table
        assert all(re.fullmatch(r":?-{3}:?", c) for c in t[1]), t[1]
        # every table line is separated from the text before it by a blank line
    for i, line in enumerate(out.splitlines()):
        if line.startswith("|") and not out.splitlines()[i - 1].startswith("|"):
            assert out.splitlines()[i - 1] == ""
    metrics = next(t for t in tables if t[0][0] == "metric")
    assert metrics[0] == ["metric", "A", "B", "B - A", "B vs A"]
    assert metrics[1][1] == "---:" and metrics[1][4] == ":---"
    row = next(r for r in metrics if r[0] == r"log\_loss (lower is better)")
    la, lb = holdout(a)["log_loss"], holdout(b)["log_loss"]
    word = {"better": "✅ better", "worse": "❌ worse"}[expected_verdict("log_loss", lb - la)]
    assert row[1:] == [f"{la:.4f}", f"{lb:.4f}", f"{lb - la:+.4f}", word]
    # a value holding the Markdown specials stays inside its cell, shown as written
    cmp = run_compare.compare(store, [a["id"], b["id"]])
    cmp["runs"][1]["algorithm"] = "a|b*c_<x>"
    setup = _tables(to_markdown(cmp))[0]
    assert len({len(r) for r in setup}) == 1
    assert next(r for r in setup if r[0] == "algorithm")[2] == r"a\|b\*c\_&lt;x>"
    assert md_escape("x|y\nz") == r"x\|y z"
    assert _cells(md_table(["k|", "v"], [["1|2", "`a|b`"]]).splitlines()[2]) == \
        [r"1\|2", r"\`a\|b\`"]


def test_json_document(cli, runs):
    a, b, c = runs["A"], runs["B"], runs["C"]
    code, out, err = cli("admin", "run", "compare", str(a["id"]), str(b["id"]), str(c["id"]),
                         "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"baseline", "runs", "task", "same_task", "holdout", "metrics",
                        "differences", "equal", "checks", "retrain", "summary", "notes"}
    assert doc["retrain"] == []
    assert [r["label"] for r in doc["runs"]] == ["A", "B", "C"]
    for r in doc["runs"]:
        assert {"id", "status", "task", "target", "algorithm", "dataset", "params", "spec",
                "holdout", "versions", "created_by"} <= set(r)
        assert r["dataset"]["ref"] == "loans:1" and len(r["dataset"]["sha256"]) == 64
    assert doc["runs"][2]["versions"] == []  # C was never registered
    acc = next(m for m in doc["metrics"] if m["metric"] == "accuracy")
    assert acc["values"] == [holdout(r)["accuracy"] for r in (a, b, c)]
    assert acc["deltas"] == [None] + [holdout(r)["accuracy"] - holdout(a)["accuracy"]
                                      for r in (b, c)]
    top = max(acc["values"])
    assert acc["best"] == [lab for lab, v in zip("ABC", acc["values"]) if v == top]
    # C: another seed, so other holdout rows (some shared with A's by chance)
    per = {p["label"]: p for p in doc["holdout"]["runs"]}
    assert per["B"]["same_rows"] is True and per["C"]["same_rows"] is False
    assert 0 < per["C"]["shared_rows"] < doc["runs"][0]["holdout"]["rows"]
    assert doc["holdout"]["same_rows"] is False
    assert any(n.startswith("not the same holdout rows: B on the same rows as A; C on ")
               for n in doc["notes"])
    names = {d["name"] for d in doc["differences"]}
    assert {"seed", "C", "n_estimators"} <= names
    assert [s["label"] for s in doc["summary"]] == ["B", "C"]


def test_shared_rows_equal_the_holdout_artifacts_overlap(store, runs):
    a, c = runs["A"], runs["C"]
    rows_a = set(training.load_holdout(store, a)["row"])
    rows_c = set(training.load_holdout(store, c)["row"])
    cmp = run_compare.compare(store, [a["id"], c["id"]])
    assert cmp["holdout"]["runs"][0]["shared_rows"] == len(rows_a & rows_c)
    assert cmp["holdout"]["runs"][0]["same_rows"] is (rows_a == rows_c) is False


def test_production_champion_against_a_candidate(cli, runs):
    """The CI flow of docs/ci.md: production's run from `model show NAME:production --json`,
    compared with the pipeline's run."""
    a, b = runs["A"], runs["B"]
    for user, role in (("bob", "reviewer"), ("olga", "ops")):
        assert cli("admin", "users", "add", user, "--role", role)[0] == 0
    code, _, err = cli("bob", "model", "approve", "loan:1", "--comment", "looked at it",
                       *([] if runs["A_passes"] else ["--override", "gate set for a test"]))
    assert code == 0, err
    assert cli("olga", "model", "alias", "loan:1", "production")[0] == 0
    code, out, err = cli("admin", "model", "show", "loan:production", "--json")
    assert code == 0, err
    champion = json.loads(out)["run_id"]
    assert champion == a["id"]
    code, out, err = cli("admin", "run", "compare", str(champion), str(b["id"]), "--markdown")
    assert code == 0, err
    assert out.splitlines()[0] == (f"### Run comparison: run {a['id']} (A, loan:1 approved "
                                   f"\\[production\\]) vs run {b['id']} (B, loan:2 pending)")


def test_runs_of_different_tasks_compare_with_a_note(cli, store, runs):
    a = runs["A"]
    reg = training.train(store, {"dataset": "loans", "target": "income", "cv": 0,
                                 "algorithm": "linear_regression"})
    assert reg["status"] == "finished" and reg["task"] == "regression"
    code, out, err = cli("admin", "run", "compare", str(a["id"]), str(reg["id"]), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["same_task"] is False and doc["task"] is None
    assert doc["notes"][0] == ("the runs have different tasks (A classification, B "
                               "regression): their metrics do not compare")
    metrics = {m["metric"]: m for m in doc["metrics"]}
    assert metrics["r2"]["values"] == [None, holdout(reg)["r2"]]
    assert metrics["accuracy"]["values"] == [holdout(a)["accuracy"], None]
    assert all(m["deltas"] == [None, None] for m in doc["metrics"])
    assert doc["summary"][0]["compared"] == 0
    code, out, err = cli("admin", "run", "compare", str(a["id"]), str(reg["id"]))
    assert code == 0, err
    assert "note: the runs have different tasks" in out
    assert "B vs A: no holdout metric to compare" in out


def test_unknown_and_malformed_run_ids_are_refused(cli, runs):
    a = runs["A"]
    code, out, err = cli("admin", "run", "compare", str(a["id"]), "999")
    assert (code, out, err) == (1, "", "error: run 999 not found\n")
    code, out, err = cli("admin", "run", "compare", "abc", str(a["id"]), "--markdown")
    assert (code, out) == (1, "")
    assert err == "error: run 'abc' not found (a run is named by its number)\n"
    with pytest.raises(SystemExit) as exc:  # one run is a usage error, as argparse's are
        cli("admin", "run", "compare", str(a["id"]))
    assert exc.value.code == 2


def test_the_lablift_command_exits_1_with_one_error_line(store_arg, runs):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [APP] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    proc = subprocess.run([sys.executable, "-m", "lablift.cli", "--store", store_arg("admin"),
                           "--user", "admin", "run", "compare", str(runs["A"]["id"]), "4242",
                           "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", "error: run 4242 not found\n")
    proc = subprocess.run([sys.executable, "-m", "lablift.cli", "--store", store_arg("admin"),
                           "--user", "admin", "run", "compare", str(runs["A"]["id"]),
                           str(runs["B"]["id"]), "--markdown"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("### Run comparison: ") and proc.stderr == ""


def test_a_cancelled_run_compares_with_a_note(store, runs):
    calls = []

    def cancelled():  # a cancel once the run is recorded as running
        calls.append(1)
        return len(calls) > 3
    with pytest.raises(Cancelled):
        training.train(store, {"dataset": "loans", "target": "approved", "cv": 0,
                               "algorithm": "logistic_regression"}, cancelled=cancelled)
    (stopped,) = [r for r in training.list_runs(store) if r["status"] == "cancelled"]
    cmp = run_compare.compare(store, [runs["A"]["id"], stopped["id"]])
    assert cmp["runs"][1]["holdout"]["rows"] is None
    assert all(m["values"][1] is None and m["deltas"][1] is None for m in cmp["metrics"])
    assert f"B (run {stopped['id']}) is cancelled" in " ".join(cmp["notes"])
    assert cmp["holdout"]["runs"][0] == {"label": "B", "run": stopped["id"], "same_rows": False,
                                         "shared_rows": None}



def retrained_challenger(store, version, sample_csv, tmp_path) -> tuple[int, int, dict]:
    """Two shifted labelled batches ingested on loans:1, then a retrain: (champion run,
    challenger run, what monitoring.retrain returned)."""
    import pandas as pd

    from lablift.core import monitoring
    frame = pd.read_csv(sample_csv)
    for i, (n, seed) in enumerate(((200, 1), (150, 2))):
        batch = frame.sample(n, random_state=seed).reset_index(drop=True)
        batch["income"] = batch["income"] * 1.3
        batch.to_csv(tmp_path / f"b{i}.csv", index=False)
        monitoring.ingest(store, "loans:1", tmp_path / f"b{i}.csv", label="approved")
    out = monitoring.retrain(store, "loans:1")
    champion, challenger = version["run_id"], out["run"]["id"]
    return champion, challenger, out


def test_a_retrained_challenger_shows_both_models_on_the_held_out_rows(store, version,
                                                                      sample_csv, tmp_path):
    from lablift.core.run_compare_format import to_text
    champion, challenger, out = retrained_challenger(store, version, sample_csv, tmp_path)
    cmp = run_compare.compare(store, [champion, challenger])
    (t,) = cmp["retrain"]
    assert (t["challenger"], t["champion"], t["rows"], t["method"]) == (
        out["challenger"]["ref"], "loans:1", 150, "newest_batch")
    assert t["row_ranges"] == [[0, 150]] and t["batch_id"] == out["comparison"]["batch_id"]
    got = {m["metric"]: m for m in t["metrics"]}
    for name, value in out["comparison"]["champion"].items():
        other = out["comparison"]["challenger"][name]
        assert got[name]["values"] == [value, other]
        assert got[name]["delta"] == other - value
        assert got[name]["verdict"] == expected_verdict(name, other - value)
    # the runs' own holdouts are of different datasets: the note says the rows differ
    assert cmp["holdout"]["same_rows"] is False
    assert cmp["holdout"]["runs"][0]["shared_rows"] == 0
    text = to_text(cmp)
    assert f"B ({out['challenger']['ref']}) is a retrained challenger of loans:1 (A); both " \
           f"scored on the 150 rows the retrain held out of monitoring batch " \
           f"#{t['batch_id']} (newest_batch), which neither trained on" in text
    acc = out["comparison"]["champion"]["accuracy"], out["comparison"]["challenger"]["accuracy"]
    section = text.split("which neither trained on", 1)[1]
    row = next(line for line in section.splitlines() if line.startswith("accuracy "))
    assert row.split() == ["accuracy", f"{acc[0]:.4f}", f"{acc[1]:.4f}",
                           f"{acc[1] - acc[0]:+.4f}", expected_verdict("accuracy",
                                                                       acc[1] - acc[0])]
    assert not any("retrained challenger" in n for n in cmp["notes"])  # the table says it
    # the other way round, the challenger's champion is not A's run: a note names the version
    back = run_compare.compare(store, [challenger, champion])
    assert back["retrain"] == []
    assert f"A is {out['challenger']['ref']}, a retrained challenger of loans:1; the retrain " \
           f"compared them on 150 held-out rows of monitoring batch #{t['batch_id']}: " \
           f"lablift model show {out['challenger']['ref']}" in back["notes"]


# -- docs/ci.md: the GitHub Actions step, run as written ------------------------------------------
PIPELINE = """\
[data]
path = "data/loans.csv"
name = "loans"

[train]
target = "approved"
algorithm = "logistic_regression"
cv = 2
seed = SEED

[model]
name = "loan"
"""


def github_step() -> str:
    """The `run: |` script of the "train, register, check" step of docs/ci.md."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "ci.md").read_text(encoding="utf-8")
    lines = text.split("- name: train, register, check\n", 1)[1].splitlines()
    assert lines[0].strip() == "run: |"
    body = []
    for line in lines[1:]:
        if line.strip() and not line.startswith(" " * 10):
            break
        body.append(line[10:])
    return "\n".join(body) + "\n"


def test_the_ci_step_posts_the_comparison_and_fails_on_failed_checks(cli, store_arg, tmp_path,
                                                                     sample_csv):
    for user, role in (("ci", "analyst"), ("rita", "reviewer"), ("otto", "ops")):
        assert cli("admin", "users", "add", user, "--role", role)[0] == 0
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "loans.csv").write_bytes(Path(sample_csv).read_bytes())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "lablift").write_text(f"#!/bin/sh\nexec {sys.executable} -m lablift.cli \"$@\"\n")
    (bin_dir / "lablift").chmod(0o755)
    script = github_step()
    summary = tmp_path / "summary.md"

    def step(seed: int) -> tuple[int, str, str]:
        (work / "lablift.toml").write_text(PIPELINE.replace("SEED", str(seed)))
        summary.write_text("")
        (work / "compare.md").unlink(missing_ok=True)
        env = {**os.environ, "PATH": os.pathsep.join([str(bin_dir), os.environ["PATH"]]),
               "PYTHONPATH": os.pathsep.join([APP, os.environ.get("PYTHONPATH", "")]),
               "LABLIFT_STORE": store_arg("ci"), "LABLIFT_USER": "ci",
               "GITHUB_STEP_SUMMARY": str(summary)}
        done = subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)
        return done.returncode, done.stdout + done.stderr, summary.read_text()

    code, log, text = step(0)  # loan:1, waiting for review; no production: nothing to compare
    assert code == 0, log
    assert "### pipeline: needs_review (exit 4)" in text and "Run comparison" not in text
    assert not (work / "compare.md").exists()
    assert cli("rita", "model", "approve", "loan:1", "--comment", "fine for a test")[0] == 0
    assert cli("otto", "model", "alias", "loan:1", "production")[0] == 0

    code, log, text = step(1)  # a new run, loan:2, against production's run 1
    assert code == 0, log
    assert "::notice::loan:2 passed its checks and waits for review" in log
    assert "### Run comparison: run 1 (A, loan:1 approved \\[production\\]) vs run 2 (B, " \
           "loan:2 pending)" in text
    assert (work / "compare.md").read_text() in text
    assert _tables((work / "compare.md").read_text())[1][0] == \
        ["metric", "A", "B", "B - A", "B vs A"]

    assert cli("admin", "model", "gates", "loan", "--set", "roc_auc>=0.999")[0] == 0
    code, log, text = step(2)  # loan:3 fails its gate: comparison posted, job fails with 3
    assert code == 3, log
    assert "::error::loan:3 failed its checks: roc_auc >= 0.999" in log
    assert "vs run 3 (B, loan:3 pending)" in text
    assert (work / "compare.md").read_text() in text
    checks = _tables((work / "compare.md").read_text())[-1]
    assert checks[0] == ["check", "A: loan:1", "B: loan:3"]
    assert next(r for r in checks if r[0] == r"roc\_auc >= 0.999")[2].startswith("FAIL ")
