"""Monitoring: ingest production batches and prediction logs, measure them against the model
version's reference (its training rows), raise alerts, report over time, retrain.

- `ingest` reads a CSV/Parquet batch or a bundle's `serve.py --log` JSON-lines file, checks it
  against the version's input schema (findings, never crashes), computes drift per feature
  and on the prediction (core.drift), metrics when labels are present, request volume /
  latency / errors from logs, and records one `batches` row per window in one transaction
  with its alerts and audit entries. Alerts mark the version "attention needed".
- `report` gathers every batch of a version for charts and the CLI.
- `retrain` trains the same spec on the version's dataset plus the labelled batches and
  registers the result as a pending challenger of the version.

Settings (store settings, keys `monitoring.*`, defaults in DEFAULTS):
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
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import audit, drift
from .artifacts import sha256_file
from .errors import Cancelled, LabliftError
from .readers import BadInput, check_file, read_table
from .store import Store, encode, utcnow
from .store.sql import inserted_id, repository

monitor_sql = repository("monitoring")  # statements: core/store/monitoring.py

Progress = Callable[[float, str], None]
IsCancelled = Callable[[], bool]

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
}
LOWER_IS_BETTER = {"log_loss", "mae", "rmse", "mape"}
LOG_FIELDS = ("timestamp", "request_id", "row", "model", "prediction", "latency_ms", "error",
              "status")
IGNORED_PREFIXES = ("proba_", "probabilities_", "log_", "__")
LOG_SUFFIXES = (".jsonl", ".ndjson", ".log")
ERROR_MARK = "__error"  # marks a log's error lines (failed requests) while windows are split


NUMERIC_SETTINGS = {  # name: (low, high, low inclusive)
    "p_threshold": (0.0, 1.0, False), "distance_threshold": (0.0, math.inf, False),
    "drift_share": (0.0, 1.0, False), "metric_tolerance": (0.0, math.inf, True),
    "latency_p99_ms": (0.0, math.inf, False), "max_error_rate": (0.0, 1.0, True),
    "missing_rate_tolerance": (0.0, 1.0, True)}


def settings(store: Store) -> dict[str, Any]:
    return {k: store.setting(f"monitoring.{k}", v) for k, v in DEFAULTS.items()}


def update_settings(store: Store, changes: dict[str, Any]) -> dict[str, Any]:
    """Change monitoring settings (admin); every value is checked before anything is written."""
    from .evaluation import CLASSIFICATION_METRICS, REGRESSION_METRICS
    store.require_role("changing monitoring settings", "admin")
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
    before = settings(store)
    with store.transaction():
        for key, value in clean.items():
            store.set_setting(f"monitoring.{key}", value)
        audit.append(store, "monitor.settings", "settings:monitoring",
                     {k: {"old": before[k], "new": v} for k, v in clean.items()})
    return settings(store)


def batch_counts(store: Store) -> dict[int, int]:
    """Batches ingested per model version id."""
    return {r["version_id"]: r["n"] for r in store.rows(monitor_sql.BATCH_COUNTS)}


# -- reading batches ---------------------------------------------------------------------------

def _is_log(path: Path) -> bool:
    if path.suffix.lower() in LOG_SUFFIXES:
        return True
    if path.suffix.lower() in (".csv", ".tsv", ".parquet", ".pq", ".xlsx", ".txt"):
        return False
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    return head.startswith(b"{")


def read_log(path: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A serve.py `--log` file as a frame: one row per scored row, `inputs` flattened.

    Lines that are not JSON objects are counted (and named) instead of failing the batch.
    Error lines (a failed request: "error" and no "inputs") stay in file order among the
    scored rows, marked True in column ERROR_MARK, with `status` and `error` (the message);
    ingest takes them out of each window's rows before measuring and counts them as failed
    requests. info["columns"] names the columns of the scored rows."""
    p = Path(path)
    records, bad = [], []  # scored rows and error lines, in file order (row windows need it)
    columns: dict[str, None] = {}
    n_errors = 0
    with open(p, "rb") as f:  # a NUL-filled (e.g. sparse) file has no lines to stop at
        head = f.read(1 << 16)
    if b"\x00" in head:
        raise BadInput(f"{p} is a binary file, not a JSON-lines log (it contains NUL bytes)")
    with open(p, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                bad.append(lineno)
                continue
            except RecursionError:  # json's C parser gives up on deep nesting: a hostile line
                raise BadInput(f"{p}: line {lineno} is nested too deeply to read (a log line is "
                               f"one flat JSON record)") from None
            if not isinstance(rec, dict):
                bad.append(lineno)
                continue
            if rec.get("error") is not None and "inputs" not in rec:
                err = rec["error"] if isinstance(rec["error"], dict) else {"message": rec["error"]}
                records.append({**{k: v for k, v in rec.items()
                                   if k != "error" and not isinstance(v, (dict, list))},
                                "status": err.get("status", rec.get("status")),
                                "error": str(err.get("message") or err.get("status") or "error"),
                                ERROR_MARK: True})
                n_errors += 1
                continue
            flat: dict[str, Any] = {}
            inputs = rec.get("inputs")
            if isinstance(inputs, dict):
                flat.update({k: _cell(v) for k, v in inputs.items()})
            for key, value in rec.items():
                if key == "inputs":
                    continue
                if isinstance(value, dict):  # e.g. {"proba": {"0": .2, "1": .8}}
                    for k2, v2 in value.items():
                        flat[f"{key}_{k2}"] = _cell(v2)
                else:
                    flat[key if key not in flat else f"log_{key}"] = _cell(value)
            records.append(flat)
            columns.update(dict.fromkeys(flat))
    if not records:
        raise BadInput(f"{p}: no JSON-lines records (expected one JSON object per line, as "
                       f"written by serve.py --log)" + (f"; {len(bad)} unreadable lines"
                                                        if bad else ""))
    frame = pd.DataFrame.from_records(records)
    if n_errors:
        frame[ERROR_MARK] = frame[ERROR_MARK].eq(True)
    return frame, {"format": "log", "bad_lines": bad,
                   "columns": [c for c in frame.columns if c in columns],
                   "error_lines": n_errors}


def _cell(value: Any) -> Any:
    """A nested JSON value (list, object) as its JSON text: the schema check then reports it
    as not a number instead of pandas failing on it."""
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def read_batch(path: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, Any]]:
    p = Path(path).expanduser()
    # a FIFO, device, folder or symlink loop is refused before _is_log opens it (a FIFO blocks)
    if check_file(p) > 0 and _is_log(p):
        return read_log(p)
    table, info = read_table(p)
    return table.to_pandas(), {"format": info.format, "bad_lines": [], "notes": info.notes}


def require_inputs(frame: pd.DataFrame, info: dict[str, Any], features: list[str],
                   path: str | os.PathLike) -> None:
    """Refuse a batch holding none of the model's input columns: nothing in it can be measured
    (it would report "0 of 0 features drifted"). A log of failed requests only is let through:
    its error rate is the finding."""
    if any(f in frame.columns for f in features):
        return
    if info.get("format") == "log" and info.get("error_lines") \
            and info["error_lines"] >= len(frame):
        return
    shown = ", ".join(map(repr, features[:5])) + (", ..." if len(features) > 5 else "")
    has = [str(c) for c in frame.columns if c != ERROR_MARK]
    found = ", ".join(map(repr, has[:5])) + (", ..." if len(has) > 5 else "")
    raise BadInput(f"{path}: none of the model's {len(features)} input columns is in the file "
                   f"(expected {shown}; the file has {found or 'no columns'})")


# -- windows -----------------------------------------------------------------------------------

def parse_window(window: str | int | None) -> str | int | None:
    if window is None or window == "":
        return None
    if isinstance(window, int):
        n = window
    elif str(window).strip().lower() in ("day", "week"):
        return str(window).strip().lower()
    else:
        try:
            n = int(str(window).strip())
        except ValueError:
            raise LabliftError(f"window {window!r} is not day, week or a number of rows") \
                from None
    if n < 1:
        raise LabliftError(f"window {window!r}: a number of rows must be at least 1")
    return n


def split_windows(frame: pd.DataFrame, timestamp: str | None, window: str | int | None,
                  findings: list) -> list[tuple[str | None, dict[str, Any], pd.DataFrame]]:
    """[(label, {start, end}, part)] in time order; one part when there is no window."""
    ts = None
    if timestamp:
        raw = frame[timestamp]
        ts = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
        bad = int((ts.isna() & raw.notna()).sum() + raw.isna().sum())
        if bad:
            findings.append(_finding("bad_timestamp", timestamp, "warning",
                                     f"{bad} rows have no readable timestamp in column "
                                     f"{timestamp!r}; they are left out of the windows",
                                     rows=bad))
        keep = ts.notna().to_numpy()
        frame, ts = frame[keep], ts[keep]
        order = np.argsort(ts.to_numpy(), kind="stable")
        frame, ts = frame.iloc[order], ts.iloc[order]
        if frame.empty:
            raise LabliftError(f"column {timestamp!r} has no readable timestamps")
    if window is None:
        span = _span(ts)
        return [(None, span, frame)]
    if isinstance(window, int):
        # a log's error lines are not rows: each joins the window of the row before it
        ok = (~frame[ERROR_MARK].eq(True).to_numpy()
              if ERROR_MARK in frame.columns else np.ones(len(frame), dtype=bool))
        n_ok = int(ok.sum())
        index = np.maximum(np.cumsum(ok) - 1, 0) // window
        parts = []
        for w in range(max(-(-n_ok // window), 1)):
            mask = index == w
            start = w * window
            label = (f"rows {start + 1}-{min(start + window, n_ok)}" if n_ok
                     else "no rows")
            parts.append((label, _span(ts[mask] if ts is not None else None), frame[mask]))
        return parts
    if ts is None:
        raise LabliftError(f"window {window!r} needs a timestamp column (--timestamp COL)")
    day = ts.dt.floor("D")
    key = day if window == "day" else day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    parts = []
    for k in pd.unique(key):
        mask = (key == k).to_numpy()
        label = (pd.Timestamp(k).strftime("%Y-%m-%d") if window == "day"
                 else "week of " + pd.Timestamp(k).strftime("%Y-%m-%d"))
        parts.append((label, _span(ts[mask]), frame[mask]))
    return parts


def _span(ts: pd.Series | None) -> dict[str, Any]:
    if ts is None or ts.empty:
        return {"start": None, "end": None}
    return {"start": ts.min().isoformat(), "end": ts.max().isoformat()}


# -- reference ---------------------------------------------------------------------------------

class Reference:
    """What a version's batches are measured against: training rows, schema, predictions."""

    def __init__(self, store: Store, version: dict[str, Any]):
        from . import inputs, training
        self.version = version
        self.run = training.get_run(store, version["run_id"])
        self.spec = self.run["spec"]
        self.task = self.run.get("task") or self.spec.get("task")
        self.classes = self.spec.get("classes")
        self.schema = inputs.input_schema(store, self.run)
        self.inputs = {e["name"]: e for e in self.schema["inputs"]}
        self.features = list(self.spec["features"])
        self.X, self.y = training.training_frame(store, self.run)
        self.pipeline = training.load_pipeline(store, self.run)
        self.holdout = dict((self.run.get("metrics") or {}).get("holdout") or {})
        self._pred = None

    def kind(self, name: str) -> str | None:
        e = self.inputs.get(name, {})
        if "min" in e:
            return "numeric"
        if "categories" in e:
            return "categorical"
        return None

    def used(self, name: str) -> bool:
        return bool(self.inputs.get(name, {}).get("used", True)) and self.kind(name) is not None

    def predict(self, X: pd.DataFrame):
        from .training import _predict
        return _predict(self.pipeline, X[self.features], self.task, self.classes)

    @property
    def predictions(self) -> np.ndarray:
        if self._pred is None:
            self._pred = self.predict(self.X)[0]
        return self._pred


# -- schema checks ------------------------------------------------------------------------------

def _finding(check: str, column: str | None, severity: str, message: str, **extra) -> dict:
    return {"check": check, "column": column, "severity": severity, "message": message,
            **extra}


def _align_categorical(cur: pd.Series, ref: pd.Series) -> pd.Series:
    """Bring batch values to the reference's type so 'True' matches True and 1 matches '1'."""
    if pd.api.types.is_bool_dtype(ref.dtype):
        if pd.api.types.is_bool_dtype(cur.dtype):
            return cur
        text = cur.astype(object).map(lambda v: None if _isna(v) else str(v).strip().lower())
        mapped = text.map({"true": True, "false": False, "1": True, "0": False,
                           "1.0": True, "0.0": False, "yes": True, "no": False})
        return mapped.where(text.notna() & mapped.notna(), text.where(text.isna(), text))
    if pd.api.types.is_numeric_dtype(ref.dtype):
        num = pd.to_numeric(cur, errors="coerce")
        return num.where(num.notna() | cur.isna(), cur)
    if pd.api.types.is_string_dtype(cur.dtype) or cur.dtype == object:
        return cur
    return cur.astype(object).map(lambda v: None if _isna(v) else str(v))


def check_schema(ref: Reference, frame: pd.DataFrame, extra_columns: set[str],
                 tolerance: float) -> tuple[pd.DataFrame, list[dict], list[str]]:
    """(aligned inputs, findings, columns drift must skip). Never raises on bad data."""
    findings: list[dict] = []
    skip: list[str] = []
    aligned = pd.DataFrame(index=frame.index)
    for name in ref.features:
        entry = ref.inputs.get(name, {})
        kind = ref.kind(name)
        if name not in frame.columns:
            sev = "error" if ref.used(name) else "info"
            findings.append(_finding("missing_column", name, sev,
                                     f"input column {name!r} is missing from the batch"
                                     + ("; drift skips it and the model cannot score"
                                        if sev == "error" else "")))
            skip.append(name)
            continue
        col = frame[name]
        if kind == "numeric":
            if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(
                    col.dtype):
                values = col.astype(float)
            else:
                values = pd.to_numeric(col.astype(object), errors="coerce")
                broken = int((values.isna() & col.notna()).sum())
                if broken:
                    examples = col[values.isna() & col.notna()].astype(str).unique()[:3]
                    findings.append(_finding(
                        "type_change", name, "error",
                        f"column {name!r} should be numeric ({entry.get('dtype')}); {broken} "
                        f"values are not numbers (e.g. {', '.join(map(repr, examples))})",
                        rows=broken, examples=list(map(str, examples))))
                    if values.notna().sum() == 0:
                        skip.append(name)
            infinite = np.isinf(values.to_numpy(dtype=float, na_value=np.nan))
            if infinite.any():  # drift and the model cannot measure inf: count it, then missing
                findings.append(_finding(
                    "infinite", name, "error",
                    f"column {name!r}: {int(infinite.sum())} infinite values (inf or -inf); "
                    f"drift and scoring treat them as missing", rows=int(infinite.sum())))
                values = values.mask(infinite)
                if values.notna().sum() == 0 and name not in skip:
                    skip.append(name)
            present = values.dropna()
            lo, hi = entry.get("min"), entry.get("max")
            if lo is not None and hi is not None and len(present):
                below, above = int((present < lo).sum()), int((present > hi).sum())
                if below or above:
                    findings.append(_finding(
                        "out_of_range", name, "warning",
                        f"column {name!r}: {below + above} values outside the training range "
                        f"{lo:g}..{hi:g} ({below} below, {above} above; batch range "
                        f"{present.min():g}..{present.max():g})",
                        rows=below + above, share=(below + above) / len(values),
                        below=below, above=above))
            aligned[name] = values
        elif kind == "categorical":
            values = _align_categorical(col, ref.X[name])
            known = set(entry.get("categories") or [])
            present = values.dropna()
            new_mask = ~present.isin(known)
            if new_mask.any():
                counts = present[new_mask].astype(str).value_counts()
                examples = counts.index[:5].tolist()
                findings.append(_finding(
                    "new_category", name, "warning",
                    f"column {name!r}: {int(new_mask.sum())} values in categories never seen "
                    f"in training ({', '.join(map(repr, examples))}"
                    f"{', ...' if len(counts) > 5 else ''})",
                    rows=int(new_mask.sum()), categories=examples))
            aligned[name] = values
        else:
            aligned[name] = col
        missing = float(col.isna().mean()) if len(col) else 0.0
        train_missing = float(ref.X[name].isna().mean()) if len(ref.X) else 0.0
        if missing > train_missing + tolerance:
            findings.append(_finding(
                "missing_rate", name, "warning",
                f"column {name!r}: {missing:.1%} missing in the batch, {train_missing:.1%} "
                f"in training", share=missing, training_share=train_missing))
    new_cols = [c for c in frame.columns if c not in ref.features and c not in extra_columns
                and not str(c).startswith(IGNORED_PREFIXES)]
    for c in new_cols:
        findings.append(_finding("new_column", str(c), "info",
                                 f"column {c!r} is not an input of the model; it is ignored"))
    return aligned, findings, skip


# -- one batch -----------------------------------------------------------------------------------

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


def _metrics(ref: Reference, y_true: pd.Series, y_pred, proba, findings: list) -> dict | None:
    from .evaluation import compute_metrics
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
    from . import registry
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
    result = drift.dataset_drift(ref.X, aligned, columns=cols, kinds=kinds,
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
                X[c] = ref.X[c].iloc[:0].reindex(range(len(X))).to_numpy()
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


# -- ingest -------------------------------------------------------------------------------------

def ingest(store: Store, ref: str | int, path: str | os.PathLike, label: str | None = None,
           timestamp: str | None = None, window: str | int | None = None,
           tests: dict[str, str] | None = None, progress: Progress | None = None,
           cancelled: IsCancelled | None = None) -> dict[str, Any]:
    """Ingest one file for model version `ref`. Returns the batch (dict), or, when the file
    is split into windows, {"batches": [batch, ...], "windows": n}."""
    batches = ingest_batches(store, ref, path, label=label, timestamp=timestamp, window=window,
                             tests=tests, progress=progress, cancelled=cancelled)
    if len(batches) == 1 and window is None:
        return batches[0]
    return {"batches": batches, "windows": len(batches)}


def ingest_batches(store: Store, ref: str | int, path: str | os.PathLike,
                   label: str | None = None, timestamp: str | None = None,
                   window: str | int | None = None, tests: dict[str, str] | None = None,
                   progress: Progress | None = None,
                   cancelled: IsCancelled | None = None) -> list[dict[str, Any]]:
    from . import registry
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
    source_sha = sha256_file(path)
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
    reference = Reference(store, version)
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
        stored = part.copy()
        if res["y_pred"] is not None:
            stored["__prediction"] = np.asarray(res["y_pred"])
        sha = store.artifacts.put_writer(lambda f, t=stored: _write_parquet(t, f))
        prepared.append((wlabel, span, part, res, sha))
    step(0.9, "Recording batches")
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
                "settings": {k: cfg[k] for k in ("p_threshold", "distance_threshold",
                                                 "drift_share")},
                "reference_rows": int(len(reference.X)),
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
                "dataset_drift": d["dataset_drift"], "alerts": [a["kind"] for a in res["alerts"]]})
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
    from .training import get_run
    return list(get_run(store, version["run_id"])["spec"]["features"])


def attach_labels(store: Store, version: dict[str, Any], labels: pd.DataFrame, label: str,
                  path: str | os.PathLike, source_sha: str, cfg: dict,
                  tests: dict[str, str]) -> list[dict[str, Any]]:
    """Labels that arrive after the predictions: a file of request_id [, row], LABEL joined
    to the log batches already ingested for this version. Each matched batch gets its labels,
    metrics and alerts recomputed; the batch row is updated (audited), not duplicated."""
    from . import registry
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
                           "alerts": res["alerts"],
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


def _write_parquet(frame: pd.DataFrame, f) -> None:
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
        # mixed-type object columns (e.g. numbers and text in one log field): store as text
        fixed = frame.copy()
        for c in fixed.columns:
            if fixed[c].dtype == object:
                fixed[c] = fixed[c].map(lambda v: None if _isna(v) else str(v))
        table = pa.Table.from_pandas(fixed, preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), f, compression="zstd")


def batch_view(row: dict[str, Any], version: dict[str, Any] | None = None) -> dict[str, Any]:
    """A batch as the CLI/GUI show it (DESIGN: id drift_share dataset_drift columns[...])."""
    result = row.get("result") or {}
    d = result.get("drift") or {}
    view = {
        "id": row["id"], "version_id": row["version_id"],
        "model": version["model"] if version else None,
        "version": version["version"] if version else None,
        "rows": row["rows"], "window": row["window"], "source_path": row["source_path"],
        "label_column": row["label_column"], "timestamp_column": row["timestamp_column"],
        "created_at": row["created_at"], "created_by": row["created_by"],
        "drift_share": row["drift_share"], "dataset_drift": bool(row["dataset_drift"]),
        "n_drifted": d.get("n_drifted"), "n_columns": d.get("n_columns"),
        "columns": [{k: c.get(k) for k in ("name", "test", "statistic", "p_value", "threshold",
                                           "drifted", "psi", "kind")}
                    for c in d.get("columns", [])],
        "skipped": d.get("skipped", []),
        "prediction_drift": ({k: result["prediction_drift"].get(k) for k in
                              ("test", "statistic", "p_value", "threshold", "drifted", "psi",
                               "source")} if result.get("prediction_drift") else None),
        "quality": result.get("quality", []),
        "metrics": (result.get("metrics") or {}).get("values"),
        "labelled_rows": (result.get("metrics") or {}).get("rows"),
        "holdout": result.get("holdout"),
        "ops": result.get("ops"),
        "alerts": result.get("alerts", []),
        "window_span": result.get("window"),
    }
    return view


def get_batch(store: Store, batch_id: int) -> dict[str, Any]:
    row = store.row(monitor_sql.BATCH_BY_ID, id=int(batch_id))
    if row is None:
        raise LabliftError(f"batch {batch_id} not found")
    return row


def load_batch_frame(store: Store, batch: dict[str, Any] | int) -> pd.DataFrame:
    batch = batch if isinstance(batch, dict) else get_batch(store, batch)
    return pq.read_table(store.artifacts.verified_path(batch["artifact"])).to_pandas()


# -- report --------------------------------------------------------------------------------------

def list_alerts(store: Store, ref: str | int | None = None) -> list[dict[str, Any]]:
    from . import registry
    if ref is None:
        return store.rows(monitor_sql.ALL_ALERTS)
    return store.rows(monitor_sql.ALERTS_OF, version_id=registry.resolve_version(store, ref)["id"])


def acknowledge(store: Store, alert_id: int, note: str = "") -> dict[str, Any]:
    """Mark an alert seen. When a version has no unacknowledged alerts left, its
    "attention needed" flag is cleared (both audited)."""
    from . import registry
    store.require_role("acknowledging alerts", "ops", "analyst", "reviewer")
    alert = store.row(monitor_sql.ALERT_BY_ID, id=int(alert_id))
    if alert is None:
        raise LabliftError(f"alert {alert_id} not found")
    if alert["acknowledged_by"]:
        raise LabliftError(f"alert {alert_id} was already acknowledged by "
                           f"{alert['acknowledged_by']} at {alert['acknowledged_at']}")
    with store.transaction():
        monitor_sql.ACKNOWLEDGE.execute(store.conn, store.engine, {
            "id": alert["id"], "acknowledged_by": store.user, "acknowledged_at": utcnow()})
        audit.append(store, "monitor.acknowledge", f"alert:{alert['id']}",
                     {"version_id": alert["version_id"], "kind": alert["kind"], "note": note})
        left = store.value(monitor_sql.OPEN_ALERTS, version_id=alert["version_id"])
        version = registry.get_version(store, alert["version_id"])
        if left == 0 and version.get("attention"):
            registry.clear_attention(store, alert["version_id"],
                                     note or f"alerts acknowledged by {store.user}")
    return {**store.row(monitor_sql.ALERT_BY_ID, id=alert["id"]), "open_alerts": left}


def report(store: Store, ref: str | int) -> dict[str, Any]:
    """All batches of a version, ready to chart: drift share over time, a feature x batch
    matrix of drift statistics, metrics over time against holdout and gates, latency, alerts."""
    from . import registry
    from .training import get_run
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
                                       "labelled_rows")}
                    for b in batches],
        "features": features,
        "batch_ids": [b["id"] for b in batches],
        "matrix": matrix,
        "metrics": {"holdout": holdout, "gates": gates, "series": series,
                    "tolerance": settings(store)["metric_tolerance"]},
        "latency": latency,
        "quality": [{"batch_id": b["id"], **f} for b in batches for f in b["quality"]],
        "alerts": list_alerts(store, version["id"]),
    }


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


# -- retrain -------------------------------------------------------------------------------------

def retrain(store: Store, ref: str | int, progress: Progress | None = None,
            cancelled: IsCancelled | None = None) -> dict[str, Any]:
    """Train the version's spec on its dataset + every labelled batch; register the run as a
    pending challenger of the version; compare both on the latest labelled batch."""
    from . import datasets, registry, training
    from .evaluation import compute_metrics
    store.require_role("retraining a model", "analyst")
    version = registry.resolve_version(store, ref)
    run = training.get_run(store, version["run_id"])
    spec = run["spec"]
    target = spec["target"]
    labelled = store.rows(monitor_sql.LABELLED_BATCHES_OF, version_id=version["id"])
    if not labelled:
        raise LabliftError(f"{version['ref']} has no labelled batches to learn from; ingest "
                           f"one with `lablift monitor ingest {version['ref']} FILE --label COL`")

    def step(fraction: float, message: str) -> None:
        if cancelled is not None and cancelled():
            raise Cancelled("retrain cancelled")
        if progress is not None:
            progress(fraction, message)

    step(0.05, "Combining the reference with the labelled batches")
    dataset = datasets.get(store, run["dataset_id"])
    base = datasets.load_frame(store, dataset)
    pieces, used_batches = [base], []
    for b in labelled:
        frame = load_batch_frame(store, b)
        label = b["label_column"]
        if label not in frame.columns:
            continue
        keep = [c for c in base.columns if c in frame.columns and c != target]
        part = frame[keep].copy()
        part[target] = frame[label].to_numpy()
        part = part[part[target].notna()]
        if len(part) == 0:
            continue
        for c in part.columns:  # batch values take the reference's types
            try:
                part[c] = part[c].astype(base[c].dtype)
            except (TypeError, ValueError):
                pass
        pieces.append(part)
        used_batches.append(b)
    if not used_batches:
        raise LabliftError(f"the labelled batches of {version['ref']} have no rows with a "
                           f"label")
    combined = pd.concat(pieces, ignore_index=True)[list(base.columns)]
    with tempfile.TemporaryDirectory(prefix="lablift-retrain-") as tmp:
        out = Path(tmp) / f"{dataset['name']}-retrain.parquet"
        _write_parquet(combined, str(out))
        step(0.15, "Importing the combined dataset")
        new_ds = datasets.import_dataset(store, out, name=f"{dataset['name']}-retrain")
    new_spec = {k: spec.get(k) for k in ("target", "features", "algorithm", "params", "task",
                                          "test_size", "cv", "seed", "sensitive")}
    new_spec["dataset_id"] = new_ds["id"]
    step(0.25, "Training the challenger")
    new_run = training.train(store, new_spec,
                             progress=(lambda f, m: step(0.25 + 0.55 * f, m)),
                             cancelled=cancelled)
    if new_run["status"] != "finished":
        raise LabliftError(f"retraining run {new_run['id']} {new_run['status']}: "
                           f"{new_run.get('error') or 'see the run'}")
    step(0.85, "Registering the challenger")
    batch_ids = [b["id"] for b in used_batches]
    challenger = registry.register(
        store, new_run["id"], version["model"],
        description=f"challenger of {version['ref']}, retrained on dataset "
                    f"{dataset['name']}:{dataset['version']} plus monitoring batches "
                    f"{', '.join(map(str, batch_ids))}",
        challenger_of=version["id"])
    with store.transaction():
        lineage = dict(challenger.get("lineage") or {})
        lineage["retrained_from"] = {"version": version["ref"], "version_id": version["id"],
                                     "run": run["id"], "dataset_id": dataset["id"]}
        lineage["batches"] = batch_ids
        lineage["retrain_dataset"] = {"id": new_ds["id"], "name": new_ds["name"],
                                      "version": new_ds["version"], "rows": new_ds["rows"]}
        monitor_sql.SET_LINEAGE.execute(store.conn, store.engine, {
            "id": challenger["id"], "lineage": encode(lineage),
            "challenger_of": version["id"]})
        audit.append(store, "monitor.retrain", f"model_version:{challenger['ref']}", {
            "champion": version["ref"], "batches": batch_ids, "dataset_id": new_ds["id"],
            "run": new_run["id"]})
    step(0.92, "Comparing champion and challenger")
    latest = used_batches[-1]
    frame = load_batch_frame(store, latest)
    reference = Reference(store, version)
    aligned, _, skip = check_schema(reference, frame, {latest["label_column"]}, 1.0)
    comparison = None
    if not [c for c in skip if reference.used(c)]:
        X = aligned.copy()
        for c in reference.features:
            if c not in X.columns or c in skip:
                X[c] = np.nan
        y = frame[latest["label_column"]]
        has = y.notna().to_numpy()
        X, y = X[has], y[has]
        comparison = {"batch_id": latest["id"], "rows": int(len(y)),
                      "note": "the challenger was trained on this batch too"}
        for who, r in (("champion", run), ("challenger", new_run)):
            model = training.load_pipeline(store, r)
            pred, proba = training._predict(model, X[reference.features], reference.task,
                                            reference.classes)
            yy = y.astype(str).map({str(c): c for c in reference.classes}) \
                if reference.task == "classification" and reference.classes else y
            comparison[who] = compute_metrics(reference.task, yy.to_numpy(), pred, proba,
                                              reference.classes)
    step(1.0, f"Challenger {challenger['ref']} registered (pending)")
    final = registry.get_version(store, challenger["id"])
    return {"challenger": {k: final.get(k) for k in ("id", "model", "version", "status",
                                                     "run_id", "created_by", "challenger_of",
                                                     "lineage")} | {"ref": final["ref"]},
            "champion": {"id": version["id"], "ref": version["ref"], "run_id": run["id"]},
            "dataset": {"id": new_ds["id"], "name": new_ds["name"],
                        "version": new_ds["version"], "rows": new_ds["rows"]},
            "batches": batch_ids, "run": {"id": new_run["id"],
                                          "metrics": new_run.get("metrics")},
            "checks": [{k: c.get(k) for k in ("name", "passed")}
                       for c in challenger.get("checks", [])],
            "comparison": comparison}


# -- helpers --------------------------------------------------------------------------------------

def _isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    return value
