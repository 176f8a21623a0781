"""`monitor ingest` scores with the version's exact ONNX form (core/monitoring/scorer.py):
made once at the first ingest with the bundle export's equality check, kept as an artifact
the batch names, and later ingests import neither scikit-learn nor scipy.stats. Predictions,
drift, alerts and findings are those of the pickle; where the ONNX path cannot be used the
pickle scores and the batch says why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lablift
from lablift.core import audit, datasets, monitoring, registry, training
from lablift.core.monitoring import batches as batches_mod
from lablift.core.monitoring.analysis import analyse
from lablift.core.monitoring.reference import Reference
from lablift.core.monitoring.settings import settings
from lablift.core.store.sql import repository
from lablift.resources import SAMPLE_LOANS

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

monitor_sql = repository("monitoring")
APP = str(Path(lablift.__file__).resolve().parent.parent)
COMPARED = ("drift", "prediction_drift", "quality", "alerts", "metrics")


def same(a, b) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True,
                                                                     default=str)


def batch_files(root: Path) -> tuple[Path, Path, Path]:
    """A first batch, a drifted one, and the drifted one again in other bytes (columns
    CRLF line ends: another file for the duplicate check, the same rows)."""
    loans = pd.read_csv(SAMPLE_LOANS)
    first, drifted, again = root / "first.csv", root / "drifted.csv", root / "again.csv"
    loans.sample(400, random_state=1).to_csv(first, index=False)
    later = loans.sample(600, random_state=2).reset_index(drop=True)
    later["income"] = later["income"] * 1.6  # enough features move for a dataset drift alert
    later["age"] = later["age"] + 15
    later["loan_amount"] = later["loan_amount"] * 1.8
    later["employment_years"] = later["employment_years"] + 6
    later["region"] = "east"
    later.loc[:40, "home_ownership"] = "houseboat"  # a category training never saw
    later.loc[41:60, "credit_score"] = np.nan
    later.to_csv(drifted, index=False)
    later.to_csv(again, index=False, lineterminator="\r\n")
    return first, drifted, again


def registered(store, algorithm: str, target: str = "approved") -> str:
    datasets.import_dataset(store, SAMPLE_LOANS, name="loans")
    params = {"max_depth": 5, "n_estimators": 20} if algorithm == "random_forest" else {}
    run = training.train(store, {"dataset": "loans", "target": target, "cv": 0,
                                 "algorithm": algorithm, "params": params})
    registry.register(store, run["id"], "loans")
    return "loans:1"


def result_of(store, batch_id: int) -> dict:
    return store.row(monitor_sql.BATCH_BY_ID, id=batch_id)["result"]


@pytest.mark.parametrize("algorithm", ["logistic_regression", "random_forest"])
def test_onnx_and_pickle_ingests_give_the_same_batch(store, tmp_path, algorithm):
    ref = registered(store, algorithm)
    first, drifted, again = batch_files(tmp_path)
    one = monitoring.ingest(store, ref, first)
    res = result_of(store, one["id"])
    sc = res["scorer"]
    assert sc["kind"] == "onnx" and sc["reason"] is None, sc
    assert sc["check"]["verdict"] == "passed" and sc["check"]["max_abs_proba_diff"] <= 1e-6
    assert store.artifacts.exists(sc["artifact"])  # kept, content-addressed
    assert one["scorer"]["kind"] == "onnx"  # the batch view shows it too
    # the ingest's audit entry says which scorer scored, and the chain verifies
    entries = [e for e in audit.entries(store) if e["action"] == "monitor.ingest"]
    assert entries[0]["details"]["scorer"] == "onnx"  # newest first
    assert audit.verify(store).ok

    by_onnx = monitoring.ingest(store, ref, drifted, scorer="onnx")
    by_pickle = monitoring.ingest(store, ref, again, scorer="pickle")
    r_onnx, r_pickle = result_of(store, by_onnx["id"]), result_of(store, by_pickle["id"])
    assert r_onnx["scorer"]["kind"] == "onnx"
    assert r_pickle["scorer"] == {**r_onnx["scorer"], "kind": "pickle",
                                  "reason": "scorer=pickle"}
    for key in COMPARED:
        assert same(r_onnx[key], r_pickle[key]), key
    assert r_onnx["drift"]["n_drifted"] >= 1 and r_onnx["alerts"]  # something to agree on
    # the stored predictions, row by row, with their dtype
    p_onnx = batches_mod.load_batch_frame(store, store.row(monitor_sql.BATCH_BY_ID,
                                                           id=by_onnx["id"]))["__prediction"]
    p_pickle = batches_mod.load_batch_frame(store, store.row(monitor_sql.BATCH_BY_ID,
                                                             id=by_pickle["id"]))["__prediction"]
    assert p_onnx.dtype == p_pickle.dtype and p_onnx.tolist() == p_pickle.tolist()
    # and against the pipeline itself, outside monitoring
    version = registry.resolve_version(store, ref)
    onnx_ref = Reference(store, version, scorer="onnx")
    pickle_ref = Reference(store, version)
    frame = pd.read_csv(drifted)
    cfg = settings(store)
    got, want = (analyse(r, frame, "approved", cfg, {}, [], []) for r in (onnx_ref, pickle_ref))
    assert np.array_equal(got["y_pred"], want["y_pred"])
    for key in COMPARED:  # with labels: metrics from probabilities within 1e-6
        assert same(got[key], want[key]), key
    assert got["metrics"]["values"]["accuracy"] == want["metrics"]["values"]["accuracy"]


def test_a_labelled_batch_is_scored_by_the_pickle(store, tmp_path):
    """A labelled batch's metrics use the pickle's probabilities: it neither converts nor
    scores with ONNX; the next unlabelled ingest makes the ONNX form then."""
    ref = registered(store, "logistic_regression")
    first, drifted, again = batch_files(tmp_path)
    b = monitoring.ingest(store, ref, drifted, label="approved")
    res = result_of(store, b["id"])
    assert res["scorer"]["kind"] == "pickle" and "labels" in res["scorer"]["reason"]
    assert res["scorer"]["artifact"] is None and res["scorer"]["check"] is None
    assert b["metrics"]["accuracy"] is not None
    later = result_of(store, monitoring.ingest(store, ref, first)["id"])
    assert later["scorer"]["kind"] == "onnx" and store.artifacts.exists(
        later["scorer"]["artifact"])
    assert later["reference"]["artifact"] != res["reference"]["artifact"]  # with the check
    assert later["reference_rows"] == res["reference_rows"]
    b2 = monitoring.ingest(store, ref, again, label="approved")
    res2 = result_of(store, b2["id"])
    assert res2["scorer"]["kind"] == "pickle" and res2["scorer"]["artifact"] == \
        later["scorer"]["artifact"]  # still named: the ONNX form is kept
    for key in COMPARED:
        assert same(res2[key], res[key]), key


def test_a_regressor_is_scored_by_the_pickle_and_says_why(store, tmp_path):
    ref = registered(store, "ridge", target="income")
    first, drifted, _ = batch_files(tmp_path)
    one = monitoring.ingest(store, ref, first)
    sc = result_of(store, one["id"])["scorer"]
    assert sc["kind"] == "pickle" and sc["artifact"] is None
    assert "only classifiers" in sc["reason"] and sc["check"]["verdict"] == "not converted"
    two = monitoring.ingest(store, ref, drifted)
    assert result_of(store, two["id"])["scorer"] == sc  # recorded once, read back


def test_lablift_scorer_onnx_refuses_without_the_onnx_path(cli, store, tmp_path,
                                                           monkeypatch):
    ref = registered(store, "ridge", target="income")
    first, _, _ = batch_files(tmp_path)
    monkeypatch.setenv("LABLIFT_SCORER", "onnx")
    code, out, err = cli("admin", "monitor", "ingest", ref, str(first))
    assert code == 1 and out == ""
    assert err.startswith("error: LABLIFT_SCORER=onnx, but loans:1 cannot be scored with "
                          "ONNX") and "only classifiers" in err and "Traceback" not in err
    monkeypatch.setenv("LABLIFT_SCORER", "fast")
    code, _, err = cli("admin", "monitor", "ingest", ref, str(first))
    assert code == 1 and "LABLIFT_SCORER='fast': use auto, onnx or pickle" in err


@pytest.mark.embedded_only("damages an artifact file of the embedded store")
def test_a_damaged_onnx_artifact_falls_back_to_the_pickle(store, tmp_path):
    ref = registered(store, "logistic_regression")
    first, drifted, again = batch_files(tmp_path)
    sha = result_of(store, monitoring.ingest(store, ref, first)["id"])["scorer"]["artifact"]
    good = monitoring.ingest(store, ref, drifted)
    path = store.artifacts.path(sha)
    path.chmod(0o644)
    path.write_bytes(b"not an onnx model")
    b = monitoring.ingest(store, ref, again)
    r, r_good = result_of(store, b["id"]), result_of(store, good["id"])
    assert r["scorer"]["kind"] == "pickle" and "cannot be read" in r["scorer"]["reason"]
    for key in COMPARED:
        assert same(r[key], r_good[key]), key


WRAPPER = r"""
import json, sys
from lablift.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def cli_modules(tmp_path: Path, store_arg: str, *argv: str, env=None) -> tuple[dict, dict]:
    """(what `lablift ARGV --json` printed, {code, modules}) from a fresh process."""
    report = tmp_path / f"modules_{len(list(tmp_path.iterdir()))}.json"
    proc = subprocess.run([sys.executable, "-c", WRAPPER, str(report), "--store", store_arg,
                           "--user", "admin", *argv, "--json"], capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": APP, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout), json.loads(report.read_text())


HEAVY = ("sklearn", "scipy.stats", "scipy.spatial", "skl2onnx")


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] == "sklearn" or m.startswith(HEAVY)]


def test_a_later_ingest_imports_neither_sklearn_nor_scipy_stats(store, store_arg, tmp_path):
    ref = registered(store, "random_forest")
    first, drifted, again = batch_files(tmp_path)
    where = store_arg("admin")
    b1, first_run = cli_modules(tmp_path, where, "monitor", "ingest", ref, str(first))
    assert b1["scorer"]["kind"] == "onnx"
    assert "sklearn" in first_run["modules"]  # the first ingest converts with the pickle
    b2, later = cli_modules(tmp_path, where, "monitor", "ingest", ref, str(drifted))
    assert later["code"] == 0 and b2["scorer"]["kind"] == "onnx"
    assert "onnxruntime" in later["modules"] and "lablift.core.drift" in later["modules"]
    assert heavy(later["modules"]) == [], heavy(later["modules"])
    assert b2["n_drifted"] >= 1 and b2["prediction_drift"]["source"] == "model"
    # the pickle path, in the same kind of process, gives the same batch
    b3, pickled = cli_modules(tmp_path, where, "monitor", "ingest", ref, str(again),
                              env={"LABLIFT_SCORER": "pickle"})
    assert b3["scorer"]["kind"] == "pickle" and "sklearn" in pickled["modules"]
    for key in ("columns", "prediction_drift", "alerts", "quality", "drift_share",
                "dataset_drift"):
        assert same(b2[key], b3[key]), key


NO_ONNXRUNTIME = r"""
import importlib.abc, json, sys
class _Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "onnxruntime":
            raise ImportError(f"No module named {name!r}")
sys.meta_path.insert(0, _Missing())
from lablift.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_without_onnxruntime_the_pickle_scores(store, store_arg, tmp_path):
    ref = registered(store, "logistic_regression")
    first, drifted, again = batch_files(tmp_path)
    monitoring.ingest(store, ref, first)
    with_ort = monitoring.ingest(store, ref, drifted)
    proc = subprocess.run([sys.executable, "-c", NO_ONNXRUNTIME, "--store",
                           store_arg("admin"), "--user", "admin", "monitor", "ingest", ref,
                           str(again), "--json"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": APP})
    assert proc.returncode == 0, proc.stderr[-3000:]
    b = json.loads(proc.stdout)
    assert b["scorer"]["kind"] == "pickle" and "onnxruntime is not installed" in \
        b["scorer"]["reason"]
    for key in ("columns", "prediction_drift", "alerts", "quality"):
        assert same(b[key], with_ort[key]), key
