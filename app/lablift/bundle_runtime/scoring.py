"""The model of a Lablift bundle: schema.json's validation, and scoring with model.onnx on
onnxruntime (onnx_scorer.py, when the export proved it exact) or with model.pkl. Part of the
bundle's runtime (see serve.py): run only after the integrity check; never imports Lablift.

The ONNX path needs neither scikit-learn nor scipy: the manifest records the classes with
their dtype (lablift.json "onnx" "classes") and the inputs, and model.pkl is unpickled only
when the pickle scores: LABLIFT_SCORER=pickle, no onnxruntime, no passed check, or an ONNX
error while scoring. A bundle whose manifest has no classes takes them from the pickle.
"""

import json
import os
import sys
import threading
from pathlib import Path

from .inputs import coerce_list, coerce_series, column_type
from .serve import (BUNDLE_DIR, BundleError, InputError, read_sums, verified_source,
                    verify_bundle)

# Final estimators whose predict() is exactly the class with the highest predict_proba()
# (argmax of the same scores); for them one predict_proba call yields both outputs.
# (tests/test_serve.py checks this list against predict()).
_PROBA_ARGMAX = {"RandomForestClassifier", "ExtraTreesClassifier", "DecisionTreeClassifier",
                 "LogisticRegression", "HistGradientBoostingClassifier"}
FAST_PATH_FILE = "onnx_scorer.py"  # shipped with model.onnx; see its docstring
CLASS_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                "uint64", "float32", "float64", "object")


def classes_from_doc(doc):
    """lablift.json's {"dtype", "values"} -> the classifier's classes_ (ndarray) or None."""
    import numpy as np
    if not isinstance(doc, dict) or doc.get("dtype") not in CLASS_DTYPES \
            or not isinstance(doc.get("values"), list) or not doc["values"]:
        return None
    values = doc["values"]
    if doc["dtype"] == "object":  # text labels: Python str, as LabelEncoder keeps them
        if not all(isinstance(v, str) for v in values):
            return None
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    return np.asarray(values, dtype=doc["dtype"])


def load_fast_path(scorer, verified: bool):
    """-> (kind, fast scorer or None, note): the bundle's onnx_scorer.py, run only once the
    integrity check has covered it."""
    path = scorer.folder / FAST_PATH_FILE
    want = (os.environ.get("LABLIFT_SCORER") or "auto").strip().lower()
    check = scorer.manifest.get("onnx") if isinstance(scorer.manifest.get("onnx"), dict) else {}
    if not path.is_file() or want == "pickle":
        note = ("LABLIFT_SCORER=pickle" if want == "pickle" else
                f"no ONNX fast path in this bundle: {check.get('reason') or 'not exported'}")
        if want == "onnx":
            raise BundleError(f"LABLIFT_SCORER=onnx, but {note}")
        return "pickle", None, note
    if not verified:  # the caller skipped the integrity check: run no code of the bundle
        return "pickle", None, f"{FAST_PATH_FILE} not run: the bundle was not verified"
    # its source, as verified, run in a namespace of its own: no bytecode written
    mod = {"__name__": "lablift_bundle_onnx_scorer", "__file__": str(path)}
    exec(compile(verified_source(scorer.folder, FAST_PATH_FILE), str(path), "exec"), mod)
    classes = classes_from_doc(check.get("classes"))
    if classes is None and check.get("verdict") == "passed":  # exported before "classes"
        classes = scorer.pickle_classes()
    try:
        fast = mod["load"](scorer.folder, scorer.manifest, classes, read_sums(scorer.folder))
    except mod["Unavailable"] as exc:
        if want == "onnx":
            raise BundleError(f"LABLIFT_SCORER=onnx, but the ONNX path cannot run: {exc}")
        print(f"note: scoring with model.pkl, not model.onnx: {exc}", file=sys.stderr)
        return "pickle", None, str(exc)
    return "onnx", fast, (f"model.onnx on onnxruntime {fast.version}; export check: "
                          f"{check.get('rows_checked')} rows, labels identical, probabilities "
                          f"within {check.get('max_abs_proba_diff'):.1e}")


class Scorer:
    """A verified, loaded bundle: validates inputs against schema.json and scores them."""

    # Which scorer runs, said at start ("serving ... (pickle scorer)") and in /version
    # ("scorer"), the V2 metadata's platform too: the one place another scorer changes.
    kind = "pickle"

    def __init__(self, folder: Path = BUNDLE_DIR, verify: bool = True, checked: bool = False):
        """checked: verify_bundle(folder) has just passed (serve.py's commands): not twice."""
        self.folder = Path(folder)
        if verify and not checked:
            verify_bundle(self.folder)
        try:
            self.schema = json.loads((self.folder / "schema.json").read_text(encoding="utf-8"))
            manifest_path = self.folder / "lablift.json"
            self.manifest = (json.loads(manifest_path.read_text(encoding="utf-8"))
                             if manifest_path.is_file() else {})
        except (OSError, ValueError) as exc:
            raise BundleError(f"cannot read the bundle's schema or manifest: {exc}") from None
        self.inputs = list(self.schema["inputs"])
        self.names = [c["name"] for c in self.inputs]
        self._known = set(self.names)
        self._nullable = {c["name"]: bool(c.get("nullable", True)) for c in self.inputs}
        self._text = {c["name"] for c in self.inputs if column_type(c) == "string"}
        # Inputs the pipeline receives but drops (e.g. a datetime column): may be left out.
        self._optional = {c["name"] for c in self.inputs if c.get("used") is False}
        self._required = [n for n in self.names if n not in self._optional]
        self._model, self._pickle_lock, self._fallback_said = None, threading.Lock(), False
        import pandas as pd
        self._pd = pd
        # model.onnx when the export's equality check passed and onnxruntime is here
        self.kind, self._fast, self.scorer_note = load_fast_path(self, verified=verify)
        if self._fast is not None:
            self.task = self.schema.get("task") or "classification"
            self.classes = list(self._fast.classes)
        else:
            self._load_pickle()
            self.task = self.schema.get("task") or (
                "classification" if hasattr(self._final, "classes_") else "regression")
            self.classes = (list(self._final.classes_) if hasattr(self._final, "classes_")
                            and hasattr(self._final, "predict_proba") else None)

    # -- model.pkl, unpickled only when it scores ------------------------------------
    def _load_pickle(self):
        with self._pickle_lock:
            if self._model is not None:
                return self._model
            import pickle
            model_path = self.folder / "model.pkl"
            if not model_path.is_file():
                raise BundleError(f"model.pkl is missing from {self.folder}")
            with open(model_path, "rb") as f:
                model = pickle.load(f)  # verified against SHA256SUMS before
            steps = getattr(model, "steps", None)
            if steps and len(steps) > 1:
                self._pre, self._final = model[:-1], model[-1]
            else:
                self._pre, self._final = None, (model[-1] if steps else model)
            self._argmax_ok = type(self._final).__name__ in _PROBA_ARGMAX
            self._model = model
            return model

    @property
    def model(self):
        return self._load_pickle()

    def pickle_classes(self):
        self._load_pickle()
        final = self._final
        return final.classes_ if hasattr(final, "classes_") and hasattr(final,
                                                                        "predict_proba") else None

    # -- identity -----------------------------------------------------------
    def info(self) -> dict:
        m = self.manifest
        model = m.get("model", {}) if isinstance(m.get("model"), dict) else {}
        return {"bundle": "lablift", "model": model.get("name"), "version": model.get("version"),
                "run_id": (m.get("run") or {}).get("id") if isinstance(m.get("run"), dict)
                else None,
                "task": self.task, "target": self.schema.get("target"),
                "classes": [_jsonable(c) for c in self.classes] if self.classes else None,
                "inputs": self.names, "exported_at": m.get("exported_at"),
                "scorer": self.kind, "scorer_note": self.scorer_note,
                "sklearn_version": _sklearn_version(),
                "python_version": ".".join(map(str, sys.version_info[:3]))}

    def label(self) -> str:
        model = self.manifest.get("model")
        model = model if isinstance(model, dict) else {}
        return (f"{model.get('name')}:{model.get('version')}" if model.get("name")
                else str(self.folder))

    # -- input ----------------------------------------------------------------
    def frame_from_columns(self, columns: dict, n: int) -> tuple[object, dict, list[str]]:
        """Columns {name: list} from JSON -> (DataFrame in schema order, coerced, warnings)."""
        warnings = self._extra_warning([c for c in columns if c not in self._known])
        coerced = {}
        for spec in self.inputs:
            name = spec["name"]
            if name not in columns:
                if name not in self._optional:
                    raise InputError(f"missing column '{name}' (the model needs: "
                                     f"{', '.join(self._required)})", name)
                columns[name] = [None] * n
            values, missing = coerce_list(spec, columns[name])
            if name in self._optional:
                missing = 0
            if missing and not self._nullable[name]:
                warnings.append(f"column '{name}' has {missing} missing value(s); the training "
                                f"data had none")
            coerced[name] = values
        if n == 0:
            raise InputError("the input has no rows")
        return self._frame(coerced), coerced, warnings

    def _frame(self, coerced: dict):
        """DataFrame from coerced lists, built for speed: this is on every request's path."""
        import numpy as np
        pd = self._pd
        arrays = []
        for spec in self.inputs:
            kind, values = column_type(spec), coerced[spec["name"]]
            if kind == "string":
                # object, not pandas 3's `str` dtype, which sklearn's encoders convert back to
                # object on every call (about 1 ms per request)
                arr = np.empty(len(values), dtype=object)
                arr[:] = values
            elif kind == "bool":
                arr = np.asarray(values, dtype=bool if all(
                    isinstance(v, bool) for v in values) else object)
            elif kind in ("number", "integer"):
                arr = np.asarray(values)
            else:
                arr = None
            if arr is None or arr.ndim != 1:
                return pd.DataFrame(coerced, columns=self.names)
            arrays.append(arr)
        try:
            # The public constructor costs about 0.4 ms more for one row (dict handling and
            # dtype inference we have already done); pandas is pinned in requirements.txt.
            return pd.DataFrame._from_arrays(arrays, columns=pd.Index(self.names),
                                             index=pd.RangeIndex(len(arrays[0])),
                                             verify_integrity=False)
        except (AttributeError, TypeError):
            return pd.DataFrame(dict(zip(self.names, arrays)), columns=self.names)

    def frame_from_dataframe(self, df) -> tuple[object, list[str]]:
        """A parsed CSV -> (DataFrame in schema order, warnings). Vectorised for big files."""
        warnings = self._extra_warning([str(c) for c in df.columns if c not in self._known])
        out = {}
        for spec in self.inputs:
            name = spec["name"]
            if name not in df.columns:
                if name not in self._optional:
                    raise InputError(f"missing column '{name}' (the model needs: "
                                     f"{', '.join(self._required)})", name)
                df = df.assign(**{name: None})
            col = df[name]
            if getattr(col, "ndim", 1) != 1:
                raise InputError(f"column '{name}' appears more than once", name)
            out[name], missing = coerce_series(spec, col)
            if name in self._optional:
                missing = 0
            if missing and not self._nullable[name]:
                warnings.append(f"column '{name}' has {missing} missing value(s); the training "
                                f"data had none")
        if len(df) == 0:
            raise InputError("the input has no rows")
        return self._pd.DataFrame(out, columns=self.names), warnings

    def read_csv(self, source) -> object:
        # Text columns are read as text so that e.g. "007" or "1" keep the form they trained with.
        dtypes = {c["name"]: "object" for c in self.inputs if column_type(c) == "string"}
        try:
            return self._pd.read_csv(source, dtype=dtypes, skipinitialspace=False)
        except (ValueError, self._pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise InputError(f"the CSV input cannot be parsed: {exc}") from None

    @staticmethod
    def _extra_warning(extra: list[str]) -> list[str]:
        if not extra:
            return []
        return ["ignored column(s) the model does not use: "
                + ", ".join(f"'{c}'" for c in extra)]

    # -- scoring --------------------------------------------------------------
    def score(self, frame, want_proba: bool = False):
        """-> (predictions ndarray, probabilities ndarray or None)."""
        import numpy as np
        if self._fast is not None:  # same labels (classes_) and probability columns
            try:
                return self._fast.score(frame, want_proba)
            except InputError:
                raise
            except Exception as exc:  # onnxruntime failed: the pickle answers this one
                if os.environ.get("LABLIFT_SCORER", "").strip().lower() == "onnx":
                    raise InputError(f"model.onnx could not score this input: {exc}") from None
                if not self._fallback_said:
                    self._fallback_said = True
                    print(f"note: model.onnx failed ({type(exc).__name__}: "
                          f"{str(exc)[:200]}); scoring with model.pkl", file=sys.stderr)
        try:
            self._load_pickle()
            xt = self._pre.transform(frame) if self._pre is not None else frame
            if self.classes is not None and (want_proba or self._argmax_ok):
                proba = self._final.predict_proba(xt)
                if self._argmax_ok:
                    pred = np.asarray(self._final.classes_).take(np.argmax(proba, axis=1))
                else:
                    pred = self._final.predict(xt)
                return pred, (proba if want_proba else None)
            return self._final.predict(xt), None
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"the model could not score this input: {exc}") from None

    def proba_columns(self) -> list[str]:
        return [f"proba_{c}" for c in self.classes] if self.classes else []


def _jsonable(v):
    """numpy/pandas scalars -> plain JSON values (NaN/NaT -> null)."""
    if v is None:
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, float) and v != v:
        return None
    if hasattr(v, "isoformat"):
        try:
            return None if v != v else v.isoformat()
        except (TypeError, ValueError):
            return str(v)
    return v



def _sklearn_version():
    if "sklearn" in sys.modules:
        return sys.modules["sklearn"].__version__
    try:  # the ONNX path never imports scikit-learn: its installed version, from metadata
        from importlib.metadata import version
        return version("scikit-learn")
    except Exception:
        return None
