"""Several people write to one team store at once.

Five OS processes, each a separate Python interpreter connected as one of three analysts
(distinct PostgreSQL login roles), record 200 runs each into the same team store at the same
time, through the functions a user's `lablift train` goes through: four runs (two in each
of two writers, while the others write) with training.train itself (the bundled sample
dataset, the dummy baseline, cv=2), the rest with training.record_start /
training.record_finish, the two transactions `train` writes around its (here skipped)
fitting, as benchmarks/bench_tracking.py records them. A sixth process,
a reviewer standing in for a GUI at another desk, waits for changes with ChangeWatcher and
lists the runs while they are written; every second an analyst's command opens the store
afresh (reconciling what dead processes left) beside them. Then: every process ended
cleanly and said nothing of locks, deadlocks or serialization; exactly 1000 runs hold
exactly what their writers recorded; the audit chain is seq 1..N without a gap or a twin,
and `audit.verify` passes; the watcher saw every entry.

A second test has two analysts register versions of the SAME (not yet existing) model at the
same time (registry.register): first both the same run, which makes one version and one
one-line refusal, then each their own runs, which make versions 1..N, each number once. No
driver (psycopg) error may reach the caller.

The children are this file run as a script (`python tests/test_team_concurrency.py ROLE
ARGS`), so their code is plain Python next to the assertions about it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import pytest

import pg

HERE = Path(__file__).resolve().parent

WRITERS = 5
RUNS_PER_WRITER = 200
TRAINING_WRITERS = 2  # writers 0 and 1 (ana, ben) also fit: 2 of their runs are train()'s
TRAINED_PER_WRITER = 2
ANALYSTS = ("ana", "ben", "cai")  # writer w connects as ANALYSTS[w % 3]: 2 processes share a user
FORBIDDEN = ("locked", "deadlock", "serializ")  # words no process may have printed
SPEC = {"target": "approved", "algorithm": "dummy", "cv": 2}
MODEL = "loan_default"
REGISTRATIONS_PER_ANALYST = 8
CHILD_TIMEOUT_S = 180  # for all the children of a test together


# -- what a child records (shared by the writers and the assertions) -----------------------------
def fast_params(writer: int, i: int, user: str) -> dict:
    return {"writer": writer, "i": i, "user": user, "max_depth": i % 7 + 1, "criterion": "gini"}


def fast_metrics(writer: int, i: int) -> dict:
    x = (writer * RUNS_PER_WRITER + i) / (WRITERS * RUNS_PER_WRITER)
    return {"holdout": {"accuracy": round(0.5 + x / 4, 6), "f1": round(0.4 + x / 5, 6),
                        "roc_auc": 0.75},
            "cv": {"accuracy": {"mean": 0.6, "std": 0.01}}}


# -- the children ---------------------------------------------------------------------------------
def _ready_then_go() -> None:
    """Tell the parent this process is connected and warmed up; start when it says go."""
    print("ready", flush=True)
    line = sys.stdin.readline()
    if line.strip() != "go":
        raise SystemExit(f"expected 'go' on stdin, got {line!r}")


def child_writer(a: dict) -> int:
    from types import SimpleNamespace

    from lablift.core import training
    from lablift.core.store import Store

    store = Store(a["url"])
    writer = a["writer"]
    # the spec as training.prepare validated it (in the parent: prepare needs scikit-learn,
    # ~2 s of imports a process that only records need not pay); record_start reads only
    # .spec and .notes of it, as in benchmarks/bench_tracking.py
    prepared = SimpleNamespace(spec=a["spec"], notes=a["notes"])
    spec = {k: a["spec"][k] for k in ("dataset_id", "target", "algorithm", "cv")}
    # the three artifacts: the pipeline differs per run (a new blob each time); the holdout
    # of run i is the same bytes in every writer, and the plots the same in every run, so
    # several processes store one content-addressed blob at once (ON CONFLICT DO NOTHING
    # must make them agree)
    shared_plots = b'{"every": "writer"}'
    trained_at = {round((k + 0.5) * a["runs"] / a["trained"]) for k in range(a["trained"])}
    fast, trained = [], []
    _ready_then_go()
    t0 = time.perf_counter()
    for i in range(a["runs"]):
        if i in trained_at:
            # the whole of `lablift train`: prepare, record_start, fit (cv=2), record_finish
            run = training.train(store, dict(spec, seed=writer * 1000 + i))
            assert run["status"] == "finished", run
            trained.append(run["id"])
            continue
        started = time.perf_counter()
        run_id = training.record_start(store, prepared)
        result = {"status": "finished", "params": fast_params(writer, i, store.user),
                  "metrics": fast_metrics(writer, i),
                  "predictions_sha256": f"{writer:02d}{i:04d}".ljust(64, "0"),
                  "pipeline_bytes": f"pipeline of writer {writer} run {i}".encode(),
                  "holdout_bytes": f"holdout of run {i} of every writer".encode(),
                  "plots_bytes": shared_plots,
                  "timings": {"fit_s": 0.0}, "folds": []}
        training.record_finish(store, run_id, result, started, prepared.notes)
        fast.append([i, run_id])
    seconds = time.perf_counter() - t0
    print(json.dumps({"writer": writer, "user": store.user, "fast": fast, "trained": trained,
                      "seconds": seconds}), flush=True)
    store.close()
    return 0


def child_reader(a: dict) -> int:
    """A GUI at another desk: wait for colleagues' changes, refresh the runs table. Now and
    then an analyst's command (`lablift run list` in another terminal) opens the store
    afresh, which reconciles what dead processes left (recovery.reconcile: an analyst's
    opening settles dead runs) while the writers' runs are in flight: none of theirs may be
    taken for dead."""
    from lablift.core import audit, training
    from lablift.core.store import Store
    from lablift.core.store.changes import ChangeWatcher

    store = Store(a["url"])
    watcher = ChangeWatcher(a["url"])
    start_seq = watcher.seq
    stop = threading.Event()
    seen: list[int] = []
    wakeups = 0
    listings: list[list[int]] = []  # [rows, finished] per refresh
    bad: list[str] = []
    opened = 0

    def refresh(rows=None) -> None:
        rows = training.list_runs(store) if rows is None else rows
        finished = 0
        for r in rows:
            if r["status"] == "finished":
                finished += 1
                if not r["params"] or not (r["metrics"] or {}).get("holdout"):
                    bad.append(f"run {r['id']} finished without params or metrics: {r}")
            elif r["status"] != "running":
                bad.append(f"run {r['id']} is {r['status']}: {r.get('error')}")
        listings.append([len(rows), finished])

    _ready_then_go()

    def wait_for_stop() -> None:
        sys.stdin.readline()  # "stop", or end of file
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    last = last_open = 0.0
    while not stop.is_set():
        new = watcher.wait(0.5)
        if new:
            wakeups += 1
            seen += [e["seq"] for e in new]
            if time.monotonic() - last >= 0.2:  # a GUI refreshes at most a few times a second
                refresh()
                last = time.monotonic()
        if time.monotonic() - last_open >= 1.0:
            command = Store(a["command_url"])
            refresh(training.list_runs(command))
            command.close()
            opened += 1
            last_open = time.monotonic()
    while True:  # every writer has ended: take in what is still announced
        new = watcher.wait(1.0)
        if not new:
            break
        seen += [e["seq"] for e in new]
    refresh()
    print(json.dumps({"user": store.user, "start_seq": start_seq, "seen": seen,
                      "wakeups": wakeups, "listings": listings, "bad": bad, "opened": opened,
                      "watcher_seq": watcher.seq, "head": audit.head(store)["seq"]}),
          flush=True)
    watcher.close()
    store.close()
    return 0


def child_registrant(a: dict) -> int:
    """Register runs as versions of one model, as `lablift model register` does."""
    from lablift.core import registry
    from lablift.core.errors import LabliftError
    from lablift.core.store import Store

    store = Store(a["url"])
    registry.list_models(store)  # warm: imports, statements compiled
    out = []
    _ready_then_go()
    t0 = time.perf_counter()
    for run_id in a["runs"]:
        try:
            v = registry.register(store, run_id, a["model"], description=f"by {store.user}")
            out.append({"run": run_id, "id": v["id"], "version": v["version"]})
        except LabliftError as exc:
            out.append({"run": run_id, "refused": str(exc), "type": type(exc).__name__})
        except Exception as exc:  # anything else reaching the caller is a bug
            out.append({"run": run_id, "raw": f"{type(exc).__module__}.{type(exc).__name__}: "
                                              f"{exc}", "traceback": traceback.format_exc()})
    print(json.dumps({"user": store.user, "results": out,
                      "seconds": time.perf_counter() - t0}), flush=True)
    store.close()
    return 0


CHILDREN = {"writer": child_writer, "reader": child_reader, "registrant": child_registrant}


# -- the parent's side -----------------------------------------------------------------------------
class Child:
    def __init__(self, role: str, args: dict, env: dict, logs: Path, tag: str):
        self.tag = tag
        self.stderr_path = logs / f"{tag}.stderr"
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), role,
                                      json.dumps(args)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, env=env, cwd=HERE.parent)
        self.stdout = ""
        self.result: dict | None = None

    def ready(self, timeout: float) -> None:
        got: list[str] = []
        t = threading.Thread(target=lambda: got.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        if got != ["ready\n"]:
            self.proc.kill()
            self.finish(30)
            raise AssertionError(f"{self.tag} did not get ready ({got!r}):\n{self.text()}")

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float) -> int:
        """Close its stdin (the reader stops on that) and wait for it to end."""
        try:
            self.stdout, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.stdout, _ = self.proc.communicate()
        self._stderr.close()
        lines = self.stdout.strip().splitlines()
        if self.proc.returncode == 0 and lines:
            self.result = json.loads(lines[-1])
        return self.proc.returncode

    def text(self) -> str:
        return self.stdout + self.stderr_path.read_text(errors="replace")

    def check_clean(self) -> dict:
        text = self.text()
        assert self.proc.returncode == 0, f"{self.tag} exited {self.proc.returncode}:\n{text}"
        for word in FORBIDDEN:
            assert word not in text.lower(), f"{self.tag} printed {word!r}:\n{text}"
        assert "Traceback" not in text, f"{self.tag}:\n{text}"
        assert self.result is not None, f"{self.tag} printed no result:\n{text}"
        return self.result


def child_env(tmp_path: Path) -> dict:
    import lablift
    env = dict(os.environ)
    # the children import the very lablift this process runs (app/ from a checkout) and
    # tests/ (pg.py, this file)
    source = str(Path(lablift.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([source, str(HERE)] + (
        [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # verified artifact copies: not ~/.cache
    env.pop("LABLIFT_USER", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def spawn(tmp_path, monkeypatch):
    """spawn(role, args, tag) starts a child; any still running at the end is killed."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    env = child_env(tmp_path)
    started: list[Child] = []

    def _spawn(role: str, args: dict, tag: str) -> Child:
        child = Child(role, args, env, tmp_path, tag)
        started.append(child)
        return child

    yield _spawn
    for child in started:
        if child.proc.poll() is None:
            child.proc.kill()
        child.proc.wait(30)
        for f in (child.proc.stdin, child.proc.stdout, child._stderr):
            if f is not None and not f.closed:
                f.close()


def start_all(children: list[Child], timeout: float = 120) -> float:
    for c in children:
        c.ready(timeout)
    t0 = time.perf_counter()
    for c in children:
        c.go()
    return t0


def make_team(url: str, names: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """init as the superuser (the store's admin), then a login role per person with their
    Lablift role; returns ({alias: role name}, {alias: URL connecting as that role})."""
    from lablift.core.store import Store, team
    team.init(url)
    admin = Store(url)
    logins, urls = {}, {}
    for alias, role in names.items():
        name = logins[alias] = pg.unique_name(alias)  # roles are cluster-wide
        pg.pg_role(url, name)  # the session's teardown drops it
        admin.add_user(name, role)
        assert admin.role(name) == role
        urls[alias] = pg.with_user(url, name)
    admin.close()
    return logins, urls


def audit_rows(url: str) -> list[tuple]:
    import psycopg
    with psycopg.connect(url) as conn:
        return conn.execute('SELECT seq, "user", action, entity FROM audit_log ORDER BY seq'
                            ).fetchall()


def assert_chain_whole(url: str) -> list[tuple]:
    import psycopg

    from lablift.core import audit
    from lablift.core.store import Store
    entries = audit_rows(url)
    seqs = [e[0] for e in entries]
    assert seqs == list(range(1, len(seqs) + 1)), "the audit log's seq has a gap or a twin"
    with psycopg.connect(url) as conn:
        n, distinct, lo, hi = conn.execute(
            "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM audit_log"
        ).fetchone()
    assert (n, distinct, lo, hi) == (len(seqs), len(seqs), 1, len(seqs))
    store = Store(url)
    try:
        result = audit.verify(store)
        assert result.ok, result.summary()
        assert result.entries == len(seqs)
    finally:
        store.close()
    return entries


# -- the tests ------------------------------------------------------------------------------------
@pytest.mark.slow  # 6 processes, 1000 runs: ~20 s on 2 cores (~40 s when they are busy)
def test_five_processes_record_1000_runs_at_once_while_a_gui_watches(pg_database, spawn):
    import psycopg

    from lablift.core import datasets, training
    from lablift.core.store import Store
    from lablift.resources import SAMPLE_LOANS

    t_setup = time.perf_counter()
    logins, urls = make_team(pg_database, {**{a: "analyst" for a in ANALYSTS},
                                           "dee": "reviewer"})
    admin = Store(pg_database)
    dataset = datasets.import_dataset(admin, SAMPLE_LOANS, name="loans")
    prepared = training.prepare(admin, dict(SPEC, dataset_id=dataset["id"], seed=0))
    admin.close()
    setup_entries = len(audit_rows(pg_database))

    t_spawn = time.perf_counter()
    reader = spawn("reader", {"url": urls["dee"], "command_url": urls["ana"]}, "reader")
    trained = {w: TRAINED_PER_WRITER if w < TRAINING_WRITERS else 0 for w in range(WRITERS)}
    writers = [spawn("writer", {"url": urls[ANALYSTS[w % len(ANALYSTS)]], "writer": w,
                                "spec": prepared.spec, "notes": prepared.notes,
                                "runs": RUNS_PER_WRITER, "trained": trained[w]}, f"writer{w}")
               for w in range(WRITERS)]
    reader.ready(120)  # watching before anyone writes
    reader.go()
    t_go = start_all(writers)
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    for w in writers:
        w.finish(max(1.0, deadline - time.monotonic()))
    t_written = time.perf_counter() - t_go
    reader.finish(60)
    results = [w.check_clean() for w in writers]
    watched = reader.check_clean()

    # -- every run, with what its writer recorded ------------------------------------------------
    with psycopg.connect(pg_database) as conn:
        rows = {r[0]: r for r in conn.execute(
            "SELECT id, status, created_by, params, metrics, error FROM runs ORDER BY id")}
    assert len(rows) == WRITERS * RUNS_PER_WRITER == 1000
    assert {r[1] for r in rows.values()} == {"finished"}, \
        [r for r in rows.values() if r[1] != "finished"][:3]
    # each writer is the database user it connected as; three distinct users in all
    expected_user = {w: logins[ANALYSTS[w % len(ANALYSTS)]] for w in range(WRITERS)}
    assert {w: r["user"] for w, r in enumerate(results)} == expected_user
    assert len(set(expected_user.values())) == len(ANALYSTS) == 3
    claimed = []
    writer_of: dict[int, int] = {}
    for w, res in enumerate(results):
        assert res["writer"] == w
        assert len(res["fast"]) + len(res["trained"]) == RUNS_PER_WRITER
        assert len(res["trained"]) == trained[w]
        for i, run_id in res["fast"]:
            _, _, created_by, params, metrics, _ = rows[run_id]
            assert created_by == expected_user[w]
            assert json.loads(params) == fast_params(w, i, expected_user[w]), run_id
            assert json.loads(metrics) == fast_metrics(w, i), run_id
            claimed.append(run_id)
        for run_id in res["trained"]:
            _, _, created_by, params, metrics, _ = rows[run_id]
            params, metrics = json.loads(params), json.loads(metrics)
            assert created_by == expected_user[w]
            assert params.get("strategy"), params  # the fitted DummyClassifier's parameters
            assert 0 <= metrics["holdout"]["accuracy"] <= 1 and metrics["cv"], metrics
            claimed.append(run_id)
        writer_of.update({run_id: w for _, run_id in res["fast"]})
        writer_of.update({run_id: w for run_id in res["trained"]})
    assert sorted(claimed) == sorted(rows), "a run no writer recorded, or one recorded twice"

    # -- the audit chain: whole, one start and one finish per run, by its writer -----------------
    entries = assert_chain_whole(pg_database)
    assert len(entries) == setup_entries + 2 * len(rows)
    by_run: dict[int, list[tuple]] = {}
    for seq, user, action, entity in entries[setup_entries:]:
        assert entity.startswith("run:"), (seq, action, entity)
        by_run.setdefault(int(entity[4:]), []).append((action, user))
    assert set(by_run) == set(rows)
    for run_id, acts in by_run.items():
        who = rows[run_id][2]
        assert acts == [("run.start", who), ("run.finish", who)], (run_id, acts)
    # ...and written at the same time, not one process after another: every writer's first
    # entry comes before every writer's last, and the chain passes from writer to writer often
    order = [writer_of[int(e[3][4:])] for e in entries[setup_entries:]]
    first = [order.index(w) for w in range(WRITERS)]
    last = [len(order) - 1 - order[::-1].index(w) for w in range(WRITERS)]
    assert max(first) < min(last), (first, last)
    switches = sum(a != b for a, b in zip(order, order[1:]))
    assert switches >= 100, switches

    # -- the GUI at another desk: woken by the changes, refreshed while they were written ------
    assert watched["bad"] == [], watched["bad"][:3]
    assert watched["start_seq"] == setup_entries
    assert watched["seen"] == list(range(setup_entries + 1, len(entries) + 1)), \
        "the watcher missed or repeated an entry"
    assert watched["watcher_seq"] == watched["head"] == len(entries)
    assert watched["wakeups"] > 10, watched["wakeups"]
    assert watched["opened"] >= 2, watched["opened"]
    listed = watched["listings"]
    assert listed[-1] == [1000, 1000]
    assert [n for n, _ in listed] == sorted(n for n, _ in listed)  # runs only ever appear
    assert [f for _, f in listed] == sorted(f for _, f in listed)
    assert any(0 < f < 1000 for _, f in listed), "the reader never saw writing in progress"

    print(f"\nteam store concurrency: store, users and dataset {t_spawn - t_setup:.1f} s, "
          f"6 processes started and connected {t_go - t_spawn:.1f} s, 5 writers x "
          f"{RUNS_PER_WRITER} runs in {t_written:.1f} s "
          f"(each {', '.join('%.1f' % r['seconds'] for r in results)} s); the reader woke "
          f"{watched['wakeups']} times, listed the runs {len(listed)} times and opened the "
          f"store afresh {watched['opened']} times; "
          f"{len(entries)} audit entries, the chain passed between writers {switches} times")


@pytest.mark.slow  # ~4 s (~10 s on busy cores)
def test_two_analysts_register_versions_of_one_model_at_once(pg_database, spawn):
    import psycopg

    from lablift.core import datasets, training
    from lablift.core.store import Store
    from lablift.resources import SAMPLE_LOANS

    t_setup = time.perf_counter()
    logins, urls = make_team(pg_database, {"ana": "analyst", "ben": "analyst"})
    admin = Store(pg_database)
    dataset = datasets.import_dataset(admin, SAMPLE_LOANS, name="loans")
    # Finished runs with real artifacts: one fitting (what train computes), recorded as many
    # runs as the registrants need by the two transactions train writes around it.
    spec = dict(SPEC, dataset_id=dataset["id"], seed=0)
    prepared = training.prepare(admin, spec)
    result = dict(training.compute(prepared), status="finished")
    runs = []
    for _ in range(2 * REGISTRATIONS_PER_ANALYST + 1):
        started = time.perf_counter()
        run_id = training.record_start(admin, prepared)
        training.record_finish(admin, run_id, result, started, prepared.notes)
        runs.append(run_id)
    admin.close()
    shared, own = runs[0], {"ana": runs[1::2], "ben": runs[2::2]}

    t_setup = time.perf_counter() - t_setup
    # both first register the same run (and both find model MODEL missing, so both would
    # create it), then each its own runs, interleaving with the other
    children = [spawn("registrant", {"url": urls[who], "model": MODEL,
                                     "runs": [shared, *own[who]]}, who)
                for who in ("ana", "ben")]
    start_all(children)
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    for c in children:
        c.finish(max(1.0, deadline - time.monotonic()))
    out = {c.tag: c.check_clean() for c in children}

    raw = [r for o in out.values() for r in o["results"] if "raw" in r]
    assert not raw, "a driver error reached the caller:\n" + "\n".join(
        r["raw"] + "\n" + r["traceback"] for r in raw)
    refused = [r for o in out.values() for r in o["results"] if "refused" in r]
    for r in refused:
        text = r["refused"]
        assert len(text.splitlines()) == 1 and text.strip(), r
        assert "psycopg" not in text.lower() and "sqlstate" not in text.lower(), r
    made = [r for o in out.values() for r in o["results"] if "version" in r]

    # the same run, twice at once: one version, and a refusal that says why
    on_shared = [r for o in out.values() for r in o["results"] if r["run"] == shared]
    assert sorted("version" in r for r in on_shared) == [False, True], on_shared
    loser = next(r for r in on_shared if "refused" in r)
    assert f"run {shared} is already version {MODEL}:" in loser["refused"], loser
    # distinct runs: every registration is a version of its own (a refusal would have to be
    # one of the lines checked above; none is expected)
    assert len(made) == 1 + 2 * REGISTRATIONS_PER_ANALYST, refused

    with psycopg.connect(pg_database) as conn:
        versions = conn.execute("SELECT id, version, run_id, created_by FROM model_versions "
                                "WHERE model = %s ORDER BY version", (MODEL,)).fetchall()
        models = conn.execute("SELECT count(*) FROM models WHERE name = %s",
                              (MODEL,)).fetchone()[0]
    assert models == 1
    assert [v[1] for v in versions] == list(range(1, len(made) + 1)), versions
    assert sorted((r["id"], r["version"], r["run"]) for r in made) == \
        sorted((v[0], v[1], v[2]) for v in versions)
    assert (out["ana"]["user"], out["ben"]["user"]) == (logins["ana"], logins["ben"])
    assert {v[3] for v in versions} == {logins["ana"], logins["ben"]}
    assert len({v[2] for v in versions}) == len(versions)  # no run registered twice
    by = "".join("ab"[v[3] == logins["ben"]] for v in versions)
    print(f"\nregistration: setup {t_setup:.1f} s, registering {out['ana']['seconds']:.1f} s "
          f"and {out['ben']['seconds']:.1f} s; versions of {MODEL} in order, by ana (a) and "
          f"ben (b): {by}")

    entries = assert_chain_whole(pg_database)
    registered = [e for e in entries if e[2] == "version.register"]
    assert sorted(e[3] for e in registered) == sorted(
        f"model_version:{MODEL}:{v[1]}" for v in versions)
    assert [e[3] for e in entries if e[2] == "model.create"] == [f"model:{MODEL}"]


if __name__ == "__main__":
    sys.exit(CHILDREN[sys.argv[1]](json.loads(sys.argv[2])))
