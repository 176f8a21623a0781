"""Reading a batch file: a CSV/Parquet table or a bundle's `serve.py --log` JSON-lines file
(error lines marked, not dropped), and refusing one that holds none of the model's inputs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from ..readers import BadInput, check_file, read_table
from .shadow import shadow_columns


LOG_FIELDS = ("timestamp", "request_id", "row", "model", "prediction", "latency_ms", "error",
              "status")
IGNORED_PREFIXES = ("proba_", "probabilities_", "log_", "__")
LOG_SUFFIXES = (".jsonl", ".ndjson", ".log")
ERROR_MARK = "__error"  # marks a log's error lines (failed requests) while windows are split


def _is_log(path: Path) -> bool:
    if path.suffix.lower() in LOG_SUFFIXES:
        return True
    if path.suffix.lower() in (".csv", ".tsv", ".parquet", ".pq", ".xlsx", ".txt"):
        return False
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    return head.startswith(b"{")


def read_log(path: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A serve.py `--log` file as a frame: one row per scored row, `inputs` flattened.

    Lines that are not JSON objects are counted (and named) instead of failing the batch.
    Error lines (a failed request: "error" and no "inputs") stay in file order among the
    scored rows, marked True in column ERROR_MARK, with `status` and `error` (the message);
    ingest takes them out of each window's rows before measuring and counts them as failed
    requests. info["columns"] names the columns of the scored rows."""
    p = Path(path)
    records, bad = [], []  # scored rows and error lines, in file order (row windows need it)
    columns: dict[str, None] = {}
    n_errors = 0
    with open(p, "rb") as f:  # a NUL-filled (e.g. sparse) file has no lines to stop at
        head = f.read(1 << 16)
    if b"\x00" in head:
        raise BadInput(f"{p} is a binary file, not a JSON-lines log (it contains NUL bytes)")
    with open(p, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                bad.append(lineno)
                continue
            except RecursionError:  # json's C parser gives up on deep nesting: a hostile line
                raise BadInput(f"{p}: line {lineno} is nested too deeply to read (a log line is "
                               f"one flat JSON record)") from None
            if not isinstance(rec, dict):
                bad.append(lineno)
                continue
            if rec.get("error") is not None and "inputs" not in rec:
                err = rec["error"] if isinstance(rec["error"], dict) else {"message": rec["error"]}
                records.append({**{k: v for k, v in rec.items()
                                   if k != "error" and not isinstance(v, (dict, list))},
                                "status": err.get("status", rec.get("status")),
                                "error": str(err.get("message") or err.get("status") or "error"),
                                ERROR_MARK: True})
                n_errors += 1
                continue
            flat: dict[str, Any] = {}
            inputs = rec.get("inputs")
            if isinstance(inputs, dict):
                flat.update({k: _cell(v) for k, v in inputs.items()})
            flat.update(shadow_columns(rec))  # `serve --shadow`: the challenger's answer
            for key, value in rec.items():
                if key in ("inputs", "shadow"):
                    continue
                if isinstance(value, dict):  # e.g. {"proba": {"0": .2, "1": .8}}
                    for k2, v2 in value.items():
                        flat[f"{key}_{k2}"] = _cell(v2)
                else:
                    flat[key if key not in flat else f"log_{key}"] = _cell(value)
            records.append(flat)
            columns.update(dict.fromkeys(flat))
    if not records:
        raise BadInput(f"{p}: no JSON-lines records (expected one JSON object per line, as "
                       f"written by serve.py --log)" + (f"; {len(bad)} unreadable lines"
                                                        if bad else ""))
    frame = pd.DataFrame.from_records(records)
    if n_errors:
        frame[ERROR_MARK] = frame[ERROR_MARK].eq(True)
    return frame, {"format": "log", "bad_lines": bad,
                   "columns": [c for c in frame.columns if c in columns],
                   "error_lines": n_errors}


def _cell(value: Any) -> Any:
    """A nested JSON value (list, object) as its JSON text: the schema check then reports it
    as not a number instead of pandas failing on it."""
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def read_batch(path: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The batch's rows, and info: format, bad lines, notes and (for a table) the sha256 of
    the file's bytes (a CSV's are read once for both)."""
    p = Path(path).expanduser()
    # a FIFO, device, folder or symlink loop is refused before _is_log opens it (a FIFO blocks)
    if check_file(p) > 0 and _is_log(p):
        return read_log(p)
    table, info = read_table(p, hash_file=True)
    return table.to_pandas(), {"format": info.format, "bad_lines": [], "notes": info.notes,
                               "sha256": info.sha256}


def require_inputs(frame: pd.DataFrame, info: dict[str, Any], features: list[str],
                   path: str | os.PathLike) -> None:
    """Refuse a batch holding none of the model's input columns: nothing in it can be measured
    (it would report "0 of 0 features drifted"). A log of failed requests only is let through:
    its error rate is the finding."""
    if any(f in frame.columns for f in features):
        return
    if info.get("format") == "log" and info.get("error_lines") \
            and info["error_lines"] >= len(frame):
        return
    shown = ", ".join(map(repr, features[:5])) + (", ..." if len(features) > 5 else "")
    has = [str(c) for c in frame.columns if c != ERROR_MARK]
    found = ", ".join(map(repr, has[:5])) + (", ..." if len(has) > 5 else "")
    raise BadInput(f"{path}: none of the model's {len(features)} input columns is in the file "
                   f"(expected {shown}; the file has {found or 'no columns'})")
