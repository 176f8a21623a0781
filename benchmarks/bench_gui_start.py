"""GUI cold start: whole process, from exec to the main window's first paint, of `lablift gui`
(`python -m lablift.cli --store S gui`, which is what the `lablift` script runs) on an
embedded store holding the sample project, beside an empty PySide6 window (the floor: Python,
Qt and one top-level window) measured the same way, in the same interleaved rounds
(target: <= 0.8 s).

Run: python benchmarks/bench_gui_start.py [--rounds N] [--quick] [--store DIR] [--baseline APP]
         [--no-xvfb]

How it is timed: the benchmark notes time.time() just before it starts the process; the app,
run with LABLIFT_FIRST_PAINT_EXIT=1 (gui/app.py, for this benchmark only), prints
`first-paint <time.time()>` once the paint pass that drew the main window has ended, then
`ready <time.time()>` once the pane shown first has read the store, and closes. The empty
window prints the same two lines (ready = first paint). Each process gets a fresh
XDG_CONFIG_HOME, so no remembered geometry or pane and no recent stores from your desktop.
Platforms: QT_QPA_PLATFORM=offscreen always; also Xvfb (a real X server, the xcb platform)
when `Xvfb` is installed, unless --no-xvfb.

Without --store it makes (once) benchmarks/_data/gui_start_store with `lablift sample-project`
(the sample loans data, two runs, loans-sample:1 registered). --baseline measures another
checkout's app/ folder in the same rounds, on its own store made by that checkout (a store
the newer code made may have a schema the older one refuses), e.g. the last commit:
`git archive HEAD app | tar -x -C /tmp/before` then `--baseline /tmp/before/app` (that
checkout's gui/app.py needs the LABLIFT_FIRST_PAINT_EXIT hook: copy this one's over it).
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

HERE = Path(__file__).resolve().parent
APP = HERE.parent / "app"
DATA = HERE / "_data"
TARGET_S = 0.8
TIMEOUT_S = 60.0

# The floor, timed exactly as the app is (gui/app.py exit_after_first_paint, inlined so that
# nothing of Lablift is imported).
EMPTY_WINDOW = """
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
app.setStyle("Fusion")
window = QMainWindow()
window.setWindowTitle("empty")
window.resize(1280, 800)
def painted():
    now = time.time()
    print(f"first-paint {now:.6f}", flush=True)
    print(f"ready {now:.6f}", flush=True)
    window.close()
    app.quit()
class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if obj is window and event.type() == QEvent.Type.Paint:
            window.removeEventFilter(self)
            QTimer.singleShot(0, painted)
        return False
f = FirstPaint()
window.installEventFilter(f)
window.show()
app.exec()
"""


def make_store(path: Path, app: Path) -> Path:
    if (path / "lineage.db").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "lablift.cli", "--store", str(path), "--user",
                           "ana", "sample-project"], env={**os.environ, "PYTHONPATH": str(app)},
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: could not make the sample store {path}: "
                         f"{(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return path


def start_xvfb() -> tuple[subprocess.Popen | None, str | None, str]:
    """(process, DISPLAY, why not) for a private Xvfb server."""
    xvfb = shutil.which("Xvfb")
    if not xvfb:
        return None, None, "Xvfb is not installed"
    sys.path.insert(0, str(APP))
    from lablift.gui import system_libs
    missing = system_libs.missing_for_xcb()
    if missing:
        return None, None, system_libs.message(missing)
    for number in range(91, 120):
        if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        proc = subprocess.Popen([xvfb, f":{number}", "-screen", "0", "1920x1080x24",
                                 "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                return proc, f":{number}", ""
            time.sleep(0.05)
        proc.kill()
        proc.wait()
    return None, None, "Xvfb did not start"


CRASHES: dict[str, int] = {}  # case: processes that printed their marks, then died


def once(argv: list[str], env: dict[str, str], case: str = "") -> tuple[float, float, float]:
    """(first paint, first pane loaded, exit) in seconds after the process was started. A
    process that dies after printing both marks still counts (and is reported); one that dies
    before is an error."""
    with tempfile.TemporaryDirectory(prefix="lablift-gui-start-") as config:
        env = {**env, "XDG_CONFIG_HOME": config, "LABLIFT_FIRST_PAINT_EXIT": "1"}
        t0 = time.time()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        t_exit = time.time() - t0
    marks = dict(line.split(None, 1) for line in done.stdout.splitlines() if " " in line)
    if "ready" not in marks:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"error: {case or ' '.join(argv[-3:])} exited {done.returncode} "
                         f"before it had painted and loaded: {last}")
    if done.returncode != 0:
        CRASHES[case] = CRASHES.get(case, 0) + 1
    return (float(marks["first-paint"]) - t0, float(marks.get("ready", marks["first-paint"]))
            - t0, t_exit)


def summary(ts: list[float]) -> str:
    return f"{statistics.median(ts):6.3f} s  ({min(ts):.3f}-{max(ts):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--quick", action="store_true", help="3 rounds, offscreen only")
    ap.add_argument("--store", type=Path, help="an existing store folder to open")
    ap.add_argument("--baseline", type=Path, metavar="APP",
                    help="also time `lablift gui` from this app/ folder")
    ap.add_argument("--no-xvfb", action="store_true", help="offscreen only")
    args = ap.parse_args()
    rounds = 3 if args.quick else args.rounds
    store = args.store or make_store(DATA / "gui_start_store", APP)
    cases: dict[str, tuple[list[str], Path]] = {
        "empty PySide6 window": ([sys.executable, "-c", EMPTY_WINDOW], APP),
        "lablift gui": ([sys.executable, "-m", "lablift.cli", "--store", str(store), "--user",
                         "ana", "gui"], APP)}
    if args.baseline is not None:
        base_store = make_store(DATA / "gui_start_store_baseline", args.baseline)
        cases["baseline gui"] = ([sys.executable, "-m", "lablift.cli", "--store",
                                  str(base_store), "--user", "ana", "gui"], args.baseline)
    platforms = {"offscreen": {"QT_QPA_PLATFORM": "offscreen"}}
    xvfb, display, why = (None, None, "--quick" if args.quick else "--no-xvfb") \
        if args.quick or args.no_xvfb else start_xvfb()
    if display:
        platforms["Xvfb"] = {"QT_QPA_PLATFORM": "xcb", "DISPLAY": display}
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    try:
        times = {(p, c): ([], [], []) for p in platforms for c in cases}
        for p, penv in platforms.items():  # one warm-up each: page cache, .pyc files
            for c, (argv, app) in cases.items():
                once(argv, {**base_env, **penv, "PYTHONPATH": str(app)}, f"{p} {c}")
        for _ in range(rounds):  # interleaved, so load from other work hits all alike
            for p, penv in platforms.items():
                for c, (argv, app) in cases.items():
                    marks = once(argv, {**base_env, **penv, "PYTHONPATH": str(app)},
                                 f"{p} {c}")
                    for series, t in zip(times[p, c], marks):
                        series.append(t)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait()
    print(f"GUI cold start, whole process from exec to the first painted window: median "
          f"(min-max) of {rounds} interleaved rounds; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; store {store}")
    if not display:
        print(f"  (no Xvfb figures: {why})")
    for case, n in CRASHES.items():
        print(f"  note: {case} exited abnormally {n} time(s) after its first paint and load")
    for p in platforms:
        print(f"{p}:")
        for c in cases:
            paint, ready, gone = times[p, c]
            extra = "" if c.startswith("empty") else \
                f"   first pane loaded {statistics.median(ready):.3f} s"
            print(f"  {c:<22} first paint {summary(paint)}{extra}")
        ours = statistics.median(times[p, "lablift gui"][0])
        floor = statistics.median(times[p, "empty PySide6 window"][0])
        print(f"  {p} ratio lablift / empty window: {ours / floor:.1f}x; lablift first paint "
              f"{ours:.3f} s, target <= {TARGET_S} s: {'met' if ours <= TARGET_S else 'MISSED'}")


if __name__ == "__main__":
    main()
