"""A version's monitoring over time, ready to chart, and one stored feature histogram."""

from __future__ import annotations

from typing import Any

from ..store import Store
from ..store.sql import repository
from .alerts import list_alerts
from .analysis import _model_gates
from .batches import batch_view, get_batch
from .settings import settings

monitor_sql = repository("monitoring")  # statements: core/store/monitoring.py


def report(store: Store, ref: str | int) -> dict[str, Any]:
    """All batches of a version, ready to chart: drift share over time, a feature x batch
    matrix of drift statistics, metrics over time against holdout and gates, latency, alerts."""
    from .. import registry
    from ..training import get_run
    version = registry.resolve_version(store, ref)
    run = get_run(store, version["run_id"])
    rows = store.rows(monitor_sql.BATCHES_OF, version_id=version["id"])
    batches = [batch_view(r, version) for r in rows]
    features: list[str] = []
    for b in batches:
        for c in b["columns"]:
            if c["name"] not in features:
                features.append(c["name"])
    matrix = {k: [[None] * len(batches) for _ in features]
              for k in ("statistic", "p_value", "drifted", "test", "psi")}
    for j, b in enumerate(batches):
        for c in b["columns"]:
            i = features.index(c["name"])
            for k in matrix:
                matrix[k][i][j] = c.get(k)
    holdout = dict((run.get("metrics") or {}).get("holdout") or {})
    gates = [g for g in _model_gates(store, version["model"]) if "threshold" in g]
    metric_names = sorted({m for b in batches for m in (b["metrics"] or {})})
    series = {m: [{"batch_id": b["id"], "window": b["window"], "created_at": b["created_at"],
                   "value": (b["metrics"] or {}).get(m)} for b in batches if b["metrics"]]
              for m in metric_names}
    latency = [{"batch_id": b["id"], "window": b["window"], "created_at": b["created_at"],
                **{k: b["ops"].get(k) for k in ("rows", "requests", "errors", "error_rate")},
                **(b["ops"].get("latency_ms") or {})}
               for b in batches if b["ops"]]
    return {
        "version": {"id": version["id"], "model": version["model"],
                    "version": version["version"], "status": version["status"],
                    "attention": version.get("attention"), "run_id": version["run_id"]},
        "settings": settings(store),
        "batches": [{k: b[k] for k in ("id", "window", "window_span", "rows", "created_at",
                                       "drift_share", "dataset_drift", "n_drifted",
                                       "n_columns", "prediction_drift", "label_column",
                                       "labelled_rows")}
                    for b in batches],
        "features": features,
        "batch_ids": [b["id"] for b in batches],
        "matrix": matrix,
        "metrics": {"holdout": holdout, "gates": gates, "series": series,
                    "tolerance": settings(store)["metric_tolerance"]},
        "latency": latency,
        "quality": [{"batch_id": b["id"], **f} for b in batches for f in b["quality"]],
        "alerts": list_alerts(store, version["id"]),
    }


def batch_histogram(store: Store, batch_id: int, column: str) -> dict[str, Any] | None:
    """Reference-vs-current histogram (or category counts) stored for one feature."""
    row = get_batch(store, batch_id)
    result = row.get("result") or {}
    if column == "prediction":
        return (result.get("prediction_drift") or {}).get("histogram")
    for c in (result.get("drift") or {}).get("columns", []):
        if c["name"] == column:
            return c.get("histogram")
    return None
