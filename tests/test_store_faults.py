"""Store faults reach a user as one line: a lock held elsewhere, a read-only store, a path
that cannot be a store. Read commands never take the write lock."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time

import pytest

from lablift.cli import main
from lablift.core import audit
from lablift.core.errors import LabliftError
from lablift.core.store import Store


@pytest.fixture
def made(store_dir, sample_csv):
    assert main(["--store", str(store_dir), "--user", "admin", "dataset", "import",
                 str(sample_csv), "--name", "loans"]) == 0
    return store_dir


def _hold_write_lock(store_dir, seconds: float, until: threading.Event | None = None
                     ) -> threading.Thread:
    """Another connection holds the write lock (as a long write elsewhere would)."""
    ready = threading.Event()

    def hold():
        conn = sqlite3.connect(store_dir / "lineage.db", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        ready.set()
        if until is not None:
            until.wait(seconds)
        else:
            time.sleep(seconds)
        conn.execute("ROLLBACK")
        conn.close()
    t = threading.Thread(target=hold, daemon=True)
    t.start()
    ready.wait(5)
    return t


def test_read_commands_do_not_wait_for_a_held_write_lock(made, capsys):
    holder = _hold_write_lock(made, 3.0)
    started = time.monotonic()
    assert main(["--store", str(made), "--user", "admin", "dataset", "list"]) == 0
    assert main(["--store", str(made), "--user", "admin", "audit", "verify"]) == 0
    took = time.monotonic() - started
    holder.join()
    out, err = capsys.readouterr()
    assert "loans" in out and "waiting" not in err
    assert took < 2.5, f"read commands waited {took:.1f} s for the write lock"


def test_a_write_waits_for_the_lock_with_one_note(made, capsys):
    holder = _hold_write_lock(made, 1.5)
    assert main(["--store", str(made), "--user", "admin", "users", "add", "ann",
                 "--role", "analyst"]) == 0
    holder.join()
    err = capsys.readouterr().err
    assert err.count("note: waiting for another Lablift process to finish writing") == 1
    assert "internal error" not in err and "locked" not in err


def test_a_lock_held_too_long_is_one_error_line(made, monkeypatch):
    finished = threading.Event()
    holder = _hold_write_lock(made, 120.0, until=finished)
    env = {**os.environ, "LABLIFT_LOCK_WAIT_S": "1.5"}
    done = subprocess.run([sys.executable, "-m", "lablift.cli", "--store", str(made), "--user",
                           "admin", "users", "add", "ann", "--role", "analyst"], env=env,
                          capture_output=True, text=True, timeout=60)
    finished.set()
    holder.join()
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1
    assert lines[0].startswith("note: waiting") and len(lines) == 2
    assert lines[1].startswith("error: store ") and "is busy" in lines[1]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files anyway")
def test_read_only_store_opens_read_only(made, capsys):
    for path in [made / "lineage.db", made]:
        path.chmod(stat.S_IRUSR | stat.S_IXUSR | (stat.S_IRGRP if path.is_file() else 0))
    try:
        assert main(["--store", str(made), "--user", "admin", "dataset", "list"]) == 0
        out, err = capsys.readouterr()
        assert "loans" in out and "is read-only for you" in err
        assert main(["--store", str(made), "--user", "admin", "users", "add", "x",
                     "--role", "analyst"]) == 1
        err = capsys.readouterr().err
        assert err.strip().splitlines()[-1].startswith("error: store ")
        assert "read-only" in err and "internal error" not in err
    finally:
        made.chmod(0o755)
        (made / "lineage.db").chmod(0o644)


def test_read_only_store_simulated(made, monkeypatch, capsys):
    # root ignores file modes: make os.access say what a read-only mount would
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode == os.W_OK
                        and str(p).startswith(str(made)) else real(p, mode, **kw))
    store = Store(made, user="admin")
    assert store.read_only and "read-only for you" in store.note
    assert store.query("SELECT name FROM datasets")[0]["name"] == "loans"
    with pytest.raises(LabliftError, match="read-only"):
        store.add_user("x", "analyst")


def test_store_under_a_file_is_one_error_line(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["--store", str(afile / "sub"), "dataset", "list"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"error: cannot create store {afile / 'sub'}: {afile} is a file, " \
                          f"not a folder"


def test_a_database_that_is_not_a_store(tmp_path, capsys):
    folder = tmp_path / "other"
    folder.mkdir()
    conn = sqlite3.connect(folder / "lineage.db")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    assert main(["--store", str(folder), "dataset", "list"]) == 1
    assert "not a Lablift store" in capsys.readouterr().err


def test_open_where_nothing_died_writes_nothing(made):
    before = (made / "lineage.db").stat().st_mtime_ns, _wal_size(made)
    for _ in range(3):
        Store(made, user="admin").close()
    assert audit.head(Store(made, user="admin"))["seq"] >= 2
    assert ((made / "lineage.db").stat().st_mtime_ns, _wal_size(made)) == before


def _wal_size(folder) -> int:
    wal = folder / "lineage.db-wal"
    return wal.stat().st_size if wal.exists() else 0
