"""The reference of a model version: what its batches are measured against."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..store import Store


class Reference:
    """What a version's batches are measured against: training rows, schema, predictions."""

    def __init__(self, store: Store, version: dict[str, Any]):
        from .. import inputs, training
        self.version = version
        self.run = training.get_run(store, version["run_id"])
        self.spec = self.run["spec"]
        self.task = self.run.get("task") or self.spec.get("task")
        self.classes = self.spec.get("classes")
        self.schema = inputs.input_schema(store, self.run)
        self.inputs = {e["name"]: e for e in self.schema["inputs"]}
        self.features = list(self.spec["features"])
        self.X, self.y = training.training_frame(store, self.run)
        self.pipeline = training.load_pipeline(store, self.run)
        self.holdout = dict((self.run.get("metrics") or {}).get("holdout") or {})
        self._pred = None

    def kind(self, name: str) -> str | None:
        e = self.inputs.get(name, {})
        if "min" in e:
            return "numeric"
        if "categories" in e:
            return "categorical"
        return None

    def used(self, name: str) -> bool:
        return bool(self.inputs.get(name, {}).get("used", True)) and self.kind(name) is not None

    def predict(self, X: pd.DataFrame):
        from ..training import _predict
        return _predict(self.pipeline, X[self.features], self.task, self.classes)

    @property
    def predictions(self) -> np.ndarray:
        if self._pred is None:
            self._pred = self.predict(self.X)[0]
        return self._pred
