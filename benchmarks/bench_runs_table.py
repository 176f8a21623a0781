"""The Experiments pane's runs table at 10,000 and 100,000 runs: the longest GUI-thread stall
while it opens, reloads after a run finishes, sorts and filters (target: each < 50 ms).

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_runs_table.py [--runs 10000 100000]
        [--rounds 3] [--app DIR] [--detail] [--quick]

A 5 ms QTimer ticks on the GUI thread; the longest gap between ticks in a step is the
longest time the window could not repaint or take input. Steps, in each round (a new pane):
  open      after Pane() is built and shown (its build time is printed apart: widgets, not
            runs), until runs_loaded: the runs read in a worker and shown
  started   a run recorded as running (core.training.record_start), pane.reload_runs()
  finished  that run computed and recorded (record_finish), pane.reload_runs(select=it), as
            the job queue does when a run ends
  sort      a header click's sortByColumn on roc_auc, until the rows are shown in order
  filter    'roc_auc>0.8 algorithm=knn' typed and applied, until the rows are shown
Each step's figures are the round's max gap and its wall time; the table shows medians.
By default the run detail is left out (a stub stands for Pane._show_run), so the figures
are the runs table's own; --detail keeps it, and then a step that shows another run also
waits for its plots, drawn by matplotlib on the GUI thread (run_panels).

Stores of N runs (core.run_bulk, the sample loans dataset) are made once under
benchmarks/_data/runs_table_N by this checkout. --app DIR measures another checkout's app/
folder on the same stores (the figures before a change: `git archive HEAD app | tar -x -C
/tmp/before`, then --app /tmp/before/app). Each size runs in a process of its own; the
pane's warm-up import of every estimator (not the table's work) is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
APP = HERE.parent / "app"
STEPS = ("open", "started", "finished", "sort", "filter")
FILTER = "roc_auc>0.8 algorithm=knn"
ALGORITHMS = ("knn", "random_forest", "decision_tree", "logistic_regression")


def make_store(path: Path, n: int) -> None:
    """N finished runs (every 50th failed), recorded in one transaction by core.run_bulk."""
    from lablift.core import datasets, run_bulk
    from lablift.core.store import Store
    from lablift.resources import SAMPLE_LOANS
    store = Store(path, user="bench")
    ds = datasets.import_dataset(store, SAMPLE_LOANS, name="loans")
    rng = random.Random(0)
    runs = [{"dataset_id": ds["id"], "algorithm": ALGORITHMS[i % 4], "target": "approved",
             "status": "failed" if i % 50 == 0 else "finished", "seed": i % 7,
             "params": {"max_depth": None if i % 3 == 0 else i % 7 + 1, "n_estimators": 100},
             "metrics": {} if i % 50 == 0 else {
                 "holdout": {"roc_auc": round(rng.uniform(0.5, 1), 4),
                             "accuracy": round(rng.uniform(0.5, 1), 4)},
                 "cv": {"roc_auc": {"mean": round(rng.uniform(0.5, 1), 4), "std": 0.01}}},
             "duration_s": round(rng.uniform(0.1, 90), 2)} for i in range(n)]
    t0 = time.perf_counter()
    run_bulk.record_runs(store, runs)
    print(f"made {path}: {n:,} runs in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    store.close()


def measure(path: Path, rounds: int, detail: bool) -> list[dict[str, float]]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from gui_probe import TickRecorder, run_until, spin
    from PySide6.QtCore import Qt

    from lablift.core import training
    from lablift.core.store import Store
    from lablift.gui.app import _application
    from lablift.gui.panes.experiments import Pane, job_queue

    _application()
    job_queue._warmed = True
    if not detail:  # the runs table alone: no run read, no plots drawn
        Pane._show_run = lambda self, run_id: setattr(self, "_shown_run", run_id)
    ticks = TickRecorder()
    ticks.timer.start()

    def step(action, signal=None, settle: bool = True) -> tuple[float, float]:
        """(max gap ms, wall s) of `action` until `signal` (if any), then 0.2 s more."""
        if settle:
            spin(0.1)
        mark, t0 = ticks.mark(), time.perf_counter()
        ticks.times.append(t0)
        action()
        if signal is not None:
            run_until(signal)
        wall = time.perf_counter() - t0
        spin(0.2)
        gaps = ticks.gaps_ms(mark)
        return float(gaps.max()) if len(gaps) else 0.0, wall

    store = Store(path, user="bench")
    spec = {"dataset_id": 1, "target": "approved", "algorithm": "logistic_regression", "cv": 0}
    out = []
    for _ in range(rounds):
        figures: dict[str, float] = {}
        loaded = _Relay()  # runs_loaded, relayed: waited on before the pane exists

        t0 = time.perf_counter()
        pane = Pane(store)
        pane.runs_loaded.connect(loaded.fire)
        pane.resize(1120, 740)
        pane.show()
        figures["build_s"] = time.perf_counter() - t0
        figures["open"], figures["open_s"] = step(lambda: None, loaded.done, settle=False)
        figures["open_s"] += figures["build_s"]
        prepared = training.prepare(store, spec)
        run_id = training.record_start(store, prepared)
        figures["started"], figures["started_s"] = step(pane.reload_runs, pane.runs_loaded)
        result = training.compute_safely(prepared)
        training.record_finish(store, run_id, result, 0.0)
        figures["finished"], figures["finished_s"] = step(
            lambda: pane.reload_runs(select=run_id), pane.runs_loaded)
        arranged = getattr(pane, "runs_arranged", None)  # None: sorted on the GUI thread
        col = [c.key for c in pane.runs_model.columns].index("m.roc_auc")
        figures["sort"], figures["sort_s"] = step(
            lambda: pane.runs_view.sortByColumn(col, Qt.SortOrder.DescendingOrder), arranged)

        def filtered():
            pane.filter_edit.setText(FILTER)
            pane.apply_filter()
        figures["filter"], figures["filter_s"] = step(filtered, arranged)
        figures["rows_shown"] = pane.runs_model.rowCount() if arranged else \
            pane.runs_proxy.rowCount()
        pane.close()
        pane.deleteLater()
        spin(0.3)
        out.append(figures)
    ticks.timer.stop()
    store.close()
    return out


class _Relay:
    """A signal to wait on before the object that emits it exists."""

    def __init__(self):
        from PySide6.QtCore import QObject, Signal

        class Box(QObject):
            done = Signal()
        self.box = Box()
        self.done = self.box.done

    def fire(self) -> None:
        self.done.emit()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--app", type=Path, help="another checkout's app/ folder to measure")
    ap.add_argument("--quick", action="store_true", help="10,000 runs, one round")
    ap.add_argument("--detail", action="store_true",
                    help="keep the run detail (its plots draw on the GUI thread too)")
    ap.add_argument("--make", type=Path, help=argparse.SUPPRESS)  # (internal) make a store
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # (internal) one size
    args = ap.parse_args()
    if args.quick:
        args.runs, args.rounds = [10_000], 1
    if args.make:
        make_store(args.make, args.runs[0])
        return 0
    if args.measure:
        print(json.dumps(measure(args.measure, args.rounds, args.detail)))
        return 0
    app = (args.app or APP).resolve()
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    what = "with the run detail" if args.detail else "the table alone (run detail stubbed)"
    print(f"Experiments pane runs table, {what}, {args.rounds} rounds per size, app {app}; "
          f"longest GUI-thread stall (ms) and wall time (s), medians")
    print(f"{'runs':>8} " + " ".join(f"{s:>18}" for s in STEPS))
    for n in args.runs:
        path = HERE / "_data" / f"runs_table_{n}"
        if not (path / "lineage.db").exists():
            subprocess.run([sys.executable, __file__, "--make", str(path), "--runs", str(n)],
                           env=dict(env, PYTHONPATH=str(APP)), check=True)
        done = subprocess.run([sys.executable, __file__, "--measure", str(path), "--rounds",
                               str(args.rounds)] + (["--detail"] if args.detail else []),
                              env=dict(env, PYTHONPATH=str(app)), check=True,
                              capture_output=True, text=True)
        rounds = json.loads(done.stdout.strip().splitlines()[-1])
        cells = []
        for s in STEPS:
            stall = statistics.median(r[s] for r in rounds)
            wall = statistics.median(r[f"{s}_s"] for r in rounds)
            cells.append(f"{stall:7.1f} ms {wall:6.2f} s")
        print(f"{n:>8,} " + " ".join(f"{c:>18}" for c in cells))
        every = ", ".join(f"{s} " + "/".join(f"{r[s]:.0f}" for r in rounds) for s in STEPS)
        build = statistics.median(r["build_s"] for r in rounds)
        print(f"{'':>8} every round (ms): {every}; rows after the filter "
              f"{rounds[0]['rows_shown']:,}; Pane() built in {build * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
