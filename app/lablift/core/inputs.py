"""The input schema of a run's model: what a scorer must be given (bundles, monitoring)."""

from __future__ import annotations

import math
from typing import Any

from . import catalogue, datasets
from .store import Store


def input_schema(store: Store, run: dict[str, Any] | int) -> dict[str, Any]:
    """{"inputs": [{name, dtype, kind, nullable, min, max | categories, ...}], target, task, classes}.

    Ranges and categories come from the run's training rows (not the holdout), so a scorer
    sees exactly what the model was fitted on. Every input is nullable: the pipeline imputes
    missing values (median for numbers, most frequent for categories).
    """
    from .training import get_run, training_frame
    run = run if isinstance(run, dict) else get_run(store, run)
    spec = run["spec"]
    dataset = datasets.get(store, run["dataset_id"])
    profile = {c["name"]: c for c in dataset["profile"]["columns"]}
    numeric, categorical, _ = catalogue.column_groups(dataset["profile"], spec["features"])
    X_train, _ = training_frame(store, run)
    inputs = []
    for name in spec["features"]:
        col = profile[name]
        values = X_train[name]
        entry: dict[str, Any] = {"name": name, "dtype": col["dtype"], "kind": col["kind"],
                                 "nullable": True, "used": name in numeric or name in categorical,
                                 "training_missing": int(values.isna().sum())}
        if name in numeric:
            present = values.dropna()
            entry["min"] = _num(present.min()) if len(present) else None
            entry["max"] = _num(present.max()) if len(present) else None
        elif name in categorical:
            entry["categories"] = sorted((_py(v) for v in values.dropna().unique()), key=_sort_key)
        inputs.append(entry)
    return {"inputs": inputs, "target": spec["target"], "task": spec["task"],
            "classes": spec.get("classes")}


def _py(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _num(value: Any) -> float | int | None:
    value = _py(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _sort_key(value: Any) -> tuple:
    return (type(value).__name__, value)
