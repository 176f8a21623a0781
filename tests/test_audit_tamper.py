"""Editing, deleting or swapping audit rows directly in lineage.db makes `audit verify` exit 1,
naming the first broken entry; an untouched store verifies."""

import shutil
import sqlite3

import pytest

from lablift.cli import main
from lablift.core import audit

COLUMNS = ("ts", "user", "action", "entity", "details", "prev_hash", "hash")


@pytest.fixture(scope="module")
def workflow_store(tmp_path_factory):
    """A store after the full registry workflow, run through the CLI."""
    from lablift.resources import SAMPLE_LOANS
    root = tmp_path_factory.mktemp("tamper") / "store"

    def cli(user, *argv):
        assert main(["--store", str(root), "--user", user, *argv]) == 0, argv
    cli("admin", "users", "add", "alice", "--role", "analyst")
    cli("admin", "users", "add", "bob", "--role", "reviewer")
    cli("admin", "users", "add", "olga", "--role", "ops")
    cli("alice", "dataset", "import", str(SAMPLE_LOANS), "--name", "loans")
    cli("alice", "train", "--dataset", "loans", "--target", "approved", "--algorithm",
        "logistic_regression", "--cv", "2", "--sensitive", "gender")
    cli("alice", "model", "register", "1", "--name", "loan")
    cli("bob", "model", "approve", "loan:1", "--comment", "ok")
    cli("olga", "model", "alias", "loan:1", "production")
    return root


@pytest.fixture
def store_copy(workflow_store, tmp_path):
    root = tmp_path / "store"
    shutil.copytree(workflow_store, root)
    return root


def _verify(root, capsys):
    code = main(["--store", str(root), "--user", "admin", "audit", "verify"])
    out, err = capsys.readouterr()
    return code, out, err


def _db(root):
    return sqlite3.connect(root / "lineage.db", isolation_level=None)


def _rows(conn):
    return conn.execute(f"SELECT seq, {', '.join(COLUMNS)} FROM audit_log ORDER BY seq").fetchall()


def _seq_of(conn, action):
    return conn.execute("SELECT seq FROM audit_log WHERE action = ?", (action,)).fetchone()[0]


def test_untouched_store_verifies(store_copy, capsys):
    code, out, err = _verify(store_copy, capsys)
    assert code == 0, err
    with _db(store_copy) as conn:
        n = conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    assert n >= 8 and f"audit log intact: {n} entries" in out


def test_edited_details_named(store_copy, capsys):
    conn = _db(store_copy)
    seq = _seq_of(conn, "version.approve")
    before = conn.execute("SELECT details FROM audit_log WHERE seq = ?", (seq,)).fetchone()[0]
    conn.execute("UPDATE audit_log SET details = replace(details, '\"ok\"', '\"great\"') "
                 "WHERE seq = ?", (seq,))
    after = conn.execute("SELECT details FROM audit_log WHERE seq = ?", (seq,)).fetchone()[0]
    assert '"great"' in after and after != before
    conn.close()
    code, out, err = _verify(store_copy, capsys)
    assert code == 1
    assert f"audit log broken at entry {seq}: entry {seq} (version.approve " in err
    assert "was altered" in err


def test_edited_user_named(store_copy, capsys):
    conn = _db(store_copy)
    seq = _seq_of(conn, "version.approve")
    conn.execute("UPDATE audit_log SET user = 'mallory' WHERE seq = ?", (seq,))
    conn.close()
    code, out, err = _verify(store_copy, capsys)
    assert code == 1 and f"broken at entry {seq}:" in err


def test_edited_and_rehashed_row_breaks_next(store_copy, capsys):
    # A careful forger recomputes the edited row's hash; the next entry no longer follows.
    conn = _db(store_copy)
    seq = _seq_of(conn, "version.register")
    row = dict(zip(("seq",) + COLUMNS, conn.execute(
        f"SELECT seq, {', '.join(COLUMNS)} FROM audit_log WHERE seq = ?", (seq,)).fetchone()))
    details = row["details"].replace('"run": 1', '"run": 2')
    assert details != row["details"]
    h = audit.entry_hash(row["prev_hash"], seq, row["ts"], row["user"], row["action"],
                         row["entity"], details)
    conn.execute("UPDATE audit_log SET details = ?, hash = ? WHERE seq = ?", (details, h, seq))
    conn.close()
    code, out, err = _verify(store_copy, capsys)
    assert code == 1
    assert f"broken at entry {seq + 1}: entry {seq + 1}" in err and "does not follow" in err


def test_deleted_middle_row_named(store_copy, capsys):
    conn = _db(store_copy)
    seq = _seq_of(conn, "version.register")
    conn.execute("DELETE FROM audit_log WHERE seq = ?", (seq,))
    conn.close()
    code, out, err = _verify(store_copy, capsys)
    assert code == 1 and f"broken at entry {seq}: entry {seq} is missing" in err


def test_deleted_last_row_named(store_copy, capsys):
    conn = _db(store_copy)
    last = conn.execute("SELECT MAX(seq) FROM audit_log").fetchone()[0]
    conn.execute("DELETE FROM audit_log WHERE seq = ?", (last,))
    conn.close()
    code, out, err = _verify(store_copy, capsys)
    assert code == 1
    assert f"broken at entry {last}:" in err and "entries were removed" in err


def test_swapped_rows_named(store_copy, capsys):
    conn = _db(store_copy)
    rows = _rows(conn)
    a, b = rows[3], rows[6]  # swap the contents of two entries, keeping their seq
    sets = ", ".join(f"{c} = ?" for c in COLUMNS)
    conn.execute("BEGIN")
    conn.execute(f"UPDATE audit_log SET {sets} WHERE seq = ?", (*b[1:], a[0]))
    conn.execute(f"UPDATE audit_log SET {sets} WHERE seq = ?", (*a[1:], b[0]))
    conn.execute("COMMIT")
    conn.close()
    code, out, err = _verify(store_copy, capsys)
    assert code == 1 and f"broken at entry {a[0]}: entry {a[0]}" in err


def test_renumbered_rows_named(store_copy, capsys):
    # Reordering by renumbering: swap the seq of two adjacent entries.
    conn = _db(store_copy)
    rows = _rows(conn)
    s1, s2 = rows[4][0], rows[5][0]
    conn.execute("BEGIN")
    conn.execute("UPDATE audit_log SET seq = -1 WHERE seq = ?", (s1,))
    conn.execute("UPDATE audit_log SET seq = ? WHERE seq = ?", (s1, s2))
    conn.execute("UPDATE audit_log SET seq = ? WHERE seq = -1", (s2,))
    conn.execute("COMMIT")
    conn.close()
    code, out, err = _verify(store_copy, capsys)
    assert code == 1 and f"broken at entry {s1}:" in err
