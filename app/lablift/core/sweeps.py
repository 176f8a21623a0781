"""Hyperparameter sweeps: grid and random search, each configuration its own run.

The dataset is loaded and split once; configurations are computed in parallel by joblib
(local processes, or a Dask cluster with backend="dask"); only this process writes the store,
so SQLite never sees a writer on another machine.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import socket
import time
from typing import Any, Sequence

import numpy as np

from . import audit, catalogue, evaluation, training
from .errors import Cancelled, LabliftError
from .store import Store, encode, utcnow
from .store.sql import inserted_id, repository

sweep_sql = repository("sweeps")  # statements: core/store/sweeps.py

MAX_CONFIGS = 10000
BACKENDS = ("local", "dask")


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """['n_estimators=50,100', 'max_depth=3,none'] -> {'n_estimators': ['50','100'], ...}."""
    grid: dict[str, list[str]] = {}
    for item in items or ():
        name, sep, values = item.partition("=")
        name = name.strip()
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not name or not vals:
            raise LabliftError(f"--grid {item!r} is not PARAM=V1,V2,...")
        if name in grid:
            raise LabliftError(f"--grid names parameter {name!r} twice")
        grid[name] = vals
    return grid


def grid_configs(algorithm: str, task: str, grid: dict[str, Sequence[Any]]) -> list[dict]:
    """Cartesian product of the grid, every value checked against the catalogue."""
    algo = catalogue.get(algorithm)
    names = list(grid)
    values = [[algo.hyperparameter(n, task).coerce(v, algorithm) for v in grid[n]] for n in names]
    count = math.prod(len(v) for v in values) if values else 0
    if count > MAX_CONFIGS:
        raise LabliftError(f"the grid has {count} configurations; at most {MAX_CONFIGS}")
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def sample_value(hp: catalogue.Hyperparameter, rng: np.random.Generator) -> Any:
    if hp.nullable and rng.random() < 0.2:
        return None
    if hp.type == "bool":
        return bool(rng.integers(2))
    if hp.type == "choice":
        return hp.choices[int(rng.integers(len(hp.choices)))]
    low, high = hp.search or (hp.low, hp.high)
    log = low > 0 and (hp.log or high / low >= 100)
    if log:
        x = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        x = rng.uniform(low, high)
    if hp.type == "int":
        return int(min(max(round(x), low), high))
    return float(x)


def check_space(algorithm: str, task: str, space: dict[str, dict]) -> dict[str, dict]:
    """A random search's own ranges, checked: {name: {"low", "high", "log"}} for numbers,
    {name: {"choices": [...]}} for any parameter; each bound and choice must be allowed."""
    algo = catalogue.get(algorithm)
    checked: dict[str, dict] = {}
    for name, entry in space.items():
        hp = algo.hyperparameter(name, task)
        if "choices" in entry:
            values = list(dict.fromkeys(hp.coerce(v, algorithm) for v in entry["choices"]))
            if not values:
                raise LabliftError(f"parameter {name}: give at least one value to choose from")
            checked[name] = {"choices": values}
            continue
        if hp.type not in ("int", "float"):
            raise LabliftError(f"parameter {name} of {algorithm} takes {hp.rule()}: give "
                               f"choices, not a range")
        low, high = (hp.coerce(entry.get(k), algorithm) for k in ("low", "high"))
        if low is None or high is None:
            raise LabliftError(f"parameter {name}: a range needs numbers for low and high")
        if low > high:
            raise LabliftError(f"parameter {name}: low {low:g} is above high {high:g}")
        log = bool(entry.get("log"))
        if log and low <= 0:
            raise LabliftError(f"parameter {name}: a log range needs low above 0, got {low:g}")
        checked[name] = {"low": low, "high": high, "log": log}
    return checked


def _sample_in(hp: catalogue.Hyperparameter, entry: dict, rng: np.random.Generator) -> Any:
    if "choices" in entry:
        return entry["choices"][int(rng.integers(len(entry["choices"])))]
    low, high = entry["low"], entry["high"]
    x = (math.exp(rng.uniform(math.log(low), math.log(high))) if entry["log"]
         else rng.uniform(low, high))
    return int(min(max(round(x), low), high)) if hp.type == "int" else float(x)


def random_configs(algorithm: str, task: str, n: int, seed: int,
                   names: Sequence[str] | None = None,
                   space: dict[str, dict] | None = None) -> list[dict]:
    """n configurations sampled (with `seed`) from the catalogue's search ranges, or only
    the parameters of `space` from its ranges (see check_space)."""
    if not 1 <= n <= MAX_CONFIGS:
        raise LabliftError(f"--random must be from 1 to {MAX_CONFIGS}, got {n}")
    algo = catalogue.get(algorithm)
    if space is not None:
        checked = check_space(algorithm, task, space)
        if not checked:
            raise LabliftError("a random search needs at least one parameter to sample")
        hps = {name: algo.hyperparameter(name, task) for name in checked}
        rng = np.random.default_rng(seed)
        return [{name: _sample_in(hps[name], entry, rng) for name, entry in checked.items()}
                for _ in range(n)]
    hps = [algo.hyperparameter(name, task) for name in names] if names \
        else algo.hyperparameters(task)
    if not hps:
        raise LabliftError(f"{algorithm} has no tunable {task} parameters to sample")
    rng = np.random.default_rng(seed)
    return [{hp.name: sample_value(hp, rng) for hp in hps} for _ in range(n)]


def _work(index: int, prepared: training.Prepared) -> tuple[int, dict[str, Any]]:
    import joblib
    # A configuration is the unit of parallelism: estimator-internal joblib calls (e.g. the
    # ColumnTransformer's) run sequentially instead of re-entering the outer (Dask) backend,
    # which fails in a Dask worker that lives in the client's process.
    with joblib.parallel_config(backend="sequential"):
        return index, training.compute_safely(prepared)


def _higher_is_better(metric: str) -> bool:
    return metric not in evaluation.LOWER_IS_BETTER


def best_run(task: str, runs: Sequence[dict[str, Any]]) -> tuple[int | None, str]:
    """(run id, metric) with the best primary metric (CV mean, holdout when CV is off)."""
    best, best_value, metric = None, None, evaluation.PRIMARY[task]
    for run in sorted(runs, key=lambda r: r["id"]):  # ties go to the first configuration
        if run.get("status") != "finished":
            continue
        name, value, _ = evaluation.primary_metric(task, run["metrics"])
        if value is None:
            continue
        metric = name
        better = best_value is None or (value > best_value if _higher_is_better(name)
                                        else value < best_value)
        if better:
            best, best_value = run["id"], value
    return best, metric


def sweep(store: Store, spec: dict[str, Any], grid: dict[str, Sequence[Any]] | None = None,
          random: int | None = None, n_jobs: int = -1, backend: str = "local",
          scheduler: str | None = None, progress: training.Progress | None = None,
          cancelled: training.IsCancelled | None = None,
          space: dict[str, dict] | None = None) -> dict[str, Any]:
    """Run every configuration of a grid or a random search; return the sweep row with its runs.

    spec is a training spec (without params, or with fixed params that every configuration
    shares). A random search samples `space` (see check_space) when given, else every
    parameter from the catalogue's ranges. All validation happens before the sweep row is
    written.
    """
    store.require_role("sweeps", "analyst")
    if backend not in BACKENDS:
        raise LabliftError(f"backend {backend!r} is not one of: {', '.join(BACKENDS)}")
    if backend == "dask" and not scheduler:
        raise LabliftError("the dask backend needs --scheduler ADDRESS (e.g. tcp://host:8786)")
    if bool(grid) == bool(random):
        raise LabliftError("give either a grid (--grid PARAM=V1,V2 ...) or --random N")
    dataset = training.resolve_dataset(store, spec)
    from . import datasets
    frame = datasets.load_frame(store, dataset)
    base = training.prepare(store, {**spec, "params": spec.get("params") or {}},
                            frame=frame, dataset=dataset)
    task, algorithm = base.spec["task"], base.spec["algorithm"]
    configs = (grid_configs(algorithm, task, grid) if grid
               else random_configs(algorithm, task, int(random), base.spec["seed"],
                                   space=space))
    fixed = base.spec["params"]
    prepared = [dataclasses.replace(base, spec={**base.spec, "params": {**fixed, **cfg}})
                for cfg in configs]

    client = None
    if backend == "dask":
        client = _dask_client(scheduler)
    started = time.perf_counter()
    sweep_spec = {**{k: v for k, v in base.spec.items() if k != "params"}, "params": fixed,
                  "grid": {k: list(map(_show, v)) for k, v in (grid or {}).items()} or None,
                  "random": random, "configs": len(configs), "n_jobs": n_jobs,
                  **({"space": space} if space and not grid else {}),
                  "scheduler": scheduler}
    with store.transaction():
        sweep_id = inserted_id(sweep_sql.START.execute(store.conn, store.engine, {
            "dataset_id": base.spec["dataset_id"], "spec": encode(sweep_spec),
            "backend": backend, "created_at": utcnow(), "created_by": store.user,
            "host": socket.gethostname(), "pid": os.getpid()}), store.engine)
        run_ids = [training.record_start(store, p, sweep_id=sweep_id) for p in prepared]
        audit.append(store, "sweep.start", f"sweep:{sweep_id}",
                     {"algorithm": algorithm, "configs": len(configs), "backend": backend})

    done, status = 0, "finished"
    pending = set(range(len(prepared)))
    try:
        for index, result in _dispatch(prepared, n_jobs, backend, client):
            training.record_finish(store, run_ids[index], result, started, base.notes)
            pending.discard(index)
            done += 1
            if progress is not None:
                progress(done / len(prepared), f"{done} of {len(prepared)} configurations")
            if cancelled is not None and cancelled():
                status = "cancelled"
                break
    except BaseException as exc:
        status = "failed"
        message = training._error_text(exc)
        for index in sorted(pending):
            training.record_finish(store, run_ids[index], {"status": "failed",
                                                           "error": message}, started)
        _finish_sweep(store, sweep_id, status, task)
        if client is not None:
            client.close()
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise LabliftError(f"sweep {sweep_id} failed: {message}") from exc
    if client is not None:
        client.close()
    for index in sorted(pending):  # cancelled before they were computed
        training.record_finish(store, run_ids[index], {"status": "cancelled",
                                                       "error": "sweep cancelled"}, started)
    result = _finish_sweep(store, sweep_id, status, task)
    if status == "cancelled":
        raise Cancelled(f"sweep {sweep_id} cancelled after {done} of {len(prepared)} "
                        f"configurations")
    return result


def _dispatch(prepared, n_jobs, backend, client):
    import joblib
    tasks = (joblib.delayed(_work)(i, p) for i, p in enumerate(prepared))
    if backend == "dask":
        with joblib.parallel_config(backend="dask"):
            yield from joblib.Parallel(return_as="generator_unordered")(tasks)
        return
    if n_jobs == 1 or len(prepared) == 1:
        for i, p in enumerate(prepared):  # in-process: no worker start-up for tiny sweeps
            yield _work(i, p)
        return
    from .parent_watch import watch
    with joblib.parallel_config(backend="loky", initializer=watch, initargs=(os.getpid(),)):
        yield from joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks)


def _dask_client(scheduler: str):
    try:
        from distributed import Client
    except ImportError:
        raise LabliftError("the dask backend needs the packages dask and distributed "
                           "(pip install 'dask[distributed]')") from None
    try:
        return Client(scheduler, timeout=10)
    except Exception as exc:
        raise LabliftError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None


def _finish_sweep(store: Store, sweep_id: int, status: str, task: str) -> dict[str, Any]:
    runs = training.list_runs(store, sweep_id=sweep_id)
    best, metric = best_run(task, runs)
    if status == "finished" and not any(r["status"] == "finished" for r in runs):
        status = "failed"
    with store.transaction():
        sweep_sql.FINISH.execute(store.conn, store.engine, {
            "id": sweep_id, "status": status, "best_run_id": best, "finished_at": utcnow()})
        audit.append(store, "sweep.finish", f"sweep:{sweep_id}",
                     {"status": status, "best_run_id": best, "metric": metric,
                      "runs": len(runs)})
    return get_sweep(store, sweep_id)


def get_sweep(store: Store, sweep_id: int) -> dict[str, Any]:
    from .errors import NotFound
    row = store.row(sweep_sql.BY_ID, id=int(sweep_id))
    if row is None:
        raise NotFound(f"sweep {sweep_id} not found")
    row["runs"] = sorted(training.list_runs(store, sweep_id=row["id"]), key=lambda r: r["id"])
    task = row["spec"].get("task", "classification")
    row["metric"] = best_run(task, row["runs"])[1]
    return row


def list_sweeps(store: Store) -> list[dict[str, Any]]:
    return store.rows(sweep_sql.LIST)


def _show(value: Any) -> Any:
    return "none" if value is None else value
