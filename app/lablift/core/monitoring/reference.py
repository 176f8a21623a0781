"""The reference of a model version: what its batches are measured against.

Its training rows are summarised once per version, at its first ingest: the input schema,
each feature's dtype and missing share, its drift summary (drift.ReferenceColumn: sorted
values or category counts), the model's predictions on those rows and the check of the
pipeline's exact ONNX form (scorer.py; the form itself is an artifact of its own). The
summary is kept as a content-addressed artifact that every batch's result names
(result["reference"]), so a later ingest reads one file instead of loading, splitting and
predicting the training data again, and scores with onnxruntime without unpickling the
pipeline (which imports scikit-learn). Drift, checks and alerts come out the same
(tests/test_monitoring_reference.py, tests/test_ingest_onnx.py). A summary that is missing,
unreadable or not this run's is made again, never trusted.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd

from .. import drift
from ..errors import LabliftError
from ..store import Store
from ..store.sql import repository
from . import scorer as scorers

monitor_sql = repository("monitoring")  # statements: core/store/monitoring.py
SUMMARY_FORMAT = 2  # bump when the summary's content changes: older ones are made again


class Reference:
    """What a version's batches are measured against: schema, per-feature summaries,
    predictions on the training rows, and the model that scores a batch: its exact ONNX form
    (scorer="auto" or "onnx", when that form passed its check) or the fitted pipeline
    (unpickled on first use)."""

    def __init__(self, store: Store, version: dict[str, Any], scorer: str = "pickle",
                 why: str | None = None):
        from ..run_listing import get_run
        if scorer not in scorers.CHOICES:
            raise LabliftError(f"scorer {scorer!r}: use one of {', '.join(scorers.CHOICES)}")
        self.store = store
        self.version = version
        self.run = get_run(store, version["run_id"])
        self.spec = self.run["spec"]
        self.task = self.run.get("task") or self.spec.get("task")
        self.classes = self.spec.get("classes")
        self.features = list(self.spec["features"])
        self.holdout = dict((self.run.get("metrics") or {}).get("holdout") or {})
        self._pipeline = None
        self._onnx = None  # the OnnxModel that scores, when chosen (below)
        self._frame = None
        # the summary's artifact, and its bytes when made now (for ingest to store), and the
        # ONNX form's bytes when made now
        self.summary_sha: str | None = None
        self.summary_bytes: bytes | None = None
        self.onnx_bytes: bytes | None = None
        summary = self._stored_summary()
        if summary is None:
            summary = self._summarise()
        if scorer != "pickle" and summary.get("onnx") is None:
            # made by a pickle-scored ingest (labels, LABLIFT_SCORER=pickle): convert now,
            # and the ingest stores the summary again with the check
            self.onnx_bytes, onnx_check = scorers.convert(store, self.run, self.pipeline,
                                                          self.task)
            summary = {**summary, "onnx": onnx_check}
            self.summary_bytes = pickle.dumps(summary, protocol=pickle.HIGHEST_PROTOCOL)
        self.schema = summary["schema"]
        self.inputs = {e["name"]: e for e in self.schema["inputs"]}
        self.n_rows = int(summary["rows"])
        self._dtypes = summary["dtypes"]
        self._missing = summary["missing"]
        self.drift_columns = {name: drift.ReferenceColumn.from_dict(d)
                              for name, d in summary["columns"].items()}
        self.predictions = summary["predictions"]
        self.onnx_check = summary.get("onnx")
        reason = why or f"scorer={scorer}"
        if scorer != "pickle":
            self._onnx, reason = scorers.load(store, self.onnx_check, self.onnx_bytes)
            if self._onnx is None and scorer == "onnx":
                raise LabliftError(f"{scorers.ENV}=onnx, but {version['ref']} cannot be "
                                   f"scored with ONNX: {reason}")
        self.scorer = scorers.record("onnx" if self._onnx is not None else "pickle",
                                     None if self._onnx is not None else reason,
                                     self.onnx_check)

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
            "predictions": np.asarray(self.predict(X)[0]),  # the pickle's (no ONNX yet)
            "onnx": None,  # the ONNX form's check: made when an ingest first wants it
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
    @property
    def pipeline(self):
        """The fitted scikit-learn pipeline (unpickled on first use: it imports sklearn)."""
        if self._pipeline is None:
            from ..training import load_pipeline
            self._pipeline = load_pipeline(self.store, self.run)
        return self._pipeline

    def predict(self, X: pd.DataFrame):
        """(labels, probabilities in the run's class order or None)."""
        if self._onnx is not None:
            try:
                pred, raw = self._onnx.score(X[self.features], want_proba=True)
                return pred, _align_proba(raw, self._onnx.classes, self.classes)
            except Exception as exc:  # onnxruntime refuses these rows: the pickle scores
                self._onnx = None
                self.scorer = scorers.record(
                    "pickle", f"onnxruntime failed on the batch: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:300] if str(exc) else ''}",
                    self.onnx_check)
        from ..training import _predict
        return _predict(self.pipeline, X[self.features], self.task, self.classes)


def _align_proba(raw: np.ndarray, model_classes, classes: list | None) -> np.ndarray:
    """The model's probability columns in the run's class order (training._predict's rule:
    a class the model never saw has probability 0)."""
    if classes is None:
        return raw
    out = np.zeros((raw.shape[0], len(classes)))
    index = {_py(c): i for i, c in enumerate(classes)}
    for j, c in enumerate(model_classes):
        out[:, index[_py(c)]] = raw[:, j]
    return out


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _kind(entry: dict[str, Any]) -> str | None:
    if "min" in entry:
        return "numeric"
    if "categories" in entry:
        return "categorical"
    return None
