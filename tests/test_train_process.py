"""core/train_process.py: the fit in a reused child process, as training.compute in-thread.

Real child processes (python -m lablift.core.train_process), real signals, real stores.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from lablift.core import datasets, train_files, train_process, training
from lablift.core.errors import Cancelled, LabliftError

pytestmark = pytest.mark.skipif(not train_process.available(), reason="POSIX only")
APP = Path(__file__).resolve().parents[1] / "app"


@pytest.fixture(scope="module")
def runner():
    r = train_process.TrainProcess()
    r.warm()  # one start-up for the module's tests (a few seconds under load)
    yield r
    r.stop()


@pytest.fixture
def loans(store, sample_csv):
    return datasets.import_dataset(store, sample_csv, name="sample_loans")


def _spec(loans, algorithm="random_forest", cv=2, **params):
    return {"dataset_id": loans["id"], "target": "approved", "algorithm": algorithm, "cv": cv,
            "seed": 3, "params": params}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


@pytest.mark.parametrize("sent", ["frame", "file"])
def test_a_run_trained_in_the_process_is_recorded_as_in_thread(store, loans, runner, sent):
    pid, started = runner.pid, runner.started
    assert pid is not None and pid != os.getpid()
    progress = []
    spec = _spec(loans, "random_forest", cv=2, n_estimators=30)
    fit = runner.compute if sent == "frame" else runner.compute_for(store)
    child = training.train(store, spec, lambda f, m: progress.append((f, m)), compute_fn=fit)
    same = training.train(store, spec)  # in this thread, as the CLI trains
    assert runner.pid == pid and runner.started == started  # the same child, reused
    assert child["status"] == same["status"] == "finished"
    assert child["metrics"] == same["metrics"] and child["params"] == same["params"]
    assert child["predictions_sha256"] == same["predictions_sha256"]
    # the pickled pipeline, holdout predictions and plot data are the same bytes
    assert child["artifacts"] == same["artifacts"]
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [m for _, m in progress if "fold" in m] == ["Cross-validation fold 1 of 2",
                                                        "Cross-validation fold 2 of 2"]
    # the fit ran in the child (niced), not here
    assert os.getpriority(os.PRIO_PROCESS, pid) >= train_process.NICENESS


def test_reproduce_through_the_process_is_identical(store, loans, runner):
    run = training.train(store, _spec(loans, "decision_tree"), compute_fn=runner.compute)
    out = training.reproduce(store, run["id"], compute_fn=runner.compute_for(store))
    assert out["identical"] and out["new_run_id"] != run["id"]
    assert training.get_run(store, out["new_run_id"])["artifacts"] == run["artifacts"]


class _Unpicklable:
    def __reduce__(self):
        raise TypeError("this frame was pickled")


def test_compute_for_sends_the_data_file_not_the_frame(store, loans, runner):
    spec = {**_spec(loans, "random_forest", cv=2), "sensitive": "gender"}
    clean = training.prepare(store, spec)
    here = training.compute(clean)
    p = training.prepare(store, spec)
    p.X.attrs["poison"] = _Unpicklable()  # pickling p.X (the frame) now fails
    with pytest.raises(TypeError, match="this frame was pickled"):
        runner.compute(p)
    there = runner.compute_for(store)(p)  # the child read the dataset's Parquet file itself
    assert runner.last_request_bytes < len(pickle.dumps((clean.X, clean.y))) / 4
    for key in ("metrics", "params", "folds", "predictions_sha256", "pipeline_bytes",
                "holdout_bytes", "plots_bytes"):
        assert there[key] == here[key], key  # the sensitive column came along too
    # the 100-tree forest (MBs) came back as a file, read and removed; the small ones inline
    assert len(here["pipeline_bytes"]) > train_files.SPILL_BYTES
    assert runner.last_spilled == ("pipeline_bytes",)
    assert os.listdir(runner._spill) == []


def test_the_child_checks_the_data_file_it_reads(store, loans, runner, tmp_path):
    p = training.prepare(store, _spec(loans, "decision_tree", cv=0))
    data = train_files.data_file(store, p)
    assert Path(data["path"]).is_file() and data["sha256"] == loans["artifact"]
    changed = tmp_path / "changed.parquet"
    changed.write_bytes(Path(data["path"]).read_bytes() + b"x")
    with pytest.raises(LabliftError, match=rf"the data file of dataset sample_loans:1 "
                                           rf"\({changed}\) no longer matches its sha256 "
                                           rf"{data['sha256'][:12]}"):
        runner.compute(p, data={**data, "path": str(changed)})
    with pytest.raises(LabliftError, match=r"cannot read the data file of dataset "
                                           r"sample_loans:1 \(.*gone.parquet\)"):
        runner.compute(p, data={**data, "path": str(tmp_path / "gone.parquet")})
    with pytest.raises(LabliftError, match=r"rows with a target in .* \(2000\) are not the "
                                           r"rows prepared for training \(1999\)"):
        runner.compute(p, data={**data, "rows": train_files.rows_digest(p.X.index[1:])})
    assert runner.pid is not None  # errors, not crashes: the child lives on
    assert runner.compute(p, data=data)["predictions_sha256"] == training.compute(p)[
        "predictions_sha256"]


def test_a_dead_parents_spill_folder_is_removed_by_the_next(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    old = Path(tempfile.gettempdir()) / f"{train_files.SPILL_PREFIX}{dead.pid}-test"
    old.mkdir()
    (old / "pipeline_bytes-x.bin").write_bytes(b"left by a killed GUI")
    mine = Path(tempfile.mkdtemp(prefix=f"{train_files.SPILL_PREFIX}{os.getpid()}-"))
    folder = None
    try:
        folder = train_files.new_spill_folder()
        assert not old.exists() and mine.exists() and Path(folder).is_dir()
    finally:
        for path in (old, mine, folder):
            shutil.rmtree(path or old, ignore_errors=True)


def test_the_spill_folder_goes_with_its_train_process():
    r = train_process.TrainProcess()
    r.start()
    folder = Path(r._spill)
    assert folder.is_dir() and folder.name.startswith(f"{train_files.SPILL_PREFIX}{os.getpid()}-")
    r.stop()
    del r
    import gc
    gc.collect()
    assert not folder.exists()


def test_cancel_mid_fit_kills_the_child_promptly_and_records_cancelled(store, loans):
    r = train_process.TrainProcess(grace_s=0.3)
    try:
        r.start()
        first = r.pid
        told = []

        def progress(fraction, message):  # the one long fit starts: cancel it
            if message == "Fitting on the training rows":
                told.append(time.monotonic())

        with pytest.raises(Cancelled, match="cancelled"):
            training.train(store, _spec(loans, "random_forest", cv=0, n_estimators=5000),
                           progress, lambda: bool(told), compute_fn=r.compute)
        waited = time.monotonic() - told[0]
        assert waited < 5.0  # 5,000 trees take far longer; no step came: the child was killed
        assert not _alive(first)
        runs = training.list_runs(store)
        assert [(x["status"], x["error"]) for x in runs] == [("cancelled",
                                                              "cancelled by the user")]
        # the next job gets a new child
        assert r.compute(training.prepare(store, _spec(loans, "decision_tree", cv=0)))[
            "predictions_sha256"]
        assert r.started == 2 and r.pid != first
    finally:
        r.stop()


def test_cancel_at_a_step_keeps_the_child(store, loans, runner, monkeypatch):
    monkeypatch.setattr(runner, "grace_s", 120.0)  # a loaded machine: the next step comes late
    pid, started = runner.pid, runner.started
    flag = []
    # a forest: the folds left after the first take seconds, not the few ms a linear model's
    # do, so the cancel reaches the child before its last step even on a loaded machine
    with pytest.raises(Cancelled):
        training.train(store, _spec(loans, "random_forest", cv=5),
                       lambda f, m: flag.append(m) if "fold 1" in m else None,
                       lambda: bool(flag), compute_fn=runner.compute)
    assert [r["status"] for r in training.list_runs(store)] == ["cancelled"]
    assert runner.pid == pid and runner.started == started  # told, stopped at its next step


@pytest.mark.parametrize("sig, why", [(signal.SIGKILL, "SIGKILL (out of memory"),
                                      (signal.SIGSEGV, "SIGSEGV (a crash in native code)")])
def test_a_child_that_dies_mid_fit_records_the_run_failed(store, loans, sig, why):
    r = train_process.TrainProcess()
    try:
        r.start()
        victim = r.pid

        def progress(fraction, message):
            if message.startswith("Cross-validation fold 1"):
                # as if it died writing its result: a temporary file is left behind
                (Path(r._spill) / "pipeline_bytes-half.tmp").write_bytes(b"half")
                os.kill(victim, sig)

        with pytest.raises(LabliftError, match=r"run \d+ failed: the training process ended "
                                               r"while training: it was killed by "):
            training.train(store, _spec(loans, "random_forest", cv=3), progress,
                           compute_fn=r.compute)
        (run,) = training.list_runs(store)
        assert run["status"] == "failed" and why in run["error"]
        assert not _alive(victim)
        assert os.listdir(r._spill) == []  # what the dead child left is gone
        # not stuck: the next fit starts a new child and works
        again = training.train(store, _spec(loans, "decision_tree", cv=0), compute_fn=r.compute)
        assert again["status"] == "finished" and r.started == 2
    finally:
        r.stop()


class _Huge:
    """Unpickles as bytearray(2**62): a MemoryError in the child."""
    def __reduce__(self):
        return bytearray, (1 << 62,)


def test_an_error_in_the_child_is_raised_here_as_in_thread(store, loans, runner):
    p = training.prepare(store, _spec(loans, "decision_tree", cv=0))
    p.notes = [_Huge()]
    with pytest.raises(MemoryError):
        runner.compute(p)
    # an error compute raises comes back as itself, with its text
    bad = training.prepare(store, _spec(loans, "decision_tree", cv=0))
    bad.spec = {**bad.spec, "algorithm": "no_such_algorithm"}
    with pytest.raises(LabliftError) as here:
        training.compute(bad)
    with pytest.raises(LabliftError) as there:
        runner.compute(bad)
    assert type(there.value) is type(here.value) and str(there.value) == str(here.value)
    assert runner.pid is not None  # an error is not a crash: the child lives on


def test_stop_ends_a_running_fit_as_cancelled(store, loans):
    r = train_process.TrainProcess()
    r.start()
    pid = r.pid
    with pytest.raises(Cancelled):
        training.train(store, _spec(loans, "random_forest", cv=0, n_estimators=5000),
                       lambda f, m: r.stop() if m.startswith("Fitting") else None,
                       compute_fn=r.compute)
    assert not _alive(pid)
    assert [x["status"] for x in training.list_runs(store)] == ["cancelled"]


def test_the_child_dies_with_its_parent(tmp_path):
    script = textwrap.dedent("""
        import os, sys
        from lablift.core import train_process
        r = train_process.TrainProcess()
        print(r.start(), flush=True)
        os._exit(0)  # no clean-up: as if the GUI were killed
    """)
    env = {**os.environ, "PYTHONPATH": str(APP)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def test_describe_exit():
    assert train_process.describe_exit(-9).startswith("it was killed by SIGKILL")
    assert train_process.describe_exit(3) == "it exited with code 3"
    assert train_process.describe_exit(None) == "it stopped answering"


def test_spill_round_trip_moves_only_large_bytes(tmp_path):
    big, small = os.urandom(train_files.SPILL_BYTES + 1), b"x" * 100
    sent = train_files.spill({"pipeline_bytes": big, "plots_bytes": small, "metrics": {}},
                             str(tmp_path))
    assert len(pickle.dumps(sent)) < 2_000  # what crosses the socket stays small
    (path,) = sent["_spilled"].values()
    assert Path(path).read_bytes() == big and [p.name for p in tmp_path.iterdir()] == [
        Path(path).name]  # renamed from its temporary name, nothing else left
    back = train_files.read_spilled(pickle.loads(pickle.dumps(sent)))
    assert back == {"pipeline_bytes": big, "plots_bytes": small, "metrics": {}}
    assert list(tmp_path.iterdir()) == []
    # a result file that went missing is a clear error, not a KeyError
    sent = train_files.spill({"pipeline_bytes": big}, str(tmp_path))
    os.unlink(sent["_spilled"]["pipeline_bytes"])
    with pytest.raises(LabliftError, match="cannot read the pipeline the training process "
                                           "wrote to .*pipeline_bytes-.*bin"):
        train_files.read_spilled(sent)
