"""Column profiles: inferred kind, missing and unique counts, summary statistics, histograms, warnings.

Computed with pyarrow.compute kernels on the Arrow table (no pandas copy of the data), so a
million-row import spends well under a second here.

Every figure is exact, because what the profile decides needs it (kinds, the drift tests a
column offers, the histogram's bins, the warnings) and the Datasets pane and `dataset show`
print the numbers bare: a numeric column is sorted once (~10 ms per million numbers), which
gives its exact distinct count, min, max and histogram (by binary search), so an estimate
would save too little to be worth a "≈". The one count that rests on hashing is duplicated
rows (64-bit row hashes: a false match ~1e-8 at 1M rows).
"""

from __future__ import annotations

import hashlib
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

KINDS = ("numeric", "categorical", "boolean", "datetime", "text", "id-like")
HIST_BINS = 20
SERIAL_BELOW_ROWS = 20_000
MIX_BLOCK_ROWS = 1 << 15  # 256 KiB of row hashes: what the duplicate check mixes at a time
TOP_K = 10
HIGH_CARDINALITY = 50
MANY_MISSING = 0.2
BOOL_WORDS = {frozenset({"yes", "no"}), frozenset({"true", "false"}), frozenset({"y", "n"}),
              frozenset({"t", "f"})}


def canonical_sha256(table: pa.Table) -> str:
    """sha256 over every row and column: names, logical types, null masks and values.

    Independent of chunking, buffer layout and file format, so the same content read from
    CSV or Parquet, today or with a newer pyarrow, hashes the same.
    """
    h = hashlib.sha256()
    h.update(f"rows={table.num_rows};cols={table.num_columns}\n".encode())
    for name, column in zip(table.column_names, table.columns):
        arr = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        h.update(f"{name}\x1f{_type_tag(arr.type)}\n".encode())
        if arr.null_count:
            h.update(np.packbits(np.asarray(arr.is_null())).tobytes())
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) \
                or pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
            _hash_binary(h, arr)
        elif pa.types.is_boolean(arr.type):
            h.update(np.packbits(np.asarray(pc.fill_null(arr, False))).tobytes())
        elif _fixed_width(arr.type):
            filled = pc.fill_null(arr, pa.scalar(0, arr.type)) if arr.null_count else arr
            h.update(_contiguous_bytes(filled.to_numpy(zero_copy_only=False)))
        else:  # nested or unusual types: their text form is canonical enough
            _hash_binary(h, pc.cast(arr, pa.large_string()))
    return h.hexdigest()


def _contiguous_bytes(values: np.ndarray):
    """What tobytes() would give, without its copy where the array is already one buffer
    (hashing a million-row column twice as fast: no 8 MB copy to fault in)."""
    if values.dtype.hasobject or not values.flags.c_contiguous:
        return values.tobytes()
    return values


def _type_tag(t: pa.DataType) -> str:
    if pa.types.is_large_string(t):
        return "string"
    if pa.types.is_large_binary(t):
        return "binary"
    return str(t)


def _fixed_width(t: pa.DataType) -> bool:
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_temporal(t)
            or pa.types.is_decimal(t))


def _hash_binary(h: "hashlib._Hash", arr: pa.Array) -> None:
    arr = pc.fill_null(arr, "") if arr.null_count else arr
    if not (pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)):
        arr = arr.cast(pa.large_binary() if pa.types.is_binary(arr.type) else pa.large_string())
    offsets_buf, data_buf = arr.buffers()[1], arr.buffers()[2]
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    h.update(offsets - start if start else offsets)
    if data_buf is not None and end > start:
        h.update(memoryview(data_buf)[start:end])


def infer_kind(name: str, arr: pa.Array, n_unique: int, n_valid: int) -> str:
    t = arr.type
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_temporal(t):
        return "datetime"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        if n_unique == 2 and pa.types.is_integer(t):
            mm = pc.min_max(arr)
            if mm["min"].as_py() == 0 and mm["max"].as_py() == 1:
                return "boolean"
        if (pa.types.is_integer(t) and n_valid >= 20 and n_unique == n_valid
                and _id_name(name)):
            return "id-like"
        return "numeric"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        if n_unique == 2:
            values = frozenset(str(v).strip().lower()
                               for v in pc.unique(arr.drop_null()).to_pylist())
            if values in BOOL_WORDS:
                return "boolean"
        if n_valid >= 20 and n_unique == n_valid:
            mean_len = pc.mean(pc.utf8_length(arr.drop_null().cast(pa.string()))).as_py() or 0
            return "text" if mean_len > 30 else "id-like"
        if n_unique > max(HIGH_CARDINALITY, 0.5 * n_valid):
            mean_len = pc.mean(pc.utf8_length(arr.drop_null().cast(pa.string()))).as_py() or 0
            if mean_len > 30:
                return "text"
        return "categorical"
    return "text"


def _id_name(name: str) -> bool:
    low = name.lower()
    return low == "id" or low.endswith("_id") or low.endswith("id") or low in ("index", "key", "uuid")


def profile_table(table: pa.Table, notes: list[str] | None = None) -> dict[str, Any]:
    """`notes`: what reading the file changed (columns left out, dates kept as text), listed
    first among the warnings."""
    rows = table.num_rows

    def one(item):
        name, column = item
        arr = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        return _profile_column(name, arr, rows)

    # Arrow and numpy kernels release the GIL, so columns profile in parallel threads; short
    # columns are mostly Python work, where a task per column costs more than it saves
    # (10,000 columns of 5 rows: 2.1 s in the pool, 0.8 s in a loop).
    if rows < SERIAL_BELOW_ROWS:
        columns = [one(item) for item in zip(table.column_names, table.columns)]
    else:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            columns = list(pool.map(one, zip(table.column_names, table.columns)))
    # after the columns: their distinct counts (a null is one more value) order the check
    duplicated = _duplicated_rows(table, [c["unique"] + bool(c["missing"]) for c in columns])
    warnings = list(notes or []) + [w for c in columns for w in c["warnings"]]
    if duplicated:
        warnings.append(f"{duplicated} duplicated rows ({duplicated / rows:.1%})")
    return {"rows": rows, "columns": columns, "duplicated_rows": duplicated, "warnings": warnings}


def _profile_column(name: str, arr: pa.Array, rows: int) -> dict[str, Any]:
    missing = arr.null_count
    infinite = 0
    if pa.types.is_floating(arr.type):
        nan = pc.sum(pc.is_nan(arr)).as_py() or 0
        if nan:
            arr = pc.if_else(pc.is_nan(arr), pa.scalar(None, arr.type), arr)
            missing = arr.null_count
    n_valid = rows - missing
    ordered = None  # a numeric column's valid values, sorted: one sort serves them all
    value_counts = None  # of the valid values, for columns that show their top values
    if not n_valid:
        n_unique = 0
    elif pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        present = arr.drop_null().to_numpy(zero_copy_only=False)
        ordered = np.sort(present)
        n_unique = _distinct_sorted(ordered, present)
        if ordered.dtype.kind == "f":  # ±inf sit at the ends
            infinite = int(np.searchsorted(ordered, -np.inf, side="right")
                           + len(ordered) - np.searchsorted(ordered, np.inf, side="left"))
    elif pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        value_counts = pc.value_counts(arr.drop_null())  # one hash pass: distinct count, top
        n_unique = len(value_counts)
    else:
        n_unique = pc.count_distinct(arr, mode="only_valid").as_py()
    kind = infer_kind(name, arr, n_unique, n_valid)
    col: dict[str, Any] = {"name": name, "dtype": str(arr.type), "kind": kind,
                           "missing": missing, "unique": n_unique, "warnings": []}
    if infinite:
        col["infinite"] = infinite
    if ordered is not None:
        # float64 of a sorted column stays sorted (int64 -> float64 rounds monotonically)
        values = ordered.astype(float, copy=False)
        finite_unique = n_unique
        if infinite:  # inf/-inf are counted apart; statistics and histogram use finite values
            low = int(np.searchsorted(values, -np.inf, side="right"))
            high = int(np.searchsorted(values, np.inf, side="left"))
            finite_unique -= int(low > 0) + int(high < len(values))
            values = values[low:high]
        if len(values):
            col.update(_numeric_stats(values, finite_unique, ordered=True))
    elif n_valid and pa.types.is_decimal(arr.type):
        values = arr.drop_null().to_numpy(zero_copy_only=False).astype(float)
        col.update(_numeric_stats(values, n_unique))
    elif n_valid and pa.types.is_temporal(arr.type):
        present = arr.drop_null()
        # the integer behind each value (date32 days, time32 seconds, ...): cast() has no
        # kernel from date32/time/duration to int64, a view of the same width always works
        ints = present.view(pa.int32() if present.type.bit_width == 32 else pa.int64())
        ints = ints.to_numpy(zero_copy_only=False).astype(np.int64)
        lo, hi = int(np.argmin(ints)), int(np.argmax(ints))
        col.update(min=str(present[lo].as_py()), max=str(present[hi].as_py()))
        counts, edges = np.histogram(ints, bins=HIST_BINS)
        col["histogram"] = {"counts": counts.tolist(), "edges": edges.tolist(), "temporal": True}
    if n_valid and kind in ("categorical", "boolean", "text", "id-like") \
            and not pa.types.is_floating(arr.type):
        vc = value_counts if value_counts is not None else pc.value_counts(arr.drop_null())
        counts = vc.field("counts").to_numpy()
        order = np.argsort(-counts, kind="stable")[:TOP_K]
        values = vc.field("values")
        col["top"] = [{"value": values[int(i)].as_py(), "count": int(counts[i])} for i in order]
        if not isinstance(col["top"][0]["value"], (str, int, float, bool, type(None))):
            for t in col["top"]:
                t["value"] = str(t["value"])
    w = col["warnings"]
    if n_valid == 0:
        w.append(f"{name}: every value is missing")
    elif n_unique == 1:
        w.append(f"{name}: constant column (one value)")
    if infinite:
        w.append(f"{name}: {infinite} infinite values (inf or -inf); statistics and histogram "
                 f"leave them out, and training refuses them")
    if rows and missing / rows >= MANY_MISSING and n_valid:
        w.append(f"{name}: {missing / rows:.0%} of values missing")
    if kind == "categorical" and n_unique > HIGH_CARDINALITY:
        w.append(f"{name}: high cardinality ({n_unique} categories)")
    return col


def _distinct_sorted(ordered: np.ndarray, values: np.ndarray | None = None) -> int:
    """Exact distinct count of `values` (numbers, no NaN) from their sorted copy `ordered`,
    as pyarrow's count_distinct counts them: by bit pattern, so 0.0 and -0.0 are two. A sort
    (numpy's SIMD sort: ~10 ms for a million values whatever their cardinality) where hashing
    a million distinct floats takes ~100-230 ms; the same sort then gives min, max and the
    histogram. (Exact: 1 is a constant column, 2 a 0/1 flag, <= 5 a low-cardinality column
    for drift, n_valid an id, <= 200 an integer target a classifier can learn.)"""
    if not ordered.size:
        return 0
    n = int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1
    if ordered.dtype.kind == "f" and np.searchsorted(ordered, 0.0, side="left") < \
            np.searchsorted(ordered, 0.0, side="right"):
        # zeros of both signs count twice; asked of the unsorted values, because numpy's
        # sorting network may swap -0.0 and 0.0 (they compare equal)
        source = ordered if values is None else values
        negative = np.signbit(source[source == 0])
        n += int(negative.any() and not negative.all())
    return n


def _histogram_sorted(ordered: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray] | None:
    """np.histogram(ordered, bins) of sorted finite values by binary search: the same edges
    (linspace of min..max) and the same rule (each bin [left, right), the last one closed),
    21 searches instead of a pass over every value. None where numpy would need its own care
    (a range or bins the floats cannot resolve)."""
    lo, hi = float(ordered[0]), float(ordered[-1])
    if not math.isfinite(hi - lo):
        return None
    edges = np.linspace(lo, hi, bins + 1)
    if not (edges[1:] > edges[:-1]).all():
        return None
    below = np.searchsorted(ordered, edges, side="left")  # values below each edge
    below[-1] = len(ordered)  # the last bin holds its right edge
    return below[1:] - below[:-1], edges


def _numeric_stats(values: np.ndarray, n_unique: int, ordered: bool = False) -> dict[str, Any]:
    """min, max, mean, std and histogram of finite values, without overflow near ±1.8e308.
    `ordered`: the values are sorted (min, max and the histogram then come from the order)."""
    lo, hi = (float(values[0]), float(values[-1])) if ordered else \
        (float(values.min()), float(values.max()))
    bins = min(HIST_BINS, max(n_unique, 1))
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(values.mean())
        std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        if not (np.isfinite(mean) and np.isfinite(std)):  # sums overflowed: scale down first
            scale = max(abs(lo), abs(hi))
            mean = float((values / scale).mean() * scale)
            std = float((values / scale).std(ddof=1) * scale) if len(values) > 1 else 0.0
        fast = _histogram_sorted(values, bins) if ordered and lo != hi else None
        if fast is not None:
            counts, edges = fast
        elif lo == hi:  # numpy pads by ±0.5, which vanishes beside 4.5e15 and up
            pad = max(0.5, abs(lo) * 1e-12)
            edges = np.array([lo - pad, hi + pad])
            edges = np.where(np.isfinite(edges), edges, [lo, hi])
            counts = np.array([len(values)])
        else:
            try:
                counts, edges = np.histogram(values, bins=bins)
            except ValueError:  # hi - lo overflows, or bins finer than the floats there
                # edges as lo*(1-t) + hi*t stay finite; unique() drops edges that coincide
                t = np.linspace(0.0, 1.0, bins + 1)
                edges = np.unique(lo * (1 - t) + hi * t)
                counts, edges = np.histogram(values, bins=edges)
    return {"min": lo, "max": hi, "mean": mean if np.isfinite(mean) else None,
            "std": std if np.isfinite(std) else None,
            "histogram": {"counts": counts.tolist(), "edges": edges.tolist()}}


def _duplicated_rows(table: pa.Table, cardinality: list[int] | None = None) -> int:
    """Rows equal to an earlier row, by a 64-bit hash per row.

    Our own vectorised hashing: pandas' duplicated()/hash_pandas_object cost ~1 s on a
    million rows; this costs ~0.3 s (a false match needs a 64-bit collision: ~1e-8 at 1M rows).
    Each column's codes are mixed into the row hashes in place, a block of rows at a time:
    the nine passes of the mix then stay in the CPU cache (2x faster than whole columns).

    `cardinality` (distinct values per column, when known) only makes it cheaper, never
    different: the most distinct columns are mixed first, and once their combinations could
    tell every row apart (product >= rows²) only rows whose partial hashes collide can be
    duplicates (equal rows have equal partial hashes): none, and the answer is 0 after a few
    columns (~60 ms where all 20 cost 0.3 s); a few, and only those rows are hashed whole.
    """
    n = table.num_rows
    if n < 2:
        return 0
    order = list(range(table.num_columns))
    if cardinality is not None:
        order.sort(key=lambda i: -cardinality[i])
    h = np.full(n, 0xCBF29CE484222325, dtype=np.uint64)
    codes = np.empty(n, dtype=np.uint64)
    scratch = np.empty(min(n, MIX_BLOCK_ROWS), dtype=np.uint64)
    combinations, checked = 1, cardinality is None
    columns = table.columns
    for k, i in enumerate(order):
        _column_codes(columns[i], codes)
        for start in range(0, n, MIX_BLOCK_ROWS):
            block = codes[start:start + MIX_BLOCK_ROWS]
            _mix_into(block, scratch[:len(block)])
            rows = h[start:start + MIX_BLOCK_ROWS]
            rows ^= block
            rows *= np.uint64(0x100000001B3)
        if checked or k == len(order) - 1:
            continue
        combinations *= max(cardinality[i], 1)
        if combinations >= n * n:
            checked = True
            candidates = _colliding(h)
            if candidates is None:
                return 0
            if len(candidates) <= n // 8:
                return _duplicated_rows(table.take(pa.array(candidates)))
    h.sort()  # np.unique's hash path is ~15x slower than a sort on 1M uint64 (numpy 2.4)
    return int(np.count_nonzero(h[1:] == h[:-1]))


def _colliding(h: np.ndarray) -> np.ndarray | None:
    """Positions of the values of `h` that occur more than once; None if none do."""
    ordered = np.sort(h)
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return None
    shared = np.unique(ordered[1:][same])
    at = np.minimum(np.searchsorted(shared, h), len(shared) - 1)
    return np.flatnonzero(shared[at] == h)


def _column_codes(column: pa.ChunkedArray, out: np.ndarray) -> np.ndarray:
    """One uint64 per row, equal for equal values (nulls apart), written into `out`."""
    arr = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    t = arr.type
    if pa.types.is_floating(t):
        as_float = out.view(np.float64)
        np.copyto(as_float, arr.to_numpy(zero_copy_only=False), casting="unsafe")
        # every NaN one pattern (not inf's: NaN and inf are different values)
        np.copyto(as_float, np.nan, where=np.isnan(as_float))
    elif pa.types.is_integer(t) or pa.types.is_temporal(t) or pa.types.is_boolean(t):
        if pa.types.is_temporal(t):  # date32/time/duration have no cast to int64: view them
            vals = arr.view(pa.int32() if t.bit_width == 32 else pa.int64())
        else:
            vals = arr.cast(pa.int64()) if not pa.types.is_integer(t) else arr
        np.copyto(out.view(np.int64), pc.fill_null(vals, 0).to_numpy(zero_copy_only=False),
                  casting="unsafe")
    else:
        encoded = pc.dictionary_encode(arr)
        np.copyto(out.view(np.int64), pc.fill_null(encoded.indices, -1)
                  .to_numpy(zero_copy_only=False), casting="unsafe")
    if arr.null_count:
        out ^= np.asarray(arr.is_null()).astype(np.uint64) << np.uint64(63)
    return out


def _mix_into(x: np.ndarray, scratch: np.ndarray) -> None:
    """splitmix64's finaliser, in place (`scratch`: a buffer of x's size): spreads each
    value's bits so XOR-combining columns stays unique."""
    x += np.uint64(0x9E3779B97F4A7C15)
    for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        np.right_shift(x, np.uint64(shift), out=scratch)
        x ^= scratch
        x *= np.uint64(factor)
    np.right_shift(x, np.uint64(31), out=scratch)
    x ^= scratch
