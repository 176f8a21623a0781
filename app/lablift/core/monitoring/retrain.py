"""Retraining a version on its dataset plus its labelled batches: the result is registered
as a pending challenger and compared with the champion on rows neither model trained on.

The held-out rows: with two or more labelled batches, the newest one (highest id) is held
out whole, and the challenger trains on the reference plus the older labelled batches. With
one labelled batch, its labelled rows are put in order (by its timestamp column when it was
ingested with one, else in file order) and the newest HOLDOUT_SHARE of them are held out;
the challenger trains on the reference plus the older rows. The champion trained on the
reference only, so neither model saw the held-out rows. The comparison names them: batch
id, row count, how they were chosen, and their positions in the stored batch (row_ranges,
[start, stop) over the batch's rows as ingested)."""

from __future__ import annotations

import math
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
from .shadow import _text

monitor_sql = repository("monitoring")  # statements: core/store/monitoring.py

Progress = Callable[[float, str], None]
IsCancelled = Callable[[], bool]
HOLDOUT_SHARE = 0.3  # of a single labelled batch: the newest rows, held out for the comparison


def _labelled_rows(batch: dict[str, Any], frame: pd.DataFrame, base: pd.DataFrame,
                   target: str) -> pd.DataFrame | None:
    """The batch's labelled rows as reference columns (label renamed to the target), indexed
    by their position in the stored batch."""
    label = batch["label_column"]
    if label not in frame.columns:
        return None
    frame = frame.reset_index(drop=True)
    keep = [c for c in base.columns if c in frame.columns and c != target]
    part = frame[keep].copy()
    part[target] = frame[label].to_numpy()
    part = part[part[target].notna()]
    if len(part) == 0:
        return None
    for c in part.columns:  # batch values take the reference's types
        try:
            part[c] = part[c].astype(base[c].dtype)
        except (TypeError, ValueError):
            pass
    return part


def _ranges(positions) -> list[list[int]]:
    """Sorted row positions as [start, stop) ranges."""
    out: list[list[int]] = []
    for p in sorted(int(x) for x in positions):
        if out and out[-1][1] == p:
            out[-1][1] = p + 1
        else:
            out.append([p, p + 1])
    return out


def _split(batches: list[tuple[dict, pd.DataFrame, pd.DataFrame]]
           ) -> tuple[list[pd.DataFrame], list[dict], dict[str, Any], pd.Index]:
    """-> (training pieces, batches trained on, holdout description, held-out positions)."""
    newest, frame, part = batches[-1]
    if len(batches) > 1:
        trained = [b for b, _, _ in batches[:-1]]
        how = (f"the newest labelled batch #{newest['id']}, held out whole; the challenger "
               f"trained on the reference plus batches "
               f"{', '.join('#' + str(b['id']) for b in trained)}")
        return ([p for _, _, p in batches[:-1]], trained,
                {"batch_id": newest["id"], "method": "newest_batch", "order_by": None,
                 "description": how}, part.index)
    ts = newest.get("timestamp_column")
    if ts and ts in frame.columns:
        when = pd.to_datetime(frame[ts].reset_index(drop=True).loc[part.index], errors="coerce",
                              utc=True)
        order = when.sort_values(kind="stable", na_position="first").index
        order_by = f"timestamp column {ts!r}"
    else:
        order, order_by = part.index, "row order (the batch has no timestamp column)"
    n_hold = max(1, math.ceil(len(order) * HOLDOUT_SHARE))
    held, kept = order[len(order) - n_hold:], order[:len(order) - n_hold]
    how = (f"the newest {n_hold} of the {len(order)} labelled rows of batch #{newest['id']} "
           f"(the only labelled batch) by {order_by}; the challenger trained on the reference"
           + (f" plus its {len(kept)} older rows" if len(kept) else " only"))
    desc = {"batch_id": newest["id"], "method": "ordered_split", "order_by": ts or None,
            "share": HOLDOUT_SHARE, "description": how}
    if ts and ts in frame.columns and len(held):
        span = frame[ts].reset_index(drop=True).loc[held]
        desc["from"], desc["to"] = str(span.iloc[0]), str(span.iloc[-1])
    return ([part.loc[kept]] if len(kept) else []), ([newest] if len(kept) else []), desc, held


def retrain(store: Store, ref: str | int, progress: Progress | None = None,
            cancelled: IsCancelled | None = None) -> dict[str, Any]:
    """Train the version's spec on its dataset + the labelled batches but the held-out rows;
    compare champion and challenger on the held-out rows; register the run as a pending
    challenger of the version, with the comparison in its lineage."""
    from .. import datasets, registry, training
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
    found = []
    for b in labelled:
        frame = load_batch_frame(store, b)
        part = _labelled_rows(b, frame, base, target)
        if part is not None:
            found.append((b, frame, part))
    if not found:
        raise LabliftError(f"the labelled batches of {version['ref']} have no rows with a "
                           f"label")
    pieces, used_batches, holdout, held = _split(found)
    held_frame = found[-1][1].reset_index(drop=True).loc[held]
    holdout.update(rows=int(len(held)), row_ranges=_ranges(held))
    combined = pd.concat([base, *pieces], ignore_index=True)[list(base.columns)]
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
    step(0.82, "Comparing champion and challenger on the held-out rows")
    comparison = _compare(store, version, run, new_run, found[-1][0], held_frame, holdout)
    step(0.85, "Registering the challenger")
    batch_ids = [b["id"] for b in used_batches]
    challenger = registry.register(
        store, new_run["id"], version["model"],
        description=f"challenger of {version['ref']}, retrained on dataset "
                    f"{dataset['name']}:{dataset['version']}"
                    + (f" plus monitoring batches {', '.join(map(str, batch_ids))}"
                       if batch_ids else "")
                    + f"; compared on {holdout['description'].split(';')[0]}",
        challenger_of=version["id"])
    # no cancel point from here: the registered challenger gets its lineage
    with store.transaction():
        lineage = dict(challenger.get("lineage") or {})
        lineage["retrained_from"] = {"version": version["ref"], "version_id": version["id"],
                                     "run": run["id"], "dataset_id": dataset["id"]}
        lineage["batches"] = batch_ids
        lineage["holdout"] = holdout
        lineage["comparison"] = comparison
        lineage["retrain_dataset"] = {"id": new_ds["id"], "name": new_ds["name"],
                                      "version": new_ds["version"], "rows": new_ds["rows"]}
        monitor_sql.SET_LINEAGE.execute(store.conn, store.engine, {
            "id": challenger["id"], "lineage": encode(lineage),
            "challenger_of": version["id"]})
        audit.append(store, "monitor.retrain", f"model_version:{challenger['ref']}", {
            "champion": version["ref"], "batches": batch_ids, "dataset_id": new_ds["id"],
            "run": new_run["id"], "holdout": {k: holdout[k] for k in (
                "batch_id", "method", "rows", "row_ranges")}})
    if progress is not None:
        progress(1.0, f"Challenger {challenger['ref']} registered (pending)")
    final = registry.get_version(store, challenger["id"])
    return {"challenger": {k: final.get(k) for k in ("id", "model", "version", "status",
                                                     "run_id", "created_by", "challenger_of",
                                                     "lineage")} | {"ref": final["ref"]},
            "champion": {"id": version["id"], "ref": version["ref"], "run_id": run["id"]},
            "dataset": {"id": new_ds["id"], "name": new_ds["name"],
                        "version": new_ds["version"], "rows": new_ds["rows"]},
            "batches": batch_ids, "holdout": holdout,
            "run": {"id": new_run["id"], "metrics": new_run.get("metrics")},
            "checks": [{k: c.get(k) for k in ("name", "passed")}
                       for c in challenger.get("checks", [])],
            "comparison": comparison}


def _compare(store: Store, version: dict, run: dict, new_run: dict, batch: dict,
             frame: pd.DataFrame, holdout: dict[str, Any]) -> dict[str, Any] | None:
    """Both models' metrics on the held-out rows; None when they lack inputs the model needs."""
    from .. import training
    from ..evaluation import compute_metrics
    reference = Reference(store, version)
    label = batch["label_column"]
    aligned, _, skip = check_schema(reference, frame, {label}, 1.0)
    if [c for c in skip if reference.used(c)]:
        return None
    X = aligned.copy()
    for c in reference.features:
        if c not in X.columns or c in skip:
            X[c] = np.nan
    y = frame[label]
    if reference.task == "classification" and reference.classes:
        lookup = {str(c): c for c in reference.classes}  # 1.0 read back from Parquet is '1'
        y = y.map(lambda v: None if _text(v) is None else lookup.get(_text(v)))
    has = y.notna().to_numpy()
    X, y = X[has], y[has]
    comparison: dict[str, Any] = {
        "batch_id": batch["id"], "rows": int(len(y)), "method": holdout["method"],
        "row_ranges": holdout["row_ranges"], "note": holdout["description"]}
    for who, r in (("champion", run), ("challenger", new_run)):
        model = training.load_pipeline(store, r)
        pred, proba = training._predict(model, X[reference.features], reference.task,
                                        reference.classes)
        comparison[who] = compute_metrics(reference.task, y.to_numpy(), pred, proba,
                                          reference.classes)
    return comparison
