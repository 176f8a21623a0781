"""ONNX fast path of a Lablift bundle: copied beside serve.py when the export shipped
model.onnx; serve.py loads this file by path only after the bundle's integrity check.

model.onnx is the bundle's scikit-learn pipeline in double precision, kept at export only
because it gave labels identical to model.pkl's and probabilities within 1e-6 on the run's
holdout (lablift.json "onnx": versions, opsets, rows checked, largest difference, verdict).
serve.py uses it when onnxruntime is installed and that check passed, model.pkl otherwise;
it says which at start and in /version ("scorer"). LABLIFT_SCORER=pickle forces the pickle,
LABLIFT_SCORER=onnx refuses to start without the ONNX path.

Inputs are one [N, 1] tensor per column: double for numeric columns, text for categorical
ones (bools as "True"/"False", a missing value as ""). Labels are the first class of highest
probability, as serve.py's pickle path computes them, taken from the pickle's own classes_,
so both paths answer with the same JSON. Needs numpy and onnxruntime; never imports Lablift.
"""

import os

ONNX_FILE = "model.onnx"
ENV = "LABLIFT_SCORER"  # auto (default) | onnx | pickle


class Unavailable(Exception):
    """The ONNX path cannot be used here; the message says why."""


def wanted() -> str:
    choice = (os.environ.get(ENV) or "auto").strip().lower()
    if choice not in ("auto", "onnx", "pickle"):
        raise Unavailable(f"{ENV}={choice!r}: use auto, onnx or pickle")
    return choice


def feed(inputs: list, frame) -> dict:
    """onnxruntime's inputs for a DataFrame whose columns are named as in `inputs`
    ([{"name", "type": double|string|bool}], from lablift.json)."""
    import numpy as np
    import pandas as pd
    out = {}
    for spec in inputs:
        name = spec["name"]
        col = frame[name]
        if spec["type"] == "double":
            out[name] = col.to_numpy(dtype=np.float64, na_value=np.nan).reshape(-1, 1)
            continue
        values = col.to_numpy(dtype=object)
        missing = pd.isna(values).tolist()  # NaN, None, pd.NA, NaT
        text = np.empty((len(values), 1), dtype=object)
        text[:, 0] = ["" if m else str(v) for v, m in zip(values.tolist(), missing)]
        out[name] = text  # str(True) is "True": how the export wrote bool categories
    return out


class OnnxModel:
    """model.onnx in an onnxruntime session; score() answers as serve.py's Scorer.score."""

    kind = "onnx"

    def __init__(self, model: bytes, inputs: list, classes, threads: int = 0):
        import numpy as np
        try:
            import onnxruntime as ort
        except ImportError:
            raise Unavailable("onnxruntime is not installed (pip install onnxruntime)") from None
        opts = ort.SessionOptions()
        opts.inter_op_num_threads = 1
        # idle pool threads must not spin between requests: on a shared host that burnt
        # ~35 ms of CPU per single-row request for 0.01 ms of latency
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(model, sess_options=opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # an opset this onnxruntime lacks, a corrupt file, ...
            raise Unavailable(f"onnxruntime {ort.__version__} cannot load {ONNX_FILE}: "
                              f"{str(exc).splitlines()[0][:300]}") from None
        self.inputs = list(inputs)
        self.classes = np.asarray(classes)  # the pickle's classes_: same label types
        self.version = ort.__version__
        self._np = np

    def score(self, frame, want_proba: bool = False):
        """-> (predictions ndarray, probabilities ndarray or None)."""
        np = self._np
        proba = self.session.run(["probabilities"], feed(self.inputs, frame))[0]
        pred = self.classes.take(np.argmax(proba, axis=1))
        return pred, (proba if want_proba else None)


def load(folder, manifest: dict, classes, listed) -> OnnxModel:
    """The verified bundle's ONNX path; raises Unavailable (why not) when it cannot be used.
    `listed`: the files SHA256SUMS covers (model.onnx must be one of them)."""
    from pathlib import Path
    check = manifest.get("onnx") if isinstance(manifest, dict) else None
    if not isinstance(check, dict):
        raise Unavailable("the manifest records no ONNX check")
    if check.get("verdict") != "passed":
        raise Unavailable(f"the export's ONNX check did not pass ({check.get('verdict')}): "
                          f"{check.get('reason')}")
    if ONNX_FILE not in listed:
        raise Unavailable(f"{ONNX_FILE} is not listed in SHA256SUMS")
    if classes is None:
        raise Unavailable("only classifiers have an ONNX path")
    path = Path(folder) / ONNX_FILE
    try:
        model = path.read_bytes()
    except OSError as exc:
        raise Unavailable(f"cannot read {ONNX_FILE}: {exc}") from None
    return OnnxModel(model, check.get("inputs") or [], classes)
