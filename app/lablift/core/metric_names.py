"""Which metrics a task reports and which one ranks its runs: names only, without numpy, so
that listings (`lablift run list`, the registry) rank runs without importing the numeric
stack. core/evaluation.py computes the metrics and re-exports these names."""

from __future__ import annotations

from typing import Any

CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1",
                          "roc_auc", "log_loss")
REGRESSION_METRICS = ("r2", "mae", "rmse", "mape")
PRIMARY = {"classification": "roc_auc", "regression": "r2"}
FALLBACK_PRIMARY = {"classification": "accuracy", "regression": "r2"}
LOWER_IS_BETTER = {"log_loss", "mae", "rmse", "mape"}


def metric_names(task: str) -> tuple[str, ...]:
    return CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS


def primary_metric(task: str, metrics: dict[str, Any]) -> tuple[str, float | None, str]:
    """(metric name, value, source 'cv'|'holdout') used to rank runs of a sweep."""
    for name in (PRIMARY[task], FALLBACK_PRIMARY[task]):
        cv = (metrics.get("cv") or {}).get(name) or {}
        if cv.get("mean") is not None:
            return name, cv["mean"], "cv"
        hold = (metrics.get("holdout") or {}).get(name)
        if hold is not None:
            return name, hold, "holdout"
    return PRIMARY[task], None, "holdout"
