"""serve.py reloads a bundle without dropping requests: POST /admin/reload (loopback only)
and SIGHUP, under concurrent real HTTP traffic; a tampered or broken bundle is refused and
the old one goes on serving."""

from __future__ import annotations

import http.client
import json
import os
import pickle
import queue
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from bundle_helpers import flip_byte, make_bundle, request, start_server, stop_server
from test_serve import SCHEMA, _frame, _pipeline

from lablift.bundle_runtime import serve


def _bundle(folder: Path, model, version: int) -> Path:
    b = make_bundle(folder, model, SCHEMA, name="toy")
    (b / "lablift.json").write_text(json.dumps({"model": {"name": "toy", "version": version}}))
    serve.write_sums(b)
    return b


@pytest.fixture(scope="module")
def models():
    from sklearn.tree import DecisionTreeClassifier
    X, y = _frame(300, 0)
    a = _pipeline(X, y)
    b = _pipeline(X, y)
    b.steps[-1] = ("model", DecisionTreeClassifier(max_depth=2, random_state=0))
    b.fit(X, y)
    X_new, _ = _frame(40, 5)
    assert (a.predict(X_new) != b.predict(X_new)).any()  # the two can be told apart
    return {"a": a, "b": b, "X": X_new}


class StderrLines:
    """The server's stderr, line by line, without blocking the test forever."""

    def __init__(self, proc):
        self.q: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(proc.stderr,), daemon=True).start()

    def _pump(self, f):
        for line in iter(f.readline, ""):
            self.q.put(line)

    def wait_for(self, needle: str, timeout: float = 60) -> str:
        end = time.monotonic() + timeout
        seen = []
        while time.monotonic() < end:
            try:
                line = self.q.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(line)
            if needle in line:
                return line
        raise AssertionError(f"no stderr line with {needle!r}: {seen}")


def _records(X, i: int):
    return json.loads(X.iloc[[i % len(X)]].to_json(orient="records"))


def _v2(X, i: int):
    row = X.iloc[i % len(X)]
    income = None if row["income"] != row["income"] else float(row["income"])
    return {"inputs": [
        {"name": "age", "shape": [1], "datatype": "INT64", "data": [int(row["age"])]},
        {"name": "income", "shape": [1], "datatype": "FP64", "data": [income]},
        {"name": "grade", "shape": [1], "datatype": "BYTES", "data": [row["grade"]]},
        {"name": "member", "shape": [1], "datatype": "BOOL", "data": [bool(row["member"])]}]}


def _admin(port: int, body=None) -> tuple[int, dict]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        status, _, doc = request(c, "POST", "/admin/reload", body if body is not None else b"")
        return status, doc
    finally:
        c.close()


def test_reload_under_concurrent_requests_drops_none(models, tmp_path):
    X, a, b = models["X"], models["a"], models["b"]
    expected = {"1": a.predict(X).tolist(), "2": b.predict(X).tolist()}
    bundle_a = _bundle(tmp_path / "a", a, 1)
    bundle_b = _bundle(tmp_path / "b", b, 2)
    tampered = tmp_path / "tampered"
    shutil.copytree(bundle_b, tampered)
    flip_byte(tampered / "model.pkl")
    proc, port = start_server(bundle_a, "--log", str(tmp_path / "log.jsonl"))
    err = StderrLines(proc)
    stop = threading.Event()
    failures, answers = [], []  # answers: (model_version, row, prediction)

    def client(k: int):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = k
        try:
            while not stop.is_set() or i < k + 40:  # at least 40 requests each, and until done
                i += 1
                try:
                    if i % 2:
                        status, _, doc = request(c, "POST", "/v2/models/toy/infer", _v2(X, i))
                        if status == 200:
                            answers.append((doc["model_version"], i % len(X),
                                            doc["outputs"][0]["data"][0]))
                    else:
                        status, _, doc = request(c, "POST", "/invocations",
                                                 {"dataframe_records": _records(X, i)})
                        if status == 200:
                            answers.append((None, i % len(X), doc["predictions"][0]))
                    if status != 200:
                        failures.append((status, doc))
                except (OSError, http.client.HTTPException) as exc:
                    failures.append(repr(exc))
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        finally:
            c.close()

    threads = [threading.Thread(target=client, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        status, doc = _admin(port, {"bundle": str(bundle_b)})
        assert status == 200, doc
        assert doc == {"reloaded": True, "model": "toy:2", "previous": "toy:1",
                       "bundle": str(bundle_b.resolve()), "scorer": "pickle"}
        assert "reloaded, serving toy:2" in err.wait_for("POST /admin/reload")
        time.sleep(0.3)
        # a tampered bundle: refused, named, and the old one goes on serving
        status, doc = _admin(port, {"bundle": str(tampered)})
        assert status == 422 and doc["error_code"] == "RELOAD_REFUSED"
        assert "still serving toy:2" in doc["message"] and "model.pkl" in doc["message"]
        assert "reload refused" in err.wait_for("POST /admin/reload")
        # SIGHUP reloads the folder being served (b), then back to a through the endpoint
        os.kill(proc.pid, signal.SIGHUP)
        assert "reloaded, serving toy:2" in err.wait_for("SIGHUP")
        status, doc = _admin(port, {"bundle": str(bundle_a)})
        assert status == 200 and doc["model"] == "toy:1" and doc["previous"] == "toy:2"
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    assert failures == []
    assert len(answers) >= 160
    versions = {v for v, _, _ in answers if v}
    assert versions == {"1", "2"}  # traffic was answered by both, before and after
    for version, row, pred in answers:  # every answer is one whole model's, never a mix
        if version:
            assert pred == expected[version][row]
        else:
            assert pred in (expected["1"][row], expected["2"][row])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    assert request(c, "GET", "/version")[2]["version"] == 1
    c.close()
    stop_server(proc)
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert {e["model"] for e in logged} == {"toy:1", "toy:2"}  # lines name who answered
    assert all("error" not in e for e in logged)  # no refusal, and admin calls are not logged


def test_a_failed_reload_keeps_serving_and_says_why(models, tmp_path):
    X, a = models["X"], models["a"]
    bundle = _bundle(tmp_path / "a", a, 1)
    proc, port = start_server(bundle)
    err = StderrLines(proc)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = {"dataframe_records": _records(X, 0)}
    try:
        # in place: the served folder's model.pkl replaced by a pickle that would leave a marker
        marker = tmp_path / "pwned"

        class Evil:
            def __reduce__(self):
                return (open, (str(marker), "w"))

        good = (bundle / "model.pkl").read_bytes()
        (bundle / "model.pkl").write_bytes(pickle.dumps(Evil()))
        os.kill(proc.pid, signal.SIGHUP)
        line = err.wait_for("SIGHUP")
        assert "reload refused, still serving toy:1" in line and "model.pkl" in line
        assert not marker.exists()
        assert request(c, "POST", "/invocations", body)[2]["predictions"] == \
            a.predict(X.head(1)).tolist()
        (bundle / "model.pkl").write_bytes(good)

        # a bundle that unpickles but cannot score its own input example
        broken = _bundle(tmp_path / "broken", a, 2)
        (broken / "input_example.json").write_text(json.dumps(
            {"columns": ["age"], "data": [[30]]}))
        serve.write_sums(broken)
        status, doc = _admin(port, {"bundle": str(broken)})
        assert status == 422 and "cannot score its own input_example.json" in doc["message"]
        assert "missing column 'income'" in doc["message"]

        # a bundle every user could change is not loaded from a path given over HTTP
        loose = _bundle(tmp_path / "loose", a, 3)
        os.chmod(loose / "model.pkl", 0o666)
        status, doc = _admin(port, {"bundle": str(loose)})
        assert status == 422 and "writable by every user" in doc["message"]

        for bad, needle in (({"bundle": 5}, "the body must be"), ({"other": "x"}, "the body must"),
                            (b"{nope", "not valid JSON"),
                            ({"bundle": str(tmp_path / "nowhere")}, "not found")):
            status, doc = _admin(port, bad)
            assert status in (400, 422) and needle in doc["message"], doc
        status, _, doc = request(c, "GET", "/admin/reload")
        assert status == 405
        # still the first bundle, and an empty body reloads the folder being served
        assert request(c, "GET", "/version")[2]["version"] == 1
        status, doc = _admin(port)
        assert status == 200 and doc["model"] == "toy:1" and doc["previous"] == "toy:1"
    finally:
        c.close()
        assert "Traceback" not in stop_server(proc)


def _outward_ip() -> str | None:
    """An address of this machine that is not loopback (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: routing only
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


def test_admin_reload_is_refused_from_a_non_loopback_address(models, tmp_path):
    ip = _outward_ip()
    if ip is None:
        pytest.skip("this machine has no non-loopback address")
    bundle = _bundle(tmp_path / "a", models["a"], 1)
    proc, port = start_server(bundle, "--host", "0.0.0.0")
    try:
        c = http.client.HTTPConnection(ip, port, timeout=30)
        status, _, doc = request(c, "POST", "/admin/reload", b"")
        assert status == 403 and doc["error_code"] == "FORBIDDEN"
        assert "only from loopback" in doc["message"] and ip in doc["message"]
        assert request(c, "GET", "/ping")[0] == 200  # the rest is served to it as usual
        c.close()
        assert _admin(port)[0] == 200  # and loopback may
    finally:
        stop_server(proc)


def _log_lines(log: Path, n: int, timeout: float = 60) -> list[dict]:
    end = time.monotonic() + timeout  # the line is written after the answer (and the shadow)
    while time.monotonic() < end:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= n:
            return [json.loads(x) for x in lines]
        time.sleep(0.05)
    raise AssertionError(f"{log} has fewer than {n} lines")


def test_a_reload_can_name_a_new_shadow_or_stop_shadowing(models, tmp_path):
    X, a, b = models["X"], models["a"], models["b"]
    bundle = _bundle(tmp_path / "a", a, 1)
    first, second = _bundle(tmp_path / "s2", b, 2), _bundle(tmp_path / "s3", a, 3)
    log = tmp_path / "predictions.jsonl"
    proc, port = start_server(bundle, "--log", str(log), "--shadow", str(first))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = {"dataframe_records": _records(X, 0)}
    try:
        assert request(c, "POST", "/invocations", body)[0] == 200
        assert _log_lines(log, 1)[-1]["shadow"]["model"] == "toy:2"
        # a tampered shadow is refused: the old one goes on shadowing
        bad = tmp_path / "bad"
        shutil.copytree(second, bad)
        flip_byte(bad / "model.pkl")
        status, doc = _admin(port, {"shadow": str(bad)})
        assert status == 422 and doc["error_code"] == "RELOAD_REFUSED"
        assert "model.pkl was changed" in doc["message"] and "shadow" in doc["message"]
        assert request(c, "POST", "/invocations", body)[0] == 200
        assert _log_lines(log, 2)[-1]["shadow"]["model"] == "toy:2"
        # a new shadow, checked like the primary; the primary stays
        status, doc = _admin(port, {"shadow": str(second)})
        assert status == 200 and doc["model"] == "toy:1" and doc["shadow"] == "toy:3"
        assert request(c, "GET", "/version")[2]["shadow"]["model"] == "toy:3"
        status, _, answer = request(c, "POST", "/invocations", body)
        assert answer["predictions"] == a.predict(X.head(1)).tolist()
        line = _log_lines(log, 3)[-1]
        assert line["model"] == "toy:1" and line["shadow"]["model"] == "toy:3"
        assert line["shadow"]["prediction"] == line["prediction"]  # the same model as shadow
        # a plain reload keeps it; null stops shadowing
        status, doc = _admin(port)
        assert status == 200 and doc["shadow"] == "toy:3"
        status, doc = _admin(port, {"shadow": None})
        assert status == 200 and doc["shadow"] is None
        assert "shadow" not in request(c, "GET", "/version")[2]
        assert request(c, "POST", "/invocations", body)[0] == 200
        assert "shadow" not in _log_lines(log, 4)[-1]
        status, doc = _admin(port, {"shadow": 5})
        assert status == 400 and "the body must be" in doc["message"]
    finally:
        c.close()
        assert "Traceback" not in stop_server(proc)
