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
    matrix of drift statistics, metrics over time against holdout and gates, latency, alerts,
    and (serve.py --shadow logs) champion vs challenger over all batches."""
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
                                       "labelled_rows", "shadow")}
                    for b in batches],
        "shadow": shadow_overall(store, run, [r for r in rows if (r.get("result") or {})
                                              .get("shadow")]),
        "features": features,
        "batch_ids": [b["id"] for b in batches],
        "matrix": matrix,
        "metrics": {"holdout": holdout, "gates": gates, "series": series,
                    "tolerance": settings(store)["metric_tolerance"]},
        "latency": latency,
        "quality": [{"batch_id": b["id"], **f} for b in batches for f in b["quality"]],
        "alerts": list_alerts(store, version["id"]),
    }


def shadow_overall(store: Store, run: dict[str, Any],
                   rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Champion vs challenger over every shadow batch of the version, one comparison per
    challenger, computed by shadow.summarise on the batches' stored rows (not averaged from
    the per-batch figures: percentiles do not average), with the labels that arrived."""
    if not rows:
        return []
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq
    from .shadow import CHAMPION_PROBA, SHADOW_PREFIX, summarise
    labels = {r["label_column"] for r in rows if r.get("label_column")}
    label = labels.pop() if len(labels) == 1 else None  # two label names: no shared metric
    wanted = {"prediction", "latency_ms", "request_id", "model", label}
    frames, requests = [], 0
    for r in rows:
        path = store.artifacts.verified_path(r["artifact"])
        # only what the comparison reads, not the inputs: a third of the time on 10 logs
        cols = [c for c in pq.read_schema(path).names
                if c in wanted or c.startswith((SHADOW_PREFIX, CHAMPION_PROBA))]
        f = pq.read_table(path, columns=cols).to_pandas()
        f["__batch_id"] = r["id"]
        if "request_id" in f.columns:  # request ids repeat across logs: keep them apart
            codes, uniques = pd.factorize(f["request_id"])
            f["request_id"] = np.where(codes >= 0, codes + requests, -1)
            requests += len(uniques)
        frames.append(f)
    frame = pd.concat(frames, ignore_index=True, sort=False)
    model_col = SHADOW_PREFIX + "model"
    groups = ([(None, frame)] if model_col not in frame.columns else
              [(m, part) for m, part in frame.groupby(frame[model_col].fillna("?").astype(str),
                                                      sort=True)])
    spec = run.get("spec") or {}
    out = []
    for _, part in groups:
        s = summarise(part, run.get("task") or spec.get("task"), spec.get("classes"), label)
        if s is not None and s["rows"]:  # (rows of a shadow batch logged without one)
            s["batch_ids"] = sorted({int(b) for b in part["__batch_id"]})
            s["label_column"] = label if s.get("metrics") else None
            out.append(s)
    return out


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
