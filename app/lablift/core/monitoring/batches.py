"""Stored batches: writing a batch's rows as Parquet, reading a batch and its rows back,
the view the CLI and GUI show, counts per version."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import LabliftError
from ..store import Store
from ..store.sql import repository
from .values import _isna

monitor_sql = repository("monitoring")  # statements: core/store/monitoring.py


def batch_counts(store: Store) -> dict[int, int]:
    """Batches ingested per model version id."""
    return {r["version_id"]: r["n"] for r in store.rows(monitor_sql.BATCH_COUNTS)}


def _write_parquet(frame: pd.DataFrame, f) -> None:
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
        # mixed-type object columns (e.g. numbers and text in one log field): store as text
        fixed = frame.copy()
        for c in fixed.columns:
            if fixed[c].dtype == object:
                fixed[c] = fixed[c].map(lambda v: None if _isna(v) else str(v))
        table = pa.Table.from_pandas(fixed, preserve_index=False)
    # dictionaries for text only: tried on float columns they cost ~4x the write, for nothing
    text = [fld.name for fld in table.schema
            if pa.types.is_string(fld.type) or pa.types.is_large_string(fld.type)]
    pq.write_table(table.replace_schema_metadata(None), f, compression="zstd",
                   use_dictionary=text or False)


def batch_view(row: dict[str, Any], version: dict[str, Any] | None = None) -> dict[str, Any]:
    """A batch as the CLI/GUI show it (DESIGN: id drift_share dataset_drift columns[...])."""
    result = row.get("result") or {}
    d = result.get("drift") or {}
    view = {
        "id": row["id"], "version_id": row["version_id"],
        "model": version["model"] if version else None,
        "version": version["version"] if version else None,
        "rows": row["rows"], "window": row["window"], "source_path": row["source_path"],
        "label_column": row["label_column"], "timestamp_column": row["timestamp_column"],
        "created_at": row["created_at"], "created_by": row["created_by"],
        "drift_share": row["drift_share"], "dataset_drift": bool(row["dataset_drift"]),
        "n_drifted": d.get("n_drifted"), "n_columns": d.get("n_columns"),
        "columns": [{k: c.get(k) for k in ("name", "test", "statistic", "p_value", "threshold",
                                           "drifted", "psi", "kind")}
                    for c in d.get("columns", [])],
        "skipped": d.get("skipped", []),
        "prediction_drift": ({k: result["prediction_drift"].get(k) for k in
                              ("test", "statistic", "p_value", "threshold", "drifted", "psi",
                               "source")} if result.get("prediction_drift") else None),
        "quality": result.get("quality", []),
        "metrics": (result.get("metrics") or {}).get("values"),
        "labelled_rows": (result.get("metrics") or {}).get("rows"),
        "holdout": result.get("holdout"),
        "ops": result.get("ops"),
        "shadow": result.get("shadow"),  # serve.py --shadow: champion vs challenger
        "scorer": result.get("scorer"),  # onnx or pickle, and why (scorer.py)
        "alerts": result.get("alerts", []),
        "window_span": result.get("window"),
    }
    return view


def get_batch(store: Store, batch_id: int) -> dict[str, Any]:
    row = store.row(monitor_sql.BATCH_BY_ID, id=int(batch_id))
    if row is None:
        raise LabliftError(f"batch {batch_id} not found")
    return row


def load_batch_frame(store: Store, batch: dict[str, Any] | int) -> pd.DataFrame:
    batch = batch if isinstance(batch, dict) else get_batch(store, batch)
    return pq.read_table(store.artifacts.verified_path(batch["artifact"])).to_pandas()
