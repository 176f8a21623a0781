"""Monitoring on a real trained and registered version of the sample loan model."""

import json
import re
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pandas as pd
import pytest

from lablift.core import audit, bundles, datasets, monitoring, registry, training
from lablift.core.errors import LabliftError, PermissionDenied

SHIFTED = {"age", "income", "employment_years", "credit_score", "loan_amount", "home_ownership"}


@pytest.fixture
def loans(sample_csv):
    return pd.read_csv(sample_csv)


def shifted(loans: pd.DataFrame, n: int = 400, seed: int = 1) -> pd.DataFrame:
    b = loans.sample(n, random_state=seed).reset_index(drop=True)
    b["age"] = b["age"] + 15
    b["income"] = b["income"] * 1.8
    b["employment_years"] = b["employment_years"] + 8
    b["credit_score"] = b["credit_score"] - 90
    b["loan_amount"] = b["loan_amount"] * 2
    b["home_ownership"] = "rent"
    # concept drift too: half of the outcomes flipped, so the model's accuracy drops
    flip = np.arange(n) % 2 == 0
    b.loc[flip, "approved"] = 1 - b.loc[flip, "approved"]
    return b


def test_shifted_labelled_batch_records_drift_metrics_alert_and_attention(store, version, loans,
                                                                         tmp_path):
    path = tmp_path / "batch.csv"
    shifted(loans).to_csv(path, index=False)
    batch = monitoring.ingest(store, "loans:1", path, label="approved")
    drifted = {c["name"] for c in batch["columns"] if c["drifted"]}
    assert drifted == SHIFTED
    assert batch["dataset_drift"] is True
    assert batch["drift_share"] == pytest.approx(len(SHIFTED) / len(batch["columns"]))
    # metrics under the training names, compared with the holdout figures
    run = training.get_run(store, version["run_id"])
    assert set(batch["metrics"]) == set(run["metrics"]["holdout"])
    assert batch["metrics"]["accuracy"] < run["metrics"]["holdout"]["accuracy"] - 0.05
    assert batch["labelled_rows"] == 400
    kinds = {a["kind"] for a in batch["alerts"]}
    assert {"drift", "metric"} <= kinds
    rows = store.query("SELECT * FROM alerts WHERE batch_id = ?", (batch["id"],))
    assert {r["kind"] for r in rows} == kinds
    v = registry.resolve_version(store, "loans:1")
    assert v["attention"] and f"batch {batch['id']}" in v["attention"]
    stored = store.query_one("SELECT * FROM batches WHERE id = ?", (batch["id"],))
    assert stored["dataset_drift"] == 1 and stored["label_column"] == "approved"
    frame = monitoring.load_batch_frame(store, stored)
    assert len(frame) == 400 and "__prediction" in frame.columns
    actions = [r["action"] for r in store.query("SELECT action FROM audit_log ORDER BY seq")]
    assert "monitor.ingest" in actions and "version.attention" in actions
    assert audit.verify(store).ok
    # the prediction drift is computed on the model's own output
    assert batch["prediction_drift"]["source"] == "model"
    assert batch["prediction_drift"]["test"] in ("jensenshannon", "z", "chisquare")


def test_unshifted_batch_raises_no_alert(store, version, loans, tmp_path):
    X, y = training.training_frame(store, training.get_run(store, version["run_id"]))
    b = loans.loc[X.index[:500]]
    path = tmp_path / "same.parquet"
    b.to_parquet(path)
    batch = monitoring.ingest(store, "loans:1", path, label="approved")
    assert batch["dataset_drift"] is False
    assert not [c for c in batch["columns"] if c["drifted"]]
    assert batch["alerts"] == []
    assert registry.resolve_version(store, "loans:1")["attention"] is None
    assert store.query("SELECT COUNT(*) AS n FROM alerts")[0]["n"] == 0


def test_schema_findings_missing_column_new_category_out_of_range_type(store, version, loans,
                                                                        tmp_path):
    b = loans.sample(300, random_state=3).reset_index(drop=True)
    b = b.drop(columns=["credit_score"])
    b.loc[:9, "purpose"] = "yacht"
    b.loc[:4, "income"] = 10_000_000.0
    b["age"] = b["age"].astype(object)
    b.loc[5:7, "age"] = "unknown"
    b.loc[20:200, "loan_amount"] = np.nan
    b["extra_field"] = 1
    path = tmp_path / "odd.csv"
    b.to_csv(path, index=False)
    batch = monitoring.ingest(store, "loans:1", path)
    by = {(f["check"], f["column"]): f for f in batch["quality"]}
    assert by[("missing_column", "credit_score")]["severity"] == "error"
    assert "credit_score" in batch["skipped"]
    assert "credit_score" not in {c["name"] for c in batch["columns"]}
    assert by[("new_category", "purpose")]["rows"] == 10
    assert "yacht" in by[("new_category", "purpose")]["categories"]
    assert by[("out_of_range", "income")]["above"] == 5
    assert by[("type_change", "age")]["rows"] == 3
    assert by[("missing_rate", "loan_amount")]["share"] == pytest.approx(181 / 300)
    assert ("new_column", "extra_field") in by
    assert ("prediction", None) in by  # no scoring without a used input
    assert batch["prediction_drift"] is None
    assert "quality" in {a["kind"] for a in batch["alerts"]}
    assert len(batch["columns"]) == 9  # the other inputs were still tested


def test_timestamp_windows_day_week_and_rows(store, version, loans, tmp_path):
    b = loans.sample(300, random_state=5).reset_index(drop=True)
    start = pd.Timestamp("2026-03-02T00:00:00Z")  # a Monday
    b["ts"] = [(start + pd.Timedelta(hours=i)).isoformat() for i in range(len(b))]
    path = tmp_path / "timed.csv"
    b.sample(frac=1, random_state=0).to_csv(path, index=False)  # order must not matter
    days = monitoring.ingest(store, "loans:1", path, timestamp="ts", window="day")
    assert days["windows"] == 13  # 24 rows a day, 12 left on the 13th
    assert days["batches"][0]["window"] == "2026-03-02"
    assert days["batches"][1]["window"] == "2026-03-03"
    assert [x["rows"] for x in days["batches"]] == [24] * 12 + [12]
    weeks = monitoring.ingest(store, "loans:1", path, timestamp="ts", window="week",
                              label="approved")
    assert [w["window"] for w in weeks["batches"]][:2] == ["week of 2026-03-02",
                                                           "week of 2026-03-09"]
    assert [w["rows"] for w in weeks["batches"]] == [168, 132]
    assert all(w["metrics"] is not None for w in weeks["batches"])
    assert not [f for f in weeks["batches"][0]["quality"] if f["column"] == "ts"]
    rows = monitoring.ingest(store, "loans:1", path, timestamp="ts", window="120")
    assert [w["rows"] for w in rows["batches"]] == [120, 120, 60]
    span = rows["batches"][0]["window_span"]
    assert span["start"].startswith("2026-03-02T00:00")
    assert rows["batches"][1]["window_span"]["start"].startswith("2026-03-07T00:00")


def test_refusals_leave_the_store_unchanged(store, make_store, version, loans, tmp_path):
    path = tmp_path / "b.csv"
    loans.sample(50, random_state=1).to_csv(path, index=False)
    with pytest.raises(LabliftError, match="label column 'outcome' not found"):
        monitoring.ingest(store, "loans:1", path, label="outcome")
    with pytest.raises(LabliftError, match="window 'day' needs a timestamp"):
        monitoring.ingest(store, "loans:1", path, window="day")
    with pytest.raises(LabliftError, match="window 'fortnight'"):
        monitoring.ingest(store, "loans:1", path, window="fortnight")
    with pytest.raises(LabliftError, match="unknown"):
        monitoring.ingest(store, "loans:1", path, tests={"income": "anova"})
    with pytest.raises(LabliftError, match="not found"):
        monitoring.ingest(store, "nosuch:1", path)
    store.add_user("rita", "reviewer")
    with pytest.raises(PermissionDenied):
        monitoring.ingest(make_store("rita"), "loans:1", path)
    assert store.query("SELECT COUNT(*) AS n FROM batches")[0]["n"] == 0
    monitoring.ingest(store, "loans:1", path)
    with pytest.raises(LabliftError, match="already ingested"):
        monitoring.ingest(store, "loans:1", path)
    assert store.query("SELECT COUNT(*) AS n FROM batches")[0]["n"] == 1


def test_per_column_test_and_thresholds_from_settings(store, version, loans, tmp_path):
    path = tmp_path / "b.csv"
    shifted(loans).to_csv(path, index=False)
    monitoring.update_settings(store, {"drift_share": 0.9, "tests": {"region": "psi"}})
    batch = monitoring.ingest(store, "loans:1", path, tests={"income": "ks"})
    by = {c["name"]: c for c in batch["columns"]}
    assert by["income"]["test"] == "ks" and by["income"]["p_value"] < 0.05
    assert by["region"]["test"] == "psi"
    assert batch["dataset_drift"] is False  # 6/10 < 0.9
    assert "drift" not in {a["kind"] for a in batch["alerts"]}


def _serve_log(store, make_store, version, loans, tmp_path):
    """Approve, export, run the bundle's serve.py with --log, score requests over HTTP."""
    store.add_user("rita", "reviewer")
    registry.approve(make_store("rita"), "loans:1", comment="ok")
    out = tmp_path / "bundle"
    bundles.export(store, "loans:1", out)
    log = tmp_path / "predictions.jsonl"
    proc = subprocess.Popen([sys.executable, str(out / "serve.py"), "serve", "--port", "0",
                             "--log", str(log)], stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        m = re.search(r"http://([\d.]+):(\d+)", line)
        assert m, line
        url = f"http://{m.group(1)}:{m.group(2)}/invocations"
        features = [c for c in loans.columns if c not in ("approved", "applicant_id")]
        sample = loans.sample(60, random_state=2).reset_index(drop=True)
        for start in range(0, 60, 20):  # three requests of 20 rows
            part = sample.iloc[start:start + 20][features]
            body = json.dumps({"dataframe_split": json.loads(part.to_json(orient="split",
                                                                          index=False))})
            req = urllib.request.Request(url, body.encode(),
                                         {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert resp.status == 200
        # the server may append the log line after answering: wait for it before stopping
        deadline = time.time() + 10
        while time.time() < deadline and (not log.exists() or
                                          len(log.read_text().splitlines()) < 60):
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return log, sample


@pytest.mark.slow  # exports a bundle and starts its serve.py (a few seconds)
def test_serve_log_ingests_without_conversion_and_labels_join_later(store, make_store, version,
                                                                    loans, tmp_path):
    log, sample = _serve_log(store, make_store, version, loans, tmp_path)
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == 60 and "inputs" in lines[0] and "latency_ms" in lines[0]
    batch = monitoring.ingest(store, "loans:1", log)
    assert batch["rows"] == 60
    ops = batch["ops"]
    assert ops["requests"] == 3 and ops["rows"] == 60 and ops["errors"] == 0
    per_request = {}
    for x in lines:
        per_request.setdefault(x["request_id"], x["latency_ms"])
    assert ops["latency_ms"]["p99"] == pytest.approx(
        np.percentile(list(per_request.values()), 99))
    assert not [f for f in batch["quality"] if f["check"] in ("missing_column", "new_column")]
    assert len(batch["columns"]) == 10
    assert batch["metrics"] is None
    # the outcomes arrive later, keyed by request id and row
    labels = pd.DataFrame({"request_id": [x["request_id"] for x in lines],
                           "row": [x["row"] for x in lines],
                           "approved": sample["approved"].to_numpy()})
    lpath = tmp_path / "labels.csv"
    labels.to_csv(lpath, index=False)
    updated = monitoring.ingest(store, "loans:1", lpath, label="approved")
    assert updated["id"] == batch["id"]
    assert updated["labelled_rows"] == 60 and updated["metrics"]["accuracy"] is not None
    assert store.query("SELECT COUNT(*) AS n FROM batches")[0]["n"] == 1
    # the logged predictions are the bundle's: the same as the pipeline's on the same rows
    frame = monitoring.load_batch_frame(store, batch["id"])
    assert (frame["prediction"].to_numpy() == frame["__prediction"].to_numpy()).all()


def test_latency_budget_alert_from_log(store, version, loans, tmp_path):
    rows = loans.sample(30, random_state=4).reset_index(drop=True)
    features = [c for c in loans.columns if c not in ("approved", "applicant_id")]
    log = tmp_path / "slow.jsonl"
    with open(log, "w") as f:  # serve.py's documented line format
        for i, r in rows.iterrows():
            f.write(json.dumps({"timestamp": "2026-03-02T10:00:00.000+00:00",
                                "request_id": f"req-{i}", "row": 0, "model": "loans:1",
                                "inputs": {c: (r[c].item() if hasattr(r[c], "item") else r[c])
                                           for c in features},
                                "prediction": int(r["approved"]),
                                "latency_ms": 50.0 + 10 * i}) + "\n")
        f.write("not json\n")
    batch = monitoring.ingest(store, "loans:1", log)
    assert batch["ops"]["latency_ms"]["p99"] == pytest.approx(
        np.percentile(50.0 + 10 * np.arange(30), 99))
    assert "latency" in {a["kind"] for a in batch["alerts"]}
    assert any(f["check"] == "bad_lines" for f in batch["quality"])
    assert "latency p99" in registry.resolve_version(store, "loans:1")["attention"]


def test_retrain_registers_pending_challenger_with_batch_lineage(store, version, loans,
                                                                 tmp_path):
    p1, p2 = tmp_path / "b1.csv", tmp_path / "b2.csv"
    shifted(loans, 200, seed=1).to_csv(p1, index=False)
    shifted(loans, 200, seed=2).to_csv(p2, index=False)
    b1 = monitoring.ingest(store, "loans:1", p1, label="approved")
    b2 = monitoring.ingest(store, "loans:1", p2, label="approved")
    monitoring.ingest(store, "loans:1", p2, window="100")  # unlabelled: not learned from
    out = monitoring.retrain(store, "loans:1")
    ch = registry.resolve_version(store, out["challenger"]["ref"])
    assert ch["status"] == "pending" and ch["version"] == 2
    assert ch["challenger_of"] == version["id"]
    # the newest labelled batch is held out for the comparison (test_monitoring_retrain_holdout)
    assert ch["lineage"]["batches"] == [b1["id"]]
    ds = datasets.get(store, out["dataset"]["id"])
    assert ds["name"] == "loans-retrain" and ds["rows"] == 2000 + 200
    run = training.get_run(store, ch["run_id"])
    assert run["spec"]["algorithm"] == "logistic_regression" and run["spec"]["cv"] == 2
    comp = out["comparison"]
    assert comp["batch_id"] == b2["id"] and comp["rows"] == 200
    assert set(comp["champion"]) == set(comp["challenger"]) >= {"accuracy", "roc_auc"}
    assert comp["champion"]["accuracy"] == pytest.approx(b2["metrics"]["accuracy"])
    # four-eyes: whoever retrained cannot approve the challenger
    with pytest.raises(PermissionDenied):
        registry.approve(store, ch["ref"], comment="mine")
    assert "monitor.retrain" in {r["action"] for r in store.query("SELECT action FROM audit_log")}


def test_retrain_without_labels_refused(store, version, loans, tmp_path):
    path = tmp_path / "b.csv"
    loans.sample(50, random_state=1).to_csv(path, index=False)
    monitoring.ingest(store, "loans:1", path)
    with pytest.raises(LabliftError, match="no labelled batches"):
        monitoring.retrain(store, "loans:1")


def test_report_over_time(store, version, loans, tmp_path):
    p1, p2 = tmp_path / "b1.csv", tmp_path / "b2.csv"
    X, _ = training.training_frame(store, training.get_run(store, version["run_id"]))
    loans.loc[X.index[:600]].to_csv(p1, index=False)  # the reference itself: no drift
    shifted(loans, 200).to_csv(p2, index=False)
    b1 = monitoring.ingest(store, "loans:1", p1, label="approved")
    b2 = monitoring.ingest(store, "loans:1", p2, label="approved")
    rep = monitoring.report(store, "loans:1")
    assert rep["batch_ids"] == [b1["id"], b2["id"]]
    assert [b["drift_share"] for b in rep["batches"]] == [b1["drift_share"], b2["drift_share"]]
    i = rep["features"].index("income")
    assert rep["matrix"]["drifted"][i] == [False, True]
    assert rep["matrix"]["statistic"][i][1] == pytest.approx(
        next(c["statistic"] for c in b2["columns"] if c["name"] == "income"))
    series = rep["metrics"]["series"]["accuracy"]
    assert [s["value"] for s in series] == [b1["metrics"]["accuracy"], b2["metrics"]["accuracy"]]
    assert rep["metrics"]["holdout"]["accuracy"] is not None
    assert {a["batch_id"] for a in rep["alerts"]} == {b2["id"]}
    hist = monitoring.batch_histogram(store, b2["id"], "home_ownership")
    assert dict(zip(hist["categories"], hist["current"]))["rent"] == 200


def _log_with_failures(path, loans, good: int, failed: int, seed: int = 6,
                       days: int = 1) -> pd.DataFrame:
    """A prediction log written by serve.py's own writer: `good` requests of 1-2 rows each and
    `failed` rejected requests (400 and 500) between them, spread over `days` days."""
    from lablift.bundle_runtime.live import PredictionLog
    features = [c for c in loans.columns if c not in ("approved", "applicant_id")]
    rows = loans.sample(2 * good, random_state=seed).reset_index(drop=True)
    log = PredictionLog(path, "loans:1")
    scored = []
    try:
        for i in range(good):
            part = rows.iloc[2 * i:2 * i + 1 + i % 2]  # odd requests score two rows
            log.write(f"ok-{i}", {c: part[c].tolist() for c in features},
                      part["approved"].to_numpy(), None, None, 5.0 + i)
            scored.append(part)
            if i < failed:
                log.write_error(f"bad-{i}", 400 if i % 2 else 500, f"column 'age': bad {i}",
                                1.0)
    finally:
        log.close()
    if days > 1:  # serve.py stamps the current time: move each request to its day
        lines = [json.loads(x) for x in path.read_text().splitlines()]
        for n, x in enumerate(lines):
            x["timestamp"] = f"2026-03-0{2 + n * days // len(lines)}T10:00:00.000+00:00"
        path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return pd.concat(scored, ignore_index=True)


def test_log_with_failed_requests_counts_error_rate_and_alerts(store, version, loans,
                                                              tmp_path):
    good, failed = 20, 5
    log = tmp_path / "errors.jsonl"
    scored = _log_with_failures(log, loans, good, failed)
    errors = [json.loads(x) for x in log.read_text().splitlines() if '"error"' in x]
    assert len(errors) == failed and all("inputs" not in x for x in errors)
    batch = monitoring.ingest(store, "loans:1", log)
    assert batch["rows"] == len(scored) == 30  # error lines are not rows of the batch
    ops = batch["ops"]
    assert ops["requests"] == good + failed and ops["rows"] == len(scored)
    assert ops["errors"] == failed and ops["error_lines"] == failed
    assert ops["error_rate"] == pytest.approx(failed / (good + failed))
    assert ops["errors_by_status"] == {"400": 2, "500": 3}
    # latency is the scored requests': the failed ones' 1 ms is left out
    assert ops["latency_ms"]["p50"] == pytest.approx(np.percentile(5.0 + np.arange(good), 50))
    # the error lines' fields are not taken for inputs or new columns
    assert not [f for f in batch["quality"] if f["check"] in ("missing_column", "new_column",
                                                             "missing_rate")]
    assert len(batch["columns"]) == 10 and batch["prediction_drift"] is not None
    frame = monitoring.load_batch_frame(store, batch["id"])
    assert len(frame) == len(scored) and "error" not in frame.columns
    assert failed / (good + failed) > monitoring.settings(store)["max_error_rate"]
    alert = next(a for a in batch["alerts"] if a["kind"] == "errors")
    assert f"{failed} of {good + failed} requests" in alert["message"]
    assert "error rate 20.0%" in registry.resolve_version(store, "loans:1")["attention"]
    rep = monitoring.report(store, "loans:1")
    assert rep["latency"][0]["error_rate"] == pytest.approx(0.2)
    assert rep["latency"][0]["errors"] == failed


def test_error_rate_within_the_budget_raises_no_alert(store, version, loans, tmp_path):
    monitoring.update_settings(store, {"max_error_rate": 0.25})
    log = tmp_path / "few-errors.jsonl"
    _log_with_failures(log, loans, 20, 4)  # 4 of 24 requests: 16.7% <= 25%
    batch = monitoring.ingest(store, "loans:1", log)
    assert batch["ops"]["error_rate"] == pytest.approx(4 / 24)
    assert "errors" not in {a["kind"] for a in batch["alerts"]}
    with pytest.raises(LabliftError, match="max_error_rate"):
        monitoring.update_settings(store, {"max_error_rate": 1.5})


def test_failed_requests_fall_in_their_windows(store, version, loans, tmp_path):
    log = tmp_path / "two-days.jsonl"
    scored = _log_with_failures(log, loans, 20, 6, days=2)
    days = monitoring.ingest(store, "loans:1", log, window="day")["batches"]
    assert [b["window"] for b in days] == ["2026-03-02", "2026-03-03"]
    assert sum(b["rows"] for b in days) == len(scored)
    assert sum(b["ops"]["errors"] for b in days) == 6
    assert sum(b["ops"]["requests"] for b in days) == 26
    for b in days:
        assert b["ops"]["error_rate"] == pytest.approx(b["ops"]["errors"] / b["ops"]["requests"])
    rows = monitoring.ingest(store, "loans:1", log, window="15")["batches"]
    assert [b["rows"] for b in rows] == [15, 15]
    assert sum(b["ops"]["errors"] for b in rows) == 6


def test_log_with_only_failed_requests_ingests_with_a_finding(store, version, loans, tmp_path):
    from lablift.bundle_runtime.live import PredictionLog
    log_path = tmp_path / "outage.jsonl"
    log = PredictionLog(log_path, "loans:1")
    for i in range(4):
        log.write_error(f"bad-{i}", 500, "internal error: MemoryError: ", 2.0)
    log.close()
    batch = monitoring.ingest(store, "loans:1", log_path)
    assert batch["rows"] == 0 and batch["columns"] == [] and batch["dataset_drift"] is False
    assert batch["ops"]["requests"] == 4 and batch["ops"]["error_rate"] == 1.0
    assert batch["ops"]["latency_ms"] is None
    finding = next(f for f in batch["quality"] if f["check"] == "no_rows")
    assert "all 4 logged requests failed" in finding["message"]
    assert {a["kind"] for a in batch["alerts"]} == {"errors"}
    rep = monitoring.report(store, "loans:1")
    assert rep["latency"][0]["error_rate"] == 1.0 and rep["latency"][0].get("p99") is None
