"""A version's reference is summarised once (monitoring/reference.py) and later ingests read
the summary: the same drift, checks and predictions as from the training rows themselves."""

import hashlib
import importlib
import json

import numpy as np
import pandas as pd
import pytest

from lablift.core import datasets, drift, monitoring, registry, training
from lablift.core.monitoring import reference as reference_mod
from lablift.core.monitoring.analysis import analyse
from lablift.core.monitoring.settings import settings
from lablift.core.store import Store
from lablift.core.store.sql import repository
from lablift.resources import SAMPLE_LOANS

recovery_sql = repository("recovery")


def same(a, b) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True,
                                                                     default=str)


RNG = np.random.default_rng(0)
N = 3000
OBJECTS = np.array([1, "1", 1.0, True, "x", None], dtype=object)
COLUMNS = {  # name: (reference, current, kind)
    "floats with gaps": (pd.Series(np.where(RNG.random(N) < .1, np.nan, RNG.normal(0, 1, N))),
                         pd.Series(RNG.normal(.2, 1, N)), "numeric"),
    "few numbers": (pd.Series(RNG.integers(0, 4, N)).astype(float),
                    pd.Series(RNG.integers(0, 5, N)).astype(float), "numeric"),
    "text": (pd.Series(np.array(["a", "b", "c", None], dtype=object)[RNG.integers(0, 4, N)]),
             pd.Series(np.array(["a", "b", "d"], dtype=object)[RNG.integers(0, 3, N)]),
             "categorical"),
    "ints against text": (pd.Series(RNG.integers(0, 3, N)),
                          pd.Series(RNG.integers(0, 4, N)).astype(str), "categorical"),
    # 1, 1.0 and True are one value to pandas but three as text (compared when dtypes differ)
    "mixed objects": (pd.Series(OBJECTS[RNG.integers(0, 6, N)]),
                      pd.Series(np.array(["1", "x", "y"])[RNG.integers(0, 3, N)]),
                      "categorical"),
    "signed zeros": (pd.Series(np.array([0.0, -0.0, 1.0, np.nan])[RNG.integers(0, 4, N)]),
                     pd.Series(np.array(["0.0", "-0.0", "x"])[RNG.integers(0, 3, N)]),
                     "categorical"),
    "booleans": (pd.Series(RNG.random(N) < .3), pd.Series(RNG.random(N) < .5), "categorical"),
    "nothing": (pd.Series([None] * 10, dtype=object), pd.Series(["a"] * 5), "categorical"),
}


@pytest.mark.parametrize("name", list(COLUMNS))
def test_a_summarised_column_drifts_exactly_as_the_column(name):
    ref, cur, kind = COLUMNS[name]
    summary = drift.ReferenceColumn.from_dict(drift.ReferenceColumn.of(ref, kind).to_dict())
    tests = (None, "psi", "chisquare", "jensenshannon") if kind == "categorical" else \
        (None, "ks", "wasserstein", "psi")
    for test in tests:
        want = drift.column_drift(name, ref, cur, kind=kind, test=test, histogram=True)
        got = drift.column_drift(name, summary, cur, kind=kind, test=test, histogram=True)
        assert same(got, want), test


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    """A registered decision tree on the sample loans, and two batch files."""
    root = tmp_path_factory.mktemp("reference")
    store = Store(root / "store", user="ana")
    ds = datasets.import_dataset(store, SAMPLE_LOANS, name="loans")
    run = training.train(store, {"dataset": ds["id"], "target": "approved", "cv": 0,
                                 "algorithm": "decision_tree", "params": {"max_depth": 4}})
    registry.register(store, run["id"], "loans")
    loans = pd.read_csv(SAMPLE_LOANS)
    first, second = root / "first.csv", root / "second.csv"
    loans.sample(300, random_state=1).to_csv(first, index=False)
    later = loans.sample(300, random_state=2).reset_index(drop=True)
    later["income"] = later["income"] * 1.5
    later.loc[:9, "home_ownership"] = "houseboat"
    later.to_csv(second, index=False)
    return store, first, second


def test_the_first_ingest_names_a_summary_later_ones_read_it(monitored, monkeypatch):
    store, first, second = monitored
    one = monitoring.ingest(store, "loans:1", first)
    first_result = store.row(repository("monitoring").BATCH_BY_ID, id=one["id"])["result"]
    named = first_result["reference"]
    assert store.artifacts.exists(named["artifact"])
    # a dead process's claim on it is not swept: a row names it
    assert store.value(recovery_sql.ARTIFACT_NAMED, sha=named["artifact"]) is not None

    def no_training_rows(*args, **kwargs):
        raise AssertionError("the training rows were loaded although a summary exists")
    monkeypatch.setattr(training, "training_frame", no_training_rows)
    two = monitoring.ingest(store, "loans:1", second)
    again = store.row(repository("monitoring").BATCH_BY_ID, id=two["id"])["result"]
    assert again["reference"] == named
    assert again["reference_rows"] == first_result["reference_rows"] > 1000
    monkeypatch.undo()

    # what the summary gave equals what the training rows give
    version = registry.resolve_version(store, "loans:1")
    cached = reference_mod.Reference(store, version)
    assert cached.summary_sha == named["artifact"] and cached.summary_bytes is None
    monkeypatch.setattr(reference_mod.Reference, "_stored_summary", lambda self: None)
    fresh = reference_mod.Reference(store, version)
    assert fresh.summary_bytes is not None
    assert np.array_equal(fresh.predictions, cached.predictions)
    frame = pd.read_csv(second)
    cfg = settings(store)
    got, want = (analyse(r, frame, None, cfg, {}, [], []) for r in (cached, fresh))
    for key in ("drift", "prediction_drift", "quality", "alerts"):
        assert same(got[key], want[key]), key
    assert got["drift"]["n_drifted"] >= 1  # the shifted income is seen


def test_a_csv_batch_is_read_once_for_rows_and_hash(monitored, tmp_path, monkeypatch):
    ingest_mod = importlib.import_module("lablift.core.monitoring.ingest")  # (not the function)
    store, _, _ = monitored
    batch = tmp_path / "once.csv"
    pd.read_csv(SAMPLE_LOANS).sample(150, random_state=4).to_csv(batch, index=False)

    def second_read(path):
        raise AssertionError(f"{path} was read again to hash it")
    monkeypatch.setattr(ingest_mod, "sha256_file", second_read)
    out = monitoring.ingest(store, "loans:1", batch)
    row = store.row(repository("monitoring").BATCH_BY_ID, id=out["id"])
    assert row["sha256"] == hashlib.sha256(batch.read_bytes()).hexdigest()


def test_a_damaged_summary_is_made_again(monitored, tmp_path):
    store, first, _ = monitored
    version_id = registry.resolve_version(store, "loans:1")["id"]
    latest = store.row(repository("monitoring").LATEST_RESULT, version_id=version_id)
    if latest is None:  # run on its own: the first ingest makes the summary
        monitoring.ingest(store, "loans:1", first)
        latest = store.row(repository("monitoring").LATEST_RESULT, version_id=version_id)
    sha = latest["result"]["reference"]["artifact"]
    path = store.artifacts.path(sha)
    good = path.read_bytes()
    path.write_bytes(b"not a summary")
    try:
        version = registry.resolve_version(store, "loans:1")
        ref = reference_mod.Reference(store, version)
        assert ref.summary_sha is None and ref.summary_bytes is not None
        batch = tmp_path / "third.csv"
        pd.read_csv(SAMPLE_LOANS).sample(200, random_state=3).to_csv(batch, index=False)
        assert monitoring.ingest(store, "loans:1", batch)["rows"] == 200
    finally:
        path.write_bytes(good)
