"""Datasets: import a file as an immutable, content-hashed version; list, resolve and load them."""

from __future__ import annotations

import contextlib
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import audit
from .errors import Cancelled, LabliftError, NotFound
from .store import Store, encode, utcnow
from .store.sql import inserted_id, repository

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow and the profile are imported by the functions that read data: listing versions
# (`lablift dataset list`) must not pay 0.3 s for them.
dataset_sql = repository("datasets")  # statements: core/store/datasets.py

Progress = Callable[[float, str], None]
IsCancelled = Callable[[], bool]
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,127}$")


def default_name(path: str | os.PathLike) -> str:
    stem = Path(path).stem.strip() or "dataset"
    stem = re.sub(r"[^A-Za-z0-9_.\- ]", "_", stem)[:127]  # a long file name still imports
    return stem if stem[0].isalnum() else f"d{stem}"


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME_RE.match(name):
        raise LabliftError(f"dataset name {name!r} is not allowed: use letters, digits, spaces, "
                           f"'_', '-' or '.' (no ':'), at most 128 characters")
    return name


def import_dataset(store: Store, path: str | os.PathLike, name: str | None = None,
                   progress: Progress | None = None,
                   cancelled: IsCancelled | None = None,
                   timings: dict[str, tuple[float, float]] | None = None) -> dict[str, Any]:
    """Import `path`; return the dataset version row plus `existing` (True if content was known).

    Nothing is written until the file has been parsed, hashed and profiled; the Parquet
    artifact is renamed into place before the row naming it is committed. `timings`, if
    given, receives each stage's (start, end) in perf_counter seconds (benchmarks/bench_import.py).
    """
    from .profiling import canonical_sha256, profile_table
    from .readers import read_table
    store.require_role("importing datasets", "analyst")
    name = check_name(name if name else default_name(path))

    def step(fraction: float, message: str) -> None:
        if cancelled is not None and cancelled():
            raise Cancelled(f"import of {path} cancelled")
        if progress is not None:
            progress(fraction, message)

    span = _Spans(timings)
    step(0.02, f"Reading {Path(path).name}")
    with span("parse"):
        table, info = read_table(path)
    # one contiguous array per column, copied once: hashing, profiling and the duplicate
    # check would each copy a column of ~130 parse blocks again
    with span("one array per column"):
        table = table.replace_schema_metadata(None).combine_chunks()
    step(0.45, "Hashing content")

    def store_parquet() -> str:
        with span("Parquet (write, sha256, fsync)"):
            return store.artifacts.put_writer(lambda f: write_parquet(table, f))

    # The Parquet encoder releases the GIL, so the file is written while we hash and profile.
    with ThreadPoolExecutor(max_workers=1) as pool:
        writing = pool.submit(store_parquet)
        try:
            with span("hash"):
                sha = canonical_sha256(table)
            existing = store.row(dataset_sql.SUMMARY_BY_CONTENT, name=name, sha256=sha)
            if not existing:
                step(0.55, "Profiling columns")
                with span("profile"):
                    profile = profile_table(table, notes=info.notes)
            artifact = writing.result()
        except BaseException:
            _discard_when_written(store, writing)
            raise
    if existing:
        _discard_unreferenced(store, artifact)
        if progress is not None:
            progress(1.0, "Already imported")
        return {**existing, "existing": True}
    try:
        step(0.95, "Recording version")
        with span("record"):
            row_id, version, again = _record(store, path, name, sha, artifact, table, info,
                                             profile)
        if again:  # another process imported the same content meanwhile
            return {**again, "existing": True}
    except BaseException:
        _discard_unreferenced(store, artifact)
        raise
    if progress is not None:  # committed: too late to cancel, just report
        progress(1.0, f"Imported {name} v{version}")
    result = get(store, row_id)
    result["existing"] = False
    result["notes"] = info.notes
    return result


def _record(store: Store, path, name: str, sha: str, artifact: str, table: pa.Table, info,
            profile: dict[str, Any]) -> tuple[int | None, int | None, dict[str, Any] | None]:
    """The version row and its audit entry, in one transaction: (id, version, None), or
    (None, None, the row) when the same content was imported meanwhile."""
    schema = [{"name": f.name, "dtype": str(f.type), "kind": c["kind"]}
              for f, c in zip(table.schema, profile["columns"])]
    with store.transaction():
        again = store.row(dataset_sql.SUMMARY_BY_CONTENT, name=name, sha256=sha)
        if again:
            return None, None, again
        version = store.value(dataset_sql.NEXT_VERSION, name=name)
        row = {"name": name, "version": version, "sha256": sha, "artifact": artifact,
               "source_path": str(Path(path).expanduser().resolve()),
               "source_format": info.format, "encoding": info.encoding,
               "delimiter": info.delimiter, "rows": table.num_rows,
               "columns": table.num_columns, "schema": schema, "profile": profile,
               "created_at": utcnow(), "created_by": store.user}
        row_id = inserted_id(dataset_sql.INSERT.execute(
            store.conn, store.engine, {k: encode(v) for k, v in row.items()}), store.engine)
        audit.append(store, "dataset.import", f"dataset:{row_id}",
                     {"name": name, "version": version, "sha256": sha,
                      "rows": table.num_rows, "columns": table.num_columns,
                      "source": row["source_path"]})
    return row_id, version, None


class _Spans:
    """`with span(stage):` records the stage's (start, end) into `timings`, if given."""

    def __init__(self, timings: dict[str, tuple[float, float]] | None):
        self.timings = timings

    @contextlib.contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.timings is not None:
                self.timings[stage] = (start, time.perf_counter())


def write_parquet(table: pa.Table, f) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    # Snappy with dictionaries only for text: 1.6x faster to write than zstd for ~30% more
    # bytes. Floats are stored plain: snappy spent ~half the write on them, and reading them
    # back (opening the version) 2.5x the CPU, to save a quarter of their bytes at best.
    # No page statistics: a third of the write (0.13 of 0.39 s for 1M x 20) for min/max
    # that the profile holds already; versions are read whole, never filtered by row group.
    text = [fld.name for fld in table.schema
            if pa.types.is_string(fld.type) or pa.types.is_large_string(fld.type)]
    codecs = {fld.name: "none" if pa.types.is_floating(fld.type) else "snappy"
              for fld in table.schema}
    pq.write_table(table, f, compression=codecs, use_dictionary=text or False,
                   write_statistics=False)


def _discard_unreferenced(store: Store, artifact: str) -> None:
    """Nothing half-imported stays behind: drop a Parquet file that no dataset row names."""
    named = store.value(dataset_sql.NAMES_ARTIFACT, artifact=artifact)
    if named is None:
        store.artifacts.discard(artifact)


def _discard_when_written(store: Store, writing) -> None:
    try:
        artifact = writing.result()
    except BaseException:  # the write failed too: nothing to discard
        return
    _discard_unreferenced(store, artifact)


def list_datasets(store: Store) -> list[dict[str, Any]]:
    return store.rows(dataset_sql.LIST)


def get(store: Store, dataset_id: int) -> dict[str, Any]:
    row = store.row(dataset_sql.BY_ID, id=dataset_id)
    if row is None:
        raise NotFound(f"dataset {dataset_id} not found")
    return row


def resolve(store: Store, ref: str | int) -> dict[str, Any]:
    """REF is an id, NAME (latest version) or NAME:VERSION."""
    ref_s = str(ref).strip()
    if ref_s.isdigit():
        row = store.row(dataset_sql.BY_ID, id=int(ref_s))
        if row:
            return row
    name, _, version = ref_s.rpartition(":") if ":" in ref_s else (ref_s, "", "")
    if version:
        if not version.isdigit():
            raise NotFound(f"dataset {ref_s!r}: version {version!r} is not a number")
        row = store.row(dataset_sql.BY_NAME_VERSION, name=name, version=int(version))
    else:
        row = store.row(dataset_sql.LATEST_BY_NAME, name=name)
    if row is None:
        known = ", ".join(sorted({d["name"] for d in list_datasets(store)})) or "none yet"
        raise NotFound(f"dataset {ref_s!r} not found (datasets: {known})")
    return row


def load_table(store: Store, dataset: dict[str, Any] | int) -> pa.Table:
    import pyarrow.parquet as pq
    row = dataset if isinstance(dataset, dict) else get(store, dataset)
    return pq.read_table(store.artifacts.verified_path(row["artifact"]))


def load_frame(store: Store, dataset: dict[str, Any] | int):
    return load_table(store, dataset).to_pandas()


def summary(row: dict[str, Any]) -> dict[str, Any]:
    """The JSON shape of a dataset version in CLI output (DESIGN: id name version sha256 rows columns)."""
    keys = ("id", "name", "version", "sha256", "rows", "columns", "source_path",
            "source_format", "encoding", "delimiter", "created_at", "created_by")
    out = {k: row.get(k) for k in keys}
    if "existing" in row:
        out["existing"] = row["existing"]
    return out
