"""Serving figures of a logged batch: request volume, latency percentiles, error rate, and
the alerts they raise against the latency and error budgets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _ops(part: pd.DataFrame, errors: pd.DataFrame | None = None) -> dict[str, Any] | None:
    """Request volume, latency percentiles and error rate from log rows and error lines.

    A request is failed when serve.py logged an error line for it (or, in older logs, one of
    its rows carries an error/status >= 400 or no prediction). error_rate = failed requests /
    all requests (distinct request ids). Latency is that of the scored requests.
    """
    errors = errors if errors is not None else part.iloc[:0]
    if "latency_ms" not in part.columns and "request_id" not in part.columns and errors.empty:
        return None

    def keys(frame: pd.DataFrame, prefix: str) -> pd.Series:
        # a line without a request id is a request of its own
        own = pd.Series([f"{prefix}{i}" for i in range(len(frame))], index=frame.index)
        if "request_id" not in frame.columns:
            return own
        rid = frame["request_id"]
        return rid.astype(str).where(rid.notna(), own)

    lines = len(part)
    key, err_key = keys(part, "\0row"), keys(errors, "\0error")
    failed = np.zeros(lines, dtype=bool)
    if "error" in part.columns:
        failed |= part["error"].notna().to_numpy()
    if "status" in part.columns:
        status = pd.to_numeric(part["status"], errors="coerce").fillna(200).to_numpy()
        failed |= status >= 400
    if "prediction" in part.columns:
        failed |= part["prediction"].isna().to_numpy()
    all_keys = set(key) | set(err_key)
    failed_keys = set(key[failed]) | set(err_key)
    requests, n_failed = len(all_keys), len(failed_keys)
    lat = (pd.to_numeric(part["latency_ms"], errors="coerce")
           if "latency_ms" in part.columns else pd.Series(np.nan, index=part.index))
    lat = lat.groupby(key.to_numpy(), sort=False).first().dropna().to_numpy(dtype=float)
    by_status: dict[str, int] = {}
    if len(errors):
        codes = pd.to_numeric(errors.get("status"), errors="coerce") \
            if "status" in errors.columns else pd.Series(np.nan, index=errors.index)
        for code, n in codes.fillna(0).astype(int).value_counts().sort_index().items():
            by_status[str(code) if code else "unknown"] = int(n)
    out = {"rows": lines, "requests": requests, "errors": n_failed,
           "error_rate": n_failed / requests if requests else 0.0,
           "error_lines": int(len(errors)), "errors_by_status": by_status,
           "latency_ms": None}
    if lat.size:
        p50, p95, p99 = np.percentile(lat, [50, 95, 99])
        out["latency_ms"] = {"p50": float(p50), "p95": float(p95), "p99": float(p99),
                             "mean": float(lat.mean()), "max": float(lat.max())}
    return out


def _ops_alerts(ops: dict[str, Any] | None, cfg: dict) -> list[dict[str, str]]:
    alerts = []
    if ops and ops["latency_ms"] and ops["latency_ms"]["p99"] > float(cfg["latency_p99_ms"]):
        alerts.append({"kind": "latency", "message": (
            f"latency p99 {ops['latency_ms']['p99']:.1f} ms exceeds the budget "
            f"{float(cfg['latency_p99_ms']):g} ms")})
    if ops and ops["error_rate"] > float(cfg["max_error_rate"]):
        alerts.append({"kind": "errors", "message": (
            f"error rate {ops['error_rate']:.1%} ({ops['errors']} of {ops['requests']} "
            f"requests failed) exceeds {float(cfg['max_error_rate']):.1%}")})
    return alerts
