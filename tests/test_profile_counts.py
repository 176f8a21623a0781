"""The import's cheaper profile counts what it promises exactly: distinct values (as pyarrow
counts them), duplicated rows; and the parser's smaller blocks still read any row."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lablift.core import profiling, readers

RNG = np.random.default_rng(7)
N = 25_000  # above SERIAL_BELOW_ROWS: columns profile in the thread pool


def _floats() -> np.ndarray:
    f = RNG.normal(0, 3, N).round(1)
    f[::7] = np.nan
    f[::11], f[::13] = -0.0, 0.0  # two values to pyarrow (bit patterns differ)
    f[5], f[6] = np.inf, -np.inf
    return f


FLOATS = _floats()
COLUMNS = {
    "floats": pa.array(FLOATS),
    "float32": pa.array(RNG.normal(0, 1, N).astype(np.float32)),
    "all distinct": pa.array(RNG.normal(0, 1, N)),
    "int8": pa.array(RNG.integers(-5, 5, N).astype(np.int8)),
    "big uint64": pa.array(RNG.integers(2**62, 2**63, N, dtype=np.uint64) * 2, type=pa.uint64()),
    "ints with nulls": pa.array([None if i % 3 else i % 50 for i in range(N)], type=pa.int64()),
    "text": pa.array([None if i % 5 == 0 else f"v{i % 17}" for i in range(N)]),
    "large text": pa.array([f"x{i % 999}" for i in range(N)], type=pa.large_string()),
    "constant": pa.array([2.5] * N),
    "nothing": pa.array([None] * N, type=pa.float64()),
}


def test_distinct_counts_are_pyarrows():
    table = pa.table(COLUMNS)
    profile = {c["name"]: c for c in profiling.profile_table(table)["columns"]}
    for name, arr in COLUMNS.items():
        if pa.types.is_floating(arr.type):  # the profile counts NaN as missing
            arr = pc.if_else(pc.is_nan(arr), pa.scalar(None, arr.type), arr)
        want = pc.count_distinct(arr, mode="only_valid").as_py()
        assert profile[name]["unique"] == want, name
    assert profile["constant"]["unique"] == 1 and profile["nothing"]["unique"] == 0
    # by hand: Python's set has one zero, pyarrow (and the profile) two
    assert profile["floats"]["unique"] == len(set(FLOATS[~np.isnan(FLOATS)])) + 1


def test_duplicated_rows_are_counted_exactly():
    m = 40_000
    f = np.where(RNG.random(m) < .2, np.nan, RNG.integers(0, 3, m).astype(float))
    ints = [None if x < .1 else int(x * 3) for x in RNG.random(m)]
    text = [None if x < .1 else "ab"[int(x * 2)] for x in RNG.random(m)]
    flags = RNG.random(m) < .5
    table = pa.table({"f": f, "i": pa.array(ints, type=pa.int64()), "s": text, "b": flags})
    # by hand: NaN equals NaN, a null equals a null and no value
    seen = {("nan" if np.isnan(a) else a, b, c, bool(d)) for a, b, c, d in
            zip(f, ints, text, flags)}
    assert profiling.profile_table(table)["duplicated_rows"] == m - len(seen) > 0
    assert profiling._duplicated_rows(pa.concat_tables([table.slice(0, 10)] * 3)) >= 20


def test_profile_does_not_depend_on_parse_blocks(tmp_path, monkeypatch):
    path = tmp_path / "blocks.csv"
    lines = ["a,b,c"] + [f"{i % 97},{(i % 13) / 4},{'xyz'[i % 3]}" for i in range(20_000)]
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(readers, "BLOCK_BYTES", 1 << 12)
    chunked, _ = readers.read_table(path)
    assert chunked.column(0).num_chunks > 10
    assert profiling.profile_table(chunked) == profiling.profile_table(chunked.combine_chunks())
    assert profiling.canonical_sha256(chunked) == \
        profiling.canonical_sha256(chunked.combine_chunks())


@pytest.mark.parametrize("cell", [10_000, 100_000])
def test_a_row_longer_than_a_block_is_read_whole(tmp_path, monkeypatch, cell):
    monkeypatch.setattr(readers, "BLOCK_BYTES", 1 << 12)
    path = tmp_path / "long.csv"
    path.write_text("id,note\n1," + "x" * cell + "\n2,short\n")
    table, _ = readers.read_table(path)
    assert table.num_rows == 2
    assert len(table.column("note")[0].as_py()) == cell
