"""Bundle export/verify on a real approved version, and its serve.py run without Lablift."""

from __future__ import annotations

import hashlib
import http.client
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bundle_helpers import (build_world, flip_byte, request, run_serve, start_server,
                            stop_server)

from lablift.bundle_runtime import serve
from lablift.cli import main
from lablift.core import audit, bundles, datasets, inputs
from lablift.core.errors import LabliftError, PermissionDenied
from lablift.core.store import Store

CONTRACT_FILES = {"MLmodel", "model.pkl", "requirements.txt", "python_env.yaml",
                  "input_example.json", "schema.json", "lablift.json", "MODEL_CARD.md",
                  "SHA256SUMS", "Dockerfile", ".dockerignore", "README.md",
                  *serve.RUNTIME_FILES}
# the ONNX fast path's files come with them when the conversion is exact (test_onnx_export)
ONNX_FILES = {"model.onnx", "onnx_scorer.py", "requirements-onnx.txt"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A store with an approved (loans:1) and a pending (loans:2) version, and one export."""
    return build_world(tmp_path_factory.mktemp("bundles"))


def _copy(world, tmp_path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(world["bundle"], out)
    return out


def test_export_writes_the_contract_files_and_records_lineage(world):
    import yaml
    b, store, run = world["bundle"], world["store"], world["run"]
    assert {p.name for p in b.iterdir()} - ONNX_FILES == CONTRACT_FILES
    assert serve.check_sums(b) == []
    # model.pkl is the run's own plain-pickle artifact, byte for byte
    assert hashlib.sha256((b / "model.pkl").read_bytes()).hexdigest() == \
        run["artifacts"]["pipeline"]
    assert type(pickle.loads((b / "model.pkl").read_bytes())).__name__ == "Pipeline"
    mlmodel = yaml.safe_load((b / "MLmodel").read_text())
    pyfunc, skl = mlmodel["flavors"]["python_function"], mlmodel["flavors"]["sklearn"]
    assert pyfunc["loader_module"] == "mlflow.sklearn" and pyfunc["model_path"] == "model.pkl"
    assert pyfunc["python_version"] == run["environment"]["python"]
    assert skl == {"code": None, "pickled_model": "model.pkl", "serialization_format": "pickle",
                   "sklearn_version": run["environment"]["packages"]["scikit-learn"]}
    sig = json.loads(mlmodel["signature"]["inputs"])
    schema = json.loads((b / "schema.json").read_text())
    assert schema == json.loads(json.dumps(inputs.input_schema(store, run)))
    assert [c["name"] for c in sig] == [c["name"] for c in schema["inputs"]]
    types = {c["name"]: c["type"] for c in sig}
    assert types["age"] == "long" and types["income"] == "double"
    assert types["purpose"] == "string" and types["has_cosigner"] == "boolean"
    assert len(mlmodel["model_uuid"]) == 32 and mlmodel["utc_time_created"]
    reqs = (b / "requirements.txt").read_text().split()
    assert f"scikit-learn=={run['environment']['packages']['scikit-learn']}" in reqs
    assert f"pandas=={run['environment']['packages']['pandas']}" in reqs
    assert "-r requirements.txt" in (b / "python_env.yaml").read_text()
    example = json.loads((b / "input_example.json").read_text())
    assert example["columns"] == [c["name"] for c in schema["inputs"]]
    assert len(example["data"]) == 5
    m = json.loads((b / "lablift.json").read_text())
    ds = datasets.resolve(store, "loans")
    assert m["dataset"]["sha256"] == ds["sha256"] and m["run"]["id"] == run["id"]
    assert m["model"]["ref"] == "loans:1" and m["exported_by"] == "oscar"
    assert [(a["user"], a["decision"], a["comment"]) for a in m["approvals"]] == [
        ("rita", "approved", "fine by me")]
    assert m["metrics"] == run["metrics"] and m["spec"] == run["spec"]
    head = store.query_one("SELECT hash FROM audit_log WHERE seq = ?", (m["audit_head"]["seq"],))
    assert head["hash"] == m["audit_head"]["hash"]
    assert "loans:1" in (b / "MODEL_CARD.md").read_text()
    for name in serve.RUNTIME_FILES:  # serve.py and the modules it runs once verified
        assert (b / name).read_bytes() == (Path(serve.__file__).parent / name).read_bytes()
    assert set(serve.RUNTIME_FILES) <= set(serve.read_sums(b))
    rows = store.query("SELECT * FROM bundles")
    assert len(rows) == 1 and rows[0]["path"] == str(b) and rows[0]["created_by"] == "oscar"
    assert rows[0]["manifest_sha256"] == hashlib.sha256((b / "lablift.json").read_bytes()
                                                        ).hexdigest()
    entry = store.query_one("SELECT * FROM audit_log WHERE action = 'bundle.export'")
    assert entry["user"] == "oscar" and entry["entity"] == "model_version:loans:1"
    assert audit.verify(store).ok


def test_export_refusals_leave_store_and_disk_unchanged(world, tmp_path):
    before = world["store"].query("SELECT COUNT(*) AS n FROM bundles")[0]["n"]
    with pytest.raises(LabliftError, match="loans:2 is pending"):
        bundles.export(world["oscar"], "loans:2", tmp_path / "b2")
    with pytest.raises(PermissionDenied, match="ops or admin"):
        bundles.export(world["ana"], "loans:1", tmp_path / "b3")
    existing = tmp_path / "taken"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    with pytest.raises(LabliftError, match="already exists"):
        bundles.export(world["oscar"], "loans:1", existing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LabliftError, match="already exists"):
        bundles.export(world["oscar"], "loans:1", empty)
    with pytest.raises(LabliftError, match="parent folder .* does not exist"):
        bundles.export(world["oscar"], "loans:1", tmp_path / "no" / "such" / "dir")
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "taken"]  # no temp left
    assert world["store"].query("SELECT COUNT(*) AS n FROM bundles")[0]["n"] == before


def test_cli_export_json_and_verify(world, tmp_path, capsys):
    store_dir = str(world["root"] / "store")
    out = tmp_path / "cli_bundle"
    assert main(["--store", store_dir, "--user", "oscar", "bundle", "export", "loans:1",
                 "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ref"] == "loans:1" and set(doc["files"]) - ONNX_FILES == CONTRACT_FILES
    assert main(["--store", store_dir, "bundle", "verify", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["lineage_checked"] and doc["recorded"]
    assert main(["--store", store_dir, "--user", "oscar", "bundle", "export", "loans:1",
                 "--out", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["--store", store_dir, "--user", "oscar", "bundle", "export", "loans:2",
                 "--out", str(tmp_path / "x")]) == 1
    assert "pending" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(CONTRACT_FILES))
def test_flipped_byte_fails_verify_and_serve_names_the_file(world, tmp_path, capsys, name):
    b = _copy(world, tmp_path)
    path = b / name
    # SHA256SUMS: flip a hex digit of a hash (the middle byte could be a separator);
    # serve.py: a byte of its docstring, so that it still runs and checks itself (a serve.py
    # edited on purpose can drop the check: `bundle verify` / `sha256sum -c` is the real test)
    flip_byte(path, {"SHA256SUMS": 3, "serve.py": 100}.get(name))
    code = main(["--store", str(world["root"] / "store"), "bundle", "verify", str(b)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and name in err
    assert "Traceback" not in err
    proc = run_serve(b, "serve", "--port", "0")
    assert proc.returncode == 1 and "refusing" in proc.stderr and name in proc.stderr


def test_missing_and_extra_files_fail_verify(world, tmp_path, capsys):
    b = _copy(world, tmp_path)
    (b / "MODEL_CARD.md").unlink()
    (b / "predictions.jsonl").write_text("{}\n")  # ops' own output: not part of the model
    (b / "extra.py").write_text("print('hi')\n")  # importable: could change what runs
    result = bundles.verify(b)
    assert not result["ok"]
    assert {(p["file"], p["problem"]) for p in result["problems"]} == {
        ("MODEL_CARD.md", "missing"), ("extra.py", "importable")}
    assert "predictions.jsonl" in result["unlisted"]
    code = main(["--store", str(world["root"] / "store"), "bundle", "verify", str(b), "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and json.loads(out)["ok"] is False
    assert "MODEL_CARD.md" in err and "extra.py" in err


def test_changed_file_with_regenerated_sums_is_caught_by_the_store(world, tmp_path, capsys):
    b = _copy(world, tmp_path)
    serve_py = b / "serve.py"
    serve_py.write_text(serve_py.read_text() + "\n# changed after export\n")
    serve.write_sums(b)  # whoever changed it also rewrote the sums
    assert bundles.verify(b)["ok"]  # the folder alone cannot tell
    result = bundles.verify(b, world["store"])
    assert not result["ok"]
    assert {(p["file"], p["problem"]) for p in result["problems"]} == {
        ("serve.py", "changed since export"), ("SHA256SUMS", "changed since export")}
    code = main(["--store", str(world["root"] / "store"), "bundle", "verify", str(b)])
    err = capsys.readouterr().err
    assert code == 1 and "serve.py differs from the file the store recorded at export" in err


def test_lineage_is_checked_against_the_store(world, tmp_path):
    b = _copy(world, tmp_path)
    m = json.loads((b / "lablift.json").read_text())
    m["dataset"]["sha256"] = "0" * 64
    m["approvals"][0]["user"] = "mallory"
    (b / "lablift.json").write_text(json.dumps(m))
    serve.write_sums(b)  # whoever edited it also rewrote the sums
    assert bundles.verify(b)["ok"]  # integrity alone cannot tell
    result = bundles.verify(b, world["store"])
    assert not result["ok"] and result["lineage_checked"]
    messages = " ".join(p["message"] for p in result["problems"])
    assert "dataset sha256" in messages and "mallory" in messages
    assert all(p["file"] == "lablift.json" for p in result["problems"])
    other = Store(tmp_path / "other", user="someone")
    result = bundles.verify(world["bundle"], other)
    assert result["ok"] and not result["lineage_checked"]
    assert "does not know loans:1" in result["warnings"][0]


def test_isolated_batch_scoring_matches_lablift(world, tmp_path):
    frame, pipeline, run = world["frame"], world["pipeline"], world["run"]
    features = run["spec"]["features"]
    src = tmp_path / "batch.csv"
    frame.to_csv(src, index=False)  # with the id and target columns: ignored with a warning
    proc = run_serve(world["bundle"], "predict", str(src), "-o", str(tmp_path / "out.csv"))
    assert proc.returncode == 0, proc.stderr
    assert "'applicant_id'" in proc.stderr and "'approved'" in proc.stderr
    out = pd.read_csv(tmp_path / "out.csv")
    expected = pipeline.predict(frame[features])
    assert out["prediction"].tolist() == expected.tolist()
    np.testing.assert_allclose(out[["proba_0", "proba_1"]].to_numpy(),
                               pipeline.predict_proba(frame[features]), rtol=0, atol=1e-12)


def test_isolated_http_scoring_matches_lablift_and_logs(world, tmp_path):
    frame, pipeline, run = world["frame"], world["pipeline"], world["run"]
    features = run["spec"]["features"]
    rows = frame[features].iloc[:25]
    expected = pipeline.predict(rows).tolist()
    log = tmp_path / "predictions.jsonl"
    proc, port = start_server(world["bundle"], "--log", str(log))
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        split = json.loads(rows.to_json(orient="split", index=False))
        status, _, doc = request(conn, "POST", "/invocations", {"dataframe_split": split})
        assert status == 200 and doc == {"predictions": expected}
        bad = {"dataframe_split": {"columns": features,
                                   "data": [["x"] + split["data"][0][1:]]}}
        status, _, doc = request(conn, "POST", "/invocations", bad)
        assert status == 400 and f"column '{features[0]}'" in doc["message"]
        status, _, doc = request(conn, "POST", "/invocations", rows.to_csv(index=False),
                                 "text/csv")
        assert status == 200 and doc["predictions"] == expected
        example = json.loads((world["bundle"] / "input_example.json").read_text())
        status, _, doc = request(conn, "POST", "/invocations", {"dataframe_split": example})
        assert status == 200 and len(doc["predictions"]) == len(example["data"])
        status, _, info = request(conn, "GET", "/version")
        assert info["model"] == "loans" and info["version"] == 1 and info["run_id"] == run["id"]
        conn.close()
    finally:
        stop_server(proc)
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    errors = [x for x in lines if "error" in x]  # the rejected request: one line, no inputs
    assert [x["error"]["status"] for x in errors] == [400] and "inputs" not in errors[0]
    assert f"column '{features[0]}'" in errors[0]["error"]["message"]
    lines = [x for x in lines if "error" not in x]
    assert len(lines) == 2 * len(rows) + len(example["data"])
    first = lines[0]
    assert first["prediction"] == expected[0] and first["model"] == "loans:1"
    assert first["inputs"] == json.loads(rows.iloc[[0]].to_json(orient="records"))[0]
    assert first["probabilities"]["1"] == pytest.approx(pipeline.predict_proba(rows)[0, 1])
    assert serve.check_sums(world["bundle"]) == []  # the log went elsewhere
