"""The longest GUI-thread stall while the Experiments pane opens for the first time.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_pane_open.py --baseline /tmp/before_app
        [--rounds 5] [--store DIR]

Each round starts fresh processes, alternating the `lablift` package under `app/` with the one
under the baseline folder (e.g. a copy of app/ with the files from before a change), so both
see the same load. In each process the window opens on the Datasets pane and settles; then a
precise 5 ms QTimer ticks while the Experiments pane is opened (as Ctrl+2 does) until its runs
table is shown and the selected run's four panels are drawn, plus 0.5 s. The longest gap
between ticks is the longest time the window could not repaint. Printed: per side the median
of the longest gap and of the time until the panels were drawn, and after/before ratios.

Without --baseline: one process on app/, its figures as JSON. --child runs one measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
APP = HERE.parent / "app"
TAIL_S = 0.5
KEYS = ("build_ms", "table_gap_ms", "max_gap_ms", "p99_gap_ms", "table_s", "drawn_s")


def child(store: str) -> dict:
    sys.path.insert(0, str(HERE))
    import threading

    class FirstImport:  # which thread imports matplotlib first
        thread = None

        def find_spec(self, name, path=None, target=None):
            if name == "matplotlib" and FirstImport.thread is None:
                FirstImport.thread = threading.current_thread().name
            return None
    sys.meta_path.insert(0, FirstImport())
    from gui_probe import TickRecorder, spin
    from PySide6.QtCore import QEventLoop, QTimer

    from lablift.core.store import Store
    from lablift.gui.app import _application
    from lablift.gui.main_window import MainWindow

    def wait_until(cond, timeout_s: float = 120.0) -> None:
        loop, deadline = QEventLoop(), time.perf_counter() + timeout_s
        poll = QTimer()
        poll.setInterval(5)
        poll.timeout.connect(lambda: loop.quit() if cond() or time.perf_counter() > deadline
                             else None)
        poll.start()
        loop.exec()
        if not cond():
            raise TimeoutError("the pane did not settle")

    app = _application()
    window = MainWindow(Store(store, user="ana"), restore_state=False, owns_store=True)
    window.resize(1280, 800)
    window.show()
    wait_until(lambda: not window.is_busy())
    spin(1.0)  # the first pane's idle work
    ticks = TickRecorder()
    stacks: dict[str, int] = {}
    if os.environ.get("BENCH_PANE_STACKS"):  # sample the GUI thread's stack while it stalls
        import traceback
        main_id = threading.main_thread().ident

        def sample() -> None:
            while not stop.is_set():
                time.sleep(0.01)
                if ticks.times and time.perf_counter() - ticks.times[-1] > 0.05:
                    frame = sys._current_frames().get(main_id)
                    key = "".join(traceback.format_stack(frame, limit=14)) if frame else "?"
                    stacks[key] = stacks.get(key, 0) + 1
        stop = threading.Event()
        threading.Thread(target=sample, daemon=True).start()
    ticks.timer.start()
    spin(0.2)
    start = ticks.mark()
    t0 = time.perf_counter()
    window.pane_actions["experiments"].trigger()  # builds and shows the pane
    build_ms = (time.perf_counter() - t0) * 1000.0
    pane = window.panes.built("experiments")
    wait_until(lambda: pane.runs_model.rowCount() > 0)
    table_at = ticks.mark()
    t_table = time.perf_counter() - t0

    def drawn() -> bool:
        panels = pane.detail_canvas
        built = getattr(panels, "is_built", lambda: True)()
        return (not pane.is_busy() and built and pane.current_run_id() is not None
                and bool(panels.figure.axes))
    wait_until(drawn)
    t_drawn = time.perf_counter() - t0
    spin(TAIL_S)
    gaps = ticks.gaps_ms(start - 1)  # from the last tick before the click
    ticks.timer.stop()
    worst = int(gaps.argmax())
    worst_at = ticks.times[start - 1 + worst] - t0  # when the longest gap began, from the click
    out = {"build_ms": build_ms, "table_s": t_table,
           "table_gap_ms": float(ticks.gaps_ms(start - 1, table_at + 1).max()),
           "max_gap_ms": float(gaps.max()),
           "p99_gap_ms": float(sorted(gaps)[int(len(gaps) * .99)]),
           "drawn_s": t_drawn, "importer": FirstImport.thread, "worst_at_s": worst_at}
    if stacks:
        for key, n in sorted(stacks.items(), key=lambda kv: -kv[1])[:6]:
            print(f"--- {n} samples (10 ms each)\n{key}", file=sys.stderr)
    window.close()
    app.quit()
    return out


def run_child(app_dir: Path, store: str, pycache: str) -> dict:
    # Bytecode cached (outside the source tree) as an installed package has it: else every
    # fresh process compiles the package's modules while the pane is built.
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(app_dir),
           "XDG_CONFIG_HOME": tempfile.mkdtemp(prefix="bench_pane_cfg_"),
           "PYTHONPYCACHEPREFIX": pycache}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run([sys.executable, __file__, "--child", "--store", store], env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"error: the measurement failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_store() -> str:
    where = Path(tempfile.mkdtemp(prefix="bench_pane_")) / "store"
    env = {**os.environ, "PYTHONPATH": str(APP)}
    subprocess.run([sys.executable, "-m", "lablift.cli", "--store", str(where), "--user", "ana",
                    "sample-project"], env=env, check=True, capture_output=True, timeout=600)
    return str(where)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="a folder holding the lablift package "
                        "to compare with (as app/ does)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--store", help="a store with runs (default: a new sample project)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.store)))
        return
    store = args.store or make_store()
    caches = {side: tempfile.mkdtemp(prefix=f"bench_pane_pyc_{side}_")
              for side in ("before", "after")}
    if args.baseline is None:
        run_child(APP, store, caches["after"])  # unmeasured: writes the bytecode cache
        print(json.dumps(run_child(APP, store, caches["after"])))
        return
    sides = {"before": args.baseline, "after": APP}
    for side in sides:
        run_child(sides[side], store, caches[side])  # unmeasured: writes the bytecode cache
    seen: dict[str, list[dict]] = {"before": [], "after": []}
    for i in range(args.rounds):
        order = ("before", "after") if i % 2 == 0 else ("after", "before")
        for side in order:
            seen[side].append(run_child(sides[side], store, caches[side]))
            r = seen[side][-1]
            print(f"round {i + 1} {side:6}: pane built in {r['build_ms']:6.1f} ms, longest gap "
                  f"until the runs table shows {r['table_gap_ms']:6.1f} ms, until the panels "
                  f"are drawn {r['max_gap_ms']:6.1f} ms; panels drawn "
                  f"after {r['drawn_s']:.2f} s, matplotlib imported on {r['importer']}, "
                  f"longest gap began at "
                  f"{r['worst_at_s']:.2f} s",
                  flush=True)
    print()
    med = {s: {k: statistics.median(r[k] for r in seen[s])
               for k in KEYS} for s in seen}
    for s in ("before", "after"):
        print(f"{s:6} median: " + ", ".join(f"{k} {med[s][k]:.3g}" for k in KEYS))
    print("after/before: " + ", ".join(f"{k} {med['after'][k] / med['before'][k]:.2f}"
                                       for k in KEYS)
          + f" ({args.rounds} interleaved rounds, fresh processes, medians)")


if __name__ == "__main__":
    main()
