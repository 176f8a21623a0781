"""serve.py against hostile clients, hostile cells and a folder ops work in.

One real serve.py subprocess on 127.0.0.1 (--timeout 1, --workers 4, --log) takes malformed
requests over raw sockets; predict's CSV output is checked for formula injection; and the
integrity check is run on bundle folders with files ops add (allowed) or that could run
(refused).
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bundle_helpers import (make_bundle, raw_exchange, read_raw_response, request, run_serve,
                            start_server, stop_server)

from lablift.bundle_runtime import batch, scoring, serve
from lablift.cli import main

TIMEOUT = 1.0
WORKERS = 4
HOSTILE = ['=HYPERLINK("http://evil.example","click")', "+1", "-2", "@SUM(A1)"]
SCHEMA = {"inputs": [
    {"name": "x", "dtype": "float64", "kind": "numeric", "nullable": False},
    {"name": "note", "dtype": "string", "kind": "categorical", "nullable": True, "used": False},
], "target": "label", "task": "classification", "classes": sorted(HOSTILE)}


def _model():
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeClassifier
    x = np.repeat([-1.5, 0.5, 2.5, 4.5], 10)
    y = np.repeat(HOSTILE, 10)  # each label owns one range of x
    X = pd.DataFrame({"x": x, "note": "n"})
    prep = ColumnTransformer([("num", "passthrough", ["x"])])
    return Pipeline([("prep", prep), ("model", DecisionTreeClassifier(random_state=0))]).fit(X, y)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("hostile") / "bundle", _model(), SCHEMA)


@pytest.fixture(scope="module")
def server(bundle, tmp_path_factory):
    log = tmp_path_factory.mktemp("hostile_log") / "log.jsonl"
    proc, port = start_server(bundle, "--timeout", str(TIMEOUT), "--workers", str(WORKERS),
                              "--log", str(log))
    yield {"port": port, "log": log, "proc": proc}
    alive = proc.poll() is None
    err = stop_server(proc)
    assert alive, f"the server died during the tests: {err}"
    assert "Traceback" not in err, err  # nothing a client sent made it print one


def _json_refusal(status, headers, body, expect_status):
    assert status == expect_status, (status, body)
    assert headers["content-type"] == "application/json"
    doc = json.loads(body)
    assert set(doc) == {"error_code", "message"} and doc["message"]
    return doc


def _log_mark(path: Path) -> int:
    """The log's line count once earlier requests' lines (written just after their answers)
    have landed."""
    count = -1
    while True:
        now = len(path.read_text().splitlines())
        if now == count:
            return now
        count = now
        time.sleep(0.15)


def _log_lines(path: Path, at_least: int, timeout: float = 10) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines()
        if len(lines) >= at_least:
            break
        time.sleep(0.02)
    return [json.loads(x) for x in path.read_text().splitlines()]


# -- malformed requests: every refusal is one JSON body ---------------------------------------
BIG = b"a" * 70_000
REFUSALS = [
    ("bad_chunk_size", b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
     b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400, "chunk"),
    ("bad_request_line", b"GARBAGE\r\n\r\n", 400, "Bad request syntax"),
    ("bad_version", b"GET /ping HTTP/1.x\r\n\r\n", 400, "version"),
    ("http2", b"GET /ping HTTP/2.0\r\n\r\n", 505, "HTTP"),
    ("put", b"PUT /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 405,
     "not allowed"),
    ("delete", b"DELETE /invocations HTTP/1.1\r\nHost: x\r\n\r\n", 405, "not allowed"),
    ("patch", b"PATCH /invocations HTTP/1.1\r\nHost: x\r\n\r\n", 405, "not allowed"),
    ("unknown_method", b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", 501, "unsupported method"),
    ("huge_header", b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + BIG + b"\r\n\r\n", 431,
     "Line too long"),
    ("huge_request_line", b"GET /" + BIG + b" HTTP/1.1\r\n\r\n", 414, "64 KB"),
    ("no_length", b"POST /invocations HTTP/1.1\r\nHost: x\r\n\r\n", 411, "Content-Length"),
    ("bad_length", b"POST /invocations HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400,
     "Content-Length"),
    ("too_large", b"POST /invocations HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413,
     "too large"),
    ("length_and_chunked", b"POST /invocations HTTP/1.1\r\nContent-Length: 4\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "both"),
    ("gzip_coding", b"POST /invocations HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxx", 501,
     "Transfer-Encoding"),
]


@pytest.mark.parametrize("name,data,status,needle", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_malformed_requests_get_a_json_error_and_a_clean_close(server, name, data, status,
                                                               needle):
    got, headers, body, closed = raw_exchange(server["port"], data)
    doc = _json_refusal(got, headers, body, status)
    assert needle.lower() in doc["message"].lower()
    assert closed, "the connection must end with a FIN, not a reset or a hang"
    if status == 405:
        assert headers["allow"] == "GET, HEAD, POST"


def test_the_server_goes_on_and_every_refusal_is_a_log_line(server):
    before = _log_mark(server["log"])
    statuses = []
    for _, data, status, _ in REFUSALS:
        raw_exchange(server["port"], data)
        statuses.append(status)
    conn = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=10)
    assert request(conn, "GET", "/nope")[0] == 404
    statuses.append(404)
    good = {"dataframe_records": [{"x": 2.5, "note": "n"}]}
    status, _, doc = request(conn, "POST", "/invocations", good)
    assert status == 200 and doc["predictions"] == ["-2"]
    conn.close()
    lines = _log_lines(server["log"], before + len(statuses) + 1)[before:]
    errors = [x for x in lines if "error" in x]
    assert sorted(x["error"]["status"] for x in errors) == sorted(statuses)
    for x in errors:
        assert set(x) == {"timestamp", "request_id", "model", "error", "latency_ms"}
        assert x["model"] == "toy:1" and x["error"]["message"]
    assert [x["prediction"] for x in lines if "error" not in x] == ["-2"]


def test_deeply_nested_json_is_a_400_not_a_500(server):
    conn = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=10)
    for body in ("[" * 100_000 + "]" * 100_000,
                 '{"dataframe_records": ' + "[" * 100_000 + "]" * 100_000 + "}",
                 json.dumps({"dataframe_split": "[" * 100_000 + "]" * 100_000})):
        status, headers, doc = request(conn, "POST", "/invocations", body)
        assert status == 400 and doc["error_code"] == "BAD_REQUEST", doc
        assert "nested too deeply" in doc["message"]
    assert request(conn, "GET", "/ping")[0] == 200  # same connection, still served
    conn.close()


def test_echoed_header_values_are_sanitised(server):
    port = server["port"]
    body = b'{"dataframe_records": [{"x": 0.5, "note": "n"}]}'
    for rid, expect in ((b"abc\r\n\tEvil: folded", "abc Evil: folded"),  # obs-fold
                        (b"id\x01\x7f-7", "id -7"), (b"r" * 1000, "r" * 128)):
        data = (b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"X-Request-Id: " + rid + b"\r\nContent-Length: " + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n" + body)
        status, headers, _, _ = raw_exchange(port, data)
        assert status == 200
        head_lines = headers["_raw"].split("\r\n")
        assert all(line[:1] not in (" ", "\t") for line in head_lines)  # no continuation
        assert not any(line.lower().startswith("evil") for line in head_lines)
        assert headers["x-request-id"] == expect
    # a column name from the request body is echoed in X-Lablift-Warning
    evil = {"dataframe_records": [{"x": 0.5, "note": "n", "a\r\nSet-Cookie: s=1": 1}]}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    status, headers, doc = request(conn, "POST", "/invocations", evil)
    conn.close()
    assert status == 200 and "Set-Cookie" not in headers
    assert "\r" not in headers["X-Lablift-Warning"] and "Set-Cookie" in doc["warnings"][0]


# -- slow clients -------------------------------------------------------------------------------
@pytest.mark.parametrize("what,data", [
    ("headers", b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"),
    ("body", b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: 100\r\n\r\n{\"dataframe_"),
])
def test_half_sent_request_times_out_with_a_408(server, what, data):
    before = _log_mark(server["log"])
    t0 = time.monotonic()
    status, headers, body, closed = raw_exchange(server["port"], data)
    elapsed = time.monotonic() - t0
    doc = _json_refusal(status, headers, body, 408)
    assert doc["error_code"] == "REQUEST_TIMEOUT" and closed
    assert TIMEOUT * 0.8 < elapsed < TIMEOUT + 2.5
    lines = _log_lines(server["log"], before + 1)[before:]
    assert [x["error"]["status"] for x in lines if "error" in x] == [408]


def test_a_trickling_client_cannot_hold_a_worker(server):
    # one header byte every 0.2 s never lets a read wait a whole --timeout; the head's own
    # deadline ends it
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=10) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\n")
        try:
            for byte in b"X-Slow: " + b"a" * 100:
                if select.select([sock], [], [], 0.2)[0]:
                    break  # the server answered
                sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, headers, body, _ = read_raw_response(sock)
    elapsed = time.monotonic() - t0
    assert elapsed < TIMEOUT + 2.5
    assert status in (0, 408)  # answered 408, or (if it raced our last byte) reset


def test_an_idle_connection_is_closed_without_an_answer(server):
    before = _log_mark(server["log"])
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=10) as sock:
        assert sock.recv(100) == b""
    assert time.monotonic() - t0 < TIMEOUT + 2.5
    assert _log_mark(server["log"]) == before  # not a request


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc")
def test_slow_connections_do_not_create_threads(server):
    port, pid = server["port"], server["proc"].pid
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # warm up (BLAS threads)
    assert request(conn, "POST", "/invocations", {"dataframe_records": [{"x": 1.0}]})[0] == 200
    conn.close()
    baseline = _threads(pid)
    slow = []
    try:
        for _ in range(40):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")  # and then nothing
            slow.append(s)
        time.sleep(0.5)
        assert _threads(pid) <= baseline  # a fixed pool: 40 connections, no new thread
    finally:
        for s in slow:
            s.close()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    assert request(conn, "GET", "/ping")[0] == 200
    conn.close()


# -- CSV formula injection ------------------------------------------------------------------
def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_predict_csv_neutralises_formulas_but_keeps_numbers(bundle, tmp_path):
    src = pd.DataFrame({"x": [-1.5, 0.5, 2.5, 4.5],
                        "note": ["=cmd|' /C calc'!A0", "@SUM(A1)", "-2", "\tx"],
                        "=evil": ["+1", "plain", "-3", None]})
    src.to_csv(tmp_path / "in.csv", index=False)
    proc = run_serve(bundle, "predict", str(tmp_path / "in.csv"), "-o", str(tmp_path / "o.csv"),
                     "--include-inputs")
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "o.csv", newline="") as f:  # cells as written, tabs included
        rows = _cells(f.read())
    header, body = rows[0], rows[1:]
    assert header[:3] == ["x", "note", "'=evil"] and header[3] == "prediction"
    assert [r[0] for r in body] == ["-1.5", "0.5", "2.5", "4.5"]  # numbers stay numbers
    assert [r[1] for r in body] == ["'=cmd|' /C calc'!A0", "'@SUM(A1)", "'-2", "'\tx"]
    assert [r[2] for r in body] == ["'+1", "plain", "'-3", ""]
    assert [r[3] for r in body] == ["'" + label for label in HOSTILE]
    probas = [float(v) for r in body for v in r[4:]]  # proba_ columns are plain numbers
    assert all(0.0 <= p <= 1.0 for p in probas) and len(probas) == 16
    # stdout gets the same treatment; --raw-csv opts out (machine consumers)
    proc = run_serve(bundle, "predict", str(tmp_path / "in.csv"))
    assert proc.returncode == 0 and [r[0] for r in _cells(proc.stdout)[1:]] == [
        "'" + label for label in HOSTILE]
    proc = run_serve(bundle, "predict", str(tmp_path / "in.csv"), "--raw-csv",
                     "--include-inputs")
    raw = _cells(proc.stdout)
    assert raw[0][2] == "=evil" and [r[3] for r in raw[1:]] == HOSTILE
    assert [r[1] for r in raw[1:]] == list(src["note"])


def test_csv_safe_quotes_only_text_cells():
    df = pd.DataFrame({"n": [-1.5, 2.0], "i": [-3, 4], "b": [True, False],
                       "t": ["\rcr", "-2"], "c": pd.Categorical(["=a", "ok"]),
                       "s": pd.array(["@x", None], dtype="string"), "=h": ["+", "x"]})
    out = batch.csv_safe(df)
    assert out["n"].tolist() == [-1.5, 2.0] and out["i"].tolist() == [-3, 4]
    assert out["b"].tolist() == [True, False]
    assert out["t"].tolist() == ["'\rcr", "'-2"] and out["c"].tolist() == ["'=a", "ok"]
    assert out["s"].tolist()[0] == "'@x" and pd.isna(out["s"].tolist()[1])
    assert list(out.columns) == ["n", "i", "b", "t", "c", "s", "'=h"]
    assert df["t"].tolist() == ["\rcr", "-2"]  # the input frame is left alone


def test_numeric_labels_are_not_quoted(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    X = pd.DataFrame({"x": np.r_[np.linspace(-3, -1, 10), np.linspace(1, 3, 10)]})
    model = make_pipeline(LogisticRegression()).fit(X, np.repeat([-1, 1], 10))
    schema = {"inputs": [{"name": "x", "dtype": "float64", "kind": "numeric",
                          "nullable": False}], "task": "classification", "classes": [-1, 1]}
    b = make_bundle(tmp_path / "num", model, schema)
    (tmp_path / "in.csv").write_text("x\n-2.5\n2.5\n")
    proc = run_serve(b, "predict", str(tmp_path / "in.csv"))
    assert proc.returncode == 0, proc.stderr
    rows = _cells(proc.stdout)
    assert rows[0] == ["prediction", "proba_-1", "proba_1"]
    assert [r[0] for r in rows[1:]] == ["-1", "1"]


# -- integrity of a folder ops work in ------------------------------------------------------
def _copy(bundle: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(bundle, out)
    return out


def _fake_venv(folder: Path) -> None:
    site = folder / ".venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (folder / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (site / "hashlib.py").write_text("raise SystemExit('never imported')\n")
    (site / "distutils-precedence.pth").write_text("import os\n")
    (site / "__pycache__").mkdir()


def test_files_ops_add_do_not_block_scoring(bundle, tmp_path):
    b = _copy(bundle, tmp_path)
    _fake_venv(b)
    (b / "scored.csv").write_text("prediction\n")
    (b / "predictions.jsonl").write_text("{}\n")
    (b / "data").mkdir()
    (b / "data" / "batch.csv").write_text("x\n1\n")
    assert serve.check_sums(b) == []
    report = serve.inspect_bundle(b)
    assert report["unlisted_other"] == [".venv/", "data/batch.csv", "predictions.jsonl",
                                        "scored.csv"]
    assert report["unlisted_importable"] == []
    assert report["listed"] == 3 + len(serve.RUNTIME_FILES)  # model.pkl, schema, manifest
    proc = run_serve(b, "predict", "data/batch.csv", "-o", "scored.csv")
    assert proc.returncode == 0, proc.stderr
    assert pd.read_csv(b / "scored.csv")["prediction"].tolist() == ["'+1"]


@pytest.mark.parametrize("rel", ["hashlib.py", "json.py", "x.pth", "__pycache__/serve.cpython-311.pyc",
                                 "fast.cpython-311-x86_64-linux-gnu.so", "mod.pyd",
                                 "pkg/__init__.py", "tools/helper.py", "old.pyc"])
def test_unlisted_importable_files_block_scoring(bundle, tmp_path, rel):
    b = _copy(bundle, tmp_path)
    path = b / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    problems = serve.check_sums(b)
    expect = rel.split("/")[0] + "/" if rel.startswith(("__pycache__", "pkg")) else rel
    assert [(p["file"], p["problem"]) for p in problems] == [(expect, "importable")]
    with pytest.raises(serve.BundleError, match="refusing"):
        scoring.Scorer(b)


def test_code_beside_serve_py_never_runs_even_without_dash_i(bundle, tmp_path):
    # `python serve.py` (no -I) puts the folder on sys.path[0]: serve.py takes it off before
    # importing json, hashlib or pandas, then refuses the bundle, and writes no __pycache__.
    b = _copy(bundle, tmp_path)
    marker = tmp_path / "ran"
    for name in ("json.py", "hashlib.py", "argparse.py", "pandas.py", "sklearn.py"):
        (b / name).write_text(f"open({str(marker)!r}, 'a').write({name!r})\n")
    (tmp_path / "in.csv").write_text("x,note\n1,a\n")
    for argv in (["serve.py", "verify"], ["serve.py", "predict", str(tmp_path / "in.csv")]):
        proc = subprocess.run([sys.executable, *argv], cwd=b, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
        assert "hashlib.py" in proc.stderr and "remove it" in proc.stderr
        assert not marker.exists(), marker.read_text()
    assert not (b / "__pycache__").exists()


def test_integrity_messages_name_a_few_files_and_count_the_rest(bundle, tmp_path):
    b = _copy(bundle, tmp_path)
    tools = b / "tools"
    tools.mkdir()
    for i in range(1200):
        (tools / f"m{i:04d}.py").write_text("")
    (b / "schema.json").unlink()
    with pytest.raises(serve.BundleError) as info:
        serve.verify_bundle(b)
    message = str(info.value)
    assert "schema.json is listed in SHA256SUMS but missing" in message
    assert "and 1,196 more problems" in message and message.count(".py") == 4
    assert len(message) < 1500
    store = tmp_path / "store"
    code = main(["--store", str(store), "bundle", "verify", str(b)])
    assert code == 1
    proc = run_serve(b, "verify")
    assert proc.returncode == 1 and "1,196 more" in proc.stderr and len(proc.stderr) < 1500


def test_cli_verify_lists_unlisted_files_as_a_note_and_caps_it(bundle, tmp_path, capsys):
    b = _copy(bundle, tmp_path)
    _fake_venv(b)
    for i in range(12):
        (b / f"scored_{i:02d}.csv").write_text("prediction\n")
    code = main(["--store", str(tmp_path / "store"), "bundle", "verify", str(b)])
    out, err = capsys.readouterr()
    assert code == 0, err
    note = [line for line in out.splitlines() if line.startswith("note: ")]
    assert len(note) == 1 and "13 items" in note[0]
    assert ".venv/, scored_00.csv" in note[0] and "and 8 more" in note[0]
    assert main(["--store", str(tmp_path / "store"), "bundle", "verify", str(b),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["unlisted"][0] == ".venv/" and len(doc["unlisted"]) == 13
