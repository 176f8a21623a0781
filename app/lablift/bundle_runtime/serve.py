#!/usr/bin/env python3
"""Standalone scorer for a Lablift bundle (copied into every exported bundle).

    python -I serve.py predict IN.csv -o OUT.csv [--raw-csv]    score a CSV file
    python -I serve.py serve --port 8080 [--host 127.0.0.1] [--log predictions.jsonl]
                             [--timeout 15] [--workers 32] [--shadow OTHER_BUNDLE]
    python -I serve.py verify                                   check the bundle and exit

A bundle is code: model.pkl is a pickle and serve.py a script, so run only bundles that come
from a store you trust. Every documented command starts serve.py with `python -I` (isolated
mode: neither this folder, PYTHONPATH nor the user site is on sys.path); started without -I,
serve.py takes its own folder off sys.path before it imports anything but sys and os, and
writes no bytecode.

Needs only the standard library and the packages pinned in requirements.txt; it never
imports Lablift. Before anything is unpickled, every file listed in SHA256SUMS is checked: a
changed or missing file stops the scorer (exit 1, files named). Files the bundle did not ship
(a .venv/, scored.csv, predictions.jsonl, ...) do not block scoring, unless they are Python
that could run (`.py`, `.pyc`, `.pth`, `.so`, `.pyd`, `__pycache__/`, a package folder), found
anywhere outside a virtual environment: that is tampering. Outputs and logs may be written
in the folder as long as they neither overwrite a shipped file nor take an importable name.

CSV output (predict) neutralises text cells that start with = + - @ tab or CR by prefixing
a single quote (OWASP's rule against formula injection in spreadsheets); numbers stay numbers.
`--raw-csv` writes the values as they are, for machine consumers.

HTTP follows MLflow's scoring protocol: GET /ping, /health, /version; POST /invocations with
JSON (`dataframe_split`, `dataframe_records`, `instances` or `inputs`) or `text/csv`; the
answer is {"predictions": [...]}. Every refusal is a JSON body {"error_code", "message"}
(input that breaks schema.json: 400 naming the column; also malformed requests, unsupported
methods, oversized headers, bad chunked encoding, too deep JSON, timeouts). Columns the model
does not use are ignored and named in a warning: the response header `X-Lablift-Warning` and
a "warnings" list in the JSON body (both present only when there is a warning). A fixed pool
of --workers threads serves connections (others wait in the listen backlog) and a request
must keep arriving: no read may wait longer than --timeout seconds, and headers must be
complete within --timeout.

The Open Inference Protocol (KServe V2) is served beside it, so KServe, Seldon or any V2
client can call the bundle: GET /v2 (server metadata), /v2/health/live, /v2/health/ready,
/v2/models/NAME[/versions/V] (metadata: one input per schema.json column with its datatype,
outputs `predict` and, for classifiers, `predict_proba` [N, classes] in /version's class
order), /v2/models/NAME[/versions/V]/ready; POST /v2/models/NAME[/versions/V]/infer with
{"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype", "data"}], "outputs"?}: one
tensor per column, shape [N] or [N, 1], or one [N, k] tensor of all k columns in schema
order. Datatypes must fit schema.json: numbers FP16/FP32/FP64 or INT*/UINT* (in range), bool
BOOL, text and dates BYTES; null is a missing value. The answer is {"model_name",
"model_version", "id" (the request's, else X-Request-Id or a new one), "outputs"}; refusals
on /v2 paths are the protocol's {"error": "..."} naming the tensor and column. NAME is the
manifest's model name, V its version.

Reload without dropping requests: SIGHUP reloads the folder being served; POST /admin/reload
(accepted from loopback only) reloads it too, or the bundle of {"bundle": PATH}, which must
belong to this process's user or root and be writable by no one else. The new bundle passes
its integrity check, is unpickled and scores its input_example.json before one reference
swap; requests in flight finish on the old one; a failed reload keeps serving the old one
and says why (stderr, and 422 {"error_code": "RELOAD_REFUSED", "message"}). The running
serve.py's own code stays: a new serve.py takes a restart.

`--log FILE` appends one JSON line per scored row (timestamp, request_id, row, model, inputs,
prediction, latency_ms, probabilities) and one per refused request (timestamp, request_id,
model, error {status, message}, latency_ms).

`--shadow OTHER_BUNDLE` (integrity-checked like this one) scores every scored request again,
in a background pool after the answer is sent: answers come from this bundle only. Each --log
line of a scored row then also has
    "shadow": {"model": "<name:version>", "prediction": ..., "probabilities": {...} (when a
               classifier), "latency_ms": ..., "error": "..." (only when the shadow failed,
               with "prediction": null)}
where latency_ms is the shadow's own scoring time for the request (the line's latency_ms stays
the primary's). A shadow more than 1000 requests behind logs the request as not shadowed.

ONNX fast path: a bundle whose export proved model.onnx exact (lablift.json "onnx") ships it
with onnx_scorer.py, run here only after the integrity check. With onnxruntime installed
(`pip install -r requirements-onnx.txt`) it scores instead of model.pkl, with the same JSON;
otherwise model.pkl does. Which one is said at start and in /version ("scorer",
"scorer_note"); LABLIFT_SCORER=pickle forces the pickle, LABLIFT_SCORER=onnx requires ONNX.
"""

import os
import sys

if __name__ == "__main__":
    # Without -I, Python puts this folder first on sys.path: a json.py or hashlib.py left
    # beside serve.py would run before the integrity check could see it. Take the folder off
    # before any other import. No bytecode: a __pycache__/ here would itself be refused.
    _here = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != _here]
    sys.dont_write_bytecode = True

import argparse  # noqa: E402  (after the sys.path fix above, on purpose)
import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

BUNDLE_DIR = Path(__file__).resolve().parent
SUMS_FILE = "SHA256SUMS"
MAX_BODY_BYTES = 256 * 1024 * 1024
SKIP_DIRS = {"__pycache__"}  # never written into a bundle at export
# Files Python can import or that run at start-up (.pth); anything else is inert data.
IMPORTABLE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyw", ".pth", ".so", ".pyd")
SHOWN = 5  # files named in one message; the rest are counted


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


def is_importable_name(rel: str) -> bool:
    """Could a file at this relative path change what Python runs?"""
    parts = rel.replace("\\", "/").split("/")
    return "__pycache__" in parts or parts[-1].lower().endswith(IMPORTABLE_SUFFIXES)


def _is_environment(path: Path) -> bool:
    # A virtual environment (or conda env) in the folder is not on serve.py's import path.
    return (not (path / "__init__.py").exists()
            and ((path / "pyvenv.cfg").is_file() or (path / "conda-meta").is_dir()))


def inspect_bundle(folder) -> dict:
    """What the folder holds compared with SHA256SUMS, as sorted relative paths:
    {"listed": n, "changed", "missing", "unlisted_importable", "unlisted_other"}.
    Folders are reported once, with a trailing '/': a virtual environment or other folder
    entered through a symlink (unlisted_other unless it holds Python), a __pycache__/ or a
    package (unlisted_importable). Raises BundleError when SHA256SUMS is missing or malformed.
    """
    folder = Path(folder)
    sums = read_sums(folder)
    changed, missing = [], []
    for name, digest in sorted(sums.items()):
        path = folder / name
        if not path.is_file():
            missing.append(name)
        elif sha256_file(path) != digest:
            changed.append(name)
    importable, other = [], []
    for root, dirs, files in os.walk(folder):
        base = Path(root)
        rel_root = base.relative_to(folder).as_posix()
        prefix = "" if rel_root == "." else rel_root + "/"
        keep = []
        for d in sorted(dirs):
            path, rel = base / d, prefix + d + "/"
            if d == "__pycache__" or (path / "__init__.py").exists():
                importable.append(rel)
            elif _is_environment(path):
                other.append(rel)
            elif path.is_symlink():  # not followed: judged by what it holds at its top
                try:
                    code = any(is_importable_name(n) for n in os.listdir(path))
                except OSError:
                    code = False
                (importable if code else other).append(rel)
            else:
                keep.append(d)
        dirs[:] = keep
        for name in files:
            rel = prefix + name
            if rel == SUMS_FILE or rel in sums:
                continue
            (importable if is_importable_name(rel) else other).append(rel)
    return {"listed": len(sums), "changed": changed, "missing": missing,
            "unlisted_importable": sorted(importable), "unlisted_other": sorted(other)}


def integrity_problems(report: dict) -> list[dict]:
    """The problems in an inspect_bundle() report that block scoring:
    [{"file", "problem": changed|missing|importable, "message"}]."""
    problems = [{"file": n, "problem": "changed",
                 "message": f"{n} was changed: its sha256 does not match {SUMS_FILE}"}
                for n in report["changed"]]
    problems += [{"file": n, "problem": "missing",
                  "message": f"{n} is listed in {SUMS_FILE} but missing"}
                 for n in report["missing"]]
    problems += [{"file": n, "problem": "importable",
                  "message": f"{n} is not part of the bundle and is Python that could run "
                             f"with it: remove it"}
                 for n in report["unlisted_importable"]]
    return problems


def check_sums(folder: Path) -> list[dict]:
    """Problems that block scoring (see integrity_problems); [] when the bundle is intact.
    Files the bundle did not ship that cannot run are not problems: inspect_bundle lists them."""
    return integrity_problems(inspect_bundle(folder))


def name_some(names: list[str], limit: int = SHOWN) -> str:
    """'a, b, c and 6,795 more': never thousands of names in one message."""
    shown = ", ".join(names[:limit])
    more = len(names) - limit
    return shown + (f" and {more:,} more" if more > 0 else "")


def summarize_problems(problems: list[dict], limit: int = SHOWN) -> str:
    text = "; ".join(p["message"] for p in problems[:limit])
    more = len(problems) - limit
    return text + (f"; and {more:,} more problem{'s' if more > 1 else ''}" if more > 0 else "")


def verify_bundle(folder: Path) -> None:
    try:
        problems = check_sums(folder)
    except BundleError as exc:
        raise BundleError(f"bundle integrity check failed, refusing to load it: {exc}") from None
    if problems:
        raise BundleError("bundle integrity check failed, refusing to load it: "
                          + summarize_problems(problems))


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


FAST_PATH_FILE = "onnx_scorer.py"  # shipped with model.onnx; see its docstring


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
    if FAST_PATH_FILE not in read_sums(scorer.folder):
        raise BundleError(f"{FAST_PATH_FILE} is not covered by {SUMS_FILE}: refusing to run it")
    # its source run in a namespace of its own: no import machinery, no bytecode written
    mod = {"__name__": "lablift_bundle_onnx_scorer", "__file__": str(path)}
    exec(compile(path.read_bytes(), str(path), "exec"), mod)
    try:
        fast = mod["load"](scorer.folder, scorer.manifest,
                           scorer._final.classes_ if scorer.classes else None,
                           read_sums(scorer.folder))
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
        # model.onnx when the export's equality check passed and onnxruntime is here
        self.kind, self._fast, self.scorer_note = load_fast_path(self, verified=verify)

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
                "scorer": self.kind, "scorer_note": self.scorer_note,
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
            if self._fast is not None:  # same labels (classes_) and probability columns
                return self._fast.score(frame, want_proba)
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
def _output_path(path: str, what: str) -> Path:
    """Where an output or log may go: anywhere, the bundle folder included, except over a file
    the bundle ships or under a name Python could import (that would block the next run)."""
    p = Path(path).resolve()  # symlinks followed: a link to model.pkl is model.pkl
    if p != BUNDLE_DIR and BUNDLE_DIR not in p.parents:
        return p
    rel = p.relative_to(BUNDLE_DIR).as_posix()
    try:
        shipped = set(read_sums(BUNDLE_DIR)) | {SUMS_FILE}
    except BundleError:
        shipped = {SUMS_FILE}
    if rel == "." or rel in shipped or any(rel.startswith(s + "/") for s in shipped):
        raise BundleError(f"{what} {path} would overwrite {rel}, a file of the bundle; "
                          f"choose another name")
    if is_importable_name(rel):
        raise BundleError(f"{what} {path} has a name Python could import ({rel}): inside the "
                          f"bundle folder that counts as tampering; choose another name")
    return p


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(v):
    return "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v


def csv_safe(df):
    """Text cells (and column names) that a spreadsheet would run as a formula get a leading
    single quote (OWASP); numeric columns are left alone, so -1.5 stays a number."""
    pd = sys.modules["pandas"]
    out = df.copy(deep=False)
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object)
        elif not (col.dtype == object or pd.api.types.is_string_dtype(col.dtype)):
            continue
        out.isetitem(i, col.astype(object).map(_safe_cell))
    out.columns = [_safe_cell(c) for c in out.columns]
    return out


def cmd_predict(args) -> int:
    out_path = _output_path(args.output, "output") if args.output not in (None, "-") else None
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
    if not args.raw_csv:
        result = csv_safe(result)
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

    def write(self, request_id: str, coerced: dict, pred, proba, classes, latency_ms: float,
              model: str | None = None, shadow: list[dict] | None = None):
        """`model`: the label of the scorer that answered (it changes on reload); `shadow`:
        one {"model", "prediction", ...} per row from --shadow (see the module docstring)."""
        ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        model = model or self.model
        names = list(coerced)
        cols = [coerced[n] for n in names]
        preds = pred.tolist() if hasattr(pred, "tolist") else list(pred)
        lines = []
        for i, p in enumerate(preds):
            entry = {"timestamp": ts, "request_id": request_id, "row": i, "model": model,
                     "inputs": {n: _jsonable(c[i]) for n, c in zip(names, cols)},
                     "prediction": _jsonable(p), "latency_ms": round(latency_ms, 3)}
            if proba is not None:
                entry["probabilities"] = {str(c): float(proba[i, j])
                                          for j, c in enumerate(classes)}
            if shadow is not None:
                entry["shadow"] = shadow[i]
            lines.append(json.dumps(entry, ensure_ascii=False, default=str))
        text = "\n".join(lines) + "\n"
        with self._lock:
            self._f.write(text)
            self._f.flush()

    def write_error(self, request_id: str, status: int, message: str, latency_ms: float,
                    model: str | None = None):
        entry = {"timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                 "request_id": request_id, "model": model or self.model,
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
    except RecursionError:  # [[[[...]]]]: the parser's recursion limit, not a server fault
        raise InputError("the request body is nested too deeply to be a table") from None
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
            except RecursionError:
                raise InputError("dataframe_split is nested too deeply to be a table") from None
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


# Refusals carry a stable error_code per status (MLflow's names where it has one).
ERROR_CODES = {400: "BAD_REQUEST", 404: "ENDPOINT_NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
               408: "REQUEST_TIMEOUT", 411: "LENGTH_REQUIRED", 413: "PAYLOAD_TOO_LARGE",
               414: "URI_TOO_LONG", 415: "UNSUPPORTED_MEDIA_TYPE", 431: "HEADERS_TOO_LARGE",
               500: "INTERNAL_ERROR", 501: "NOT_IMPLEMENTED", 505: "HTTP_VERSION_NOT_SUPPORTED"}
MIN_BODY_RATE = 64 * 1024  # bytes/s a body must average (beyond --timeout) to keep its worker
DRAIN_SECONDS = 1.0


def header_value(value, limit: int = 128) -> str:
    """A client-supplied value made safe to echo in a response header: printable ASCII only
    (no CR/LF, so no injected or folded continuation line), whitespace collapsed, capped."""
    text = "".join(c if " " <= c <= "~" else " " for c in str(value))
    return " ".join(text.split())[:limit]


class _DeadlineReader(io.RawIOBase):
    """A connection's reads: none waits longer than `timeout`, and once a request's first byte
    has arrived its head must be complete within `timeout` (a client trickling a byte at a
    time cannot hold a worker); a body gets a budget from its size (extend)."""

    def __init__(self, sock, timeout: float | None):
        self.sock, self.timeout = sock, timeout
        self.deadline = None
        self.received = 0

    def readable(self) -> bool:
        return True

    def arm(self) -> None:  # waiting for a new request: idle time is bounded by `timeout` only
        self.deadline, self.received = None, 0

    def extend(self, seconds: float) -> None:
        if self.timeout is not None:
            self.deadline = time.monotonic() + self.timeout + seconds

    def readinto(self, b) -> int:
        wait = self.timeout
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request took too long to arrive")
            wait = min(wait, left)
        self.sock.settimeout(wait)
        n = self.sock.recv_into(b)
        if n and not self.received and self.timeout is not None:
            self.deadline = time.monotonic() + self.timeout
        self.received += n
        return n


# ------------------------------------------------------------------ Open Inference Protocol
# KServe V2 / Open Inference Protocol datatypes; each schema.json column type accepts these.
V2_INT_RANGES = {f"{p}INT{b}": ((0, 2 ** b - 1) if p else (-2 ** (b - 1), 2 ** (b - 1) - 1))
                 for p in ("", "U") for b in (8, 16, 32, 64)}
V2_FLOATS = ("FP16", "FP32", "FP64")
V2_TYPES = ("BOOL", *V2_INT_RANGES, *V2_FLOATS, "BYTES")
_NUMERIC_V2 = frozenset(V2_INT_RANGES) | frozenset(V2_FLOATS)
V2_ACCEPTS = {"number": _NUMERIC_V2, "integer": _NUMERIC_V2, "bool": frozenset({"BOOL"}),
              "string": frozenset({"BYTES"}), "datetime": frozenset({"BYTES"})}
V2_SERVER = {"name": "lablift-serve", "version": "1", "extensions": []}
PLATFORMS = {"pickle": "sklearn_pickle", "onnx": "onnx_onnxv1"}


def v2_datatype(spec: dict) -> str:
    """The datatype model metadata announces for a schema.json column (as MLflow's signature:
    an integer column that had gaps in training is FP64)."""
    kind = column_type(spec)
    if kind == "integer":
        return "FP64" if spec.get("training_missing") else "INT64"
    return {"number": "FP64", "bool": "BOOL"}.get(kind, "BYTES")


def v2_label_datatype(classes, task: str | None) -> str:
    if not classes:
        return "FP64"
    classes = [_jsonable(c) for c in classes]  # numpy scalars -> bool / int / float / str
    if all(isinstance(c, bool) for c in classes):
        return "BOOL"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "INT64"
    if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in classes):
        return "FP64"
    return "BYTES"


def v2_route(path: str) -> tuple | None:
    """'/v2/...' -> ("server",) | ("health", live|ready) | (action, model, version), action
    metadata | ready | infer; None when the path is no V2 endpoint."""
    segs = path.strip("/").split("/")
    if segs == ["v2"]:
        return ("server",)
    if segs in (["v2", "health", "live"], ["v2", "health", "ready"]):
        return ("health", segs[2])
    if len(segs) < 3 or segs[:2] != ["v2", "models"] or not segs[2]:
        return None
    rest, version = segs[3:], None
    if rest[:1] == ["versions"]:
        if len(rest) < 2 or not rest[1]:
            return None
        version, rest = rest[1], rest[2:]
    if not rest:
        return ("metadata", segs[2], version)
    if len(rest) == 1 and rest[0] in ("ready", "infer"):
        return (rest[0], segs[2], version)
    return None


def v2_metadata(name: str, version: str, scorer: Scorer) -> dict:
    outputs = [{"name": "predict", "datatype": v2_label_datatype(scorer.classes, scorer.task),
                "shape": [-1]}]
    if scorer.classes:
        outputs.append({"name": "predict_proba", "datatype": "FP64",
                        "shape": [-1, len(scorer.classes)]})
    return {"name": name, "versions": [version] if version else [],
            "platform": PLATFORMS.get(scorer.kind, scorer.kind),
            "inputs": [{"name": c["name"], "datatype": v2_datatype(c), "shape": [-1]}
                       for c in scorer.inputs],
            "outputs": outputs}


def _flatten(data) -> list:
    """Nested JSON arrays in row-major order -> one flat list (the protocol allows both)."""
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(v, list) for v in data):
        return data
    out, stack = [], [iter(data)]
    while stack:
        for v in stack[-1]:
            if isinstance(v, list):
                stack.append(iter(v))
                break
            out.append(v)
        else:
            stack.pop()
    return out


def _v2_shape(name: str, t: dict) -> list[int]:
    shape = t.get("shape")
    if (not isinstance(shape, list) or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise InputError(f"tensor '{name}': shape must be a list of non-negative integers, got "
                         f"{json.dumps(shape)[:80]}", name)
    return shape


def _v2_check_type(tensor: str, datatype, spec: dict) -> str:
    column, kind = spec["name"], column_type(spec)
    if datatype not in V2_TYPES:
        raise InputError(f"tensor '{tensor}': unknown datatype {json.dumps(datatype)[:40]} (the "
                         f"protocol's are {', '.join(V2_TYPES)})", column)
    if datatype not in V2_ACCEPTS[kind]:
        want = v2_datatype(spec) if kind != "integer" else "INT64"
        raise InputError(f"tensor '{tensor}': datatype {datatype} does not fit column "
                         f"'{column}' ({kind} in schema.json): send {want}", column)
    return datatype


def _v2_check_values(tensor: str, datatype: str, spec: dict, values: list, first: int = 0,
                     step: int = 1) -> None:
    """Every element fits its datatype (null is a missing value, as in MLflow's JSON)."""
    column = spec["name"]
    if datatype == "BOOL":
        ok, what = (lambda v: isinstance(v, bool)), "true or false"
    elif datatype == "BYTES":
        ok, what = (lambda v: isinstance(v, str)), "a string"
    elif datatype in V2_INT_RANGES:
        lo, hi = V2_INT_RANGES[datatype]
        what = f"an integer in [{lo}, {hi}]"

        def ok(v):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return False
            return (isinstance(v, int) or v.is_integer()) and lo <= v <= hi
    else:
        ok, what = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)), "a number"
    for i, v in enumerate(values):
        if v is not None and not ok(v):
            shown = json.dumps(v, default=str)[:60]
            raise InputError(f"tensor '{tensor}': element {first + i * step} ({shown}) is not "
                             f"{what} (datatype {datatype}, column '{column}')", column)


def v2_columns(doc, scorer: Scorer) -> tuple[dict, int, list[str]]:
    """An inference request's input tensors -> ({column: values}, rows, warnings) for
    Scorer.frame_from_columns. One tensor per column ([N] or [N, 1]), or a single [N, k]
    tensor holding all k columns in schema order (KServe's sklearn examples). Datatypes are
    checked against schema.json; every refusal names the tensor and the column."""
    if not isinstance(doc, dict):
        raise InputError("the body must be an inference request object with 'inputs'")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InputError("'inputs' must be a non-empty list of tensors {name, shape, datatype, "
                         "data}")
    tensors: dict[str, dict] = {}
    for i, t in enumerate(inputs):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not t["name"]:
            raise InputError(f"inputs[{i}] must be an object with a 'name'")
        name = t["name"]
        for key in ("shape", "datatype", "data"):
            if key not in t:
                raise InputError(f"tensor '{name}': '{key}' is missing", name)
        if name in tensors:
            raise InputError(f"tensor '{name}' appears more than once", name)
        tensors[name] = t
    specs = {c["name"]: c for c in scorer.inputs}
    if len(tensors) == 1 and not set(tensors) & set(specs):
        (name, t), = tensors.items()
        shape = _v2_shape(name, t)
        k = len(scorer.names)
        if len(shape) != 2 or shape[1] != k:
            raise InputError(f"tensor '{name}' is not an input of the model: send one tensor "
                             f"per column ({', '.join(scorer.names)}) or one [N, {k}] tensor "
                             f"with the columns in that order", name)
        for spec in scorer.inputs:
            _v2_check_type(name, t["datatype"], spec)
        flat = _flatten(t["data"])
        if len(flat) != shape[0] * k:
            raise InputError(f"tensor '{name}': shape {shape} holds {shape[0] * k} elements but "
                             f"data has {len(flat)}", name)
        columns = {}
        for j, spec in enumerate(scorer.inputs):
            columns[spec["name"]] = flat[j::k]
            _v2_check_values(name, t["datatype"], spec, columns[spec["name"]], j, k)
        return columns, shape[0], []
    columns, n, first, extra = {}, None, None, []
    for name, t in tensors.items():
        spec = specs.get(name)
        if spec is None:
            extra.append(name)
            continue
        shape = _v2_shape(name, t)
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise InputError(f"tensor '{name}': shape {shape} is not [N] or [N, 1] (one tensor "
                             f"per column)", name)
        datatype = _v2_check_type(name, t["datatype"], spec)
        flat = _flatten(t["data"])
        if len(flat) != shape[0]:
            raise InputError(f"tensor '{name}': shape {shape} holds {shape[0]} elements but data "
                             f"has {len(flat)}", name)
        _v2_check_values(name, datatype, spec, flat)
        if n is not None and shape[0] != n:
            raise InputError(f"tensor '{name}' has {shape[0]} rows but tensor '{first}' has {n}",
                             name)
        n, first = shape[0], first or name
        columns[name] = list(flat)
    warnings = (["ignored tensor(s) the model does not use: "
                 + ", ".join(f"'{c}'" for c in extra)] if extra else [])
    return columns, n or 0, warnings


def v2_requested(doc: dict, scorer: Scorer) -> list[str]:
    available = ["predict"] + (["predict_proba"] if scorer.classes else [])
    wanted = doc.get("outputs")
    if wanted is None:
        return available
    if not isinstance(wanted, list) or not all(isinstance(o, dict) for o in wanted):
        raise InputError("'outputs' must be a list of objects {name}")
    names = []
    for o in wanted:
        if o.get("name") not in available:
            raise InputError(f"output {json.dumps(o.get('name'))[:60]} is not produced by this "
                             f"model (outputs: {', '.join(available)})")
        names.append(o["name"])
    return names


def v2_outputs(scorer: Scorer, pred, proba, wanted: list[str]) -> list[dict]:
    out = []
    if "predict" in wanted:
        out.append({"name": "predict", "shape": [len(pred)],
                    "datatype": v2_label_datatype(scorer.classes, scorer.task),
                    "data": [_jsonable(p) for p in pred.tolist()]})
    if "predict_proba" in wanted and proba is not None:
        out.append({"name": "predict_proba", "shape": [int(proba.shape[0]), int(proba.shape[1])],
                    "datatype": "FP64", "data": proba.ravel().tolist()})
    return out


# --------------------------------------------------------------------------- reload and shadow
class Serving:
    """What a server scores with: one loaded bundle and what is derived from it. Requests read
    Live.current once, so each finishes on the Serving it started with."""

    def __init__(self, scorer: Scorer, shadow: "Shadow | None" = None):
        self.scorer, self.shadow = scorer, shadow
        info = scorer.info()
        self.label = scorer.label()
        self.name = str(info["model"]) if info["model"] else scorer.folder.name
        self.version = "" if info["version"] is None else str(info["version"])
        if shadow is not None:
            info["shadow"] = {"model": shadow.label, "scorer": shadow.scorer.kind}
        self.version_doc = json.dumps(info).encode()


class Live:
    """The Serving in use. A reload builds a complete new one (integrity check, unpickling,
    a test score) and then swaps the reference: one assignment, atomic for every thread."""

    def __init__(self, serving: Serving):
        self.current = serving
        self._lock = threading.Lock()  # one reload at a time

    def reload(self, folder=None, check_owner: bool = False) -> dict:
        with self._lock:
            old = self.current
            target = Path(folder).expanduser().resolve() if folder else old.scorer.folder
            if not target.is_dir():
                raise BundleError(f"bundle folder {target} not found")
            if check_owner:
                require_private(target)
            new = Scorer(target)  # verify_bundle first: nothing is unpickled before it
            warm_up(new)
            self.current = Serving(new, old.shadow)
        return {"reloaded": True, "model": self.current.label, "previous": old.label,
                "bundle": str(target), "scorer": new.kind}


def require_private(folder: Path) -> None:
    """A bundle named over HTTP is unpickled by this process: it must belong to this
    process's user (or root) and be writable by nobody else."""
    if not hasattr(os, "getuid"):
        return
    uid = os.getuid()
    paths = [folder, folder / SUMS_FILE] + [folder / n for n in read_sums(folder)]
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            continue  # missing: the integrity check names it
        if st.st_uid not in (uid, 0):
            raise BundleError(f"{p} belongs to uid {st.st_uid}, neither this server's user "
                              f"({uid}) nor root: a bundle another user can change is not loaded")
        if st.st_mode & 0o002:
            raise BundleError(f"{p} is writable by every user: a bundle another user can change "
                              f"is not loaded")


def warm_up(scorer: Scorer) -> None:
    """Score input_example.json (when the bundle ships one) before a reload swaps the bundle
    in: a model that unpickles but cannot score is refused while the old one still serves."""
    path = scorer.folder / "input_example.json"
    if not path.is_file():
        return
    try:
        example = json.loads(path.read_text(encoding="utf-8"))
        columns, n = _from_rows(example["data"], [str(c) for c in example["columns"]])
    except (ValueError, KeyError, TypeError, InputError) as exc:
        raise BundleError(f"input_example.json cannot be read: {exc}") from None
    if n:
        try:
            frame, _, _ = scorer.frame_from_columns(columns, n)
            scorer.score(frame, want_proba=scorer.classes is not None)
        except Exception as exc:
            raise BundleError(f"the new bundle cannot score its own input_example.json: "
                              f"{type(exc).__name__}: {exc}") from None


def is_loopback(host: str) -> bool:
    return host == "::1" or host.startswith(("127.", "::ffff:127."))


class Shadow:
    """--shadow: a second bundle scores every answered request in a background pool, after
    the primary's answer is sent; its result goes into the --log line of each row."""

    BACKLOG = 1000  # requests waiting for the shadow; beyond it they are logged as skipped

    def __init__(self, scorer: Scorer, workers: int = 2):
        from concurrent.futures import ThreadPoolExecutor
        self.scorer, self.label = scorer, scorer.label()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")
        self._slots = threading.BoundedSemaphore(self.BACKLOG)

    def submit(self, make_frame, rows: int, then) -> None:
        """Score make_frame(shadow_scorer) later, then call then([one dict per row])."""
        if not self._slots.acquire(blocking=False):
            then(self._failed(rows, None, f"the shadow is {self.BACKLOG} requests behind: "
                                          f"this request was not shadowed"))
            return

        def run():
            try:
                then(self.score(make_frame, rows))
            except Exception:  # a failing log write must not kill the pool thread
                pass
            finally:
                self._slots.release()
        self._pool.submit(run)

    def score(self, make_frame, rows: int) -> list[dict]:
        t0 = time.perf_counter()
        try:
            frame = make_frame(self.scorer)
            pred, proba = self.scorer.score(frame, want_proba=self.scorer.classes is not None)
            if len(pred) != rows:
                raise InputError(f"the shadow scored {len(pred)} rows, the primary {rows}")
        except Exception as exc:
            msg = str(exc) if isinstance(exc, (InputError, BundleError)) else \
                f"{type(exc).__name__}: {exc}"
            return self._failed(rows, (time.perf_counter() - t0) * 1000.0, msg)
        ms = round((time.perf_counter() - t0) * 1000.0, 3)
        classes = self.scorer.classes
        out = []
        for i, p in enumerate(pred.tolist()):
            entry = {"model": self.label, "prediction": _jsonable(p)}
            if proba is not None:
                entry["probabilities"] = {str(c): float(proba[i, j]) for j, c in enumerate(classes)}
            entry["latency_ms"] = ms
            out.append(entry)
        return out

    def _failed(self, rows: int, ms, message: str) -> list[dict]:
        entry = {"model": self.label, "prediction": None,
                 "latency_ms": None if ms is None else round(ms, 3), "error": message[:2000]}
        return [dict(entry) for _ in range(rows)]

    def close(self) -> None:
        self._pool.shutdown(wait=True)  # pending shadow lines are written before the log closes


def make_handler(scorer: Scorer | None, log: PredictionLog | None, quiet: bool = True,
                 timeout: float | None = 15.0, live: Live | None = None):
    """The request handler class. `live` (made from `scorer` when not given) is what every
    request scores with; /admin/reload and SIGHUP swap it."""
    from http.server import BaseHTTPRequestHandler
    live = live or Live(Serving(scorer))
    want_proba = log is not None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: no TCP handshake per request
        disable_nagle_algorithm = True  # small responses must not wait for delayed ACKs
        server_version = "lablift-serve/1"
        sys_version = ""

        def setup(self):
            super().setup()
            self.rfile.close()  # reads go through the deadline reader instead
            self._raw = _DeadlineReader(self.connection, self.timeout)
            self.rfile = io.BufferedReader(self._raw, 65536)
            self._linger = False

        def log_message(self, fmt, *a):  # access log off by default: it costs per request
            if not quiet:
                sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % a))

        def handle_one_request(self):
            # http.server's loop, with every failure answered as JSON (no traceback) and
            # a timeout answered 408 when a request had begun.
            self._t0, self._rid, self._answered = time.perf_counter(), None, False
            self.headers, self.command, self.requestline, self.path = None, None, "", ""
            self.request_version = "HTTP/1.1"
            self._raw.arm()
            try:
                self.raw_requestline = self.rfile.readline(65537)
                if not self.raw_requestline:
                    self.close_connection = True
                    return
                self._t0 = time.perf_counter()
                if len(self.raw_requestline) > 65536:
                    self.send_error(414, "the request line is longer than 64 KB")
                    return
                if not self.parse_request():
                    return
                method = getattr(self, "do_" + self.command, None)
                if method is None:
                    self.send_error(501, f"unsupported method {self.command[:20]!r}: use GET or "
                                         f"POST")
                    return
                method()
                self.wfile.flush()
            except TimeoutError:
                self.close_connection = True
                if self._raw.received and not self._answered:
                    self._linger = True
                    self._refuse(408, f"the request did not arrive in time (--timeout "
                                      f"{self.timeout:g} s)")
            except OSError:  # the client went away
                self.close_connection = True
            except Exception as exc:  # whatever happens, one JSON answer and no traceback
                self.close_connection = True
                if not self._answered:
                    self._refuse(500, f"internal error: {type(exc).__name__}")

        def finish(self):
            try:
                super().finish()
            except OSError:
                pass
            if self._linger:
                self._drain()

        def _drain(self):
            # Unread request bytes at close() make the kernel send a reset, which can destroy
            # the error response before the client reads it: half-close, then read a little.
            import socket
            try:
                self.connection.shutdown(socket.SHUT_WR)
                end, got = time.monotonic() + DRAIN_SECONDS, 0
                while got < (1 << 20):
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    self.connection.settimeout(left)
                    chunk = self.connection.recv(65536)
                    if not chunk:
                        break
                    got += len(chunk)
            except OSError:
                pass

        def _request_id(self) -> str:
            if self._rid is None:
                given = self.headers.get("X-Request-Id") if self.headers is not None else None
                self._rid = (header_value(given) if given else "") or uuid.uuid4().hex
            return self._rid

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
            self._answered = True
            try:
                self.connection.settimeout(self.timeout)
                self.wfile.write(head if self.command == "HEAD" else head + body)
            except OSError:  # gone, or not reading its answer within --timeout
                self.close_connection = True
                return
            self.log_request(status, len(body))

        def _refuse(self, status: int, message: str, code: str | None = None,
                    headers: dict | None = None):
            """Every refusal: one JSON body, and one error line in --log (monitoring counts
            it in the error rate)."""
            rid = self._request_id()
            path = str(getattr(self, "path", "") or "").split("?", 1)[0]
            if path == "/v2" or path.startswith("/v2/"):  # the protocol's error object
                doc = {"error": message}
            else:
                doc = {"error_code": code or ERROR_CODES.get(status, "BAD_REQUEST"),
                       "message": message}
            self._send(status, json.dumps(doc).encode(),
                       headers={"X-Request-Id": rid, **(headers or {})})
            if log is not None and path != "/admin/reload":
                log.write_error(rid, status, message, (time.perf_counter() - self._t0) * 1000.0,
                                model=live.current.label)

        def send_error(self, code, message=None, explain=None):
            # http.server's own refusals (bad request line, 431, 505, ...) are JSON too; what
            # is left of the connection cannot be trusted, so it is closed.
            self.close_connection = True
            self._linger = True
            text = message or self.responses.get(code, ("error",))[0]
            if explain and message:
                text = f"{text}: {explain}"
            self._refuse(code, str(text)[:500])

        def _refuse_closing(self, status: int, message: str, headers: dict | None = None):
            self.close_connection = True
            self._linger = True
            self._refuse(status, message, headers=headers)
            return None

        def _not_allowed(self):
            self._refuse_closing(405, f"method {self.command} is not allowed: use GET (/ping, "
                                      f"/health, /version, /v2/...) or POST (/invocations, "
                                      f"/v2/models/NAME/infer)",
                                 headers={"Allow": "GET, HEAD, POST"})

        do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

        def do_GET(self):
            if self.headers.get("Content-Length") or self.headers.get("Transfer-Encoding"):
                self.close_connection = True  # a GET body is never read: do not parse it next
                self._linger = True
            path = self.path.split("?", 1)[0]
            if path in ("/ping", "/health"):
                self._send(200, b'{"status": "ok"}')
            elif path == "/version":
                self._send(200, live.current.version_doc)
            elif path == "/v2" or path.startswith("/v2/"):
                self._v2_get(path, live.current)
            elif path in ("/invocations", "/admin/reload"):
                self._refuse(405, f"{path} takes POST", headers={"Allow": "POST"})
            else:
                self._refuse(404, f"no such endpoint: {path[:200]} (use /ping, /health, "
                                  f"/version, /invocations, /v2/...)")

        def _v2_get(self, path: str, cur: Serving):
            route = v2_route(path)
            if route is None:
                self._refuse(404, f"no such endpoint: {path[:200]} (V2: /v2, /v2/health/live, "
                                  f"/v2/health/ready, /v2/models/{cur.name}[/ready|/infer])")
            elif route[0] == "server":
                self._send(200, json.dumps(V2_SERVER).encode())
            elif route[0] == "health":  # loaded before the port opened: both true
                self._send(200, json.dumps({route[1]: True}).encode())
            elif self._v2_model_ok(route, cur):
                if route[0] == "infer":
                    self._refuse(405, f"{path[:200]} takes POST", headers={"Allow": "POST"})
                elif route[0] == "ready":
                    self._send(200, json.dumps({"name": cur.name, "ready": True}).encode())
                else:
                    self._send(200, json.dumps(v2_metadata(cur.name, cur.version,
                                                           cur.scorer)).encode())

        def _v2_model_ok(self, route: tuple, cur: Serving) -> bool:
            _, name, version = route
            shown = f"'{cur.name}'" + (f" version {cur.version}" if cur.version else "")
            if name != cur.name:
                self._refuse(404, f"model '{name[:100]}' is not served here; this server serves "
                                  f"{shown}")
                return False
            if version is not None and version != cur.version:
                self._refuse(404, f"version '{version[:40]}' of '{name}' is not served here; this"
                                  f" server serves {shown}")
                return False
            return True

        do_HEAD = do_GET

        def _read_body(self) -> bytes | None:
            encodings = self.headers.get_all("Transfer-Encoding") or []
            lengths = [v.strip() for v in self.headers.get_all("Content-Length") or []]
            if encodings:
                if lengths:  # the two disagree on where the body ends: request smuggling
                    return self._refuse_closing(400, "a request may not have both "
                                                     "Content-Length and Transfer-Encoding")
                codings = [t.strip().lower() for t in ",".join(encodings).split(",")]
                if codings != ["chunked"]:
                    return self._refuse_closing(
                        501, f"unsupported Transfer-Encoding {header_value(encodings[0], 60)!r}"
                             f": only chunked")
                return self._read_chunked()
            if not lengths:
                return self._refuse_closing(411, "Content-Length is required")
            if len(set(lengths)) > 1:
                return self._refuse_closing(400, "conflicting Content-Length headers")
            text = lengths[0]
            if not text or len(text) > 18 or any(c not in "0123456789" for c in text):
                return self._refuse_closing(400, f"bad Content-Length: {header_value(text, 40)!r}")
            n = int(text)
            if n > MAX_BODY_BYTES:
                return self._refuse_closing(413, "request body too large")
            self._raw.extend(n / MIN_BODY_RATE)
            body = self.rfile.read(n)
            if len(body) < n:
                return self._refuse_closing(400, f"the body ended after {len(body)} of its {n} "
                                                 f"bytes")
            return body

        def _read_chunked(self) -> bytes | None:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1026)
                size_text = line.split(b";", 1)[0].strip()
                if (not line.endswith(b"\n") or not size_text or len(size_text) > 15
                        or any(c not in b"0123456789abcdefABCDEF" for c in size_text)):
                    shown = header_value(size_text.decode("latin-1"), 20)
                    return self._refuse_closing(400, f"bad chunked encoding: {shown!r} is not a "
                                                     f"chunk size")
                size = int(size_text, 16)
                if size == 0:
                    break
                total += size
                if total > MAX_BODY_BYTES:
                    return self._refuse_closing(413, "request body too large")
                self._raw.extend(total / MIN_BODY_RATE)
                data = self.rfile.read(size)
                if len(data) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                    return self._refuse_closing(400, "bad chunked encoding: a chunk is shorter "
                                                     "than its size or not followed by CRLF")
                chunks.append(data)
            for _ in range(100):  # trailer fields, up to the blank line
                line = self.rfile.readline(8194)
                if line in (b"\r\n", b"\n"):
                    return b"".join(chunks)
                if not line.endswith(b"\n"):
                    break
            return self._refuse_closing(400, "bad chunked encoding: the trailer does not end")

        def do_POST(self):
            path = self.path.split("?", 1)[0]
            body = self._read_body()
            if body is None:
                return
            cur = live.current  # this request finishes on it, whatever a reload does meanwhile
            if path == "/invocations":
                self._invocations(body, cur)
            elif path == "/v2" or path.startswith("/v2/"):
                route = v2_route(path)
                if route is None or route[0] != "infer":
                    self._refuse(404, f"no such endpoint: POST {path[:200]} (V2: POST "
                                      f"/v2/models/{cur.name}/infer)")
                elif self._v2_model_ok(route, cur):
                    self._v2_infer(body, cur)
            elif path == "/admin/reload":
                self._admin_reload(body)
            else:
                self._refuse(404, f"no such endpoint: {path[:200]} (POST /invocations, "
                                  f"/v2/models/{cur.name}/infer or /admin/reload)")

        def _invocations(self, body: bytes, cur: Serving):
            scorer, shadow = cur.scorer, cur.shadow
            start = self._t0
            request_id = self._request_id()
            ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0]
            ctype = ctype.strip().lower()
            reject = self._refuse
            try:
                if ctype == "application/json":
                    columns, n = parse_json_body(body, scorer.names)
                    if shadow is not None:
                        raw = dict(columns)  # before frame_from_columns fills in defaults

                        def again(s):
                            return s.frame_from_columns(dict(raw), n)[0]
                    frame, coerced, warnings = scorer.frame_from_columns(columns, n)
                elif ctype == "text/csv":
                    text = body.decode("utf-8")
                    df = scorer.read_csv(io.StringIO(text))
                    frame, warnings = scorer.frame_from_dataframe(df)
                    coerced = {c: frame[c].tolist() for c in scorer.names} if log else None

                    def again(s):
                        return s.frame_from_dataframe(s.read_csv(io.StringIO(text)))[0]
                else:
                    reject(415, f"unsupported Content-Type {header_value(ctype, 80)!r}: use "
                                f"application/json or text/csv")
                    return
                pred, proba = scorer.score(frame, want_proba=want_proba)
            except InputError as exc:
                reject(400, str(exc))
                return
            except UnicodeDecodeError as exc:
                reject(400, f"the request body is not UTF-8 text: {exc}")
                return
            except RecursionError:
                reject(400, "the request body is nested too deeply to be a table")
                return
            except Exception as exc:  # the server goes on serving whatever one request does
                reject(500, f"internal error: {type(exc).__name__}: {exc}", "INTERNAL_ERROR")
                return
            doc = {"predictions": pred.tolist()}
            headers = {"X-Request-Id": request_id}
            if warnings:
                doc["warnings"] = warnings
                headers["X-Lablift-Warning"] = header_value(" | ".join(warnings), 1000)
            self._send(200, json.dumps(doc).encode(), headers=headers)
            self._record(cur, request_id, coerced, pred, proba,
                         (time.perf_counter() - start) * 1000.0, again if shadow else None)

        def _v2_infer(self, body: bytes, cur: Serving):
            scorer, start = cur.scorer, self._t0
            if self.headers.get("Inference-Header-Content-Length"):
                self._refuse(400, "the binary tensor data extension is not supported: send the "
                                  "tensors as JSON")
                return
            try:
                try:
                    doc = json.loads(body)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise InputError(f"the request body is not valid JSON: {exc}") from None
                if isinstance(doc, dict) and "id" in doc:
                    if not isinstance(doc["id"], str):
                        raise InputError("'id' must be a string")
                    if self.headers.get("X-Request-Id") is None and header_value(doc["id"]):
                        self._rid = header_value(doc["id"])
                columns, n, warnings = v2_columns(doc, scorer)
                wanted = v2_requested(doc, scorer)
                frame, coerced, more = scorer.frame_from_columns(columns, n)
                pred, proba = scorer.score(frame, want_proba=scorer.classes is not None)
            except InputError as exc:
                self._refuse(400, str(exc))
                return
            except RecursionError:
                self._refuse(400, "the request body is nested too deeply to be a tensor")
                return
            except Exception as exc:
                self._refuse(500, f"internal error: {type(exc).__name__}: {exc}")
                return
            request_id = self._request_id()
            warnings += more
            answer = {"model_name": cur.name, "model_version": cur.version,
                      "id": doc.get("id", request_id),
                      "outputs": v2_outputs(scorer, pred, proba, wanted)}
            headers = {"X-Request-Id": request_id}
            if warnings:
                answer["parameters"] = {"warnings": " | ".join(warnings)}
                headers["X-Lablift-Warning"] = header_value(" | ".join(warnings), 1000)
            self._send(200, json.dumps(answer).encode(), headers=headers)

            def again(s):
                c, rows, _ = v2_columns(doc, s)
                return s.frame_from_columns(c, rows)[0]
            self._record(cur, request_id, coerced, pred, proba if want_proba else None,
                         (time.perf_counter() - start) * 1000.0, again)

        def _record(self, cur: Serving, request_id, coerced, pred, proba, latency_ms, again):
            """After the answer is sent: the --log line, and the shadow's score when there is
            one (the log line then waits for it, in the shadow's pool)."""
            if cur.shadow is None:
                if log is not None:
                    log.write(request_id, coerced, pred, proba, cur.scorer.classes, latency_ms,
                              model=cur.label)
                return

            def then(rows):
                if log is not None:
                    log.write(request_id, coerced, pred, proba, cur.scorer.classes, latency_ms,
                              model=cur.label, shadow=rows)
            cur.shadow.submit(again, len(pred), then)

        def _admin_reload(self, body: bytes):
            host = str(self.client_address[0]) if self.client_address else ""
            if not is_loopback(host):
                self._refuse(403, f"/admin/reload is accepted only from loopback (127.0.0.1, "
                                  f"::1), not from {header_value(host, 60)}", "FORBIDDEN")
                return
            folder = None
            if body.strip():
                try:
                    doc = json.loads(body)
                except (ValueError, UnicodeDecodeError) as exc:
                    self._refuse(400, f"the request body is not valid JSON: {exc}")
                    return
                if (not isinstance(doc, dict) or set(doc) - {"bundle"}
                        or not isinstance(doc.get("bundle", ""), str)):
                    self._refuse(400, 'the body must be {"bundle": "/path/to/bundle"} or empty '
                                      '(reload the folder being served)')
                    return
                folder = doc.get("bundle") or None
            ok, result = reload_and_say(live, folder, "POST /admin/reload")
            if ok:
                self._send(200, json.dumps(result).encode())
            else:
                self._refuse(422, result, "RELOAD_REFUSED")

    Handler.timeout = timeout
    return Handler


def make_server(address, handler, workers: int):
    """An HTTPServer whose connections go to a fixed pool of `workers` threads: a flood of
    (slow) connections waits in the listen backlog instead of starting a thread each."""
    import queue
    from http.server import HTTPServer

    class PooledHTTPServer(HTTPServer):
        allow_reuse_address = True
        request_queue_size = 128

        def __init__(self):
            super().__init__(address, handler)
            self._jobs = queue.Queue(maxsize=workers)
            for i in range(workers):
                threading.Thread(target=self._work, name=f"serve-worker-{i}",
                                 daemon=True).start()

        def process_request(self, request, client_address):
            self._jobs.put((request, client_address))  # waits while every worker is busy

        def _work(self):
            while True:
                request, client_address = self._jobs.get()
                try:
                    self.finish_request(request, client_address)
                except Exception:  # one connection never stops a worker or prints a traceback
                    pass
                finally:
                    self.shutdown_request(request)

        def handle_error(self, request, client_address):
            pass

    return PooledHTTPServer()


def reload_and_say(live: Live, folder, how: str) -> tuple[bool, object]:
    """Reload and say so on stderr; -> (True, what now serves) or (False, why not)."""
    before = live.current.label
    try:
        result = live.reload(folder, check_owner=folder is not None)
    except Exception as exc:  # whatever the new bundle does, the old one goes on serving
        why = str(exc) if isinstance(exc, (BundleError, InputError, OSError)) else \
            f"{type(exc).__name__}: {exc}"
        message = f"reload refused, still serving {before}: {why}"
        print(f"{how}: {message}", file=sys.stderr, flush=True)
        return False, message
    print(f"{how}: reloaded, serving {result['model']} ({result['scorer']} scorer) from "
          f"{result['bundle']} (was {before})", file=sys.stderr, flush=True)
    return True, result


def cmd_serve(args) -> int:
    log_path = _output_path(args.log, "log file") if args.log else None
    scorer = Scorer()
    shadow = None
    if args.shadow:
        folder = Path(args.shadow).expanduser().resolve()
        try:
            if not folder.is_dir():
                raise BundleError(f"bundle folder {folder} not found")
            shadow = Shadow(Scorer(folder))
        except BundleError as exc:
            raise BundleError(f"--shadow {args.shadow}: {exc}") from None
    live = Live(Serving(scorer, shadow))
    log = PredictionLog(log_path, scorer.label()) if log_path else None
    try:
        server = make_server((args.host, args.port),
                             make_handler(scorer, log, quiet=not args.access_log,
                                          timeout=args.timeout, live=live), args.workers)
    except OSError as exc:
        raise BundleError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    import signal
    if hasattr(signal, "SIGHUP"):  # reload the served folder, off the serving thread
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(
            target=reload_and_say, args=(live, None, "SIGHUP"), daemon=True).start())

    def stop(*_):  # `docker stop`: as PID 1 an unhandled SIGTERM would be ignored
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    host, port = server.server_address[:2]
    if shadow is not None:
        print(f"shadow: every scored request is also scored by {shadow.label} "
              f"({shadow.scorer.kind} scorer); answers come from {scorer.label()}",
              file=sys.stderr, flush=True)
    # One line, the URL last: scripts read the port after its last colon.
    print(f"serving {scorer.label()} ({scorer.kind} scorer) on http://{host}:{port} "
          f"(POST /invocations, /v2/models/{live.current.name}/infer)",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if shadow is not None:
            shadow.close()
        if log is not None:
            log.close()
    return 0


def cmd_verify(args) -> int:
    report = inspect_bundle(BUNDLE_DIR)
    problems = integrity_problems(report)
    if problems:
        print(f"error: bundle integrity check failed: {summarize_problems(problems)}",
              file=sys.stderr)
        return 1
    print(f"ok: {report['listed']} files match {SUMS_FILE}")
    if report["unlisted_other"]:
        print(f"note: not part of the bundle and not checked (they cannot change what runs): "
              f"{name_some(report['unlisted_other'])}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="serve.py", description="Score with this Lablift bundle "
                                     "(no Lablift needed: only the packages in requirements.txt)."
                                     " A bundle is code: run only bundles from a store you trust.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("predict", help="score a CSV file")
    p.add_argument("input", help="CSV file with the model's input columns ('-' for stdin)")
    p.add_argument("-o", "--output", help="output CSV (default: stdout): prediction and, for "
                   "classifiers, proba_<class> columns")
    p.add_argument("--include-inputs", action="store_true",
                   help="also copy the input columns into the output")
    p.add_argument("--raw-csv", action="store_true",
                   help="write text cells as they are, for machine consumers (by default a "
                   "cell starting with = + - @ tab or CR gets a leading ' so that spreadsheets "
                   "do not run it as a formula)")
    p.set_defaults(func=cmd_predict)
    s = sub.add_parser("serve", help="serve HTTP scoring (MLflow's protocol and the Open "
                       "Inference Protocol, V2); SIGHUP or POST /admin/reload from loopback "
                       "reloads the bundle")
    s.add_argument("--port", type=int, default=8080, help="port (0: any free port)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--log", metavar="FILE.jsonl", help="append one JSON line per scored row "
                   "and one per refused request")
    s.add_argument("--timeout", type=float, default=15.0, metavar="SECONDS",
                   help="longest wait for a client's next bytes; request headers must also "
                   "be complete within it (default 15)")
    s.add_argument("--workers", type=int, default=32, help="connections served at once; "
                   "others wait (default 32)")
    s.add_argument("--access-log", action="store_true", help="print one line per request")
    s.add_argument("--shadow", metavar="OTHER_BUNDLE", help="also score every request with "
                   "this bundle (after the answer, in the background; its integrity is checked "
                   "too); answers come from this bundle, --log lines get a \"shadow\" object")
    s.set_defaults(func=cmd_serve)
    v = sub.add_parser("verify", help="check the bundle against SHA256SUMS")
    v.set_defaults(func=cmd_verify)
    args = parser.parse_args(argv)
    if args.command == "serve" and not (args.timeout > 0 and args.workers > 0):
        parser.error("--timeout and --workers must be positive")
    try:
        return args.func(args)
    except (BundleError, InputError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(f"error: {exc}: install the packages of the bundle's requirements.txt",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1
    except Exception as exc:  # one line, never a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
