"""serve.py's Open Inference Protocol (KServe V2), over real HTTP, beside MLflow's protocol.

The request literals marked "KServe docs" are the protocol's own examples, as written on
https://kserve.github.io/website/ (the V2 protocol page: inference, model metadata and server
ready examples; the scikit-learn V2 page: the iris request). A real V2 client (tritonclient)
is used when it is installed.
"""

from __future__ import annotations

import http.client
import json

import numpy as np
import pandas as pd
import pytest
from bundle_helpers import make_bundle, request, start_server, stop_server
from test_serve import SCHEMA, _frame, _pipeline

# KServe docs, V2 protocol page, "Inference Example" request (sent to /v2/models/mymodel/infer).
KSERVE_INFER_EXAMPLE = """
{
  "id": "42",
  "inputs": [
    {
      "name": "input0",
      "shape": [2, 2],
      "datatype": "UINT32",
      "data": [1, 2, 3, 4]
    },
    {
      "name": "input1",
      "shape": [3],
      "datatype": "BOOL",
      "data": [true, false, true]
    }
  ],
  "outputs": [
    {
      "name": "output0"
    }
  ]
}
"""
# KServe docs, scikit-learn V2 page: iris-input-v2.json, sent to /v2/models/sklearn-v2-iris/infer.
KSERVE_IRIS_EXAMPLE = """
{
  "inputs": [
    {
      "name": "input-0",
      "shape": [2, 4],
      "datatype": "FP32",
      "data": [
        [6.8, 2.8, 4.8, 1.4],
        [6.0, 3.4, 4.5, 1.6]
      ]
    }
  ]
}
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    X, y = _frame(300, 0)
    model = _pipeline(X, y)
    bundle = make_bundle(tmp_path_factory.mktemp("v2") / "bundle", model, SCHEMA, name="toy")
    proc, port = start_server(bundle)
    X_new, _ = _frame(12, 1)
    yield {"model": model, "X": X_new, "port": port, "bundle": bundle}
    err = stop_server(proc)
    assert "Traceback" not in err


@pytest.fixture
def conn(toy):
    c = http.client.HTTPConnection("127.0.0.1", toy["port"], timeout=30)
    yield c
    c.close()


def _tensors(X: pd.DataFrame) -> list[dict]:
    types = {"age": "INT64", "income": "FP64", "grade": "BYTES", "member": "BOOL"}
    out = []
    for c in X.columns:
        values = [None if isinstance(v, float) and v != v else v for v in X[c].tolist()]
        out.append({"name": c, "shape": [len(X)], "datatype": types[c], "data": values})
    return out


def test_health_server_metadata_and_the_docs_server_ready_example(conn):
    # KServe docs "Server Ready Example": GET /v2/health/ready -> 200 {"ready": true}
    assert request(conn, "GET", "/v2/health/ready")[::2] == (200, {"ready": True})
    assert request(conn, "GET", "/v2/health/live")[::2] == (200, {"live": True})
    status, _, doc = request(conn, "GET", "/v2")
    assert status == 200 and doc == {"name": "lablift-serve", "version": "1", "extensions": []}
    assert request(conn, "GET", "/v2/models/toy/ready")[::2] == (200, {"name": "toy",
                                                                       "ready": True})
    status, _, info = request(conn, "GET", "/version")  # the MLflow side says which scorer runs
    assert status == 200 and info["scorer"] == "pickle"


def test_model_metadata_has_a_datatype_per_schema_column(conn):
    # KServe docs "Model Metadata Example" asks for mymodel: not served here, named in the error
    status, _, doc = request(conn, "GET", "/v2/models/mymodel")
    assert status == 404 and list(doc) == ["error"] and "'mymodel'" in doc["error"]
    assert "'toy'" in doc["error"]
    status, _, meta = request(conn, "GET", "/v2/models/toy")
    assert status == 200
    assert meta == {
        "name": "toy", "versions": ["1"], "platform": "sklearn_pickle",
        "inputs": [{"name": "age", "datatype": "INT64", "shape": [-1]},
                   {"name": "income", "datatype": "FP64", "shape": [-1]},
                   {"name": "grade", "datatype": "BYTES", "shape": [-1]},
                   {"name": "member", "datatype": "BOOL", "shape": [-1]}],
        "outputs": [{"name": "predict", "datatype": "BYTES", "shape": [-1]},
                    {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]}]}
    assert request(conn, "GET", "/v2/models/toy/versions/1")[2] == meta
    status, _, doc = request(conn, "GET", "/v2/models/toy/versions/7")
    assert status == 404 and "version '7'" in doc["error"]


def test_infer_with_a_typed_tensor_per_column_scores_like_the_pipeline(toy, conn):
    X, model = toy["X"], toy["model"]
    body = {"id": "req-7", "parameters": {"note": "ignored"}, "inputs": _tensors(X)}
    status, headers, doc = request(conn, "POST", "/v2/models/toy/infer", body)
    assert status == 200, doc
    assert doc["model_name"] == "toy" and doc["model_version"] == "1" and doc["id"] == "req-7"
    assert headers["X-Request-Id"] == "req-7"
    out = {o["name"]: o for o in doc["outputs"]}
    assert list(out) == ["predict", "predict_proba"]
    assert out["predict"] == {"name": "predict", "shape": [12], "datatype": "BYTES",
                              "data": model.predict(X).tolist()}
    assert out["predict_proba"]["shape"] == [12, 2]
    assert out["predict_proba"]["datatype"] == "FP64"
    np.testing.assert_allclose(np.array(out["predict_proba"]["data"]).reshape(12, 2),
                               model.predict_proba(X), rtol=1e-12)
    # [N, 1] tensors, nested data, only the outputs asked for, and the versioned path
    nested = [{**t, "shape": [12, 1], "data": [[v] for v in t["data"]]} for t in _tensors(X)]
    status, _, doc = request(conn, "POST", "/v2/models/toy/versions/1/infer",
                             {"inputs": nested, "outputs": [{"name": "predict"}]})
    assert status == 200 and [o["name"] for o in doc["outputs"]] == ["predict"]
    assert doc["outputs"][0]["data"] == model.predict(X).tolist()
    assert len(doc["id"]) == 32  # no id given: the request id is generated and returned


def test_kserve_inference_example_is_answered_by_the_protocol(tmp_path):
    """The docs' example on a bundle named mymodel whose columns are input0 (UINT32 fits an
    integer column) and input1 (BOOL): every refusal is {"error"} naming the tensor."""
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"input0": rng.integers(0, 10, 80), "input1": rng.choice([True, False], 80)})
    y = np.where(X["input0"] + 3 * X["input1"] > 6, "hi", "lo")
    model = LogisticRegression().fit(X, y)
    schema = {"inputs": [{"name": "input0", "dtype": "int64", "kind": "numeric"},
                         {"name": "input1", "dtype": "bool", "kind": "boolean"}],
              "target": "t", "task": "classification", "classes": ["hi", "lo"]}
    proc, port = start_server(make_bundle(tmp_path / "b", model, schema, name="mymodel"))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        example = json.loads(KSERVE_INFER_EXAMPLE)
        status, _, doc = request(c, "POST", "/v2/models/mymodel/infer", KSERVE_INFER_EXAMPLE)
        assert status == 400 and doc == {"error": "tensor 'input0': shape [2, 2] is not [N] "
                                                  "or [N, 1] (one tensor per column)"}
        example["inputs"][0]["shape"] = [4]  # as a column: 4 rows, but input1 has 3
        status, _, doc = request(c, "POST", "/v2/models/mymodel/infer", example)
        assert status == 400 and doc == {"error": "tensor 'input1' has 3 rows but tensor "
                                                  "'input0' has 4"}
        example["inputs"][1].update(shape=[4], data=[True, False, True, False])
        status, _, doc = request(c, "POST", "/v2/models/mymodel/infer", example)
        assert status == 400 and "output \"output0\" is not produced by this model" in \
            doc["error"]
        del example["outputs"]
        status, _, doc = request(c, "POST", "/v2/models/mymodel/infer", example)
        assert status == 200 and doc["id"] == "42" and doc["model_name"] == "mymodel"
        expected = model.predict(pd.DataFrame({"input0": [1, 2, 3, 4],
                                               "input1": [True, False, True, False]}))
        assert doc["outputs"][0]["data"] == expected.tolist()
    finally:
        c.close()
        stop_server(proc)


def test_kserve_sklearn_iris_example_one_tensor_of_all_columns(tmp_path):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    iris = load_iris(as_frame=True)
    model = LogisticRegression(max_iter=500).fit(iris.data, iris.target)
    schema = {"inputs": [{"name": c, "dtype": "float64", "kind": "numeric"}
                         for c in iris.data.columns],
              "target": "target", "task": "classification", "classes": [0, 1, 2]}
    proc, port = start_server(make_bundle(tmp_path / "iris", model, schema,
                                          name="sklearn-v2-iris"))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        status, _, doc = request(c, "POST", "/v2/models/sklearn-v2-iris/infer",
                                 KSERVE_IRIS_EXAMPLE)
        assert status == 200, doc
        rows = pd.DataFrame([[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]],
                            columns=iris.data.columns)
        predict = doc["outputs"][0]
        assert predict == {"name": "predict", "shape": [2], "datatype": "INT64",
                           "data": model.predict(rows).tolist()}
        assert predict["data"] == [1, 1]  # the docs' answer for these rows too (versicolor)
        # the docs' curl -d sends application/x-www-form-urlencoded: V2 reads JSON anyway
        c.request("POST", "/v2/models/sklearn-v2-iris/infer", body=KSERVE_IRIS_EXAMPLE,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        resp = c.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["outputs"][0] == predict
    finally:
        c.close()
        stop_server(proc)


def _one(X):
    return {"inputs": _tensors(X.head(2))}


@pytest.mark.parametrize("change,status,message", [
    (lambda b: b["inputs"][2].update(datatype="FP32"), 400,
     "tensor 'grade': datatype FP32 does not fit column 'grade' (string in schema.json): "
     "send BYTES"),
    (lambda b: b["inputs"][0].update(datatype="BYTES", data=["40", "41"]), 400,
     "tensor 'age': datatype BYTES does not fit column 'age' (integer in schema.json): "
     "send INT64"),
    (lambda b: b["inputs"][3].update(data=[True, "yes"]), 400,
     "tensor 'member': element 1 (\"yes\") is not true or false (datatype BOOL, column "
     "'member')"),
    (lambda b: b["inputs"][0].update(datatype="UINT8", data=[40, 300]), 400,
     "tensor 'age': element 1 (300) is not an integer in [0, 255] (datatype UINT8, column "
     "'age')"),
    (lambda b: b["inputs"][0].update(data=[40, 2.5]), 400,
     "tensor 'age': element 1 (2.5) is not an integer in"),
    (lambda b: b["inputs"][1].update(data=[1.0, True]), 400,
     "tensor 'income': element 1 (true) is not a number (datatype FP64, column 'income')"),
    (lambda b: b["inputs"][1].update(datatype="FLOAT"), 400,
     "tensor 'income': unknown datatype \"FLOAT\" (the protocol's are BOOL, INT8"),
    (lambda b: b["inputs"][1].update(shape=[3]), 400,
     "tensor 'income': shape [3] holds 3 elements but data has 2"),
    (lambda b: b["inputs"][1].update(shape="2"), 400,
     "tensor 'income': shape must be a list of non-negative integers"),
    (lambda b: b["inputs"].pop(2), 400, "missing column 'grade'"),
    (lambda b: b["inputs"].append(dict(b["inputs"][0])), 400, "tensor 'age' appears more "
                                                              "than once"),
    (lambda b: b["inputs"][3].pop("datatype"), 400, "tensor 'member': 'datatype' is missing"),
    (lambda b: b.update(id=42), 400, "'id' must be a string"),
    (lambda b: b.pop("inputs"), 400, "'inputs' must be a non-empty list of tensors"),
])
def test_refusals_are_protocol_errors_naming_the_tensor_and_column(toy, conn, change, status,
                                                                    message):
    body = _one(toy["X"])
    change(body)
    got, _, doc = request(conn, "POST", "/v2/models/toy/infer", body)
    assert got == status and list(doc) == ["error"] and doc["error"].startswith(message), doc
    # the connection and the server go on serving
    assert request(conn, "POST", "/v2/models/toy/infer", _one(toy["X"]))[0] == 200


def test_other_refusals_and_the_mlflow_protocol_beside_it(toy, conn):
    status, _, doc = request(conn, "POST", "/v2/models/toy/infer", "{not json")
    assert status == 400 and doc["error"].startswith("the request body is not valid JSON")
    status, _, doc = request(conn, "POST", "/v2/models/toy/infer",
                             {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64",
                                          "data": [1, 2, 3]}]})
    assert status == 400 and "tensor 'x' is not an input of the model" in doc["error"]
    assert "[N, 4]" in doc["error"]
    status, _, doc = request(conn, "GET", "/v2/models/toy/infer")
    assert status == 405 and list(doc) == ["error"]
    status, _, doc = request(conn, "POST", "/v2/models/other/infer", _one(toy["X"]))
    assert status == 404 and "'other'" in doc["error"]
    status, _, doc = request(conn, "GET", "/v2/nothing")
    assert status == 404 and list(doc) == ["error"]
    body = _one(toy["X"])
    body["inputs"].append({"name": "customer", "shape": [2], "datatype": "INT64", "data": [1, 2]})
    status, headers, doc = request(conn, "POST", "/v2/models/toy/infer", body)
    assert status == 200 and "'customer'" in doc["parameters"]["warnings"]
    assert "'customer'" in headers["X-Lablift-Warning"]
    # MLflow's refusals keep their own shape on the same server
    status, _, doc = request(conn, "POST", "/invocations", {"dataframe_records": [{"age": 1}]})
    assert status == 400 and set(doc) == {"error_code", "message"}
    rows = json.loads(toy["X"].head(3).to_json(orient="records"))
    status, _, doc = request(conn, "POST", "/invocations", {"dataframe_records": rows})
    assert status == 200 and doc["predictions"] == toy["model"].predict(toy["X"].head(3)).tolist()


def test_a_real_v2_client(toy):
    httpclient = pytest.importorskip("tritonclient.http")
    from tritonclient.utils import InferenceServerException
    X, model = toy["X"], toy["model"]
    client = httpclient.InferenceServerClient(f"127.0.0.1:{toy['port']}")
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("toy")
        meta = client.get_model_metadata("toy")
        assert [i["datatype"] for i in meta["inputs"]] == ["INT64", "FP64", "BYTES", "BOOL"]
        X = X.assign(income=X["income"].fillna(50_000.0))  # numpy tensors carry no null
        arrays = {"age": X["age"].to_numpy(np.int64), "income": X["income"].to_numpy(np.float64),
                  "grade": X["grade"].to_numpy(object), "member": X["member"].to_numpy(bool)}
        inputs = []
        for name, datatype in zip(arrays, ["INT64", "FP64", "BYTES", "BOOL"]):
            t = httpclient.InferInput(name, [len(X)], datatype)
            t.set_data_from_numpy(arrays[name], binary_data=False)
            inputs.append(t)
        outputs = [httpclient.InferRequestedOutput("predict", binary_data=False),
                   httpclient.InferRequestedOutput("predict_proba", binary_data=False)]
        result = client.infer("toy", inputs, outputs=outputs, request_id="triton-1")
        assert result.get_response()["id"] == "triton-1"
        assert [v if isinstance(v, str) else v.decode() for v in result.as_numpy("predict")] \
            == model.predict(X).tolist()
        np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(X),
                                   rtol=1e-12)
        bad = httpclient.InferInput("grade", [len(X)], "FP32")
        bad.set_data_from_numpy(np.zeros(len(X), np.float32), binary_data=False)
        with pytest.raises(InferenceServerException, match="tensor 'grade': datatype FP32"):
            client.infer("toy", [inputs[0], inputs[1], bad, inputs[3]], outputs=outputs)
    finally:
        client.close()
