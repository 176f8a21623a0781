"""Recording many runs at once: runs computed elsewhere (another tracker's history, the
100,000 runs of a benchmark or a test) written as complete rows of the runs table in one
transaction, witnessed by one audit entry, instead of a start and a finish per run.

    record_runs(store, [{"dataset_id": 1, "task": "classification", "algorithm": "knn",
                         "target": "y", "params": {"n_neighbors": 5},
                         "metrics": {"holdout": {"roc_auc": 0.81}}}, ...])

Each run is checked before anything is written; a run names no artifacts (its model was
not fitted here), so it can be listed, filtered, compared and registered as any other, but
not reproduced from its files.
"""

from __future__ import annotations

import json
import math
import operator
from typing import Any, Callable, Iterable

import orjson

from . import audit
from .errors import LabliftError
from .store import Store, utcnow
from .store.sql import repository

run_sql = repository("runs")  # statements: core/store/runs.py

ENDED = ("finished", "failed", "cancelled", "interrupted")
TASKS = ("classification", "regression")
CHUNK = 20_000  # rows per executemany: progress between them, and bounded memory


def _json(value: Any) -> str:
    # orjson: 10x json.dumps, the cost of 100,000 rows; it writes NaN as null, so a document
    # holding one goes to json (which writes NaN, as a recorded run's metrics would)
    text = orjson.dumps(value, default=str).decode()
    return text if "null" not in text or value == orjson.loads(text) else json.dumps(value)


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LabliftError(f"{where} must be a number, got {value!r}")
    return float(value)


def _metrics(metrics: dict[str, Any], n: int) -> dict[str, Any]:
    holdout = metrics.get("holdout") or {}
    cv = metrics.get("cv") or {}
    if not isinstance(holdout, dict) or not isinstance(cv, dict):
        raise LabliftError(f"run {n}: metrics are {{'holdout': {{name: value}}, "
                           f"'cv': {{name: {{'mean': m, 'std': s}}}}}}")
    for name, value in holdout.items():
        _number(value, f"run {n}: holdout metric {name}")
    for name, summary in cv.items():
        if not isinstance(summary, dict):
            raise LabliftError(f"run {n}: cv metric {name} must be {{'mean': m, 'std': s}}")
        _number(summary.get("mean"), f"run {n}: cv metric {name} mean")
    return metrics


def _row(run: dict[str, Any], n: int, user: str, now: str) -> dict[str, Any]:
    task = run.get("task", "classification")
    if task not in TASKS:
        raise LabliftError(f"run {n}: task must be one of {', '.join(TASKS)}, got {task!r}")
    status = run.get("status", "finished")
    if status not in ENDED:
        raise LabliftError(f"run {n}: status must be one of {', '.join(ENDED)} (a run "
                           f"recorded in bulk has ended), got {status!r}")
    for key in ("dataset_id", "algorithm", "target"):
        if run.get(key) in (None, ""):
            raise LabliftError(f"run {n}: {key} is missing")
    duration = _number(run.get("duration_s"), f"run {n}: duration_s")
    if duration is not None and (duration < 0 or math.isnan(duration)):
        raise LabliftError(f"run {n}: duration_s must be 0 or more, got {duration}")
    params = dict(run.get("params") or {})
    spec = run.get("spec") or {"dataset_id": run["dataset_id"], "target": run["target"],
                               "algorithm": run["algorithm"], "task": task, "params": params,
                               "seed": run.get("seed")}
    created = run.get("created_at") or now
    return {"dataset_id": int(run["dataset_id"]), "sweep_id": run.get("sweep_id"),
            "reproduces": None, "status": status, "task": task,
            "algorithm": str(run["algorithm"]), "target": str(run["target"]),
            "spec": _json(spec), "params": _json(params),
            "metrics": _json(_metrics(run.get("metrics") or {}, n)),
            "artifacts": "{}", "environment": _json(run.get("environment") or {}),
            "seed": run.get("seed"), "predictions_sha256": None, "error": run.get("error"),
            "created_by": user, "created_at": created, "started_at": created,
            "finished_at": run.get("finished_at") or created, "duration_s": duration,
            "host": None, "pid": None, "details": '{"notes": ["recorded in bulk"]}'}


def record_runs(store: Store, runs: Iterable[dict[str, Any]],
                progress: Callable[[float, str], None] | None = None) -> list[int]:
    """Record ended runs (see the module doc) in one transaction; their ids, in order.

    A run gives dataset_id, algorithm, target, and optionally task, status (finished),
    params, metrics, seed, sweep_id, duration_s, created_at, error, spec.
    """
    store.require_role("training", "analyst")
    now, user = utcnow(), store.user
    rows = [_row(run, n, user, now) for n, run in enumerate(runs, 1)]
    if not rows:
        return []
    text, names, _defaults, positional = run_sql.RECORD.sql(store.engine)
    pick = operator.itemgetter(*names)  # a row's values in the statement's order
    with store.transaction() as conn:
        last = store.value(run_sql.MAX_ID) or 0
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            conn.executemany(text, [pick(r) for r in chunk] if positional else chunk)
            if progress is not None:
                progress((start + len(chunk)) / len(rows), f"{start + len(chunk):,} runs")
        ids = [rid for (rid,) in run_sql.IDS_AFTER.execute(
            store.tuple_cursor(), store.engine, {"after": last}).fetchall()]
        if len(ids) != len(rows):
            raise LabliftError("another process recorded runs at the same time; nothing "
                               "was recorded, try again")
        audit.append(store, "run.record_bulk", "runs",
                     {"runs": len(ids), "first": ids[0], "last": ids[-1]}, ts=now)
    return ids
