"""Import benchmark: a 1,000,000-row x 20-column CSV imported by Lablift, against
pandas.read_csv of the same file in the same rounds (target: <= 2.5x).

What is timed: `lablift.core.datasets.import_dataset` in this process, which is all a user
waits for once the import starts (the Datasets pane runs the same call in a worker, the CLI
calls it too): parse, hash, profile, Parquet write + sha256 + fsync, the version row and its
audit entry committed. Not timed: creating the store (once per store in real use) and
deleting it afterwards. Rounds are interleaved, which of the two goes first alternating, so
load from other work hits both alike; medians are reported, with the CPU time of all threads.
`--process` adds whole processes, in the same interleaved way: `python -m lablift.cli
dataset import` (interpreter, imports, parser, store open) against `python -c "import pandas;
pandas.read_csv(...)"`.

Then the stages: their spans inside the timed imports (medians, seconds from the import's
start: the Parquet writer runs beside hashing and profiling, so the critical path is
parse -> arrays -> max(hash + profile, Parquet) -> record), and each stage run alone on the
parsed table (wall and CPU of all threads).

Run: PYTHONPATH=app python benchmarks/bench_import.py [--rows N] [--repeat K] [--process]
The CSV is generated once under benchmarks/_data/ (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
APP = HERE.parent / "app"


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
    tmp = path.with_suffix(".tmp")
    pd.DataFrame(cols).to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def clock(fn) -> tuple[float, float]:
    """(wall s, CPU s of all threads) of fn()."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def fresh_store(user: str = "bench"):
    from lablift.core.store import Store
    folder = Path(tempfile.mkdtemp(prefix="bench_import_"))
    return Store(folder / "store", user=user), folder


def in_process(path: Path, repeat: int) -> dict:
    from lablift.core import datasets
    out = {"pandas": [], "lablift": [], "pandas cpu": [], "lablift cpu": [], "spans": [],
           "parquet MB": None}

    def pandas_round():
        w, c = clock(lambda: pd.read_csv(path))
        out["pandas"].append(w)
        out["pandas cpu"].append(c)

    def lablift_round():
        store, folder = fresh_store()
        spans: dict[str, tuple[float, float]] = {}
        try:
            t0 = time.perf_counter()
            holder = {}
            w, c = clock(lambda: holder.update(
                row=datasets.import_dataset(store, path, timings=spans)))
            out["lablift"].append(w)
            out["lablift cpu"].append(c)
            out["spans"].append({k: (a - t0, b - t0) for k, (a, b) in spans.items()})
            out["parquet MB"] = os.path.getsize(
                store.artifacts.path(holder["row"]["artifact"])) / 1e6
        finally:
            store.close()
            shutil.rmtree(folder, ignore_errors=True)

    lablift_round()  # warm: imports, page cache
    out.update({k: [] for k in ("lablift", "lablift cpu", "spans")})
    for i in range(repeat):
        for fn in ((pandas_round, lablift_round) if i % 2 == 0 else
                   (lablift_round, pandas_round)):
            fn()
    return out


def whole_process(path: Path, repeat: int) -> tuple[list[float], list[float]]:
    env = {**os.environ, "PYTHONPATH": str(APP)}
    pandas_cmd = [sys.executable, "-c", f"import pandas; pandas.read_csv({str(path)!r})"]
    pandas_times, lablift_times = [], []

    def run(cmd):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0

    def lablift_round():
        store, folder = fresh_store()
        store.close()
        try:
            lablift_times.append(run([sys.executable, "-m", "lablift.cli", "--store",
                                      str(folder / "store"), "--user", "bench", "dataset",
                                      "import", str(path)]))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    for i in range(repeat):
        if i % 2 == 0:
            pandas_times.append(run(pandas_cmd))
            lablift_round()
        else:
            lablift_round()
            pandas_times.append(run(pandas_cmd))
    return pandas_times, lablift_times


def stages_alone(path: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """{stage: (median wall s, median CPU s)}, each stage run alone on the parsed table."""
    import pyarrow as pa

    from lablift.core import datasets, profiling, readers
    parsed = readers.read_table(path)[0].replace_schema_metadata(None)
    table = parsed.combine_chunks()
    cards = [c["unique"] + bool(c["missing"]) for c in profiling.profile_table(table)["columns"]]
    steps = {
        "parse (pyarrow CSV, typing)": lambda: readers.read_table(path),
        "one array per column": parsed.combine_chunks,
        "hash (canonical sha256)": lambda: profiling.canonical_sha256(table),
        "profile (columns + duplicates)": lambda: profiling.profile_table(table),
        "  of which duplicate rows": lambda: profiling._duplicated_rows(table, cards),
        "Parquet to memory (no sha/fsync)": lambda: datasets.write_parquet(
            table, pa.BufferOutputStream()),
    }
    out = {}
    for name, fn in steps.items():
        runs = [clock(fn) for _ in range(repeat)]
        out[name] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
    return out


def fmt(times: list[float]) -> str:
    return str([round(t, 2) for t in times])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--process", action="store_true",
                    help="also time whole processes: `lablift dataset import` vs a pandas script")
    args = ap.parse_args()
    sys.path.insert(0, str(APP))
    from lablift.core import datasets

    path = make_csv(args.rows)
    load = os.getloadavg()[0]
    r = in_process(path, args.repeat)
    p, lab = statistics.median(r["pandas"]), statistics.median(r["lablift"])
    pc_, lc = statistics.median(r["pandas cpu"]), statistics.median(r["lablift cpu"])
    print(f"file: {path.name} ({args.rows:,} rows x 20 columns, "
          f"{path.stat().st_size / 1e6:.0f} MB); load average {load:.1f} -> "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"pandas.read_csv          median {p:6.2f} s   runs {fmt(r['pandas'])}  "
          f"cpu {pc_:.2f} s")
    print(f"lablift import (total)   median {lab:6.2f} s   runs {fmt(r['lablift'])}  "
          f"cpu {lc:.2f} s")
    ratios = [b / a for a, b in zip(r["pandas"], r["lablift"])]
    print(f"  ratio lablift/pandas   {lab / p:.2f}x  (target <= 2.5x); per round "
          f"{fmt(ratios)}; CPU {lc / pc_:.2f}x")
    print(f"  Parquet artifact {r['parquet MB']:.0f} MB")

    with tempfile.TemporaryDirectory() as d:  # opening the version, as the Datasets pane does
        from lablift.core.store import Store
        store = Store(Path(d) / "store", user="bench")
        row = datasets.import_dataset(store, path)
        op = statistics.median(clock(lambda: datasets.load_table(store, row))[0]
                               for _ in range(args.repeat))
        store.close()
    print(f"open version (verify+read parquet) median {op:.2f} s")

    print("stages inside the timed imports (median start -> end, s from the import's start):")
    names = list(r["spans"][0])
    for name in names:
        start = statistics.median(s[name][0] for s in r["spans"])
        end = statistics.median(s[name][1] for s in r["spans"])
        print(f"  {name:<32} {start:5.2f} -> {end:5.2f}  ({end - start:.2f} s)")

    print("stages alone (median wall / CPU of all threads):")
    parts = stages_alone(path, max(args.repeat // 2, 2))
    for name, (wall, cpu) in parts.items():
        print(f"  {name:<32} {wall:6.2f} s  cpu {cpu:5.2f} s")
    total = sum(w for n, (w, _) in parts.items() if not n.startswith(" "))
    print(f"  {'sum of stages':<32} {total:6.2f} s  (the import overlaps them: {lab:.2f} s)")

    if args.process:
        pp, lp = whole_process(path, args.repeat)
        print(f"whole process: pandas script median {statistics.median(pp):.2f} s runs {fmt(pp)}")
        print(f"whole process: lablift dataset import median {statistics.median(lp):.2f} s "
              f"runs {fmt(lp)}")
        print(f"  ratio whole process    {statistics.median(lp) / statistics.median(pp):.2f}x")


if __name__ == "__main__":
    main()
