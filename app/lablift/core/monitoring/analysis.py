"""Measuring one window against the reference (no store writes): drift per feature and on
the prediction, metrics when labels are present, serving figures, and the alerts they raise
against the model's gates and the holdout."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import drift
from ..store import Store
from .batch_files import LOG_FIELDS
from .ops import _ops, _ops_alerts
from .reference import Reference
from .schema import _align_categorical, _finding, check_schema


LOWER_IS_BETTER = {"log_loss", "mae", "rmse", "mape"}


def _metrics(ref: Reference, y_true: pd.Series, y_pred, proba, findings: list) -> dict | None:
    from ..evaluation import compute_metrics
    mask = y_true.notna().to_numpy().copy()
    if ref.task == "classification" and ref.classes is not None:
        known = {str(c) for c in ref.classes}
        as_text = y_true.astype(str)
        unknown = mask & ~as_text.isin(known).to_numpy()
        if unknown.any():
            findings.append(_finding("unknown_label", None, "warning",
                                     f"{int(unknown.sum())} labels are not classes of the model "
                                     f"({', '.join(map(str, ref.classes))}); they are left out "
                                     f"of the metrics", rows=int(unknown.sum())))
        mask &= ~unknown
        # labels read as text (e.g. '1') are mapped to the model's class values
        lookup = {str(c): c for c in ref.classes}
        y = as_text[mask].map(lookup)
    else:
        y = pd.to_numeric(y_true[mask], errors="coerce")
        mask_num = y.notna().to_numpy()
        y = y[mask_num]
        idx = np.flatnonzero(mask)[mask_num]
        mask = np.zeros(len(y_true), dtype=bool)
        mask[idx] = True
    if mask.sum() == 0:
        return None
    pred = np.asarray(y_pred)[mask]
    pr = proba[mask] if proba is not None else None
    values = compute_metrics(ref.task, y.to_numpy(), pred, pr, ref.classes)
    return {"rows": int(mask.sum()), "values": values}


def _metric_alerts(ref: Reference, metrics: dict[str, float | None], gates: list[dict],
                   cfg: dict) -> list[str]:
    problems = []
    gated = set()
    for g in gates:
        if "op" not in g or "threshold" not in g:
            continue  # "no worse than production" gates need production's scores: skipped
        name = g["metric"][3:] if g["metric"].startswith("cv.") else g["metric"]
        value = metrics.get(name)
        if value is None:
            continue
        gated.add(name)
        ok = value >= g["threshold"] if g["op"] == ">=" else value <= g["threshold"]
        if not ok:
            problems.append(f"{name} {value:.4g} fails gate {g['op']} {g['threshold']:g}")
    tol = float(cfg["metric_tolerance"])
    for name in cfg["alert_metrics"]:
        if name in gated:
            continue
        value, base = metrics.get(name), ref.holdout.get(name)
        if value is None or base is None:
            continue
        if name in LOWER_IS_BETTER:
            if value > base * (1 + tol):
                problems.append(f"{name} {value:.4g} is more than {tol:.0%} above the holdout "
                                f"{base:.4g}")
        elif value < base - tol:
            problems.append(f"{name} {value:.4g} is more than {tol:g} below the holdout "
                            f"{base:.4g}")
    return problems


def _model_gates(store: Store, model: str) -> list[dict]:
    from .. import registry
    gates = registry.get_gates(store, model)
    if not gates:
        gates = list(store.setting("registry.default_gates", []) or [])
    return [g for g in gates if isinstance(g, dict)]


def analyse(ref: Reference, part: pd.DataFrame, label: str | None, cfg: dict,
            tests: dict[str, str], findings: list, gates: list[dict],
            timestamp: str | None = None, ops: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything measured on one window (no store writes). `ops`: request figures measured
    already (with the window's error lines); by default they come from `part`."""
    ops = _ops(part) if ops is None else ops
    if part.empty:  # only failed requests in this window: nothing to measure drift on
        failed = (ops or {}).get("error_lines") or 0
        return {"drift": drift.summarize([], float(cfg["drift_share"]), list(ref.features)),
                "prediction_drift": None, "metrics": None, "holdout": ref.holdout, "ops": ops,
                "quality": findings + [_finding(
                    "no_rows", None, "warning",
                    f"no scored rows: all {failed} logged requests failed, so there is "
                    f"nothing to measure drift, predictions or metrics on", rows=0)],
                "alerts": _ops_alerts(ops, cfg), "aligned": part, "y_pred": None}
    extra = {c for c in (label, timestamp) if c} | set(LOG_FIELDS)
    aligned, schema_findings, skip = check_schema(ref, part, extra,
                                                  float(cfg["missing_rate_tolerance"]))
    findings = findings + schema_findings
    cols = [c for c in ref.features if c not in skip and ref.used(c)]
    not_used = [c for c in ref.features if not ref.used(c)]
    kinds = {c: ref.kind(c) for c in cols}
    result = drift.dataset_drift(ref.drift_columns, aligned, columns=cols, kinds=kinds,
                                 tests={c: t for c, t in tests.items() if c in cols},
                                 p_threshold=float(cfg["p_threshold"]),
                                 distance_threshold=float(cfg["distance_threshold"]),
                                 share_threshold=float(cfg["drift_share"]), histograms=True)
    result["skipped"] = skip + [c for c in not_used if c not in skip]
    # predictions where every used input is present; unused inputs may be absent
    missing_used = [c for c in skip if ref.used(c)]
    y_pred = proba = None
    if not missing_used and len(aligned):
        X = aligned.copy()
        for c in ref.features:
            if c not in X.columns or c in skip:
                X[c] = ref.empty(c).reindex(range(len(X))).to_numpy()
        X.index = part.index
        try:
            y_pred, proba = ref.predict(X)
        except Exception as exc:  # the model refuses these rows: a finding, not a crash
            findings.append(_finding("prediction", None, "error",
                                     f"the model could not score the batch: "
                                     f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"))
    elif missing_used:
        findings.append(_finding("prediction", None, "error",
                                 f"no predictions: input columns missing "
                                 f"({', '.join(missing_used)})"))
    pred_kind = "categorical" if ref.task == "classification" else "numeric"
    prediction_drift = None
    current_pred = y_pred
    source = "model"
    if current_pred is None and "prediction" in part.columns:
        current_pred, source = part["prediction"].to_numpy(), "log"
    if current_pred is not None and len(current_pred):
        rp = pd.Series(ref.predictions)
        cp = pd.Series(current_pred)
        if pred_kind == "categorical" and ref.classes is not None:
            cp = _align_categorical(cp, rp)
        prediction_drift = drift.column_drift(
            "prediction", rp, cp, kind=pred_kind, p_threshold=float(cfg["p_threshold"]),
            distance_threshold=float(cfg["distance_threshold"]), histogram=True)
        prediction_drift["source"] = source
    metrics = None
    if label:
        if label not in part.columns:
            findings.append(_finding("missing_column", label, "error",
                                     f"label column {label!r} is not in the batch"))
        elif y_pred is None:
            findings.append(_finding("metrics", label, "warning",
                                     "labels present but the model could not score the batch, "
                                     "so no metrics"))
        else:
            metrics = _metrics(ref, part[label], y_pred, proba, findings)
    alerts: list[dict[str, str]] = []
    if result["dataset_drift"]:
        names = [c["name"] for c in result["columns"] if c["drifted"]]
        alerts.append({"kind": "drift", "message": (
            f"dataset drift: {len(names)} of {result['n_columns']} features drifted "
            f"(share {result['drift_share']:.2f} >= {result['share_threshold']:g}): "
            f"{', '.join(names)}")})
    if metrics:
        problems = _metric_alerts(ref, metrics["values"], gates, cfg)
        if problems:
            alerts.append({"kind": "metric", "message": "performance: " + "; ".join(problems)})
    alerts += _ops_alerts(ops, cfg)
    if missing_used:
        alerts.append({"kind": "quality", "message": (
            f"input columns missing from the batch: {', '.join(missing_used)}")})
    return {"drift": result, "prediction_drift": prediction_drift, "quality": findings,
            "metrics": metrics, "holdout": ref.holdout, "ops": ops, "alerts": alerts,
            "aligned": aligned, "y_pred": y_pred}
