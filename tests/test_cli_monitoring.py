"""`lablift monitor ...` end to end through the command line."""

import json

import pandas as pd
import pytest


def _shifted(sample_csv, n, seed, ts=False):
    b = pd.read_csv(sample_csv).sample(n, random_state=seed).reset_index(drop=True)
    for col, f in (("age", 1.5), ("income", 2.0), ("employment_years", 3.0),
                   ("credit_score", 0.8), ("loan_amount", 2.0)):
        b[col] = b[col] * f
    b["home_ownership"] = "rent"
    if ts:
        b["when"] = pd.date_range("2026-03-02", periods=n, freq="h").strftime("%Y-%m-%d %H:%M")
    return b


def test_ingest_json_shape_report_alerts_and_retrain(cli, trained, sample_csv, tmp_path):
    path = tmp_path / "batch.csv"
    _shifted(sample_csv, 300, 1).to_csv(path, index=False)
    code, out, err = cli("olga", "monitor", "ingest", "loan:1", str(path), "--label", "approved",
                         "--test", "region=psi", "--json")
    assert code == 0, err
    batch = json.loads(out)
    assert {"id", "drift_share", "dataset_drift", "columns"} <= set(batch)
    assert batch["dataset_drift"] is True
    for c in batch["columns"]:
        assert {"name", "test", "statistic", "p_value", "drifted"} <= set(c)
    by = {c["name"]: c for c in batch["columns"]}
    assert by["region"]["test"] == "psi" and by["income"]["drifted"] is True
    assert batch["metrics"]["accuracy"] is not None

    # human output names the drifted features and the alert
    path2 = tmp_path / "timed.csv"
    _shifted(sample_csv, 72, 2, ts=True).to_csv(path2, index=False)
    code, out, err = cli("olga", "monitor", "ingest", "loan:1", str(path2), "--timestamp", "when",
                         "--label", "approved", "--json")
    assert code == 0, err
    windows = json.loads(out)
    assert isinstance(windows, list) and [w["window"] for w in windows] == [
        "2026-03-02", "2026-03-03", "2026-03-04"]

    code, out, err = cli("olga", "monitor", "report", "loan:1", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["batch_ids"] == [batch["id"]] + [w["id"] for w in windows]
    assert rep["version"]["attention"]
    code, out, err = cli("olga", "monitor", "report", "loan:1")
    assert code == 0 and "ATTENTION" in out and "income" in out

    code, out, err = cli("olga", "monitor", "alerts", "--json")
    assert code == 0
    alerts = json.loads(out)
    assert alerts and {a["kind"] for a in alerts} >= {"drift"}
    assert all(a["model"] == "loan" for a in alerts)
    code, out, err = cli("olga", "monitor", "alerts", "loan:1")
    assert code == 0 and "dataset drift" in out

    # acknowledging every alert clears the version's attention flag
    for a in alerts:
        code, out, err = cli("olga", "monitor", "ack", str(a["id"]), "--note", "looked")
        assert code == 0, err
    code, out, err = cli("olga", "monitor", "ack", str(alerts[0]["id"]))
    assert code == 1 and "already acknowledged by olga" in err
    code, out, err = cli("olga", "monitor", "alerts", "--open", "--json")
    assert json.loads(out) == []
    code, out, err = cli("olga", "monitor", "report", "loan:1", "--json")
    assert json.loads(out)["version"]["attention"] is None

    # ops cannot train; an analyst retrains into a pending challenger
    code, out, err = cli("olga", "monitor", "retrain", "loan:1")
    assert code == 1 and err.startswith("error: retraining a model needs the role")
    code, out, err = cli("alice", "monitor", "retrain", "loan:1", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["challenger"]["status"] == "pending"
    assert res["challenger"]["challenger_of"] is not None
    assert res["batches"] == rep["batch_ids"][:-1]  # the newest is held out
    assert res["comparison"]["batch_id"] == rep["batch_ids"][-1]
    code, out, err = cli("alice", "model", "show", "loan:2", "--json")
    assert code == 0 and json.loads(out)["status"] == "pending"


def test_ingest_errors_exit_1_with_one_line(cli, trained, sample_csv, tmp_path):
    path = tmp_path / "b.csv"
    pd.read_csv(sample_csv).head(40).to_csv(path, index=False)
    code, out, err = cli("olga", "monitor", "ingest", "loan:1", str(path), "--label", "nope")
    assert code == 1 and out == ""
    assert err.strip().count("\n") == 0 and "label column 'nope' not found" in err
    code, out, err = cli("olga", "monitor", "ingest", "loan:1", str(path), "--test", "income")
    assert code == 1 and "COL=TEST" in err
    code, out, err = cli("olga", "monitor", "ingest", "loan:9", str(path))
    assert code == 1 and "loan:9" in err
    code, out, err = cli("olga", "monitor", "ingest", "loan:1", str(tmp_path / "missing.csv"))
    assert code == 1 and "no such file" in err
    code, out, err = cli("olga", "monitor", "ingest", "loan:1", str(path))
    assert code == 0 and out.startswith("batch ")
    with pytest.raises(SystemExit) as exc:  # usage error: argparse exits 2
        cli("olga", "monitor", "ingest", "loan:1")
    assert exc.value.code == 2


def test_alerts_empty(cli, trained):
    code, out, err = cli("olga", "monitor", "alerts", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, err = cli("olga", "monitor", "report", "loan:1")
    assert code == 0 and "no batches yet" in out


def test_settings_shown_changed_by_admin_and_validated(cli, trained, sample_csv, tmp_path):
    code, out, err = cli("olga", "monitor", "settings", "--json")
    assert code == 0 and json.loads(out)["p_threshold"] == 0.05
    code, out, err = cli("olga", "monitor", "settings", "--set", "drift_share=0.9")
    assert code == 1 and "admin" in err
    code, out, err = cli("admin", "monitor", "settings", "--set", "p_threshold=2")
    assert code == 1 and "p_threshold" in err and "outside" in err
    code, out, err = cli("admin", "monitor", "settings", "--set", "tests=income:anova")
    assert code == 1 and "anova" in err
    code, out, err = cli("admin", "monitor", "settings", "--set", "p_threshold=2",
                         "--set", "drift_share=0.9")
    assert code == 1  # nothing written when any value is bad
    code, out, err = cli("admin", "monitor", "settings", "--json")
    assert json.loads(out)["drift_share"] == 0.5
    code, out, err = cli("admin", "monitor", "settings", "--set", "drift_share=0.99",
                         "--set", "tests=region:psi", "--set", "alert_metrics=accuracy,f1",
                         "--json")
    assert code == 0, err
    values = json.loads(out)
    assert values["drift_share"] == 0.99 and values["tests"] == {"region": "psi"}
    assert values["alert_metrics"] == ["accuracy", "f1"]
    path = tmp_path / "batch.csv"
    _shifted(sample_csv, 300, 1).to_csv(path, index=False)
    code, out, err = cli("olga", "monitor", "ingest", "loan:1", str(path), "--json")
    batch = json.loads(out)
    assert batch["dataset_drift"] is False  # 6 of 10 < 0.99
    assert {c["name"]: c["test"] for c in batch["columns"]}["region"] == "psi"
