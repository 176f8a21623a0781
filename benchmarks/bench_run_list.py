"""`lablift run list --json` over 100,000 runs, whole process, beside the floor: a plain
sqlite3 + json script that selects the same columns, decodes params and metrics and dumps
the list (target: Lablift <= 1.5x the floor).

    python benchmarks/bench_run_list.py [--runs 100000] [--rounds 5] [--quick]

Both write to /dev/null, in interleaved rounds; the store is bench_runs_table.py's
(benchmarks/_data/runs_table_N, made on first use).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
APP = HERE.parent / "app"

FLOOR = r"""
import json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1] + "/lineage.db")
cols = ("id", "dataset_id", "sweep_id", "reproduces", "status", "task", "algorithm",
        "target", "seed", "params", "metrics", "error", "created_by", "created_at",
        "finished_at", "duration_s")
out = []
for row in conn.execute(f"SELECT {', '.join(cols)} FROM runs ORDER BY id DESC"):
    run = dict(zip(cols, row))
    run["params"], run["metrics"] = json.loads(run["params"]), json.loads(run["metrics"])
    out.append(run)
sys.stdout.write(json.dumps(out))  # json.dumps: the C encoder (json.dump streams in Python)
"""


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="10,000 runs, three rounds")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.rounds = 10_000, 3
    store = HERE / "_data" / f"runs_table_{args.runs}"
    env = dict(os.environ, PYTHONPATH=str(APP))
    if not (store / "lineage.db").exists():
        subprocess.run([sys.executable, str(HERE / "bench_runs_table.py"), "--make",
                        str(store), "--runs", str(args.runs)], env=env, check=True)
    lablift = [sys.executable, "-m", "lablift.cli", "--store", str(store), "--user", "bench",
               "run", "list", "--json"]
    floor = [sys.executable, "-c", FLOOR, str(store)]
    times: dict[str, list[float]] = {"lablift": [], "sqlite3": []}
    for _ in range(args.rounds):
        times["sqlite3"].append(timed(floor, env))
        times["lablift"].append(timed(lablift, env))
    lab, flo = statistics.median(times["lablift"]), statistics.median(times["sqlite3"])
    print(f"run list --json, {args.runs:,} runs, {args.rounds} interleaved rounds, medians")
    for name, median in (("lablift run list --json", lab), ("sqlite3 + json floor", flo)):
        every = ", ".join(f"{t:.2f}" for t in times[name.split()[0]])
        print(f"  {name:<25} {median:6.2f} s   ({every})")
    verdict = "PASS" if lab <= 1.5 * flo else "FAIL"
    print(f"{verdict}: {lab / flo:.2f}x the floor (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
