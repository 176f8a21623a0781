"""serve.py's ONNX fast path over real HTTP: the same answers as the pickle, which scorer runs
said at start and in /version, and the pickle whenever onnxruntime is missing."""

from __future__ import annotations

import csv
import http.client
import json
import os
import subprocess
import sys
import time

import pytest
from bundle_helpers import BOOT, build_world, flip_byte, request, stop_server

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

ALGORITHMS = ["logistic_regression", "decision_tree", "random_forest", "hist_gradient_boosting"]
# bundle_helpers' isolation, and no onnxruntime either: a host without it
NO_ORT_BOOT = BOOT.replace('("lablift", "pyarrow")', '("lablift", "pyarrow", "onnxruntime")')


@pytest.fixture(scope="module", params=ALGORITHMS)
def world(request, tmp_path_factory):
    return build_world(tmp_path_factory.mktemp(request.param), request.param)


def _rows(world) -> dict:
    """300 dataset rows, some with a blank number, a blank category, an unknown category."""
    features = world["run"]["spec"]["features"]
    frame = world["frame"][features].head(300).astype(object)
    frame = frame.where(frame.notna(), None)
    data = frame.values.tolist()
    num, cat = features.index("employment_years"), features.index("purpose")
    for i in range(0, 300, 7):
        data[i][num] = None
    for i in range(3, 300, 11):
        data[i][cat] = None
    for i in range(5, 300, 13):
        data[i][cat] = "never-seen-in-training"
    return {"dataframe_split": {"columns": features, "data": data}}


def _serve(bundle, env_scorer=None, boot=None, *extra):
    env = {**os.environ}
    env.pop("LABLIFT_SCORER", None)
    if env_scorer:
        env["LABLIFT_SCORER"] = env_scorer
    cmd = [sys.executable, "-I", "-c", boot or BOOT, "serve.py", "serve", "--port", "0", *extra]
    proc = subprocess.Popen(cmd, cwd=bundle, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    seen = []
    while True:
        line = proc.stderr.readline()
        seen.append(line)
        if "http://" in line:
            return proc, int(line.rsplit(":", 1)[1].split()[0].strip("/")), "".join(seen)
        if not line:
            raise AssertionError(f"serve.py did not start: {''.join(seen)}")


def _ask(port, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        version = request(conn, "GET", "/version")[2]
        status, _, answer = request(conn, "POST", "/invocations", body)
        assert status == 200, answer
        return version, answer
    finally:
        conn.close()


def test_http_answers_are_identical_with_and_without_onnxruntime(world, tmp_path):
    b = world["bundle"]
    body = _rows(world)
    answers = {}
    for mode, env_scorer, boot in (("onnx", None, None), ("pickle", "pickle", None),
                                   ("no-ort", None, NO_ORT_BOOT)):
        log = tmp_path / f"{mode}.jsonl"
        proc, port, started = _serve(b, env_scorer, boot, "--log", str(log))
        try:
            version, answer = _ask(port, body)
            deadline = time.monotonic() + 30  # the log line is written after the answer
            while time.monotonic() < deadline and (
                    not log.exists() or len(log.read_text().splitlines()) < 300):
                time.sleep(0.05)
        finally:
            err = stop_server(proc)
        answers[mode] = (version, answer, started + err, log)
    v_onnx, a_onnx, s_onnx, log_onnx = answers["onnx"]
    assert v_onnx["scorer"] == "onnx" and "(onnx scorer)" in s_onnx
    assert "onnxruntime" in v_onnx["scorer_note"]
    v_pkl, a_pkl, s_pkl, log_pkl = answers["pickle"]
    assert v_pkl["scorer"] == "pickle" and "(pickle scorer)" in s_pkl
    v_none, a_none, s_none, _ = answers["no-ort"]
    assert v_none["scorer"] == "pickle" and "onnxruntime is not installed" in s_none
    assert "onnxruntime is not installed" in v_none["scorer_note"]
    # the very same JSON: labels, their types and order
    assert a_onnx == a_pkl == a_none
    assert json.dumps(a_onnx) == json.dumps(a_pkl)
    assert len(a_onnx["predictions"]) == 300
    assert set(a_onnx["predictions"]) <= {0, 1} and len(set(a_onnx["predictions"])) == 2
    # the prediction log: same probability keys in the same order, values within 1e-6
    lines_o = [json.loads(x) for x in log_onnx.read_text().splitlines()]
    lines_p = [json.loads(x) for x in log_pkl.read_text().splitlines()]
    assert len(lines_o) == len(lines_p) == 300
    for o, p in zip(lines_o, lines_p):
        assert o["prediction"] == p["prediction"] and o["inputs"] == p["inputs"]
        assert list(o["probabilities"]) == list(p["probabilities"])
        assert max(abs(o["probabilities"][k] - p["probabilities"][k])
                   for k in p["probabilities"]) <= 1e-6


def test_batch_predict_gives_the_same_file_with_onnx(world, tmp_path):
    b = world["bundle"]
    features = world["run"]["spec"]["features"]
    src = tmp_path / "in.csv"
    world["frame"][features].to_csv(src, index=False)
    outs = {}
    for mode in ("onnx", "pickle"):
        env = {**os.environ, "LABLIFT_SCORER": mode}
        out = tmp_path / f"{mode}.csv"
        done = subprocess.run([sys.executable, "-I", "-c", BOOT, "serve.py", "predict",
                               str(src), "-o", str(out)], cwd=b, capture_output=True,
                              text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        with open(out, newline="") as f:
            outs[mode] = list(csv.DictReader(f))
    assert [r["prediction"] for r in outs["onnx"]] == [r["prediction"] for r in outs["pickle"]]
    want = world["pipeline"].predict(world["frame"][features]).tolist()
    assert [int(r["prediction"]) for r in outs["onnx"]] == want
    cols = [c for c in outs["pickle"][0] if c.startswith("proba_")]
    assert cols == [c for c in outs["onnx"][0] if c.startswith("proba_")] == ["proba_0",
                                                                             "proba_1"]
    diff = max(abs(float(o[c]) - float(p[c])) for o, p in zip(outs["onnx"], outs["pickle"])
               for c in cols)
    assert diff <= 1e-6


@pytest.mark.parametrize("world", ["decision_tree"], indirect=True)  # one is enough
def test_a_changed_onnx_file_stops_the_scorer(world, tmp_path):
    import shutil
    for name in ("model.onnx", "onnx_scorer.py"):
        copy = tmp_path / name.replace(".", "_")
        shutil.copytree(world["bundle"], copy)
        flip_byte(copy / name, 10)
        done = subprocess.run([sys.executable, "-I", "-c", BOOT, "serve.py", "predict",
                               "-"], cwd=copy, input="", capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 1
        assert f"{name} was changed" in done.stderr


@pytest.mark.parametrize("world", ["logistic_regression"], indirect=True)  # one is enough
def test_lablift_scorer_onnx_refuses_a_bundle_without_it(world, tmp_path):
    env = {**os.environ, "LABLIFT_SCORER": "onnx"}
    done = subprocess.run([sys.executable, "-I", "-c", NO_ORT_BOOT, "serve.py", "predict", "-"],
                          cwd=world["bundle"], input="", capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 1
    assert "LABLIFT_SCORER=onnx, but the ONNX path cannot run: onnxruntime is not installed" \
        in done.stderr
