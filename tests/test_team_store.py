"""A team store through Lablift's own API: artifacts in the database (chunked, verified,
uploaded with the row that names them), identity from the server, schema checks on open,
`store migrate`, recovery of a dead process's run, and the same lifecycle as an embedded
store with `audit verify` passing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import psycopg
import pytest

import pg
from lablift.cli import main
from lablift.core import audit, datasets, training
from lablift.core.artifacts import CHUNK, ArtifactCorrupt
from lablift.core.errors import LabliftError
from lablift.core.store import Store, migrate, team
from lablift.core.store.blobs import DatabaseArtifacts
from lablift.resources import SAMPLE_LOANS


@pytest.fixture
def url(pg_database):
    team.init(pg_database)
    return pg_database


def _blob_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0]


def test_artifacts_live_in_the_database_in_chunks_and_are_verified(url):
    store = Store(url)
    try:
        assert isinstance(store.artifacts, DatabaseArtifacts)
        data = os.urandom(CHUNK * 2 + 123)
        with store.transaction():
            sha = store.artifacts.put_bytes(data)
            audit.append(store, "test.blob", f"blob:{sha[:12]}", {})
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT size, chunks FROM blobs WHERE sha256 = %s",
                                [sha]).fetchone() == (len(data), 3)
        other = Store(url)  # another session (no pending copy, no cache entry yet)
        assert other.artifacts.read_bytes(sha) == data
        path = other.artifacts.verified_path(sha)
        assert path.read_bytes() == data
        path.write_bytes(b"x" + data[1:])  # a tampered cached copy is fetched again
        assert other.artifacts.verified_path(sha).read_bytes() == data
        other.close()

        # Even the owner cannot change a blob; past the triggers, a changed chunk is caught.
        with psycopg.connect(url, autocommit=True) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute("UPDATE blob_chunks SET data = '\\x00' WHERE n = 1")
            conn.execute("SET session_replication_role = replica")
            conn.execute("UPDATE blob_chunks SET data = '\\x00' WHERE sha256 = %s AND n = 1",
                         [sha])
        third = Store(url)
        third.artifacts.discard(sha)  # drops the cached copy: read from the server
        with pytest.raises(ArtifactCorrupt, match="corrupt"):
            third.artifacts.read_bytes(sha)
        third.close()
    finally:
        store.close()


def test_a_blob_is_stored_only_with_the_row_that_names_it(url):
    store = Store(url)
    try:
        store.artifacts.put_bytes(b"never recorded")
        with pytest.raises(RuntimeError):
            with store.transaction():
                store.artifacts.put_bytes(b"rolled back")
                raise RuntimeError("boom")
        assert _blob_rows(url) == 0
        calls = []
        with pytest.raises(datasets.Cancelled):
            datasets.import_dataset(store, SAMPLE_LOANS,
                                    cancelled=lambda: calls.append(1) or len(calls) >= 3)
        # what this thread put went with its rolled-back transaction; the cancelled
        # import's Parquet (written by a worker thread) is not uploaded by the next commit
        store.add_user("ana", "analyst")
        assert _blob_rows(url) == 0
        ds = datasets.import_dataset(store, SAMPLE_LOANS, name="loans")
        assert _blob_rows(url) == 1
        assert datasets.load_frame(store, ds).shape[0] == ds["rows"]
    finally:
        store.close()


def test_identity_is_the_server_s(url, monkeypatch, capsys):
    store = Store(url)
    me = store.user
    store.close()
    monkeypatch.setenv("LABLIFT_USER", "mallory")
    with pytest.raises(LabliftError, match="you are who the database server says"):
        Store(url)
    code = main(["--store", url, "dataset", "list"])
    assert code == 1 and "cannot act as 'mallory'" in capsys.readouterr().err
    monkeypatch.setenv("LABLIFT_USER", me)
    Store(url).close()


def test_schema_older_or_newer_than_the_client_is_refused_until_migrated(pg_database,
                                                                          capsys):
    team._in_transaction(pg_database, "test", lambda conn: team._upgrade(conn, 4))
    with pytest.raises(LabliftError, match="has schema 4 .*store migrate"):
        Store(pg_database)
    assert main(["store", "migrate", pg_database]) == 0
    assert f"upgraded from schema 4 to {migrate.HEAD}" in capsys.readouterr().out
    assert main(["store", "migrate", pg_database]) == 0
    assert f"at schema {migrate.HEAD} already" in capsys.readouterr().out
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(LabliftError, match="newer than this Lablift"):
        Store(pg_database)
    assert main(["store", "migrate", pg_database]) == 1
    assert "newer than this Lablift" in capsys.readouterr().err


def test_a_dead_process_s_run_is_marked_interrupted_on_next_open(url):
    admin = Store(url)
    admin.add_user("ana_r", "analyst")
    admin.close()
    ana_url = pg.with_user(url, "ana_r")
    ana = Store(ana_url)
    ds = datasets.import_dataset(ana, SAMPLE_LOANS, name="loans")
    from lablift.core.store.sql import repository
    run_sql = repository("runs")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])  # a pid nobody runs now
    dead.wait()
    dead_pid = dead.pid
    with ana.transaction() as conn:
        run_sql.START.execute(conn, ana.engine, {
            "dataset_id": ds["id"], "spec": "{}", "params": "{}", "created_by": "ana_r",
            "created_at": "t", "started_at": "t", "host": socket.gethostname(),
            "pid": dead_pid, "environment": "{}", "details": "{}"})
        audit.append(ana, "run.start", "run:1", {})
    ana.close()
    again = Store(ana_url)
    try:
        (run,) = training.list_runs(again)
        assert run["status"] == "interrupted"
        assert audit.entries(again, limit=1)[0]["action"] == "run.interrupted"
        assert audit.verify(again).ok
    finally:
        again.close()


def test_recovery_is_left_to_a_role_that_may_make_it(url):
    """A reviewer opening the store on the host where an analyst's process died does not try
    the correction the server would refuse her; the analyst's next open makes it."""
    admin = Store(url)
    admin.add_user("ana_q", "analyst")
    admin.add_user("rita_q", "reviewer")
    admin.close()
    ana = Store(pg.with_user(url, "ana_q"))
    ds = datasets.import_dataset(ana, SAMPLE_LOANS, name="loans")
    from lablift.core.store.sql import repository
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with ana.transaction() as conn:
        repository("runs").START.execute(conn, ana.engine, {
            "dataset_id": ds["id"], "spec": "{}", "params": "{}", "created_by": "ana_q",
            "created_at": "t", "started_at": "t", "host": socket.gethostname(),
            "pid": dead.pid, "environment": "{}", "details": "{}"})
        audit.append(ana, "run.start", "run:1", {})
    ana.close()
    rita = Store(pg.with_user(url, "rita_q"))  # opens fine, corrects nothing
    assert training.list_runs(rita)[0]["status"] == "running"
    rita.close()
    again = Store(pg.with_user(url, "ana_q"))
    assert training.list_runs(again)[0]["status"] == "interrupted"
    again.close()
