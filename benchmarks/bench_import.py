"""Import benchmark: a 1,000,000-row x 20-column CSV through `lablift dataset import`'s core,
against pandas.read_csv of the same file in the same rounds (target: <= 2.5x).

Then each stage of the import alone, wall time and CPU time (all threads): parse, hash,
profile (of which the duplicate-row check), Parquet; the whole import runs them overlapped
(the Parquet writer beside hashing and profiling), so its time is below their sum.

Run: python benchmarks/bench_import.py [--rows N] [--repeat K]
The CSV is generated once under benchmarks/_data/ (git-ignored).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def make_csv(rows: int) -> Path:
    path = HERE / "_data" / f"wide_{rows}.csv"
    if path.exists():
        return path
    path.parent.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    cols = {f"num_{i}": rng.normal(i, 1 + i, rows).round(4) for i in range(14)}
    cols.update({f"int_{i}": rng.integers(0, 1000, rows) for i in range(3)})
    cats = np.array(["alpha", "beta", "gamma", "delta", "epsilon"])
    cols.update({f"cat_{i}": cats[rng.integers(0, 5, rows)] for i in range(3)})
    pd.DataFrame(cols).to_csv(path, index=False)
    return path


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def stages(path: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """{stage: (median wall s, median CPU s)}, each stage run alone on the parsed table."""
    import pyarrow as pa

    from lablift.core import datasets, profiling, readers
    parsed = readers.read_table(path)[0].replace_schema_metadata(None)
    table = parsed.combine_chunks()
    steps = {
        "parse (pyarrow CSV, typing)": lambda: readers.read_table(path),
        "one array per column": parsed.combine_chunks,
        "hash (canonical sha256)": lambda: profiling.canonical_sha256(table),
        "profile (columns + duplicates)": lambda: profiling.profile_table(table),
        "  of which duplicate rows": lambda: profiling._duplicated_rows(table),
        "Parquet (floats plain)": lambda: datasets.write_parquet(table,
                                                                 pa.BufferOutputStream()),
    }
    out = {}
    for name, fn in steps.items():
        walls, cpus = [], []
        for _ in range(repeat):
            w, c = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
        out[name] = (statistics.median(walls), statistics.median(cpus))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from lablift.core import datasets
    from lablift.core.store import Store

    path = make_csv(args.rows)
    size_mb = path.stat().st_size / 1e6

    def lablift_import():
        with tempfile.TemporaryDirectory() as d:
            store = Store(Path(d) / "store", user="bench")
            datasets.import_dataset(store, path)
            store.close()
    lablift_import()  # warm: imports, page cache
    pandas_times, lablift_times = [], []
    for _ in range(args.repeat):  # interleaved: load from other work hits both alike
        pandas_times += timed(lambda: pd.read_csv(path), 1)
        lablift_times += timed(lablift_import, 1)

    # Opening the version as the Datasets pane does: read the Parquet artifact, build the model.
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "store", user="bench")
        row = datasets.import_dataset(store, path)
        open_times = timed(lambda: datasets.load_table(store, row), args.repeat)
        store.close()

    p, lab, op = (statistics.median(t) for t in (pandas_times, lablift_times, open_times))
    print(f"file: {path.name} ({args.rows:,} rows x 20 columns, {size_mb:.0f} MB)")
    print(f"pandas.read_csv          median {p:6.2f} s   runs {[round(t, 2) for t in pandas_times]}")
    print(f"lablift import (total)   median {lab:6.2f} s   runs {[round(t, 2) for t in lablift_times]}")
    print(f"  ratio lablift/pandas   {lab / p:.2f}x  (target <= 2.5x)")
    print(f"open version (verify+read parquet) median {op:.2f} s")
    print("stages alone (median wall / CPU of all threads):")
    parts = stages(path, args.repeat)
    for name, (wall, cpu) in parts.items():
        print(f"  {name:<32} {wall:6.2f} s  cpu {cpu:5.2f} s")
    total = sum(w for n, (w, _) in parts.items() if not n.startswith(" "))
    print(f"  {'sum of stages':<32} {total:6.2f} s  (the import overlaps them: {lab:.2f} s)")


if __name__ == "__main__":
    main()
