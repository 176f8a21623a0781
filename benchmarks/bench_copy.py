"""`lablift store copy`: an embedded store of 1,000 runs (each with its own pipeline, holdout
and plots artifacts) and a 1M x 20 dataset (benchmarks/bench_import.py's CSV), copied into a
team store on PostgreSQL and back, as whole `lablift store copy` processes (what a user
waits for), with `audit verify` and every artifact re-hashed on the target included.

Peers from the same run: `pg_dump | psql` of the finished team store into another database
(the server's own copy of the same rows and bytes, no verification), and `cp -r` of the
embedded store folder (the floor of copying its files).

Run: python benchmarks/bench_copy.py [--runs 1000] [--rows 1000000] [--rounds 3]
Needs PostgreSQL binaries (tests/pg.py starts a throwaway cluster) or $LABLIFT_TEST_PG_URL.
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
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "app"), str(ROOT / "tests"), str(HERE)]

import pg  # noqa: E402  (tests/pg.py)
from bench_import import make_csv  # noqa: E402
from bench_tracking import run_result, run_spec  # noqa: E402


def build_source(root: Path, runs: int, rows: int) -> Path:
    from lablift.core import datasets, training
    from lablift.core.store import Store
    store = Store(root / "store", user="bench")
    ds = datasets.import_dataset(store, make_csv(rows), name="wide")
    prepared = SimpleNamespace(spec=run_spec(ds["id"]), notes=[])
    base = run_result()
    pipeline = os.urandom(200_000)  # a small forest's pickle: every run its own
    for i in range(runs):
        tag = f"{i}".encode()
        result = dict(base, pipeline_bytes=pipeline + tag, holdout_bytes=b"holdout" + tag * 500,
                      plots_bytes=b"{}" + tag)
        started = time.perf_counter()
        run_id = training.record_start(store, prepared)
        training.record_finish(store, run_id, result, started, [])
    store.close()
    return root / "store"


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def lablift(*argv: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "app")}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lablift.cli", *argv], env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"lablift {' '.join(argv)} failed: {done.stderr.strip()}")
    return elapsed


def pg_dump_restore(bindir: Path, source_url: str, target_url: str) -> float:
    t0 = time.perf_counter()
    dump = subprocess.Popen([str(bindir / "pg_dump"), "--no-owner", "--no-privileges",
                             "-d", source_url], stdout=subprocess.PIPE)
    subprocess.run([str(bindir / "psql"), "-q", "-v", "ON_ERROR_STOP=0", "-d", target_url],
                   stdin=dump.stdout, capture_output=True, check=False)
    dump.wait()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes (run_all.py): 200 runs, 100,000 rows, one round")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.rows, args.rounds = 200, 100_000, 1

    cluster = None
    server = os.environ.get("LABLIFT_TEST_PG_URL")
    if not server:
        cluster = pg.start_cluster()
        server = cluster.url
    bindir = pg.find_bindir()
    work = Path(tempfile.mkdtemp(prefix="bench_copy_"))
    made: list[str] = []
    try:
        t0 = time.perf_counter()
        source = build_source(work, args.runs, args.rows)
        size = folder_bytes(source)
        print(f"source: {args.runs} runs, a {args.rows:,} x 20 dataset; store folder "
              f"{size / 1e6:.1f} MB (built in {time.perf_counter() - t0:.0f} s)")
        print(f"PostgreSQL {pg.check_server(server).split(',')[0]}, over its unix socket; "
              f"{os.cpu_count()} cores\n")
        rows = {"to team": [], "back to embedded": [], "pg_dump | psql": [], "cp -r": []}
        for r in range(args.rounds):
            name = pg.unique_name("bench_copy")
            made.append(name)
            url = pg.create_database(server, name)
            rows["to team"].append(lablift("store", "copy", str(source), url))
            back = work / f"back_{r}"
            rows["back to embedded"].append(lablift("store", "copy", url, str(back)))
            peer = pg.unique_name("bench_dump")
            made.append(peer)
            rows["pg_dump | psql"].append(pg_dump_restore(bindir, url,
                                                          pg.create_database(server, peer)))
            t0 = time.perf_counter()
            shutil.copytree(source, work / f"cp_{r}")
            os.sync()
            rows["cp -r"].append(time.perf_counter() - t0)
            shutil.rmtree(back)
            shutil.rmtree(work / f"cp_{r}")
        print(f"{'':28}{'median s':>10}{'min-max':>16}{'MB/s':>8}")
        for label, times in rows.items():
            med = statistics.median(times)
            print(f"{label:28}{med:10.2f}{min(times):8.2f}-{max(times):<7.2f}"
                  f"{size / 1e6 / med:8.0f}")
        team, dump = statistics.median(rows["to team"]), statistics.median(rows["pg_dump | psql"])
        print(f"\nstore copy into a team store = {team / dump:.2f}x pg_dump | psql of the same "
              f"store (which verifies nothing); {size / 1e6 / team:.0f} MB/s, "
              f"{args.runs / team:.0f} runs/s")
    finally:
        for name in made:
            pg.drop_database(server, name)
        shutil.rmtree(work, ignore_errors=True)
        if cluster is not None:
            pg.stop_cluster(cluster.dir)


if __name__ == "__main__":
    main()
