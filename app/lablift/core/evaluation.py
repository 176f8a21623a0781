"""Metrics and plot data (confusion matrix, ROC/PR curves, residuals, permutation importance).

Everything here is scikit-learn; the plot data is plain JSON so the GUI, model cards and
reports draw it without recomputing. Curves and importance use at most MAX_POINTS rows so a
run's evaluation stays a small fraction of its fit.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np

# The names live in metric_names.py (no numpy, for listings); evaluation.X stays the API.
from .metric_names import (CLASSIFICATION_METRICS, FALLBACK_PRIMARY,  # noqa: F401
                           LOWER_IS_BETTER, PRIMARY, REGRESSION_METRICS, metric_names,
                           primary_metric)

MAX_POINTS = 2000
MAX_CURVE_POINTS = 200
IMPORTANCE_REPEATS = 3


def _clean(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _codes(values, classes: list) -> np.ndarray:
    import pandas as pd
    return pd.Index(classes).get_indexer(np.asarray(values)).astype(np.int64)  # -1: unseen


def binary_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC by the rank-sum (Mann-Whitney) identity; equals sklearn's roc_auc_score, ties too."""
    from scipy.stats import rankdata
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_metrics(y_true, y_pred, proba: np.ndarray | None,
                           classes: Sequence) -> dict[str, float | None]:
    """Binary: positive class = classes[1]; multiclass: macro averages, ROC AUC one-vs-rest.

    Computed from one confusion matrix (and the rank-sum AUC) instead of seven sklearn metric
    calls: their input checks cost more than fitting a small model, and sweeps evaluate every
    fold. Same definitions and zero_division=0 as sklearn; tests/test_training.py compares
    every metric with sklearn's on binary and multiclass data.
    """
    classes = list(classes)
    t, p = _codes(y_true, classes), _codes(y_pred, classes)
    if (t < 0).any() or (p < 0).any():  # labels the model never saw (monitoring batches)
        import pandas as pd
        extra = pd.unique(np.concatenate([np.asarray(y_true)[t < 0], np.asarray(y_pred)[p < 0]]))
        classes = classes + [v for v in extra if v not in classes]
        t, p = _codes(y_true, classes), _codes(y_pred, classes)
        if proba is not None:
            proba = np.hstack([np.asarray(proba, dtype=float),
                               np.zeros((len(t), len(classes) - proba.shape[1]))])
    k = len(classes)
    n = len(t)
    cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(float)
    tp, support, predicted = np.diag(cm), cm.sum(axis=1), cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, tp / support, 0.0)
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        denom = support + predicted
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    out: dict[str, float | None] = {"accuracy": float(tp.sum() / n) if n else None,
                                    "balanced_accuracy": float(recall[support > 0].mean())}
    if k == 2:
        out["precision"], out["recall"], out["f1"] = precision[1], recall[1], f1[1]
    else:  # macro over the labels present in y_true or y_pred, as sklearn
        seen = denom > 0
        out["precision"], out["recall"], out["f1"] = (precision[seen].mean(),
                                                      recall[seen].mean(), f1[seen].mean())
    out["roc_auc"] = out["log_loss"] = None
    if proba is not None and n and (support > 0).sum() > 1:
        proba = np.asarray(proba, dtype=float)
        if k == 2:
            out["roc_auc"] = binary_auc(t == 1, proba[:, 1])
        else:
            aucs = [binary_auc(t == i, proba[:, i]) for i in range(k)]
            out["roc_auc"] = None if any(a is None for a in aucs) else float(np.mean(aucs))
        eps = np.finfo(float).eps
        out["log_loss"] = float(-np.mean(np.log(np.clip(proba[np.arange(n), t], eps, 1 - eps))))
    return {key: (_clean(v) if v is not None else None) for key, v in out.items()}


def regression_metrics(y_true, y_pred) -> dict[str, float | None]:
    from sklearn import metrics as m
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    out = {"r2": m.r2_score(y_true, y_pred) if len(y_true) > 1 else float("nan"),
           "mae": m.mean_absolute_error(y_true, y_pred),
           "rmse": math.sqrt(m.mean_squared_error(y_true, y_pred)),
           # MAPE is undefined when a true value is zero
           "mape": m.mean_absolute_percentage_error(y_true, y_pred)
           if np.all(y_true != 0) else float("nan")}
    return {k: _clean(v) for k, v in out.items()}


def compute_metrics(task: str, y_true, y_pred, proba=None, classes=None) -> dict[str, Any]:
    if task == "classification":
        return classification_metrics(y_true, y_pred, proba, classes)
    return regression_metrics(y_true, y_pred)


def summarise_cv(folds: list[dict[str, float | None]]) -> dict[str, dict[str, float | None]]:
    out = {}
    for name in folds[0] if folds else ():
        values = [f[name] for f in folds if f.get(name) is not None]
        out[name] = ({"mean": float(np.mean(values)), "std": float(np.std(values))}
                     if values else {"mean": None, "std": None})
    return out


# -- plot data ---------------------------------------------------------------------------------

def _thin(*arrays: np.ndarray, limit: int = MAX_CURVE_POINTS) -> list[list[float]]:
    n = len(arrays[0])
    idx = np.unique(np.linspace(0, n - 1, min(n, limit)).round().astype(int)) if n else []
    return [[round(float(v), 6) for v in np.asarray(a)[idx]] for a in arrays]


def classification_plots(y_true, y_pred, proba, classes) -> dict[str, Any]:
    from sklearn import metrics as m
    classes = list(classes)
    labels = [_jsonable(c) for c in classes]
    k = len(classes)
    cm = np.bincount(_codes(y_true, classes) * k + _codes(y_pred, classes),
                     minlength=k * k).reshape(k, k)
    plots: dict[str, Any] = {"confusion_matrix": {"labels": labels, "matrix": cm.tolist()}}
    if proba is None:
        return plots
    y_true = np.asarray(y_true)
    per_class = [1] if len(classes) == 2 else range(len(classes))
    roc, pr = [], []
    for i in per_class:
        positive = y_true == classes[i]
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = m.roc_curve(positive, proba[:, i])
        precision, recall, _ = m.precision_recall_curve(positive, proba[:, i])
        f, t = _thin(fpr, tpr)
        r, p = _thin(recall[::-1], precision[::-1])
        roc.append({"class": labels[i], "fpr": f, "tpr": t,
                    "auc": _clean(m.auc(fpr, tpr))})
        pr.append({"class": labels[i], "recall": r, "precision": p,
                   "average_precision": _clean(m.average_precision_score(positive,
                                                                         proba[:, i]))})
    plots["roc"] = roc
    plots["pr"] = pr
    return plots


def regression_plots(y_true, y_pred, seed: int = 0) -> dict[str, Any]:
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    idx = np.arange(len(y_true))
    if len(idx) > MAX_POINTS:
        idx = np.sort(np.random.default_rng(seed).choice(idx, MAX_POINTS, replace=False))
    residual = y_true[idx] - y_pred[idx]
    return {"residuals": {"actual": [round(float(v), 6) for v in y_true[idx]],
                          "predicted": [round(float(v), 6) for v in y_pred[idx]],
                          "residual": [round(float(v), 6) for v in residual]}}


def permutation_importance(pipeline, X, y, task: str, seed: int) -> list[dict[str, Any]]:
    """Permutation importance of the original feature columns on (a sample of) the holdout.

    Same definition as sklearn.inspection.permutation_importance (score drop when one column
    is shuffled, accuracy or R2, IMPORTANCE_REPEATS shuffles), but every shuffled copy is
    scored in ONE predict call: per-call overhead (forests, pipelines) dominated the run's
    evaluation time with sklearn's column-by-column loop.
    """
    if len(X) > MAX_POINTS:
        X = X.sample(MAX_POINTS, random_state=seed)
        y = y.loc[X.index]
    X = X.reset_index(drop=True)
    y_true = np.asarray(y)
    n, cols = len(X), list(X.columns)
    if n == 0:
        return []
    rng = np.random.default_rng(seed)
    blocks = [X]
    for col in cols:
        values = X[col].to_numpy()
        for _ in range(IMPORTANCE_REPEATS):
            block = X.copy()
            block[col] = values[rng.permutation(n)]
            blocks.append(block)
    import pandas as pd
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = np.asarray(pipeline.predict(pd.concat(blocks, ignore_index=True)))
    # per-block accuracy / R2 in one vectorised step (37 sklearn metric calls took longer
    # than the predict); same formulas as accuracy_score and r2_score
    pred = pred.reshape(len(blocks), n)
    if task == "classification":
        scores = (pred == y_true[None, :]).mean(axis=1)
    else:
        yt = y_true.astype(float)
        ss_tot = ((yt - yt.mean()) ** 2).sum()
        ss_res = ((pred.astype(float) - yt[None, :]) ** 2).sum(axis=1)
        scores = 1 - ss_res / ss_tot if ss_tot > 0 else np.zeros(len(blocks))
    drops = (scores[0] - scores[1:]).reshape(len(cols), IMPORTANCE_REPEATS)
    rows = [{"feature": str(col), "mean": _clean(drops[i].mean()) or 0.0,
             "std": _clean(drops[i].std()) or 0.0} for i, col in enumerate(cols)]
    rows.sort(key=lambda r: -r["mean"])
    return rows


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
