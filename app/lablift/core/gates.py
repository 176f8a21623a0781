"""Checks run when a run is registered: metric gates and fairness gates.

A gate is a dict:
  {"metric": "roc_auc", "op": ">=", "threshold": 0.8}          fixed threshold
  {"metric": "roc_auc", "no_worse_than": "production", "tolerance": 0.01}
      the candidate's holdout figure against the current production version scored on the
      SAME holdout rows (falls back to production's own recorded holdout figure, with a note,
      when production cannot score those rows, e.g. its input columns are missing)
  {"metric": "demographic_parity_ratio", "op": ">=", "threshold": 0.8}   fairness summary
Metric names: the run's holdout metrics (accuracy, roc_auc, r2, mae, ...), `cv.NAME` for the
cross-validated mean, or a fairness summary (fairness.SUMMARY_METRICS).

Per-model gates are set by an admin (registry.set_gates). With none set, the store setting
`registry.default_gates` applies (default: none, and the check says so). Where the run named a
sensitive column, the setting `registry.fairness_gates` applies too (default:
demographic parity ratio >= 0.8, the four-fifths screening rule, for classifiers; none for
regressors, whose group error table is informational), unless the model's own gates name the
same fairness metric. Setting gates only apply to the task their metric belongs to.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

from . import fairness
from .errors import LabliftError

HOLDOUT_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc",
                   "log_loss", "r2", "mae", "rmse", "mape")
LOWER_IS_BETTER = {"log_loss", "mae", "rmse", "mape"} | {
    k for k, v in fairness.SUMMARY_METRICS.items() if v == "lower"}
OPS = (">=", "<=")
DEFAULT_GATES_SETTING = "registry.default_gates"
FAIRNESS_GATES_SETTING = "registry.fairness_gates"
DEFAULT_FAIRNESS_GATES = [
    {"metric": "demographic_parity_ratio", "op": ">=", "threshold": fairness.FOUR_FIFTHS}]


# -- gate definitions ----------------------------------------------------------------------------
def _base_metric(metric: str) -> str:
    return metric[3:] if metric.startswith("cv.") else metric


def is_fairness_metric(metric: str) -> bool:
    return metric in fairness.SUMMARY_METRICS


def validate_gate(gate: dict[str, Any]) -> dict[str, Any]:
    """Normalise one gate or raise LabliftError naming what is wrong with it."""
    if not isinstance(gate, dict) or "metric" not in gate:
        raise LabliftError(f"gate {gate!r} needs a 'metric'")
    metric = str(gate["metric"]).strip()
    base = _base_metric(metric)
    if base not in HOLDOUT_METRICS and not is_fairness_metric(metric):
        raise LabliftError(
            f"gate metric {metric!r} is unknown: use one of {', '.join(HOLDOUT_METRICS)} "
            f"(cv.NAME for the cross-validated mean) or a fairness metric "
            f"({', '.join(fairness.SUMMARY_METRICS)})")
    if "no_worse_than" in gate:
        if gate["no_worse_than"] != "production":
            raise LabliftError(f"gate on {metric}: no_worse_than must be 'production'")
        if is_fairness_metric(metric) or metric.startswith("cv."):
            raise LabliftError(f"gate on {metric}: no_worse_than compares holdout metrics only")
        tol = _float(gate.get("tolerance", 0.0), f"gate on {metric}: tolerance")
        if tol < 0:
            raise LabliftError(f"gate on {metric}: tolerance must be >= 0, not {tol}")
        return {"metric": metric, "no_worse_than": "production", "tolerance": tol}
    op = gate.get("op")
    if op not in OPS:
        raise LabliftError(f"gate on {metric}: op must be one of {', '.join(OPS)}, not {op!r}")
    return {"metric": metric, "op": op,
            "threshold": _float(gate.get("threshold"), f"gate on {metric}: threshold")}


def _float(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise LabliftError(f"{what} must be a number, not {value!r}") from None
    if not math.isfinite(out):
        raise LabliftError(f"{what} must be a finite number, not {value!r}")
    return out


_GATE_RE = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(>=|<=)\s*(.+?)\s*$")


def parse_gate(text: str) -> dict[str, Any]:
    """'roc_auc>=0.8', 'cv.f1>=0.7', 'roc_auc>=production', 'log_loss<=production+0.02'."""
    m = _GATE_RE.match(text)
    if not m:
        raise LabliftError(f"gate {text!r} is not METRIC>=VALUE or METRIC<=VALUE "
                           f"(VALUE may be 'production' or 'production-TOLERANCE')")
    metric, op, rhs = m.groups()
    prod = re.match(r"^production\s*(?:([+-])\s*([0-9.eE+-]+))?$", rhs)
    if prod:
        lower = _base_metric(metric) in LOWER_IS_BETTER
        if (op == "<=") != lower:
            want = "<=" if lower else ">="
            raise LabliftError(f"gate {text!r}: {metric} is "
                               f"{'lower' if lower else 'higher'} is better; write "
                               f"{metric}{want}production")
        sign, tol = prod.groups()
        if tol is not None and sign != ("+" if lower else "-"):
            raise LabliftError(f"gate {text!r}: the tolerance loosens the gate, write "
                               f"production{'+' if lower else '-'}{tol}")
        return validate_gate({"metric": metric, "no_worse_than": "production",
                              "tolerance": tol if tol is not None else 0.0})
    return validate_gate({"metric": metric, "op": op, "threshold": rhs})


def describe(gate: dict[str, Any]) -> str:
    if "no_worse_than" in gate:
        tol = gate.get("tolerance") or 0.0
        return (f"{gate['metric']} no worse than production"
                + (f" (tolerance {tol:g})" if tol else ""))
    return f"{gate['metric']} {gate['op']} {gate['threshold']:g}"


# -- evaluation ----------------------------------------------------------------------------------
def load_holdout(store, run: dict[str, Any]):
    """The run's holdout predictions (pandas): row, y_true, y_pred, proba_*, [sensitive]."""
    import pyarrow.parquet as pq
    sha = (run.get("artifacts") or {}).get("holdout")
    if not sha:
        raise LabliftError(f"run {run['id']} has no holdout artifact")
    return pq.read_table(io.BytesIO(store.artifacts.read_bytes(sha))).to_pandas()


def _run_value(run: dict[str, Any], metric: str) -> float | None:
    metrics = run.get("metrics") or {}
    if metric.startswith("cv."):
        return ((metrics.get("cv") or {}).get(metric[3:]) or {}).get("mean")
    return (metrics.get("holdout") or {}).get(metric)


def _compare(value: float | None, op: str, threshold: float) -> bool:
    if value is None:
        return False
    return value >= threshold if op == ">=" else value <= threshold


def fairness_check(store, run: dict[str, Any], holdout=None) -> dict[str, Any] | None:
    """The fairness report as an informational check, or None if no sensitive column."""
    sensitive = (run.get("spec") or {}).get("sensitive")
    if not sensitive:
        return None
    holdout = load_holdout(store, run) if holdout is None else holdout
    if "sensitive" not in holdout.columns:
        raise LabliftError(f"run {run['id']} named sensitive column {sensitive!r} but its "
                           f"holdout artifact has no 'sensitive' column")
    # The four-fifths flag is 0.8 by definition; the gate threshold is the setting.
    report = fairness.report(run.get("task") or "classification", holdout["y_true"].tolist(),
                             holdout["y_pred"].tolist(), holdout["sensitive"].tolist(),
                             classes=(run.get("spec") or {}).get("classes"))
    report["sensitive"] = sensitive
    report["rows"] = int(len(holdout))
    return {"kind": "fairness_report", "name": f"fairness report ({sensitive})", "passed": True,
            "details": {"informational": True, "report": report}}


def run_checks(store, run: dict[str, Any], model: str, gates: list[dict[str, Any]] | None,
               production: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """All checks for registering `run` as a version of `model`: list of
    {kind, name, passed, details}. `production` is the current production version row
    (with its run under "run") or None."""
    checks: list[dict[str, Any]] = []
    configured = list(gates or [])
    source = "model"
    if not configured:
        configured = [validate_gate(g) for g in store.setting(DEFAULT_GATES_SETTING, []) or []]
        source = "store default"
    metric_gates = [g for g in configured if not is_fairness_metric(g["metric"])]
    fair_gates = [g for g in configured if is_fairness_metric(g["metric"])]
    if not metric_gates:
        checks.append({"kind": "info", "name": "metric gates", "passed": True, "details": {
            "informational": True,
            "note": f"no metric gates are configured for model {model!r}; an admin can set "
                    f"them with `lablift model gates {model} --set 'roc_auc>=0.8'`"}})
    holdout = None
    for gate in metric_gates:
        if "no_worse_than" in gate:
            checks.append(_production_check(store, run, gate, production))
            continue
        value = _run_value(run, gate["metric"])
        source_metric = "cv mean" if gate["metric"].startswith("cv.") else "holdout"
        passed = _compare(value, gate["op"], gate["threshold"])
        details = {"metric": gate["metric"], "op": gate["op"], "threshold": gate["threshold"],
                   "value": value, "source": source_metric, "gate_source": source}
        if value is None:
            details["note"] = (f"run {run['id']} has no {source_metric} value for "
                               f"{_base_metric(gate['metric'])} ({run.get('task')} run)")
        checks.append({"kind": "metric", "name": describe(gate), "passed": passed,
                       "details": details})

    sensitive = (run.get("spec") or {}).get("sensitive")
    report_check = None
    if sensitive:
        holdout = load_holdout(store, run)
        report_check = fairness_check(store, run, holdout)
        checks.append(report_check)
        defaults = [validate_gate(g) for g in
                    store.setting(FAIRNESS_GATES_SETTING, DEFAULT_FAIRNESS_GATES) or []]
        named = {g["metric"] for g in fair_gates}
        applicable = (fairness.REGRESSION_SUMMARY if run.get("task") == "regression"
                      else fairness.CLASSIFICATION_SUMMARY)
        fair_gates = fair_gates + [g for g in defaults if g["metric"] not in named
                                   and g["metric"] in applicable]
    for gate in fair_gates:
        checks.append(_fairness_gate(run, gate, report_check, sensitive))
    return checks


def _fairness_gate(run, gate, report_check, sensitive) -> dict[str, Any]:
    name = describe(gate) + (f" ({sensitive})" if sensitive else "")
    details: dict[str, Any] = {"metric": gate["metric"], "op": gate["op"],
                               "threshold": gate["threshold"], "sensitive": sensitive}
    if report_check is None:
        details["note"] = (f"the gate needs a fairness report but run {run['id']} named no "
                           f"sensitive column; train with --sensitive COLUMN")
        return {"kind": "fairness", "name": name, "passed": False, "details": details}
    report = report_check["details"]["report"]
    if gate["metric"] not in report:
        details["note"] = f"{gate['metric']} does not apply to a {report.get('task')} run"
        return {"kind": "fairness", "name": name, "passed": False, "details": details}
    value = report.get(gate["metric"])
    details["value"] = value
    if gate["metric"] == "demographic_parity_ratio":
        details["note"] = fairness.FOUR_FIFTHS_NOTE
        if value is None:
            details["note"] = ("no group has any positive prediction, so selection rates are "
                               "equal (all 0) and the ratio is undefined; " +
                               fairness.FOUR_FIFTHS_NOTE)
            return {"kind": "fairness", "name": name, "passed": True, "details": details}
    return {"kind": "fairness", "name": name,
            "passed": _compare(value, gate["op"], gate["threshold"]), "details": details}


def _production_check(store, run, gate, production) -> dict[str, Any]:
    metric = gate["metric"]
    tol = gate.get("tolerance") or 0.0
    lower = metric in LOWER_IS_BETTER
    details: dict[str, Any] = {"metric": metric, "no_worse_than": "production",
                               "tolerance": tol, "direction": "lower" if lower else "higher"}
    name = describe(gate)
    candidate = _run_value(run, metric)
    details["value"] = candidate
    if production is None:
        details["note"] = "no production version yet: nothing to compare against"
        return {"kind": "metric", "name": name, "passed": True, "details": details}
    prod_run = production["run"]
    details["production"] = f"{production['model']}:{production['version']}"
    prod_value, how = _production_on_candidate_holdout(store, run, prod_run, metric)
    details["production_value"] = prod_value
    details["comparison"] = how
    if candidate is None or prod_value is None:
        details["note"] = f"{metric} is undefined for the candidate or for production"
        return {"kind": "metric", "name": name, "passed": candidate is not None and
                prod_value is None, "details": details}
    passed = candidate <= prod_value + tol if lower else candidate >= prod_value - tol
    details["delta"] = candidate - prod_value
    return {"kind": "metric", "name": name, "passed": passed, "details": details}


def _production_on_candidate_holdout(store, run, prod_run, metric) -> tuple[float | None, str]:
    """Score the production pipeline on the candidate's holdout rows (same rows, same truth)."""
    recorded = _run_value(prod_run, metric)
    fallback = "production's own recorded holdout figure (different rows)"
    if prod_run["id"] == run["id"]:
        return recorded, "same run"
    try:
        from . import datasets, evaluation, training
        spec = prod_run.get("spec") or {}
        if (prod_run.get("task") != run.get("task") or prod_run.get("target") != run.get("target")):
            return recorded, fallback + ": production predicts another target or task"
        holdout = load_holdout(store, run)
        frame = datasets.load_frame(store, run["dataset_id"])
        features = spec.get("features") or []
        missing = [c for c in features if c not in frame.columns]
        if missing:
            return recorded, fallback + f": columns {missing} are not in the candidate's data"
        X = frame.iloc[holdout["row"].to_numpy()][features]
        pipe = training.load_pipeline(store, prod_run)
        y_pred = pipe.predict(X)
        proba, classes = None, spec.get("classes")
        if run.get("task") == "classification" and hasattr(pipe, "predict_proba"):
            proba = pipe.predict_proba(X)
            pipe_classes = getattr(pipe, "classes_", None)
            if pipe_classes is not None:
                classes = [c.item() if hasattr(c, "item") else c for c in pipe_classes]
        values = evaluation.compute_metrics(run.get("task"), holdout["y_true"].to_numpy(),
                                            y_pred, proba, classes)
        return values.get(metric), f"production scored on the candidate's {len(X)} holdout rows"
    except LabliftError as exc:
        return recorded, fallback + f": {exc}"
    except Exception as exc:  # an old pipeline that cannot score these rows
        return recorded, fallback + f": production could not score them ({type(exc).__name__})"
