"""Input of a Lablift bundle's scorer: schema.json column types, coercion of JSON values and
CSV columns to them, and MLflow's JSON request formats. Part of the bundle's runtime (see
serve.py): run only after the bundle's integrity check; never imports Lablift.
"""

import json
import math

from .serve import InputError


# --------------------------------------------------------------------------- coercion
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


# --------------------------------------------------------------------------- MLflow JSON
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