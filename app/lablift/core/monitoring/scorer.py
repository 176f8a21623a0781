"""How monitoring scores a batch with the version's model: the exact ONNX form of its
pipeline on onnxruntime, or the pickled pipeline.

The ONNX form is made once per version, by the first ingest that would score with it (the
one that summarises the reference, reference.py, or a later one when that ingest scored with
the pickle), by the conversion and equality check the bundle export uses
(core/onnx_export.build: labels identical and probabilities within 1e-6 on the run's holdout
plus probe rows). It is kept as a content-addressed artifact; the summary holds its check
report, and every batch records which scorer scored it and why (result["scorer"]), in the
ingest's transaction with its audit entry. A later ingest loads it with onnxruntime through
the bundle runtime's own onnx_scorer.OnnxModel and imports neither scikit-learn nor
scipy.stats.

The pickle scores instead when the check did not pass (the reason is recorded), when
onnxruntime is missing, refuses the file or fails on the batch, when the artifact does not
verify, when the batch has labels (its metrics then use the pickle's own probabilities, as
before), or when LABLIFT_SCORER=pickle; LABLIFT_SCORER=onnx refuses to ingest without the
ONNX path.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ...bundle_runtime import onnx_scorer
from ..errors import LabliftError

ENV = onnx_scorer.ENV  # LABLIFT_SCORER: auto (default) | onnx | pickle, as for serve.py
CHOICES = ("auto", "onnx", "pickle")


def wanted(label: str | None = None) -> tuple[str, str | None]:
    """(the scorer asked for, why the pickle when it is): LABLIFT_SCORER, else auto, which
    is the pickle for a labelled batch."""
    try:
        choice = onnx_scorer.wanted()  # the bundle runtime's own reading of LABLIFT_SCORER
    except onnx_scorer.Unavailable as exc:
        raise LabliftError(str(exc)) from None
    if choice == "auto" and label:  # metrics from the pickle's own probabilities, as before
        return "pickle", "the batch has labels: its metrics use the pickle's probabilities"
    return choice, f"{ENV}=pickle" if choice == "pickle" else None


def convert(store, run: dict[str, Any], pipeline, task: str | None) -> tuple[bytes | None, dict]:
    """(model.onnx bytes or None, the check) for a run's pipeline: once per version."""
    if task != "classification":
        return None, {"verdict": "not converted", "reason": "only classifiers are converted "
                      "(a regressor's predictions would have to equal sklearn's float64 "
                      "digit for digit)", "sha256": None}
    from .. import inputs, onnx_export, training
    try:
        schema = inputs.input_schema(store, run)
        X_holdout, _ = training.holdout_frame(store, run)
    except LabliftError as exc:  # no holdout to check on: the pickle scores, and says why
        return None, {"verdict": "not converted", "sha256": None,
                      "reason": f"the run's holdout cannot be read for the check: {exc}"}
    onnx_bytes, report = onnx_export.build(pipeline, schema, X_holdout)
    report = dict(report)
    report["sha256"] = hashlib.sha256(onnx_bytes).hexdigest() if onnx_bytes else None
    if onnx_bytes is not None:
        import numpy as np
        report["model_classes"] = np.asarray(pipeline[-1].classes_)  # the pickle's labels
    return onnx_bytes, report


def load(store, check: dict | None, onnx_bytes: bytes | None = None):
    """-> (OnnxModel or None, why not). `onnx_bytes`: made now (else read, verified)."""
    if not isinstance(check, dict):
        return None, "no ONNX form was made for this version"
    if check.get("verdict") != "passed" or not check.get("sha256"):
        return None, f"the ONNX check did not pass ({check.get('verdict')}): " \
                     f"{check.get('reason')}"
    try:
        data = onnx_bytes if onnx_bytes is not None else \
            store.artifacts.read_bytes(check["sha256"])  # verified against its sha256
    except Exception as exc:  # missing or damaged: the pickle scores, and says why
        return None, f"the ONNX artifact cannot be read: {exc}"
    try:
        return onnx_scorer.OnnxModel(data, check.get("inputs") or [],
                                     check["model_classes"]), None
    except onnx_scorer.Unavailable as exc:
        return None, str(exc)


def record(kind: str, reason: str | None, check: dict | None) -> dict[str, Any]:
    """What a batch's result says about its scorer (JSON)."""
    check = check if isinstance(check, dict) else {}
    return {"kind": kind, "reason": reason, "artifact": check.get("sha256"),
            "check": {k: check.get(k) for k in ("verdict", "reason", "rows_checked",
                                                "max_abs_proba_diff", "tolerance")}
            if check else None}
