"""The longest time a training job in a worker thread keeps another thread of its process
from running (GIL held), with the fit in the training process (core/train_process.py).

    python benchmarks/bench_train_handoff.py [--rows 50000] [--algorithm random_forest]
    python benchmarks/bench_train_handoff.py --baseline /tmp/before_app [--rounds 5]

A thread ticks every 1 ms while `training.train` runs in the main thread as the Experiments
pane's worker runs it (prepare, record, the fit in the child, the result back, record); the
longest gap between ticks is the longest hold of the GIL on this side, which is what stalls
the GUI thread. No Qt: the figure leaves out drawing. With --baseline, fresh processes
alternate the `lablift` package under app/ with the one in APP_DIR; medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from stall_rounds import interleaved, make_data


def one_round(args) -> dict:
    import numpy as np

    from lablift.core import datasets, train_process, training
    from lablift.core.store import Store
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store", user="bench")
        path = Path(tmp) / "churn.csv"
        make_data(path, args.rows)
        dataset = datasets.import_dataset(store, path, name="churn")
        runner = train_process.TrainProcess()
        try:
            train_process.warm_imports()  # what the pane's warm-up does, both sides
            runner.warm()
            # the pane's compute_fn: the data-file path where this tree has it
            fit = (runner.compute_for(store) if hasattr(runner, "compute_for")
                   else runner.compute)
            spec = {"dataset_id": dataset["id"], "target": "churned",
                    "algorithm": args.algorithm, "cv": args.cv, "seed": 0}
            ticks, done = [], threading.Event()

            def tick() -> None:
                while not done.is_set():
                    ticks.append(time.perf_counter())
                    time.sleep(0.001)

            ticker = threading.Thread(target=tick)
            ticker.start()
            t0 = time.perf_counter()
            run = training.train(store, spec, compute_fn=fit)
            t1 = time.perf_counter()
            done.set()
            ticker.join()
        finally:
            runner.stop()
        gaps = np.diff(np.asarray(ticks)) * 1000.0
        pipeline = store.artifacts.path(run["artifacts"]["pipeline"]).stat().st_size
        store.close()
    return {"max_ms": float(gaps.max()), "p99_ms": float(np.percentile(gaps, 99)),
            "train_s": t1 - t0, "pipeline_mb": pipeline / 1e6}


def compare(args) -> int:
    here = Path(__file__).resolve()
    sides = {"baseline": Path(args.baseline).resolve(), "current": here.parents[1] / "app"}
    flags = ["--rows", str(args.rows), "--algorithm", args.algorithm, "--cv", str(args.cv),
             "--json"]
    figures = interleaved(here, sides, flags, args.rounds)
    if figures is None:
        return 1
    import statistics
    print(f"medians of {args.rounds} interleaved rounds, baseline = {sides['baseline']}")
    print(f"{'':<12}{'baseline':>10}{'current':>10}{'ratio':>8}")
    for key in ("max_ms", "p99_ms", "train_s", "pipeline_mb"):
        b, c = (statistics.median(f[key] for f in figures[n]) for n in sides)
        print(f"{key:<12}{b:>10.1f}{c:>10.1f}{(c / b if b else float('nan')):>8.2f}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--algorithm", default="random_forest")
    ap.add_argument("--cv", type=int, default=0, help="folds (default 0: holdout only)")
    ap.add_argument("--baseline", metavar="APP_DIR",
                    help="compare with the lablift package in APP_DIR, rounds interleaved")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline:
        return compare(args)
    figures = one_round(args)
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"train {args.algorithm} cv={args.cv} on {args.rows:,} rows in "
              f"{figures['train_s']:.1f} s, pipeline {figures['pipeline_mb']:.1f} MB: longest "
              f"GIL hold on this side {figures['max_ms']:.1f} ms (p99 {figures['p99_ms']:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
