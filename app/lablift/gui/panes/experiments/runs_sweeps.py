"""The sweeps of the runs table (no Qt here): a row per sweep with runs listed (its label,
tooltip and best run's metrics) and each sweep's best run marked, redone in the reload's
worker for the sweeps whose runs or row changed."""

from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

import numpy as np

from .runs_data import Change, RunsData, loads_json


def group_sweeps(data: RunsData, sweep_list: Sequence[dict[str, Any]], change: Change,
                 best_run: Callable, primary_metric: Callable) -> RunsData:
    """`data` with a row per sweep with listed runs (label, tooltip, the best run's
    metrics) and each sweep's best run marked (core.sweeps.best_run); only the sweeps with
    a changed run or a changed sweep row are redone, noted in `change.sweeps`. A copy of
    `data` when its runs did not change (it may be the one shown)."""
    listed = {s["id"]: s for s in sweep_list}
    members = np.unique(data.sweep_id[np.concatenate([change.changed, change.added])])
    touched = {int(s) for s in members if s} | {
        sid for sid, row in listed.items()
        if sid in data.heads and data.heads[sid]["status"] != row["status"]}
    if not touched:
        return data
    if not len(change.changed) and not len(change.added):
        data = copy.copy(data)
    # Each sweep's positions, from one stable sort (not a scan of every run per sweep).
    order = np.argsort(data.sweep_id, kind="stable")
    ids, starts = np.unique(data.sweep_id[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    span = {int(s): (a, b) for s, a, b in zip(ids, starts, ends)}
    heads, best = dict(data.heads), dict(data.best)
    is_best, grouped = data.is_best.copy(), data.grouped.copy()
    for sid in sorted(touched):
        a, b = span.get(sid, (0, 0))
        at = order[a:b]
        for p in at.tolist():
            best.pop(p, None)
        is_best[at] = False
        row = listed.get(sid)
        if row is None or not len(at):
            heads.pop(sid, None)
            grouped[at] = False
            continue
        grouped[at] = True
        head = _sweep_head(data, sid, row, at, best_run, primary_metric)
        if head.get("best_run_id") is not None:
            p = data.row_of[head["best_run_id"]]
            best[p] = (head["best_metric"], head["best_tip"])
            is_best[p] = True
        heads[sid] = head
        change.sweeps.add(sid)
    data.heads, data.best, data.is_best, data.grouped = heads, best, is_best, grouped
    return data


def _sweep_head(data: RunsData, sid: int, row: dict[str, Any], at: np.ndarray,
                best_run: Callable, primary_metric: Callable) -> dict[str, Any]:
    group = [{"id": int(data.ids[p]), "status": data.status[p],
              "metrics": loads_json(data.metrics[p])} for p in at.tolist()]
    spec = row.get("spec") or {}
    first = int(at[0])
    task = spec.get("task") or data.task[first] or "classification"
    best_id, metric = best_run(task, group)
    mode = "grid" if spec.get("grid") else "random"
    varied = list(spec.get("grid") or spec.get("space") or {}) or ["every parameter"]
    done = sum(r["status"] != "running" for r in group)
    label = f"sweep #{sid} · {mode} · {len(group)} runs"
    algorithm, dataset = data.algorithm[first], data.dataset[first]
    head = {"kind": "sweep", "id": None, "sweep_id": sid, "status": row["status"],
            "dataset": dataset, "algorithm": algorithm, "target": data.target[first],
            "who": row.get("created_by"), "when": row.get("created_at"),
            "best_run_id": best_id, "members": len(group)}
    tip = (f"Sweep {sid}: {mode} search of {algorithm} on {dataset} → "
           f"{data.target[first]} ({row.get('backend') or 'local'}), varying "
           f"{', '.join(varied)}; by {row.get('created_by')}")
    if best_id is not None:
        best = next(r for r in group if r["id"] == best_id)
        name, value, source = primary_metric(task, best["metrics"])
        how = "CV mean" if source == "cv" else "holdout"
        head["best_metric"] = name
        head["best_tip"] = f"best by {name} ({how}) in sweep #{sid}"
        label += f" · best {name} {value:.4f}"
        tip += f"\nBest: run {best_id} by {name} ({how})"
        p = data.row_of[best_id]
        head.update({f"m.{k}": m.at(p) for k, m in data.holdout.items() if m.has[p]})
        head.update({f"cv.{k}": m.at(p) for k, m in data.cv.items() if m.has[p]})
    if row["status"] == "running":
        label += f" · running, {done} of {len(group)} done"
    elif row["status"] != "finished":
        label += f" · {row['status']}"
    head["label"], head["tooltip"] = label, tip
    return head
