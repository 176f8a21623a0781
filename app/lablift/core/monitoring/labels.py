"""Labels that arrive after the predictions, joined by request id to the log batches
already ingested; each matched batch's metrics and alerts are recomputed and updated."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from .. import audit
from ..errors import LabliftError
from ..store import Store, encode, utcnow
from ..store.sql import repository
from .analysis import _model_gates, analyse
from .batches import _write_parquet, batch_view, load_batch_frame
from .reference import Reference
from .shadow import summarise as summarise_shadow
from .values import _jsonable

monitor_sql = repository("monitoring")  # statements: core/store/monitoring.py


def attach_labels(store: Store, version: dict[str, Any], labels: pd.DataFrame, label: str,
                  path: str | os.PathLike, source_sha: str, cfg: dict,
                  tests: dict[str, str]) -> list[dict[str, Any]]:
    """Labels that arrive after the predictions: a file of request_id [, row], LABEL joined
    to the log batches already ingested for this version. Each matched batch gets its labels,
    metrics and alerts recomputed; the batch row is updated (audited), not duplicated."""
    from .. import registry
    keys = ["request_id", "row"] if "row" in labels.columns else ["request_id"]
    lab = labels[keys + [label]].dropna(subset=[label]).copy()
    lab["request_id"] = lab["request_id"].astype(str)
    if lab.duplicated(keys).any():
        raise LabliftError(f"{path}: {', '.join(keys)} repeats; each logged row can have one "
                           f"label (add a 'row' column for requests that scored several rows)")
    rows = store.rows(monitor_sql.BATCHES_OF, version_id=version["id"])
    logs = [r for r in rows if ((r.get("result") or {}).get("source") or {}).get("format")
            == "log"]
    reference = Reference(store, version) if logs else None
    gates = _model_gates(store, version["model"])
    updates = []
    for r in logs:
        frame = load_batch_frame(store, r)
        if "request_id" not in frame.columns or any(k not in frame.columns for k in keys):
            continue
        frame = frame.drop(columns=[c for c in (label, "__prediction") if c in frame.columns])
        frame["request_id"] = frame["request_id"].astype(str)
        merged = frame.merge(lab, on=keys, how="left")
        matched = int(merged[label].notna().sum())
        if not matched:
            continue
        # the request figures (with the failed requests, not stored as rows) stay as measured
        res = analyse(reference, merged, label, cfg, tests, [], gates,
                      ops=(r.get("result") or {}).get("ops"))
        stored = merged.copy()
        if res["y_pred"] is not None:
            stored["__prediction"] = np.asarray(res["y_pred"])
        sha = store.artifacts.put_writer(lambda f, t=stored: _write_parquet(t, f))
        res["shadow"] = summarise_shadow(merged, reference.task, reference.classes, label)
        updates.append((r, res, sha, matched))
    if not updates:
        raise LabliftError(f"{path}: none of its request ids match a prediction log ingested "
                           f"for {version['ref']} (ingest the serve.py --log file first)")
    now = utcnow()
    out = []
    with store.transaction():
        for r, res, sha, matched in updates:
            result = dict(r["result"] or {})
            result.update({"metrics": res["metrics"], "quality": res["quality"],
                           "alerts": res["alerts"], "shadow": res["shadow"],
                           "labels": {"path": str(path), "sha256": source_sha,
                                      "matched_rows": matched, "keys": keys}})
            monitor_sql.SET_LABELS.execute(store.conn, store.engine, {
                "id": r["id"], "artifact": sha, "label_column": label,
                "result": encode(_jsonable(result))})
            audit.append(store, "monitor.labels", f"batch:{r['id']}", {
                "version": version["ref"], "source": str(path), "sha256": source_sha,
                "matched_rows": matched, "alerts": [a["kind"] for a in res["alerts"]]})
            new_alerts = [a for a in res["alerts"] if a["kind"] == "metric"]
            for a in new_alerts:
                monitor_sql.INSERT_ALERT.execute(store.conn, store.engine, {
                    "version_id": version["id"], "batch_id": r["id"], "kind": a["kind"],
                    "message": a["message"], "created_at": now})
            if new_alerts:
                registry.mark_attention(store, version["id"], (
                    f"batch {r['id']}: " + "; ".join(a["message"] for a in new_alerts))[:1000])
            out.append(batch_view(store.row(monitor_sql.BATCH_BY_ID, id=r["id"]), version))
    return out
