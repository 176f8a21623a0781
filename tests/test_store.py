"""The lineage store: schema, migrations, roles, artifacts, audit chain, interrupted runs."""

import os
import sqlite3

import pytest

from lablift.core import audit
from lablift.core.artifacts import ArtifactCorrupt
from lablift.core.errors import LabliftError, PermissionDenied
from lablift.core.store import Store
from lablift.core.store.migrate import HEAD


@pytest.mark.embedded_only("SQLite pragmas")
def test_new_store_uses_wal_foreign_keys_and_latest_schema(store):
    assert store.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.schema_version() == HEAD
    assert store.setting("journal_mode") == "wal"


def test_rollback_journal_can_be_chosen_for_network_drives(tmp_path):
    s = Store(tmp_path / "net", user="a", journal="delete")
    assert s.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_creator_is_admin_and_others_need_a_role(make_store, store_engine):
    admin = make_store("admin")
    assert admin.role() == "admin"
    if store_engine == "postgresql":  # the server lets mallory in, but she can read nothing
        with pytest.raises(PermissionDenied, match="mallory.*not registered"):
            make_store("mallory")
    else:
        stranger = make_store("mallory")
        assert stranger.role() is None
        with pytest.raises(PermissionDenied, match="mallory.*not registered"):
            stranger.require_role("importing datasets", "analyst")
    admin.add_user("alice", "analyst")
    alice = make_store("alice")
    assert alice.require_role("importing datasets", "analyst") == "analyst"
    with pytest.raises(PermissionDenied, match="needs the role reviewer"):
        alice.require_role("approving", "reviewer")
    with pytest.raises(PermissionDenied):
        alice.add_user("eve", "admin")


def test_unknown_role_is_refused(store):
    with pytest.raises(LabliftError, match="role 'boss'"):
        store.add_user("x", "boss")


@pytest.mark.embedded_only("a raw INSERT into users (a team store's users change only through lablift_set_role)")
def test_failed_transaction_leaves_store_as_it_was(store):
    before = store.query("SELECT COUNT(*) AS n FROM users")[0]["n"]
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.execute("INSERT INTO users (name, role, created_at) VALUES ('x','analyst','t')")
            raise RuntimeError("boom")
    assert store.query("SELECT COUNT(*) AS n FROM users")[0]["n"] == before


@pytest.mark.embedded_only("reads lineage.db with sqlite3")
def test_a_second_process_sees_committed_writes(store, store_dir):
    store.add_user("bob", "reviewer")
    other = sqlite3.connect(store_dir / "lineage.db")
    assert other.execute("SELECT role FROM users WHERE name='bob'").fetchone()[0] == "reviewer"


def test_migrations_are_recorded_and_reopening_is_idempotent(store, store_dir):
    store.close()
    again = Store(store_dir, user="admin")
    versions = [r["version"] for r in again.query("SELECT version FROM schema_version")]
    assert versions == list(range(1, HEAD + 1))


def test_store_refuses_a_file_that_is_not_sqlite(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "lineage.db").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(LabliftError, match="not a Lablift store"):
        Store(d, user="x")


@pytest.mark.embedded_only("edits the artifact file (test_team_store.py covers blobs)")
def test_artifacts_are_content_addressed_and_verified(store):
    sha = store.artifacts.put_bytes(b"hello")
    assert store.artifacts.read_bytes(sha) == b"hello"
    assert store.artifacts.put_bytes(b"hello") == sha
    path = store.artifacts.path(sha)
    path.write_bytes(b"hellO")
    with pytest.raises(ArtifactCorrupt, match="corrupt"):
        store.artifacts.read_bytes(sha)
    leftovers = [p for p in store.artifacts.root.rglob("*.tmp")]
    assert leftovers == []


@pytest.mark.embedded_only("the artifact folder")
def test_artifact_writer_failure_leaves_no_temp_file(store):
    def broken(f):
        f.write(b"partial")
        raise OSError("disk full")
    with pytest.raises(OSError):
        store.artifacts.put_writer(broken)
    assert list(store.artifacts.root.rglob("*.tmp")) == []


@pytest.mark.embedded_only("edits lineage.db by hand")
def test_audit_chain_verifies_and_detects_edits(store, store_dir):
    store.add_user("alice", "analyst")
    store.add_user("bob", "reviewer")
    result = audit.verify(store)
    assert result.ok and result.entries == 3
    conn = sqlite3.connect(store_dir / "lineage.db")
    conn.execute("UPDATE audit_log SET details = '{\"role\": \"admin\"}' WHERE seq = 2")
    conn.commit()
    broken = audit.verify(store)
    assert not broken.ok and broken.broken_seq == 2


@pytest.mark.embedded_only("edits lineage.db by hand")
def test_audit_detects_a_removed_last_entry(store, store_dir):
    store.add_user("alice", "analyst")
    conn = sqlite3.connect(store_dir / "lineage.db")
    conn.execute("DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)")
    conn.commit()
    assert not audit.verify(store).ok


@pytest.mark.embedded_only("Store.insert (test_team_store.py covers recovery)")
def test_running_run_of_a_dead_process_is_marked_interrupted(store, store_dir):
    import socket
    from lablift.core import audit, datasets
    from lablift.resources import SAMPLE_LOANS
    ds = datasets.import_dataset(store, SAMPLE_LOANS)
    dead_pid = 2 ** 22 + 12345
    while True:
        try:
            os.kill(dead_pid, 0)
            dead_pid += 1
        except ProcessLookupError:
            break
    with store.transaction():
        store.insert("runs", {"dataset_id": ds["id"], "status": "running", "spec": {},
                              "params": {}, "created_by": "admin", "created_at": "t",
                              "host": socket.gethostname(), "pid": dead_pid})
        audit.append(store, "run.start", "run:1", {})
    store.close()
    reopened = Store(store_dir, user="admin")
    assert reopened.query("SELECT status FROM runs")[0]["status"] == "interrupted"


@pytest.mark.embedded_only("a team store refuses an unregistered user at open "
                            "(test_creator_is_admin_and_others_need_a_role)")
def test_the_hint_for_an_unregistered_user_names_the_role_the_action_needs(make_store):
    make_store("admin")
    stranger = make_store("olaf")
    with pytest.raises(PermissionDenied, match="users add olaf --role ops"):
        stranger.require_role("exporting a bundle", "ops")
