"""Runs recorded in bulk (core/run_bulk.py) and read back by parts (core.run_listing
.changed_runs, what the Experiments pane reloads), on both engines."""

from __future__ import annotations

import pytest

from lablift.core import audit, datasets, run_bulk, run_listing, training
from lablift.core.errors import LabliftError, PermissionDenied


def _runs(dataset_id: int, n: int, first_seed: int = 0) -> list[dict]:
    return [{"dataset_id": dataset_id, "algorithm": "knn", "target": "approved",
             "params": {"n_neighbors": k % 9 + 1}, "seed": first_seed + k, "duration_s": 1.5,
             "metrics": {"holdout": {"roc_auc": 0.5 + k / 1000},
                         "cv": {"roc_auc": {"mean": 0.6, "std": 0.01}}}} for k in range(n)]


def test_bulk_runs_are_real_rows_in_one_witnessed_transaction(store, sample_csv, store_engine):
    ds = datasets.import_dataset(store, sample_csv, name="loans")
    ids = run_bulk.record_runs(store, _runs(ds["id"], 40) + [
        {"dataset_id": ds["id"], "algorithm": "ridge", "target": "income",
         "task": "regression", "status": "failed", "error": "diverged"}])
    assert len(ids) == 41 and ids == sorted(ids)
    listed = run_listing.list_runs(store)
    assert [r["id"] for r in listed] == ids[::-1]  # newest first, as any run
    first = run_listing.get_run(store, ids[0])
    assert (first["status"], first["params"], first["seed"]) == ("finished", {"n_neighbors": 1}, 0)
    assert first["metrics"]["holdout"]["roc_auc"] == 0.5 and first["created_by"] == store.user
    assert first["spec"]["algorithm"] == "knn" and first["artifacts"] == {}
    failed = run_listing.get_run(store, ids[-1])
    assert (failed["status"], failed["error"], failed["task"]) == ("failed", "diverged",
                                                                   "regression")
    entry = audit.entries(store, limit=1)[0]
    assert entry["action"] == "run.record_bulk"
    assert entry["details"]["runs"] == 41 and entry["details"]["first"] == ids[0]
    assert audit.verify(store).ok  # every row witnessed by that one entry


def test_bulk_runs_are_checked_before_anything_is_written(store, make_store, sample_csv):
    ds = datasets.import_dataset(store, sample_csv, name="loans")
    good = _runs(ds["id"], 3)
    for bad, words in [({"status": "running"}, "status must be one of finished"),
                       ({"task": "ranking"}, "task must be one of"),
                       ({"algorithm": ""}, "algorithm is missing"),
                       ({"duration_s": -1}, "duration_s must be 0 or more"),
                       ({"metrics": {"holdout": {"roc_auc": "high"}}}, "must be a number")]:
        with pytest.raises(LabliftError, match=words):
            run_bulk.record_runs(store, good + [{**good[0], **bad}])
    assert run_listing.list_runs(store) == []
    store.add_user("rita", "reviewer")
    with pytest.raises(PermissionDenied, match="needs the role analyst"):
        run_bulk.record_runs(make_store("rita"), good)


def test_changed_runs_reads_only_what_a_reader_lacks(store, sample_csv, store_engine):
    ds = datasets.import_dataset(store, sample_csv, name="loans")
    ids = run_bulk.record_runs(store, _runs(ds["id"], 5))
    names, rows = run_listing.changed_runs(store, 0, ())
    assert [r[0] for r in rows] == ids and names[:2] == ("id", "dataset_id")
    assert isinstance(rows[0][names.index("params")], str)  # documents stay text

    held = set(ids)
    assert run_listing.changed_runs(store, max(ids), held)[1] == []  # nothing new
    # A run starts (running), so a reader re-reads it until it has ended.
    prepared = training.prepare(store, {"dataset_id": ds["id"], "target": "approved",
                                        "algorithm": "logistic_regression", "cv": 0})
    running = training.record_start(store, prepared)
    names, rows = run_listing.changed_runs(store, max(held), held)
    assert [(r[0], r[names.index("status")]) for r in rows] == [(running, "running")]
    held.add(running)
    more = run_bulk.record_runs(store, _runs(ds["id"], 2))
    result = training.compute_safely(prepared)
    training.record_finish(store, running, result, 0.0)
    names, rows = run_listing.changed_runs(store, max(held), held, running=[running])
    assert [(r[0], r[names.index("status")]) for r in rows] == [
        (running, "finished"), (more[0], "finished"), (more[1], "finished")]

    # A run below the reader's last id that it never saw (a team store hands out ids
    # before commit): found by the count.
    held = set(ids[:2] + ids[3:])
    names, rows = run_listing.changed_runs(store, ids[-1], held)
    assert [r[0] for r in rows] == [ids[2], running] + more
