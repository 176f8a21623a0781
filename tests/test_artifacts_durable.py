"""Artifacts are durable before a row names them: put_many (a run's three files at once) and
put_writer (hashed while written) keep "written, fsynced, renamed, folder fsynced" in that
order, leave nothing behind on failure, and a run's row commits only after all of it."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from types import SimpleNamespace

import pytest

from lablift.core import artifacts, audit, training
from lablift.core.artifacts import SMALL, ArtifactStore
from lablift.core.store import Store, utcnow

BIG = os.urandom(SMALL * 4)  # hashed in a thread while it is written
SMALL_A, SMALL_B = b"holdout predictions", b'{"plots": []}'


@pytest.fixture
def journal(monkeypatch):
    """Every fsync (file or folder) and rename put_many makes, in order."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_dir = os.fsync, os.replace, artifacts.fsync_dir

    def fsync(fd):
        proc = f"/proc/self/fd/{fd}"
        events.append(("fsync", os.readlink(proc) if os.path.exists(proc) else str(fd)))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("rename", str(src)))
        events.append(("named", str(dst)))
        return real_replace(src, dst)

    def fsync_dir(path):
        events.append(("dir", str(path)))
        return real_dir(path)
    monkeypatch.setattr(artifacts.os, "fsync", fsync)
    monkeypatch.setattr(artifacts.os, "replace", replace)
    monkeypatch.setattr(artifacts, "fsync_dir", fsync_dir)
    return events


def _leftovers(root) -> list:
    return [p for p in root.rglob("*") if p.is_file() and ".claims" not in p.parts
            and p.name.endswith(".tmp")]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads fd paths from /proc")
def test_put_many_fsyncs_each_file_before_its_rename_and_each_folder_after(tmp_path, journal):
    store = ArtifactStore(tmp_path / "artifacts")
    shas = store.put_many([BIG, SMALL_A, SMALL_B])

    assert shas == [hashlib.sha256(d).hexdigest() for d in (BIG, SMALL_A, SMALL_B)]
    for sha, data in zip(shas, (BIG, SMALL_A, SMALL_B)):
        assert store.path(sha).read_bytes() == data
    renames = [i for i, (kind, _) in enumerate(journal) if kind == "rename"]
    assert len(renames) == 3
    for i in renames:  # the temporary file was fsynced before it got its name
        tmp = journal[i][1]
        assert ("fsync", tmp) in journal[:i]
    last_rename = renames[-1]
    folders = {os.path.dirname(journal[i + 1][1]) for i in renames}
    folders.add(str(store.root))  # a new store: the folders were made in the root
    synced = {path for kind, path in journal[last_rename:] if kind == "dir"}
    assert folders <= synced
    assert _leftovers(store.root) == []

    journal.clear()  # the folders exist now: each new name's folder is synced, after it
    more = [BIG[::-1], SMALL_A * 2, SMALL_B * 2]
    shas = store.put_many(more)
    targets = [path for kind, path in journal if kind == "named"]
    assert sorted(targets) == sorted(str(store.path(sha)) for sha in shas)
    last = max(i for i, (kind, _) in enumerate(journal) if kind == "named")
    assert {os.path.dirname(t) for t in targets} <= {p for k, p in journal[last:] if k == "dir"}


def test_put_many_stores_nothing_twice(tmp_path, journal):
    store = ArtifactStore(tmp_path / "artifacts")
    first = store.put_many([BIG, SMALL_A, SMALL_B])
    journal.clear()
    assert store.put_many([BIG, SMALL_A, SMALL_B]) == first
    assert not [e for e in journal if e[0] == "rename"]  # nothing stored again
    # the small ones are not even written; the large one is, while it is hashed, then dropped
    assert {os.path.dirname(path) for kind, path in journal if kind == "fsync"} <= {
        str(store.root)}
    assert store.put_many([SMALL_A, SMALL_A]) == [first[1], first[1]]
    assert _leftovers(store.root) == []


def test_put_many_failure_leaves_no_file_and_names_nothing(tmp_path, monkeypatch):
    store = ArtifactStore(tmp_path / "artifacts")
    real_fsync, calls = os.fsync, []

    def failing(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_fsync(fd)
    monkeypatch.setattr(artifacts.os, "fsync", failing)
    with pytest.raises(OSError, match="No space"):
        store.put_many([BIG, SMALL_A, SMALL_B])
    files = [p for p in store.root.rglob("*") if p.is_file() and ".claims" not in p.parts]
    assert files == []  # no temporary file, and no artifact got its name


def test_put_writer_hashes_while_writing_and_reads_back_only_after_a_seek(tmp_path,
                                                                          monkeypatch):
    store = ArtifactStore(tmp_path / "artifacts")
    read_back = []
    real = artifacts.sha256_file
    monkeypatch.setattr(artifacts, "sha256_file", lambda p: read_back.append(p) or real(p))

    def appending(f):
        f.write(BIG[:1000])
        f.write(memoryview(BIG)[1000:])
    sha = store.put_writer(appending)
    assert sha == hashlib.sha256(BIG).hexdigest() and read_back == []

    def seeking(f):
        f.write(b"x" * 100)
        f.seek(10)
        f.write(b"y")
    sha = store.put_writer(seeking)
    data = b"x" * 10 + b"y" + b"x" * 89
    assert sha == hashlib.sha256(data).hexdigest() and len(read_back) == 1
    assert store.path(sha).read_bytes() == data

    def behind_our_back(f):
        f.write(b"abc")
        f.flush()
        os.write(f.fileno(), b"def")
    sha = store.put_writer(behind_our_back)
    assert sha == hashlib.sha256(b"abcdef").hexdigest() and len(read_back) == 2
    assert _leftovers(store.root) == []


def test_a_finished_run_is_committed_only_after_its_artifacts_are_durable(tmp_path,
                                                                          monkeypatch):
    store = Store(tmp_path / "store", user="ana")
    with store.transaction():
        ds = store.insert("datasets", {
            "name": "d", "version": 1, "sha256": "0" * 64, "artifact": "0" * 64, "rows": 1,
            "columns": 1, "schema": [], "profile": {}, "created_at": utcnow(),
            "created_by": "ana"})
        audit.append(store, "dataset.import", f"dataset:{ds}", {})
    spec = {"dataset_id": ds, "target": "y", "features": ["a"], "algorithm": "decision_tree",
            "params": {}, "task": "classification", "test_size": 0.2, "cv": 0, "seed": 0,
            "sensitive": None, "classes": [0, 1]}
    prepared = SimpleNamespace(spec=spec, notes=[])
    run_id = training.record_start(store, prepared)
    seen = []
    real_dir = artifacts.fsync_dir

    def fsync_dir(path):  # what another process sees while the folders are being synced
        with sqlite3.connect(tmp_path / "store" / "lineage.db") as other:
            seen.append(other.execute("SELECT status FROM runs WHERE id = ?",
                                      (run_id,)).fetchone()[0])
        return real_dir(path)
    monkeypatch.setattr(artifacts, "fsync_dir", fsync_dir)
    result = {"status": "finished", "params": {}, "metrics": {"holdout": {}, "cv": {}},
              "predictions_sha256": "a" * 64, "pipeline_bytes": BIG,
              "holdout_bytes": SMALL_A, "plots_bytes": SMALL_B, "timings": {}, "folds": []}
    training.record_finish(store, run_id, result, 0.0, [])

    assert seen and set(seen) == {"running"}
    run = training.get_run(store, run_id)
    assert run["status"] == "finished"
    assert store.artifacts.read_bytes(run["artifacts"]["pipeline"]) == BIG
    assert audit.verify(store).ok
    store.close()


# -- a run whose files cannot be written -------------------------------------------------------
def _ready_run(store: Store) -> int:
    with store.transaction():
        ds = store.insert("datasets", {
            "name": "d", "version": 1, "sha256": "0" * 64, "artifact": "0" * 64, "rows": 1,
            "columns": 1, "schema": [], "profile": {}, "created_at": utcnow(),
            "created_by": store.user})
        audit.append(store, "dataset.import", f"dataset:{ds}", {})
    spec = {"dataset_id": ds, "target": "y", "features": ["a"], "algorithm": "decision_tree",
            "params": {}, "task": "classification", "test_size": 0.2, "cv": 0, "seed": 0,
            "sensitive": None, "classes": [0, 1]}
    return training.record_start(store, SimpleNamespace(spec=spec, notes=[]))


def _finished(big: bytes = BIG) -> dict:
    return {"status": "finished", "params": {}, "metrics": {"holdout": {}, "cv": {}},
            "predictions_sha256": "a" * 64, "pipeline_bytes": big,
            "holdout_bytes": SMALL_A, "plots_bytes": SMALL_B, "timings": {}, "folds": []}


def test_record_finish_whose_files_fail_commits_nothing_and_leaves_no_file(tmp_path,
                                                                         monkeypatch):
    store = Store(tmp_path / "store", user="ana")
    run_id = _ready_run(store)
    before = audit.verify(store).ok and store.execute(
        "SELECT COUNT(*) FROM audit_log").fetchone()[0]
    real_fsync, calls = os.fsync, []

    def failing(fd):
        calls.append(fd)
        if len(calls) == 1:  # the first file's fsync: the disk is full
            raise OSError(28, "No space left on device")
        return real_fsync(fd)
    monkeypatch.setattr(artifacts.os, "fsync", failing)
    with pytest.raises(OSError, match="No space"):
        training.record_finish(store, run_id, _finished(), 0.0, [])
    monkeypatch.undo()
    assert training.get_run(store, run_id)["status"] == "running"  # the UPDATE rolled back
    assert store.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == before
    assert [p for p in store.artifacts.root.rglob("*")
            if p.is_file() and ".claims" not in p.parts] == []
    assert audit.verify(store).ok
    training.record_finish(store, run_id, _finished(), 0.0, [])  # the disk has room again
    assert training.get_run(store, run_id)["status"] == "finished"
    store.close()
