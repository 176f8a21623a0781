"""The reference of a model version: what its batches are measured against.

Its training rows are summarised once per version, at its first ingest: the input schema,
each feature's dtype and missing share, its drift summary (drift.ReferenceColumn: sorted
values or category counts) and the model's predictions on those rows. The summary is kept
as a content-addressed artifact that every batch's result names (result["reference"]), so a
later ingest reads one file instead of loading, splitting and predicting the training data
again. Drift, checks and alerts come out the same (tests/test_monitoring_reference.py).
A summary that is missing, unreadable or not this run's is made again, never trusted.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd

from .. import drift
from ..store import Store
from ..store.sql import repository

monitor_sql = repository("monitoring")  # statements: core/store/monitoring.py
SUMMARY_FORMAT = 1  # bump when the summary's content changes: older ones are made again


class Reference:
    """What a version's batches are measured against: schema, per-feature summaries,
    predictions on the training rows, and the fitted pipeline (for scoring a batch)."""

    def __init__(self, store: Store, version: dict[str, Any]):
        from .. import training
        self.store = store
        self.version = version
        self.run = training.get_run(store, version["run_id"])
        self.spec = self.run["spec"]
        self.task = self.run.get("task") or self.spec.get("task")
        self.classes = self.spec.get("classes")
        self.features = list(self.spec["features"])
        self.holdout = dict((self.run.get("metrics") or {}).get("holdout") or {})
        self.pipeline = training.load_pipeline(store, self.run)
        self._frame = None
        # the summary's artifact, and its bytes when made now (for ingest to store)
        self.summary_sha: str | None = None
        self.summary_bytes: bytes | None = None
        summary = self._stored_summary()
        if summary is None:
            summary = self._summarise()
        self.schema = summary["schema"]
        self.inputs = {e["name"]: e for e in self.schema["inputs"]}
        self.n_rows = int(summary["rows"])
        self._dtypes = summary["dtypes"]
        self._missing = summary["missing"]
        self.drift_columns = {name: drift.ReferenceColumn.from_dict(d)
                              for name, d in summary["columns"].items()}
        self.predictions = summary["predictions"]

    # -- the summary -----------------------------------------------------------------------
    def _key(self) -> dict[str, Any]:
        return {"format": SUMMARY_FORMAT, "run_id": self.run["id"],
                "pipeline": (self.run.get("artifacts") or {}).get("pipeline"),
                "holdout": (self.run.get("artifacts") or {}).get("holdout")}

    def _stored_summary(self) -> dict[str, Any] | None:
        row = self.store.row(monitor_sql.LATEST_RESULT, version_id=self.version["id"])
        named = ((row or {}).get("result") or {}).get("reference") or {}
        sha = named.get("artifact") if isinstance(named, dict) else None
        if not sha:
            return None
        try:
            summary = pickle.loads(self.store.artifacts.read_bytes(sha))
        except Exception:  # missing, corrupt, or from other library versions: made again
            return None
        if not isinstance(summary, dict) or summary.get("key") != self._key():
            return None
        self.summary_sha = sha
        return summary

    def _summarise(self) -> dict[str, Any]:
        from .. import inputs
        X = self.X
        schema = inputs.input_schema(self.store, self.run)
        entries = {e["name"]: e for e in schema["inputs"]}
        columns = {}
        for name in self.features:
            kind = _kind(entries.get(name, {}))
            if kind is not None:
                columns[name] = drift.ReferenceColumn.of(X[name], kind).to_dict()
        summary = {
            "key": self._key(), "schema": schema, "rows": len(X),
            "dtypes": {name: X[name].dtype for name in self.features},
            "missing": {name: float(X[name].isna().mean()) if len(X) else 0.0
                        for name in self.features},
            "columns": columns,
            "predictions": np.asarray(self.predict(X)[0]),
        }
        self.summary_bytes = pickle.dumps(summary, protocol=pickle.HIGHEST_PROTOCOL)
        return summary

    # -- what checks and drift ask of the training rows ------------------------------------
    @property
    def X(self) -> pd.DataFrame:
        """The training rows themselves (loaded on first use: the summary usually suffices)."""
        if self._frame is None:
            from .. import training
            self._frame = training.training_frame(self.store, self.run)
        return self._frame[0]

    def empty(self, name: str) -> pd.Series:
        """No rows of the training column, with its dtype."""
        return pd.Series([], dtype=self._dtypes[name])

    def missing_share(self, name: str) -> float:
        return self._missing[name]

    def kind(self, name: str) -> str | None:
        return _kind(self.inputs.get(name, {}))

    def used(self, name: str) -> bool:
        return bool(self.inputs.get(name, {}).get("used", True)) and self.kind(name) is not None

    # -- scoring -----------------------------------------------------------------------------
    def predict(self, X: pd.DataFrame):
        from ..training import _predict
        return _predict(self.pipeline, X[self.features], self.task, self.classes)


def _kind(entry: dict[str, Any]) -> str | None:
    if "min" in entry:
        return "numeric"
    if "categories" in entry:
        return "categorical"
    return None
