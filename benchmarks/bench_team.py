"""Team store benchmark: Lablift's TeamStore vs MLflow's tracking store, on the SAME PostgreSQL
server, over loopback TCP (127.0.0.1, scram-sha-256) unless --socket.

1. Recording a run: what bench_tracking.py records (10 params, 5 metrics, three artifacts),
   with NEW artifact bytes every run (a real run's pipeline and holdout differ), at two
   sizes: bench_tracking's bytes ("tiny", ~10 B each) and the artifacts of a real run
   trained here once (random forest on 2,000 rows by default: a ~2.3 MB pickled pipeline,
   a ~7 KB holdout Parquet, a ~3 KB plots JSON), each run's bytes made new by a suffix.
   - Lablift: training.record_start + training.record_finish, exactly what `train` calls
     around compute() (two transactions, two audit entries; the artifacts go into the
     database, content-addressed, in 1 MiB chunks).
   - MLflow, two ways: MlflowClient (what users call: create_run, log_batch, log_artifacts,
     set_terminated) and its SqlAlchemyStore directly (create_run, log_batch, the run's
     artifact repository's log_artifacts, update_run_info): MLflow's own floor. Artifacts go
     to a local folder (LocalArtifactRepository), from files already written before the
     clock starts (MLflow logs files, Lablift takes the bytes: the staging write is MLflow's
     user's cost and is NOT counted, in MLflow's favour).
   - Lablift's embedded store (SQLite + artifact folder, fsynced) on the same payloads.
   Interleaved rounds (the order rotates each round); a round's figure is the mean of its
   runs; the table shows the median of the rounds (and min-max).
2. Listing 10,000 runs with their params and metrics (~10 params, ~10 metrics each):
   Lablift training.list_runs (what `run list` and the GUI table call) vs MLflow
   search_runs over all of them (max_results=50000, one page) through MlflowClient and
   through the store; embedded Lablift too. Each side is filled through its own code:
   Lablift's record_start/record_finish (250 runs a transaction: setup only); MLflow: the
   rows its create_run + log_batch + update_run_info write (runs, mlflow.runName tag,
   params, metrics, latest_metrics), inserted into its models' tables in one transaction
   (--mlflow-fill api makes them through those calls instead: ~30 ms a run, 5 min).
3. The embedded figures of bench_tracking.py's own protocol (its lablift_side), for
   comparing engines.

Every database is new (CREATE DATABASE ... TEMPLATE template0) and dropped at the end, as
are the login roles made here. The server is $LABLIFT_TEST_PG_URL (a superuser URL, as
tests/pg.py prints), or a throwaway cluster tests/pg.py starts and stops. Note: that
throwaway cluster runs with fsync=off, synchronous_commit=off, full_page_writes=off (it
is the test suite's): both PostgreSQL sides are spared the WAL flush; --durable starts a
private cluster with fsync, synchronous_commit and full_page_writes on instead.

Run: source /tmp/pgenv.sh   # or eval "$(python3 tests/pg.py start)"
     PYTHONPATH=app .venv/bin/python benchmarks/bench_team.py [--rounds 7] [--runs 30]
         [--list-runs 10000] [--list-rounds 5] [--payloads tiny real] [--socket]
         [--mlflow-fill bulk|api] [--profile] [--private | --durable]
         [--skip-bench-tracking]
     --profile adds: per-statement client-side times and cProfile of a TeamStore run, the
     server's PL/pgSQL function times (track_functions), the cost of a 1 MiB chunk on a bare
     table, the split of list_runs, and many runs in ONE transaction (COMMIT time).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import logging
import os
import pstats
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # tests/pg.py: clusters, databases, roles
sys.path.insert(0, str(HERE))  # bench_tracking, bench_training

import pg  # noqa: E402
from bench_tracking import METRICS, PARAMS, run_result, run_spec  # noqa: E402

warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)
logging.getLogger("alembic").setLevel(logging.ERROR)

ART_NAMES = {"pipeline": "model.pkl", "holdout": "holdout.parquet", "plots": "plots.json"}
ALGORITHMS = ("random_forest", "logistic_regression", "gradient_boosting", "extra_trees")
LIST_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc",
                "log_loss", "brier", "mcc", "average_precision")


# ------------------------------------------------------------------ server, databases, roles

class Server:
    """The PostgreSQL server both sides use, and everything made on it (dropped in close)."""

    def __init__(self, durable: bool, socket: bool, private: bool = False):
        self.cluster = None
        url = os.environ.get("LABLIFT_TEST_PG_URL")
        if durable or private or not url:
            self.cluster = pg.start_cluster()
            url = self.cluster.url
            if durable:
                with pg.connect_admin(url) as c:
                    for name in ("fsync", "synchronous_commit", "full_page_writes"):
                        c.execute(f"ALTER SYSTEM SET {name} = on")
                    c.execute("SELECT pg_reload_conf()")
                time.sleep(0.5)
        self.url = url
        self.socket = socket
        self.databases: list[str] = []
        self.roles: list[str] = []  # login roles made by add_user (pg.pg_role tracks its own)
        self.tmp: list[Path] = []
        self.version = pg.check_server(url)
        with pg.connect_admin(url) as c:
            self.settings = {name: c.execute(f"SHOW {name}").fetchone()[0]
                             for name in ("server_version", "fsync", "synchronous_commit",
                                          "full_page_writes", "shared_buffers",
                                          "password_encryption")}

    def kind(self) -> str:
        if self.socket:
            return "local unix socket (trust auth)"
        return "loopback TCP 127.0.0.1 (scram-sha-256 at connect)"

    def client_url(self, db_url: str, user: str, password: str) -> str:
        if self.socket:
            return pg.with_user(db_url, user)
        return pg.tcp_url(db_url, user, password)

    def database(self, prefix: str) -> tuple[str, str]:
        name = pg.unique_name(prefix)
        self.databases.append(name)
        return name, pg.create_database(self.url, name)

    def tmpdir(self, prefix: str) -> Path:
        d = Path(tempfile.mkdtemp(prefix=prefix))
        self.tmp.append(d)
        return d

    def close(self) -> None:
        from psycopg import errors, sql
        for name in self.databases:
            try:
                pg.drop_database(self.url, name)
            except Exception as exc:  # keep cleaning
                print(f"could not drop database {name}: {exc}", file=sys.stderr)
        with pg.connect_admin(self.url) as c:
            for name in self.roles:
                try:
                    c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE usename = %s", [name])
                    c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
                    c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
                except errors.DatabaseError as exc:
                    print(f"could not drop role {name}: {exc}", file=sys.stderr)
        left = pg.drop_created_roles(self.url)
        if left:
            print(f"roles left behind: {left}", file=sys.stderr)
        for d in self.tmp:
            shutil.rmtree(d, ignore_errors=True)
        if self.cluster is not None:
            pg.stop_cluster(self.cluster.dir)


def lablift_team(server: Server, prefix: str, password: str):
    """A new team store (init as the superuser, who becomes its admin); an analyst login
    role added by the admin; a TeamStore as that analyst over the chosen connection; one
    dataset imported through datasets.import_dataset. Returns (store, dataset_id)."""
    from psycopg import sql

    from lablift.core.store import Store, team
    _, db_url = server.database(prefix)
    team.init(db_url)
    analyst = pg.unique_name("bench_analyst")
    admin = Store(db_url)
    admin.add_user(analyst, "analyst")
    admin.close()
    server.roles.append(analyst)
    with pg.connect_admin(server.url) as c:
        c.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(analyst),
                                                             sql.Literal(password)))
    store = Store(server.client_url(db_url, analyst, password))
    return store, import_small_dataset(store, server)


def lablift_embedded(server: Server, prefix: str):
    from lablift.core.store import Store
    root = server.tmpdir(prefix)
    store = Store(root / "store", user="bench")
    return store, import_small_dataset(store, server)


def import_small_dataset(store, server: Server) -> int:
    from lablift.core import datasets
    d = server.tmpdir("bench_team_csv_")
    rng = random.Random(0)
    with open(d / "bench.csv", "w") as f:
        f.write("a,b,c,y\n")
        for _ in range(200):
            f.write(f"{rng.random():.6f},{rng.random():.6f},{rng.choice('xyz')},"
                    f"{rng.randint(0, 1)}\n")
    return datasets.import_dataset(store, d / "bench.csv", name="bench")["id"]


def mlflow_db(server: Server, prefix: str, password: str):
    """A new database owned by a new login role; MLflow's SqlAlchemyStore on it (creating
    its tables), an experiment whose artifacts go to a local folder, and an MlflowClient on
    the same tracking URI. Returns (store, client, experiment_id)."""
    from psycopg import sql
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.tracking import MlflowClient
    name, db_url = server.database(prefix)
    role = pg.unique_name("bench_mlflow")
    pg.pg_role(server.url, role, password)
    with pg.connect_admin(server.url) as c:
        c.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name),
                                                                  sql.Identifier(role)))
    uri = server.client_url(db_url, role, password).replace("postgresql://",
                                                            "postgresql+psycopg://", 1)
    artifacts = server.tmpdir(f"{prefix}_artifacts_")
    store = SqlAlchemyStore(uri, artifacts.as_uri())
    exp_id = store.create_experiment("bench", artifact_location=artifacts.as_uri())
    client = MlflowClient(tracking_uri=uri)
    return store, client, exp_id


# ------------------------------------------------------------------ payloads

def real_artifacts(rows: int, algorithm: str, server: Server) -> dict[str, bytes]:
    """The three artifacts of a real run: trained once here on an embedded store."""
    from bench_training import make_data

    from lablift.core import datasets, training
    from lablift.core.store import Store
    root = server.tmpdir("bench_team_real_")
    make_data(rows, root / "data.csv")
    store = Store(root / "store", user="bench")
    datasets.import_dataset(store, root / "data.csv", name="bench")
    run = training.train(store, {"dataset": "bench", "target": "label", "algorithm": algorithm,
                                 "params": {}, "cv": 5, "seed": 0})
    out = {k: store.artifacts.read_bytes(v) for k, v in run["artifacts"].items()}
    store.close()
    return out


class Payload:
    """New artifact bytes for every run: the base bytes plus a unique suffix."""

    def __init__(self, name: str, base: dict[str, bytes]):
        self.name, self.base = name, base
        self.size = sum(len(v) for v in base.values())

    def fresh(self) -> dict[str, bytes]:
        tag = f"|{secrets.token_hex(8)}".encode()
        return {k: v + tag for k, v in self.base.items()}

    def describe(self) -> str:
        return ", ".join(f"{k} {human(len(v))}" for k, v in self.base.items())


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


# ------------------------------------------------------------------ recording

class LabliftRecorder:
    def __init__(self, store, dataset_id: int):
        self.store = store
        self.prepared = SimpleNamespace(spec=run_spec(dataset_id), notes=[])
        self.result = run_result()

    def prepare(self, arts: dict[str, bytes]):
        return dict(self.result, pipeline_bytes=arts["pipeline"], holdout_bytes=arts["holdout"],
                    plots_bytes=arts["plots"])

    def record(self, result) -> None:
        # exactly what `train` does around compute(), as in bench_tracking.py
        from lablift.core import training
        started = time.perf_counter()
        run_id = training.record_start(self.store, self.prepared)
        training.record_finish(self.store, run_id, result, started, self.prepared.notes)


class MlflowRecorder:
    """`client=True`: MlflowClient; otherwise the SqlAlchemyStore and the run's artifact
    repository directly."""

    def __init__(self, store, client, exp_id: str, stage: Path, use_client: bool):
        from mlflow.entities import Param
        self.store, self.client, self.exp_id = store, client, exp_id
        self.stage, self.use_client = stage, use_client
        self.params = [Param(k, str(v)) for k, v in PARAMS.items()]

    def prepare(self, arts: dict[str, bytes]) -> None:
        # MLflow logs files: they are written before the clock starts (not counted)
        for key, name in ART_NAMES.items():
            (self.stage / name).write_bytes(arts[key])

    def record(self, _prepared) -> None:
        from mlflow.entities import Metric, RunStatus
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in METRICS.items()]
        if self.use_client:
            c = self.client
            run_id = c.create_run(self.exp_id).info.run_id
            c.log_batch(run_id, metrics=metrics, params=self.params)
            c.log_artifacts(run_id, str(self.stage))
            c.set_terminated(run_id)
        else:
            from mlflow.store.artifact.artifact_repository_registry import \
                get_artifact_repository
            s = self.store
            run = s.create_run(self.exp_id, user_id="bench", start_time=now, tags=[],
                               run_name=None)
            run_id = run.info.run_id
            s.log_batch(run_id, metrics=metrics, params=self.params, tags=[])
            get_artifact_repository(run.info.artifact_uri).log_artifacts(str(self.stage))
            s.update_run_info(run_id, RunStatus.FINISHED, int(time.time() * 1000), None)


def timed_rounds(contenders: dict, payload: Payload, rounds: int, runs: int,
                 warmup: int = 3) -> dict[str, list[float]]:
    """Per contender, the mean seconds per run of each round (order rotates per round)."""
    names = list(contenders)
    for name in names:
        for _ in range(warmup):
            c = contenders[name]
            c.record(c.prepare(payload.fresh()))
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            c = contenders[name]
            total = 0.0
            for _ in range(runs):
                prepared = c.prepare(payload.fresh())
                t0 = time.perf_counter()
                c.record(prepared)
                total += time.perf_counter() - t0
            out[name].append(total / runs)
        print(f"  round {r + 1}/{rounds} ({payload.name}): "
              + ", ".join(f"{n} {out[n][-1] * 1000:.2f} ms" for n in names), file=sys.stderr)
    return out


# ------------------------------------------------------------------ listing

def list_params(i: int) -> dict:
    rng = random.Random(i)
    return {"n_estimators": rng.choice([50, 100, 200, 400]),
            "max_depth": rng.choice([None, 4, 8, 16]), "min_samples_leaf": rng.randint(1, 20),
            "max_features": rng.choice(["sqrt", "log2", 0.5]),
            "criterion": rng.choice(["gini", "entropy"]), "bootstrap": rng.random() < 0.8,
            "class_weight": rng.choice([None, "balanced"]),
            "learning_rate": round(rng.random(), 4),
            "subsample": round(0.5 + rng.random() / 2, 3), "random_state": i}


def list_metrics(i: int) -> dict:
    rng = random.Random(-i - 1)
    return {k: rng.random() for k in LIST_METRICS}


def fill_lablift(store, dataset_id: int, n: int, batch: int = 250, start: int = 0) -> float:
    """n runs through record_start + record_finish, `batch` runs per transaction (setup
    only; on a team store one transaction of many runs costs O(runs^2) at COMMIT, see
    profile_big_transaction): ~10 params and 10 holdout metrics each, varied; the tiny
    artifacts deduplicated."""
    from lablift.core import training
    t0 = time.perf_counter()
    base = run_result()
    for first in range(start, start + n, batch):
        with store.transaction():
            for i in range(first, min(first + batch, start + n)):
                params = list_params(i)
                spec = dict(run_spec(dataset_id), params=params, algorithm=ALGORITHMS[i % 4])
                prepared = SimpleNamespace(spec=spec, notes=[])
                result = dict(base, params=params,
                              metrics={"holdout": list_metrics(i), "cv": {}})
                run_id = training.record_start(store, prepared)
                training.record_finish(store, run_id, result, time.perf_counter(), [])
    return time.perf_counter() - t0


def fill_mlflow(store, exp_id: str, n: int, how: str) -> float:
    from mlflow.entities import Metric, Param, RunStatus
    t0 = time.perf_counter()
    finished = RunStatus.to_string(RunStatus.FINISHED)
    if how == "api":
        for i in range(n):
            now = int(time.time() * 1000)
            run = store.create_run(exp_id, user_id="bench", start_time=now, tags=[],
                                   run_name=None)
            rid = run.info.run_id
            store.log_batch(rid, metrics=[Metric(k, v, now, 0)
                                          for k, v in list_metrics(i).items()],
                            params=[Param(k, str(v)) for k, v in list_params(i).items()],
                            tags=[])
            store.update_run_info(rid, RunStatus.FINISHED, now + 1, None)
            if (i + 1) % 2000 == 0:
                print(f"  MLflow fill {i + 1}/{n} ({time.perf_counter() - t0:.0f} s)",
                      file=sys.stderr)
        return time.perf_counter() - t0
    # bulk: the rows create_run + log_batch + update_run_info write (runs, its mlflow.runName
    # tag, params, metrics, latest_metrics), inserted into MLflow's own tables (its ORM
    # models' tables) in one transaction
    import uuid

    from sqlalchemy import insert

    from mlflow.entities import LifecycleStage, SourceType
    from mlflow.store.tracking.dbmodels.models import (SqlLatestMetric, SqlMetric, SqlParam,
                                                       SqlRun, SqlTag)
    from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME
    from mlflow.utils.name_utils import _generate_random_name
    exp = store.get_experiment(exp_id)
    rows = defaultdict(list)
    for i in range(n):
        now = int(time.time() * 1000)
        rid = uuid.uuid4().hex
        name = _generate_random_name()
        rows[SqlRun].append(dict(
            name=name, artifact_uri=f"{exp.artifact_location}/{rid}/artifacts", run_uuid=rid,
            experiment_id=int(exp_id), source_type=SourceType.to_string(SourceType.UNKNOWN),
            source_name="", entry_point_name="", user_id="bench", status=finished,
            start_time=now, end_time=now + 1, deleted_time=None, source_version="",
            lifecycle_stage=LifecycleStage.ACTIVE))
        rows[SqlTag].append(dict(key=MLFLOW_RUN_NAME, value=name, run_uuid=rid))
        rows[SqlParam] += [dict(key=k, value=str(v), run_uuid=rid)
                           for k, v in list_params(i).items()]
        for k, v in list_metrics(i).items():
            m = dict(key=k, value=v, timestamp=now, step=0, is_nan=False, run_uuid=rid)
            rows[SqlMetric].append(m)
            rows[SqlLatestMetric].append(m)
    with store.ManagedSessionMaker() as session:
        for model in (SqlRun, SqlTag, SqlParam, SqlMetric, SqlLatestMetric):
            session.execute(insert(model.__table__), rows[model])
    return time.perf_counter() - t0


def mlflow_search(store_or_client, exp_id: str, n: int, use_client: bool, page: int):
    from mlflow.entities import ViewType
    out, token = [], None
    while True:
        if use_client:
            got = store_or_client.search_runs([exp_id], max_results=page, page_token=token)
        else:
            got = store_or_client.search_runs([exp_id], "", ViewType.ACTIVE_ONLY,
                                              max_results=page, page_token=token)
        out.extend(got)
        token = got.token
        if not token or len(got) < page:
            break
    return out


def listing_rounds(contenders: dict, rounds: int, check) -> dict[str, list[float]]:
    names = list(contenders)
    for name in names:  # warm up (statement compilation, caches); check what each returns
        check(name, contenders[name]())
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            gc.collect()
            t0 = time.perf_counter()
            contenders[name]()
            out[name].append(time.perf_counter() - t0)
        print(f"  listing round {r + 1}/{rounds}: "
              + ", ".join(f"{n} {out[n][-1] * 1000:.0f} ms" for n in names), file=sys.stderr)
    return out


# ------------------------------------------------------------------ profiling

class _TimedCursor:
    def __init__(self, raw, stats):
        self._raw, self._stats = raw, stats

    def execute(self, query, params=None, **kw):
        t0 = time.perf_counter()
        try:
            return self._raw.execute(query, params, **kw)
        finally:
            _note(self._stats, query, time.perf_counter() - t0)

    def __getattr__(self, name):
        return getattr(self._raw, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._raw.close()


class _TimedRaw(_TimedCursor):
    """Stands in for the TeamStore's psycopg connection: client-side time per statement."""

    def cursor(self, **kw):
        return _TimedCursor(self._raw.cursor(**kw), self._stats)


def _note(stats, query, dt) -> None:
    key = " ".join(str(query).split())
    key = key if len(key) <= 90 else key[:87] + "..."
    s = stats[key]
    s[0] += 1
    s[1] += dt


def profile_team(store, dataset_id: int, payloads: list[Payload], server: Server,
                 runs: int = 50) -> None:
    from psycopg import sql
    print("\n=== Profile: where a TeamStore run's recording spends its time ===")
    rec = LabliftRecorder(store, dataset_id)
    conn = store.conn
    raw = conn.raw
    trips = []
    for _ in range(200):
        t0 = time.perf_counter()
        raw.execute("SELECT 1")
        trips.append(time.perf_counter() - t0)
    trip = med(trips)
    print(f"a bare round trip on the store's connection (SELECT 1, median of 200): "
          f"{trip * 1000:.3f} ms")
    # server-side function times (lablift_audit, the governance triggers)
    with pg.connect_admin(server.url) as c:
        c.execute(sql.SQL("ALTER ROLE {} SET track_functions = 'all'").format(
            sql.Identifier(store.user)))
    for payload in payloads:
        stats = defaultdict(lambda: [0, 0.0])
        conn.raw = _TimedRaw(raw, stats)
        try:
            prepared = [rec.prepare(payload.fresh()) for _ in range(runs)]
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            prof.enable()
            for p in prepared:
                rec.record(p)
            prof.disable()
            total = (time.perf_counter() - t0) / runs
        finally:
            conn.raw = raw
        print(f"\n-- {payload.name} artifacts ({payload.describe()}): {total * 1000:.2f} ms/run "
              f"under the profiler, {runs} runs")
        print(f"{'statement (client-side round trip incl. server work)':92}{'calls/run':>10}"
              f"{'ms/run':>9}{'ms/call':>9}")
        stmt_total = 0.0
        for key, (n, dt) in sorted(stats.items(), key=lambda kv: -kv[1][1]):
            stmt_total += dt
            print(f"{key:92}{n / runs:10.1f}{dt / runs * 1000:9.3f}{dt / n * 1000:9.3f}")
        calls = sum(s[0] for s in stats.values()) / runs
        print(f"{'all statements':92}{calls:10.1f}"
              f"{stmt_total / runs * 1000:9.3f}   ({stmt_total / runs / total:.0%} of the run; "
              f"{calls:.0f} bare round trips would be {calls * trip * 1000:.2f} ms; Python "
              f"outside the driver's calls {(total - stmt_total / runs) * 1000:.2f} ms)")
        out = io.StringIO()
        ps = pstats.Stats(prof, stream=out)
        ps.sort_stats("tottime").print_stats(14)
        print("cProfile, top by own time:")
        print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))
    big = [p for p in payloads if p.size > 1 << 20]
    if big:
        profile_chunks(store, server, big[0])
    # a fresh session so track_functions applies: one run, then read the counters
    store.close()
    s2 = type(store)(store.url)
    rec2 = LabliftRecorder(s2, dataset_id)
    for _ in range(runs):
        rec2.record(rec2.prepare(payloads[0].fresh()))
    s2.close()
    time.sleep(1.5)  # backends flush their function statistics when idle / on exit
    with pg.connect_admin(pg.with_database(server.url, pg.dbname_of(store.url))) as c:
        rows = c.execute("SELECT funcname, calls, total_time, self_time FROM "
                         "pg_stat_user_functions ORDER BY self_time DESC").fetchall()
    print(f"\nServer-side PL/pgSQL functions over {runs} {payloads[0].name} runs (track_functions;"
          f" ms per run):")
    print(f"{'function':40}{'calls/run':>10}{'total ms':>10}{'self ms':>10}")
    for name, calls, total_ms, self_ms in rows:
        print(f"{name:40}{calls / runs:10.1f}{total_ms / runs:10.3f}{self_ms / runs:10.3f}")


def profile_chunks(store, server: Server, payload: Payload, repeat: int = 10) -> None:
    """What storing an artifact chunk costs the server, against a bare table and a round trip."""
    import psycopg

    from lablift.core.artifacts import CHUNK
    super_url = pg.with_database(server.url, pg.dbname_of(store.url))
    with pg.connect_admin(super_url) as c:
        n, raw, stored, compressed, storage = c.execute(
            "SELECT count(*), sum(octet_length(data)), sum(pg_column_size(data)), "
            "count(*) FILTER (WHERE pg_column_compression(data) IS NOT NULL), "
            "(SELECT attstorage FROM pg_attribute WHERE attrelid = 'blob_chunks'::regclass "
            "AND attname = 'data') FROM blob_chunks WHERE octet_length(data) > 100000"
        ).fetchone()
    print(f"\nblob_chunks over 100 KB: {n} chunks, {human(raw)} given, {human(stored)} stored, "
          f"{compressed} compressed (attstorage '{storage}': e = EXTERNAL, not compressed)")
    chunk = payload.base["pipeline"][:CHUNK]
    try:
        conn = psycopg.connect(store.url, autocommit=True)
        conn.execute("CREATE TEMP TABLE t (n int PRIMARY KEY, data bytea)")
        who = "the store's session user"
    except psycopg.Error:
        conn = psycopg.connect(super_url, autocommit=True)
        conn.execute("CREATE TEMP TABLE t (n int PRIMARY KEY, data bytea)")
        who = "the superuser over the socket"
    with conn:
        conn.execute("ALTER TABLE t ALTER COLUMN data SET STORAGE EXTERNAL")
        trip, ins = [], []
        for i in range(repeat):
            t0 = time.perf_counter()
            conn.execute("SELECT 1")
            trip.append(time.perf_counter() - t0)
            data = chunk[:-8] + secrets.token_bytes(8)
            t0 = time.perf_counter()
            conn.execute("INSERT INTO t VALUES (%s, %s)", (i, data))
            ins.append(time.perf_counter() - t0)
    print(f"as {who}, same connection kind, median of {repeat}: a round trip (SELECT 1) "
          f"{med(trip) * 1000:.3f} ms; one {human(len(chunk))} chunk into a bare TEMP table "
          f"(bytea, STORAGE EXTERNAL, binary parameter as psycopg sends it): "
          f"{med(ins) * 1000:.2f} ms")


def profile_big_transaction(server: Server, password: str, sizes=(500, 2000)) -> None:
    """Many runs in ONE transaction on a team store (what a bulk copy would do): the loop
    and the COMMIT, and the server functions' times (track_functions)."""
    from psycopg import sql

    from lablift.core.store import Store
    print("\n-- many runs recorded in ONE transaction on a team store (record_start + "
          "record_finish nested in store.transaction())")
    for n in sizes:
        store, ds = lablift_team(server, "bench_team_bigtx", password)
        with pg.connect_admin(server.url) as c:
            c.execute(sql.SQL("ALTER ROLE {} SET track_functions = 'all'").format(
                sql.Identifier(store.user)))
        url = store.url
        store.close()
        store = Store(url)
        conn = store.conn
        marks = {}
        t0 = time.perf_counter()
        # store.transaction(), opened by hand so the COMMIT can be timed on its own
        store._run(conn, "BEGIN")
        store._run(conn, "SELECT pg_advisory_xact_lock(4242000001)")
        store._local.depth = 1
        try:
            fill_lablift(store, ds, n, batch=n)
            marks["loop"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            store._run(conn, "COMMIT")
            marks["commit"] = time.perf_counter() - t1
        finally:
            store._local.depth = 0
        store.close()
        time.sleep(1.5)
        with pg.connect_admin(pg.with_database(server.url, pg.dbname_of(url))) as c:
            rows = c.execute("SELECT funcname, calls, total_time, self_time FROM "
                             "pg_stat_user_functions ORDER BY self_time DESC LIMIT 5").fetchall()
        print(f"  {n} runs: loop {marks['loop']:.1f} s ({marks['loop'] / n * 1000:.2f} ms/run), "
              f"COMMIT {marks['commit']:.2f} s; server self time: "
              + ", ".join(f"{f} {self_ms / 1000:.2f} s ({calls} calls)"
                          for f, calls, _t, self_ms in rows))


def profile_listing(store, n: int) -> None:
    from lablift.core import training
    from lablift.core.store.sql import repository
    statement = repository("runs").LISTING[((), False, False)]
    fetch, full, full_nogc = [], [], []
    for _ in range(5):
        gc.collect()
        t0 = time.perf_counter()
        cur = store.tuple_cursor()
        statement.execute(cur, store.engine, {}).fetchall()
        fetch.append(time.perf_counter() - t0)
        gc.collect()
        t0 = time.perf_counter()
        training.list_runs(store)
        full.append(time.perf_counter() - t0)
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            training.list_runs(store)
            full_nogc.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    print(f"\n-- TeamStore list_runs of {n} runs, median of 5: {med(full) * 1000:.1f} ms in all; "
          f"the SELECT and fetchall of its tuples {med(fetch) * 1000:.1f} ms; so decoding "
          f"params and metrics (2 json.loads a row) and building the dicts "
          f"{(med(full) - med(fetch)) * 1000:.1f} ms; with the garbage collector off "
          f"{med(full_nogc) * 1000:.1f} ms")
    prof = cProfile.Profile()
    prof.enable()
    training.list_runs(store)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(8)
    print(f"\n-- TeamStore list_runs of {n} runs, cProfile top by own time:")
    print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))


# ------------------------------------------------------------------ main

def med(xs):
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser(description="Lablift TeamStore vs MLflow's tracking store on "
                                 "the same PostgreSQL server: recording a run, listing runs.")
    ap.add_argument("--rounds", type=int, default=7, help="recording rounds (interleaved)")
    ap.add_argument("--runs", type=int, default=30, help="runs per contender per round")
    ap.add_argument("--payloads", nargs="+", default=["tiny", "real"], choices=["tiny", "real"])
    ap.add_argument("--real-rows", type=int, default=2000,
                    help="rows of the dataset the real artifacts are trained on")
    ap.add_argument("--real-algorithm", default="random_forest")
    ap.add_argument("--list-runs", type=int, default=10000)
    ap.add_argument("--list-rounds", type=int, default=5)
    ap.add_argument("--mlflow-fill", choices=["api", "bulk"], default="bulk",
                    help="fill MLflow's listing database with the rows create_run + log_batch "
                         "+ update_run_info write, through its ORM models in one session "
                         "(bulk, default: ~2 s per 1,000 runs) or through those calls (api: "
                         "~30 ms a run, 5 min for 10,000)")
    ap.add_argument("--socket", action="store_true",
                    help="connect over the unix socket instead of 127.0.0.1")
    ap.add_argument("--private", action="store_true",
                    help="start a private throwaway cluster (tests/pg.py) even when "
                         "LABLIFT_TEST_PG_URL is set (no other test run shares it)")
    ap.add_argument("--durable", action="store_true",
                    help="a private cluster with fsync/synchronous_commit/full_page_writes on")
    ap.add_argument("--profile", action="store_true",
                    help="also profile TeamStore recording and listing (cProfile, statements)")
    ap.add_argument("--skip-bench-tracking", action="store_true",
                    help="do not run bench_tracking.lablift_side for the embedded reference")
    ap.add_argument("--bench-tracking-runs", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="small sizes (run_all.py): 3 rounds "
                    "x 10 runs, real artifacts from 1,000 rows, list 2,000 runs x 3, no part 3")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.runs, args.real_rows = 3, 10, 1000
        args.list_runs, args.list_rounds, args.skip_bench_tracking = 2000, 3, True

    from lablift.core import training
    import mlflow
    started = time.perf_counter()
    server = Server(args.durable, args.socket, args.private)
    password = secrets.token_urlsafe(12)
    try:
        print(f"server: {server.version}", file=sys.stderr)
        payloads = []
        for name in args.payloads:
            if name == "tiny":
                payloads.append(Payload("tiny", {"pipeline": b"pipeline", "holdout": b"holdout",
                                                 "plots": b"{}"}))
            else:
                print(f"training a real run ({args.real_algorithm}, {args.real_rows} rows) for "
                      f"its artifacts ...", file=sys.stderr)
                payloads.append(Payload("real", real_artifacts(args.real_rows,
                                                               args.real_algorithm, server)))

        # ---- 1. recording
        team_store, team_ds = lablift_team(server, "bench_team_rec", password)
        emb_store, emb_ds = lablift_embedded(server, "bench_team_emb_")
        ml_store, ml_client, ml_exp = mlflow_db(server, "bench_mlflow_rec", password)
        stage = server.tmpdir("bench_team_stage_")
        contenders = {
            "team": LabliftRecorder(team_store, team_ds),
            "mlflow_client": MlflowRecorder(ml_store, ml_client, ml_exp, stage, True),
            "mlflow_store": MlflowRecorder(ml_store, ml_client, ml_exp, stage, False),
            "embedded": LabliftRecorder(emb_store, emb_ds),
        }
        recording = {}
        for payload in payloads:
            recording[payload.name] = timed_rounds(contenders, payload, args.rounds, args.runs)
        if args.profile:
            profile_team(team_store, team_ds, payloads, server)
            team_store = None
        else:
            team_store.close()
        emb_store.close()
        ml_store.engine.dispose()

        # ---- 2. listing
        n = args.list_runs
        print(f"filling {n} runs into each store ...", file=sys.stderr)
        lt_store, lt_ds = lablift_team(server, "bench_team_list", password)
        le_store, le_ds = lablift_embedded(server, "bench_team_list_emb_")
        lm_store, lm_client, lm_exp = mlflow_db(server, "bench_mlflow_list", password)
        fill = {"team": fill_lablift(lt_store, lt_ds, n),
                "embedded": fill_lablift(le_store, le_ds, n),
                "mlflow": fill_mlflow(lm_store, lm_exp, n, args.mlflow_fill)}
        print("  filled in " + ", ".join(f"{k} {v:.1f} s" for k, v in fill.items()),
              file=sys.stderr)
        def check(name, got):  # every side lists all n runs, with their params and metrics
            assert len(got) == n, (name, len(got))
            if name.startswith("mlflow"):
                assert len(got[0].data.params) == 10 and len(got[0].data.metrics) == 10, got[0]
            else:
                assert len(got[0]["params"]) == 10 and len(got[0]["metrics"]["holdout"]) == 10
        listing = listing_rounds({
            "team": lambda: training.list_runs(lt_store),
            "mlflow_client": lambda: mlflow_search(lm_client, lm_exp, n, True, 50000),
            "mlflow_store": lambda: mlflow_search(lm_store, lm_exp, n, False, 50000),
            "embedded": lambda: training.list_runs(le_store),
        }, args.list_rounds, check)
        t0 = time.perf_counter()
        paged = mlflow_search(lm_client, lm_exp, n, True, 1000)
        paged_s = time.perf_counter() - t0
        assert len(paged) == n
        if args.profile:
            profile_listing(lt_store, n)
            profile_big_transaction(server, password)
        lt_store.close()
        le_store.close()
        lm_store.engine.dispose()

        # ---- 3. bench_tracking's embedded protocol
        bt = None
        if not args.skip_bench_tracking:
            import bench_tracking
            print(f"bench_tracking.lablift_side({args.bench_tracking_runs}, [1000, {n}]) ...",
                  file=sys.stderr)
            bt = bench_tracking.lablift_side(args.bench_tracking_runs, [1000, n])
            shutil.rmtree(bt["db"], ignore_errors=True)

        # ---- report
        ms = 1000.0
        print(f"\nPostgreSQL {server.settings['server_version']} ({server.version.split(',')[0]})"
              f"; both PostgreSQL sides over {server.kind()}, same server, one database each")
        print("server settings: " + ", ".join(f"{k}={v}" for k, v in server.settings.items()
                                              if k != "server_version")
              + ("  (a private durable cluster)" if args.durable else
                 "  (tests/pg.py's throwaway cluster)" if "fsync" in server.settings
                 and server.settings["fsync"] == "off" else ""))
        print(f"MLflow {mlflow.__version__} (SqlAlchemyStore, postgresql+psycopg; artifacts in a "
              f"local folder); Lablift {__import__('lablift').__version__}; "
              f"Python {sys.version.split()[0]}")
        labels = {"team": "Lablift TeamStore (PostgreSQL)",
                  "mlflow_client": "MLflow MlflowClient (PostgreSQL)",
                  "mlflow_store": "MLflow SqlAlchemyStore direct",
                  "embedded": "Lablift embedded (SQLite)"}
        print(f"\n1. Recording a run: 10 params, 5 metrics, 3 new artifacts; median of "
              f"{args.rounds} interleaved rounds x {args.runs} runs (ms per run)")
        for payload in payloads:
            r = recording[payload.name]
            rt = med(r["team"])
            print(f"\n  artifacts '{payload.name}': {payload.describe()}")
            print(f"  {'':36}{'median':>10}{'min-max':>18}{'vs TeamStore':>14}")
            for key in ("team", "mlflow_client", "mlflow_store", "embedded"):
                v = r[key]
                print(f"  {labels[key]:36}{med(v) * ms:10.2f}"
                      f"{f'{min(v) * ms:.2f}-{max(v) * ms:.2f}':>18}"
                      f"{med(v) / rt:13.2f}x")
        print(f"\n2. Listing {n} runs with params and metrics; median of {args.list_rounds} "
              f"interleaved rounds (ms)")
        lt = med(listing["team"])
        print(f"  {'':36}{'median':>10}{'min-max':>18}{'vs TeamStore':>14}")
        lab2 = dict(labels, mlflow_client="MLflow MlflowClient.search_runs",
                    mlflow_store="MLflow SqlAlchemyStore.search_runs",
                    team="Lablift list_runs, TeamStore", embedded="Lablift list_runs, embedded")
        for key in ("team", "mlflow_client", "mlflow_store", "embedded"):
            v = listing[key]
            print(f"  {lab2[key]:36}{med(v) * ms:10.1f}"
                  f"{f'{min(v) * ms:.0f}-{max(v) * ms:.0f}':>18}{med(v) / lt:13.2f}x")
        print(f"  (MLflow search_runs max_results=50000: one page; with its default pages of "
              f"1000: {paged_s * ms:.0f} ms, once)")
        how = ("create_run+log_batch+update_run_info per run" if args.mlflow_fill == "api"
               else "the rows of those calls, through its models' tables in one transaction")
        print(f"  filled with: Lablift record_start+record_finish, 250 runs a transaction "
              f"({fill['team']:.1f} s team, {fill['embedded']:.1f} s embedded); MLflow "
              f"{how} ({fill['mlflow']:.1f} s)")
        if bt:
            print(f"\n3. Embedded store, bench_tracking.py's protocol (lablift_side: mean of "
                  f"{args.bench_tracking_runs} runs; best of 5 listings)")
            print(f"  record (identical artifacts, deduplicated)  {bt['record_s'] * ms:8.3f} ms")
            print(f"  record (3 new tiny artifact files per run)  "
                  f"{bt['record_fresh_s'] * ms:8.3f} ms")
            for size, s in sorted(bt["list_s"].items()):
                print(f"  list_runs, {size} runs{'':>{24 - len(str(size))}}{s * ms:8.1f} ms")

        print("\nRatios (MLflow time / Lablift TeamStore time; >1: Lablift faster)")
        for payload in payloads:
            r = recording[payload.name]
            rt = med(r["team"])
            print(f"  record, {payload.name:5} artifacts: {med(r['mlflow_client']) / rt:6.2f}x "
                  f"vs MlflowClient, {med(r['mlflow_store']) / rt:6.2f}x vs MLflow's store "
                  f"direct (target >= 20x: "
                  f"{'met' if med(r['mlflow_store']) / rt >= 20 else 'MISSED'}); "
                  f"TeamStore = {rt / med(r['embedded']):.2f}x embedded")
        lt = med(listing["team"])
        print(f"  list {n}: {med(listing['mlflow_client']) / lt:6.1f}x vs MlflowClient, "
              f"{med(listing['mlflow_store']) / lt:6.1f}x vs the store; TeamStore "
              f"{lt:.3f} s (target < 0.2 s: {'met' if lt < 0.2 else 'MISSED'}); "
              f"TeamStore = {lt / med(listing['embedded']):.2f}x embedded")
        print(f"\ntotal benchmark time {time.perf_counter() - started:.0f} s")
    finally:
        server.close()


if __name__ == "__main__":
    main()
