"""serve.py serve --shadow OTHER_BUNDLE: both score every request, the primary answers, and
each --log line carries the shadow's result in the layout `lablift monitor ingest` reads."""

from __future__ import annotations

import http.client
import json
import pickle
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import pytest
from bundle_helpers import make_bundle, request, run_serve, start_server, stop_server
from test_serve import SCHEMA, _frame, _pipeline

from lablift.bundle_runtime import serve


def _bundle(folder: Path, model, version: int, schema=SCHEMA) -> Path:
    b = make_bundle(folder, model, schema, name="toy")
    (b / "lablift.json").write_text(json.dumps({"model": {"name": "toy", "version": version}}))
    serve.write_sums(b)
    return b


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from sklearn.ensemble import RandomForestClassifier
    root = tmp_path_factory.mktemp("shadow")
    X, y = _frame(300, 0)
    champion = _pipeline(X, y)
    challenger = _pipeline(X, y)
    # slow enough that scoring it takes clearly longer than answering (see the timing test)
    challenger.steps[-1] = ("model", RandomForestClassifier(n_estimators=600, random_state=0))
    challenger.fit(X, y)
    X_new, _ = _frame(30, 7)
    return {"root": root, "X": X_new, "champion": champion, "challenger": challenger,
            "a": _bundle(root / "champion", champion, 1),
            "b": _bundle(root / "challenger", challenger, 2)}


def _wait_lines(path: Path, n: int, timeout: float = 60) -> list[dict]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            lines = path.read_text().splitlines()
            if len(lines) >= n:
                return [json.loads(x) for x in lines]
        time.sleep(0.05)
    raise AssertionError(f"{path} has not {n} lines")


def _post(c, path: str, body, rid: str, ctype: str = "application/json"):
    data = body if isinstance(body, str) else json.dumps(body)
    c.request("POST", path, body=data, headers={"Content-Type": ctype, "X-Request-Id": rid})
    resp = c.getresponse()
    return resp.status, json.loads(resp.read())


def test_shadow_scores_every_request_and_the_primary_answers(world, tmp_path):
    X, champion, challenger = world["X"], world["champion"], world["challenger"]
    log = tmp_path / "log.jsonl"
    proc, port = start_server(world["a"], "--shadow", str(world["b"]), "--log", str(log))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        status, _, info = request(c, "GET", "/version")
        assert info["shadow"] == {"model": "toy:2", "scorer": "pickle"}
        assert info["model"] == "toy" and info["version"] == 1
        records = json.loads(X.head(10).to_json(orient="records"))
        status, doc = _post(c, "/invocations", {"dataframe_records": records}, "json")
        assert status == 200 and doc["predictions"] == champion.predict(X.head(10)).tolist()
        status, doc = _post(c, "/invocations", X.iloc[10:20].to_csv(index=False), "csv",
                            "text/csv")
        assert status == 200 and doc["predictions"] == champion.predict(X.iloc[10:20]).tolist()
        part = X.iloc[20:30]
        v2 = {"inputs": [
            {"name": "age", "shape": [10], "datatype": "INT64", "data": part["age"].tolist()},
            {"name": "income", "shape": [10], "datatype": "FP64",
             "data": [None if v != v else v for v in part["income"].tolist()]},
            {"name": "grade", "shape": [10], "datatype": "BYTES", "data": part["grade"].tolist()},
            {"name": "member", "shape": [10], "datatype": "BOOL",
             "data": part["member"].tolist()}]}
        status, doc = _post(c, "/v2/models/toy/infer", v2, "v2")
        assert status == 200 and doc["outputs"][0]["data"] == champion.predict(part).tolist()
        # a refused request is logged once, without a shadow
        status, _ = _post(c, "/invocations", {"dataframe_records": [{"age": 3}]}, "bad")
        assert status == 400
        lines = _wait_lines(log, 31)
    finally:
        c.close()
        err = stop_server(proc)
    assert "Traceback" not in err
    refused = [e for e in lines if "inputs" not in e]
    assert [e["request_id"] for e in refused] == ["bad"] and "shadow" not in refused[0]
    first = {"json": 0, "csv": 10, "v2": 20}
    scored = sorted((e for e in lines if "inputs" in e),
                    key=lambda e: first[e["request_id"]] + e["row"])
    assert len(scored) == 30
    want_pred = challenger.predict(X).tolist()
    want_proba = challenger.predict_proba(X)
    champion_pred = champion.predict(X).tolist()
    assert want_pred != champion_pred  # the comparison has something to find
    for i, e in enumerate(scored):
        assert e["model"] == "toy:1" and e["prediction"] == champion_pred[i]
        sh = e["shadow"]
        assert list(sh) == ["model", "prediction", "probabilities", "latency_ms"]
        assert sh["model"] == "toy:2" and sh["prediction"] == want_pred[i]
        assert list(sh["probabilities"]) == ["no", "yes"]
        np.testing.assert_allclose([sh["probabilities"]["no"], sh["probabilities"]["yes"]],
                                   want_proba[i], rtol=1e-12)
        assert isinstance(sh["latency_ms"], float) and sh["latency_ms"] > 0


def test_a_failing_shadow_is_logged_and_the_answer_is_unaffected(world, tmp_path):
    """A challenger that needs a column the traffic does not carry: its error is logged per
    row, the champion answers as always."""
    X, champion = world["X"], world["champion"]
    schema = {**SCHEMA, "inputs": SCHEMA["inputs"] + [
        {"name": "tenure", "dtype": "float64", "kind": "numeric", "nullable": False}]}
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    Xt, y = _frame(100, 2)
    Xt = Xt.assign(tenure=np.arange(100.0))
    needy = Pipeline([("prep", ColumnTransformer([("n", "passthrough", ["age", "tenure"])])),
                      ("model", LogisticRegression(max_iter=500))]).fit(Xt, y)
    b = _bundle(tmp_path / "needy", needy, 5, schema)
    log = tmp_path / "log.jsonl"
    proc, port = start_server(world["a"], "--shadow", str(b), "--log", str(log))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        records = json.loads(X.head(3).to_json(orient="records"))
        status, _, doc = request(c, "POST", "/invocations", {"dataframe_records": records})
        assert status == 200 and doc["predictions"] == champion.predict(X.head(3)).tolist()
        lines = _wait_lines(log, 3)
    finally:
        c.close()
        stop_server(proc)
    for e in lines:
        assert e["model"] == "toy:1" and "probabilities" in e
        assert list(e["shadow"]) == ["model", "prediction", "latency_ms", "error"]
        assert e["shadow"]["model"] == "toy:5" and e["shadow"]["prediction"] is None
        assert "missing column 'tenure'" in e["shadow"]["error"]


def test_the_shadow_runs_after_the_answer(world, tmp_path):
    """The answer does not wait for the shadow: with a challenger slower than the champion,
    each response arrives in less time than the shadow spends scoring it."""
    X = world["X"]
    big = X.sample(1500, replace=True, random_state=0)
    body = {"dataframe_split": json.loads(big.to_json(orient="split", index=False))}
    log = tmp_path / "log.jsonl"
    proc, port = start_server(world["a"], "--shadow", str(world["b"]), "--log", str(log))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    answered = []
    try:
        for k in range(5):
            t0 = time.perf_counter()
            status, _, _ = request(c, "POST", "/invocations", body)
            answered.append((time.perf_counter() - t0) * 1000.0)
            assert status == 200
            _wait_lines(log, 1500 * (k + 1))  # one request at a time: no queueing
        lines = _wait_lines(log, 7500)
    finally:
        c.close()
        stop_server(proc)
    shadow_ms = statistics.median(e["shadow"]["latency_ms"] for e in lines)
    primary_ms = statistics.median(e["latency_ms"] for e in lines)
    assert statistics.median(answered) < shadow_ms, (answered, shadow_ms, primary_ms)


def test_log_lines_read_as_champion_against_challenger(world, tmp_path):
    """The monitoring side reads the "shadow" object of these lines (batch_files.read_log)."""
    batch_files = pytest.importorskip("lablift.core.monitoring.batch_files")
    X = world["X"]
    log = tmp_path / "log.jsonl"
    proc, port = start_server(world["a"], "--shadow", str(world["b"]), "--log", str(log))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        records = json.loads(X.to_json(orient="records"))
        assert request(c, "POST", "/invocations", {"dataframe_records": records})[0] == 200
        _wait_lines(log, len(X))
    finally:
        c.close()
        stop_server(proc)
    frame, _ = batch_files.read_log(log)
    assert (frame["__shadow_model"] == "toy:2").all()
    agree = (frame["__shadow_prediction"].astype(str) == frame["prediction"].astype(str)).mean()
    expect = (world["champion"].predict(X) == world["challenger"].predict(X)).mean()
    assert agree == pytest.approx(expect)


def test_a_tampered_or_missing_shadow_bundle_stops_the_server(world, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(world["b"], bad)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (bad / "model.pkl").write_bytes(pickle.dumps(Evil()))
    proc = run_serve(world["a"], "serve", "--port", "0", "--shadow", str(bad))
    assert proc.returncode == 1 and "--shadow" in proc.stderr and "model.pkl" in proc.stderr
    assert "integrity check failed" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists()
    proc = run_serve(world["a"], "serve", "--port", "0", "--shadow", str(tmp_path / "none"))
    assert proc.returncode == 1 and "not found" in proc.stderr
