"""`pipeline run`: the lifecycle of a pipeline file, each step done once.

data -> train (or sweep, best run) -> gates -> register (checks) -> monitoring -> export.
A step whose inputs are unchanged reuses what the store already holds, as `dvc repro` does:
the data when its content hash is the newest version's, the run when a finished run (or
sweep) on that dataset version has the same canonical spec, the version when that run is
already registered under the model (or another run of the same inputs is). Two runs started
together train once: the second waits on a lock named by the spec (store/named_lock.py) for
the first one's fit and reuses it; the check and the registration are one write transaction,
so they register one version. The run stops at pending review; once a reviewer has
approved the version, the next run exports it (when the file names an export folder).

Outcomes and exit codes (DESIGN "Release and automation"; docs/pipeline.md):
  done 0, checks_failed 3, needs_review 4 (0 with allow_pending), error 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from .. import datasets, registry
from ..errors import LabliftError, PermissionDenied
from ..store import Store, named_lock
from ..store.sql import repository
from .spec import Pipeline, check_columns

dataset_sql = repository("datasets")  # statements: core/store/datasets.py
registry_sql = repository("registry")  # statements: core/store/registry.py

EXIT = {"done": 0, "checks_failed": 3, "needs_review": 4}
Progress = Callable[[float, str], None]


def _canonical(value: Any) -> Any:
    """As the store holds it: JSON, keys and numbers as json.dumps writes them."""
    return json.loads(json.dumps(value, default=str))


class _Steps:
    def __init__(self):
        self.items: list[dict[str, Any]] = []

    def add(self, step: str, status: str, detail: str, **ids: Any) -> dict[str, Any]:
        item = {"step": step, "status": status, "detail": detail, **ids}
        self.items.append(item)
        return item


def preflight(store: Store, p: Pipeline) -> dict[str, Any]:
    """What the file changes in the store's settings; refused before anything is written
    when the user's role may not change them."""
    from ..monitoring.settings import settings
    changes: dict[str, Any] = {}
    if p.gates is not None and _canonical(p.gates) != _canonical(
            registry.get_gates(store, p.model)):
        changes["gates"] = p.gates
    if p.monitoring:
        current = settings(store)
        diff = {k: v for k, v in p.monitoring.items() if _canonical(current[k]) != _canonical(v)}
        if diff:
            changes["monitoring"] = diff
    role = store.role()
    if changes and role != "admin":
        what = " and ".join(
            (f"[model] gates ({_gate_text(p.gates)}) differ from model {p.model}'s "
             f"({_gate_text(registry.get_gates(store, p.model))})" if k == "gates"
             else f"[monitoring] {', '.join(changes['monitoring'])} differ from the store's "
                  f"settings") for k in changes)
        raise PermissionDenied(
            f"{p.shown}: {what}; changing them needs the role admin, "
            f"user {store.user!r} is {role or 'not registered'}; an admin runs this pipeline "
            f"once to apply them, or remove them from the file")
    return changes


def _gate_text(gates: list[dict[str, Any]]) -> str:
    from ..gates import describe
    return "; ".join(describe(g) for g in gates) or "none"


def run(store: Store, p: Pipeline, allow_pending: bool = False, export: bool = True,
        progress: Progress | None = None) -> dict[str, Any]:
    """Run the pipeline; returns what happened (steps, ids, outcome, exit_code).
    export=False stops before the export (a CI login that may not export)."""
    def say(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    changes = preflight(store, p)
    steps = _Steps()
    say(0.02, f"Reading {p.data_path.name}")
    dataset = _data(store, p, steps)
    say(0.15, "Training" if p.sweep is None else "Sweeping")
    run_row, sweep_id = _train(store, p, dataset, steps, progress)
    say(0.85, "Registering")
    if "gates" in changes:
        registry.set_gates(store, p.model, p.gates)
        steps.add("gates", "done", f"set model {p.model}'s gates: {_gate_text(p.gates)}")
    else:
        steps.add("gates", "skipped", "not in the file" if p.gates is None else
                  f"model {p.model}'s gates already are these ({_gate_text(p.gates)})")
    version, outcome = _register(store, p, run_row, steps, gates_changed="gates" in changes)
    if "monitoring" in changes:
        from ..monitoring.settings import update_settings
        update_settings(store, changes["monitoring"])
        steps.add("monitoring", "done", "set " + ", ".join(
            f"{k}={v}" for k, v in changes["monitoring"].items()))
    else:
        steps.add("monitoring", "skipped", "not in the file" if not p.monitoring else
                  "the store's monitoring settings already are these")
    bundle = None
    if outcome is None:
        say(0.95, "Exporting")
        bundle = _export(store, p, version, steps, export)
        outcome = _outcome(store, version)
    code = EXIT.get(outcome, 1)
    if outcome == "needs_review" and allow_pending:
        code = 0
    trained = next(s for s in steps.items if s["step"] == "train")
    say(1.0, "Done")
    return {"file": str(p.file), "outcome": outcome, "exit_code": code,
            "reused": trained["status"] == "reused",
            "dataset": {k: dataset.get(k) for k in ("id", "name", "version", "sha256", "rows",
                                                    "columns")},
            "run_id": version["run_id"], "sweep_id": sweep_id,  # the version's run
            "version": _version_summary(store, version), "bundle": bundle,
            "steps": steps.items}


# -- data ---------------------------------------------------------------------------------------
def _data(store: Store, p: Pipeline, steps: _Steps) -> dict[str, Any]:
    from ..profiling import canonical_sha256
    from ..readers import read_table
    try:
        table, _ = read_table(p.data_path)
    except LabliftError as exc:
        raise LabliftError(f"{p.shown}: [data] path: {exc}") from None
    check_columns(p, table.column_names)
    # hashed as import_dataset hashes it, so equal content is recognised
    sha = canonical_sha256(table.replace_schema_metadata(None).combine_chunks())
    del table
    latest = store.row(dataset_sql.LATEST_BY_NAME, name=p.dataset_name)
    if latest is not None and latest["sha256"] == sha:
        steps.add("data", "reused", f"{p.data_path.name} is unchanged: dataset "
                  f"{latest['name']}:{latest['version']} (sha256 {sha[:12]})",
                  dataset_id=latest["id"])
        return latest
    row = datasets.import_dataset(store, p.data_path, name=p.dataset_name)
    if row.get("existing"):
        steps.add("data", "reused", f"{p.data_path.name} has the content of dataset "
                  f"{row['name']}:{row['version']}, an earlier version (sha256 {sha[:12]})",
                  dataset_id=row["id"])
    else:
        steps.add("data", "done", f"imported {p.data_path.name} as dataset {row['name']}:"
                  f"{row['version']} ({row['rows']} rows, sha256 {sha[:12]})",
                  dataset_id=row["id"])
    return datasets.get(store, row["id"])


# -- train or sweep -----------------------------------------------------------------------------
def _train(store: Store, p: Pipeline, dataset: dict[str, Any], steps: _Steps,
           progress: Progress | None) -> tuple[dict[str, Any], int | None]:
    from .. import training
    frame = datasets.load_frame(store, dataset)
    try:
        prepared = training.prepare(store, p.spec(dataset["id"]), frame=frame, dataset=dataset)
    except LabliftError as exc:
        raise LabliftError(f"{p.shown}: [train] {exc}") from None
    spec = prepared.spec
    # A second pipeline run on the same inputs waits for the first one's fit, then reuses it
    # (the lock is the OS's or the server's: a crashed holder lets go).
    key = json.dumps(_canonical(spec if p.sweep is None else _sweep_spec(p, spec)),
                     sort_keys=True)

    def waiting() -> None:
        if progress is not None:
            progress(0.15, "Waiting for another pipeline run that trains this spec")

    with named_lock.hold(store, f"pipeline-train {key}", on_wait=waiting):
        return _train_once(store, p, dataset, spec, prepared, steps, progress)


def _train_once(store: Store, p: Pipeline, dataset: dict[str, Any], spec: dict[str, Any],
                prepared, steps: _Steps,
                progress: Progress | None) -> tuple[dict[str, Any], int | None]:
    from .. import run_listing, sweeps, training
    if p.sweep is None:
        run = _find_run(store, p, spec)
        if run is not None:
            steps.add("train", "reused", f"run {run['id']} has this spec on dataset "
                      f"{dataset['name']}:{dataset['version']}: nothing retrained",
                      run_id=run["id"])
            return run, run.get("sweep_id")
        run = training.train(store, spec, prepared=prepared, progress=_part(progress))
        steps.add("train", "done", f"trained run {run['id']} ({run['algorithm']} "
                  f"{run['task']}) in {run['duration_s']:.1f} s", run_id=run["id"])
        return run, None
    expected = _sweep_spec(p, spec)
    found = _find_sweep(store, spec["dataset_id"], expected)
    if found is not None:
        best, metric = sweeps.best_run(spec["task"], found["runs"])
        if best is not None:
            steps.add("train", "reused", f"sweep {found['id']} has this spec on dataset "
                      f"{dataset['name']}:{dataset['version']}: nothing retrained; best run "
                      f"{best} by {metric}", run_id=best, sweep_id=found["id"])
            return run_listing.get_run(store, best), found["id"]
    fixed = {k: v for k, v in spec.items() if k not in ("classes",)}
    result = sweeps.sweep(store, fixed, grid=p.sweep.get("grid"), random=p.sweep.get("random"),
                          space=p.sweep.get("space"), n_jobs=p.sweep["jobs"],
                          progress=_part(progress))
    best, metric = sweeps.best_run(spec["task"], result["runs"])
    if best is None:
        raise LabliftError(f"{p.shown}: [sweep] sweep {result['id']} finished no run; see "
                           f"`lablift run list --sweep {result['id']}`")
    steps.add("train", "done", f"swept {len(result['runs'])} configurations (sweep "
              f"{result['id']}); best run {best} by {metric}", run_id=best,
              sweep_id=result["id"])
    return run_listing.get_run(store, best), result["id"]


def _part(progress: Progress | None) -> Progress | None:
    if progress is None:
        return None
    return lambda fraction, message: progress(0.15 + 0.7 * fraction, message)


def _find_run(store: Store, p: Pipeline, spec: dict[str, Any]) -> dict[str, Any] | None:
    """A finished run on the dataset version with this canonical spec: one already
    registered under the model first, else the newest."""
    from ..run_listing import list_runs
    want = _canonical(spec)
    same = [r for r in list_runs(store, dataset_id=spec["dataset_id"], status="finished",
                                 algorithm=spec["algorithm"], full=True)
            if r.get("spec") == want]
    for r in same:
        if store.row(registry_sql.REGISTERED_RUN, model=p.model, run_id=r["id"]):
            return r
    return same[0] if same else None


def _sweep_spec(p: Pipeline, spec: dict[str, Any]) -> dict[str, Any]:
    """What core.sweeps records as a sweep's spec, less how it ran (n_jobs, scheduler)."""
    from .. import sweeps
    grid, n = p.sweep.get("grid"), p.sweep.get("random")
    count = len(sweeps.grid_configs(spec["algorithm"], spec["task"], grid)) if grid else n
    out = {**{k: v for k, v in spec.items() if k != "params"}, "params": spec["params"],
           "grid": {k: ["none" if v is None else v for v in vs] for k, vs in grid.items()}
           if grid else None, "random": n, "configs": count}
    if p.sweep.get("space") and not grid:
        out["space"] = p.sweep["space"]
    return _canonical(out)


def _find_sweep(store: Store, dataset_id: int, expected: dict[str, Any]):
    from .. import sweeps
    for row in sweeps.list_sweeps(store):  # newest first
        spec = row.get("spec") or {}
        if row["dataset_id"] != dataset_id or row["status"] != "finished":
            continue
        if {k: spec.get(k) for k in expected} == expected and \
                ("space" in expected) == ("space" in spec):
            return sweeps.get_sweep(store, row["id"])
    return None


# -- register -----------------------------------------------------------------------------------
def _register(store: Store, p: Pipeline, run: dict[str, Any], steps: _Steps,
              gates_changed: bool) -> tuple[dict[str, Any], str | None]:
    """Reuse check and registration in one write transaction (the store's write lock:
    BEGIN IMMEDIATE on SQLite, the advisory write lock on PostgreSQL): two pipeline runs
    started together on new inputs both train, but the second one in finds the first one's
    version of the same inputs and reuses it instead of registering a duplicate."""
    with store.transaction():
        return _register_locked(store, p, run, steps, gates_changed)


def _register_locked(store: Store, p: Pipeline, run: dict[str, Any], steps: _Steps,
                     gates_changed: bool) -> tuple[dict[str, Any], str | None]:
    note = ("; its checks were made with the gates of its registration, the new gates "
            "apply to versions registered from now on" if gates_changed else "")
    found = store.row(registry_sql.REGISTERED_RUN, model=p.model, run_id=run["id"])
    if found is not None:
        v = registry.resolve_version(store, f"{p.model}:{found['version']}")
        steps.add("register", "reused", f"run {run['id']} is already version {v['ref']} "
                  f"({v['status']}){note}", version=v["ref"], version_id=v["id"])
        return v, None
    twin = _find_run(store, p, run["spec"])  # a run of the same inputs registered meanwhile
    found = twin is not None and twin["id"] != run["id"] and store.row(
        registry_sql.REGISTERED_RUN, model=p.model, run_id=twin["id"])
    if found:
        v = registry.resolve_version(store, f"{p.model}:{found['version']}")
        steps.add("register", "reused", f"run {twin['id']} has the same inputs as run "
                  f"{run['id']} and is already version {v['ref']} ({v['status']}), registered "
                  f"by another run meanwhile: run {run['id']} is not registered{note}",
                  version=v["ref"], version_id=v["id"], run_id=twin["id"])
        return v, None
    earlier = [v for v in registry.list_versions(store, p.model) if v["run_id"] == run["id"]]
    if earlier:  # rejected or archived: the same inputs would only ask the reviewer again
        v = earlier[-1]
        steps.add("register", "skipped", f"run {run['id']} was version {v['ref']}, "
                  f"{v['status']}" + (f" by {v['decided_by']}" if v.get("decided_by") else "")
                  + "; change the data or the spec to train a new run",
                  version=v["ref"], version_id=v["id"])
        return v, v["status"]
    v = registry.register(store, run["id"], p.model, description=p.description,
                          tags={"pipeline": p.file.name})
    failed = [c["name"] for c in v["checks"] if not c["passed"]]
    steps.add("register", "done", f"registered run {run['id']} as {v['ref']} (pending); "
              + (f"failed checks: {'; '.join(failed)}" if failed else "checks passed"),
              version=v["ref"], version_id=v["id"])
    return v, None


def _outcome(store: Store, v: dict[str, Any]) -> str:
    v = registry.get_version(store, v["id"])
    if v["status"] == "approved":
        return "done"
    if registry.failed_checks(store, v["id"]):
        return "checks_failed"
    return "needs_review"


def _version_summary(store: Store, v: dict[str, Any]) -> dict[str, Any]:
    v = registry.get_version(store, v["id"])
    checks = registry.checks_of(store, v["id"])
    return {"id": v["id"], "ref": v["ref"], "name": v["model"], "version": v["version"],
            "status": v["status"], "run_id": v["run_id"], "created_by": v["created_by"],
            "checks_passed": all(c["passed"] for c in checks),
            "failed_checks": [c["name"] for c in checks if not c["passed"]]}


# -- export -------------------------------------------------------------------------------------
def bundle_path(p: Pipeline, v: dict[str, Any]) -> Path:
    """Each version gets its own folder: a bundle is never written over another."""
    return p.export / f"{v['model']}-{v['version']}"


def _export(store: Store, p: Pipeline, v: dict[str, Any], steps: _Steps, enabled: bool):
    from .. import bundles
    v = registry.get_version(store, v["id"])
    if p.export is None:
        steps.add("export", "skipped", "no [export] folder in the file")
        return None
    if not enabled:
        steps.add("export", "skipped", f"{v['ref']} is {v['status']}; not exported here "
                  f"(--no-export)")
        return None
    if v["status"] != "approved":
        steps.add("export", "skipped", f"{v['ref']} is {v['status']}: exported once a "
                  f"reviewer approves it")
        return None
    target = bundle_path(p, v)
    for b in bundles.list_bundles(store, v["ref"]):
        if b["path"] == str(target) and b.get("status") in (None, "exported") \
                and target.is_dir():
            steps.add("export", "reused", f"{v['ref']} is already exported to {target}",
                      bundle_id=b["id"], path=str(target))
            return {"id": b["id"], "path": b["path"], "manifest_sha256": b["manifest_sha256"]}
    if target.exists():
        raise LabliftError(f"{p.shown}: [export] {target} exists but is not {v['ref']}'s "
                           f"bundle; move it away or choose another folder")
    try:
        store.require_role("exporting a bundle", "ops")
    except PermissionDenied as exc:
        raise PermissionDenied(f"{p.shown}: [export] {v['ref']} is approved and due for "
                               f"export, but {exc} (--no-export skips the export)") from None
    p.export.mkdir(parents=True, exist_ok=True)
    row = bundles.export(store, v["ref"], target)
    steps.add("export", "done", f"exported {v['ref']} to {row['path']}", bundle_id=row["id"],
              path=row["path"])
    return {"id": row["id"], "path": row["path"], "manifest_sha256": row["manifest_sha256"]}
