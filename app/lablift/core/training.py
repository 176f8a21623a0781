"""Train a spec into a run: validate, split, cross-validate, fit, evaluate, record.

The work is split so sweeps can farm it out: `prepare` (validation + split, no writes),
`compute` (pure: no store access, picklable inputs and outputs, runs in a joblib/Dask worker)
and `record_start` / `record_finish` (short transactions in the process that owns the store).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import io
import json
import os
import pickle
import platform
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import audit, catalogue, datasets, evaluation
from .errors import Cancelled, LabliftError
# Reading runs lives in run_listing.py, without numpy (`run list` must not wait for it).
from .run_listing import _loads_json, get_run, list_runs  # noqa: F401  (re-exported)
from .store import Store, utcnow
from .store.sql import inserted_id, repository

run_sql = repository("runs")  # statements: core/store/runs.py

Progress = Callable[[float, str], None]
IsCancelled = Callable[[], bool]
PACKAGES = ("scikit-learn", "numpy", "pandas", "scipy", "pyarrow", "joblib")
# what `run list` shows; core/store/runs.py selects the same (tests/test_store_sql.py checks)
RUN_SUMMARY_COLUMNS = ("id, dataset_id, sweep_id, reproduces, status, task, algorithm, target, "
                       "seed, params, metrics, error, created_by, created_at, finished_at, "
                       "duration_s")
MAX_CLASSES = 200
FLOAT32_MAX = float(np.finfo(np.float32).max)


@functools.lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """Python, platform, Lablift and package versions (cached: metadata lookups cost ms)."""
    from .. import __version__
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    return {"python": platform.python_version(), "implementation": sys.implementation.name,
            "platform": platform.platform(), "machine": platform.machine(),
            "lablift": __version__, "packages": packages}


@functools.lru_cache(maxsize=1)
def _environment_json() -> str:
    # encoded once per process: recording a run is on the sweep's hot path
    return json.dumps(environment())


# -- validation and split ----------------------------------------------------------------------

@dataclass
class Prepared:
    """A validated spec with its data split; everything `compute` needs, nothing of the store."""
    spec: dict[str, Any]
    dataset: dict[str, Any]  # id, name, version, sha256
    profile: dict[str, Any]
    X: pd.DataFrame  # features of every row with a target; index = row number in the dataset
    y: pd.Series
    train_rows: np.ndarray
    test_rows: np.ndarray
    sensitive: pd.Series | None = None
    notes: list[str] = field(default_factory=list)


def _column_error(name: str, what: str, dataset: dict, columns: list[str]) -> LabliftError:
    return LabliftError(
        f"{what} {name!r} is not a column of dataset {dataset['name']}:{dataset['version']}"
        f"{catalogue.close_matches(name, columns)}; columns: {', '.join(columns)}")


def resolve_dataset(store: Store, spec: dict[str, Any]) -> dict[str, Any]:
    ref = spec.get("dataset_id") if spec.get("dataset_id") is not None else spec.get("dataset")
    if ref is None or str(ref).strip() == "":
        raise LabliftError("the spec names no dataset (give dataset or dataset_id)")
    return datasets.resolve(store, ref)


def _int(spec: dict, key: str, default: int, low: int, label: str) -> int:
    value = spec.get(key)
    value = default if value is None else value
    try:
        if isinstance(value, bool) or float(value) != int(float(value)):
            raise ValueError
        value = int(float(value))
    except (TypeError, ValueError):
        raise LabliftError(f"{label} must be a whole number, got {spec.get(key)!r}") from None
    if value < low:
        raise LabliftError(f"{label} must be at least {low}, got {value}")
    return value


def prepare(store: Store, spec: dict[str, Any], frame: pd.DataFrame | None = None,
            dataset: dict[str, Any] | None = None) -> Prepared:
    """Validate `spec` against the dataset and split it. Raises LabliftError; writes nothing."""
    dataset = dataset or resolve_dataset(store, spec)
    profile = dataset["profile"]
    columns = [c["name"] for c in profile["columns"]]
    by_name = {c["name"]: c for c in profile["columns"]}

    target = spec.get("target")
    if not target:
        raise LabliftError("the spec names no target column")
    if target not in by_name:
        raise _column_error(target, "target", dataset, columns)
    sensitive = spec.get("sensitive") or None
    if sensitive is not None and sensitive not in by_name:
        raise _column_error(sensitive, "sensitive column", dataset, columns)

    tcol = by_name[target]
    if tcol["missing"] >= profile["rows"]:
        raise LabliftError(f"target {target!r} is missing in every row of dataset "
                           f"{dataset['name']}:{dataset['version']}")
    task = spec.get("task") or catalogue.infer_task(tcol)
    if task not in catalogue.TASKS:
        raise LabliftError(f"task {task!r} is not one of: {', '.join(catalogue.TASKS)}")
    if task == "regression" and not tcol["dtype"].startswith(("int", "uint", "float", "double",
                                                               "decimal")):
        raise LabliftError(f"target {target!r} is {tcol['dtype']} ({tcol['kind']}): regression "
                           f"needs a numeric target; use classification")

    features = spec.get("features")
    if isinstance(features, str):
        features = [f.strip() for f in features.split(",") if f.strip()]
    if features:
        for f in features:
            if f not in by_name:
                raise _column_error(f, "feature", dataset, columns)
            if f == target:
                raise LabliftError(f"feature {f!r} is the target; a model cannot use its own "
                                   f"target as input")
        if len(set(features)) != len(features):
            dup = next(f for f in features if features.count(f) > 1)
            raise LabliftError(f"feature {dup!r} is listed twice")
        features = list(features)
    else:
        features = catalogue.usable_features(profile, target,
                                             exclude=[sensitive] if sensitive else [])
        if not features:
            raise LabliftError(f"dataset {dataset['name']}:{dataset['version']} has no usable "
                               f"feature columns besides {target!r}")

    algorithm = spec.get("algorithm") or catalogue.DEFAULT_ALGORITHM[task]
    params = catalogue.validate_params(algorithm, task, spec.get("params"))

    try:
        test_size = float(spec["test_size"] if spec.get("test_size") is not None else 0.2)
    except (TypeError, ValueError):
        raise LabliftError(f"test size must be a number between 0 and 1 (exclusive), got "
                           f"{spec.get('test_size')!r}") from None
    if not 0.0 < test_size < 1.0:
        raise LabliftError(f"test size must be between 0 and 1 (exclusive), got {test_size:g}")
    cv = _int(spec, "cv", 5, 0, "cv (number of folds)")
    cv = 0 if cv == 1 else cv
    seed = _int(spec, "seed", 0, 0, "seed")

    _, _, notes = catalogue.column_groups(profile, features)
    if len(notes) == len(features):
        raise LabliftError("no usable feature columns: " + "; ".join(notes))

    # -- data-dependent checks (cheap: the frame is loaded once and reused by sweeps) --
    if frame is None:
        frame = datasets.load_frame(store, dataset)
    y_all = frame[target]
    has_target = y_all.notna().to_numpy()
    y = y_all[has_target]
    n = len(y)
    for name in [target, *features]:
        _check_finite(frame[name][has_target], name, dataset)
    if task == "classification":
        counts = y.value_counts()
        if len(counts) < 2:
            raise LabliftError(f"target {target!r} has one class ({_py(counts.index[0])!r}) in the "
                               f"{n} rows where it is present; classification needs at least two")
        if len(counts) > MAX_CLASSES:
            raise LabliftError(f"target {target!r} has {len(counts)} distinct values, too many "
                               f"classes; use --task regression for a numeric target")
        classes = sorted(counts.index.tolist())
        rare = counts[counts < 2]
        if len(rare):
            raise LabliftError(f"class {_py(rare.index[0])!r} of target {target!r} has only "
                               f"{int(rare.iloc[0])} row; a stratified split needs at least 2 "
                               f"rows per class")
    else:
        classes = None
        if y.nunique() < 2:
            raise LabliftError(f"target {target!r} has one value in all {n} rows where it is "
                               f"present; there is nothing to predict")
    n_test = int(np.ceil(test_size * n))
    n_train = n - n_test
    k = len(classes) if classes else 1
    if n_test < k or n_train < max(k, 2):
        raise LabliftError(f"too few rows: {n} rows with a target give {n_train} training and "
                           f"{n_test} holdout rows at test size {test_size:g}; need at least "
                           f"{max(k, 2)} in each")

    from sklearn.model_selection import train_test_split  # order kept: CV folds match plain sklearn
    rows = np.flatnonzero(has_target)
    try:
        train_rows, test_rows = train_test_split(
            rows, test_size=test_size, random_state=seed,
            stratify=y.to_numpy() if task == "classification" else None)
    except ValueError as exc:
        raise LabliftError(f"cannot split {n} rows at test size {test_size:g}: {exc}") from None
    if cv:
        y_train = y_all.iloc[train_rows]
        if task == "classification":
            tc = y_train.value_counts()
            worst = tc.idxmin()
            if tc.min() < cv:
                raise LabliftError(
                    f"too few rows for {cv}-fold cross-validation: class {_py(worst)!r} has "
                    f"{int(tc.min())} training rows, each class needs at least {cv}; lower --cv "
                    f"or use --cv 0 for holdout only")
        elif len(train_rows) < cv:
            raise LabliftError(f"too few rows for {cv}-fold cross-validation: {len(train_rows)} "
                               f"training rows; lower --cv or use --cv 0")

    norm = {"dataset_id": dataset["id"], "target": target, "features": features,
            "algorithm": algorithm, "params": params, "task": task, "test_size": test_size,
            "cv": cv, "seed": seed, "sensitive": sensitive}
    if classes is not None:
        norm["classes"] = [_py(c) for c in classes]
    X = frame.loc[has_target, features]
    return Prepared(spec=norm, dataset={k: dataset[k] for k in ("id", "name", "version",
                                                                 "sha256")},
                    profile=profile, X=X, y=y, train_rows=np.asarray(train_rows),
                    test_rows=np.asarray(test_rows),
                    sensitive=frame.loc[has_target, sensitive] if sensitive else None,
                    notes=notes)


def _check_finite(values: pd.Series, name: str, dataset: dict) -> None:
    """Refuse inf/-inf and numbers beyond float32's range (about 3.4e38) in a column the model
    uses: trees cast to float32 and scalers square values, so scikit-learn would fail mid-fit,
    after the run is recorded. Not imputed as missing: inf is a value the data claims, and
    dropping it silently would hide a broken export."""
    if not pd.api.types.is_float_dtype(values.dtype):
        return
    arr = values.to_numpy(dtype=float, na_value=np.nan)
    where = f"column {name!r} of dataset {dataset['name']}:{dataset['version']}"
    n_inf = int(np.isinf(arr).sum())
    if n_inf:
        raise LabliftError(f"{where} has {n_inf} infinite values (inf or -inf); replace or "
                           f"remove them before training")
    with np.errstate(invalid="ignore"):
        huge = np.abs(arr) > FLOAT32_MAX
    if huge.any():
        raise LabliftError(f"{where} has {int(huge.sum())} values too large to train on "
                           f"(beyond ±3.4e38, e.g. {float(arr[huge][0]):g}); rescale the column")


# -- compute (no store access) -----------------------------------------------------------------

def _predict(model, X, task: str, classes: list | None):
    proba = None
    if task == "classification" and hasattr(model, "predict_proba"):
        # preprocess once for both calls (what Pipeline.predict/predict_proba each do)
        final = model
        if hasattr(model, "steps") and len(model.steps) > 1:
            X, final = model[:-1].transform(X), model.steps[-1][1]
        y_pred = final.predict(X)
        raw = final.predict_proba(X)
        # align to the run's class order (a fold may lack a class)
        proba = np.zeros((X.shape[0], len(classes)))
        index = {_py(c): i for i, c in enumerate(classes)}
        for j, c in enumerate(model.classes_):
            proba[:, index[_py(c)]] = raw[:, j]
        return y_pred, proba
    return model.predict(X), proba


def predictions_sha256(y_pred, proba) -> str:
    """Deterministic hash of holdout predictions (probabilities rounded to 10 decimals)."""
    h = hashlib.sha256()
    arr = np.asarray(y_pred)
    if arr.dtype.kind in "biuf":
        h.update(b"num:" + np.ascontiguousarray(arr.astype("<f8")).tobytes())
    else:
        h.update(("str:" + "\x1f".join(map(str, arr.tolist()))).encode("utf-8"))
    if proba is not None:
        h.update(b"proba:" + np.ascontiguousarray(np.round(proba, 10).astype("<f8")).tobytes())
    return h.hexdigest()


def compute(p: Prepared, progress: Progress | None = None,
            cancelled: IsCancelled | None = None) -> dict[str, Any]:
    """Cross-validate, fit and evaluate. Returns metrics, params and artifact bytes."""
    from sklearn.base import clone

    def step(fraction: float, message: str) -> None:
        if cancelled is not None and cancelled():
            raise Cancelled("cancelled by the user")
        if progress is not None:
            progress(fraction, message)

    spec = p.spec
    task, classes, seed, cv = spec["task"], spec.get("classes"), spec["seed"], spec["cv"]
    timings: dict[str, float] = {}
    pipeline = catalogue.build_pipeline(p.profile, spec["features"], task, spec["algorithm"],
                                        spec["params"], seed)
    X_train, y_train = p.X.loc[p.train_rows], p.y.loc[p.train_rows]
    X_test, y_test = p.X.loc[p.test_rows], p.y.loc[p.test_rows]
    folds: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    if cv:
        from sklearn.model_selection import KFold, StratifiedKFold
        splitter = (StratifiedKFold(cv, shuffle=True, random_state=seed)
                    if task == "classification" else KFold(cv, shuffle=True, random_state=seed))
        for k, (tr, va) in enumerate(splitter.split(X_train, y_train)):
            step(0.02 + 0.7 * k / cv, f"Cross-validation fold {k + 1} of {cv}")
            model = clone(pipeline).fit(X_train.iloc[tr], y_train.iloc[tr])
            pred, proba = _predict(model, X_train.iloc[va], task, classes)
            folds.append(evaluation.compute_metrics(task, y_train.iloc[va], pred, proba, classes))
    timings["cv_s"] = time.perf_counter() - t0
    step(0.72 if cv else 0.05, "Fitting on the training rows")
    t0 = time.perf_counter()
    pipeline.fit(X_train, y_train)
    timings["fit_s"] = time.perf_counter() - t0
    step(0.85, "Evaluating on the holdout")
    t0 = time.perf_counter()
    y_pred, proba = _predict(pipeline, X_test, task, classes)
    holdout = evaluation.compute_metrics(task, y_test, y_pred, proba, classes)
    if task == "classification":
        plots = evaluation.classification_plots(y_test.to_numpy(), y_pred, proba, classes)
    else:
        plots = evaluation.regression_plots(y_test.to_numpy(), y_pred, seed)
    step(0.92, "Permutation importance")
    plots["importance"] = evaluation.permutation_importance(pipeline, X_test, y_test, task, seed)
    timings["evaluate_s"] = time.perf_counter() - t0
    step(0.97, "Writing artifacts")
    t0 = time.perf_counter()
    hold = pd.DataFrame({"row": p.test_rows.astype("int64"), "y_true": y_test.to_numpy(),
                         "y_pred": y_pred})
    if proba is not None:
        for i, c in enumerate(classes):
            hold[f"proba_{c}"] = proba[:, i]
    if p.sensitive is not None:
        hold["sensitive"] = p.sensitive.loc[p.test_rows].to_numpy()
    buf = io.BytesIO()
    hold.to_parquet(buf, index=False)
    result = {
        "params": _json_params(catalogue.estimator_params(pipeline.named_steps["model"])),
        "metrics": {"holdout": holdout, "cv": evaluation.summarise_cv(folds)},
        "folds": folds,
        "predictions_sha256": predictions_sha256(y_pred, proba),
        "pipeline_bytes": pickle.dumps(pipeline, protocol=pickle.HIGHEST_PROTOCOL),
        "holdout_bytes": buf.getvalue(),
        "plots_bytes": json.dumps(plots, default=_py, separators=(",", ":")).encode(),
        "timings": timings,
    }
    timings["serialise_s"] = time.perf_counter() - t0
    return result


def compute_safely(p: Prepared) -> dict[str, Any]:
    """For workers: never raises, so one bad configuration does not sink a sweep."""
    t0 = time.perf_counter()
    try:
        result = compute(p)
        result["status"] = "finished"
    except Exception as exc:  # recorded as the run's error
        result = {"status": "failed", "error": _error_text(exc)}
    result["elapsed_s"] = time.perf_counter() - t0
    return result


# -- recording ------------------------------------------------------------------------------

# One encoder, the same output as store._encode's json.dumps(default=str): recording is on
# the hot path of sweeps, where the Python around a few SQL statements dominated its cost.
# The statements themselves are in core/store/runs.py (compiled once per engine).
try:  # CPython: reuse one C encoder (JSONEncoder.encode builds a new one per call: ~40% of it)
    from json.encoder import c_make_encoder, encode_basestring_ascii

    # markers=None: no shared circular-reference state between threads (rows are plain data)
    _c_encoder = c_make_encoder(None, str, encode_basestring_ascii, None, ": ", ", ", False,
                                False, True)

    def _encode(value: Any) -> str:
        return "".join(_c_encoder(value, 0))
except (ImportError, TypeError):
    _encode = json.JSONEncoder(default=str).encode


def record_start(store: Store, p: Prepared, sweep_id: int | None = None,
                 reproduces: int | None = None) -> int:
    """Insert the run as 'running' (one transaction); a crash from here on shows as interrupted."""
    now = utcnow()
    spec = p.spec
    values = {"dataset_id": spec["dataset_id"], "sweep_id": sweep_id, "reproduces": reproduces,
              "task": spec["task"], "algorithm": spec["algorithm"], "target": spec["target"],
              "spec": _encode(spec), "params": _encode(spec["params"]), "seed": spec["seed"],
              "created_by": store.user, "created_at": now, "started_at": now,
              "host": socket.gethostname(), "pid": os.getpid(),
              "environment": _environment_json(), "details": _encode({"notes": p.notes})}
    with store.transaction() as conn:
        run_id = inserted_id(run_sql.START.execute(conn, store.engine, values), store.engine)
        audit.append(store, "run.start", f"run:{run_id}",
                     {"dataset": spec["dataset_id"], "algorithm": spec["algorithm"],
                      "sweep": sweep_id, "reproduces": reproduces}, ts=now)
        return run_id


def record_finish(store: Store, run_id: int, result: dict[str, Any], started: float,
                  notes: list[str] | None = None) -> None:
    """Write artifacts (renamed into place first), then finish the row + audit in one transaction."""
    status = result.get("status", "finished")
    finished_at = utcnow()
    duration = round(result["elapsed_s"] if "elapsed_s" in result
                     else time.perf_counter() - started, 4)
    details = _encode({"notes": notes or [], "timings": result.get("timings", {}),
                       "cv_folds": result.get("folds", [])})
    if status == "finished":
        # all three written at once, renamed into place and fsynced before the row names them
        pipeline, holdout, plots = store.artifacts.put_many(
            [result["pipeline_bytes"], result["holdout_bytes"], result["plots_bytes"]])
        # hex shas: exactly what _encode({"pipeline": ..., ...}) gives, without the encoder
        artifacts = f'{{"pipeline": "{pipeline}", "holdout": "{holdout}", "plots": "{plots}"}}'
        statement = run_sql.FINISH
        values = {"status": status, "finished_at": finished_at, "duration_s": duration,
                  "artifacts": artifacts, "params": _encode(result["params"]),
                  "metrics": _encode(result["metrics"]),
                  "predictions_sha256": result["predictions_sha256"], "details": details,
                  "run_id": run_id}
        audit_details = {"status": status, "predictions_sha256": result["predictions_sha256"]}
    else:
        error = result.get("error", "")
        statement = run_sql.FAIL
        values = {"status": status, "finished_at": finished_at, "duration_s": duration,
                  "error": error, "details": details, "run_id": run_id}
        audit_details = {"status": status, "error": error}
    with store.transaction() as conn:
        if statement.execute(conn, store.engine, values).rowcount != 1:
            raise LabliftError(f"run {run_id} is no longer running (another process marked "
                               f"it ended); its result was not recorded")
        audit.append(store, "run.finish", f"run:{run_id}", audit_details, ts=finished_at)


def train(store: Store, spec: dict[str, Any], progress: Progress | None = None,
          cancelled: IsCancelled | None = None, sweep_id: int | None = None,
          reproduces: int | None = None, prepared: Prepared | None = None,
          compute_fn: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    """Validate, then train `spec` into a run; returns the run row.

    Bad input raises LabliftError before anything is written. Once the run row exists, a
    cancel records it 'cancelled' and raises Cancelled; any other error records 'failed' and
    raises LabliftError naming the run. `compute_fn` stands in for `compute` (the GUI fits
    in a process: core/train_process.py).
    """
    store.require_role("training", "analyst")
    started = time.perf_counter()
    if progress is not None:
        progress(0.0, "Checking the spec")
    p = prepared or prepare(store, spec)
    run_id = record_start(store, p, sweep_id=sweep_id, reproduces=reproduces)
    try:
        result = (compute_fn or compute)(p, progress, cancelled)
        result["status"] = "finished"
    except Cancelled:
        record_finish(store, run_id, {"status": "cancelled", "error": "cancelled by the user"},
                      started, p.notes)
        raise Cancelled(f"run {run_id} cancelled") from None
    except BaseException as exc:
        record_finish(store, run_id, {"status": "failed", "error": _error_text(exc)},
                      started, p.notes)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise LabliftError(f"run {run_id} failed: {_error_text(exc)}") from exc
    record_finish(store, run_id, result, started, p.notes)
    if progress is not None:
        progress(1.0, f"Run {run_id} finished")
    return get_run(store, run_id)


# -- reproduce -------------------------------------------------------------------------------

def reproduce(store: Store, run_id: int | str, progress: Progress | None = None,
              cancelled: IsCancelled | None = None,
              compute_fn: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    """Re-train a run from its dataset version, spec and seed; compare holdout predictions.

    Returns {run_id, new_run_id, identical, predictions_sha256: {original, new}, changes}.
    `changes` names what differs: package/Python/Lablift versions, or the data.
    """
    from .artifacts import ArtifactCorrupt
    from .profiling import canonical_sha256
    original = get_run(store, run_id)
    if original["status"] != "finished" or not original.get("predictions_sha256"):
        raise LabliftError(f"run {original['id']} is {original['status']}; only a finished run "
                           f"can be reproduced")
    store.require_role("training", "analyst")
    dataset = datasets.get(store, original["dataset_id"])
    out: dict[str, Any] = {"run_id": original["id"], "new_run_id": None, "identical": False,
                           "predictions_sha256": {"original": original["predictions_sha256"],
                                                  "new": None},
                           "changes": [], "environment_changes": {}}
    try:
        table = datasets.load_table(store, dataset)
    except (ArtifactCorrupt, LabliftError) as exc:
        out["changes"].append(f"data: dataset {dataset['name']}:{dataset['version']} cannot be "
                              f"read as recorded ({exc})")
        return out
    if canonical_sha256(table) != dataset["sha256"]:
        out["changes"].append(f"data: the content of dataset {dataset['name']}:"
                              f"{dataset['version']} no longer matches its recorded sha256")
        return out
    env_now, env_then = environment(), original.get("environment") or {}
    diffs: dict[str, dict[str, Any]] = {}
    for key in ("python", "lablift"):
        if env_then.get(key) != env_now.get(key):
            diffs[key] = {"original": env_then.get(key), "now": env_now.get(key)}
    then_pk, now_pk = env_then.get("packages") or {}, env_now.get("packages") or {}
    for name in sorted(set(then_pk) | set(now_pk)):
        if then_pk.get(name) != now_pk.get(name):
            diffs[name] = {"original": then_pk.get(name), "now": now_pk.get(name)}
    out["environment_changes"] = diffs
    spec = {k: v for k, v in original["spec"].items() if k != "classes"}
    frame = table.to_pandas()
    p = prepare(store, spec, frame=frame, dataset=dataset)
    new = train(store, spec, progress=progress, cancelled=cancelled, reproduces=original["id"],
                prepared=p, compute_fn=compute_fn)
    out["new_run_id"] = new["id"]
    out["predictions_sha256"]["new"] = new["predictions_sha256"]
    out["identical"] = new["predictions_sha256"] == original["predictions_sha256"]
    if not out["identical"]:
        if diffs:
            out["changes"] += [f"{name} {d['original']} -> {d['now']}" for name, d in diffs.items()]
        else:
            out["changes"].append("predictions differ with the same data, spec, seed and package "
                                  "versions (the estimator is not deterministic here)")
    return out


def load_pipeline(store: Store, run: dict[str, Any] | int):
    """The run's fitted scikit-learn Pipeline (artifact verified against its sha256)."""
    run = run if isinstance(run, dict) else get_run(store, run)
    sha = (run.get("artifacts") or {}).get("pipeline")
    if not sha:
        raise LabliftError(f"run {run['id']} has no fitted pipeline (status {run['status']})")
    return pickle.loads(store.artifacts.read_bytes(sha))


def load_plots(store: Store, run: dict[str, Any] | int) -> dict[str, Any]:
    run = run if isinstance(run, dict) else get_run(store, run)
    sha = (run.get("artifacts") or {}).get("plots")
    if not sha:
        return {}
    return json.loads(store.artifacts.read_bytes(sha))


def load_holdout(store: Store, run: dict[str, Any] | int) -> pd.DataFrame:
    import pyarrow.parquet as pq
    run = run if isinstance(run, dict) else get_run(store, run)
    sha = (run.get("artifacts") or {}).get("holdout")
    if not sha:
        raise LabliftError(f"run {run['id']} has no holdout predictions (status {run['status']})")
    return pq.read_table(store.artifacts.verified_path(sha)).to_pandas()


def _split_frames(store: Store, run: dict[str, Any]):
    run = run if isinstance(run, dict) else get_run(store, run)
    spec = run["spec"]
    frame = datasets.load_frame(store, datasets.get(store, run["dataset_id"]))
    test_rows = load_holdout(store, run)["row"].to_numpy()
    has_target = frame[spec["target"]].notna().to_numpy()
    is_test = np.zeros(len(frame), dtype=bool)
    is_test[test_rows] = True
    return frame, spec, has_target & ~is_test, test_rows


def training_frame(store: Store, run: dict[str, Any] | int) -> tuple[pd.DataFrame, pd.Series]:
    """(X_train, y_train): rows with a target that are not in the holdout."""
    frame, spec, train_mask, _ = _split_frames(store, run)
    part = frame[train_mask]
    return part[spec["features"]], part[spec["target"]]


def holdout_frame(store: Store, run: dict[str, Any] | int) -> tuple[pd.DataFrame, pd.Series]:
    frame, spec, _, test_rows = _split_frames(store, run)
    part = frame.iloc[test_rows]
    return part[spec["features"]], part[spec["target"]]


# -- helpers --------------------------------------------------------------------------------

def _py(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        v = _py(v)
        out[k] = v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else repr(v)
    return out


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, LabliftError):
        text = f"{type(exc).__name__}: {text}"
    return text.splitlines()[0][:2000] if text else type(exc).__name__
