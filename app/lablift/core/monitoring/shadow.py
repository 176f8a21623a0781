"""Champion against challenger on live traffic, from a `serve.py serve --shadow` log.

Each scored line of such a log carries, beside the champion's prediction, a "shadow" object:
{"model": "NAME:VERSION", "prediction": ..., "probabilities": {class: p} (classifiers),
"latency_ms": ..., "error": "..." (only when the shadow failed)}. batch_files.read_log keeps
it as columns SHADOW_PREFIX + model / prediction / latency_ms / error / proba_<class> (the
"__" prefix keeps them out of the schema check), and the batch's Parquet rows keep them, so
labels that arrive later (labels.py) recompute the comparison.

summarise() gives, per window:
  agreement      share of rows where both predicted the same value
  probabilities  mean (and max) absolute difference of the class probabilities
  latency_ms     p50/p95 of each, per request (a request's rows share its latency)
  metrics        with labels: the training metrics of both on the labelled rows
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

SHADOW_PREFIX = "__shadow_"
SHADOW_PROBA = SHADOW_PREFIX + "proba_"
CHAMPION_PROBA = "probabilities_"


def shadow_columns(record: dict[str, Any]) -> dict[str, Any]:
    """A log line's "shadow" object as flat columns (batch_files.read_log)."""
    shadow = record.get("shadow")
    if not isinstance(shadow, dict):
        return {}
    out: dict[str, Any] = {}
    for key in ("model", "prediction", "latency_ms", "error"):
        value = shadow.get(key)
        if isinstance(value, (dict, list)):  # a prediction is one value; keep anything else as text
            import json
            value = json.dumps(value)
        out[SHADOW_PREFIX + key] = value
    proba = shadow.get("probabilities")
    if isinstance(proba, dict):
        for cls, p in proba.items():
            out[f"{SHADOW_PROBA}{cls}"] = p if isinstance(p, (int, float)) else None
    return out


def has_shadow(frame: pd.DataFrame) -> bool:
    return SHADOW_PREFIX + "model" in frame.columns or SHADOW_PREFIX + "prediction" in frame.columns


def _same_value(a: Any, b: Any) -> bool:
    """Identical predictions: 1 and 1.0 are the same value, "1" and 1 too (JSON round trip)."""
    if _missing(a) or _missing(b):
        return False
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def _same_values(a: pd.Series, b: pd.Series) -> np.ndarray:
    """_same_value over two columns at once (a Python loop costs ~5 us a row)."""
    x, y = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
    numeric = (x.notna() & y.notna()).to_numpy()
    if numeric.all():
        return (x.to_numpy(dtype=float) == y.to_numpy(dtype=float))
    same = np.zeros(len(a), dtype=bool)
    same[numeric] = x[numeric].to_numpy(dtype=float) == y[numeric].to_numpy(dtype=float)
    rest = ~numeric
    same[rest] = [_same_value(u, v) for u, v in zip(a[rest], b[rest])]
    return same


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _mode(series: pd.Series) -> str | None:
    s = series.dropna().astype(str)
    return None if s.empty else str(s.value_counts().index[0])


def _percentiles(frame: pd.DataFrame, column: str) -> dict[str, float] | None:
    if column not in frame.columns:
        return None
    lat = pd.to_numeric(frame[column], errors="coerce")
    if "request_id" in frame.columns:  # one figure per request, as ops.py counts latency
        lat = lat.groupby(frame["request_id"].astype(str).to_numpy(), sort=False).first()
    lat = lat.dropna().to_numpy(dtype=float)
    if not lat.size:
        return None
    p50, p95 = np.percentile(lat, [50, 95])
    return {"p50": float(p50), "p95": float(p95), "mean": float(lat.mean()),
            "requests": int(lat.size)}


def _classes_in(frame: pd.DataFrame, prefix: str) -> list[str]:
    return [c[len(prefix):] for c in frame.columns if str(c).startswith(prefix)]


def summarise(frame: pd.DataFrame, task: str | None, classes: list | None,
              label: str | None = None) -> dict[str, Any] | None:
    """The shadow comparison of one window's scored rows, or None when the log has none."""
    if not has_shadow(frame):
        return None
    cols = [c for c in frame.columns if str(c).startswith(SHADOW_PREFIX)]
    logged = frame[cols].notna().any(axis=1).to_numpy()
    part = frame[logged]
    err = part.get(SHADOW_PREFIX + "error")
    failed = err.notna().to_numpy() if err is not None else np.zeros(len(part), dtype=bool)
    champ_pred = part["prediction"] if "prediction" in part.columns else pd.Series(
        [None] * len(part), index=part.index)
    shadow_pred = part.get(SHADOW_PREFIX + "prediction",
                           pd.Series([None] * len(part), index=part.index))
    ok = ~failed & champ_pred.notna().to_numpy() & shadow_pred.notna().to_numpy()
    same = _same_values(champ_pred[ok], shadow_pred[ok])
    out: dict[str, Any] = {
        "champion": _mode(part["model"]) if "model" in part.columns else None,
        "challenger": _mode(part[SHADOW_PREFIX + "model"])
        if SHADOW_PREFIX + "model" in part.columns else None,
        "rows": int(len(part)), "compared_rows": int(ok.sum()),
        "errors": int(failed.sum()),
        "error_messages": sorted(set(map(str, err[failed].tolist())))[:3] if failed.any() else [],
        "agreement": float(same.mean()) if same.size else None,
        "disagreements": int((~same).sum()),
        "probabilities": None, "prediction_diff": None,
        "latency_ms": {"champion": _percentiles(part, "latency_ms"),
                       "challenger": _percentiles(part[~failed], SHADOW_PREFIX + "latency_ms")},
        "metrics": None,
    }
    both = [c for c in _classes_in(part, CHAMPION_PROBA) if c in set(_classes_in(part, SHADOW_PROBA))]
    if both and ok.any():
        p = part.loc[ok, [CHAMPION_PROBA + c for c in both]].apply(
            pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        q = part.loc[ok, [SHADOW_PROBA + c for c in both]].apply(
            pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        diff = np.abs(p - q)
        if np.isfinite(diff).any():
            out["probabilities"] = {"classes": both,
                                    "mean_abs_diff": float(np.nanmean(diff)),
                                    "max_abs_diff": float(np.nanmax(diff))}
    if task == "regression" and ok.any():
        a = pd.to_numeric(champ_pred[ok], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(shadow_pred[ok], errors="coerce").to_numpy(dtype=float)
        d = np.abs(a - b)
        if np.isfinite(d).any():
            out["prediction_diff"] = {"mean_abs_diff": float(np.nanmean(d)),
                                      "max_abs_diff": float(np.nanmax(d))}
    if label and label in part.columns:
        out["metrics"] = _live_metrics(part[ok], label, task, classes)
    return out


def _live_metrics(part: pd.DataFrame, label: str, task: str | None,
                  classes: list | None) -> dict[str, Any] | None:
    """Both models' metrics on the labelled rows both scored, from the logged predictions."""
    from ..evaluation import compute_metrics
    y = part[label]
    has = y.notna().to_numpy().copy()
    if task == "classification":
        lookup = {str(c): c for c in classes} if classes else None
        as_class = (lambda s: s.map(lambda v: lookup.get(_text(v)))) if lookup else \
            (lambda s: s.map(_text))
        yy = as_class(y)
        has &= yy.notna().to_numpy()
        if not has.any():
            return None
        out: dict[str, Any] = {"rows": int(has.sum())}
        for who, pred_col, prefix in (("champion", "prediction", CHAMPION_PROBA),
                                      ("challenger", SHADOW_PREFIX + "prediction", SHADOW_PROBA)):
            pred = as_class(part[pred_col])[has]
            proba = None
            names = [str(c) for c in classes] if classes else []
            if names and all(prefix + n in part.columns for n in names):
                proba = part.loc[has, [prefix + n for n in names]].apply(
                    pd.to_numeric, errors="coerce").to_numpy(dtype=float)
                if not np.isfinite(proba).all():
                    proba = None
            if pred.isna().any():  # a prediction that is not a class of the model
                pred = pred.astype(object).where(pred.notna(), "?")
            out[who] = compute_metrics(task, yy[has].to_numpy(), pred.to_numpy(), proba,
                                       classes)
        return out
    yy = pd.to_numeric(y, errors="coerce")
    a = pd.to_numeric(part["prediction"], errors="coerce")
    b = pd.to_numeric(part[SHADOW_PREFIX + "prediction"], errors="coerce")
    has &= (yy.notna() & a.notna() & b.notna()).to_numpy()
    if not has.any():
        return None
    return {"rows": int(has.sum()),
            "champion": compute_metrics("regression", yy[has].to_numpy(), a[has].to_numpy()),
            "challenger": compute_metrics("regression", yy[has].to_numpy(), b[has].to_numpy())}


def _text(v: Any) -> str | None:
    """A label or prediction as the text of a class: 1.0 read back from Parquet is '1'."""
    if _missing(v):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def describe(s: dict[str, Any]) -> list[str]:
    """The comparison in a few lines (CLI text output)."""
    lines = [f"shadow {s.get('challenger') or '?'} beside {s.get('champion') or '?'}: "
             f"{s['compared_rows']} of {s['rows']} rows compared"
             + (f", {s['errors']} shadow errors ({'; '.join(s['error_messages'])})"
                if s.get("errors") else "")]
    parts = []
    if s.get("agreement") is not None:
        parts.append(f"agreement {s['agreement']:.1%} ({s['disagreements']} differ)")
    if s.get("probabilities"):
        parts.append(f"probabilities mean abs diff {s['probabilities']['mean_abs_diff']:.4f}")
    if s.get("prediction_diff"):
        parts.append(f"prediction mean abs diff {s['prediction_diff']['mean_abs_diff']:.4g}")
    lat = s.get("latency_ms") or {}
    for who in ("champion", "challenger"):
        if lat.get(who):
            parts.append(f"{who} latency p50 {lat[who]['p50']:.1f} ms p95 "
                         f"{lat[who]['p95']:.1f} ms")
    if parts:
        lines.append("  " + ", ".join(parts))
    m = s.get("metrics")
    if m:
        names = [k for k, v in m["champion"].items() if v is not None]
        lines.append(f"  on {m['rows']} labelled rows (champion / challenger): " + ", ".join(
            f"{k} {m['champion'][k]:.3f} / "
            + ("-" if m["challenger"].get(k) is None else f"{m['challenger'][k]:.3f}")
            for k in names))
    return lines
