"""The longest event-loop stall of the GUI thread while a run trains from the Experiments pane.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui_stall.py [--rows 50000]
        [--algorithm random_forest] [--cv 3] [--sample]

A 5 ms QTimer ticks on the GUI thread; every gap between ticks longer than the interval is
time the event loop could not run (a user would see a frozen window). The pane trains through
its normal path (Train button -> worker -> signals); the figures are the max and p99 gap:
  - while training (Train clicked until the worker's finished signal),
  - after it (the runs table reload and the run-detail plots, until they are drawn: the four
    panels are filled and rendered one per event-loop turn, runs_loaded fires once they are
    filled and the last render lands in the 0.5 s that follow),
  - while the pane opens and imports scikit-learn in a worker (the warm-up),
  - idle, for reference.
Target: max stall < 50 ms while training and after it. --profile FILE writes a cProfile of
the GUI thread during the "after" phase.

    python benchmarks/bench_gui_stall.py --quick --baseline /tmp/before_app [--rounds 3]

runs this benchmark in fresh processes, alternating the `lablift` package under `app/` with
the one under the baseline folder (e.g. a copy of app/ from before a change), and prints the
medians of each phase's longest stall and their ratio: both sides see the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

from lablift.core import datasets  # noqa: E402
from lablift.core.store import Store  # noqa: E402
from lablift.gui.app import _application  # noqa: E402
from lablift.gui.panes.experiments import Pane  # noqa: E402
from lablift.resources import SAMPLE_LOANS  # noqa: E402
from gui_probe import TICK_MS, TickRecorder, run_until, spin  # noqa: E402
from stall_rounds import interleaved, make_data  # noqa: E402


def describe(name: str, gaps: np.ndarray) -> str:
    return (f"{name:<34} ticks {len(gaps):>6}  max {gaps.max():7.1f} ms  "
            f"p99 {np.percentile(gaps, 99):6.1f} ms  median {np.median(gaps):5.1f} ms")


def main() -> int:  # noqa: C901
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--algorithm", default="random_forest")
    ap.add_argument("--cv", type=int, default=3)
    ap.add_argument("--sample", action="store_true", help="train on the bundled sample instead")
    ap.add_argument("--profile", metavar="FILE",
                    help="cProfile the GUI thread during the 'after' phase into FILE")
    ap.add_argument("--quick", action="store_true", help="the same as --sample (run_all.py)")
    ap.add_argument("--baseline", metavar="APP_DIR",
                    help="compare with the lablift package in APP_DIR, rounds interleaved")
    ap.add_argument("--current", metavar="APP_DIR",
                    help="with --baseline: the package to measure (default: app/ beside this)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per side with --baseline")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one round's figures
    args = ap.parse_args()
    args.sample = args.sample or args.quick
    if args.baseline:
        return compare(args)

    _application()  # the QApplication must exist before any widget
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store", user="bench")
        if args.sample:
            datasets.import_dataset(store, SAMPLE_LOANS, name="sample_loans")
            target, what = "approved", "sample_loans (2,000 rows)"
        else:
            path = Path(tmp) / "churn.csv"
            make_data(path, args.rows)
            datasets.import_dataset(store, path, name="churn")
            target, what = "churned", f"generated churn ({args.rows:,} rows x 7 features)"
        ticks = TickRecorder()
        ticks.timer.start()
        pane = Pane(store)
        pane.resize(1120, 740)
        pane.show()
        if pane.is_busy():
            run_until(pane.runs_loaded)
        if pane.warm_task is not None and pane.warm_task.is_running():
            run_until(pane.warm_task.done)  # scikit-learn & co. imported in a worker
        warm = ticks.gaps_ms(0)
        pane.set_target(target)
        pane.set_algorithm(args.algorithm)
        pane.cv_folds.setValue(args.cv)

        spin(1.0)
        idle = ticks.gaps_ms(ticks.mark() - 150)

        start_mark, t0 = ticks.mark(), time.perf_counter()
        pane.train_button.click()
        job = pane.running_job()
        if job.state == "running":
            run_until(job.task.done)
        t1 = time.perf_counter()
        train_mark = ticks.mark()
        profiler = None
        if args.profile:
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        run_until(pane.runs_loaded)
        spin(0.5)  # the last panel's draw_idle lands here
        after_mark = ticks.mark()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        ticks.timer.stop()

        if job.state != "finished":
            print(f"error: the run ended {job.state}: {job.error}", file=sys.stderr)
            return 1
        during = ticks.gaps_ms(start_mark, train_mark)
        after = ticks.gaps_ms(train_mark - 1, after_mark)
        run = job.result
        if args.json:
            print(json.dumps({"warm": warm.max(), "idle": idle.max(), "during": during.max(),
                              "during_p99": float(np.percentile(during, 99)),
                              "after": after.max(), "train_s": t1 - t0}))
            pane.close()
            store.close()
            return 0
        print(f"Experiments pane, {args.algorithm} cv={args.cv} on {what}; "
              f"QTimer every {TICK_MS} ms on the GUI thread")
        print(f"run {run['id']} {run['status']} in {t1 - t0:.1f} s "
              f"(core duration {run['duration_s']:.1f} s)")
        print(describe("pane opening + import warm-up", warm))
        print(describe("idle (1 s)", idle))
        print(describe("while training", during))
        print(describe("after: table reload + plots", after))
        verdict = "PASS" if during.max() < 50 else "FAIL"
        print(f"{verdict}: longest stall while training {during.max():.1f} ms (target < 50 ms)")
        verdict = "PASS" if after.max() < 50 else "FAIL"
        print(f"{verdict}: longest stall after the run (table + plots) {after.max():.1f} ms "
              "(target < 50 ms)")
        pane.close()
        store.close()
    return 0


def compare(args) -> int:
    """Alternate fresh runs of this benchmark on app/ and on the baseline; medians, ratios."""
    here = Path(__file__).resolve()
    sides = {"baseline": Path(args.baseline).resolve(),
             "current": Path(args.current).resolve() if args.current else here.parents[1] / "app"}
    flags = ["--rows", str(args.rows), "--algorithm", args.algorithm, "--cv", str(args.cv),
             *(["--sample"] if args.sample else []), "--json"]
    figures = interleaved(here, sides, flags, args.rounds)
    if figures is None:
        return 1
    print(f"medians of {args.rounds} interleaved rounds (ms; train_s in s), "
          f"baseline = {sides['baseline']}")
    print(f"{'':<12}{'baseline':>10}{'current':>10}{'ratio':>8}")
    for key in ("warm", "idle", "during", "during_p99", "after", "train_s"):
        b, c = (float(np.median([f[key] for f in figures[n]])) for n in sides)
        print(f"{key:<12}{b:>10.1f}{c:>10.1f}{(c / b if b else float('nan')):>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
