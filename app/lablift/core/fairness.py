"""Group fairness metrics: per-group rates and the disparity summaries reviewers know.

Definitions follow Fairlearn (`MetricFrame`, `demographic_parity_difference`,
`demographic_parity_ratio`, `equalized_odds_difference`, all with method='between_groups'):

- selection rate = share of rows predicted positive;
- TPR / FPR as Fairlearn computes them (sklearn confusion matrix normalised by true class):
  a group with no positive (negative) labels gets TPR (FPR) 0, not undefined;
- precision with zero_division=0; a group with no predicted positives gets 0;
- demographic parity difference = max - min of group selection rates,
  ratio = min / max (undefined when every group's rate is 0);
- equalized odds difference = the larger of the TPR and FPR differences (Fairlearn's
  default agg='worst_case').

Written with numpy bincounts rather than by calling Fairlearn: one pass over the data instead
of one sklearn call per group and metric, and no Fairlearn dependency at run time.
tests/test_fairness.py checks the numbers equal Fairlearn's.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

FOUR_FIFTHS = 0.8
FOUR_FIFTHS_NOTE = (
    "The four-fifths rule (a group's selection rate below 80% of the highest group's) is a "
    "screening heuristic from US employment practice (EEOC Uniform Guidelines); it flags a "
    "disparity worth examining, it is not proof of fairness or of unfairness.")
MISSING_GROUP = "(missing)"
SMALL_GROUP = 30

# Summary metrics a gate may name, per task; "higher" says which direction is better.
CLASSIFICATION_SUMMARY = {
    "demographic_parity_difference": "lower",
    "demographic_parity_ratio": "higher",
    "equalized_odds_difference": "lower",
}
REGRESSION_SUMMARY = {
    "mae_difference": "lower",
    "mae_ratio": "higher",
    "rmse_difference": "lower",
    "rmse_ratio": "higher",
}
SUMMARY_METRICS = {**CLASSIFICATION_SUMMARY, **REGRESSION_SUMMARY}


def _num(x: Any) -> float | None:
    """JSON-safe float: NaN/inf become None (undefined)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def group_codes(sensitive: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    """Integer code per row and the sorted group labels (missing values form their own group)."""
    s = pd.Series(np.asarray(sensitive, dtype=object))
    labels = s.astype(str)  # group labels are text (1 and "1" are one group)
    labels[s.isna().to_numpy()] = MISSING_GROUP
    codes, uniques = pd.factorize(labels, sort=True)
    return codes.astype(np.int64), [str(u) for u in uniques]


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    # Fairlearn (via sklearn's normalised confusion matrix / zero_division=0) reports 0
    # where the denominator is 0; we do the same so the numbers match.
    out = np.zeros_like(num, dtype=float)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _disparity(values: np.ndarray) -> tuple[float | None, float | None]:
    """(max - min, min / max) over groups, as MetricFrame.difference()/ratio()."""
    if len(values) == 0:
        return None, None
    hi, lo = float(np.max(values)), float(np.min(values))
    return _num(hi - lo), (_num(lo / hi) if hi != 0 else None)


def _is(values: Sequence[Any], label: Any) -> np.ndarray:
    arr = np.asarray(values)
    out = arr == label  # native comparison: fast for numeric and string arrays
    if not isinstance(out, np.ndarray) or out.shape != arr.shape:
        out = np.asarray(values, dtype=object) == label
    return out.astype(bool)


def binary_rates(y_true: Sequence[Any], y_pred: Sequence[Any], sensitive: Sequence[Any],
                 pos_label: Any = 1) -> dict[str, Any]:
    """Per-group counts and rates for one positive label, plus the parity summaries."""
    yt = _is(y_true, pos_label)
    yp = _is(y_pred, pos_label)
    codes, labels = group_codes(sensitive)
    k = len(labels)
    n = np.bincount(codes, minlength=k).astype(float)
    pos = np.bincount(codes, weights=yt, minlength=k)
    neg = n - pos
    pred_pos = np.bincount(codes, weights=yp, minlength=k)
    tp = np.bincount(codes, weights=yt & yp, minlength=k)
    fp = np.bincount(codes, weights=~yt & yp, minlength=k)
    correct = np.bincount(codes, weights=yt == yp, minlength=k)
    sel = _safe_div(pred_pos, n)
    tpr = _safe_div(tp, pos)
    fpr = _safe_div(fp, neg)
    prec = _safe_div(tp, pred_pos)
    acc = _safe_div(correct, n)
    groups = [{"group": labels[i], "count": int(n[i]), "positives": int(pos[i]),
               "predicted_positive": int(pred_pos[i]), "selection_rate": float(sel[i]),
               "tpr": float(tpr[i]), "fpr": float(fpr[i]), "precision": float(prec[i]),
               "accuracy": float(acc[i])} for i in range(k)]
    dp_diff, dp_ratio = _disparity(sel)
    tpr_diff, _ = _disparity(tpr)
    fpr_diff, _ = _disparity(fpr)
    eo = None if tpr_diff is None else max(tpr_diff, fpr_diff)
    total = len(yt)
    overall = {"count": total, "positives": int(yt.sum()), "predicted_positive": int(yp.sum()),
               "selection_rate": _num(yp.mean()) if total else None,
               "tpr": _num(float((yt & yp).sum()) / yt.sum()) if yt.sum() else 0.0,
               "fpr": _num(float((~yt & yp).sum()) / (~yt).sum()) if (~yt).sum() else 0.0,
               "precision": _num(float((yt & yp).sum()) / yp.sum()) if yp.sum() else 0.0,
               "accuracy": _num((yt == yp).mean()) if total else None}
    return {"pos_label": pos_label, "groups": groups, "overall": overall,
            "demographic_parity_difference": dp_diff, "demographic_parity_ratio": dp_ratio,
            "equalized_odds_difference": eo, "tpr_difference": tpr_diff,
            "fpr_difference": fpr_diff}


def demographic_parity_difference(y_true, y_pred, sensitive, pos_label: Any = 1) -> float | None:
    return binary_rates(y_true, y_pred, sensitive, pos_label)["demographic_parity_difference"]


def demographic_parity_ratio(y_true, y_pred, sensitive, pos_label: Any = 1) -> float | None:
    return binary_rates(y_true, y_pred, sensitive, pos_label)["demographic_parity_ratio"]


def equalized_odds_difference(y_true, y_pred, sensitive, pos_label: Any = 1) -> float | None:
    return binary_rates(y_true, y_pred, sensitive, pos_label)["equalized_odds_difference"]


def four_fifths(ratio: float | None, threshold: float = FOUR_FIFTHS) -> dict[str, Any]:
    return {"ratio": ratio, "threshold": threshold,
            "flagged": ratio is not None and ratio < threshold, "note": FOUR_FIFTHS_NOTE}


def default_pos_label(classes: Sequence[Any] | None, y_true: Sequence[Any],
                      y_pred: Sequence[Any]) -> Any:
    """sklearn's convention for binary problems: the larger of the two sorted classes."""
    if classes:
        return list(classes)[-1]
    values = pd.unique(pd.Series(list(y_true) + list(y_pred), dtype=object).dropna())
    try:
        return sorted(values)[-1]
    except TypeError:
        return sorted(values, key=str)[-1]


def classification_report(y_true: Sequence[Any], y_pred: Sequence[Any],
                          sensitive: Sequence[Any], classes: Sequence[Any] | None = None,
                          pos_label: Any = None,
                          four_fifths_threshold: float = FOUR_FIFTHS) -> dict[str, Any]:
    """Fairness report for a classifier.

    Binary: rates for the positive label (`pos_label`, default the larger class).
    Multiclass: each class one-vs-rest; the summaries are the worst over classes.
    """
    y_true, y_pred = list(y_true), list(y_pred)
    classes = list(classes) if classes else sorted(
        pd.unique(pd.Series(y_true + y_pred, dtype=object).dropna()), key=str)
    notes: list[str] = []
    if len(classes) <= 2:
        pos = pos_label if pos_label is not None else default_pos_label(classes, y_true, y_pred)
        rates = binary_rates(y_true, y_pred, sensitive, pos)
        report = {"task": "classification", "mode": "binary", **rates}
        for g in rates["groups"]:
            if g["positives"] == 0:
                notes.append(f"group {g['group']!r} has no rows labelled {pos!r}: its TPR is "
                             f"reported as 0, as Fairlearn does")
            if g["positives"] == g["count"]:
                notes.append(f"group {g['group']!r} has no rows labelled other than {pos!r}: "
                             f"its FPR is reported as 0, as Fairlearn does")
    else:
        per_class = {}
        for c in classes:
            per_class[str(c)] = binary_rates(y_true, y_pred, sensitive, c)
        worst_dp = _worst([r["demographic_parity_difference"] for r in per_class.values()], max)
        worst_ratio = _worst([r["demographic_parity_ratio"] for r in per_class.values()], min)
        worst_eo = _worst([r["equalized_odds_difference"] for r in per_class.values()], max)
        first = next(iter(per_class.values()))
        groups = [{"group": g["group"], "count": g["count"],
                   "accuracy": g["accuracy"],
                   "selection_rate": {k: r["groups"][i]["selection_rate"]
                                      for k, r in per_class.items()},
                   "tpr": {k: r["groups"][i]["tpr"] for k, r in per_class.items()},
                   "fpr": {k: r["groups"][i]["fpr"] for k, r in per_class.items()},
                   "precision": {k: r["groups"][i]["precision"] for k, r in per_class.items()}}
                  for i, g in enumerate(first["groups"])]
        report = {"task": "classification", "mode": "multiclass (one-vs-rest, worst class)",
                  "groups": groups, "per_class": per_class,
                  "overall": {"count": len(y_true), "accuracy": _num(np.mean(
                      np.asarray(y_true, dtype=object) == np.asarray(y_pred, dtype=object)))
                      if y_true else None},
                  "demographic_parity_difference": worst_dp,
                  "demographic_parity_ratio": worst_ratio,
                  "equalized_odds_difference": worst_eo}
    if report["demographic_parity_ratio"] is None:
        notes.append("demographic parity ratio is undefined: no group has any positive "
                     "prediction")
    report["four_fifths"] = four_fifths(report["demographic_parity_ratio"], four_fifths_threshold)
    notes += _small_group_notes(report["groups"])
    report["notes"] = notes
    return report


def _worst(values: list[float | None], pick) -> float | None:
    vals = [v for v in values if v is not None]
    return pick(vals) if vals else None


def _small_group_notes(groups: list[dict[str, Any]]) -> list[str]:
    small = [f"{g['group']} ({g['count']})" for g in groups if g["count"] < SMALL_GROUP]
    if not small:
        return []
    return [f"small groups give noisy rates (fewer than {SMALL_GROUP} rows): {', '.join(small)}"]


def regression_report(y_true: Sequence[Any], y_pred: Sequence[Any],
                      sensitive: Sequence[Any]) -> dict[str, Any]:
    """Per-group error of a regressor: MAE, RMSE, mean error (bias); MAE/RMSE disparities."""
    yt = np.asarray(y_true, dtype=float)
    yp = np.asarray(y_pred, dtype=float)
    codes, labels = group_codes(sensitive)
    k = len(labels)
    n = np.bincount(codes, minlength=k).astype(float)
    err = yp - yt
    mae = _safe_div(np.bincount(codes, weights=np.abs(err), minlength=k), n)
    rmse = np.sqrt(_safe_div(np.bincount(codes, weights=err ** 2, minlength=k), n))
    bias = _safe_div(np.bincount(codes, weights=err, minlength=k), n)
    mean_true = _safe_div(np.bincount(codes, weights=yt, minlength=k), n)
    mean_pred = _safe_div(np.bincount(codes, weights=yp, minlength=k), n)
    groups = [{"group": labels[i], "count": int(n[i]), "mean_true": float(mean_true[i]),
               "mean_pred": float(mean_pred[i]), "mae": float(mae[i]), "rmse": float(rmse[i]),
               "mean_error": float(bias[i])} for i in range(k)]
    mae_diff, mae_ratio = _disparity(mae)
    rmse_diff, rmse_ratio = _disparity(rmse)
    overall = {"count": int(len(yt)),
               "mae": _num(np.mean(np.abs(err))) if len(yt) else None,
               "rmse": _num(np.sqrt(np.mean(err ** 2))) if len(yt) else None,
               "mean_error": _num(np.mean(err)) if len(yt) else None}
    return {"task": "regression", "groups": groups, "overall": overall,
            "mae_difference": mae_diff, "mae_ratio": mae_ratio,
            "rmse_difference": rmse_diff, "rmse_ratio": rmse_ratio,
            "notes": ["error ratios are min/max over groups (1 = equal error); a positive "
                      "mean error means the model over-predicts for that group"]
            + _small_group_notes(groups)}


def report(task: str, y_true: Sequence[Any], y_pred: Sequence[Any], sensitive: Sequence[Any],
           classes: Sequence[Any] | None = None,
           four_fifths_threshold: float = FOUR_FIFTHS) -> dict[str, Any]:
    if task == "regression":
        return regression_report(y_true, y_pred, sensitive)
    return classification_report(y_true, y_pred, sensitive, classes=classes,
                                 four_fifths_threshold=four_fifths_threshold)
