"""serve.py on a hand-built bundle: integrity, input validation, batch CLI and HTTP protocol.

The end-to-end tests on a real exported bundle are in test_bundles.py; these pin the scorer's
own behaviour on a small model with every column type (int, float with gaps, text, boolean)
and string class labels.
"""

from __future__ import annotations

import ast
import http.client
import io
import json
import pickle
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import bundle_helpers
import pytest
from bundle_helpers import flip_byte, request, run_serve, start_server, stop_server

from lablift.bundle_runtime import inputs, live, scoring, serve
from lablift.bundle_runtime.http_server import make_handler

RUNTIME = Path(serve.__file__)


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "income": np.round(rng.normal(50_000, 15_000, n), 1),
        "grade": rng.choice(["A", "B", "C"], n),
        "member": rng.choice([True, False], n),
    })
    df.loc[::7, "income"] = np.nan
    score = (df["age"] / 80 + df["income"].fillna(50_000) / 100_000
             + df["grade"].map({"A": 0.5, "B": 0.2, "C": 0.0}) + df["member"] * 0.3)
    y = pd.Series(np.where(score + rng.normal(0, 0.2, n) > 1.3, "yes", "no"), name="label")
    return df, y


def _pipeline(X, y):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    prep = ColumnTransformer([
        ("num", Pipeline([("imp", SimpleImputer(strategy="median")),
                          ("sc", StandardScaler())]), ["age", "income"]),
        ("cat", Pipeline([("imp", SimpleImputer(strategy="most_frequent")),
                          ("oh", OneHotEncoder(handle_unknown="ignore"))]), ["grade", "member"]),
    ])
    return Pipeline([("prep", prep), ("model", LogisticRegression())]).fit(X, y)


def make_bundle(folder: Path, model, schema: dict) -> Path:
    return bundle_helpers.make_bundle(folder, model, schema, name="toy", version=3)


SCHEMA = {"inputs": [
    {"name": "age", "dtype": "int64", "kind": "numeric", "nullable": False, "min": 18, "max": 79},
    {"name": "income", "dtype": "float64", "kind": "numeric", "nullable": True},
    {"name": "grade", "dtype": "string", "kind": "categorical", "nullable": False,
     "categories": ["A", "B", "C"]},
    {"name": "member", "dtype": "bool", "kind": "boolean", "nullable": False,
     "categories": [False, True]},
], "target": "label", "task": "classification", "classes": ["no", "yes"]}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    X, y = _frame(300, 0)
    model = _pipeline(X, y)
    bundle = make_bundle(tmp_path_factory.mktemp("toy") / "bundle", model, SCHEMA)
    X_new, _ = _frame(40, 1)
    return {"bundle": bundle, "model": model, "X": X_new}


@pytest.fixture
def scorer(toy):
    return scoring.Scorer(toy["bundle"])


def _copy(bundle: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(bundle, out)
    return out


def _records(X: pd.DataFrame) -> list[dict]:
    return json.loads(X.to_json(orient="records"))


# -- the runtime stays standalone ------------------------------------------------------------
@pytest.mark.parametrize("name", serve.RUNTIME_FILES + ("onnx_scorer.py",))
def test_runtime_imports_only_stdlib_and_its_siblings_never_lablift(name):
    tree = ast.parse((RUNTIME.parent / name).read_text())
    imported, relative = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:
            relative.add(node.module)  # from .scoring import ...: a sibling runtime file
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "lablift" not in imported
    assert relative <= {"serve", *serve.RUNTIME_MODULES}
    assert imported <= {"__future__", "argparse", "csv", "hashlib", "importlib", "json", "math",
                        "os", "sys", "threading", "time", "uuid", "datetime", "pathlib", "pickle",
                        "io", "http", "queue", "socket", "signal", "concurrent", "numpy",
                        "pandas", "sklearn", "onnxruntime"}


def test_serve_py_itself_imports_no_sibling_at_module_level():
    # the integrity check runs before any other file of the bundle is read
    tree = ast.parse(RUNTIME.read_text())
    assert not [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.level]
    assert {a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names} <= {
        "os", "sys", "argparse", "hashlib", "importlib"}


def test_serve_py_drops_its_folder_from_sys_path_before_other_imports():
    # Started without -I, the script's folder is sys.path[0]: it must be gone before any
    # import a file beside serve.py could shadow (the integrity check relies on hashlib, json).
    tree = ast.parse(RUNTIME.read_text())
    body = [n for n in tree.body if not (isinstance(n, ast.Expr)
                                        and isinstance(n.value, ast.Constant))]
    first_imports = [a.name for n in body[:2] for a in n.names]
    assert first_imports == ["os", "sys"]
    assert isinstance(body[2], ast.If) and "sys.path" in ast.unparse(body[2])
    assert "dont_write_bytecode" in ast.unparse(body[2])


# -- integrity ----------------------------------------------------------------------------------
def test_intact_bundle_has_no_problems_and_sums_are_sha256sum_format(toy):
    assert serve.check_sums(toy["bundle"]) == []
    lines = (toy["bundle"] / "SHA256SUMS").read_text().splitlines()
    assert sorted(line.split("  ", 1)[1] for line in lines) == sorted([
        "lablift.json", "model.pkl", "schema.json", *serve.RUNTIME_FILES])
    assert all(len(line.split("  ", 1)[0]) == 64 for line in lines)


@pytest.mark.parametrize("name", ["model.pkl", "schema.json", "lablift.json", "serve.py"])
def test_flipped_byte_is_named(toy, tmp_path, name):
    b = _copy(toy["bundle"], tmp_path)
    flip_byte(b / name)
    problems = serve.check_sums(b)
    assert [(p["file"], p["problem"]) for p in problems] == [(name, "changed")]


def test_missing_and_importable_extra_files_are_named(toy, tmp_path):
    b = _copy(toy["bundle"], tmp_path)
    (b / "schema.json").unlink()
    (b / "notes.txt").write_text("hi")  # not shipped, cannot run: not a problem
    (b / "json.py").write_text("")
    found = {(p["file"], p["problem"]) for p in serve.check_sums(b)}
    assert found == {("schema.json", "missing"), ("json.py", "importable")}
    report = serve.inspect_bundle(b)
    assert report["unlisted_other"] == ["notes.txt"] and report["missing"] == ["schema.json"]
    (b / "SHA256SUMS").unlink()
    with pytest.raises(serve.BundleError, match="SHA256SUMS is missing"):
        serve.check_sums(b)


def test_tampered_model_is_refused_before_unpickling(toy, tmp_path):
    # A malicious model.pkl that would leave a marker file if it were ever unpickled.
    b = _copy(toy["bundle"], tmp_path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (b / "model.pkl").write_bytes(pickle.dumps(Evil()))
    proc = run_serve(b, "predict", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"))
    assert proc.returncode == 1
    assert "model.pkl" in proc.stderr and "refusing" in proc.stderr
    assert not marker.exists()
    with pytest.raises(serve.BundleError, match="model.pkl"):
        scoring.Scorer(b)
    assert not marker.exists()


# -- input coercion ---------------------------------------------------------------------------
def test_json_and_csv_paths_score_like_the_pipeline(toy, scorer):
    X, model = toy["X"], toy["model"]
    expected = model.predict(X)
    cols = {c: X[c].tolist() for c in X.columns}
    frame, _, warnings = scorer.frame_from_columns(cols, len(X))
    pred, proba = scorer.score(frame, want_proba=True)
    assert warnings == [] and list(pred) == list(expected)
    np.testing.assert_allclose(proba, model.predict_proba(X))
    csv = scorer.read_csv(io.StringIO(X.to_csv(index=False)))
    frame2, _ = scorer.frame_from_dataframe(csv)
    pred2, proba2 = scorer.score(frame2, want_proba=True)
    assert list(pred2) == list(expected)
    np.testing.assert_allclose(proba2, proba)


def test_values_are_coerced_from_text_and_missing_values_become_nan(scorer, toy):
    frame, _, warnings = scorer.frame_from_columns(
        {"age": ["40", 41.0], "income": [None, "52000.5"], "grade": ["A", "B"],
         "member": ["yes", 0]}, 2)
    assert frame["age"].tolist() == [40, 41]
    assert np.isnan(frame["income"][0]) and frame["income"][1] == 52000.5
    assert frame["member"].tolist() == [True, False]
    assert warnings == []  # income is nullable
    same = pd.DataFrame({"age": [40, 41], "income": [np.nan, 52000.5], "grade": ["A", "B"],
                         "member": [True, False]})
    assert list(scorer.score(frame)[0]) == list(toy["model"].predict(same))


@pytest.mark.parametrize("column,value,what", [
    ("age", "forty", "a number"), ("income", [1], "a number"), ("member", "maybe", "true or false"),
    ("grade", {"x": 1}, "a text value"), ("age", float("inf"), "a finite number")])
def test_unparseable_value_names_the_column(scorer, column, value, what):
    cols = {"age": [30], "income": [1.0], "grade": ["A"], "member": [True]}
    cols[column] = [value]
    with pytest.raises(serve.InputError, match=f"column '{column}'.*{what}") as info:
        scorer.frame_from_columns(cols, 1)
    assert info.value.column == column


def test_csv_unparseable_and_missing_column(scorer):
    bad = "age,income,grade,member\n30,1.0,A,true\n31,lots,B,false\n"
    with pytest.raises(serve.InputError, match=r"column 'income': cannot read 'lots' \(row 1\)"):
        scorer.frame_from_dataframe(scorer.read_csv(io.StringIO(bad)))
    with pytest.raises(serve.InputError, match="missing column 'member'"):
        scorer.frame_from_dataframe(scorer.read_csv(io.StringIO("age,income,grade\n1,2,A\n")))


def test_missing_value_in_a_column_without_gaps_in_training_is_a_warning(scorer):
    _, _, warnings = scorer.frame_from_columns(
        {"age": [None], "income": [1.0], "grade": ["A"], "member": [True]}, 1)
    assert any("column 'age'" in w and "missing" in w for w in warnings)


@pytest.mark.parametrize("body,expect", [
    ({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}},
     {"a": [1, 3], "b": [2, 4]}),
    ({"dataframe_records": [{"a": 1}, {"a": 2, "b": 5}]}, {"a": [1, 2], "b": [None, 5]}),
    ({"instances": [{"a": 1, "b": 2}]}, {"a": [1], "b": [2]}),
    ({"inputs": {"a": [1, 2], "b": [3, 4]}}, {"a": [1, 2], "b": [3, 4]}),
    ({"inputs": {"a": 1, "b": 2}}, {"a": [1], "b": [2]}),
    ({"instances": [[1, 2]]}, {"a": [1], "b": [2]}),
])
def test_mlflow_json_formats(body, expect):
    cols, n = inputs.parse_json_body(json.dumps(body).encode(), ["a", "b"])
    assert cols == expect and n == len(expect["a"])


@pytest.mark.parametrize("raw,match", [
    (b"{not json", "not valid JSON"), (b"[1, 2]", "must be an object"),
    (b'{"data": []}', "exactly one of"), (b'{"dataframe_split": {"columns": ["a"]}}', "'data'"),
    (b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}', "row 0 has 1 values"),
    (b'{"inputs": {"a": [1, 2], "b": [1]}}', "column 'b' has 1 values"),
])
def test_malformed_json_bodies_are_refused(raw, match):
    with pytest.raises(serve.InputError, match=match):
        inputs.parse_json_body(raw, ["a", "b"])


def test_regression_bundle_has_no_probabilities(tmp_path):
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X = pd.DataFrame({"x": np.arange(20.0), "z": np.arange(20.0) ** 0.5})
    model = make_pipeline(StandardScaler(), Ridge()).fit(X, 3 * X["x"] - X["z"])
    schema = {"inputs": [{"name": "x", "dtype": "float64", "kind": "numeric", "nullable": False},
                         {"name": "z", "dtype": "float64", "kind": "numeric", "nullable": False}],
              "target": "y", "task": "regression", "classes": None}
    s = scoring.Scorer(make_bundle(tmp_path / "reg", model, schema))
    frame, _, _ = s.frame_from_columns({"x": [1.0, 2.0], "z": [1.0, 1.5]}, 2)
    pred, proba = s.score(frame, want_proba=True)
    assert proba is None and s.proba_columns() == []
    np.testing.assert_allclose(pred, model.predict(frame))


# -- batch CLI (isolated interpreter, Lablift blocked) ----------------------------------------
def test_predict_cli_writes_predictions_and_probabilities(toy, tmp_path):
    X, model = toy["X"], toy["model"]
    src = X.assign(customer=range(len(X)))  # an extra column: ignored with a warning
    src.to_csv(tmp_path / "in.csv", index=False)
    proc = run_serve(toy["bundle"], "predict", str(tmp_path / "in.csv"), "-o",
                     str(tmp_path / "out.csv"))
    assert proc.returncode == 0, proc.stderr
    assert "warning" in proc.stderr and "'customer'" in proc.stderr
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["prediction", "proba_no", "proba_yes"]
    assert out["prediction"].tolist() == model.predict(X).tolist()
    np.testing.assert_allclose(out[["proba_no", "proba_yes"]], model.predict_proba(X))


def test_predict_cli_errors_name_the_column_and_refuse_writing_into_the_bundle(toy, tmp_path):
    toy["X"].drop(columns=["grade"]).to_csv(tmp_path / "a.csv", index=False)
    proc = run_serve(toy["bundle"], "predict", str(tmp_path / "a.csv"), "-o",
                     str(tmp_path / "o.csv"))
    assert proc.returncode == 1 and "missing column 'grade'" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "o.csv").exists()
    toy["X"].assign(age="old").to_csv(tmp_path / "b.csv", index=False)
    proc = run_serve(toy["bundle"], "predict", str(tmp_path / "b.csv"), "-o",
                     str(tmp_path / "o.csv"))
    assert proc.returncode == 1 and "column 'age'" in proc.stderr
    toy["X"].to_csv(tmp_path / "c.csv", index=False)
    for name, needle in (("model.pkl", "would overwrite model.pkl"),
                         ("SHA256SUMS", "would overwrite SHA256SUMS"),
                         ("out.py", "Python could import"), ("x.pth", "Python could import")):
        proc = run_serve(toy["bundle"], "predict", str(tmp_path / "c.csv"), "-o", name)
        assert proc.returncode == 1 and needle in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert serve.check_sums(toy["bundle"]) == []


# -- HTTP ------------------------------------------------------------------------------------
@pytest.fixture
def http_server(toy, tmp_path):
    scorer = scoring.Scorer(toy["bundle"])
    log = live.PredictionLog(tmp_path / "log.jsonl", scorer.label())
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(scorer, log))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], tmp_path / "log.jsonl"
    server.shutdown()
    server.server_close()
    log.close()


def test_http_bad_requests_get_400_and_the_next_request_succeeds(toy, http_server):
    port, _ = http_server
    X, model = toy["X"], toy["model"]
    good = {"dataframe_records": _records(X.head(3))}
    expected = model.predict(X.head(3)).tolist()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # one keep-alive conn
    bad = [
        ({"dataframe_records": [{"age": 1, "income": 2, "grade": "A"}]}, "application/json",
         "'member'"),
        ({"dataframe_records": [{"age": "x", "income": 2, "grade": "A", "member": True}]},
         "application/json", "'age'"),
        ("{oops", "application/json", "not valid JSON"),
        ("age,income\n1,2\n", "text/csv", "'grade'"),
        ({"dataframe_split": {"columns": ["age"], "data": [[1, 2]]}}, "application/json",
         "row 0"),
    ]
    for body, ctype, needle in bad:
        status, headers, doc = request(conn, "POST", "/invocations", body, ctype)
        assert status == 400, doc
        assert doc["error_code"] == "BAD_REQUEST" and needle in doc["message"]
        status, _, doc = request(conn, "POST", "/invocations", good)
        assert status == 200 and doc == {"predictions": expected}
    conn.close()


def test_http_formats_agree_and_extra_columns_are_warned(toy, http_server):
    port, _ = http_server
    X, model = toy["X"].head(5), toy["model"]
    expected = model.predict(X).tolist()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    split = json.loads(X.to_json(orient="split", index=False))
    bodies = [({"dataframe_split": split}, "application/json"),
              ({"dataframe_records": _records(X)}, "application/json"),
              ({"instances": _records(X)}, "application/json"),
              ({"inputs": {c: X[c].tolist() for c in X}}, "application/json"),
              (X.to_csv(index=False), "text/csv")]
    for body, ctype in bodies:
        status, headers, doc = request(conn, "POST", "/invocations", body, ctype)
        assert status == 200 and doc["predictions"] == expected
        assert "X-Lablift-Warning" not in headers and "warnings" not in doc
    extra = {"dataframe_records": _records(X.assign(note="x"))}
    status, headers, doc = request(conn, "POST", "/invocations", extra)
    assert status == 200 and doc["predictions"] == expected
    assert "'note'" in headers["X-Lablift-Warning"] and "'note'" in doc["warnings"][0]
    for path in ("/ping", "/health"):
        assert request(conn, "GET", path)[0] == 200
    status, _, info = request(conn, "GET", "/version")
    assert status == 200 and info["model"] == "toy" and info["version"] == 3
    assert info["classes"] == ["no", "yes"]
    assert request(conn, "GET", "/nope")[0] == 404
    assert request(conn, "POST", "/invocations", "x", "application/xml")[0] == 415
    conn.close()


def test_http_concurrent_requests_and_prediction_log(toy, http_server):
    port, log_path = http_server
    X, model = toy["X"], toy["model"]
    expected = model.predict(X).tolist()
    proba = model.predict_proba(X)

    def one(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        rid_rows = _records(X.iloc[[i]])
        status, headers, doc = request(conn, "POST", "/invocations",
                                       {"dataframe_records": rid_rows})
        conn.close()
        return i, status, doc["predictions"][0], headers["X-Request-Id"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(len(X))))
    assert all(status == 200 for _, status, _, _ in results)
    assert [p for _, _, p, _ in results] == expected
    deadline = time.monotonic() + 10  # each line is written just after its answer
    while time.monotonic() < deadline and len(log_path.read_text().splitlines()) < len(X):
        time.sleep(0.02)
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert len(lines) == len(X)  # one whole line per row, none interleaved
    by_request = {entry["request_id"]: entry for entry in lines}
    for i, _, pred, rid in results:
        entry = by_request[rid]
        assert entry["prediction"] == pred
        assert entry["inputs"]["grade"] == X["grade"].iloc[i]
        assert entry["inputs"]["age"] == int(X["age"].iloc[i])
        assert entry["latency_ms"] > 0 and entry["model"] == "toy:3"
        assert entry["probabilities"]["yes"] == pytest.approx(proba[i, 1])
        assert {"timestamp", "request_id", "inputs", "prediction", "latency_ms"} <= set(entry)


def test_served_subprocess_refuses_tampered_bundle(toy, tmp_path):
    b = _copy(toy["bundle"], tmp_path)
    flip_byte(b / "schema.json")
    proc = run_serve(b, "serve", "--port", "0")
    assert proc.returncode == 1 and "schema.json" in proc.stderr
    proc, port = start_server(toy["bundle"])
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        status, _, doc = request(conn, "POST", "/invocations",
                                 {"dataframe_records": _records(toy["X"].head(2))})
        assert status == 200
        assert doc["predictions"] == toy["model"].predict(toy["X"].head(2)).tolist()
        conn.close()
    finally:
        stop_server(proc)


def test_inputs_the_pipeline_drops_may_be_left_out(toy, tmp_path):
    # Lablift keeps e.g. a datetime feature in the frame the pipeline was fitted on, but the
    # ColumnTransformer drops it: a request may omit it, and may still send it.
    X, y = _frame(200, 2)
    X["signup"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(len(X)), unit="D")
    model = _pipeline(X, y)
    schema = {**SCHEMA, "inputs": SCHEMA["inputs"] + [
        {"name": "signup", "dtype": "datetime64[ns]", "kind": "datetime", "nullable": True,
         "used": False}]}
    s = scoring.Scorer(make_bundle(tmp_path / "dt", model, schema))
    rows = X.head(4)
    expected = model.predict(rows).tolist()
    cols = {c: rows[c].tolist() for c in SCHEMA_NAMES}
    frame, _, warnings = s.frame_from_columns(cols, 4)
    assert list(s.score(frame)[0]) == expected and warnings == []
    cols["signup"] = rows["signup"].astype(str).tolist()
    assert list(s.score(s.frame_from_columns(cols, 4)[0])[0]) == expected
    csv = s.read_csv(io.StringIO(rows[SCHEMA_NAMES].to_csv(index=False)))
    assert list(s.score(s.frame_from_dataframe(csv)[0])[0]) == expected
    with pytest.raises(serve.InputError, match="missing column 'age'") as info:
        s.frame_from_columns({c: cols[c] for c in cols if c != "age"}, 4)
    assert "signup" not in str(info.value)


SCHEMA_NAMES = [c["name"] for c in SCHEMA["inputs"]]


@pytest.mark.parametrize("estimator", ["RandomForestClassifier", "ExtraTreesClassifier",
                                       "DecisionTreeClassifier", "LogisticRegression",
                                       "HistGradientBoostingClassifier"])
def test_prediction_from_probabilities_equals_predict(tmp_path, estimator):
    # serve.py derives the label from predict_proba for these estimators (one call, not two)
    import sklearn.ensemble
    import sklearn.linear_model
    import sklearn.tree
    assert estimator in scoring._PROBA_ARGMAX
    cls = next(getattr(m, estimator) for m in (sklearn.ensemble, sklearn.linear_model,
                                               sklearn.tree) if hasattr(m, estimator))
    X, y = _frame(300, 3)
    y = y.where(X["grade"] != "C", "maybe")  # three classes
    model = _pipeline(X, y)
    model.steps[-1] = ("model", cls())
    model.fit(X, y)
    s = scoring.Scorer(make_bundle(tmp_path / "m", model, {**SCHEMA,
                                                        "classes": ["maybe", "no", "yes"]}))
    X_new, _ = _frame(500, 4)
    frame, _, _ = s.frame_from_columns({c: X_new[c].tolist() for c in X_new}, len(X_new))
    pred, proba = s.score(frame, want_proba=True)
    assert list(pred) == list(model.predict(X_new))
    assert list(s.score(frame)[0]) == list(pred)


def test_http_rejected_requests_are_logged_as_error_lines(toy, http_server, monkeypatch):
    port, log_path = http_server
    X, model = toy["X"], toy["model"]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    status, headers, doc = request(conn, "POST", "/invocations",
                                   {"dataframe_records": [{"age": "x", "income": 2,
                                                           "grade": "A", "member": True}]})
    assert status == 400
    bad_id = headers["X-Request-Id"]
    assert request(conn, "POST", "/invocations", "{oops")[0] == 400
    # a scoring failure that is not the input's fault: 500, logged, and the server goes on
    fail = {"on": True}
    real_score = scoring.Scorer.score

    def flaky(self, frame, want_proba=False):
        if fail["on"]:
            raise RuntimeError("disk on fire")
        return real_score(self, frame, want_proba)

    monkeypatch.setattr(scoring.Scorer, "score", flaky)
    status, _, doc = request(conn, "POST", "/invocations", {"dataframe_records":
                                                            _records(X.head(1))})
    assert status == 500 and doc["error_code"] == "INTERNAL_ERROR"
    fail["on"] = False
    status, headers, doc = request(conn, "POST", "/invocations",
                                   {"dataframe_records": _records(X.head(2))})
    assert status == 200 and doc["predictions"] == model.predict(X.head(2)).tolist()
    good_id = headers["X-Request-Id"]
    conn.close()
    deadline = time.monotonic() + 10  # the last lines are written just after the answer
    while time.monotonic() < deadline and len(log_path.read_text().splitlines()) < 5:
        time.sleep(0.02)
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    errors = [x for x in lines if "error" in x]
    assert [x["error"]["status"] for x in errors] == [400, 400, 500]
    assert errors[0]["request_id"] == bad_id and "'age'" in errors[0]["error"]["message"]
    assert "not valid JSON" in errors[1]["error"]["message"]
    assert "disk on fire" in errors[2]["error"]["message"]
    for x in errors:
        assert set(x) == {"timestamp", "request_id", "model", "error", "latency_ms"}
        assert x["model"] == "toy:3" and x["latency_ms"] >= 0
    rows = [x for x in lines if "error" not in x]
    assert [x["row"] for x in rows] == [0, 1] and {x["request_id"] for x in rows} == {good_id}
    assert rows[1]["inputs"]["grade"] == X["grade"].iloc[1] and "prediction" in rows[1]
