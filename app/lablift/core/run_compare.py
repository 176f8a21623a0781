"""Compare two (or more) runs: setup, the parameters that differ, every metric with its delta
against the first run (A, the baseline) and whether that is better given the metric's
direction, the checks of the versions the runs were registered as, and the holdout rows each
run was scored on (so a reader knows whether the deltas are on the same rows).

Reads only what the store recorded: nothing is re-scored. `lablift run compare` prints it
(core/run_compare_format.py renders text and Markdown); the GUI's Compare tab shows the same
rows. Delta = run - A; "better" follows metric_names.LOWER_IS_BETTER (gates use the same set).
"""

from __future__ import annotations

import hashlib
import string
from typing import Any, Sequence

from . import datasets, registry
from .errors import LabliftError
from .metric_names import FALLBACK_PRIMARY, LOWER_IS_BETTER, PRIMARY, metric_names
from .run_listing import get_run
from .store import Store
from .store.sql import repository

lineage_sql = repository("lineage")  # statements: core/store/lineage.py

LABELS = string.ascii_uppercase
SPEC_FIELDS = ("features", "test_size", "cv", "seed", "sensitive")
SETUP_FIELDS = ("status", "dataset", "task", "target", "algorithm")
# Deltas this small are float noise (the same figure computed twice), not a change.
SAME_TOLERANCE = 1e-12


def compare(store: Store, run_ids: Sequence[int | str]) -> dict[str, Any]:
    """The comparison of `run_ids` (the first is the baseline A); LabliftError naming an
    unknown run id. Runs of different tasks or targets compare, with a note saying their
    metrics do not."""
    if len(run_ids) < 2:
        raise LabliftError(f"a comparison needs at least two runs, got {len(run_ids)}")
    if len(run_ids) > len(LABELS):
        raise LabliftError(f"at most {len(LABELS)} runs compare at once, got {len(run_ids)}")
    rows = [get_run(store, rid) for rid in run_ids]  # NotFound: "run 99 not found"
    runs = [_run_entry(store, label, r) for label, r in zip(LABELS, rows)]
    holdout_rows = [_holdout_rows(store, r) for r in rows]
    for entry, held in zip(runs, holdout_rows):
        entry["holdout"]["rows"] = None if held is None else len(held)
        entry["holdout"]["rows_sha256"] = None if held is None else _rows_hash(held)
    tasks = sorted({r["task"] for r in runs if r["task"]})
    out: dict[str, Any] = {
        "baseline": runs[0]["id"], "runs": runs,
        "task": tasks[0] if len(tasks) == 1 else None,
        "same_task": len(tasks) <= 1,
        "holdout": _holdout_comparison(runs, holdout_rows),
        "metrics": _metric_rows(rows, runs),
    }
    out["differences"], out["equal"] = _differences(runs)
    out["checks"] = _check_rows(runs)
    out["retrain"] = _retrain_rows(runs)
    out["summary"] = _summary(out)
    out["notes"] = _notes(out)
    return out


# -- the runs ----------------------------------------------------------------------------------
def _run_entry(store: Store, label: str, run: dict[str, Any]) -> dict[str, Any]:
    spec = run.get("spec") or {}
    ds = datasets.get(store, run["dataset_id"])
    return {
        "label": label, "id": run["id"], "status": run["status"], "task": run.get("task"),
        "target": run.get("target"), "algorithm": run.get("algorithm"),
        "error": run.get("error"), "sweep_id": run.get("sweep_id"),
        "dataset": {"id": ds["id"], "name": ds["name"], "version": ds["version"],
                    "sha256": ds["sha256"], "ref": f"{ds['name']}:{ds['version']}"},
        "params": run.get("params") or {},
        "spec": {k: spec.get(k) for k in SPEC_FIELDS},
        "holdout": {"dataset": f"{ds['name']}:{ds['version']}",
                    "test_size": spec.get("test_size"), "seed": spec.get("seed")},
        "versions": _versions_of(store, run),
        "created_by": run.get("created_by"), "created_at": run.get("created_at"),
        "finished_at": run.get("finished_at"), "duration_s": run.get("duration_s"),
    }


def _versions_of(store: Store, run: dict[str, Any]) -> list[dict[str, Any]]:
    """The model versions registered from `run`, oldest first, with their checks. Read per
    dataset (an existing statement) and filtered: a dataset version has few versions."""
    out = []
    for v in store.rows(lineage_sql.VERSIONS_OF_DATASET, dataset_id=run["dataset_id"]):
        if v["run_id"] != run["id"]:
            continue
        checks = registry.checks_of(store, v["id"])
        gating = [c for c in checks if not c["informational"]]
        lineage = v.get("lineage") if isinstance(v.get("lineage"), dict) else {}
        champion = registry.get_version(store, v["challenger_of"]) \
            if v.get("challenger_of") else None
        out.append({
            "ref": f"{v['model']}:{v['version']}", "model": v["model"],
            "version": v["version"], "status": v["status"],
            "aliases": registry.aliases_of(store, v["id"]),
            "checks_passed": all(c["passed"] for c in gating),
            "failed_checks": [c["name"] for c in gating if not c["passed"]],
            "checks": [{"name": c["name"], "kind": c["kind"], "passed": c["passed"],
                        "informational": c["informational"],
                        "value": (c.get("details") or {}).get("value")} for c in checks],
            "challenger_of": champion and champion["ref"],
            "champion_run": champion and champion["run_id"],
            # a retrain compared the challenger with its champion on rows neither trained on
            "retrain_holdout": lineage.get("holdout"),
            "retrain_comparison": lineage.get("comparison"),
        })
    return out


def _holdout_rows(store: Store, run: dict[str, Any]) -> list[int] | None:
    """The dataset rows the run's holdout metrics were computed on (its holdout artifact)."""
    sha = (run.get("artifacts") or {}).get("holdout")
    if not sha:
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq
    # ParquetFile, not read_table: that imports pyarrow.dataset and pandas (~1 s). An Arrow
    # buffer, not a Python file object, and no threads: an Arrow thread still holding a Python
    # file at exit aborted 1 process in ~30 here ("terminate called", apache/arrow#34314).
    table = pq.ParquetFile(pa.BufferReader(store.artifacts.read_bytes(sha))).read(
        columns=["row"], use_threads=False)
    return sorted(int(x) for x in table.column("row").to_pylist())


def _rows_hash(rows: list[int]) -> str:
    return hashlib.sha256(",".join(map(str, rows)).encode("ascii")).hexdigest()


def _holdout_comparison(runs: list[dict], held: list[list[int] | None]) -> dict[str, Any]:
    """Per run against A: the same rows (same data content, same row set), or how many of
    its holdout rows A's holdout shares (0 when the data differs)."""
    base, base_rows = runs[0], held[0]
    per_run = []
    for r, rows in zip(runs[1:], held[1:]):
        same_data = r["dataset"]["sha256"] == base["dataset"]["sha256"]
        if rows is None or base_rows is None:
            per_run.append({"label": r["label"], "run": r["id"], "same_rows": False,
                            "shared_rows": None})
            continue
        shared = len(set(rows) & set(base_rows)) if same_data else 0
        per_run.append({"label": r["label"], "run": r["id"],
                        "same_rows": same_data and rows == base_rows, "shared_rows": shared})
    same = all(p["same_rows"] for p in per_run)
    if same:
        note = (f"all runs were scored on the same {base['holdout']['rows']} holdout rows of "
                f"{base['dataset']['ref']}")
    else:
        parts, other_rows = [], False
        for p, r in zip(per_run, runs[1:]):
            if p["same_rows"]:
                parts.append(f"{r['label']} on the same rows as A")
            elif r["holdout"]["rows"] is None or base["holdout"]["rows"] is None:
                who = r if r["holdout"]["rows"] is None else base
                parts.append(f"{who['label']} (run {who['id']}, {who['status']}) has no "
                             f"holdout predictions")
            else:
                other_rows = True
                parts.append(f"{r['label']} on {r['holdout']['rows']} rows of "
                             f"{r['dataset']['ref']}, {p['shared_rows']} of them in A's "
                             f"{base['holdout']['rows']} rows of {base['dataset']['ref']}")
        note = "not the same holdout rows: " + "; ".join(parts) + (
            ". Deltas between different rows are indicative only" if other_rows else "")
    return {"same_rows": same, "runs": per_run, "note": note}


# -- metrics -----------------------------------------------------------------------------------
def direction(metric: str) -> str:
    """'lower' or 'higher' (is better), for a holdout name or cv.NAME."""
    base = metric[3:] if metric.startswith("cv.") else metric
    return "lower" if base in LOWER_IS_BETTER else "higher"


def verdict(delta: float | None, metric: str) -> str | None:
    """'better' | 'worse' | 'same' for a run whose value is A's + delta; None: undefined."""
    if delta is None:
        return None
    if abs(delta) <= SAME_TOLERANCE:
        return "same"
    return "better" if (delta < 0) == (direction(metric) == "lower") else "worse"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def _metric_rows(rows: list[dict], runs: list[dict]) -> list[dict[str, Any]]:
    holdouts = [((r.get("metrics") or {}).get("holdout") or {}) for r in rows]
    cvs = [((r.get("metrics") or {}).get("cv") or {}) for r in rows]
    names: list[str] = []
    for task in dict.fromkeys(r["task"] or "classification" for r in runs):
        names += [n for n in metric_names(task) if n not in names]
    for h in holdouts:
        names += [n for n in h if n not in names]
    out = []
    for source, getter in (("holdout", lambda i, n: holdouts[i].get(n)),
                           ("cv", lambda i, n: (cvs[i].get(n) or {}).get("mean"))):
        for name in names:
            values = [_number(getter(i, name)) for i in range(len(runs))]
            if all(v is None for v in values):
                continue
            metric = name if source == "holdout" else f"cv.{name}"
            row = _metric_row(metric, source, values, runs)
            if source == "cv":
                row["std"] = [_number((cvs[i].get(name) or {}).get("std"))
                              for i in range(len(runs))]
            out.append(row)
    return out


def _metric_row(metric: str, source: str, values: list, runs: list[dict]) -> dict[str, Any]:
    a = values[0]
    deltas = [None] + [v - a if v is not None and a is not None else None for v in values[1:]]
    present = [v for v in values if v is not None]
    best = None
    if len(present) > 1:
        top = min(present) if direction(metric) == "lower" else max(present)
        best = [r["label"] for r, v in zip(runs, values) if v == top]
    return {"metric": metric, "source": source, "direction": direction(metric),
            "values": values, "deltas": deltas,
            "verdicts": [None] + [verdict(d, metric) for d in deltas[1:]], "best": best}


# -- setup and parameters ------------------------------------------------------------------------
def _differences(runs: list[dict]) -> tuple[list[dict], list[dict]]:
    """Spec fields and parameters: those that differ between the runs, and those equal."""
    items = [("spec", k, [r["spec"].get(k) for r in runs], [True] * len(runs))
             for k in SPEC_FIELDS]
    names = list(dict.fromkeys(k for r in runs for k in r["params"]))
    items += [("param", k, [r["params"].get(k) for r in runs],
               [k in r["params"] for r in runs]) for k in names]
    differ, equal = [], []
    for kind, name, values, present in items:
        keys = [(p, _canonical(name, v)) for p, v in zip(present, values)]
        if all(k == keys[0] for k in keys):
            equal.append({"name": name, "kind": kind, "value": values[0]})
        else:
            differ.append({"name": name, "kind": kind, "values": values, "set": present})
    return differ, equal


def _canonical(name: str, value: Any) -> Any:
    if name == "features" and isinstance(value, list):
        return tuple(sorted(map(str, value)))  # the same columns in another order
    if isinstance(value, (list, dict)):
        return repr(value)
    return value


# -- checks --------------------------------------------------------------------------------------
def shown_version(run: dict[str, Any]) -> dict[str, Any] | None:
    """The version whose checks a run's column shows: its newest registration."""
    return run["versions"][-1] if run["versions"] else None


def _check_rows(runs: list[dict]) -> list[dict[str, Any]]:
    shown = [shown_version(r) for r in runs]
    names = list(dict.fromkeys(c["name"] for v in shown if v for c in v["checks"]))
    out = []
    for name in names:
        results = []
        for v in shown:
            c = next((c for c in v["checks"] if c["name"] == name), None) if v else None
            results.append(None if c is None else {
                "version": v["ref"], "passed": c["passed"],
                "informational": c["informational"], "value": _number(c["value"])})
        out.append({"name": name, "results": results})
    return out


# -- a retrained challenger against its champion -----------------------------------------------
def _retrain_rows(runs: list[dict]) -> list[dict[str, Any]]:
    """For a run registered as a retrained challenger of a version of run A: both models'
    metrics on the rows the retrain held out (neither model trained on them), as recorded."""
    base = runs[0]
    out = []
    for r in runs[1:]:
        for v in r["versions"]:
            comp = v.get("retrain_comparison")
            if v.get("champion_run") != base["id"] or not comp:
                continue
            champ, chall = comp.get("champion") or {}, comp.get("challenger") or {}
            metrics = []
            for name in dict.fromkeys([*champ, *chall]):
                a, b = _number(champ.get(name)), _number(chall.get(name))
                if a is None and b is None:
                    continue
                delta = b - a if a is not None and b is not None else None
                metrics.append({"metric": name, "direction": direction(name),
                                "values": [a, b], "delta": delta,
                                "verdict": verdict(delta, name)})
            out.append({"label": r["label"], "run": r["id"], "challenger": v["ref"],
                        "champion": v["challenger_of"], "rows": comp.get("rows"),
                        "batch_id": comp.get("batch_id"), "method": comp.get("method"),
                        "row_ranges": comp.get("row_ranges"), "note": comp.get("note"),
                        "metrics": metrics})
    return out


# -- summary and notes ----------------------------------------------------------------------------
def primary_name(task: str | None, metrics: list[dict]) -> str | None:
    if task is None:
        return None
    have = {m["metric"] for m in metrics if m["source"] == "holdout"}
    return next((n for n in (PRIMARY[task], FALLBACK_PRIMARY[task]) if n in have), None)


def _summary(cmp: dict[str, Any]) -> list[dict[str, Any]]:
    """Per run against A: how many holdout metrics are better, worse, the same; the primary."""
    primary = primary_name(cmp["task"], cmp["metrics"])
    out = []
    for i, r in enumerate(cmp["runs"][1:], start=1):
        counts = {"better": 0, "worse": 0, "same": 0}
        for m in cmp["metrics"]:
            if m["source"] == "holdout" and m["verdicts"][i] in counts:
                counts[m["verdicts"][i]] += 1
        row = next((m for m in cmp["metrics"] if m["metric"] == primary), None)
        out.append({"label": r["label"], "run": r["id"], **counts,
                    "compared": sum(counts.values()),
                    "primary": None if row is None else {
                        "metric": primary, "delta": row["deltas"][i],
                        "verdict": row["verdicts"][i]}})
    return out


def _notes(cmp: dict[str, Any]) -> list[str]:
    runs = cmp["runs"]
    notes = []
    if not cmp["same_task"]:
        tasks = ", ".join(f"{r['label']} {r['task']}" for r in runs)
        notes.append(f"the runs have different tasks ({tasks}): their metrics do not compare")
    elif len({r["target"] for r in runs}) > 1:
        targets = ", ".join(f"{r['label']} {r['target']!r}" for r in runs)
        notes.append(f"the runs predict different targets ({targets}): their metrics do not "
                     f"compare")
    ids = [r["id"] for r in runs]
    for rid in dict.fromkeys(i for i in ids if ids.count(i) > 1):
        notes.append(f"run {rid} is given more than once")
    for r in runs:
        if r["status"] != "finished":
            why = f": {r['error']}" if r.get("error") else ""
            notes.append(f"{r['label']} (run {r['id']}) is {r['status']}{why}; it has no "
                         f"metrics to compare")
        for v in r["versions"]:
            if v.get("retrain_holdout") and v.get("challenger_of") and \
                    v.get("champion_run") != runs[0]["id"]:
                h = v["retrain_holdout"]
                notes.append(f"{r['label']} is {v['ref']}, a retrained challenger of "
                             f"{v['challenger_of']}; the retrain compared them on "
                             f"{h.get('rows')} held-out rows of monitoring batch "
                             f"#{h.get('batch_id')}: lablift model show {v['ref']}")
    if not cmp["holdout"]["same_rows"]:
        notes.append(cmp["holdout"]["note"])
    return notes
