"""The import's cheaper profile gives the figures the per-value computations gave: one sort
per numeric column for distinct count, min, max and histogram (numpy's np.histogram is the
reference); the duplicate-row check ordered by cardinality with an early answer; the
canonical hash without copies; Parquet without page statistics; each stage timed."""

import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from lablift.core import datasets, profiling

RNG = np.random.default_rng(11)


def _column(values) -> dict:
    arr = pa.array(values)
    return profiling._profile_column("x", arr, len(arr))


NUMERIC_CASES = {
    "normal": RNG.normal(3, 7, 5000),
    "quarters on the bin edges": RNG.integers(-20, 21, 5000) / 4,
    "few integers": RNG.integers(0, 7, 5000),
    "wide integers": RNG.integers(-2**62, 2**62, 5000),
    "float32": RNG.normal(0, 1, 5000).astype(np.float32),
    "two values": np.array([1.0, 2.0] * 50),
    "near the float limit": np.array([-1.7e308, 1.7e308, 0.0, 1e300]),
    "tiny range": 1 + np.arange(30) * np.finfo(float).eps,
}


@pytest.mark.parametrize("case", sorted(NUMERIC_CASES))
def test_numeric_figures_are_numpys(case):
    values = NUMERIC_CASES[case]
    col = _column(values)
    as_float = values.astype(float)
    assert col["unique"] == pc.count_distinct(pa.array(values)).as_py()
    assert col["min"] == as_float.min() and col["max"] == as_float.max()
    bins = min(profiling.HIST_BINS, col["unique"])
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            counts, edges = np.histogram(as_float, bins=bins)
        except ValueError:  # numpy cannot bin it: the profile's own fallback, same total
            counts, edges = None, None
    if counts is not None and np.isfinite(edges).all():
        assert col["histogram"]["counts"] == counts.tolist()
        assert col["histogram"]["edges"] == edges.tolist()
    assert sum(col["histogram"]["counts"]) == len(values)
    with np.errstate(over="ignore", invalid="ignore"):
        finite_std = np.isfinite(as_float.std())
    if finite_std:
        assert col["mean"] == pytest.approx(as_float.mean(), rel=1e-12, abs=1e-12)
        assert col["std"] == pytest.approx(as_float.std(ddof=1), rel=1e-9, abs=1e-12)


def test_infinities_are_counted_apart_from_the_sorted_values():
    values = np.array([np.inf, 1.0, -np.inf, 2.0, np.inf, np.nan, 3.0])
    col = _column(values)
    assert col["infinite"] == 3 and col["missing"] == 1
    assert col["unique"] == 5  # -inf, 1, 2, 3, inf
    assert (col["min"], col["max"]) == (1.0, 3.0)
    assert sum(col["histogram"]["counts"]) == 3


@pytest.mark.parametrize("n", [2, 7, 16, 33, 64, 200])
def test_zeros_of_both_signs_stay_two_values_after_the_sort(n):
    # numpy's sorting network may swap -0.0 and 0.0 (equal to it): counted on the input
    for _ in range(20):
        values = RNG.choice([0.0, -0.0, 1.0, -2.5], n)
        assert _column(values)["unique"] == pc.count_distinct(pa.array(values)).as_py()
    assert _column(np.array([-0.0] * n))["unique"] == 1


def _by_hand(table: pa.Table) -> int:
    rows = [tuple("nan" if isinstance(v, float) and v != v else v for v in row.values())
            for row in table.to_pylist()]
    return len(rows) - len(set(rows))


def _wide(n: int) -> pa.Table:
    return pa.table({"a": RNG.normal(size=n), "b": RNG.integers(0, 10**9, n),
                     "c": RNG.choice(["x", "y", "z"], n), "d": RNG.integers(0, 2, n)})


@pytest.mark.parametrize("shape", ["all distinct", "a few copies", "many copies"])
def test_duplicates_ordered_by_cardinality_are_the_same_count(shape):
    table = _wide(30_000)
    if shape == "a few copies":  # the check's second step: only colliding rows hashed whole
        table = pa.concat_tables([table, table.take([5, 17, 17, 29_999])])
    elif shape == "many copies":  # too many collisions: every column mixed, as without order
        table = pa.concat_tables([table, table.slice(0, 20_000)])
    profile = profiling.profile_table(table)
    want = _by_hand(table)
    assert profile["duplicated_rows"] == want == profiling._duplicated_rows(table)
    assert want == {"all distinct": 0, "a few copies": 4, "many copies": 20_000}[shape]
    # a wrong cardinality changes the order and the moment of the check, never the count
    assert profiling._duplicated_rows(table, [1, 10**12, 3, 2]) == want


def test_nan_inf_and_null_are_three_values_for_duplicates():
    f = [np.nan, np.inf, None, -np.inf, np.nan, None, np.inf]
    table = pa.table({"f": pa.array(f, type=pa.float64()), "k": [1] * len(f)})
    assert profiling._duplicated_rows(table) == 3  # the second NaN, null and inf


def test_canonical_hash_is_unchanged():
    # pinned before the hash stopped copying columns: the same content keeps its sha256,
    # so re-importing a file after an upgrade finds the version it made
    table = pa.table({
        "f": pa.array([1.5, None, float("nan"), -0.0, 2.25]),
        "i": pa.array([3, None, -7, 0, 2**40]),
        "s": pa.array(["a", None, "", "ß", "xyz"]),
        "b": pa.array([True, None, False, True, False]),
        "d": pa.array([datetime.date(2024, 2, 29), None, datetime.date(1970, 1, 1),
                       datetime.date(2000, 1, 1), None])})
    assert profiling.canonical_sha256(table) == \
        "9ae0c47fe19eb22149e456765cbedc3ea9bbe345c5544a8800e8135932b76f30"
    assert profiling.canonical_sha256(table.slice(1, 3)) == \
        "676688e702d74a0928a8cb8783af1f5e0e4fe8ada36baab9e51fadadc55851ea"


def test_parquet_round_trips_without_page_statistics(tmp_path):
    table = pa.table({"f": RNG.normal(size=1000), "i": RNG.integers(0, 9, 1000),
                      "s": RNG.choice(["p", "q"], 1000)})
    path = tmp_path / "t.parquet"
    with open(path, "wb") as f:
        datasets.write_parquet(table, f)
    assert pq.read_table(path).equals(table)
    meta = pq.ParquetFile(path).metadata.row_group(0)
    assert all(meta.column(i).statistics is None for i in range(meta.num_columns))


def test_import_reports_each_stage(store, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(100)))
    spans: dict = {}
    row = datasets.import_dataset(store, path, timings=spans)
    assert row["rows"] == 100
    assert set(spans) == {"parse", "one array per column", "hash", "profile",
                          "Parquet (write, sha256, fsync)", "record"}
    assert all(start <= end for start, end in spans.values())
    assert spans["parse"][1] <= spans["hash"][0] <= spans["hash"][1] <= spans["profile"][0]
    assert max(spans["profile"][1], spans["Parquet (write, sha256, fsync)"][1]) \
        <= spans["record"][0]
