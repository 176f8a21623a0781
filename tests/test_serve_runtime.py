"""serve.py split along its seams, on a real exported random forest: the ONNX path scores
without scikit-learn or scipy (model.pkl is unpickled only when the pickle scores), the
runtime modules run only after the integrity check, and an export is readable by any user."""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
from bundle_helpers import BOOT, build_world, flip_byte, request, stop_server

from lablift.bundle_runtime import scoring, serve

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

# bundle_helpers' isolation, and neither scikit-learn nor scipy can be imported at all
NO_SKLEARN_BOOT = BOOT.replace('("lablift", "pyarrow")',
                               '("lablift", "pyarrow", "sklearn", "scipy")')


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = build_world(tmp_path_factory.mktemp("runtime"), "random_forest", {"n_estimators": 20})
    features = w["run"]["spec"]["features"]
    src = w["root"] / "batch.csv"
    frame = w["frame"][features].copy()
    frame.loc[::9, "purpose"] = None  # blanks and an unknown category, as ops' files have
    frame.loc[::13, "employment_years"] = None
    frame.loc[5::17, "purpose"] = "never-seen-in-training"
    frame.to_csv(src, index=False)
    w["csv"], w["X"] = src, frame
    return w


def _copy(world, tmp_path, name="copy"):
    out = tmp_path / name
    shutil.copytree(world["bundle"], out)
    return out


def _run(bundle, *args, boot=BOOT, scorer=None, flags=()):
    env = {k: v for k, v in os.environ.items() if k != "LABLIFT_SCORER"}
    if scorer:
        env["LABLIFT_SCORER"] = scorer
    return subprocess.run([sys.executable, *flags, "-I", "-c", boot, "serve.py", *args],
                          cwd=bundle, capture_output=True, text=True, env=env, timeout=300)


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _same_scores(a, b):
    assert [r["prediction"] for r in a] == [r["prediction"] for r in b]
    cols = [c for c in a[0] if c.startswith("proba_")]
    assert cols == [c for c in b[0] if c.startswith("proba_")] and cols
    assert max(abs(float(x[c]) - float(y[c])) for x, y in zip(a, b) for c in cols) <= 1e-6


def test_onnx_predict_runs_without_sklearn_or_scipy_and_scores_as_the_pickle(world, tmp_path):
    b = world["bundle"]
    onnx_out, pkl_out = tmp_path / "onnx.csv", tmp_path / "pickle.csv"
    done = _run(b, "predict", str(world["csv"]), "-o", str(onnx_out), boot=NO_SKLEARN_BOOT)
    assert done.returncode == 0, done.stderr
    done = _run(b, "predict", str(world["csv"]), "-o", str(pkl_out), scorer="pickle")
    assert done.returncode == 0, done.stderr
    onnx_rows, pkl_rows = _read(onnx_out), _read(pkl_out)
    assert len(onnx_rows) == len(world["X"])
    _same_scores(onnx_rows, pkl_rows)
    want = world["pipeline"].predict(world["X"]).tolist()
    assert [int(r["prediction"]) for r in onnx_rows] == want
    # and Python's own import log agrees: not one scikit-learn or scipy module was imported
    done = _run(b, "predict", str(world["csv"]), "-o", str(tmp_path / "again.csv"),
                flags=("-X", "importtime"))
    assert done.returncode == 0
    imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "onnxruntime" in imported and "pandas" in imported
    assert not {m for m in imported if m.split(".")[0] in ("sklearn", "scipy")}


def test_onnx_server_runs_without_sklearn_and_the_pickle_loads_only_when_chosen(world):
    b = world["bundle"]
    proc = subprocess.Popen([sys.executable, "-I", "-c", NO_SKLEARN_BOOT, "serve.py", "serve",
                             "--port", "0"], cwd=b, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    assert "(onnx scorer)" in line, line + proc.stderr.read()
    port = int(line.rsplit(":", 1)[1].split()[0].strip("/"))
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    features = world["run"]["spec"]["features"]
    rows = world["frame"][features].head(50)
    try:
        _, _, version = request(conn, "GET", "/version")
        status, _, answer = request(conn, "POST", "/invocations",
                                    {"dataframe_split": json.loads(rows.to_json(
                                        orient="split", index=False))})
    finally:
        conn.close()
        stop_server(proc)
    assert version["scorer"] == "onnx" and version["classes"] == [0, 1]
    assert version["sklearn_version"]  # the installed version, read without importing it
    assert status == 200 and answer["predictions"] == world["pipeline"].predict(rows).tolist()
    # LABLIFT_SCORER=pickle needs model.pkl, hence scikit-learn: it is loaded then, not before
    done = _run(b, "predict", str(world["csv"]), boot=NO_SKLEARN_BOOT, scorer="pickle")
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "sklearn" in done.stderr
    assert "requirements.txt" in done.stderr and "Traceback" not in done.stderr


def test_a_bundle_exported_before_the_manifest_had_classes_takes_the_pickles(world, tmp_path,
                                                                           capsys):
    b = _copy(world, tmp_path)
    manifest = json.loads((b / "lablift.json").read_text())
    del manifest["onnx"]["classes"]
    (b / "lablift.json").write_text(json.dumps(manifest))
    serve.write_sums(b)
    scorer = scoring.Scorer(b)
    assert scorer.kind == "onnx" and scorer._model is not None  # unpickled for classes_
    assert scorer.classes == list(world["pipeline"][-1].classes_)
    fresh = scoring.Scorer(world["bundle"])
    assert fresh.kind == "onnx" and fresh._model is None  # never unpickled
    frame, _ = fresh.frame_from_dataframe(fresh.read_csv(world["csv"]))
    old_pred, old_proba = scorer.score(frame, want_proba=True)
    new_pred, new_proba = fresh.score(frame, want_proba=True)
    assert old_pred.dtype == new_pred.dtype and (old_pred == new_pred).all()
    assert np.array_equal(old_proba, new_proba)
    assert fresh._model is None and "model.onnx failed" not in capsys.readouterr().err


def test_an_onnx_error_while_scoring_falls_back_to_the_pickle(world, tmp_path, capsys,
                                                              monkeypatch):
    from onnx import TensorProto, helper
    b = _copy(world, tmp_path)
    # a model.onnx that loads but cannot take the bundle's inputs (onnxruntime refuses the feed)
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, 2])
    y = helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, [None, 2])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["probabilities"])],
                              "wrong", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (b / "model.onnx").write_bytes(model.SerializeToString())
    serve.write_sums(b)
    monkeypatch.delenv("LABLIFT_SCORER", raising=False)
    scorer = scoring.Scorer(b)
    assert scorer.kind == "onnx" and scorer._model is None
    frame, _ = scorer.frame_from_dataframe(scorer.read_csv(world["csv"]))
    pred, proba = scorer.score(frame, want_proba=True)
    assert pred.tolist() == world["pipeline"].predict(world["X"]).tolist()
    assert np.abs(proba - world["pipeline"].predict_proba(world["X"])).max() == 0.0
    assert "model.onnx failed" in capsys.readouterr().err
    monkeypatch.setenv("LABLIFT_SCORER", "onnx")  # ONNX required: an error, no fallback
    with pytest.raises(serve.InputError, match="model.onnx could not score"):
        scoring.Scorer(b).score(frame)


def test_runtime_modules_are_shipped_listed_and_run_only_after_the_check(world, tmp_path):
    b = world["bundle"]
    listed = serve.read_sums(b)
    for name in serve.RUNTIME_FILES:
        assert name in listed
        assert (b / name).read_bytes() == (serve.BUNDLE_DIR / name).read_bytes()
    ignore = (b / ".dockerignore").read_text().splitlines()  # the image gets them too
    assert all(f"!{n}" in ignore for n in serve.RUNTIME_FILES)
    # a changed scoring.py that would leave a mark when run: refused, and it never ran
    copy = _copy(world, tmp_path)
    marker = tmp_path / "ran"
    with open(copy / "scoring.py", "a") as f:
        f.write(f"\nopen({str(marker)!r}, 'w').close()\n")
    for args in (("predict", str(world["csv"])), ("serve", "--port", "0")):
        done = _run(copy, *args)
        assert done.returncode == 1 and "scoring.py was changed" in done.stderr
        assert "refusing" in done.stderr and not marker.exists()
    # a runtime module gone missing is named too
    gone = _copy(world, tmp_path, "gone")
    (gone / "kserve_v2.py").unlink()
    done = _run(gone, "serve", "--port", "0")
    assert done.returncode == 1
    assert "kserve_v2.py is listed in SHA256SUMS but missing" in done.stderr


def test_a_file_swapped_after_the_check_is_not_run(world, tmp_path):
    b = _copy(world, tmp_path)
    with pytest.raises(serve.BundleError, match="was not verified"):
        serve.verified_source(b, "onnx_scorer.py")
    serve.verify_bundle(b)
    assert serve.verified_source(b, "onnx_scorer.py") == (b / "onnx_scorer.py").read_bytes()
    flip_byte(b / "onnx_scorer.py", 5)
    with pytest.raises(serve.BundleError, match="changed after the integrity check"):
        serve.verified_source(b, "onnx_scorer.py")
    with pytest.raises(serve.BundleError, match="not covered by SHA256SUMS"):
        serve.verified_source(b, "notes.py")


def test_export_under_umask_077_is_readable_by_every_user(world, tmp_path):
    from lablift.core import bundles
    old = os.umask(0o077)
    try:
        out = tmp_path / "private-umask"
        bundles.export(world["oscar"], "loans:1", out)
    finally:
        os.umask(old)
    modes = {}
    for root, dirs, files in os.walk(out):
        for name in dirs + files:
            path = os.path.join(root, name)
            modes[os.path.relpath(path, out)] = stat.S_IMODE(os.stat(path).st_mode)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o755
    assert set(serve.RUNTIME_FILES) | {"model.pkl", "model.onnx", "SHA256SUMS"} <= set(modes)
    assert {k: v for k, v in modes.items() if v != 0o644} == {}
    assert serve.check_sums(out) == []
