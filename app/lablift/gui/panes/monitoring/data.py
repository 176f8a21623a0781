"""What the Monitoring pane reads, always in a worker: the versions and what the user's role
allows, one version's report with its per-batch cells and histograms, and a file's columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ....core import datasets, monitoring, registry, training
from ....core.errors import LabliftError
from ...drift_tests import drift_inputs
from .common import PREDICTION

# What each action of the pane asks of the core's role check (core/monitoring: ingest.py,
# alerts.py and retrain.py); the refusal is the core's own sentence.
ACTIONS = {"ingest": ("ingesting monitoring batches", ("ops", "analyst")),
           "acknowledge": ("acknowledging alerts", ("ops", "analyst", "reviewer")),
           "retrain": ("retraining a model", ("analyst",))}


def refusals(store) -> dict[str, str | None]:
    """For each action of ACTIONS: None if the user may take it, else why not."""
    out: dict[str, str | None] = {}
    for name, (action, roles) in ACTIONS.items():
        try:
            store.require_role(action, *roles)
        except LabliftError as exc:
            out[name] = str(exc)
        else:
            out[name] = None
    return out


def load_versions(store, want: str | None = None) -> dict[str, Any]:
    """The versions with their batch counts, what the user may do, and `want` (any ref the
    registry resolves) as NAME:VERSION, or why it is not one."""
    found = error = None
    if want is not None:
        try:
            v = registry.resolve_version(store, want)
            found = f"{v['model']}:{v['version']}"
        except LabliftError as exc:
            error = str(exc)
    return {"versions": registry.list_versions(store), "counts": monitoring.batch_counts(store),
            "refusals": refusals(store), "want": want, "found": found, "error": error}


def load_monitoring(store, ref: str) -> dict[str, Any]:
    """Everything the pane draws for one version: the core report, each batch's per-feature
    test results and stored histograms, the training target and what a retrain would use."""
    report = monitoring.report(store, ref)
    cells: dict[int, dict[str, dict]] = {}
    hists: dict[int, dict[str, dict]] = {}
    for b in report["batches"]:
        row = monitoring.get_batch(store, b["id"])
        b["source_path"] = row.get("source_path")
        result = row.get("result") or {}
        b["shadow"] = result.get("shadow")  # serve.py --shadow: champion vs challenger
        cols = list((result.get("drift") or {}).get("columns", []))
        if result.get("prediction_drift"):
            cols.append({**result["prediction_drift"], "name": PREDICTION})
        cells[b["id"]] = {c["name"]: {k: c.get(k) for k in ("test", "statistic", "p_value",
                                                              "threshold", "drifted", "psi")}
                          for c in cols}
        hists[b["id"]] = {c["name"]: c.get("histogram") for c in cols}
    run = training.get_run(store, report["version"]["run_id"])
    spec = run["spec"]
    dataset = datasets.get(store, run["dataset_id"])
    return {"ref": ref, "report": report, "cells": cells, "histograms": hists,
            "target": spec.get("target"), "task": run.get("task"),
            "inputs": drift_inputs(store, run),
            "training": {"run_id": run["id"], "algorithm": spec.get("algorithm"),
                         "target": spec.get("target"), "features": len(spec.get("features") or []),
                         "cv": spec.get("cv"),
                         "dataset": {k: dataset.get(k) for k in ("id", "name", "version",
                                                                 "rows")}}}


def peek_columns(path: str) -> list[str]:
    """Column names of a batch file from its first rows (the options dialog offers them)."""
    import pandas as pd
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq", ".parq"):
        import pyarrow.parquet as pq
        return list(pq.read_schema(p).names)
    if suffix in (".xlsx", ".xlsm"):
        return [str(c) for c in pd.read_excel(p, nrows=0).columns]
    with open(p, "rb") as f:
        head = f.read(65536)
    if suffix in monitoring.LOG_SUFFIXES or head.lstrip().startswith(b"{"):
        first = None
        for line in head.decode("utf-8", "replace").splitlines():
            if line.strip():
                rec = json.loads(line)
                if "inputs" not in rec and "error" in rec:  # a failed request: no inputs
                    first = first or rec
                    continue
                cols = list((rec.get("inputs") or {}).keys())
                return cols + [k for k in rec if k != "inputs"]
        return list(first) if first else []
    sep = "\t" if suffix in (".tsv", ".tab") else None
    frame = pd.read_csv(p, nrows=20, sep=sep, engine="python")
    return [str(c) for c in frame.columns]
