"""Fit in a worker process: `TrainProcess.compute` is a drop-in for `training.compute`.

The GUI trains through it so a fit never holds the GUI process's GIL. One long-lived child
(`python -m lablift.core.train_process`) is reused between jobs: starting a Python and
importing scikit-learn costs seconds, so `warm()` starts it and imports ahead of the first
run. Store access stays in the caller (prepare, record_start, record_finish): the child
only ever sees a `Prepared` and returns `compute`'s result dict.

What crosses stays small (core/train_files.py): unpickling a 100 MB fitted forest held the
GUI process's GIL for 165 ms. With `compute_for(store)` the child reads the dataset version's
Parquet file itself (path and sha256 sent, not the frame); result bytes over SPILL_BYTES (the
pickled pipeline) come back as a file in this TrainProcess's spill folder.

Protocol, pickled messages on a socketpair (multiprocessing.connection framing):
  parent -> child: ("warm",) | ("compute", Prepared, data file or None) | ("cancel",)
                   | ("stop",)
  child -> parent: ("warmed", names) | ("progress", fraction, text) | ("done", result)
                   | ("error", exception or None, type name, text)
A cancel is polled by the child at compute's steps; a fit that does not reach one within
`grace_s` is ended by killing the child (a new one starts for the next job). A child that
dies mid-job (killed, segfault) raises TrainingProcessDied naming how it ended; what it left
in the spill folder is removed.

POSIX only (the socket is inherited by fd); `available()` says whether it can be used.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

from . import train_files
from .errors import Cancelled, LabliftError

Progress = Callable[[float, str], None]
IsCancelled = Callable[[], bool]

# What the first fit would otherwise import mid-run (loading shared libraries, module init).
WARM_MODULES = ("sklearn.base", "sklearn.model_selection", "sklearn.metrics", "sklearn.pipeline",
                "sklearn.compose", "sklearn.impute", "sklearn.preprocessing",
                "sklearn.calibration", "scipy.stats", "pyarrow.parquet",
                "pyarrow.dataset")  # pq.read_table's first call imports it: ~0.2 s of GIL
POLL_S = 0.05  # how often the waiting thread looks at the cancel flag and the child
NICENESS = 10  # the child yields the CPU to the GUI process


def _dumps(obj: Any) -> bytes:
    """Pickle for the child with numpy dtypes by name: unpickled, a plain dtype is then numpy's
    own instance (pickle's default copies it), so a pipeline fitted on the data pickles to the
    same bytes as one fitted in this process (pickle memoizes by identity)."""
    import io

    import numpy as np

    class _Pickler(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, np.dtype) and obj.fields is None and obj.metadata is None:
                plain = np.dtype(obj.str)
                if plain == obj:
                    return np.dtype, (obj.str,)
            return NotImplemented

    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getbuffer()


class TrainingProcessDied(LabliftError):
    """The training process ended in the middle of a job."""


class _RemoteError(LabliftError):
    """An error raised in the child whose exception could not be pickled back."""


def available() -> bool:
    return os.name == "posix"


def warm_module_names() -> list[str]:
    from . import catalogue
    return list(WARM_MODULES) + sorted({path.rpartition(".")[0]
                                        for algo in catalogue.ALGORITHMS.values()
                                        for path in algo.estimators.values()})


def warm_imports(cancelled: IsCancelled | None = None) -> list[str]:
    """Import what a fit needs, then run a tiny compute (its lazy imports and caches)."""
    names = warm_module_names()
    for name in names:
        if cancelled is not None and cancelled():
            return []
        importlib.import_module(name)
    try:
        tiny_compute()
    except Exception:  # a warm-up must never matter
        pass
    return names


def tiny_compute() -> None:
    """What a run does first: a Parquet read, a stratified split, a compute, the environment
    (each first call initialises caches, holding the GIL of the process running it)."""
    import io

    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.model_selection import train_test_split

    from . import training
    rng = np.random.default_rng(0)
    n = 60
    buf = io.BytesIO()
    pq.write_table(pa.table({"a": rng.normal(size=n),
                             "c": np.array(["x", "y", "z"])[np.arange(n) % 3]}), buf)
    X = pq.read_table(pa.BufferReader(buf.getvalue())).to_pandas()
    y = pd.Series(np.arange(n) % 2)
    train_test_split(np.arange(n), test_size=0.25, random_state=0, stratify=y.to_numpy())
    training.environment()
    profile = {"rows": n, "columns": [{"name": "a", "kind": "numeric", "dtype": "double"},
                                      {"name": "c", "kind": "categorical", "dtype": "string"}]}
    spec = {"dataset_id": 0, "target": "t", "features": ["a", "c"], "algorithm": "decision_tree",
            "params": {}, "task": "classification", "test_size": 0.25, "cv": 2, "seed": 0,
            "sensitive": None, "classes": [0, 1]}
    rows = np.arange(n)
    training.compute(training.Prepared(spec=spec, dataset={}, profile=profile, X=X, y=y,
                                       train_rows=rows[:45], test_rows=rows[45:]))


def describe_exit(code: int | None) -> str:
    if code is None:
        return "it stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = {"SIGKILL": " (out of memory, or killed by another process)",
               "SIGSEGV": " (a crash in native code)", "SIGABRT": " (a crash in native code)",
               "SIGTERM": " (terminated)"}.get(name, "")
        return f"it was killed by {name}{why}"
    return f"it exited with code {code}"


class TrainProcess:
    """One reusable training child. Thread-safe: one job at a time (others wait their turn)."""

    def __init__(self, grace_s: float = 0.5, start_timeout_s: float = 120.0):
        self.grace_s = grace_s
        self.start_timeout_s = start_timeout_s
        self._lock = threading.Lock()  # one exchange with the child at a time
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self.warmed = False  # the current child has imported what a fit needs
        self.started = 0  # children started so far (a test's window into reuse)
        self._stopped = False  # stop() was called: a child's end is then a cancel
        self._spill: str | None = None  # the folder the child writes large results to
        self.last_request_bytes = 0  # size of the last compute request (a test's window)
        self.last_spilled: tuple[str, ...] = ()  # result keys the last job sent as files

    # -- lifetime --------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def _spawn(self) -> None:
        if self._spill is None or not os.path.isdir(self._spill):
            self._spill = train_files.new_spill_folder()
            # removed with this object, or at exit
            weakref.finalize(self, shutil.rmtree, self._spill, True)
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # the folder holding `lablift`
        env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "lablift.core.train_process", str(theirs.fileno()),
                 str(os.getpid()), self._spill], pass_fds=(theirs.fileno(),), env=env,
                stdin=subprocess.DEVNULL, close_fds=True)
        except OSError as exc:
            ours.close()
            raise LabliftError(f"cannot start the training process ({sys.executable}): "
                               f"{exc}") from exc
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self.warmed = False
        self.started += 1

    def start(self) -> int:
        """Start the child now if none runs (no imports yet); its pid."""
        with self._lock:
            self._stopped = False
            self._ensure()
            return self._proc.pid

    def _ensure(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            self._discard()
            self._spawn()

    def _discard(self, kill: bool = False) -> int | None:
        """Forget the child (killing it if asked); its exit code, if it has one."""
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        self.warmed = False
        code = None
        if proc is not None:
            if kill and proc.poll() is None:
                proc.kill()
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            train_files.clear_folder(self._spill)
        if conn is not None:
            conn.close()
        return code

    def stop(self) -> None:
        """End the child now, whatever it does (a running job then raises Cancelled).

        Does not take the lock: it is how a caller interrupts a job another thread waits on."""
        proc = self._proc
        self._stopped = True
        self.warmed = False  # whatever comes next starts a new, cold child
        if proc is not None and proc.poll() is None:
            proc.kill()

    # -- requests --------------------------------------------------------------------------
    def _acquire(self, cancelled: IsCancelled | None) -> None:
        while not self._lock.acquire(timeout=POLL_S):
            if cancelled is not None and cancelled():
                raise Cancelled("cancelled by the user")

    def warm(self, cancelled: IsCancelled | None = None) -> list[str]:
        """Start the child (if needed) and have it import what a fit needs."""
        self._acquire(cancelled)
        try:
            self._stopped = False
            self._ensure()
            if self.warmed:
                return []
            self._conn.send(("warm",))
            reply = self._wait(None, cancelled, "warming up")
            self.warmed = True
            return reply[1]
        finally:
            self._lock.release()

    def compute(self, p, progress: Progress | None = None,
                cancelled: IsCancelled | None = None,
                data: dict[str, Any] | None = None) -> dict[str, Any]:
        """`training.compute(p, progress, cancelled)`, fitted in the child. With `data`
        (`data_file`), `p`'s frames stay here: the child reads them from that file."""
        if cancelled is not None and cancelled():  # e.g. stopped while it prepared
            raise Cancelled("cancelled by the user")
        if data is not None:
            p = dataclasses.replace(p, X=None, y=None, sensitive=None)
        self._acquire(cancelled)
        try:
            self._stopped = False
            self._ensure()
            request = _dumps(("compute", p, data))
            self.last_request_bytes = len(request)
            try:
                self._conn.send_bytes(request)
            except OSError:  # died between jobs: one fresh start
                self._discard(kill=True)
                self._ensure()
                self._conn.send_bytes(request)
            reply = self._wait(progress, cancelled, "training")
            self.warmed = True
            self.last_spilled = tuple(reply[1].get("_spilled") or ())
            return train_files.read_spilled(reply[1])
        finally:
            self._lock.release()

    def compute_for(self, store) -> Callable[..., dict[str, Any]]:
        """A `compute_fn` for `training.train`/`reproduce` on `store`, whose Prepared holds its
        dataset version's rows as stored: the child reads them from the Parquet file."""
        def compute(p, progress: Progress | None = None,
                    cancelled: IsCancelled | None = None) -> dict[str, Any]:
            return self.compute(p, progress, cancelled, data=train_files.data_file(store, p))
        return compute

    def _wait(self, progress: Progress | None, cancelled: IsCancelled | None,
              doing: str) -> tuple:
        """Relay progress until the job's answer; cancel, kill and death handled here."""
        conn, deadline = self._conn, None
        started = time.monotonic()
        while True:
            try:
                ready = conn.poll(POLL_S)
                msg = conn.recv() if ready else None
            except (EOFError, OSError):
                msg = ("died",)
            if msg is not None:
                kind = msg[0]
                if kind == "progress":
                    if progress is not None:
                        progress(msg[1], msg[2])
                    continue
                if kind in ("done", "warmed"):
                    return msg
                if kind == "error":
                    exc = msg[1] or _RemoteError(f"{msg[2]}: {msg[3]}")
                    raise exc
                # the child is gone: told to go (cancel, stop), or it crashed
                code = self._discard(kill=True)
                if deadline is not None or self._stopped or (cancelled and cancelled()):
                    raise Cancelled("cancelled by the user")
                raise TrainingProcessDied(f"the training process ended while {doing}: "
                                          f"{describe_exit(code)}")
            now = time.monotonic()
            if deadline is None and cancelled is not None and cancelled():
                deadline = now + self.grace_s
                try:
                    conn.send(("cancel",))
                except OSError:
                    pass  # already dead: the next poll sees EOF
            if deadline is not None and now > deadline:  # no step came: end the fit
                self._discard(kill=True)
                raise Cancelled("cancelled by the user")
            if doing == "warming up" and now - started > self.start_timeout_s:
                self._discard(kill=True)
                raise TrainingProcessDied(f"the training process did not warm up in "
                                          f"{self.start_timeout_s:.0f} s")


# -- the child ---------------------------------------------------------------------------------

def _send_error(conn: Connection, exc: BaseException) -> None:
    text = str(exc)
    try:
        conn.send(("error", exc, type(exc).__name__, text))
    except Exception:  # the exception does not pickle: its name and text do
        conn.send(("error", None, type(exc).__name__, text))


def _serve(conn: Connection, spill: str) -> None:
    cancel = False

    def cancelled() -> bool:
        nonlocal cancel
        while not cancel and conn.poll(0):
            if conn.recv()[0] in ("cancel", "stop"):
                cancel = True
        return cancel

    def progress(fraction: float, text: str) -> None:
        conn.send(("progress", float(fraction), str(text)))

    while True:
        try:
            data = conn.recv_bytes()
        except EOFError:
            return
        cancel = False
        try:
            msg = pickle.loads(data)  # inside: a request that fails to unpickle is its error
            kind = msg[0]
            if kind == "stop":
                return
            if kind == "warm":
                conn.send(("warmed", warm_imports()))
            elif kind == "compute":
                from . import training
                p = msg[1] if msg[2] is None else train_files.read_data(msg[1], msg[2])
                result = training.compute(p, progress, cancelled)
                conn.send(("done", train_files.spill(result, spill)))
        except BaseException as exc:  # sent back, raised in the parent as in-thread
            _send_error(conn, exc)
            if not isinstance(exc, Exception):
                raise


def main(argv: list[str]) -> int:
    fd, parent, spill = int(argv[0]), int(argv[1]), argv[2]
    try:  # before any thread starts: on Linux threads inherit it
        os.setpriority(os.PRIO_PROCESS, 0, max(os.getpriority(os.PRIO_PROCESS, 0), NICENESS))
    except OSError:
        pass
    from .parent_watch import watch
    watch(parent)
    _serve(Connection(fd), spill)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
