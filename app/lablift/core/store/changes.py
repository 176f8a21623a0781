"""Word of what colleagues changed: a watcher that waits for new audit entries.

Every change of state appends an audit entry, so "what changed" is "which entries are new".
A team store announces each entry on commit (NOTIFY lablift, migration 0005) and the
watcher LISTENs on a connection of its own; an embedded store has no server to tell it, so
the watcher reads the chain's head every `poll_s` (one indexed query on the last row).

`wait(timeout)` blocks (call it from a worker thread, never the GUI's) and returns the new
entries as {seq, action, entity}, oldest first, or [] when nothing new arrived (at the
latest after `timeout`; sooner when a notice was for entries already read).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from . import is_url

CHANNEL = "lablift"


class ChangeWatcher:
    def __init__(self, location: str | Path, poll_s: float = 1.0):
        self.location = str(location)
        self.poll_s = poll_s
        self.team = is_url(self.location)
        self._conn = None
        self.seq = self._head()

    def _connection(self):
        if self._conn is None:
            if self.team:
                import psycopg
                self._conn = psycopg.connect(self.location, autocommit=True,
                                             connect_timeout=10)
                self._conn.execute(f"LISTEN {CHANNEL}")
            else:
                db = Path(self.location) / "lineage.db"
                self._conn = sqlite3.connect(db.absolute().as_uri() + "?mode=ro", uri=True,
                                             timeout=5, check_same_thread=False)
        return self._conn

    def _head(self) -> int:
        row = self._connection().execute(
            "SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        return row[0] if row else 0

    def _since(self, seq: int) -> list[dict[str, Any]]:
        mark = "%s" if self.team else "?"
        return [{"seq": s, "action": a, "entity": e} for s, a, e in self._connection().execute(
            f"SELECT seq, action, entity FROM audit_log WHERE seq > {mark} ORDER BY seq",
            (seq,)).fetchall()]

    def wait(self, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        if self.team:
            conn = self._connection()
            heard = []
            for note in conn.notifies(timeout=timeout, stop_after=1):
                heard.append(json.loads(note.payload))
            if not heard:
                return []
            # One notice can stand for a burst: read what is new since the last seen entry.
            new = self._since(self.seq)
        else:
            while True:
                head = self._head()
                if head != self.seq:
                    new = self._since(self.seq)
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                time.sleep(min(self.poll_s, left))
        if new:
            self.seq = new[-1]["seq"]
        return new

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
