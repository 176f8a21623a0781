"""Retraining a version on its dataset plus its labelled batches: the result is registered
as a pending challenger and compared with the champion on the latest labelled batch."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .. import audit
from ..errors import Cancelled, LabliftError
from ..store import Store, encode
from ..store.sql import repository
from .batches import _write_parquet, load_batch_frame
from .reference import Reference
from .schema import check_schema

monitor_sql = repository("monitoring")  # statements: core/store/monitoring.py

Progress = Callable[[float, str], None]
IsCancelled = Callable[[], bool]


def retrain(store: Store, ref: str | int, progress: Progress | None = None,
            cancelled: IsCancelled | None = None) -> dict[str, Any]:
    """Train the version's spec on its dataset + every labelled batch; register the run as a
    pending challenger of the version; compare both on the latest labelled batch."""
    from .. import datasets, registry, training
    from ..evaluation import compute_metrics
    store.require_role("retraining a model", "analyst")
    version = registry.resolve_version(store, ref)
    run = training.get_run(store, version["run_id"])
    spec = run["spec"]
    target = spec["target"]
    labelled = store.rows(monitor_sql.LABELLED_BATCHES_OF, version_id=version["id"])
    if not labelled:
        raise LabliftError(f"{version['ref']} has no labelled batches to learn from; ingest "
                           f"one with `lablift monitor ingest {version['ref']} FILE --label COL`")

    def step(fraction: float, message: str) -> None:
        if cancelled is not None and cancelled():
            raise Cancelled("retrain cancelled")
        if progress is not None:
            progress(fraction, message)

    step(0.05, "Combining the reference with the labelled batches")
    dataset = datasets.get(store, run["dataset_id"])
    base = datasets.load_frame(store, dataset)
    pieces, used_batches = [base], []
    for b in labelled:
        frame = load_batch_frame(store, b)
        label = b["label_column"]
        if label not in frame.columns:
            continue
        keep = [c for c in base.columns if c in frame.columns and c != target]
        part = frame[keep].copy()
        part[target] = frame[label].to_numpy()
        part = part[part[target].notna()]
        if len(part) == 0:
            continue
        for c in part.columns:  # batch values take the reference's types
            try:
                part[c] = part[c].astype(base[c].dtype)
            except (TypeError, ValueError):
                pass
        pieces.append(part)
        used_batches.append(b)
    if not used_batches:
        raise LabliftError(f"the labelled batches of {version['ref']} have no rows with a "
                           f"label")
    combined = pd.concat(pieces, ignore_index=True)[list(base.columns)]
    with tempfile.TemporaryDirectory(prefix="lablift-retrain-") as tmp:
        out = Path(tmp) / f"{dataset['name']}-retrain.parquet"
        _write_parquet(combined, str(out))
        step(0.15, "Importing the combined dataset")
        new_ds = datasets.import_dataset(store, out, name=f"{dataset['name']}-retrain")
    new_spec = {k: spec.get(k) for k in ("target", "features", "algorithm", "params", "task",
                                          "test_size", "cv", "seed", "sensitive")}
    new_spec["dataset_id"] = new_ds["id"]
    step(0.25, "Training the challenger")
    new_run = training.train(store, new_spec,
                             progress=(lambda f, m: step(0.25 + 0.55 * f, m)),
                             cancelled=cancelled)
    if new_run["status"] != "finished":
        raise LabliftError(f"retraining run {new_run['id']} {new_run['status']}: "
                           f"{new_run.get('error') or 'see the run'}")
    step(0.85, "Registering the challenger")
    batch_ids = [b["id"] for b in used_batches]
    challenger = registry.register(
        store, new_run["id"], version["model"],
        description=f"challenger of {version['ref']}, retrained on dataset "
                    f"{dataset['name']}:{dataset['version']} plus monitoring batches "
                    f"{', '.join(map(str, batch_ids))}",
        challenger_of=version["id"])
    with store.transaction():
        lineage = dict(challenger.get("lineage") or {})
        lineage["retrained_from"] = {"version": version["ref"], "version_id": version["id"],
                                     "run": run["id"], "dataset_id": dataset["id"]}
        lineage["batches"] = batch_ids
        lineage["retrain_dataset"] = {"id": new_ds["id"], "name": new_ds["name"],
                                      "version": new_ds["version"], "rows": new_ds["rows"]}
        monitor_sql.SET_LINEAGE.execute(store.conn, store.engine, {
            "id": challenger["id"], "lineage": encode(lineage),
            "challenger_of": version["id"]})
        audit.append(store, "monitor.retrain", f"model_version:{challenger['ref']}", {
            "champion": version["ref"], "batches": batch_ids, "dataset_id": new_ds["id"],
            "run": new_run["id"]})
    step(0.92, "Comparing champion and challenger")
    latest = used_batches[-1]
    frame = load_batch_frame(store, latest)
    reference = Reference(store, version)
    aligned, _, skip = check_schema(reference, frame, {latest["label_column"]}, 1.0)
    comparison = None
    if not [c for c in skip if reference.used(c)]:
        X = aligned.copy()
        for c in reference.features:
            if c not in X.columns or c in skip:
                X[c] = np.nan
        y = frame[latest["label_column"]]
        has = y.notna().to_numpy()
        X, y = X[has], y[has]
        comparison = {"batch_id": latest["id"], "rows": int(len(y)),
                      "note": "the challenger was trained on this batch too"}
        for who, r in (("champion", run), ("challenger", new_run)):
            model = training.load_pipeline(store, r)
            pred, proba = training._predict(model, X[reference.features], reference.task,
                                            reference.classes)
            yy = y.astype(str).map({str(c): c for c in reference.classes}) \
                if reference.task == "classification" and reference.classes else y
            comparison[who] = compute_metrics(reference.task, yy.to_numpy(), pred, proba,
                                              reference.classes)
    step(1.0, f"Challenger {challenger['ref']} registered (pending)")
    final = registry.get_version(store, challenger["id"])
    return {"challenger": {k: final.get(k) for k in ("id", "model", "version", "status",
                                                     "run_id", "created_by", "challenger_of",
                                                     "lineage")} | {"ref": final["ref"]},
            "champion": {"id": version["id"], "ref": version["ref"], "run_id": run["id"]},
            "dataset": {"id": new_ds["id"], "name": new_ds["name"],
                        "version": new_ds["version"], "rows": new_ds["rows"]},
            "batches": batch_ids, "run": {"id": new_run["id"],
                                          "metrics": new_run.get("metrics")},
            "checks": [{k: c.get(k) for k in ("name", "passed")}
                       for c in challenger.get("checks", [])],
            "comparison": comparison}
