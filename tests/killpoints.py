"""Kill points for the kill harness, loaded into a child `lablift` process.

Every write statement SQLite is asked to run (INSERT, UPDATE, DELETE, COMMIT, ...) and every
file rename (before and after) is a numbered point. With LABLIFT_KILL_AT=N the process
SIGKILLs itself at point N, before that statement runs or right after that rename, leaving
whatever a power cut there would leave. LABLIFT_KILL_TRACE=FILE writes the points passed
(one label a line) as they pass; LABLIFT_KILL_CHILDREN=FILE receives the pids of the process's
children at the moment of the kill, so the harness can check that none outlives it.

Run as:  python -c "import killpoints; killpoints.main()" --store S --user U COMMAND ...
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import threading

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "COMMIT", "ALTER", "DROP", "CREATE")
_kill_at = int(os.environ.get("LABLIFT_KILL_AT", "0") or 0)
_trace_path = os.environ.get("LABLIFT_KILL_TRACE")
_children_path = os.environ.get("LABLIFT_KILL_CHILDREN")
_count = 0
_lock = threading.Lock()
_trace = open(_trace_path, "a", buffering=1, encoding="utf-8") if _trace_path else None


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
