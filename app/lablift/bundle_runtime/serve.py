#!/usr/bin/env python3
"""Standalone scorer for a Lablift bundle (copied into every exported bundle).

    python serve.py predict IN.csv -o OUT.csv     score a CSV file
    python serve.py serve --port 8080 [--host 127.0.0.1] [--log predictions.jsonl]
    python serve.py verify                        check SHA256SUMS and exit

Needs only the standard library and the packages pinned in requirements.txt; it never
imports Lablift. Before anything is unpickled, every file of the bundle is checked against
SHA256SUMS: a changed, missing or extra file stops the scorer (exit 1, the file named).
Outputs and logs must therefore be written outside the bundle folder.

HTTP follows MLflow's scoring protocol: GET /ping, /health, /version; POST /invocations with
JSON (`dataframe_split`, `dataframe_records`, `instances` or `inputs`) or `text/csv`; the
answer is {"predictions": [...]}. Input that breaks schema.json gets 400 with
{"error_code": "BAD_REQUEST", "message": "... column 'x' ..."}. Columns the model does not
use are ignored and named in a warning: the response header `X-Lablift-Warning` and a
"warnings" list in the JSON body (both present only when there is a warning).

`--log FILE` appends one JSON line per scored row (timestamp, request_id, row, model, inputs,
prediction, latency_ms, probabilities) and one per rejected POST /invocations (timestamp,
request_id, model, error {status, message}, latency_ms).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

BUNDLE_DIR = Path(__file__).resolve().parent
SUMS_FILE = "SHA256SUMS"
MAX_BODY_BYTES = 256 * 1024 * 1024
SKIP_DIRS = {"__pycache__"}  # created by Python itself when serve.py is imported, never read


class BundleError(Exception):
    """The bundle cannot be trusted or read (integrity, missing file)."""


class InputError(Exception):
    """Input that does not fit schema.json; the message names the column."""

    def __init__(self, message: str, column: str | None = None):
        super().__init__(message)
        self.column = column


# --------------------------------------------------------------------------- integrity
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bundle_files(folder: Path) -> list[str]:
    """Every file under `folder` except SHA256SUMS, as sorted relative POSIX paths."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in files:
            rel = (Path(root) / name).relative_to(folder).as_posix()
            if rel != SUMS_FILE:
                out.append(rel)
    return sorted(out)


def write_sums(folder: Path) -> str:
    """Write SHA256SUMS (`sha256sum -c` format) over every other file; returns its text."""
    lines = [f"{sha256_file(folder / rel)}  {rel}\n" for rel in bundle_files(folder)]
    text = "".join(lines)
    (folder / SUMS_FILE).write_text(text, encoding="utf-8")
    return text


def read_sums(folder: Path) -> dict[str, str]:
    path = folder / SUMS_FILE
    if not path.is_file():
        raise BundleError(f"{SUMS_FILE} is missing from {folder}: the bundle cannot be verified")
    sums: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition(" ")
        name = name[1:] if name[:1] in (" ", "*") else name
        if (not sep or len(digest) != 64 or not name
                or any(c not in "0123456789abcdef" for c in digest.lower())):
            raise BundleError(f"{SUMS_FILE} line {number} is not '<sha256>  <file>': {line!r}")
        if name.startswith("/") or ".." in Path(name).parts:
            raise BundleError(f"{SUMS_FILE} line {number} names a file outside the bundle: {name}")
        sums[name] = digest.lower()
    return sums


def check_sums(folder: Path) -> list[dict]:
    """Problems found: [{"file", "problem": changed|missing|extra, "message"}]; [] when intact."""
    folder = Path(folder)
    sums = read_sums(folder)
    present = set(bundle_files(folder))
    problems = []
    for name, digest in sums.items():
        path = folder / name
        if name not in present or not path.is_file():
            problems.append({"file": name, "problem": "missing",
                             "message": f"{name} is listed in {SUMS_FILE} but missing"})
        elif sha256_file(path) != digest:
            problems.append({"file": name, "problem": "changed",
                             "message": f"{name} was changed: its sha256 does not match "
                                        f"{SUMS_FILE}"})
    for name in sorted(present - set(sums)):
        problems.append({"file": name, "problem": "extra",
                         "message": f"{name} is not listed in {SUMS_FILE} (extra file; write "
                                    f"outputs and logs outside the bundle folder)"})
    return problems


def verify_bundle(folder: Path) -> None:
    try:
        problems = check_sums(folder)
    except BundleError as exc:
        raise BundleError(f"bundle integrity check failed, refusing to load it: {exc}") from None
    if problems:
        raise BundleError("bundle integrity check failed, refusing to load it: "
                          + "; ".join(p["message"] for p in problems))


# --------------------------------------------------------------------------- input coercion
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def column_type(spec: dict) -> str:
    """'number' | 'integer' | 'bool' | 'datetime' | 'string' from a schema.json input."""
    dtype = str(spec.get("dtype") or "").lower()
    kind = spec.get("kind")
    if "bool" in dtype:
        return "bool"
    if "int" in dtype and "interval" not in dtype:
        return "integer"
    if any(t in dtype for t in ("float", "double", "decimal")):
        return "number"
    if "date" in dtype or "time" in dtype:
        return "datetime"
    if dtype:
        return "string"
    return {"numeric": "number", "boolean": "bool", "datetime": "datetime"}.get(kind, "string")


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())


def _bad(column: str, row: int, value, what: str) -> InputError:
    shown = repr(value) if not isinstance(value, str) else repr(value[:60])
    return InputError(f"column '{column}': cannot read {shown} (row {row}) as {what}", column)


def coerce_list(spec: dict, values: list) -> tuple[list, int]:
    """Coerce JSON values of one column (pure Python: cheap for the few rows of a request)."""
    name, kind = spec["name"], column_type(spec)
    out, missing = [], 0
    nan = float("nan")
    if kind in ("number", "integer"):
        for i, v in enumerate(values):
            if _is_missing(v):
                out.append(nan)
                missing += 1
                continue
            if isinstance(v, (list, dict)):
                raise _bad(name, i, v, "a number")
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise _bad(name, i, v, "a number") from None
            if math.isinf(f):
                raise _bad(name, i, v, "a finite number")
            if f != f:
                missing += 1
            out.append(f)
        if kind == "integer" and not missing and all(f.is_integer() for f in out):
            out = [int(f) for f in out]
    elif kind == "bool":
        for i, v in enumerate(values):
            if _is_missing(v):
                out.append(nan)
                missing += 1
            elif isinstance(v, bool):
                out.append(v)
            elif isinstance(v, (int, float)) and v in (0, 1):
                out.append(bool(v))
            elif isinstance(v, str) and v.strip().lower() in _TRUE:
                out.append(True)
            elif isinstance(v, str) and v.strip().lower() in _FALSE:
                out.append(False)
            else:
                raise _bad(name, i, v, "true or false")
    elif kind == "datetime":
        import pandas as pd
        for i, v in enumerate(values):
            if _is_missing(v):
                out.append(pd.NaT)
                missing += 1
                continue
            try:
                out.append(pd.Timestamp(v))
            except (TypeError, ValueError):
                raise _bad(name, i, v, "a date/time") from None
    else:
        for i, v in enumerate(values):
            if _is_missing(v):
                out.append(nan)  # np.nan, not None: sklearn's imputers only see NaN as missing
                missing += 1
            elif isinstance(v, (list, dict)):
                raise _bad(name, i, v, "a text value")
            elif isinstance(v, float) and v.is_integer():
                out.append(str(int(v)))
            else:
                out.append(str(v))
    return out, missing


def coerce_series(spec: dict, s):
    """Vectorised coercion of one column of a parsed CSV (pandas Series); returns (s, missing)."""
    import numpy as np
    import pandas as pd
    name, kind = spec["name"], column_type(spec)
    s = s.reset_index(drop=True)
    if kind in ("number", "integer"):
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            text = s.astype("string").str.strip()
            num = pd.to_numeric(text.replace("", None), errors="coerce")
            bad = num.isna() & text.notna() & (text != "")
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise _bad(name, i, s.iloc[i], "a number")
            s = num.astype("float64")
        if pd.api.types.is_float_dtype(s) and np.isinf(s.to_numpy(dtype="float64")).any():
            i = int(np.flatnonzero(np.isinf(s.to_numpy(dtype="float64")))[0])
            raise _bad(name, i, s.iloc[i], "a finite number")
        missing = int(s.isna().sum())
        if kind == "number" or missing:
            s = s.astype("float64")
        return s, missing
    if kind == "bool":
        if pd.api.types.is_bool_dtype(s) and s.dtype != object:
            return s.astype(bool), int(s.isna().sum())
        text = s.astype("string").str.strip().str.lower()
        mapped = text.map(lambda v: True if v in _TRUE else False if v in _FALSE else None,
                          na_action="ignore")
        bad = mapped.isna() & text.notna() & (text != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise _bad(name, i, s.iloc[i], "true or false")
        missing = int(mapped.isna().sum())
        return (mapped.astype(bool) if not missing else
                mapped.astype(object).where(mapped.notna(), np.nan)), missing
    if kind == "datetime":
        out = pd.to_datetime(s, errors="coerce")
        bad = out.isna() & s.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise _bad(name, i, s.iloc[i], "a date/time")
        return out, int(out.isna().sum())
    missing = int(s.isna().sum())
    if not (pd.api.types.is_string_dtype(s) or s.dtype == object):
        s = s.astype(object).where(s.notna(), np.nan).map(
            lambda v: v if v != v else str(int(v)) if isinstance(v, float) and v.is_integer()
            else str(v))
    return s, missing


# --------------------------------------------------------------------------- the model
# Final estimators whose predict() is exactly the class with the highest predict_proba()
# (argmax of the same scores); for them one predict_proba call yields both outputs.
# (tests/test_serve.py checks this list against predict()).
_PROBA_ARGMAX = {"RandomForestClassifier", "ExtraTreesClassifier", "DecisionTreeClassifier",
                 "LogisticRegression", "HistGradientBoostingClassifier"}


class Scorer:
    """A verified, loaded bundle: validates inputs against schema.json and scores them."""

    def __init__(self, folder: Path = BUNDLE_DIR, verify: bool = True):
        self.folder = Path(folder)
        if verify:
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
        import pickle
        model_path = self.folder / "model.pkl"
        if not model_path.is_file():
            raise BundleError(f"model.pkl is missing from {self.folder}")
        with open(model_path, "rb") as f:
            self.model = pickle.load(f)  # verified against SHA256SUMS above
        steps = getattr(self.model, "steps", None)
        if steps and len(steps) > 1:
            self._pre, self._final = self.model[:-1], self.model[-1]
        else:
            self._pre, self._final = None, (self.model[-1] if steps else self.model)
        self.task = self.schema.get("task") or (
            "classification" if hasattr(self._final, "classes_") else "regression")
        self.classes = (list(self._final.classes_) if hasattr(self._final, "classes_")
                        and hasattr(self._final, "predict_proba") else None)
        self._argmax_ok = type(self._final).__name__ in _PROBA_ARGMAX
        import pandas as pd
        self._pd = pd

    # -- identity -----------------------------------------------------------
    def info(self) -> dict:
        m = self.manifest
        model = m.get("model", {}) if isinstance(m.get("model"), dict) else {}
        import sklearn
        return {"bundle": "lablift", "model": model.get("name"), "version": model.get("version"),
                "run_id": (m.get("run") or {}).get("id") if isinstance(m.get("run"), dict)
                else None,
                "task": self.task, "target": self.schema.get("target"),
                "classes": [_jsonable(c) for c in self.classes] if self.classes else None,
                "inputs": self.names, "exported_at": m.get("exported_at"),
                "sklearn_version": sklearn.__version__,
                "python_version": ".".join(map(str, sys.version_info[:3]))}

    def label(self) -> str:
        i = self.info()
        return f"{i['model']}:{i['version']}" if i["model"] else str(self.folder)

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
        try:
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


# --------------------------------------------------------------------------- batch CLI
def _outside_bundle(path: str, what: str) -> Path:
    p = Path(path).resolve()
    if p == BUNDLE_DIR or BUNDLE_DIR in p.parents:
        raise BundleError(f"{what} {path} is inside the bundle folder; write it elsewhere (any "
                          f"file added to the bundle breaks its SHA256SUMS)")
    return p


def cmd_predict(args) -> int:
    out_path = _outside_bundle(args.output, "output") if args.output not in (None, "-") else None
    scorer = Scorer()
    df = scorer.read_csv(sys.stdin if args.input == "-" else args.input)
    frame, warnings = scorer.frame_from_dataframe(df)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    pred, proba = scorer.score(frame, want_proba=True)
    pd = scorer._pd
    result = pd.DataFrame({"prediction": pred})
    if proba is not None:
        for i, col in enumerate(scorer.proba_columns()):
            result[col] = proba[:, i]
    if args.include_inputs:
        result = pd.concat([df.reset_index(drop=True), result], axis=1)
    if out_path is None:
        result.to_csv(sys.stdout, index=False)
    else:
        tmp = out_path.with_name(out_path.name + ".tmp")
        result.to_csv(tmp, index=False)
        os.replace(tmp, out_path)
        print(f"scored {len(result)} rows with {scorer.label()} -> {args.output}",
              file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- HTTP
class PredictionLog:
    """One JSON line per scored row, and one per rejected request (no inputs, no prediction:
    {"timestamp", "request_id", "model", "error": {"status", "message"}, "latency_ms"}), so
    that monitoring can count failed requests. Appended and flushed under a lock (threads
    share it)."""

    def __init__(self, path: Path, model: str):
        self.path = path
        self.model = model
        self._lock = threading.Lock()
        self._f = open(path, "a", encoding="utf-8")

    def write(self, request_id: str, coerced: dict, pred, proba, classes, latency_ms: float):
        ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        names = list(coerced)
        cols = [coerced[n] for n in names]
        preds = pred.tolist() if hasattr(pred, "tolist") else list(pred)
        lines = []
        for i, p in enumerate(preds):
            entry = {"timestamp": ts, "request_id": request_id, "row": i, "model": self.model,
                     "inputs": {n: _jsonable(c[i]) for n, c in zip(names, cols)},
                     "prediction": _jsonable(p), "latency_ms": round(latency_ms, 3)}
            if proba is not None:
                entry["probabilities"] = {str(c): float(proba[i, j])
                                          for j, c in enumerate(classes)}
            lines.append(json.dumps(entry, ensure_ascii=False, default=str))
        text = "\n".join(lines) + "\n"
        with self._lock:
            self._f.write(text)
            self._f.flush()

    def write_error(self, request_id: str, status: int, message: str, latency_ms: float):
        entry = {"timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                 "request_id": request_id, "model": self.model,
                 "error": {"status": int(status), "message": message[:2000]},
                 "latency_ms": round(latency_ms, 3)}
        text = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self._f.write(text)
            self._f.flush()

    def close(self):
        with self._lock:
            self._f.close()


def parse_json_body(body: bytes, names: list[str]) -> tuple[dict, int]:
    """MLflow's JSON input formats -> ({column: [values]}, rows)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InputError("the JSON body must be an object with one of the keys "
                         "dataframe_split, dataframe_records, instances, inputs")
    keys = [k for k in ("dataframe_split", "dataframe_records", "instances", "inputs") if k in doc]
    if len(keys) != 1:
        raise InputError("the JSON body must have exactly one of the keys dataframe_split, "
                         f"dataframe_records, instances, inputs (found: {sorted(doc)})")
    key = keys[0]
    data = doc[key]
    if key == "dataframe_split":
        if isinstance(data, str):  # some clients send the split frame as a JSON string
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise InputError(f"dataframe_split is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise InputError("dataframe_split must be an object with 'columns' and 'data' lists")
        columns = data.get("columns", names)
        if not isinstance(columns, list):
            raise InputError("dataframe_split 'columns' must be a list of column names")
        return _from_rows(data["data"], [str(c) for c in columns])
    if key == "dataframe_records" or (isinstance(data, list) and data
                                      and all(isinstance(r, dict) for r in data)):
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise InputError(f"{key} must be a list of objects, one per row")
        seen = {}
        for r in data:
            for c in r:
                seen.setdefault(c, None)
        return {c: [r.get(c) for r in data] for c in seen}, len(data)
    if isinstance(data, dict):  # {"col": [values]} or {"col": value} (one row)
        cols = {}
        n = None
        for c, v in data.items():
            v = v if isinstance(v, list) else [v]
            if n is not None and len(v) != n:
                raise InputError(f"{key}: column '{c}' has {len(v)} values, the others {n}", c)
            n = len(v)
            cols[c] = v
        return cols, n or 0
    if isinstance(data, list):  # rows of values in schema order
        return _from_rows(data, names)
    raise InputError(f"{key} must be a list of rows or an object of columns")


def _from_rows(rows, columns: list[str]) -> tuple[dict, int]:
    if not isinstance(rows, list):
        raise InputError("'data' must be a list of rows")
    width = len(columns)
    for i, r in enumerate(rows):
        if not isinstance(r, list) or len(r) != width:
            got = len(r) if isinstance(r, list) else type(r).__name__
            raise InputError(f"row {i} has {got} values but {width} columns are named "
                             f"({', '.join(columns)})")
    if not rows:
        return {c: [] for c in columns}, 0
    return {c: list(v) for c, v in zip(columns, zip(*rows))}, len(rows)


def make_handler(scorer: Scorer, log: PredictionLog | None, quiet: bool = True):
    from http.server import BaseHTTPRequestHandler
    version_doc = json.dumps(scorer.info()).encode()
    label = scorer.label()
    want_proba = log is not None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: no TCP handshake per request
        disable_nagle_algorithm = True  # small responses must not wait for delayed ACKs
        server_version = "lablift-serve/1"
        sys_version = ""

        def log_message(self, fmt, *a):  # access log off by default: it costs per request
            if not quiet:
                sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % a))

        def _send(self, status: int, body: bytes, ctype: str = "application/json",
                  headers: dict | None = None):
            # One write for status line, headers and body (avoids a second small packet).
            lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}",
                     f"Server: {self.server_version}", f"Content-Type: {ctype}",
                     f"Content-Length: {len(body)}"]
            for k, v in (headers or {}).items():
                lines.append(f"{k}: {v}")
            if self.close_connection:
                lines.append("Connection: close")
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
            self.wfile.write(head + body)
            self.log_request(status, len(body))

        def _error(self, status: int, message: str, code: str = "BAD_REQUEST",
                   headers: dict | None = None):
            body = json.dumps({"error_code": code, "message": message}).encode()
            self._send(status, body, headers=headers)

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path in ("/ping", "/health"):
                self._send(200, b'{"status": "ok"}')
            elif path == "/version":
                self._send(200, version_doc)
            else:
                self._error(404, f"no such endpoint: {path} (use /ping, /health, /version, "
                                 f"/invocations)", "ENDPOINT_NOT_FOUND")

        def _read_body(self) -> bytes | None:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks, total = [], 0
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    total += size
                    if total > MAX_BODY_BYTES:
                        self.close_connection = True
                        self._error(413, "request body too large")
                        return None
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = self.headers.get("Content-Length")
            if length is None:
                self.close_connection = True
                self._error(411, "Content-Length is required")
                return None
            try:
                n = int(length)
            except ValueError:
                self.close_connection = True
                self._error(400, f"bad Content-Length: {length!r}")
                return None
            if n < 0 or n > MAX_BODY_BYTES:
                self.close_connection = True
                self._error(413, "request body too large")
                return None
            return self.rfile.read(n)

        def do_POST(self):
            start = time.perf_counter()
            path = self.path.split("?", 1)[0]
            body = self._read_body()
            if body is None:
                return
            if path != "/invocations":
                self._error(404, f"no such endpoint: {path} (POST /invocations)",
                            "ENDPOINT_NOT_FOUND")
                return
            request_id = self.headers.get("X-Request-Id") or uuid.uuid4().hex
            rid = {"X-Request-Id": request_id}
            ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0]
            ctype = ctype.strip().lower()

            def reject(status: int, message: str, code: str = "BAD_REQUEST"):
                self._error(status, message, code, headers=rid)
                if log is not None:  # failed requests count in monitoring's error rate
                    log.write_error(request_id, status, message,
                                    (time.perf_counter() - start) * 1000.0)

            try:
                if ctype == "application/json":
                    columns, n = parse_json_body(body, scorer.names)
                    frame, coerced, warnings = scorer.frame_from_columns(columns, n)
                elif ctype == "text/csv":
                    import io
                    df = scorer.read_csv(io.StringIO(body.decode("utf-8")))
                    frame, warnings = scorer.frame_from_dataframe(df)
                    coerced = {c: frame[c].tolist() for c in scorer.names} if log else None
                else:
                    reject(415, f"unsupported Content-Type {ctype!r}: use application/json"
                                f" or text/csv")
                    return
                pred, proba = scorer.score(frame, want_proba=want_proba)
            except InputError as exc:
                reject(400, str(exc))
                return
            except UnicodeDecodeError as exc:
                reject(400, f"the request body is not UTF-8 text: {exc}")
                return
            except Exception as exc:  # the server goes on serving whatever one request does
                reject(500, f"internal error: {type(exc).__name__}: {exc}", "INTERNAL_ERROR")
                return
            doc = {"predictions": pred.tolist()}
            headers = dict(rid)
            if warnings:
                doc["warnings"] = warnings
                headers["X-Lablift-Warning"] = " | ".join(warnings).replace("\n", " ")
            self._send(200, json.dumps(doc).encode(), headers=headers)
            if log is not None:
                log.write(request_id, coerced, pred, proba, scorer.classes,
                          (time.perf_counter() - start) * 1000.0)

    Handler.label = label
    return Handler


def cmd_serve(args) -> int:
    log_path = _outside_bundle(args.log, "log file") if args.log else None
    scorer = Scorer()
    from http.server import ThreadingHTTPServer

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128

    log = PredictionLog(log_path, scorer.label()) if log_path else None
    try:
        server = Server((args.host, args.port),
                                     make_handler(scorer, log, quiet=not args.access_log))
    except OSError as exc:
        raise BundleError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    host, port = server.server_address[:2]
    print(f"serving {scorer.label()} on http://{host}:{port} (POST /invocations)",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if log is not None:
            log.close()
    return 0


def cmd_verify(args) -> int:
    problems = check_sums(BUNDLE_DIR)
    if problems:
        for p in problems:
            print(f"error: {p['message']}", file=sys.stderr)
        return 1
    print(f"ok: {len(read_sums(BUNDLE_DIR))} files match {SUMS_FILE}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="serve.py", description="Score with this Lablift bundle "
                                     "(no Lablift needed: only the packages in requirements.txt).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("predict", help="score a CSV file")
    p.add_argument("input", help="CSV file with the model's input columns ('-' for stdin)")
    p.add_argument("-o", "--output", help="output CSV (default: stdout): prediction and, for "
                   "classifiers, proba_<class> columns")
    p.add_argument("--include-inputs", action="store_true",
                   help="also copy the input columns into the output")
    p.set_defaults(func=cmd_predict)
    s = sub.add_parser("serve", help="serve MLflow-compatible HTTP scoring")
    s.add_argument("--port", type=int, default=8080, help="port (0: any free port)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--log", metavar="FILE.jsonl", help="append one JSON line per scored row "
                   "and one per rejected request")
    s.add_argument("--access-log", action="store_true", help="print one line per request")
    s.set_defaults(func=cmd_serve)
    v = sub.add_parser("verify", help="check the bundle against SHA256SUMS")
    v.set_defaults(func=cmd_verify)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (BundleError, InputError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1


if __name__ == "__main__":
    sys.exit(main())
