"""The training job queue: jobs (train, reproduce) run one after another on a thread pool of
their own at a lower OS priority; the activity area shows progress, the queue and a live log.

Queued runs train one after another, so a queue never oversubscribes the cores that
scikit-learn and the GUI share. The queue keeps its own Tasks (not PaneBase.start): several
jobs coexist, each with its own outcome.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtWidgets import (QHBoxLayout, QListWidget, QListWidgetItem, QPlainTextEdit,
                               QProgressBar, QPushButton, QSizePolicy, QTabWidget, QVBoxLayout,
                               QWidget)

from ....core import evaluation, sweeps, train_process, training
from ....core.train_process import WARM_MODULES  # noqa: F401  (re-exported)
from ... import context_menu, palette
from ...widgets import ElidedLabel
from ...workers import Task, run_task, while_alive
from .common import MONO, STATE_ROLES
from .runs_table import read_runs

# Imported in a worker when the pane opens. The first import of scikit-learn, SciPy and
# Parquet holds the GIL for up to a few hundred ms at a time (loading shared libraries, module
# init), and so do the first Parquet read and metric: this process still prepares, records
# and shows each run (without the warm-up, the run detail after the first run stalled
# 0.5 s). The fit runs in the training process, which warms itself at the same time.
_warmed = False
_runner: train_process.TrainProcess | None = None


def train_runner() -> train_process.TrainProcess | None:
    """The training process the queue fits in (one per GUI process, reused between jobs);
    None where it cannot run (not POSIX): there the fit stays in the worker thread."""
    global _runner
    if _runner is None and train_process.available():
        _runner = train_process.TrainProcess()
        atexit.register(_runner.stop)
    return _runner


def warm_up_imports(progress=None, cancelled=None) -> list[str]:
    global _warmed
    # No cyclic collection while the imports fill the heap: a full one walks all of it,
    # holding the GIL (100-480 ms measured under load), just before gc.freeze() below takes
    # it out of the collector's reach anyway.
    paused = not _frozen and gc.isenabled()
    if paused:
        gc.disable()
    try:
        names = train_process.warm_imports(cancelled)  # imports, then a tiny compute
        runner = train_runner()
        if runner is not None:  # then the child's, not both at once: the GUI keeps a core
            try:
                runner.warm(cancelled)
            except Exception:  # a warm-up must never matter: the first job starts it again
                pass
        if not _frozen:
            _freeze_heap()
    finally:
        if paused:
            gc.enable()
    _warmed = bool(names)  # this process's imports; none if cancelled
    return names


def warm() -> bool:
    """This process and its training process have imported what a fit needs (a cancelled
    or failed warm-up of the child, or a stopped child, leaves it cold: the next pane warms
    it again)."""
    if not _warmed:
        return False
    return not train_process.available() or (_runner is not None and _runner.warmed)


# Moved out of the cyclic GC's reach: what is alive after the first warm-up (modules,
# classes: the bulk of the heap). A full collection otherwise walks all of it on whatever
# thread triggers it, holding the GIL ~0.5 s under load; with the fit in a process that was
# the GUI thread drawing the run's plots. Once per process: later garbage stays collectable.
_frozen = False


def _freeze_heap() -> None:
    global _frozen
    _frozen = True
    gc.freeze()


def lower_thread_priority(niceness: int = 10) -> None:
    """Make the calling thread nicer to the GUI thread (Linux: per-thread nice value).

    Under CPU contention the OS then schedules the GUI thread first whenever both are
    runnable, which shortens event-loop stalls while a run trains. Elsewhere: no-op.
    """
    if sys.platform.startswith("linux"):
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid),
                                                      niceness))
        except OSError:
            pass


def running_run_ids(store) -> tuple[int, ...]:
    """The runs recorded as running (a sweep's not yet computed, or training)."""
    return tuple(sorted(r["id"] for r in training.list_runs(store, status="running")))


@dataclass
class Job:
    kind: str  # train | sweep | reproduce
    label: str
    spec: dict[str, Any] | None = None
    run_id: int | None = None
    state: str = "queued"  # running, finished, failed, cancelled
    fraction: float = 0.0
    task: Task | None = None
    item: QListWidgetItem | None = None
    result: Any = None
    error: str | None = None
    extra: dict = field(default_factory=dict)
    listed: bool = False  # the runs table was re-read once its run row existed

    @property
    def tag(self) -> str:
        """Short name for progress lines: the algorithm, or what is reproduced."""
        if self.kind == "train" and self.spec:
            return self.spec["algorithm"]
        if self.kind == "sweep" and self.spec:
            return f"sweep of {self.spec['algorithm']}"
        return f"reproduce #{self.run_id}" if self.run_id is not None else self.label


class JobQueue:
    """The queue part of the Experiments pane (needs `train_pool`, `reload_runs`, `notify`)."""

    def _build_activity(self) -> QWidget:
        """Progress of the running job, Cancel, the queue and a live log."""
        activity = QWidget()
        al = QVBoxLayout(activity)
        al.setContentsMargins(10, 4, 10, 8)
        al.setSpacing(4)
        self.activity_label = ElidedLabel("Idle")  # a long message is cut, whole in its tooltip
        self._last_outcome: str | None = None  # "Finished: …" once a job has ended
        self.activity_label.setStyleSheet(palette.css_text("muted"))
        # Ignored: a long progress message must not widen the column (it is elided instead).
        self.activity_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                          QSizePolicy.Policy.Preferred)
        al.addWidget(self.activity_label)
        row = QHBoxLayout()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the running job (it is recorded as cancelled); "
                                      "queued jobs stay queued")
        self.cancel_button.clicked.connect(self.cancel_running)
        self.clear_queue_button = QPushButton("Clear queue")
        self.clear_queue_button.setToolTip("Drop the jobs that have not started")
        self.clear_queue_button.setEnabled(False)
        self.clear_queue_button.clicked.connect(self.clear_queue)
        row.addWidget(self.progress_bar, 1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.clear_queue_button)
        al.addLayout(row)
        # While a sweep runs, which of its runs are running is read every second; the runs
        # table is re-read when that changes (its runs recorded, one finished).
        self._sweep_poll = QTimer(self)
        self._sweep_poll.setInterval(1000)
        self._sweep_poll.timeout.connect(self._poll_sweep)
        self._running_seen: tuple[int, ...] = ()
        self.activity_tabs = QTabWidget()
        self.activity_tabs.setDocumentMode(True)
        self.queue_list = QListWidget()
        context_menu.install(self.queue_list, name="jobs")
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setFont(MONO)
        self.log.setMaximumBlockCount(5000)
        self.log.setPlaceholderText("Progress of training runs appears here.")
        self.activity_tabs.addTab(self.log, "Log")
        self.activity_tabs.addTab(self.queue_list, "Queue")
        al.addWidget(self.activity_tabs, 1)
        return activity

    def _enqueue(self, job: Job) -> Job:
        job.item = QListWidgetItem()
        self.queue_list.addItem(job.item)
        self.jobs.append(job)
        self._show_job(job)
        self._log(f"Queued: {job.label}")
        if not self.running_job():
            self._start_next()
        self._update_queue_buttons()
        return job

    def running_job(self) -> Job | None:
        return next((j for j in self.jobs if j.state == "running"), None)

    def queued_jobs(self) -> list[Job]:
        return [j for j in self.jobs if j.state == "queued"]

    @while_alive
    def _start_next(self) -> None:
        queued = self.queued_jobs()
        if not queued or self.running_job() or self._stopping:
            self._update_queue_buttons()
            return
        job = queued[0]
        job.state = "running"
        store = self.store
        kind, spec, run_id, extra = job.kind, job.spec, job.run_id, dict(job.extra)

        runner = train_runner()
        # The store's reads and writes stay in this thread; the fit runs in the training
        # process, so it never holds this process's GIL (the GUI thread's event loop). The
        # child reads the dataset's file itself and writes the fitted pipeline to a file:
        # neither is pickled through this process (a 50k-row forest's held it ~0.16 s).
        fit = runner.compute_for(store) if runner is not None else None

        def fn(progress, cancelled):
            lower_thread_priority()
            if kind == "train":
                return training.train(store, spec, progress, cancelled, compute_fn=fit)
            if kind == "sweep":  # one job; its runs are recorded before the first fit
                return sweeps.sweep(store, spec, progress=progress, cancelled=cancelled,
                                    **extra)
            return training.reproduce(store, run_id, progress, cancelled, compute_fn=fit)

        task = job.task = run_task(fn, pool=self.train_pool)
        task.progress.connect(lambda f, m, j=job: self._on_job_progress(j, f, m))
        task.finished.connect(lambda result, j=job: self._on_job_finished(j, result))
        task.failed.connect(lambda msg, j=job: self._on_job_failed(j, msg))
        task.cancelled.connect(lambda j=job: self._on_job_cancelled(j))
        task.done.connect(self._start_next)
        if kind == "sweep":  # the runs table follows the sweep's runs as they finish
            self._sweep_poll.start()
            task.done.connect(self._sweep_poll.stop)
        self.progress_bar.setValue(0)
        self._set_activity(f"{job.tag}: starting")
        self._log(f"Started: {job.label}")
        self._show_job(job)
        self._update_queue_buttons()

    def _show_job(self, job: Job) -> None:
        if job.item is None:
            return
        state = job.state + (f" {job.fraction:.0%}" if job.state == "running" else "")
        job.item.setText(f"[{state}]  {job.label}")
        job.item.setForeground(palette.brush(STATE_ROLES.get(job.state, "other_text")))
        if job.error:
            job.item.setToolTip(job.error)

    def _update_queue_buttons(self) -> None:
        running = self.running_job()
        self.cancel_button.setEnabled(running is not None
                                      and not running.task.is_cancel_requested())
        self.clear_queue_button.setEnabled(bool(self.queued_jobs()))
        n = len(self.queued_jobs())
        self.activity_tabs.setTabText(1, f"Queue ({n} waiting)" if n else "Queue")
        if running is None:
            self._set_activity(f"{n} queued" if n else
                               self._last_outcome or "Idle")

    def _set_activity(self, text: str) -> None:
        self.progress_bar.setTextVisible(self.running_job() is not None)
        self.activity_label.setText(text)
        self.activity_label.setToolTip(text)

    def _log(self, text: str) -> None:
        self.log.appendPlainText(f"{datetime.now().strftime('%H:%M:%S')}  {text}")
        bar = self.log.verticalScrollBar()  # follow the newest line, even from a scrolled view
        bar.setValue(bar.maximum())

    @while_alive
    def _on_job_progress(self, job: Job, fraction: float, text: str) -> None:
        job.fraction = fraction
        if fraction > 0 and not job.listed and job.kind in ("train", "reproduce"):
            # train() reports 0 while it checks the spec, before the run row exists; what
            # comes after is from the recorded run: show it in the table, status running
            # (a read of only the new run). Not a "load": that one, after the job, is the
            # reload that says the runs are shown (runs_loaded), as they ended.
            job.listed = True
            store, base, settings = self.store, self.runs_model.runs, self.arrange_settings()
            self.start("listing", lambda progress, cancelled: read_runs(store, base, settings),
                       lambda update, j=job: self._show_update(update)
                       if j.state == "running" and update.base is self.runs_model.runs
                       else None,  # the job ended, or a reload came first: that one stands
                       on_failed=lambda _message: None)  # the reload after the job tells
        self.progress_bar.setValue(round(fraction * 100))
        self._set_activity(f"{job.tag}: {text}")
        self._log(f"{job.tag}: {text}")
        self._show_job(job)

    def _finish(self, job: Job, state: str) -> None:
        job.state = state
        self._show_job(job)
        if job.kind == "reproduce" and job.run_id == self._shown_run:
            self.reproduce_button.setEnabled(True)
        self.progress_bar.setValue(0)  # the bar is for what runs; the label says how it ended
        self._last_outcome = f"{state.capitalize()}: {job.label}"
        self._update_queue_buttons()

    @while_alive
    def _on_job_finished(self, job: Job, result: Any) -> None:
        job.result = result
        self._finish(job, "finished")
        if job.kind == "train":
            run = result
            name, value, source = evaluation.primary_metric(run["task"], run["metrics"])
            score = f", {name} {value:.4f} ({source})" if value is not None else ""
            text = f"Run {run['id']} finished in {run['duration_s']:.1f} s{score}"
            self._log(text)
            self.notify(text)
            self.reload_runs(select=run["id"])
        elif job.kind == "sweep":
            self._report_sweep(result)
        else:
            self._report_reproduce(result)
            self.reload_runs(select=result.get("new_run_id") or result["run_id"])

    def _poll_sweep(self) -> None:
        if self.is_busy("load") or self.is_busy("sweep poll"):
            return
        store = self.store
        self.start("sweep poll", lambda progress, cancelled: running_run_ids(store),
                   self._on_sweep_poll, on_failed=lambda _msg: None)  # the next tick retries

    def _on_sweep_poll(self, running: tuple[int, ...]) -> None:
        if running != self._running_seen:
            self._running_seen = running
            self.reload_runs()

    def _report_sweep(self, result: dict[str, Any]) -> None:
        runs, best = result["runs"], result.get("best_run_id")
        finished = sum(r["status"] == "finished" for r in runs)
        text = f"Sweep {result['id']} {result['status']}: {finished} of {len(runs)} runs finished"
        top = next((r for r in runs if r["id"] == best), None)
        if top is not None:
            name, value, source = evaluation.primary_metric(top["task"], top["metrics"])
            text += f"; best run {best}, {name} {value:.4f} ({source})"
        self._log(text)
        failed = [r for r in runs if r["status"] == "failed"]
        if result["status"] == "finished":
            self.notify(text)
        else:  # every configuration failed: say why the first did
            why = f"\n\nRun {failed[0]['id']}: {failed[0].get('error')}" if failed else ""
            self.notify(text + why, "error", "The sweep failed")
        self.open_sweeps.add(result["id"])
        self.reload_runs(select=best or (runs[-1]["id"] if runs else None))

    @while_alive
    def _on_job_failed(self, job: Job, message: str) -> None:
        job.error = message
        self._finish(job, "failed")
        self._log(f"Failed: {job.label}: {message}")
        self.message.emit(f"{job.label} failed")
        self.reload_runs()
        what = {"train": "Training", "sweep": "The sweep"}.get(job.kind,
                                                               f"Reproducing run {job.run_id}")
        self.notify(f"{job.label}\n\n{message}", "error", f"{what} failed")

    @while_alive
    def _on_job_cancelled(self, job: Job) -> None:
        self._finish(job, "cancelled")
        self._log(f"Cancelled: {job.label}")
        self.notify(f"{job.label} cancelled")
        self.reload_runs()

    # -- quitting: the window closes -> cancel, drop the queue, let the run record itself -------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        window = self.window()
        if window is not self and window is not self._watched_window:
            window.installEventFilter(self)
            self._watched_window = window

    def eventFilter(self, obj, event) -> bool:
        if obj is self._watched_window and event.type() == QEvent.Type.Close:
            self.stop_all()
        return False

    def stop_all(self, wait_ms: int = 5000) -> bool:
        """Drop queued jobs, cancel the running one and wait (at most `wait_ms`) until it has
        recorded itself as cancelled. True if nothing is left running."""
        self._stopping = True
        self.clear_queue()
        self.cancel_running()
        if _runner is not None:  # the training process ends with the window, now (a fit
            _runner.stop()  # in it records itself cancelled; a pane opened later warms anew)
        return self.train_pool.waitForDone(wait_ms)

    def cancel_running(self) -> None:
        job = self.running_job()
        if job is not None and job.task is not None:
            job.task.cancel()
            self._log(f"Cancelling: {job.label}")
            self._set_activity(f"{job.tag}: cancelling…")
        self._update_queue_buttons()

    def clear_queue(self) -> None:
        for job in self.queued_jobs():
            job.state = "cancelled"
            job.error = "removed from the queue before it started"
            self._show_job(job)
            self._log(f"Removed from the queue: {job.label}")
        self._update_queue_buttons()
