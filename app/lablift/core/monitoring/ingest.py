"""Ingesting a file for a model version: read, check, split into windows, measure each
against the reference, and record one `batches` row per window in one transaction with its
alerts and audit entries. Alerts mark the version "attention needed".

The batch is scored with the version's exact ONNX form when it has one (scorer.py: made at
the first ingest, kept as an artifact; result["scorer"] says which scorer scored and why),
so a later ingest imports neither scikit-learn nor scipy.stats."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import audit, drift
from ..artifacts import sha256_file
from ..errors import Cancelled, LabliftError
from ..store import Store, encode, utcnow
from ..store.sql import inserted_id, repository
from .analysis import _model_gates, analyse
from .batch_files import ERROR_MARK, read_batch, require_inputs
from .batches import _write_parquet, batch_view
from .labels import attach_labels
from .ops import _ops
from .reference import Reference
from .schema import _finding
from .scorer import wanted as wanted_scorer
from .settings import settings
from .shadow import summarise as summarise_shadow
from .values import _jsonable
from .windows import parse_window, split_windows

monitor_sql = repository("monitoring")  # statements: core/store/monitoring.py

Progress = Callable[[float, str], None]
IsCancelled = Callable[[], bool]


def ingest(store: Store, ref: str | int, path: str | os.PathLike, label: str | None = None,
           timestamp: str | None = None, window: str | int | None = None,
           tests: dict[str, str] | None = None, progress: Progress | None = None,
           cancelled: IsCancelled | None = None, scorer: str | None = None) -> dict[str, Any]:
    """Ingest one file for model version `ref`. Returns the batch (dict), or, when the file
    is split into windows, {"batches": [batch, ...], "windows": n}. `scorer`: auto, onnx or
    pickle (default: LABLIFT_SCORER, else auto; see scorer.py)."""
    batches = ingest_batches(store, ref, path, label=label, timestamp=timestamp, window=window,
                             tests=tests, progress=progress, cancelled=cancelled,
                             scorer=scorer)
    if len(batches) == 1 and window is None:
        return batches[0]
    return {"batches": batches, "windows": len(batches)}


def ingest_batches(store: Store, ref: str | int, path: str | os.PathLike,
                   label: str | None = None, timestamp: str | None = None,
                   window: str | int | None = None, tests: dict[str, str] | None = None,
                   progress: Progress | None = None,
                   cancelled: IsCancelled | None = None,
                   scorer: str | None = None) -> list[dict[str, Any]]:
    from .. import registry
    store.require_role("ingesting monitoring batches", "ops", "analyst")

    def step(fraction: float, message: str) -> None:
        if cancelled is not None and cancelled():
            raise Cancelled(f"ingest of {path} cancelled")
        if progress is not None:
            progress(fraction, message)

    version = registry.resolve_version(store, ref)
    cfg = settings(store)
    tests = {**(cfg.get("tests") or {}), **(tests or {})}
    for col, t in tests.items():
        if t not in drift.TESTS:
            raise LabliftError(f"drift test {t!r} for column {col!r} is unknown; choose one "
                               f"of {', '.join(drift.TESTS)}")
    window = parse_window(window)
    step(0.05, f"Reading {Path(path).name}")
    frame, info = read_batch(path)
    findings: list[dict] = []
    if info["bad_lines"]:
        bad = info["bad_lines"]
        findings.append(_finding("bad_lines", None, "warning",
                                 f"{len(bad)} log lines are not JSON objects (lines "
                                 f"{', '.join(map(str, bad[:10]))}{', ...' if len(bad) > 10 else ''})",
                                 rows=len(bad)))
    if info["format"] == "log" and timestamp is None and window in ("day", "week") \
            and "timestamp" in frame.columns:
        timestamp = "timestamp"
    if timestamp and timestamp not in frame.columns:
        raise LabliftError(f"{path}: timestamp column {timestamp!r} not found (columns: "
                           f"{', '.join(map(str, frame.columns[:30]))})")
    if timestamp and window is None:
        window = "day"
    if info.get("error_lines") and timestamp and timestamp != "timestamp" \
            and "timestamp" in frame.columns:  # error lines have no inputs: use their own time
        err = frame[ERROR_MARK].to_numpy()
        frame.loc[err, timestamp] = frame.loc[err, "timestamp"]
    if label and label not in frame.columns:
        raise LabliftError(f"{path}: label column {label!r} not found (columns: "
                           f"{', '.join(map(str, frame.columns[:30]))})")
    for col in tests:
        if col not in frame.columns:
            raise LabliftError(f"drift test set for column {col!r}, which is not in {path}")
    source_sha = info.get("sha256") or sha256_file(path)  # a log is hashed on its own
    if (label and info["format"] != "log" and "request_id" in frame.columns
            and not any(c in frame.columns for c in _used_features(store, version))):
        step(0.2, "Joining labels to logged requests")
        return attach_labels(store, version, frame, label, path, source_sha, cfg, tests)
    require_inputs(frame, info, _used_features(store, version), path)
    for prior in store.rows(monitor_sql.SAME_SOURCE, version_id=version["id"], sha256=source_sha):
        same = ((prior["label_column"] or "") == (label or "")
                and (prior["timestamp_column"] or "") == (timestamp or "")
                and ((prior["result"] or {}).get("source") or {}).get("window_spec")
                == (None if window is None else str(window)))
        if same:
            raise LabliftError(f"{path} was already ingested for {version['ref']} as batch "
                               f"{prior['id']} (same content, label, timestamp and window)")
    step(0.15, "Loading the reference")
    chosen, why = wanted_scorer(label) if scorer is None else (scorer, f"scorer={scorer}")
    reference = Reference(store, version, scorer=chosen, why=why)
    gates = _model_gates(store, version["model"])
    parts = split_windows(frame, timestamp, window, findings)
    prepared = []
    for i, (wlabel, span, part) in enumerate(parts):
        ops = None
        if ERROR_MARK in part.columns:  # failed requests: counted, but not rows of the batch
            mark = part[ERROR_MARK].to_numpy()
            errors, part = part[mark], part.loc[~mark, info["columns"]]
            ops = _ops(part, errors)
        step(0.2 + 0.6 * i / max(len(parts), 1),
             f"Measuring {wlabel or 'batch'} ({len(part)} rows)")
        res = analyse(reference, part, label, cfg, tests, list(findings), gates, timestamp,
                      ops=ops)
        res["shadow"] = summarise_shadow(part, reference.task, reference.classes, label)
        stored = part.copy()
        if res["y_pred"] is not None:
            stored["__prediction"] = np.asarray(res["y_pred"])
        sha = store.artifacts.put_writer(lambda f, t=stored: _write_parquet(t, f))
        prepared.append((wlabel, span, part, res, sha))
    step(0.9, "Recording batches")
    summary_sha = reference.summary_sha
    if reference.summary_bytes is not None:  # the version's first ingest (or a stale summary)
        if reference.onnx_bytes is not None:  # its exact ONNX form, named by the summary
            onnx_sha = store.artifacts.put_bytes(reference.onnx_bytes)
            if onnx_sha != reference.scorer["artifact"]:
                raise LabliftError(f"the ONNX form of {version['ref']} was stored as "
                                   f"{onnx_sha[:12]}, not as its check says")
        summary_sha = store.artifacts.put_bytes(reference.summary_bytes)
    now = utcnow()
    out = []
    with store.transaction():
        for wlabel, span, part, res, sha in prepared:
            d = res["drift"]
            result = {
                "source": {"path": str(path), "format": info["format"], "sha256": source_sha,
                           "window_spec": None if window is None else str(window)},
                "window": {"label": wlabel, **span},
                "drift": d, "prediction_drift": res["prediction_drift"],
                "quality": res["quality"], "metrics": res["metrics"],
                "holdout": res["holdout"], "ops": res["ops"], "alerts": res["alerts"],
                "shadow": res["shadow"],  # champion vs challenger of a --shadow log
                "settings": {k: cfg[k] for k in ("p_threshold", "distance_threshold",
                                                 "drift_share")},
                "reference_rows": reference.n_rows,
                "reference": {"artifact": summary_sha},  # its summary (reference.py)
                "scorer": reference.scorer,  # onnx or pickle, and why (scorer.py)
            }
            result = _jsonable(result)
            bid = inserted_id(monitor_sql.INSERT_BATCH.execute(store.conn, store.engine, {
                "version_id": version["id"], "source_path": str(path), "sha256": source_sha,
                "artifact": sha, "rows": int(len(part)), "window": wlabel,
                "label_column": label, "timestamp_column": timestamp,
                "drift_share": d["drift_share"], "dataset_drift": int(d["dataset_drift"]),
                "result": encode(result), "created_at": now, "created_by": store.user}),
                store.engine)
            audit.append(store, "monitor.ingest", f"batch:{bid}", {
                "version": version["ref"], "source": str(path), "sha256": source_sha,
                "window": wlabel, "rows": int(len(part)), "drift_share": d["drift_share"],
                "dataset_drift": d["dataset_drift"],
                "alerts": [a["kind"] for a in res["alerts"]], "scorer": reference.scorer["kind"]})
            for a in res["alerts"]:
                monitor_sql.INSERT_ALERT.execute(store.conn, store.engine, {
                    "version_id": version["id"], "batch_id": bid, "kind": a["kind"],
                    "message": a["message"], "created_at": now})
            if res["alerts"]:
                message = (f"batch {bid}" + (f" ({wlabel})" if wlabel else "") + ": "
                           + "; ".join(a["message"] for a in res["alerts"]))
                registry.mark_attention(store, version["id"], message[:1000])
            out.append(batch_view(store.row(monitor_sql.BATCH_BY_ID, id=bid), version))
    step(1.0, f"Ingested {len(out)} batch{'es' if len(out) != 1 else ''}")
    return out


def _used_features(store: Store, version: dict[str, Any]) -> list[str]:
    from ..training import get_run
    return list(get_run(store, version["run_id"])["spec"]["features"])
