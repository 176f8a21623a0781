"""The event-loop stall probe the GUI benchmarks share.

A precise 5 ms timer stamps every tick; the longest gap between ticks is the longest time
the GUI thread did not return to its event loop. Waits run the loop with QEventLoop.exec (no
app.processEvents() polling): PySide6 6.12 on Python 3.11 over-releases None on every call
of a void Qt function, and a polling loop makes thousands of such calls.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QEventLoop, Qt, QTimer

TICK_MS = 5


class TickRecorder:
    def __init__(self):
        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(lambda: self.times.append(time.perf_counter()))

    def mark(self) -> int:
        return len(self.times)

    def gaps_ms(self, start: int, end: int | None = None) -> np.ndarray:
        t = np.asarray(self.times[start:end])
        return np.diff(t) * 1000.0 if len(t) > 1 else np.zeros(1)


def run_until(signal, timeout_s: float = 600.0) -> None:
    loop = QEventLoop()
    signal.connect(loop.quit)
    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(loop.quit)
    guard.start(int(timeout_s * 1000))
    loop.exec()
    if not guard.isActive():
        raise TimeoutError("benchmark step did not finish in time")


def spin(seconds: float) -> None:
    loop = QEventLoop()
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(int(seconds * 1000))
    loop.exec()
