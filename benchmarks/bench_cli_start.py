"""Command-line start: whole-process wall time of read commands (`lablift dataset list`,
`run list`, `model list`, `--help`) on a small store, beside `python -c pass` (the floor)
and `mlflow --version` (a peer's start) in the same interleaved rounds (target: <= 0.35 s).

Run: python benchmarks/bench_cli_start.py [--rounds N] [--store DIR] [--baseline APP]

--baseline measures another checkout's app/ folder in the same rounds, e.g. the last commit:
`git archive HEAD app | tar -x -C /tmp/before` then `--baseline /tmp/before/app`.

Without --store it makes (once) benchmarks/_data/cli_start_store: the sample loans data,
one logistic-regression run, registered as loans:1. Lablift runs from this checkout's app/
(PYTHONPATH), as `python -m lablift.cli`, which is what the `lablift` script does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
APP = HERE.parent / "app"
COMMANDS = (("dataset list",), ("run list",), ("model list",), ("--help",))


def make_store(path: Path) -> Path:
    if (path / "lineage.db").exists():
        return path
    sys.path.insert(0, str(APP))
    from lablift.core import datasets, registry, training
    from lablift.core.store import Store
    from lablift.resources import SAMPLE_LOANS
    store = Store(path, user="ana")
    datasets.import_dataset(store, SAMPLE_LOANS, name="loans")
    run = training.train(store, {"dataset": "loans", "target": "approved",
                                 "algorithm": "logistic_regression", "cv": 0})
    registry.register(store, run["id"], "loans")
    return path


def wall(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--store", type=Path, help="an existing store folder to list")
    ap.add_argument("--baseline", type=Path, metavar="APP",
                    help="also time the read commands from this app/ folder")
    args = ap.parse_args()
    store = args.store or make_store(HERE / "_data" / "cli_start_store")
    lablift = [sys.executable, "-m", "lablift.cli", "--store", str(store), "--user", "ana"]
    cases = {"python -c pass": ([sys.executable, "-c", "pass"], APP)}
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent))
    if mlflow:
        cases["mlflow --version"] = ([mlflow, "--version"], APP)
    for label, app in (("lablift", APP), ("baseline", args.baseline)):
        if app is not None:
            for words in COMMANDS:
                cases[f"{label} {words[0]}"] = (lablift + words[0].split(), app)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for name, (argv, app) in cases.items():  # one warm-up each: the page cache, .pyc files
        wall(argv, {**os.environ, "PYTHONPATH": str(app)})
    for _ in range(args.rounds):  # interleaved, so load from other work hits all alike
        for name, (argv, app) in cases.items():
            times[name].append(wall(argv, {**os.environ, "PYTHONPATH": str(app)}))
    print(f"whole-process wall time, median (min-max) of {args.rounds} interleaved rounds; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for name, ts in times.items():
        print(f"  {name:<22} {statistics.median(ts):6.3f} s  ({min(ts):.3f}-{max(ts):.3f})")


if __name__ == "__main__":
    main()
