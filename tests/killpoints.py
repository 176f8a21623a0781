"""Kill points for the kill harness, loaded into a child `lablift` process.

Every write statement SQLite is asked to run (INSERT, UPDATE, DELETE, COMMIT, ...) and every
file rename (before and after) is a numbered point. With LABLIFT_KILL_AT=N the process
SIGKILLs itself at point N, before that statement runs or right after that rename, leaving
whatever a power cut there would leave. LABLIFT_KILL_TRACE=FILE writes the points passed
(one label a line) as they pass; LABLIFT_KILL_CHILDREN=FILE receives the pids of the process's
children at the moment of the kill, so the harness can check that none outlives it.

Run as:  python -c "import killpoints; killpoints.main()" --store S --user U COMMAND ...

or through a fork server (Forkserver below): one process imports Lablift and its libraries
once, then forks a fresh child per command, which installs the points and runs the command
exactly as main() does. The harness starts ~30 commands; each would otherwise spend 1-3 s
importing pandas and scikit-learn before its first point. Imports pass no point (the harness
checks that a forked child passes the same points as a fresh interpreter).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import secrets
import selectors
import signal
import socket
import sqlite3
import subprocess
import sys
import threading

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "COMMIT", "ALTER", "DROP", "CREATE")
_kill_at = 0
_children_path: str | None = None
_count = 0
_lock = threading.Lock()
_trace = None


def _configure() -> None:
    """Read LABLIFT_KILL_* (at start, not import: a forked child gets them after import)."""
    global _kill_at, _children_path, _trace
    _kill_at = int(os.environ.get("LABLIFT_KILL_AT", "0") or 0)
    _children_path = os.environ.get("LABLIFT_KILL_CHILDREN")
    trace_path = os.environ.get("LABLIFT_KILL_TRACE")
    _trace = open(trace_path, "a", buffering=1, encoding="utf-8") if trace_path else None


def _children() -> list[int]:
    out = []
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        try:
            with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
                out += [int(p) for p in f.read().split()]
        except OSError:
            pass
    return out


def point(label: str) -> None:
    global _count
    with _lock:
        _count += 1
        n = _count
        if _trace is not None:
            _trace.write(f"{n}\t{label}\n")
    if n == _kill_at:
        if _children_path:
            with open(_children_path, "w") as f:
                f.write(" ".join(map(str, _children())))
        os.kill(os.getpid(), signal.SIGKILL)


def _on_statement(sql: str) -> None:
    text = sql.lstrip()
    if text.startswith("--"):  # a statement run by a trigger: part of its parent
        return
    head = text[:16].upper()
    if head.startswith(_WRITES) and not head.startswith("CREATE TEMP"):
        point("sql " + " ".join(text.split())[:70])


def install() -> None:
    _configure()
    connect = sqlite3.connect

    def traced_connect(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(_on_statement)
        return conn
    sqlite3.connect = traced_connect

    for name in ("replace", "rename"):
        original = getattr(os, name)

        def renamed(src, dst, *a, _original=original, _name=name, **kw):
            point(f"before {_name} {os.path.basename(str(dst))}")
            result = _original(src, dst, *a, **kw)
            point(f"after {_name} {os.path.basename(str(dst))}")
            return result
        setattr(os, name, renamed)


def main() -> None:
    install()
    from lablift.cli import main as cli_main
    sys.exit(cli_main(sys.argv[1:]))


# -- the fork server ---------------------------------------------------------------------------
# What the harness's commands import (as seen in sys.modules after each): imported once here.
WARM = ("lablift.cli", "lablift.cli.experiments", "lablift.cli.registry", "lablift.cli.bundles",
        "lablift.cli.monitoring", "lablift.core.datasets", "lablift.core.training",
        "lablift.core.sweeps", "lablift.core.registry", "lablift.core.aliases",
        "lablift.core.bundles", "lablift.core.monitoring.ingest",
        "lablift.core.monitoring.retrain", "lablift.core.fairness", "lablift.core.gates",
        "lablift.core.webhooks", "pandas", "pyarrow", "scipy.stats", "joblib",
        "sklearn.pipeline", "sklearn.compose", "sklearn.preprocessing", "sklearn.impute",
        "sklearn.model_selection", "sklearn.metrics", "sklearn.linear_model", "sklearn.tree",
        "sklearn.ensemble", "sklearn.dummy")
# not onnxruntime (nor skl2onnx, which loads it): its C++ threads do not survive a fork, and a
# forked child aborts at exit joining them


def serve(address: str) -> None:
    """The server: `python -c "import killpoints; killpoints.serve(ADDRESS)"`, stdin a pipe
    from the harness (it ends when that closes)."""
    for name in WARM:
        importlib.import_module(name)
    # the imported objects out of the collector's sight: a child's collections then leave
    # their pages shared with the server instead of copying them (gc.freeze's purpose)
    gc.collect()
    gc.freeze()
    job = _accept(address)  # returns only in a forked child
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY),
                            (1, job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        new = os.open(path, flags, 0o644)
        os.dup2(new, fd)
        os.close(new)
    os.environ.clear()
    os.environ.update(job["env"])
    os.chdir(job["cwd"])
    sys.argv = ["-c", *job["argv"]]
    main()


def _accept(address: str) -> dict:
    """Fork a child per connection (one JSON line: argv, env, cwd, stdout, stderr); answer
    its pid, then its exit code as subprocess gives it (-N: killed by signal N)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(16)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            if key.data == "stdin":
                if not sys.stdin.readline():
                    os._exit(0)  # the harness is done (its children were waited for)
            elif key.data == "accept":
                conn, _ = listener.accept()
                with conn.makefile("rb") as f:
                    job = json.loads(f.readline())
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    for other in list(sel.get_map().values()):
                        if isinstance(other.data, tuple):
                            os.close(other.fd)
                            other.data[1].close()
                    sel.close()
                    listener.close()
                    conn.close()
                    return job
                conn.sendall(b"%d\n" % pid)
                sel.register(os.pidfd_open(pid), selectors.EVENT_READ, (pid, conn))
            else:
                pid, conn = key.data
                sel.unregister(key.fd)
                os.close(key.fd)
                code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                conn.sendall(b"%d\n" % code)
                conn.close()


class Forkserver:
    """The harness's side: start(argv, env, cwd, stdout, stderr) -> Job. The server imports
    while the harness goes on (the first start waits for it)."""

    def __init__(self, env: dict):
        self.address = f"\0lablift-killpoints-{os.getpid()}-{secrets.token_hex(4)}"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"import killpoints; killpoints.serve({self.address!r})"],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._ready = False
        self._lock = threading.Lock()

    def _wait_ready(self) -> None:
        with self._lock:
            if self._ready:
                return
            line = self.proc.stdout.readline()
            if line != "ready\n":
                self.proc.kill()
                raise RuntimeError(f"the kill points' fork server did not start: {line!r} "
                                   f"(exit {self.proc.wait()})")
            self._ready = True

    def start(self, argv: list[str], env: dict, cwd: str, stdout: str, stderr: str) -> Job:
        self._wait_ready()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self.address)
        conn.sendall(json.dumps({"argv": argv, "env": env, "cwd": cwd, "stdout": stdout,
                                 "stderr": stderr}).encode() + b"\n")
        return Job(conn)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


class Job:
    """One forked command: its pid (alive until `wait` says otherwise) and its exit code."""

    def __init__(self, conn: socket.socket):
        self._conn = conn
        self._lines = conn.makefile("rb")
        self.pid = int(self._lines.readline())
        try:  # a pidfd signals this process only, even once its pid is free again
            self._pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:  # already ended and reaped
            self._pidfd = None

    def kill(self) -> None:
        if self._pidfd is not None:
            try:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float | None = None) -> int:
        self._conn.settimeout(timeout)
        line = self._lines.readline()
        if not line:
            raise RuntimeError(f"the fork server lost process {self.pid}")
        self._lines.close()
        self._conn.close()
        if self._pidfd is not None:
            os.close(self._pidfd)
        return int(line)
