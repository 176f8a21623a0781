"""Monitoring settings: store settings, keys `monitoring.*`, defaults in DEFAULTS; reading
them and changing them (admin, checked, audited).

  p_threshold 0.05, distance_threshold 0.1, drift_share 0.5   (drift; see core.drift)
  metric_tolerance 0.05   without a fixed gate, a batch metric alerts when it is worse than
                          the holdout figure by more than this: an absolute drop for scores
                          (accuracy, roc_auc, r2, ...), a relative rise for errors (log_loss,
                          mae, rmse, mape)
  alert_metrics           metrics compared with the holdout when no gate names them
  latency_p99_ms 100      latency budget for logged requests
  max_error_rate 0.01     share of failed requests in a log (serve.py writes one error line
                          per rejected request; its rows are not part of the batch)
  missing_rate_tolerance 0.1  batch missing share above the training share by more than this
  tests {}                per-column drift test, e.g. {"income": "psi"}
  retrain_on_alert false  the retrain policy of `monitor watch`: when a batch it ingests
                          raises an alert, train a pending challenger (unless one of that
                          version is still pending)
"""

from __future__ import annotations

import math
from typing import Any

from .. import audit, drift
from ..errors import LabliftError
from ..store import Store


DEFAULTS: dict[str, Any] = {
    "p_threshold": drift.P_THRESHOLD,
    "distance_threshold": drift.DISTANCE_THRESHOLD,
    "drift_share": drift.SHARE_THRESHOLD,
    "metric_tolerance": 0.05,
    "alert_metrics": ["accuracy", "roc_auc", "r2", "rmse"],
    "latency_p99_ms": 100.0,
    "max_error_rate": 0.01,
    "missing_rate_tolerance": 0.1,
    "tests": {},
    "retrain_on_alert": False,
}
BOOLEAN_SETTINGS = {"retrain_on_alert"}


NUMERIC_SETTINGS = {  # name: (low, high, low inclusive)
    "p_threshold": (0.0, 1.0, False), "distance_threshold": (0.0, math.inf, False),
    "drift_share": (0.0, 1.0, False), "metric_tolerance": (0.0, math.inf, True),
    "latency_p99_ms": (0.0, math.inf, False), "max_error_rate": (0.0, 1.0, True),
    "missing_rate_tolerance": (0.0, 1.0, True)}


def settings(store: Store) -> dict[str, Any]:
    return {k: store.setting(f"monitoring.{k}", v) for k, v in DEFAULTS.items()}


def update_settings(store: Store, changes: dict[str, Any]) -> dict[str, Any]:
    """Change monitoring settings (admin); every value is checked before anything is written."""
    store.require_role("changing monitoring settings", "admin")
    clean = check_settings(changes)
    before = settings(store)
    with store.transaction():
        for key, value in clean.items():
            store.set_setting(f"monitoring.{key}", value)
        audit.append(store, "monitor.settings", "settings:monitoring",
                     {k: {"old": before[k], "new": v} for k, v in clean.items()})
    return settings(store)


def check_settings(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes, checked and normalised (no store: pipeline files are checked with it)."""
    from ..evaluation import CLASSIFICATION_METRICS, REGRESSION_METRICS
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in DEFAULTS:
            raise LabliftError(f"unknown monitoring setting {key!r}; settings: "
                               f"{', '.join(DEFAULTS)}")
        if key in NUMERIC_SETTINGS:
            lo, hi, inclusive = NUMERIC_SETTINGS[key]
            try:
                num = float(value)
            except (TypeError, ValueError):
                raise LabliftError(f"monitoring setting {key}: {value!r} is not a number") \
                    from None
            if not (num >= lo if inclusive else num > lo) or num > hi:
                raise LabliftError(f"monitoring setting {key}: {num:g} is outside "
                                   f"{'[' if inclusive else '('}{lo:g}, {hi:g}]")
            clean[key] = num
        elif key in BOOLEAN_SETTINGS:
            text = str(value).strip().lower()
            if isinstance(value, bool):
                clean[key] = value
            elif text in ("true", "yes", "on", "1"):
                clean[key] = True
            elif text in ("false", "no", "off", "0"):
                clean[key] = False
            else:
                raise LabliftError(f"monitoring setting {key}: {value!r} is not true or false")
        elif key == "alert_metrics":
            names = value if isinstance(value, list) else [
                v.strip() for v in str(value).split(",") if v.strip()]
            known = set(CLASSIFICATION_METRICS) | set(REGRESSION_METRICS)
            bad = [n for n in names if n not in known]
            if bad:
                raise LabliftError(f"monitoring setting alert_metrics: unknown metric "
                                   f"{bad[0]!r}; metrics: {', '.join(sorted(known))}")
            clean[key] = names
        else:  # tests: {column: test} or "col:test,col:test"
            if isinstance(value, dict):
                pairs = dict(value)
            else:
                pairs = {}
                for item in (v.strip() for v in str(value).split(",") if v.strip()):
                    col, sep, test = item.partition(":")
                    if not sep:
                        raise LabliftError(f"monitoring setting tests: {item!r} is not "
                                           f"COLUMN:TEST")
                    pairs[col.strip()] = test.strip().lower()
            for col, test in pairs.items():
                if test not in drift.TESTS:
                    raise LabliftError(f"monitoring setting tests: test {test!r} for column "
                                       f"{col!r} is unknown; choose one of "
                                       f"{', '.join(drift.TESTS)}")
            clean[key] = pairs
    return clean
